"""reports: each rendering's language (a unit's term report is rendered per language)

Earlier renderings were bilingual; they are recorded as "zh" (the production default) and
are rendered again anyway, since the language is now part of a report's input hash.

Revision ID: c3e9a5d17b42
Revises: b7d2e4f81a90
Create Date: 2026-12-01 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "c3e9a5d17b42"
down_revision: str | None = "b7d2e4f81a90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "locale",
                sqlmodel.sql.sqltypes.AutoString(length=8),
                nullable=False,
                server_default="zh",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_column("locale")
