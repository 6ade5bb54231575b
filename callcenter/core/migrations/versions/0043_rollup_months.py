"""roll-ups of calls, hours and callbacks keep month rows; the invitations report's booking
credits read from their index alone

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-03 17:30:00

A network of ten clinics with 10,000,000 calls read 160,000 `rollup_calls` rows per clinic for a
year's report, and the year missed its second. A month's row holds its days' rows summed per
dimension, so a year reads twelve months and the period's edge days. The index gains the month
flag, so day rows and month rows are each one range of it. The month rows of the data already
rolled up are summed here, from the day rows, so no clinic has to be rebuilt.
"""

from collections.abc import Sequence
from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = '0043'
down_revision: str | None = '0042'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH = date(1970, 1, 1)
# Table → (its dimensions, what a month sums); the columns as of this revision.
TABLES = {
    "rollup_calls": (("tracking_number_id", "channel_id", "heard_from_channel_id", "agent_id"),
                     ("calls", "answered", "missed", "hidden", "hidden_first", "answer_seconds",
                      "answer_count")),
    "rollup_hours": (("hour", "tracking_number_id", "channel_id"), ("calls", "answered", "missed")),
    "rollup_callbacks": (("tracking_number_id", "channel_id", "back_agent_id", "back_direction"),
                         ("missed", "delay_seconds", "delay_count")),
}


def _months(first: int, last: int) -> list[tuple[int, int]]:
    out = []
    month = (EPOCH + timedelta(days=first)).replace(day=1)
    while (start := (month - EPOCH).days) <= last:
        following = (month + timedelta(days=32)).replace(day=1)
        out.append((start, (following - EPOCH).days - 1))
        month = following
    return out


def upgrade() -> None:
    conn = op.get_bind()
    for table, (dims, sums) in TABLES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('month', sa.Boolean(), nullable=False, server_default=sa.false()))
            batch_op.drop_index(f'ix_{table}_clinic_day')
            batch_op.create_index(f'ix_{table}_clinic_month_day', ['clinic_id', 'month', 'day'], unique=False)
        columns = ", ".join(dims)
        summed = ", ".join(f"SUM({name})" for name in sums)
        insert = sa.text(
            f"INSERT INTO {table} (clinic_id, day, month, {columns}, {', '.join(sums)}) "
            f"SELECT clinic_id, :first, :yes, {columns}, {summed} FROM {table} "
            f"WHERE clinic_id = :clinic AND month = :no AND day >= :first AND day <= :last "
            f"GROUP BY clinic_id, {columns}").bindparams(sa.bindparam("yes", True, sa.Boolean()),
                                                          sa.bindparam("no", False, sa.Boolean()))
        spans = conn.execute(sa.text(f"SELECT clinic_id, MIN(day), MAX(day) FROM {table} GROUP BY clinic_id"))
        for clinic, first_day, last_day in spans.all():
            for first, last in _months(first_day, last_day):
                conn.execute(insert, {"clinic": clinic, "first": first, "last": last})
    with op.batch_alter_table('booking_credits', schema=None) as batch_op:
        batch_op.drop_index('ix_booking_credits_clinic_visit_day')
        batch_op.create_index('ix_booking_credits_clinic_visit_day',
                              ['clinic_id', 'visit_day', 'attended', 'lag_days', 'agent_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('booking_credits', schema=None) as batch_op:
        batch_op.drop_index('ix_booking_credits_clinic_visit_day')
        batch_op.create_index('ix_booking_credits_clinic_visit_day', ['clinic_id', 'visit_day'], unique=False)
    for table in TABLES:
        op.execute(f"DELETE FROM {table} WHERE month")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f'ix_{table}_clinic_month_day')
            batch_op.create_index(f'ix_{table}_clinic_day', ['clinic_id', 'day'], unique=False)
            batch_op.drop_column('month')
