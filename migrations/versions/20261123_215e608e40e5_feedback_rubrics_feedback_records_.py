"""feedback: rubrics, feedback records, scores, audit

Revision ID: 215e608e40e5
Revises: cb8993951491
Create Date: 2026-11-23 18:23:03.522277

Versioned rubrics and their items; feedback records (spot checks, open classes,
tutor-group reports) with one score row per answered item, their revision trail,
and teachers' responses. The shipped default rubrics are data, not schema: they
are published by `evalsys rubric defaults` (evalsys.feedback.rubrics.ensure_default_rubrics).
Indexes and constraints are created inside batch operations so that the same file
runs on SQLite (render_as_batch) and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = '215e608e40e5'
down_revision: str | None = 'cb8993951491'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rubric versions: one row per (kind, version); a published one is never edited.
    op.create_table('rubric',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('title_en', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('description_en', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('published_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.CheckConstraint("kind IN ('spot_check', 'open_class', 'tutor_group')", name=op.f('ck_rubric_kind')),
    sa.CheckConstraint("status = 'draft' OR published_at IS NOT NULL", name=op.f('ck_rubric_published_at_set')),
    sa.CheckConstraint("status IN ('draft', 'published', 'retired')", name=op.f('ck_rubric_status')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_rubric_version_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rubric')),
    sa.UniqueConstraint('kind', 'version', name='uq_rubric_kind_version')
    )
    op.create_table('rubric_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rubric_id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('label_en', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('description_en', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('dimension', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('scale_min', sa.Integer(), nullable=False),
    sa.Column('scale_max', sa.Integer(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.CheckConstraint('length(code) > 0', name=op.f('ck_rubric_item_code_not_empty')),
    sa.CheckConstraint('scale_max > scale_min', name=op.f('ck_rubric_item_scale_max_above_min')),
    sa.CheckConstraint('weight > 0', name=op.f('ck_rubric_item_weight_positive')),
    sa.ForeignKeyConstraint(['rubric_id'], ['rubric.id'], name=op.f('fk_rubric_item_rubric_id_rubric'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rubric_item')),
    sa.UniqueConstraint('rubric_id', 'code', name='uq_rubric_item_rubric_code')
    )
    # One observation. Exactly one of section_id / group_id, according to kind.
    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('rubric_id', sa.Integer(), nullable=False),
    sa.Column('term_id', sa.Integer(), nullable=False),
    sa.Column('section_id', sa.Integer(), nullable=True),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('observer_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('visit_date', sa.Date(), nullable=False),
    sa.Column('class_period', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('location', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('announced', sa.Boolean(), nullable=True),
    sa.Column('observer_level', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
    sa.Column('meeting_format', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
    sa.Column('enrolled', sa.Integer(), nullable=True),
    sa.Column('present', sa.Integer(), nullable=True),
    sa.Column('late', sa.Integer(), nullable=True),
    sa.Column('attending', sa.Integer(), nullable=True),
    sa.Column('topics', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('overall_grade', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('overall_score', sa.Float(), nullable=True),
    sa.Column('strengths', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
    sa.Column('problems', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
    sa.Column('suggestions', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('submitted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.CheckConstraint("(kind = 'tutor_group' AND group_id IS NOT NULL AND section_id IS NULL) OR (kind <> 'tutor_group' AND section_id IS NOT NULL AND group_id IS NULL)", name=op.f('ck_feedback_target_matches_kind')),
    sa.CheckConstraint("announced IS NULL OR kind = 'spot_check'", name=op.f('ck_feedback_announced_spot_only')),
    sa.CheckConstraint("kind IN ('spot_check', 'open_class', 'tutor_group')", name=op.f('ck_feedback_kind')),
    sa.CheckConstraint("meeting_format IS NULL OR (kind = 'tutor_group' AND meeting_format IN ('tutor_meeting', 'student_discussion'))", name=op.f('ck_feedback_meeting_format')),
    sa.CheckConstraint("observer_level IS NULL OR (kind = 'open_class' AND observer_level IN ('school_leader', 'college_leader', 'peer', 'principal_assistant'))", name=op.f('ck_feedback_observer_level')),
    sa.CheckConstraint("overall_grade IS NULL OR overall_grade IN ('excellent', 'good', 'fair', 'pass', 'fail')", name=op.f('ck_feedback_overall_grade')),
    sa.CheckConstraint("status IN ('draft', 'submitted', 'withdrawn')", name=op.f('ck_feedback_status')),
    sa.CheckConstraint('(enrolled IS NULL OR enrolled >= 0) AND (present IS NULL OR present >= 0) AND (late IS NULL OR late >= 0) AND (attending IS NULL OR attending >= 0)', name=op.f('ck_feedback_counts_nonneg')),
    sa.CheckConstraint('late IS NULL OR present IS NULL OR late <= present', name=op.f('ck_feedback_late_le_present')),
    sa.CheckConstraint('overall_score IS NULL OR (overall_score >= 0 AND overall_score <= 100)', name=op.f('ck_feedback_overall_score_range')),
    sa.CheckConstraint('present IS NULL OR enrolled IS NULL OR present <= enrolled', name=op.f('ck_feedback_present_le_enrolled')),
    sa.ForeignKeyConstraint(['department_id'], ['org_unit.id'], name=op.f('fk_feedback_department_id_org_unit')),
    sa.ForeignKeyConstraint(['group_id'], ['tutor_group.id'], name=op.f('fk_feedback_group_id_tutor_group')),
    sa.ForeignKeyConstraint(['observer_id'], ['user_account.id'], name=op.f('fk_feedback_observer_id_user_account')),
    sa.ForeignKeyConstraint(['rubric_id'], ['rubric.id'], name=op.f('fk_feedback_rubric_id_rubric')),
    sa.ForeignKeyConstraint(['section_id'], ['section.id'], name=op.f('fk_feedback_section_id_section')),
    sa.ForeignKeyConstraint(['term_id'], ['term.id'], name=op.f('fk_feedback_term_id_term')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback')),
    sa.UniqueConstraint('observer_id', 'idempotency_key', name='uq_feedback_observer_key')
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_observer_id'), ['observer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_rubric_id'), ['rubric_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_section_id'), ['section_id'], unique=False)
        batch_op.create_index('ix_feedback_term_kind', ['term_id', 'kind'], unique=False)

    op.create_table('feedback_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('feedback_id', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.CheckConstraint("action IN ('create', 'edit', 'submit', 'withdraw')", name=op.f('ck_feedback_revision_action')),
    sa.ForeignKeyConstraint(['feedback_id'], ['feedback.id'], name=op.f('fk_feedback_revision_feedback_id_feedback'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_feedback_revision_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_revision'))
    )
    with op.batch_alter_table('feedback_revision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_revision_feedback_id'), ['feedback_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_revision_user_id'), ['user_id'], unique=False)

    # One row per answered item (aggregation groups these in SQL; never a JSON blob).
    op.create_table('feedback_score',
    sa.Column('feedback_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['feedback_id'], ['feedback.id'], name=op.f('fk_feedback_score_feedback_id_feedback'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['rubric_item.id'], name=op.f('fk_feedback_score_item_id_rubric_item')),
    sa.PrimaryKeyConstraint('feedback_id', 'item_id', name=op.f('pk_feedback_score'))
    )
    with op.batch_alter_table('feedback_score', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_score_item_id'), ['item_id'], unique=False)

    op.create_table('teacher_response',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('feedback_id', sa.Integer(), nullable=False),
    sa.Column('teacher_id', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['feedback_id'], ['feedback.id'], name=op.f('fk_teacher_response_feedback_id_feedback'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['teacher_id'], ['user_account.id'], name=op.f('fk_teacher_response_teacher_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teacher_response'))
    )
    with op.batch_alter_table('teacher_response', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teacher_response_feedback_id'), ['feedback_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_teacher_response_teacher_id'), ['teacher_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('teacher_response', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_teacher_response_teacher_id'))
        batch_op.drop_index(batch_op.f('ix_teacher_response_feedback_id'))

    op.drop_table('teacher_response')
    with op.batch_alter_table('feedback_score', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_score_item_id'))

    op.drop_table('feedback_score')
    with op.batch_alter_table('feedback_revision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_revision_user_id'))
        batch_op.drop_index(batch_op.f('ix_feedback_revision_feedback_id'))

    op.drop_table('feedback_revision')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_feedback_term_kind')
        batch_op.drop_index(batch_op.f('ix_feedback_section_id'))
        batch_op.drop_index(batch_op.f('ix_feedback_rubric_id'))
        batch_op.drop_index(batch_op.f('ix_feedback_observer_id'))
        batch_op.drop_index(batch_op.f('ix_feedback_group_id'))
        batch_op.drop_index(batch_op.f('ix_feedback_department_id'))

    op.drop_table('feedback')
    op.drop_table('rubric_item')
    op.drop_table('rubric')
