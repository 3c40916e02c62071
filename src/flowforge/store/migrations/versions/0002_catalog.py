"""The catalogue (workflows, revisions, triggers) and what the server records about a run.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("workflow_id", sa.String(36)))
        batch.add_column(sa.Column("trigger_node", sa.String(128)))
        batch.add_column(sa.Column("dedupe_key", sa.String(200)))
        batch.add_column(sa.Column("retry_of", sa.String(36)))
        batch.add_column(sa.Column("pinned", sa.JSON(none_as_null=False)))
        batch.create_unique_constraint("uq_executions_dedupe_key", ["dedupe_key"])
    op.create_index(
        "ix_executions_workflow_id_created_at_id", "executions", ["workflow_id", "created_at", "id"]
    )
    op.create_table(
        "workflows",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("tags", sa.JSON(none_as_null=False), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.String(64), nullable=False),
        sa.Column("source_path", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["workflow_versions.id"],
            name="fk_workflows_version_id_workflow_versions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_workflows"),
        sa.UniqueConstraint("name", name="uq_workflows_name"),
    )
    op.create_index("ix_workflows_updated_at_id", "workflows", ["updated_at", "id"])
    op.create_table(
        "workflow_revisions",
        sa.Column("workflow_id", sa.String(36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name="fk_workflow_revisions_workflow_id_workflows",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["workflow_versions.id"],
            name="fk_workflow_revisions_version_id_workflow_versions",
        ),
        sa.PrimaryKeyConstraint("workflow_id", "number", name="pk_workflow_revisions"),
    )
    op.create_table(
        "triggers",
        sa.Column("workflow_id", sa.String(36), nullable=False),
        sa.Column("node_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("path", sa.String(400)),
        sa.Column("config", sa.JSON(none_as_null=False), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name="fk_triggers_workflow_id_workflows",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workflow_id", "node_id", name="pk_triggers"),
        sa.UniqueConstraint("path", name="uq_triggers_path"),
    )
    op.create_index("ix_triggers_kind_next_at", "triggers", ["kind", "next_at"])
    op.create_table(
        "meta",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("value", sa.JSON(none_as_null=False)),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )


def downgrade() -> None:
    op.drop_table("meta")
    op.drop_index("ix_triggers_kind_next_at", "triggers")
    op.drop_table("triggers")
    op.drop_table("workflow_revisions")
    op.drop_index("ix_workflows_updated_at_id", "workflows")
    op.drop_table("workflows")
    op.drop_index("ix_executions_workflow_id_created_at_id", "executions")
    with op.batch_alter_table("executions") as batch:
        batch.drop_constraint("uq_executions_dedupe_key", type_="unique")
        for column in ("pinned", "retry_of", "dedupe_key", "trigger_node", "workflow_id"):
            batch.drop_column(column)
