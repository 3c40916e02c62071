"""Who may do what: roles, the permissions each grants, shares, and the caller they apply to.

This module is the one place that decides. Every API route names the one permission it needs
(its OpenAPI operation shows it as ``x-permission``); a caller has it when their **role** in the
organisation grants it **and** their credential's **scopes** cover it (a session's scopes are
``*``; an API key's are what it was created with). Permissions use the scope grammar of
``security.apikeys`` (``workflows:read``, ``services:http:request``), so an API key can be
narrowed to exactly the permissions a script needs.

========================  ======  ======  =====  =====
permission                viewer  editor  admin  owner
========================  ======  ======  =====  =====
workflows:read, :export   yes     yes     yes    yes
executions:read           yes     yes     yes    yes
members:read              yes     yes     yes    yes
apikeys:own               yes     yes     yes    yes
account:write             yes     yes     yes    yes
orgs:create               yes     yes     yes    yes
workflows:write, :delete  .       yes     yes    yes
workflows:share           .       yes     yes    yes
executions:write          .       yes     yes    yes
executions:delete         .       yes     yes    yes
credentials:read/write    .       yes     yes    yes
credentials:use           .       yes     yes    yes
services:*                .       yes     yes    yes
members:write             .       .       yes    yes
apikeys:admin             .       .       yes    yes
audit:read                .       .       yes    yes
metrics:read              .       .       yes    yes
org:write, members:owner  .       .       .      yes
========================  ======  ======  =====  =====

``executions:write`` covers starting a run, retrying, re-running and cancelling one;
``apikeys:own`` managing one's own API keys; ``account:write`` one's password and sign-in keys;
``orgs:create`` making a new organisation (owned by its maker); ``members:owner`` making
someone an owner or changing what an owner is. Reading who one is (``/auth/me``, one's
organisations and sign-in keys) needs a sign-in only.

A resource of another organisation does not exist for the caller (404), unless it is a workflow
shared with them: a **share** grants one workflow (and its runs) to a user or to a whole
organisation at one of three levels, each including the one before:

- ``view``: read the workflow, export it, see its runs;
- ``run``: start runs of it, retry, re-run and cancel them;
- ``edit``: save new versions of it.

A share to an organisation gives each member at most what their role there allows; a share to a
user is theirs whatever their role. Scopes narrow shares too. Deleting a workflow and sharing it
further stay with its own organisation.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flowforge.errors import FlowForgeError
from flowforge.security.apikeys import scope_allows
from flowforge.security.ratelimit import Plan

__all__ = [
    "ALL_PERMISSIONS",
    "ROLE_PERMISSIONS",
    "SHARE_PERMISSIONS",
    "Access",
    "Caller",
    "Forbidden",
    "Role",
    "shared_allows",
]


class Forbidden(FlowForgeError):
    """The caller is known but may not do this (403)."""


class Role(enum.StrEnum):
    """A member's role in an organisation, from least to most powerful."""

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_RANKS = {role: rank for rank, role in enumerate(Role)}


class Access(enum.StrEnum):
    """The level of a share."""

    VIEW = "view"
    RUN = "run"
    EDIT = "edit"


_VIEWER = frozenset(
    {
        "workflows:read",
        "workflows:export",
        "executions:read",
        "members:read",
        "apikeys:own",
        "account:write",
        "orgs:create",
    }
)
_EDITOR = _VIEWER | {
    "workflows:write",
    "workflows:delete",
    "workflows:share",
    "executions:write",
    "executions:delete",
    "credentials:read",
    "credentials:write",
    "credentials:use",
    "services:*",
}
_ADMIN = _EDITOR | {"members:write", "apikeys:admin", "audit:read", "metrics:read"}

ROLE_PERMISSIONS: Mapping[Role, frozenset[str]] = {
    Role.VIEWER: _VIEWER,
    Role.EDITOR: _EDITOR,
    Role.ADMIN: _ADMIN,
    Role.OWNER: frozenset({"*"}),
}

#: Every permission a route may name (services name ``services:<connector>:<action>``).
ALL_PERMISSIONS = frozenset(_ADMIN | {"org:write", "members:owner"})

_VIEW = frozenset({"workflows:read", "workflows:export", "executions:read"})
SHARE_PERMISSIONS: Mapping[Access, frozenset[str]] = {
    Access.VIEW: _VIEW,
    Access.RUN: _VIEW | {"executions:write"},
    Access.EDIT: _VIEW | {"executions:write", "workflows:write"},
}


def role_allows(role: Role, permission: str) -> bool:
    """Whether ``role`` grants ``permission``."""
    return scope_allows(ROLE_PERMISSIONS[role], permission)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking, in which organisation, with which role and scopes.

    ``user_id`` is None for a service API key (one made by ``flowforge keys create`` or seeded
    by ``FLOWFORGE_ADMIN_API_KEY``), which acts with the key's role alone. ``key_id`` names the
    API key used, if any. ``plan`` is the organisation's, for rate limits.
    """

    org_id: str
    role: Role
    user_id: str | None = None
    key_id: str | None = None
    scopes: frozenset[str] = frozenset({"*"})
    plan: Plan = Plan.PRO

    @property
    def actor(self) -> str:
        """The id audit entries and rate limits name: the key's if one was used."""
        return self.key_id or self.user_id or "anonymous"

    @property
    def actor_kind(self) -> str:
        return "key" if self.key_id else "user"

    def can(self, permission: str) -> bool:
        """Whether the caller may do ``permission`` in their own organisation."""
        return role_allows(self.role, permission) and scope_allows(self.scopes, permission)

    def require(self, permission: str) -> None:
        """Forbidden unless the caller may do ``permission`` in their own organisation."""
        if not self.can(permission):
            raise Forbidden(f"your role ({self.role}) or key does not allow {permission}")

    def within(self, permission: str) -> bool:
        """Whether the caller's scopes cover ``permission`` (whatever their role)."""
        return scope_allows(self.scopes, permission)


def shared_allows(caller: Caller, grants: Iterable[tuple[str, str]], permission: str) -> bool:
    """Whether shares (``(grantee kind, access)`` pairs granted to the caller or to their
    organisation) let the caller do ``permission`` on a workflow of another organisation."""
    if not caller.within(permission):
        return False
    for kind, access in grants:
        if permission not in SHARE_PERMISSIONS[Access(access)]:
            continue
        if kind == "user" or role_allows(caller.role, permission):
            return True
    return False
