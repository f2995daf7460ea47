"""org: English name of a term

Terms were named in Chinese only ("2026秋季学期"), so English pages and PDF reports
showed a Chinese term name among English words. ``term.name_en`` is optional like
``org_unit.name_en`` and ``course.title_en``: where it is empty the name serves both
languages, so existing terms need no value.

Revision ID: 84b291a47748
Revises: c8578f51f342
Create Date: 2026-12-06 15:57:30.866248
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "84b291a47748"
down_revision: str | None = "c8578f51f342"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("term", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("name_en", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("term", schema=None) as batch_op:
        batch_op.drop_column("name_en")
