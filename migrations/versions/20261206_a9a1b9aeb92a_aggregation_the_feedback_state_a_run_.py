"""aggregation: the feedback state a run found, for fresh figures

``aggregation_run.source_state`` is the term's feedback as a run found it (counts of
submitted and withdrawn records and the latest change); the aggregate-fresh job runs a
term again only when it differs. ``ix_feedback_term_state`` answers that look from the
index alone. Existing runs have no state: each open term is run once more, then compared.

Revision ID: a9a1b9aeb92a
Revises: 97fa01927635
Create Date: 2026-12-06 18:36:36.478676
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = 'a9a1b9aeb92a'
down_revision: str | None = '97fa01927635'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "aggregation_run",
        sa.Column("source_state", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    )
    op.create_index(
        "ix_feedback_term_state", "feedback", ["term_id", "status", "updated_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_feedback_term_state", table_name="feedback")
    with op.batch_alter_table("aggregation_run", schema=None) as batch_op:
        batch_op.drop_column("source_state")
