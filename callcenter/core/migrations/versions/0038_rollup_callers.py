"""distinct callers rolled up: a bitmap of the day's callers per number, channel and answer;
booking credits read from their index alone

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0038'
down_revision: str | None = '0037'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('caller_numbers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('e164', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_caller_numbers_clinic_id_clinics')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_caller_numbers')),
    sa.UniqueConstraint('clinic_id', 'e164', name='uq_caller_numbers_clinic_e164')
    )
    op.create_table('rollup_callers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('month', sa.Boolean(), nullable=False),
    sa.Column('tracking_number_id', sa.Integer(), nullable=True),
    sa.Column('channel_id', sa.Integer(), nullable=True),
    sa.Column('heard_from_channel_id', sa.Integer(), nullable=True),
    sa.Column('callers', sa.LargeBinary(), nullable=False),
    sa.Column('first_callers', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_rollup_callers_clinic_id_clinics')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rollup_callers'))
    )
    with op.batch_alter_table('rollup_callers', schema=None) as batch_op:
        batch_op.create_index('ix_rollup_callers_clinic_day', ['clinic_id', 'day'], unique=False)
    with op.batch_alter_table('booking_credits', schema=None) as batch_op:
        batch_op.drop_index('ix_booking_credits_clinic_call_day')
        batch_op.create_index('ix_booking_credits_clinic_call_day', [
            'clinic_id', 'call_day', 'counted', 'lag_days', 'channel_id', 'tracking_number_id',
            'heard_from_channel_id', 'agent_id', 'attended', 'revenue'], unique=False)
    # Every clinic's roll-ups are rebuilt, the new one with them, on the first read (or by the worker).
    op.execute("INSERT INTO analytics_dirty (clinic_id) SELECT id FROM clinics")


def downgrade() -> None:
    with op.batch_alter_table('booking_credits', schema=None) as batch_op:
        batch_op.drop_index('ix_booking_credits_clinic_call_day')
        batch_op.create_index('ix_booking_credits_clinic_call_day', ['clinic_id', 'call_day'], unique=False)
    with op.batch_alter_table('rollup_callers', schema=None) as batch_op:
        batch_op.drop_index('ix_rollup_callers_clinic_day')
    op.drop_table('rollup_callers')
    op.drop_table('caller_numbers')
