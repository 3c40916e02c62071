"""Authentication for the server: who a request comes from, and the ways to sign in.

One ``Auth`` per server process, on the server's database (so every process sharing it agrees):

- ``resolve`` turns the credential a request presents into a ``rbac.Caller``: an API key
  (``ffk_...``) or a session's access token (a JWT), in the organisation the key belongs to or
  the token (or the ``X-FlowForge-Org`` header) names, with the role the member has there now;
- sign-in: password (argon2id, lock-out), signature (a challenge signed with a registered key:
  SIWE or ECDSA), an invite (the first owner's setup token is one), refresh and logout;
- the JWT signing keys, sealed by the vault among the credentials (organisation ``_system``),
  loaded at start, reloaded when a token names a key this process does not hold yet;
- ``bootstrap``: the default organisation, its first owner, ``FLOWFORGE_ADMIN_API_KEY``.

Every request's path must stay fast, so what ``resolve`` reads of the database (API keys,
memberships, plans) is cached for ``auth_cache_s`` (5 s): a change made by this process takes
effect at once, one made by another process within that time. ``resolve(offline=True)`` refuses
to read the database at all (``NeedsLookup``), so the API can answer from the caches on the
event loop and go to a thread only on a miss. Last-use times of API keys are kept in memory and
written once a minute.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar, cast

from cachetools import TTLCache

from flowforge.config import Settings
from flowforge.credentials import Credentials
from flowforge.engine.frames import DEFAULT_ORG
from flowforge.errors import FlowForgeError
from flowforge.security.apikeys import (
    API_KEY_PREFIX,
    KEY_ID_LENGTH,
    ApiKey,
    ApiKeys,
    InvalidApiKey,
    IssuedKey,
)
from flowforge.security.passwords import (
    AccountLocked,
    PasswordLogin,
    check_password_policy,
    hash_password,
)
from flowforge.security.ratelimit import Plan
from flowforge.security.rbac import Caller, Forbidden, Role
from flowforge.security.signatures import Challenge, SignatureLogin
from flowforge.security.tokens import (
    InvalidToken,
    Principal,
    Sessions,
    SigningKey,
    SigningKeys,
    TokenPair,
    hash_refresh_token,
)
from flowforge.store import Conflict, Directory, NotFound, SqlStore, User
from flowforge.store._auth import (
    SqlChallengeStore,
    SqlFailureStore,
    SqlKeyStore,
    SqlRefreshStore,
)

__all__ = [
    "OWNER_EMAIL",
    "SERVICE_SUBJECT",
    "SYSTEM_ORG",
    "AccountLocked",
    "Auth",
    "CachedKeyStore",
    "NeedsLookup",
    "SignedIn",
    "Unauthenticated",
]

log = logging.getLogger("flowforge.auth")

SYSTEM_ORG = "_system"  # owns the server's own sealed secrets; no user is ever a member
SIGNING_KEY_PREFIX = "jwt:"
SERVICE_SUBJECT = "service"  # the subject of API keys that act for no user
OWNER_EMAIL = "owner@localhost"  # the first owner's address until they choose one
SETUP_TTL = timedelta(hours=24)
INVITE_TTL = timedelta(days=7)
AUDIENCE = "flowforge-api"
_RELOAD_INTERVAL_S = 1.0
_KEY_ID = slice(len(API_KEY_PREFIX), len(API_KEY_PREFIX) + KEY_ID_LENGTH)
_K = TypeVar("_K", bound=Hashable)
_ABSENT = object()  # a cached None is an answer (no membership), so misses need a mark
_V = TypeVar("_V")


class Unauthenticated(FlowForgeError):
    """The request proves nobody (401): no credential, or one that is not (or no longer)
    valid. The message says why without echoing the credential."""


class NeedsLookup(Exception):
    """``resolve(offline=True)`` would have to read the database."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A session just started or refreshed: its tokens, whose it is, in which organisation."""

    tokens: TokenPair
    user_id: str
    org_id: str | None


class CachedKeyStore:
    """A ``KeyStore`` that remembers records for ``ttl_s`` and collects last-use times in
    memory until ``flush``. Writes go through at once (and update the cache)."""

    def __init__(self, inner: SqlKeyStore, ttl_s: float, maxsize: int = 10_000) -> None:
        self.inner = inner
        self._cache: TTLCache[str, ApiKey] | None = TTLCache(maxsize, ttl_s) if ttl_s > 0 else None
        self._touched: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def cached(self, key_id: str) -> bool:
        return self._cache is not None and key_id in self._cache

    def add(self, key: ApiKey) -> None:
        self.inner.add(key)
        self._remember(key)

    def get(self, key_id: str) -> ApiKey | None:
        if self._cache is not None:
            with self._lock:
                found = self._cache.get(key_id)
            if found is not None:
                return found
        record = self.inner.get(key_id)
        if record is not None:
            self._remember(record)
        return record

    def replace(self, key: ApiKey) -> None:
        self.inner.replace(key)
        self._remember(key)

    def touch(self, key_id: str, at: datetime) -> None:
        with self._lock:
            self._touched[key_id] = at
            if self._cache is not None and key_id in self._cache:
                self._cache[key_id] = replace(self._cache[key_id], last_used_at=at)

    def list_keys(self, *, org: str | None = None, subject: str | None = None) -> list[ApiKey]:
        self.flush()
        return self.inner.list_keys(org=org, subject=subject)

    def forget(self, key_id: str) -> None:
        if self._cache is not None:
            with self._lock:
                self._cache.pop(key_id, None)

    def flush(self) -> None:
        """Write the last-use times collected since the last flush."""
        with self._lock:
            touched, self._touched = self._touched, {}
        self.inner.touch_many(touched)

    def _remember(self, key: ApiKey) -> None:
        if self._cache is not None:
            with self._lock:
                self._cache[key.key_id] = key


class Auth:
    """Authentication and sign-in for one server process."""

    def __init__(self, store: SqlStore, credentials: Credentials, settings: Settings) -> None:
        self.settings = settings
        self.store = store
        self.credentials = credentials
        self.directory = Directory(store)
        self.key_store = CachedKeyStore(SqlKeyStore(store), settings.auth_cache_s)
        self.api_keys = ApiKeys(self.key_store)
        self.refresh_store = SqlRefreshStore(store)
        self.failures = SqlFailureStore(store)
        self.passwords = PasswordLogin(self.failures)
        base = settings.base_url()
        self.issuer = base
        self.signatures = SignatureLogin(
            domain=base.split("://", 1)[1].split("/", 1)[0],
            uri=base,
            chain_id=settings.siwe_chain_id,
            store=SqlChallengeStore(store),
        )
        ttl = settings.auth_cache_s
        self._roles: TTLCache[tuple[str, str], str | None] | None = (
            TTLCache(100_000, ttl) if ttl > 0 else None
        )
        self._plans: TTLCache[str, Plan] | None = TTLCache(10_000, ttl) if ttl > 0 else None
        self._cache_lock = threading.Lock()
        self._sessions: Sessions | None = None
        self._last_reload = float("-inf")

    # -- life

    def open(self) -> None:
        """Load (or make, on a new database) the JWT signing keys."""
        self._sessions = Sessions(
            self._load_signing_keys(),
            self.refresh_store,
            issuer=self.issuer,
            audience=AUDIENCE,
            access_ttl=timedelta(seconds=self.settings.access_token_ttl_s),
        )

    @property
    def sessions(self) -> Sessions:
        if self._sessions is None:
            raise RuntimeError("Auth.open() first")
        return self._sessions

    def bootstrap(self) -> None:
        """Make sure the default organisation exists, with an owner on a new database, and
        store ``FLOWFORGE_ADMIN_API_KEY`` (or ``_FILE``) as an owner key of it. Safe to run in
        several processes at once."""
        with contextlib.suppress(Conflict):
            self.directory.create_org("Default", self.settings.default_plan, org_id=DEFAULT_ORG)
        if not self.directory.has_users():
            try:
                owner = self.directory.create_user(OWNER_EMAIL, "Owner")
                self.directory.add_member(DEFAULT_ORG, owner.id, Role.OWNER)
            except Conflict:  # another process made the first owner meanwhile
                pass
        key = self._admin_key()
        if key is not None:
            self.api_keys.adopt(
                key,
                subject=SERVICE_SUBJECT,
                scopes=["*"],
                org=DEFAULT_ORG,
                name="FLOWFORGE_ADMIN_API_KEY",
                role=Role.OWNER,
            )

    def setup_token(self) -> str | None:
        """A one-time token for the first owner to choose a password (valid 24 hours), while
        nobody in the default organisation has a password or a sign-in key and no admin API
        key is configured; None once set up."""
        if self._admin_key() is not None:
            return None
        members = self.directory.members(DEFAULT_ORG)
        for member in members:
            if member.user.password_hash or self.directory.accounts_of(member.user.id):
                return None
        owners = [m for m in members if m.role == Role.OWNER]
        if not owners:
            return None
        return self.directory.invite(owners[0].user.id, _now() + SETUP_TTL)

    def flush(self) -> None:
        """Write what is kept in memory (API keys' last-use times)."""
        self.key_store.flush()

    # -- who is asking

    def resolve(self, presented: str, org: str | None = None, *, offline: bool = False) -> Caller:
        """The caller a credential proves: an API key or an access token, in organisation
        ``org`` if given (it must be the key's, or one the token's user belongs to). Raises
        Unauthenticated or Forbidden; with ``offline``, NeedsLookup when it would have to read
        the database."""
        if presented.startswith(API_KEY_PREFIX):
            return self._key_caller(presented, org, offline)
        return self._token_caller(presented, org, offline)

    def _key_caller(self, presented: str, org: str | None, offline: bool) -> Caller:
        try:
            # The id's place in a key (verify checks the whole shape): a malformed key is not
            # cached, so it goes to the thread and is refused there.
            if offline and not self.key_store.cached(presented[_KEY_ID]):
                raise NeedsLookup
            record = self.api_keys.verify(presented)
        except InvalidApiKey as exc:
            raise Unauthenticated(str(exc)) from None
        key_org = record.org or DEFAULT_ORG
        if org is not None and org != key_org:
            raise Forbidden("this API key belongs to another organisation")
        key_role = Role(record.role or Role.VIEWER)
        user_id = None if record.subject == SERVICE_SUBJECT else record.subject
        role = key_role
        if user_id is not None:
            member = self.role_of(user_id, key_org, offline=offline)
            if member is None:
                raise Unauthenticated(
                    "the API key's user is no longer a member of its organisation"
                )
            role = min(Role(member), key_role, key=lambda r: r.rank)
        return Caller(
            org_id=key_org,
            role=role,
            user_id=user_id,
            key_id=record.key_id,
            scopes=record.scopes or frozenset({"*"}),
            plan=self.plan_of(key_org, offline=offline),
        )

    def _token_caller(self, presented: str, org: str | None, offline: bool) -> Caller:
        try:
            claims = self.sessions.verify_access(presented)
        except InvalidToken as exc:
            if exc.reason != "unknown key id" or not self._may_reload():
                raise Unauthenticated(str(exc)) from None
            if offline:
                raise NeedsLookup from None
            self.reload_signing_keys()
            try:
                claims = self.sessions.verify_access(presented)
            except InvalidToken as again:
                raise Unauthenticated(str(again)) from None
        target = org or claims.org
        if target is None:
            raise Unauthenticated("the token names no organisation")
        role = self.role_of(claims.sub, target, offline=offline)
        if role is None:
            if org is not None:
                raise Forbidden("you are not a member of this organisation")
            raise Unauthenticated("you are no longer a member of this organisation")
        return Caller(
            org_id=target,
            role=Role(role),
            user_id=claims.sub,
            scopes=claims.scopes or frozenset({"*"}),
            plan=self.plan_of(target, offline=offline),
        )

    def role_of(self, user_id: str, org_id: str, *, offline: bool = False) -> str | None:
        """The user's role in the organisation (cached), or None if not a member."""
        return self._cached(
            self._roles,
            (user_id, org_id),
            lambda: self.directory.role_of(user_id, org_id),
            offline,
        )

    def plan_of(self, org_id: str, *, offline: bool = False) -> Plan:
        """The organisation's plan (cached)."""

        def load() -> Plan:
            try:
                return Plan(self.directory.get_org(org_id).plan)
            except NotFound:
                return Plan.FREE

        return self._cached(self._plans, org_id, load, offline)

    def forget(self, *, user_id: str | None = None, org_id: str | None = None) -> None:
        """Drop what this process remembers of a membership or an organisation, after a
        change, so the change takes effect here at once."""
        with self._cache_lock:
            if self._roles is not None:
                for pair in [p for p in self._roles if user_id in (None, p[0])]:
                    if org_id in (None, pair[1]):
                        self._roles.pop(pair, None)
            if self._plans is not None and org_id is not None:
                self._plans.pop(org_id, None)
            elif self._plans is not None and user_id is None:
                self._plans.clear()

    def _cached(
        self, cache: TTLCache[_K, _V] | None, key: _K, load: Callable[[], _V], offline: bool
    ) -> _V:
        if cache is not None:
            with self._cache_lock:
                # one look: between "in" and reading, an entry can expire
                found = cache.get(key, _ABSENT)
            if found is not _ABSENT:
                return cast(_V, found)
        if offline:
            raise NeedsLookup
        value = load()
        if cache is not None:
            with self._cache_lock:
                cache[key] = value
        return value

    # -- signing in

    def password_login(self, email: str, password: str, org: str | None = None) -> SignedIn:
        """A session for the user with this address and password; Unauthenticated (the same
        whether the address is unknown or the password wrong), AccountLocked after repeated
        failures."""
        account = email.strip().lower()
        user = self.directory.user_by_email(account)
        usable = user is not None and user.disabled_at is None
        stored = user.password_hash if user is not None and usable else None
        outcome = self.passwords.check(account, password, stored)
        if not outcome.ok or user is None:
            raise Unauthenticated("wrong e-mail address or password")
        if outcome.new_hash is not None:
            self.directory.set_password(user.id, outcome.new_hash)
        return self.start_session(user, org)

    def challenge(self, account: str) -> Challenge:
        """A sign-in challenge for a public key or Ethereum address (issued whether or not a
        user registered it, so that nobody learns which keys are registered)."""
        return self.signatures.issue(account)

    def signature_login(
        self, account: str, message: str, signature: str, org: str | None = None
    ) -> SignedIn:
        """A session for the user who registered ``account``, once ``signature`` over the
        challenge ``message`` proves it; SignatureError or Unauthenticated otherwise."""
        canonical = self.signatures.verify(account, message, signature)
        user_id = self.directory.user_of_account(canonical)
        if user_id is None:
            raise Unauthenticated("no user signs in with this key")
        return self.start_session(self.directory.get_user(user_id), org)

    def accept_invite(
        self, token: str, password: str, *, email: str | None = None, name: str | None = None
    ) -> SignedIn:
        """Use an invite (or the setup token): set the user's password (and address and name,
        if given) and start a session. Unauthenticated if the token is unknown, used or
        expired; PasswordRejected if the password is unfit; Conflict if the address is
        taken."""
        check_password_policy(password)
        if email is not None:  # before the invite is used up: a taken address keeps it usable
            taken = self.directory.user_by_email(email)
            if taken is not None and taken.id != self.directory.invited(token, _now()):
                raise Conflict("email", f"a user with the address {taken.email} exists")
        user_id = self.directory.take_invite(token, _now())
        if user_id is None:
            raise Unauthenticated("this invite or setup token is unknown, used or expired")
        if email is not None or name is not None:
            self.directory.update_user(user_id, email=email, name=name)
        self.directory.set_password(user_id, hash_password(password))
        return self.start_session(self.directory.get_user(user_id))

    def start_session(self, user: User, org: str | None = None) -> SignedIn:
        """A new session of ``user`` in ``org`` (default: the first organisation they
        joined); Forbidden if they are not a member of it (or of any)."""
        if user.disabled_at is not None:
            raise Unauthenticated("this account is disabled")
        memberships = self.directory.orgs_of(user.id)
        chosen = next((m for m in memberships if org is None or m[0].id == org), None)
        if chosen is None:
            raise Forbidden(
                "you are not a member of this organisation"
                if org is not None
                else "you are not a member of any organisation"
            )
        principal = Principal(user.id, chosen[0].id, chosen[1], frozenset({"*"}))
        return SignedIn(self.sessions.start(principal), user.id, chosen[0].id)

    def refresh(self, refresh_token: str) -> SignedIn:
        """New tokens for a refresh token (used up); the session ends if its user is no longer
        a member of its organisation. A token used twice ends its session."""
        seen: list[Principal] = []

        def current(principal: Principal) -> Principal | None:
            role = self.directory.role_of(principal.sub, principal.org or "")
            if role is None:
                return None
            seen.append(principal)
            return Principal(principal.sub, principal.org, role, principal.scopes)

        try:
            pair = self.sessions.refresh(refresh_token, current=current)
        except InvalidToken as exc:
            raise Unauthenticated(str(exc)) from None
        return SignedIn(pair, seen[0].sub, seen[0].org)

    def logout(self, refresh_token: str) -> str | None:
        """End the session of a refresh token; give its user's id if it was live."""
        try:
            found = self.refresh_store.find(hash_refresh_token(refresh_token))
            ended = self.sessions.logout(refresh_token)
        except InvalidToken as exc:
            raise Unauthenticated(str(exc)) from None
        return found[1].principal.sub if ended and found else None

    def register_account(
        self, user_id: str, account: str, label: str, message: str, signature: str
    ) -> str:
        """Register a public key or Ethereum address for signing in, once ``signature`` over
        a challenge for it proves the user holds it; give its canonical id. SignatureError
        if the proof fails, Conflict if any user has it already."""
        canonical = self.signatures.verify(account, message, signature)
        self.directory.add_account(user_id, canonical, label)
        return canonical

    # -- API keys

    def create_key(
        self,
        caller: Caller,
        *,
        name: str,
        role: Role | None,
        scopes: Iterable[str],
        expires_in: timedelta | None,
    ) -> IssuedKey:
        """A new key of the caller's for their organisation, with at most their role and
        scopes; Forbidden if they ask for more."""
        role = role or caller.role
        if not caller.role.at_least(role):
            raise Forbidden(f"a {caller.role} cannot make a key with the role {role}")
        wanted = list(scopes) or ["*"]
        beyond = [s for s in wanted if not caller.within(s)]
        if beyond:
            raise Forbidden(f"scope {beyond[0]!r} is beyond the scopes of this key")
        return self.api_keys.create(
            subject=caller.user_id or SERVICE_SUBJECT,
            scopes=wanted,
            org=caller.org_id,
            name=name,
            role=role,
            expires_in=expires_in,
        )

    # -- signing keys

    def _load_signing_keys(self) -> SigningKeys:
        entries = [
            e
            for e in self.credentials.rows.entries(SYSTEM_ORG)
            if e.id.startswith(SIGNING_KEY_PREFIX)
        ]
        keys: list[SigningKey] = []
        for entry in entries:
            sealed = self.credentials.rows.get(SYSTEM_ORG, entry.id)
            if sealed is None:  # dropped by a rotation meanwhile
                continue
            secret = self.credentials.vault.open(SYSTEM_ORG, entry.id, sealed)
            keys.append(
                SigningKey.from_private_pem(secret["pem"].encode(), created_at=entry.created_at)
            )
        if not keys:
            keys = [self._add_signing_key()]
        keys.sort(key=lambda k: (k.created_at, k.kid))
        return SigningKeys(keys[-1], keys[:-1])

    def _add_signing_key(self) -> SigningKey:
        key = SigningKey.generate("EdDSA")
        credential_id = SIGNING_KEY_PREFIX + key.kid
        sealed = self.credentials.vault.seal(
            SYSTEM_ORG, credential_id, {"pem": key.private_pem().decode()}
        )
        self.credentials.rows.put(SYSTEM_ORG, credential_id, "_jwt", sealed)
        return key

    def reload_signing_keys(self) -> None:
        """Pick up keys another process added or dropped (a rotation)."""
        self._last_reload = time.monotonic()
        self.sessions.keys = self._load_signing_keys()

    def _may_reload(self) -> bool:
        return time.monotonic() - self._last_reload >= _RELOAD_INTERVAL_S

    def rotate_signing_key(self) -> str:
        """Make a new signing key current (for every process within a minute) and drop the
        keys that stopped signing more than a day ago; give the new key's kid. VaultError,
        and nothing written, when the keys there are cannot be opened (this process does not
        hold the master key they were sealed under)."""
        self._load_signing_keys()
        new = self._add_signing_key()
        cutoff = _now() - timedelta(days=1)
        entries = sorted(
            (
                e
                for e in self.credentials.rows.entries(SYSTEM_ORG)
                if e.id.startswith(SIGNING_KEY_PREFIX)
            ),
            key=lambda e: e.created_at,
        )
        for older, newer in itertools.pairwise(entries):
            if newer.created_at < cutoff:
                self.credentials.rows.delete(SYSTEM_ORG, older.id)
        if self._sessions is not None:  # not opened: the CLI rotates without signing tokens
            self.reload_signing_keys()
        return new.kid

    # -- internals

    def _admin_key(self) -> str | None:
        key = self.settings.admin_api_key
        path = self.settings.admin_api_key_file
        if key is None and path is not None:
            try:
                key = Path(path).read_text().strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise FlowForgeError(
                    f"FLOWFORGE_ADMIN_API_KEY_FILE: cannot read {path}: {exc}"
                ) from None
        return key or None


def _now() -> datetime:
    return datetime.now(UTC)
