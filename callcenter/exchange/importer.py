"""Run one file through the write path: every row parsed, checked and upserted, or refused
with its reason; counts of created / updated / unchanged / refused.

The unit of work is a batch of BATCH rows in one transaction. A refused row is not a failure
(it is reported and left out; the rest go in). A failure (the database gone, the job cancelled,
a bug) rolls back the batch in progress, so no batch is ever half-written; the batches committed
before it stay, and since every write is keyed by the record system's own id, importing the file
again finishes the job without duplicating anything. A dry run is one transaction, rolled back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from callcenter.access.audit import record as audit
from callcenter.core.inputs import InputError
from callcenter.core.models import Clinic, utcnow
from callcenter.exchange import values
from callcenter.exchange.columns import resolve
from callcenter.exchange.records import BUILDERS, Cells, Context
from callcenter.exchange.tables import Cell, Table, iter_records, write_refused
from callcenter.exchange.upsert import OUTCOMES, REFUSED, UNCHANGED, Writer, digest

BATCH = 500
REPORT_LIMIT = 2000  # rows shown by the dry-run view; the counts and refused file have them all

Progress = Callable[[int, int], bool]  # (rows done, rows in all) → go on?


class Cancelled(Exception):
    """The job was cancelled between two batches; the result so far (committed unless a dry
    run) rides along."""

    def __init__(self, result: Result) -> None:
        super().__init__("cancelled")
        self.result = result


@dataclass
class Result:
    total: int
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    # (row, outcome, field, reason) for the first REPORT_LIMIT rows
    report: list[tuple[int, str, str, str]] = field(default_factory=list)
    refused: list[tuple[int, dict[str, Cell], str]] = field(default_factory=list)
    refused_file: bytes | None = None


def _cells(record: Mapping[str, Cell], mapping: Mapping[str, str]) -> Cells:
    cells: Cells = {}
    for column, name in mapping.items():
        value = record.get(column)
        if value in (None, "") and name in cells:
            continue
        cells.setdefault(name, []).append(None if value == "" else value)
    return cells


def run_import(session: Session, clinic: Clinic, kind: str, table: Table,
               columns: Mapping[str, str] | None = None, *, dry_run: bool = False,
               locale: str = "en", progress: Progress | None = None,
               batch: int = BATCH, staff_id: int | None = None, via: str = "web",
               now: datetime | None = None) -> Result:
    """Import the table's rows as `kind` for the clinic (see the module's note on transactions)."""
    mapping = resolve(kind, table.header, columns)
    ctx = Context.of(clinic)
    build = BUILDERS[kind]
    writer = Writer(session, clinic, now or utcnow())
    result = Result(total=len(table.rows))
    done = 0
    try:
        for row_number, record in iter_records(table):
            try:
                cells = _cells(record, mapping)
                # The raw cells sign the row: an unchanged row is known before parsing its
                # phones and dates, which is most of the work of a re-import.
                signature = digest({"kind": kind, "cells": cells})
                external = values.external_id((cells.get("external_id") or [None])[0])
                outcome = (UNCHANGED if writer.unchanged(kind, external, signature)
                           else writer.upsert(kind, build(cells, ctx), signature))
                field_name = reason = ""
            except InputError as exc:
                outcome, field_name = REFUSED, exc.field
                reason = f"{exc.field}: {exc.localized(locale)}"
                result.refused.append((row_number, record, reason))
            result.counts[outcome] += 1
            if len(result.report) < REPORT_LIMIT:
                result.report.append((row_number, outcome, field_name, reason))
            done += 1
            if done % batch == 0:
                _end_batch(session, writer, dry_run)
                if progress is not None and not progress(done, result.total):
                    raise Cancelled(result)
        if not dry_run:
            audit(session, staff_id, "import", kind, "", clinic_id=clinic.id, via=via,
                  **{name: count for name, count in result.counts.items() if count})
        _end_batch(session, writer, dry_run)
        if dry_run:
            session.rollback()
    except BaseException:
        session.rollback()
        writer.forget()
        raise
    if result.refused:
        result.refused_file = write_refused(table, result.refused)
    if progress is not None:
        progress(done, result.total)
    return result


def _end_batch(session: Session, writer: Writer, dry_run: bool) -> None:
    writer.flush()
    if not dry_run:
        session.commit()
