"""Organisations, users and access: every workflow and run belongs to an organisation (the
existing ones to ``default``); users, memberships, sign-in keys, invites, API keys, sessions,
sign-in challenges, password failures, shares and the audit log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_Json = sa.JSON(none_as_null=False)


def _time(name: str, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(
            sa.Column("org_id", sa.String(64), nullable=False, server_default="default")
        )
    op.create_index(
        "ix_executions_org_id_created_at_id", "executions", ["org_id", "created_at", "id"]
    )
    op.drop_index("ix_workflows_updated_at_id", "workflows")
    with op.batch_alter_table("workflows") as batch:
        batch.add_column(
            sa.Column("org_id", sa.String(64), nullable=False, server_default="default")
        )
        batch.drop_constraint("uq_workflows_name", type_="unique")
        batch.create_unique_constraint("uq_workflows_org_id_name", ["org_id", "name"])
    op.create_index(
        "ix_workflows_org_id_updated_at_id", "workflows", ["org_id", "updated_at", "id"]
    )

    op.create_table(
        "organisations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("plan", sa.String(16), nullable=False),
        _time("created_at", False),
        sa.PrimaryKeyConstraint("id", name="pk_organisations"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.Text()),
        _time("created_at", False),
        _time("disabled_at"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "memberships",
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        _time("created_at", False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name="fk_memberships_org_id_organisations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_memberships_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("org_id", "user_id", name="pk_memberships"),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    op.create_table(
        "signin_accounts",
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        _time("created_at", False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_signin_accounts_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account", name="pk_signin_accounts"),
    )
    op.create_index("ix_signin_accounts_user_id", "signin_accounts", ["user_id"])
    op.create_table(
        "invites",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        _time("created_at", False),
        _time("expires_at", False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_invites_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_invites"),
    )
    op.create_index("ix_invites_user_id", "invites", ["user_id"])
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("org", sa.String(64)),
        sa.Column("scopes", _Json, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16)),
        _time("created_at", False),
        _time("expires_at"),
        _time("last_used_at"),
        _time("revoked_at"),
        _time("rotated_at"),
        sa.Column("previous_hash", sa.String(64)),
        _time("previous_valid_until"),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )
    op.create_index("ix_api_keys_org_created_at", "api_keys", ["org", "created_at"])
    op.create_index("ix_api_keys_subject", "api_keys", ["subject"])
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("sub", sa.String(64), nullable=False),
        sa.Column("org", sa.String(64)),
        sa.Column("role", sa.String(16)),
        sa.Column("scopes", _Json, nullable=False),
        _time("created_at", False),
        _time("expires_at", False),
        _time("revoked_at"),
        sa.PrimaryKeyConstraint("id", name="pk_auth_sessions"),
    )
    op.create_index("ix_auth_sessions_sub", "auth_sessions", ["sub"])
    op.create_index("ix_auth_sessions_expires_at", "auth_sessions", ["expires_at"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        _time("issued_at", False),
        _time("expires_at", False),
        _time("used_at"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["auth_sessions.id"],
            name="fk_refresh_tokens_session_id_auth_sessions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_refresh_tokens"),
    )
    op.create_index("ix_refresh_tokens_session_id", "refresh_tokens", ["session_id"])
    op.create_table(
        "signin_challenges",
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(300), nullable=False),
        sa.Column("chain_id", sa.String(20)),
        _time("issued_at", False),
        _time("expires_at", False),
        sa.PrimaryKeyConstraint("nonce", name="pk_signin_challenges"),
    )
    op.create_index("ix_signin_challenges_expires_at", "signin_challenges", ["expires_at"])
    op.create_table(
        "login_failures",
        sa.Column("account", sa.String(320), nullable=False),
        sa.Column("failures", _Json, nullable=False),
        sa.Column("locks", sa.Integer(), nullable=False),
        _time("locked_until"),
        _time("last_failure"),
        sa.PrimaryKeyConstraint("account", name="pk_login_failures"),
    )
    op.create_table(
        "shares",
        sa.Column("workflow_id", sa.String(36), nullable=False),
        sa.Column("grantee_kind", sa.String(8), nullable=False),
        sa.Column("grantee_id", sa.String(64), nullable=False),
        sa.Column("access", sa.String(8), nullable=False),
        sa.Column("granted_by", sa.String(64), nullable=False),
        _time("created_at", False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name="fk_shares_workflow_id_workflows",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workflow_id", "grantee_kind", "grantee_id", name="pk_shares"),
    )
    op.create_index("ix_shares_grantee_kind_grantee_id", "shares", ["grantee_kind", "grantee_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _time("at", False),
        sa.Column("org_id", sa.String(64)),
        sa.Column("actor", sa.String(64)),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_kind", sa.String(32)),
        sa.Column("target_id", sa.String(200)),
        sa.Column("details", _Json, nullable=False),
        sa.Column("request_id", sa.String(128)),
        sa.Column("ip", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_org_id_id", "audit_log", ["org_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_org_id_id", "audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_shares_grantee_kind_grantee_id", "shares")
    op.drop_table("shares")
    op.drop_table("login_failures")
    op.drop_index("ix_signin_challenges_expires_at", "signin_challenges")
    op.drop_table("signin_challenges")
    op.drop_index("ix_refresh_tokens_session_id", "refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("ix_auth_sessions_expires_at", "auth_sessions")
    op.drop_index("ix_auth_sessions_sub", "auth_sessions")
    op.drop_table("auth_sessions")
    op.drop_index("ix_api_keys_subject", "api_keys")
    op.drop_index("ix_api_keys_org_created_at", "api_keys")
    op.drop_table("api_keys")
    op.drop_index("ix_invites_user_id", "invites")
    op.drop_table("invites")
    op.drop_index("ix_signin_accounts_user_id", "signin_accounts")
    op.drop_table("signin_accounts")
    op.drop_index("ix_memberships_user_id", "memberships")
    op.drop_table("memberships")
    op.drop_table("users")
    op.drop_table("organisations")
    op.drop_index("ix_workflows_org_id_updated_at_id", "workflows")
    with op.batch_alter_table("workflows") as batch:
        batch.drop_constraint("uq_workflows_org_id_name", type_="unique")
        batch.create_unique_constraint("uq_workflows_name", ["name"])
        batch.drop_column("org_id")
    op.create_index("ix_workflows_updated_at_id", "workflows", ["updated_at", "id"])
    op.drop_index("ix_executions_org_id_created_at_id", "executions")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("org_id")
