"""The security package's stores on the server's database, shared by every server process:
API keys (``apikeys.KeyStore``), sessions and refresh tokens (``tokens.RefreshStore``),
sign-in challenges (``signatures.ChallengeStore``) and password failures
(``passwords.FailureStore``). Each keeps its protocol's atomicity promise with one statement or
one transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from flowforge.security.apikeys import ApiKey
from flowforge.security.passwords import FailureRecord
from flowforge.security.signatures import Challenge, TooManyChallenges
from flowforge.security.tokens import Principal, RefreshRecord, SessionRecord
from flowforge.store._sql import SqlStore
from flowforge.store._tables import (
    api_keys,
    auth_sessions,
    login_failures,
    refresh_tokens,
    signin_challenges,
)

__all__ = ["SqlChallengeStore", "SqlFailureStore", "SqlKeyStore", "SqlRefreshStore"]


class SqlKeyStore:
    """API key records by key id (``apikeys.KeyStore``)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def add(self, key: ApiKey) -> None:
        try:
            with self.store._write() as conn:
                conn.execute(insert(api_keys), _key_row(key))
        except IntegrityError:
            raise KeyError(f"API key id {key.key_id} already exists") from None

    def get(self, key_id: str) -> ApiKey | None:
        with self.store._read() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        return None if row is None else _key(row)

    def replace(self, key: ApiKey) -> None:
        with self.store._write() as conn:
            done = conn.execute(
                update(api_keys).where(api_keys.c.key_id == key.key_id).values(_key_row(key))
            ).rowcount
        if not done:
            raise KeyError(key.key_id)

    def touch(self, key_id: str, at: datetime) -> None:
        self.touch_many({key_id: at})

    def touch_many(self, used: dict[str, datetime]) -> None:
        """Record the last use of several keys in one transaction; a later time never goes
        back to an earlier one."""
        if not used:
            return
        with self.store._write() as conn:
            for key_id, at in used.items():
                conn.execute(
                    update(api_keys)
                    .where(
                        api_keys.c.key_id == key_id,
                        (api_keys.c.last_used_at.is_(None)) | (api_keys.c.last_used_at < at),
                    )
                    .values(last_used_at=at)
                )

    def list_keys(self, *, org: str | None = None, subject: str | None = None) -> list[ApiKey]:
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id)
        if org is not None:
            query = query.where(api_keys.c.org == org)
        if subject is not None:
            query = query.where(api_keys.c.subject == subject)
        with self.store._read() as conn:
            return [_key(row) for row in conn.execute(query)]


def _key_row(key: ApiKey) -> dict[str, Any]:
    row = {name: getattr(key, name) for name in ApiKey.__slots__}
    row["scopes"] = sorted(key.scopes)
    return row


def _key(row: Row[Any]) -> ApiKey:
    data = dict(row._mapping)
    data["scopes"] = frozenset(data["scopes"])
    return ApiKey(**data)


class SqlRefreshStore:
    """Sessions and the hashes of their refresh tokens (``tokens.RefreshStore``)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def add_session(self, session: SessionRecord, first: RefreshRecord) -> None:
        principal = session.principal
        try:
            with self.store._write() as conn:
                conn.execute(
                    insert(auth_sessions),
                    {
                        "id": session.id,
                        "sub": principal.sub,
                        "org": principal.org,
                        "role": principal.role,
                        "scopes": sorted(principal.scopes),
                        "created_at": session.created_at,
                        "expires_at": session.expires_at,
                        "revoked_at": session.revoked_at,
                    },
                )
                conn.execute(insert(refresh_tokens), _refresh_row(first))
        except IntegrityError:
            raise ValueError("session or refresh token already stored") from None

    def find(self, token_hash: str) -> tuple[RefreshRecord, SessionRecord] | None:
        query = (
            select(refresh_tokens, auth_sessions)
            .join(auth_sessions, auth_sessions.c.id == refresh_tokens.c.session_id)
            .where(refresh_tokens.c.token_hash == token_hash)
        )
        with self.store._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        data = row._mapping
        record = RefreshRecord(
            token_hash=data[refresh_tokens.c.token_hash],
            session_id=data[refresh_tokens.c.session_id],
            issued_at=data[refresh_tokens.c.issued_at],
            expires_at=data[refresh_tokens.c.expires_at],
            used_at=data[refresh_tokens.c.used_at],
        )
        return record, _session(data)

    def rotate(self, used_hash: str, new: RefreshRecord, at: datetime) -> bool:
        live = select(auth_sessions.c.id).where(auth_sessions.c.revoked_at.is_(None))
        with self.store._write() as conn:
            marked = conn.execute(
                update(refresh_tokens)
                .where(
                    refresh_tokens.c.token_hash == used_hash,
                    refresh_tokens.c.used_at.is_(None),
                    refresh_tokens.c.session_id.in_(live),
                )
                .values(used_at=at)
            ).rowcount
            if marked != 1:
                return False
            conn.execute(insert(refresh_tokens), _refresh_row(new))
        return True

    def revoke_session(self, session_id: str, at: datetime) -> bool:
        with self.store._write() as conn:
            return bool(
                conn.execute(
                    update(auth_sessions)
                    .where(auth_sessions.c.id == session_id, auth_sessions.c.revoked_at.is_(None))
                    .values(revoked_at=at)
                ).rowcount
            )

    def revoke_subject(self, sub: str, at: datetime) -> int:
        with self.store._write() as conn:
            return int(
                conn.execute(
                    update(auth_sessions)
                    .where(auth_sessions.c.sub == sub, auth_sessions.c.revoked_at.is_(None))
                    .values(revoked_at=at)
                ).rowcount
            )

    def get_session(self, session_id: str) -> SessionRecord | None:
        with self.store._read() as conn:
            row = conn.execute(
                select(auth_sessions).where(auth_sessions.c.id == session_id)
            ).first()
        return None if row is None else _session(row._mapping)

    def delete_expired(self, now: datetime) -> int:
        with self.store._write() as conn:
            expired = select(auth_sessions.c.id).where(auth_sessions.c.expires_at <= now)
            tokens = conn.execute(
                delete(refresh_tokens).where(
                    (refresh_tokens.c.expires_at <= now) | refresh_tokens.c.session_id.in_(expired)
                )
            ).rowcount
            sessions = conn.execute(
                delete(auth_sessions).where(auth_sessions.c.expires_at <= now)
            ).rowcount
        return int(tokens) + int(sessions)


def _refresh_row(record: RefreshRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in RefreshRecord.__slots__}


def _session(data: Any) -> SessionRecord:
    principal = Principal(
        sub=data[auth_sessions.c.sub],
        org=data[auth_sessions.c.org],
        role=data[auth_sessions.c.role],
        scopes=frozenset(data[auth_sessions.c.scopes]),
    )
    return SessionRecord(
        id=data[auth_sessions.c.id],
        principal=principal,
        created_at=data[auth_sessions.c.created_at],
        expires_at=data[auth_sessions.c.expires_at],
        revoked_at=data[auth_sessions.c.revoked_at],
    )


class SqlChallengeStore:
    """Pending sign-in challenges (``signatures.ChallengeStore``); ``take`` is one
    ``DELETE ... RETURNING``, so of concurrent verifications of a nonce exactly one gets it.
    Expired challenges go as new ones arrive; at ``max_pending`` live ones, ``add`` refuses
    (anybody may ask for a challenge)."""

    def __init__(self, store: SqlStore, max_pending: int = 100_000) -> None:
        self.store = store
        self.max_pending = max_pending

    def add(self, challenge: Challenge) -> None:
        row = {name: getattr(challenge, name) for name in Challenge.__slots__}
        row["chain_id"] = None if challenge.chain_id is None else str(challenge.chain_id)
        try:
            with self.store._write() as conn:
                conn.execute(
                    delete(signin_challenges).where(
                        signin_challenges.c.expires_at <= challenge.issued_at
                    )
                )
                pending = conn.execute(select(func.count()).select_from(signin_challenges))
                if int(pending.scalar() or 0) >= self.max_pending:
                    raise TooManyChallenges(
                        f"{self.max_pending} sign-in challenges are pending; try again later"
                    )
                conn.execute(insert(signin_challenges), row)
        except IntegrityError:
            raise ValueError("a challenge with this nonce is held already") from None

    def take(self, nonce: str) -> Challenge | None:
        with self.store._write() as conn:
            row = conn.execute(
                delete(signin_challenges)
                .where(signin_challenges.c.nonce == nonce)
                .returning(*signin_challenges.c)
            ).first()
        if row is None:
            return None
        data = dict(row._mapping)
        data["chain_id"] = None if data["chain_id"] is None else int(data["chain_id"])
        return Challenge(**data)

    def purge(self, now: datetime) -> int:
        with self.store._write() as conn:
            return int(
                conn.execute(
                    delete(signin_challenges).where(signin_challenges.c.expires_at <= now)
                ).rowcount
            )


class SqlFailureStore:
    """Password failures per account (``passwords.FailureStore``). ``update`` reads and writes
    in one transaction: SQLite takes the write lock at its start, PostgreSQL locks the row
    (and a concurrent first insert of the same account makes one of them try again)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def get(self, account: str) -> FailureRecord | None:
        with self.store._read() as conn:
            row = conn.execute(
                select(login_failures).where(login_failures.c.account == account)
            ).first()
        return None if row is None else _failure(row)

    def update(
        self, account: str, change: Callable[[FailureRecord | None], FailureRecord | None]
    ) -> FailureRecord | None:
        for attempt in (1, 2):
            try:
                with self.store._write() as conn:
                    query = select(login_failures).where(login_failures.c.account == account)
                    if conn.dialect.name == "postgresql":
                        query = query.with_for_update()
                    row = conn.execute(query).first()
                    result = change(None if row is None else _failure(row))
                    where = login_failures.c.account == account
                    if result is None:
                        conn.execute(delete(login_failures).where(where))
                    elif row is None:
                        conn.execute(insert(login_failures), _failure_row(account, result))
                    else:
                        conn.execute(
                            update(login_failures)
                            .where(where)
                            .values(_failure_row(account, result))
                        )
                    return result
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def prune(self, before: datetime) -> int:
        """Delete records with no failure and no lock since ``before``."""
        quiet = (login_failures.c.last_failure.is_(None)) | (login_failures.c.last_failure < before)
        unlocked = (login_failures.c.locked_until.is_(None)) | (
            login_failures.c.locked_until < before
        )
        with self.store._write() as conn:
            return int(conn.execute(delete(login_failures).where(quiet, unlocked)).rowcount)


def _failure(row: Row[Any]) -> FailureRecord:
    return FailureRecord(
        failures=tuple(datetime.fromisoformat(t) for t in row.failures),
        locks=row.locks,
        locked_until=row.locked_until,
        last_failure=row.last_failure,
    )


def _failure_row(account: str, record: FailureRecord) -> dict[str, Any]:
    return {
        "account": account,
        "failures": [t.isoformat() for t in record.failures],
        "locks": record.locks,
        "locked_until": record.locked_until,
        "last_failure": record.last_failure,
    }
