"""Where a node's credential comes from: sealed by the vault in the database, or (for ids not
stored there) a ``FLOWFORGE_CREDENTIAL_<ID>`` environment variable."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from flowforge.connectors import Registry
from flowforge.connectors.sdk import CredentialSource, EnvCredentials
from flowforge.engine.frames import DEFAULT_ORG
from flowforge.errors import FlowForgeError
from flowforge.model import format_location
from flowforge.security.vault import Vault, VaultError, load_keyring
from flowforge.store import CredentialStore, ExecutionStore, SqlStore

__all__ = ["Credentials", "credential_source"]


class Credentials:
    """The credentials of one database, each organisation's apart: stored sealed, checked
    against their connector's schema on the way in, never given back but to a step. As the
    engine's ``CredentialSource``, an id not stored here is looked up in the environment
    (for the default organisation only: the environment is the operator's)."""

    def __init__(self, store: SqlStore, home: Path) -> None:
        self.home = home
        self.rows = CredentialStore(store)
        self.fallback = EnvCredentials()

    @functools.cached_property
    def vault(self) -> Vault:
        """The vault, its master keys read (or made) when first needed."""
        return Vault(load_keyring(self.home), reload=lambda: load_keyring(self.home))

    def credential(self, credential_id: str, org_id: str = DEFAULT_ORG) -> Mapping[str, Any]:
        sealed = self.rows.get(org_id, credential_id)
        if sealed is None:
            return self.fallback.credential(credential_id, org_id)
        try:
            return self.vault.open(org_id, credential_id, sealed)
        except VaultError as exc:  # altered, or copied from another row: never its content
            raise ValueError(str(exc)) from None

    def set(
        self,
        registry: Registry,
        credential_id: str,
        connector_id: str,
        secret: Mapping[str, Any],
        org_id: str = DEFAULT_ORG,
    ) -> None:
        """Seal and store a credential for ``connector_id``; a FlowForgeError naming each field
        that does not fit the connector's credential schema (never its value)."""
        connector = registry.connectors.get(connector_id)
        if connector is None:
            raise FlowForgeError(f"connector: no connector {connector_id!r}")
        if connector.credential is None:
            raise FlowForgeError(f"connector: {connector_id} takes no credential")
        try:
            connector.credential.model_validate(secret)
        except ValidationError as exc:
            problems = "; ".join(
                f"{format_location(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise FlowForgeError(f"credential: does not fit {connector_id}: {problems}") from None
        sealed = self.vault.seal(org_id, credential_id, secret)
        self.rows.put(org_id, credential_id, connector_id, sealed)


def credential_source(store: ExecutionStore, home: Path) -> CredentialSource:
    """Credentials for an engine on ``store``: the vault's for a database, else the
    environment's (an in-memory store keeps none)."""
    if isinstance(store, SqlStore):
        return Credentials(store, home)
    return EnvCredentials()
