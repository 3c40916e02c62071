"""Stored credentials: the vault's sealed values in SQL, with the connector each one is for."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from flowforge.security.vault import Sealed, SealedRow
from flowforge.store._sql import SqlStore
from flowforge.store._tables import credentials

__all__ = ["CredentialEntry", "CredentialStore"]

_PAGE = 500


@dataclass(frozen=True, slots=True)
class CredentialEntry:
    """What may be shown of a stored credential: never its secret."""

    org_id: str
    id: str
    connector: str
    key_id: str
    created_at: datetime
    updated_at: datetime


class CredentialStore:
    """Credentials in the server's database; a ``vault.SealedStore`` for rotation. Every write
    is a compare-and-swap on the whole sealed value, so a rotation never loses an edit."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def put(self, org_id: str, credential_id: str, connector: str, sealed: Sealed) -> None:
        """Store a new credential or replace one, whatever it held."""
        now = datetime.now(UTC)
        values = {**_columns(sealed), "connector": connector, "updated_at": now}
        with self.store._write() as conn:
            done = conn.execute(
                update(credentials)
                .where(credentials.c.org_id == org_id, credentials.c.id == credential_id)
                .values(values)
            ).rowcount
            if not done:
                conn.execute(
                    insert(credentials).values(
                        org_id=org_id, id=credential_id, created_at=now, **values
                    )
                )

    def entries(self, org_id: str) -> list[CredentialEntry]:
        """The organisation's credentials, by id."""
        columns = [c for c in credentials.c if c.name not in _SECRET_COLUMNS]
        with self.store._read() as conn:
            rows = conn.execute(
                select(*columns).where(credentials.c.org_id == org_id).order_by(credentials.c.id)
            ).all()
        return [CredentialEntry(**row._asdict()) for row in rows]

    def delete(self, org_id: str, credential_id: str) -> bool:
        """Remove a credential; whether there was one."""
        with self.store._write() as conn:
            gone = conn.execute(
                delete(credentials).where(
                    credentials.c.org_id == org_id, credentials.c.id == credential_id
                )
            ).rowcount
        return bool(gone)

    # -- vault.SealedStore

    def rows(self, *, exclude_key_id: str | None = None) -> Iterator[SealedRow]:
        """Every credential (or those not under ``exclude_key_id``), a page at a time."""
        after = ("", "")
        while True:
            query = (
                select(credentials)
                .where(tuple_(credentials.c.org_id, credentials.c.id) > tuple_(*after))
                .order_by(credentials.c.org_id, credentials.c.id)
                .limit(_PAGE)
            )
            if exclude_key_id is not None:
                query = query.where(credentials.c.key_id != exclude_key_id)
            with self.store._read() as conn:
                page = conn.execute(query).all()
            for row in page:
                yield SealedRow(row.org_id, row.id, _sealed(row._asdict()))
            if len(page) < _PAGE:
                return
            after = (page[-1].org_id, page[-1].id)

    def get(self, org_id: str, credential_id: str) -> Sealed | None:
        with self.store._read() as conn:
            row = conn.execute(
                select(credentials).where(
                    credentials.c.org_id == org_id, credentials.c.id == credential_id
                )
            ).first()
        return None if row is None else _sealed(row._asdict())

    def compare_and_swap(
        self, org_id: str, credential_id: str, expected: Sealed | None, new: Sealed | None
    ) -> bool:
        row = and_(credentials.c.org_id == org_id, credentials.c.id == credential_id)
        with self.store._write() as conn:
            if expected is None:
                if new is None:
                    return conn.execute(select(credentials.c.id).where(row)).first() is None
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(credentials).values(
                                org_id=org_id,
                                id=credential_id,
                                connector="",
                                created_at=datetime.now(UTC),
                                updated_at=datetime.now(UTC),
                                **_columns(new),
                            )
                        )
                except IntegrityError:
                    return False
                return True
            held = and_(row, *(credentials.c[k] == v for k, v in _columns(expected).items()))
            if new is None:
                return bool(conn.execute(delete(credentials).where(held)).rowcount)
            changed = conn.execute(
                update(credentials)
                .where(held)
                .values(**_columns(new), updated_at=datetime.now(UTC))
            ).rowcount
            return bool(changed)


_SECRET_COLUMNS = frozenset({"wrapped_key", "nonce", "ciphertext", "version"})


def _columns(sealed: Sealed) -> dict[str, Any]:
    return {
        "key_id": sealed.key_id,
        "wrapped_key": sealed.wrapped_key,
        "nonce": sealed.nonce,
        "ciphertext": sealed.ciphertext,
        "version": sealed.version,
    }


def _sealed(row: dict[str, Any]) -> Sealed:
    return Sealed(
        key_id=row["key_id"],
        wrapped_key=bytes(row["wrapped_key"]),
        nonce=bytes(row["nonce"]),
        ciphertext=bytes(row["ciphertext"]),
        version=row["version"],
    )
