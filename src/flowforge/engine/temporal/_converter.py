"""How FlowForge's values are written into Temporal payloads: JSON, as Temporal's default
converter writes it, but with the keys of objects in their own order. Temporal sorts them,
and a user's data must come out of a run in the order it went in, as it does locally."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import temporalio.api.common.v1
from temporalio.client import Client
from temporalio.converter import (
    AdvancedJSONEncoder,
    BinaryNullPayloadConverter,
    BinaryPlainPayloadConverter,
    BinaryProtoPayloadConverter,
    CompositePayloadConverter,
    DataConverter,
    JSONPlainPayloadConverter,
    JSONProtoPayloadConverter,
)

__all__ = ["DATA_CONVERTER", "with_converter"]


class _OrderedJSON(JSONPlainPayloadConverter):
    """``json/plain`` like Temporal's, keys as they come (it reads what Temporal's writes)."""

    def to_payload(self, value: Any) -> temporalio.api.common.v1.Payload | None:
        return temporalio.api.common.v1.Payload(
            metadata={"encoding": self.encoding.encode()},
            data=json.dumps(value, cls=AdvancedJSONEncoder, separators=(",", ":")).encode(),
        )


class PayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(
            BinaryNullPayloadConverter(),
            BinaryPlainPayloadConverter(),
            JSONProtoPayloadConverter(),
            BinaryProtoPayloadConverter(),
            _OrderedJSON(),
        )


DATA_CONVERTER = dataclasses.replace(
    DataConverter.default, payload_converter_class=PayloadConverter
)


def with_converter(client: Client) -> Client:
    """The client, writing payloads with FlowForge's converter (the same connection)."""
    if client.data_converter.payload_converter_class is PayloadConverter:
        return client
    config = client.config()
    config["data_converter"] = DATA_CONVERTER
    return Client(**config)
