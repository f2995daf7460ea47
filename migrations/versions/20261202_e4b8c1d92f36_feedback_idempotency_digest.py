"""feedback: the digest of the request stored under an idempotency key

An Idempotency-Key reused with a different body is refused (422) instead of being
answered with the first record. Rows stored before have no digest (NULL): a request
with their key is treated as a retry of the same request, as it was before.

Revision ID: e4b8c1d92f36
Revises: c3e9a5d17b42
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "e4b8c1d92f36"
down_revision: str | None = "c3e9a5d17b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "idempotency_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_column("idempotency_digest")
