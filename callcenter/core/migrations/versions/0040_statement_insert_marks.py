"""PostgreSQL: the analytics marks for inserted visits and phones written once per statement

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-03 14:30:00

An import copies visits and phones in by the thousand. A row-level trigger ran a PL/pgSQL
function and one INSERT per row (about 5 µs a visit, measured); a statement-level trigger reads
the statement's new rows as a table and marks them all with one INSERT … SELECT. Updates and
deletes stay row-level: PostgreSQL allows no column list and only one event on a trigger with a
transition table, and the webhooks' single-row writes to calls gain nothing from it. SQLite has
row-level triggers only; its marks are unchanged.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0040'
down_revision: str | None = '0039'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Kept as migration 0033 made them: (table, the columns whose change marks, the marks of a
# statement's inserted rows, read from the transition table `inserted`).
_TABLES = (
    ("appointments", "clinic_id, patient_id, created_by_call_id, rescheduled_from_id, status, "
     "price, starts_at, created_at",
     "INSERT INTO analytics_dirty (clinic_id, appointment_id) SELECT clinic_id, id FROM inserted"),
    ("patient_phones", "patient_id, e164",
     "INSERT INTO analytics_dirty (clinic_id, patient_id) "
     "SELECT DISTINCT p.clinic_id, p.id FROM inserted i JOIN patients p ON p.id = i.patient_id"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns, marks in _TABLES:
        op.execute(f"DROP TRIGGER analytics_{table} ON {table}")
        op.execute(f"CREATE TRIGGER analytics_{table} AFTER DELETE OR UPDATE OF {columns} ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION analytics_mark_{table}()")
        op.execute(f"""CREATE FUNCTION analytics_mark_{table}_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    {marks};
    RETURN NULL;
END $$""")
        op.execute(f"CREATE TRIGGER analytics_{table}_inserted AFTER INSERT ON {table} "
                   "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION analytics_mark_{table}_inserted()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns, _marks in _TABLES:
        op.execute(f"DROP FUNCTION analytics_mark_{table}_inserted() CASCADE")
        op.execute(f"DROP TRIGGER analytics_{table} ON {table}")
        op.execute(f"CREATE TRIGGER analytics_{table} AFTER INSERT OR DELETE OR UPDATE OF {columns} "
                   f"ON {table} FOR EACH ROW EXECUTE FUNCTION analytics_mark_{table}()")
