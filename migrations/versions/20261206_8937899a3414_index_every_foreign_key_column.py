"""foreign keys: an index on every foreign-key column; plan_draw.created_by and
plan_setting.updated_by renamed created_by_id and updated_by_id like every other one

Without an index, deleting or re-keying a parent row (a user, a course, a term, a unit)
scans the whole child table for each row to check or cascade it, and joins from the parent
side scan too. tests/test_db.py fails on a foreign-key column that starts no index.

Revision ID: 8937899a3414
Revises: 1f0ec2fd269e
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "8937899a3414"
down_revision: str | None = "1f0ec2fd269e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column) for each foreign-key column that was the first column of no index.
INDEXED = [
    ("loop_action", "created_by_id"),
    ("loop_action", "plan_course_id"),
    ("loop_action", "plan_from_term_id"),
    ("loop_meeting", "created_by_id"),
    ("loop_meeting_attendee", "user_id"),
    ("loop_notice", "user_id"),
    ("loop_problem", "created_by_id"),
    ("report", "unit_id"),
    ("report_delivery", "unit_id"),
]

#: (table, old name, new name) of the user columns renamed; their foreign keys go to user_account.
RENAMED = [
    ("plan_draw", "created_by", "created_by_id"),
    ("plan_setting", "updated_by", "updated_by_id"),
]


def upgrade() -> None:
    # Each step in its own batch: SQLite's batch mode can neither constrain nor index a column
    # renamed in the same batch (it drops the new foreign key without a word).
    for table, old, new in RENAMED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_{old}_user_account", type_="foreignkey")
            batch_op.alter_column(old, new_column_name=new)
        _user_key(table, new)
    for table, column in INDEXED + [(table, new) for table, _, new in RENAMED]:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f"ix_{table}_{column}", [column], unique=False)


def downgrade() -> None:
    for table, column in reversed(INDEXED + [(table, new) for table, _, new in RENAMED]):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_{column}")
    for table, old, new in reversed(RENAMED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_{new}_user_account", type_="foreignkey")
            batch_op.alter_column(new, new_column_name=old)
        _user_key(table, old)


def _user_key(table: str, column: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_foreign_key(
            f"fk_{table}_{column}_user_account", "user_account", [column], ["id"], ondelete="SET NULL"
        )
