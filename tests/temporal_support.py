"""A Temporal server for the tests that need one: the one FLOWFORGE_TEST_TEMPORAL_ADDRESS names,
or a dev server started for the session (the ``temporal_server`` fixture of conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from flowforge.engine.temporal._devserver import DevServer

ADDRESS_VARIABLE = "FLOWFORGE_TEST_TEMPORAL_ADDRESS"


@contextmanager
def temporal_address() -> Iterator[str]:
    """``host:port`` of a Temporal frontend with the ``default`` namespace: the server of
    FLOWFORGE_TEST_TEMPORAL_ADDRESS if set, else a dev server on a free port, stopped on
    leaving."""
    given = os.environ.get(ADDRESS_VARIABLE)
    if given:
        yield given
        return
    with DevServer(0) as server:
        yield server.address
