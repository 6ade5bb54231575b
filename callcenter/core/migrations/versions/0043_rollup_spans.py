"""roll-ups keep week and month rows (`span`), the hours' rows their weekday; the invitations
report's booking credits read from their index alone

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-03 17:30:00

A network of ten clinics with 10,000,000 calls read 160,000 `rollup_calls` rows per clinic for a
year's report, and the year missed its second. A week's or month's row holds its days' rows
joined per dimension (sums added, caller sets united; the caller sets already had month rows,
flagged by `month`, now `span` 2), so a year reads twelve months and the edges' weeks and days.
The hours keep their weekday, so the weekdays report reads months too. Every roll-up's index
leads with the span, so each kind of row is one range of it. The rows of the data already
rolled up are joined here, from the day rows, so no clinic has to be rebuilt. `rollup_stale`
names the weeks and months whose sums are behind their days, summed again when read.
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op
from pyroaring import BitMap

revision: str = '0043'
down_revision: str | None = '0042'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH = date(1970, 1, 1)
DAY, WEEK, MONTH = 0, 1, 2
# Summed table → (its dimensions, what it sums, the spans it keeps); the columns as of this revision.
SUMMED = {
    "rollup_calls": (("tracking_number_id", "channel_id", "heard_from_channel_id", "agent_id"),
                     ("calls", "answered", "missed", "hidden", "hidden_first", "answer_seconds",
                      "answer_count"), (WEEK, MONTH)),
    "rollup_hours": (("weekday", "hour", "tracking_number_id", "channel_id"),
                     ("calls", "answered", "missed"), (MONTH,)),
    "rollup_callbacks": (("tracking_number_id", "channel_id", "back_agent_id", "back_direction"),
                         ("missed", "delay_seconds", "delay_count"), (WEEK, MONTH)),
}


def _spans(span: int, first: int, last: int) -> Iterator[tuple[int, int]]:
    if span == WEEK:
        for start in range(first - (first + 3) % 7, last + 1, 7):
            yield start, start + 6
        return
    month = (EPOCH + timedelta(days=first)).replace(day=1)
    while (start := (month - EPOCH).days) <= last:
        following = (month + timedelta(days=32)).replace(day=1)
        yield start, (following - EPOCH).days - 1
        month = following


def _reindex(table: str, old: str, new: str, columns: list[str]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_index(old)
        batch_op.create_index(new, columns, unique=False)


def _clinic_days(conn: sa.Connection, table: str) -> list[tuple[int, int, int]]:
    return [tuple(row) for row in conn.execute(sa.text(
        f"SELECT clinic_id, MIN(day), MAX(day) FROM {table} WHERE span = 0 GROUP BY clinic_id"))]


def _sum_spans(conn: sa.Connection) -> None:
    for table, (dims, sums, kept) in SUMMED.items():
        columns = ", ".join(dims)
        insert = sa.text(
            f"INSERT INTO {table} (clinic_id, day, span, {columns}, {', '.join(sums)}) "
            f"SELECT clinic_id, :first, :span, {columns}, {', '.join(f'SUM({n})' for n in sums)} "
            f"FROM {table} WHERE clinic_id = :clinic AND span = 0 AND day >= :first AND day <= :last "
            f"GROUP BY clinic_id, {columns}")
        for clinic, first_day, last_day in _clinic_days(conn, table):
            for span in kept:
                for first, last in _spans(span, first_day, last_day):
                    conn.execute(insert, {"clinic": clinic, "span": span, "first": first, "last": last})


def _week_sets(conn: sa.Connection) -> None:
    """Each week's caller sets: the union of its days', per number, channel and answer."""
    read = sa.text("SELECT tracking_number_id, channel_id, heard_from_channel_id, callers, first_callers "
                   "FROM rollup_callers WHERE clinic_id = :clinic AND span = 0 AND day >= :first "
                   "AND day <= :last")
    insert = sa.text("INSERT INTO rollup_callers (clinic_id, day, span, tracking_number_id, channel_id, "
                     "heard_from_channel_id, callers, first_callers) VALUES (:clinic, :day, 1, :number, "
                     ":channel, :heard, :callers, :first_callers)")
    for clinic, first_day, last_day in _clinic_days(conn, "rollup_callers"):
        for first, last in _spans(WEEK, first_day, last_day):
            everyone: dict[tuple[int | None, ...], BitMap] = defaultdict(BitMap)
            first_time: dict[tuple[int | None, ...], BitMap] = defaultdict(BitMap)
            for number, channel, heard, callers, first_callers in conn.execute(
                    read, {"clinic": clinic, "first": first, "last": last}):
                everyone[(number, channel, heard)] |= BitMap.deserialize(bytes(callers))
                first_time[(number, channel, heard)] |= BitMap.deserialize(bytes(first_callers))
            if everyone:
                conn.execute(insert, [
                    {"clinic": clinic, "day": first, "number": key[0], "channel": key[1],
                     "heard": key[2], "callers": callers.serialize(),
                     "first_callers": first_time[key].serialize()}
                    for key, callers in everyone.items()])


def upgrade() -> None:
    conn = op.get_bind()
    for table in SUMMED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('span', sa.SmallInteger(), nullable=False, server_default=sa.text('0')))
            if table == "rollup_hours":
                batch_op.add_column(sa.Column('weekday', sa.SmallInteger(), nullable=False,
                                              server_default=sa.text('0')))
        _reindex(table, f'ix_{table}_clinic_day', f'ix_{table}_clinic_span_day', ['clinic_id', 'span', 'day'])
    op.execute("UPDATE rollup_hours SET weekday = (day + 3) % 7")  # day 0, 1970-01-01, a Thursday
    with op.batch_alter_table('rollup_callers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('span', sa.SmallInteger(), nullable=False, server_default=sa.text('0')))
    conn.execute(sa.text("UPDATE rollup_callers SET span = 2 WHERE month = :yes"), {"yes": True})
    with op.batch_alter_table('rollup_callers', schema=None) as batch_op:
        batch_op.drop_index('ix_rollup_callers_clinic_day')
        batch_op.drop_column('month')
        batch_op.create_index('ix_rollup_callers_clinic_span_day', ['clinic_id', 'span', 'day'], unique=False)
    _sum_spans(conn)
    _week_sets(conn)
    _reindex('booking_credits', 'ix_booking_credits_clinic_visit_day', 'ix_booking_credits_clinic_visit_day',
             ['clinic_id', 'visit_day', 'attended', 'lag_days', 'agent_id'])
    op.create_table('rollup_stale',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('span', sa.SmallInteger(), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_rollup_stale_clinic_id_clinics')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rollup_stale')),
    sa.UniqueConstraint('clinic_id', 'span', 'day', name='uq_rollup_stale_span')
    )


def downgrade() -> None:
    op.drop_table('rollup_stale')
    _reindex('booking_credits', 'ix_booking_credits_clinic_visit_day', 'ix_booking_credits_clinic_visit_day',
             ['clinic_id', 'visit_day'])
    op.execute("DELETE FROM rollup_callers WHERE span = 1")
    with op.batch_alter_table('rollup_callers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('month', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.get_bind().execute(sa.text("UPDATE rollup_callers SET month = :yes WHERE span = 2"), {"yes": True})
    with op.batch_alter_table('rollup_callers', schema=None) as batch_op:
        batch_op.drop_index('ix_rollup_callers_clinic_span_day')
        batch_op.drop_column('span')
        batch_op.create_index('ix_rollup_callers_clinic_day', ['clinic_id', 'day'], unique=False)
    for table in SUMMED:
        op.execute(f"DELETE FROM {table} WHERE span <> 0")
        _reindex(table, f'ix_{table}_clinic_span_day', f'ix_{table}_clinic_day', ['clinic_id', 'day'])
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('span')
            if table == "rollup_hours":
                batch_op.drop_column('weekday')
