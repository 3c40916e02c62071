"""The directory: organisations, users, their memberships and roles, the public keys they sign
in with, and the one-time invites that let a new user choose a password."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from flowforge.store._interface import Conflict, NotFound
from flowforge.store._sql import SqlStore
from flowforge.store._tables import invites, memberships, organisations, signin_accounts, users

__all__ = ["Directory", "Member", "Organisation", "User", "hash_token"]

OWNER = "owner"  # the role of which an organisation always keeps one member


@dataclass(frozen=True, slots=True)
class Organisation:
    id: str
    name: str
    plan: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class User:
    """A person. ``password_hash`` is None for a user who signs in with keys only (or who has
    not accepted their invite yet)."""

    id: str
    email: str
    name: str
    password_hash: str | None
    created_at: datetime
    disabled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Member:
    """A user in an organisation, with their role there."""

    user: User
    org_id: str
    role: str
    since: datetime


def hash_token(token: str) -> str:
    """The SHA-256 (hex) under which a random one-time token is kept."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


class Directory:
    """Organisations, users and memberships on the server's database."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    # -- organisations

    def create_org(
        self, name: str, plan: str, *, org_id: str | None = None, owner: str | None = None
    ) -> Organisation:
        """A new organisation (``org_id`` or a fresh id), with ``owner`` (a user id) as its
        first owner; Conflict if the id is taken."""
        org = Organisation(org_id or f"org_{uuid.uuid4().hex[:16]}", name, plan, _now())
        try:
            with self.store._write() as conn:
                conn.execute(insert(organisations), _row(org))
                if owner is not None:
                    self._get_user(conn, owner)
                    conn.execute(
                        insert(memberships),
                        {"org_id": org.id, "user_id": owner, "role": OWNER, "created_at": _now()},
                    )
        except IntegrityError:
            raise Conflict("id", f"an organisation {org.id!r} exists already") from None
        return org

    def get_org(self, org_id: str) -> Organisation:
        """The organisation; NotFound if there is none."""
        with self.store._read() as conn:
            row = conn.execute(select(organisations).where(organisations.c.id == org_id)).first()
        if row is None:
            raise NotFound(f"no organisation {org_id!r}")
        return Organisation(**row._asdict())

    def update_org(
        self, org_id: str, *, name: str | None = None, plan: str | None = None
    ) -> Organisation:
        """Rename an organisation or change its plan; NotFound if there is none."""
        values = {k: v for k, v in (("name", name), ("plan", plan)) if v is not None}
        with self.store._write() as conn:
            if values:
                done = conn.execute(
                    update(organisations).where(organisations.c.id == org_id).values(values)
                ).rowcount
                if not done:
                    raise NotFound(f"no organisation {org_id!r}")
        return self.get_org(org_id)

    def list_orgs(self) -> list[tuple[Organisation, int]]:
        """Every organisation with its number of members, oldest first."""
        count = (
            select(func.count()).where(memberships.c.org_id == organisations.c.id).scalar_subquery()
        )
        query = select(organisations, count.label("members")).order_by(
            organisations.c.created_at, organisations.c.id
        )
        with self.store._read() as conn:
            rows = conn.execute(query).all()
        return [(Organisation(r.id, r.name, r.plan, r.created_at), int(r.members)) for r in rows]

    def orgs_of(self, user_id: str) -> list[tuple[Organisation, str]]:
        """The organisations a user belongs to, with their role in each, oldest first."""
        query = (
            select(organisations, memberships.c.role)
            .join(memberships, memberships.c.org_id == organisations.c.id)
            .where(memberships.c.user_id == user_id)
            .order_by(memberships.c.created_at, organisations.c.id)
        )
        with self.store._read() as conn:
            rows = conn.execute(query).all()
        return [(Organisation(r.id, r.name, r.plan, r.created_at), str(r.role)) for r in rows]

    # -- users

    def create_user(self, email: str, name: str = "", *, password_hash: str | None = None) -> User:
        """A new user; Conflict (field ``email``) if the address is taken."""
        user = User(
            id=f"usr_{uuid.uuid4().hex[:16]}",
            email=normalise_email(email),
            name=name,
            password_hash=password_hash,
            created_at=_now(),
        )
        try:
            with self.store._write() as conn:
                conn.execute(insert(users), _row(user))
        except IntegrityError:
            raise Conflict("email", f"a user with the address {user.email} exists") from None
        return user

    def get_user(self, user_id: str) -> User:
        """The user; NotFound if there is none."""
        with self.store._read() as conn:
            return self._get_user(conn, user_id)

    def user_by_email(self, email: str) -> User | None:
        with self.store._read() as conn:
            row = conn.execute(select(users).where(users.c.email == normalise_email(email))).first()
        return None if row is None else _user(row)

    def update_user(
        self, user_id: str, *, email: str | None = None, name: str | None = None
    ) -> None:
        """Change a user's address or name; Conflict if the address is taken."""
        values: dict[str, str] = {}
        if email is not None:
            values["email"] = normalise_email(email)
        if name is not None:
            values["name"] = name
        if not values:
            return
        try:
            with self.store._write() as conn:
                done = conn.execute(
                    update(users).where(users.c.id == user_id).values(values)
                ).rowcount
        except IntegrityError:
            raise Conflict("email", f"a user with the address {values['email']} exists") from None
        if not done:
            raise NotFound(f"no user {user_id!r}")

    def set_password(self, user_id: str, password_hash: str) -> None:
        with self.store._write() as conn:
            done = conn.execute(
                update(users).where(users.c.id == user_id).values(password_hash=password_hash)
            ).rowcount
        if not done:
            raise NotFound(f"no user {user_id!r}")

    def has_users(self) -> bool:
        with self.store._read() as conn:
            return conn.execute(select(users.c.id).limit(1)).first() is not None

    # -- memberships

    def role_of(self, user_id: str, org_id: str) -> str | None:
        """The user's role in the organisation, or None when they are not a member (or are
        disabled)."""
        query = (
            select(memberships.c.role)
            .join(users, users.c.id == memberships.c.user_id)
            .where(
                memberships.c.user_id == user_id,
                memberships.c.org_id == org_id,
                users.c.disabled_at.is_(None),
            )
        )
        with self.store._read() as conn:
            role = conn.execute(query).scalar()
        return None if role is None else str(role)

    def members(self, org_id: str, user_id: str | None = None) -> list[Member]:
        """The members of an organisation (or just ``user_id``, if a member), oldest first."""
        query = (
            select(users, memberships.c.role, memberships.c.created_at.label("since"))
            .join(memberships, memberships.c.user_id == users.c.id)
            .where(memberships.c.org_id == org_id)
            .order_by(memberships.c.created_at, users.c.id)
        )
        if user_id is not None:
            query = query.where(memberships.c.user_id == user_id)
        with self.store._read() as conn:
            rows = conn.execute(query).all()
        return [Member(_user(r), org_id, str(r.role), r.since) for r in rows]

    def member(self, org_id: str, user_id: str) -> Member:
        """One member; NotFound if the user is not in the organisation."""
        found = self.members(org_id, user_id)
        if not found:
            raise NotFound(f"no member {user_id!r} in this organisation")
        return found[0]

    def add_member(self, org_id: str, user_id: str, role: str) -> None:
        """Add a user to an organisation; Conflict if they are in it already."""
        try:
            with self.store._write() as conn:
                self._get_user(conn, user_id)
                conn.execute(
                    insert(memberships),
                    {"org_id": org_id, "user_id": user_id, "role": role, "created_at": _now()},
                )
        except IntegrityError:
            raise Conflict("userId", f"{user_id} is a member already") from None

    def set_role(self, org_id: str, user_id: str, role: str) -> str:
        """Change a member's role; give the role they had. Conflict if that would leave the
        organisation without an owner; NotFound if they are not a member."""
        with self.store._write() as conn:
            before = self._role_for_update(conn, org_id, user_id)
            if before == OWNER and role != OWNER:
                self._keep_an_owner(conn, org_id)
            conn.execute(
                update(memberships)
                .where(memberships.c.org_id == org_id, memberships.c.user_id == user_id)
                .values(role=role)
            )
        return before

    def remove_member(self, org_id: str, user_id: str) -> str:
        """Take a user out of an organisation; give the role they had. Conflict if they are
        its last owner; NotFound if they are not a member."""
        with self.store._write() as conn:
            before = self._role_for_update(conn, org_id, user_id)
            if before == OWNER:
                self._keep_an_owner(conn, org_id)
            conn.execute(
                delete(memberships).where(
                    memberships.c.org_id == org_id, memberships.c.user_id == user_id
                )
            )
        return before

    # -- sign-in accounts (public keys)

    def add_account(self, user_id: str, account: str, label: str) -> None:
        """Register a public key (its canonical account id) for a user; Conflict if any user
        has it already."""
        try:
            with self.store._write() as conn:
                conn.execute(
                    insert(signin_accounts),
                    {"account": account, "user_id": user_id, "label": label, "created_at": _now()},
                )
        except IntegrityError:
            raise Conflict("account", "this key is registered already") from None

    def accounts_of(self, user_id: str) -> list[dict[str, Any]]:
        query = (
            select(signin_accounts)
            .where(signin_accounts.c.user_id == user_id)
            .order_by(signin_accounts.c.created_at)
        )
        with self.store._read() as conn:
            return [row._asdict() for row in conn.execute(query)]

    def remove_account(self, user_id: str, account: str) -> bool:
        with self.store._write() as conn:
            return bool(
                conn.execute(
                    delete(signin_accounts).where(
                        signin_accounts.c.user_id == user_id, signin_accounts.c.account == account
                    )
                ).rowcount
            )

    def user_of_account(self, account: str) -> str | None:
        with self.store._read() as conn:
            found = conn.execute(
                select(signin_accounts.c.user_id).where(signin_accounts.c.account == account)
            ).scalar()
        return None if found is None else str(found)

    # -- invites

    def invite(self, user_id: str, expires_at: datetime) -> str:
        """A new one-time token with which the user chooses a password; it replaces any
        earlier one of theirs."""
        token = "ffi_" + secrets.token_urlsafe(32)
        with self.store._write() as conn:
            conn.execute(delete(invites).where(invites.c.user_id == user_id))
            conn.execute(
                insert(invites),
                {
                    "token_hash": hash_token(token),
                    "user_id": user_id,
                    "created_at": _now(),
                    "expires_at": expires_at,
                },
            )
        return token

    def take_invite(self, token: str, now: datetime) -> str | None:
        """The user an unexpired invite is for, which it uses up; None if it is unknown,
        used or expired."""
        with self.store._write() as conn:
            row = conn.execute(
                delete(invites)
                .where(invites.c.token_hash == hash_token(token))
                .returning(invites.c.user_id, invites.c.expires_at)
            ).first()
        if row is None or row.expires_at <= now:
            return None
        return str(row.user_id)

    def invited(self, token: str, now: datetime) -> str | None:
        """The user an unexpired invite is for, without using it up."""
        with self.store._read() as conn:
            row = conn.execute(
                select(invites.c.user_id).where(
                    invites.c.token_hash == hash_token(token), invites.c.expires_at > now
                )
            ).first()
        return None if row is None else str(row.user_id)

    # -- internals

    @staticmethod
    def _get_user(conn: Connection, user_id: str) -> User:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
        if row is None:
            raise NotFound(f"no user {user_id!r}")
        return _user(row)

    @staticmethod
    def _role_for_update(conn: Connection, org_id: str, user_id: str) -> str:
        query = select(memberships.c.role).where(
            memberships.c.org_id == org_id, memberships.c.user_id == user_id
        )
        if conn.dialect.name == "postgresql":
            # Changes to one organisation's members take turns: two owners demoting each
            # other would otherwise each lock their own row, then wait for the other's.
            conn.execute(
                select(organisations.c.id)
                .where(organisations.c.id == org_id)
                .with_for_update(key_share=True)
            )
            query = query.with_for_update()
        role = conn.execute(query).scalar()
        if role is None:
            raise NotFound(f"no member {user_id!r} in this organisation")
        return str(role)

    @staticmethod
    def _keep_an_owner(conn: Connection, org_id: str) -> None:
        query = select(memberships.c.user_id).where(
            memberships.c.org_id == org_id, memberships.c.role == OWNER
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        owners = len(conn.execute(query).all())
        if owners <= 1:
            raise Conflict("role", "an organisation keeps at least one owner")


def _now() -> datetime:
    return datetime.now(UTC)


def _row(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__slots__}


def _user(row: Row[Any]) -> User:
    data = row._mapping
    return User(**{name: data[users.c[name]] for name in User.__slots__})
