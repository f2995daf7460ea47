"""planner: the week a plan's quota starts

"Expected by now" counted only the weeks that had been drawn, so a supervisor in
week 13 of a term with only this week drawn was expected to have made 0 visits and
nobody was ever behind. It now counts every ended week of the term from the week
the plan's quota starts, ``plan_setting.quota_from_week``: 1 for a plan that runs
all term (the default, and what existing plans get), a later week for a plan set
up mid-term, so that the weeks before it are not counted against anybody.

Revision ID: 659b61238cd7
Revises: 9427bb46ffce
Create Date: 2026-12-06 16:57:26.263559
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "659b61238cd7"
down_revision: str | None = "9427bb46ffce"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("plan_setting", schema=None) as batch_op:
        # Existing plans count from week 1, as the model's default does.
        batch_op.add_column(
            sa.Column("quota_from_week", sa.Integer(), server_default="1", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_plan_setting_quota_from_week_positive"), "quota_from_week >= 1"
        )


def downgrade() -> None:
    with op.batch_alter_table("plan_setting", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_plan_setting_quota_from_week_positive"), type_="check")
        batch_op.drop_column("quota_from_week")
