"""Run one file through the write path: every row parsed, checked and upserted, or refused
with its reason; counts of created / updated / unchanged / refused.

The unit of work is a batch of BATCH rows in one transaction. A refused row is not a failure
(it is reported and left out; the rest go in). A failure (the database gone, the job cancelled,
a bug) rolls back the batch in progress, so no batch is ever half-written; the batches committed
before it stay, and since every write is keyed by the record system's own id, importing the file
again finishes the job without duplicating anything. A dry run is one transaction, rolled back.

Only one batch of rows is held at a time: the file is streamed (`Table.rows`), the external ids a
batch names are looked up together and let go after it, the refused rows are written out as
they come.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from json.encoder import encode_basestring

from sqlalchemy.orm import Session

from callcenter.access.audit import record as audit
from callcenter.core.db import bulk
from callcenter.core.inputs import InputError
from callcenter.core.models import Clinic, utcnow
from callcenter.exchange import values
from callcenter.exchange.columns import resolve
from callcenter.exchange.records import BUILDERS, Cells, Context, lookups
from callcenter.exchange.tables import Cell, Refusals, Table
from callcenter.exchange.upsert import OUTCOMES, REFUSED, UNCHANGED, Writer, digest

# Each commit writes every page its batch dirtied, and a batch's rows land all over the indexes
# (visits by doctor, by start, by patient; the external ids): fewer, larger batches write each
# index page fewer times. 2,000 rows of the largest kind stay a few MB.
BATCH = 2000
REPORT_LIMIT = 2000  # rows shown by the dry-run view and kept for the terminal; the counts and
# the refused file have them all

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
    refused: list[tuple[int, str]] = field(default_factory=list)  # (row, reason), the first ones
    refused_file: bytes | None = None


def _plan(header: list[str], mapping: Mapping[str, str]) -> list[tuple[int, str]]:
    """(the column's index, our field) in the mapping's order; a header named twice is its last
    column, as `Table.record` has it."""
    index = {name: i for i, name in enumerate(header) if name}
    return [(index[column], name) for column, name in mapping.items()]


def _cells(row: list[Cell], plan: list[tuple[int, str]]) -> Cells:
    cells: Cells = {}
    size = len(row)
    for i, name in plan:
        value = row[i] if i < size else None
        if value in (None, "") and name in cells:
            continue
        cells.setdefault(name, []).append(None if value == "" else value)
    return cells


def _signed(kind: str, number: int, row: list[Cell],
            cells: Cells) -> tuple[int, list[Cell], Cells, str, str | InputError]:
    """The row with its external id and its signature (or why it has none). The raw cells sign
    the row: an unchanged row is known before parsing its phones and dates, which is most of
    the work of a re-import."""
    try:
        external = values.external_id((cells.get("external_id") or [None])[0])
    except InputError as exc:
        return number, row, cells, "", exc
    return number, row, cells, external, cells_digest(kind, cells)


def cells_digest(kind: str, cells: Cells) -> str:
    """`digest({"kind": kind, "cells": cells})`, the JSON written out here when every cell is
    text or empty (a CSV file's always are): the JSON encoder's setup cost more than the
    encoding of a row's few cells. Anything else goes to the encoder itself."""
    fields = []
    for name in sorted(cells):
        values = []
        for value in cells[name]:
            if type(value) is str:
                values.append(encode_basestring(value))
            elif value is None:
                values.append("null")
            else:
                return digest({"kind": kind, "cells": cells})
        fields.append(f"{encode_basestring(name)}: [{', '.join(values)}]")
    text = '{"cells": {' + ", ".join(fields) + '}, "kind": ' + encode_basestring(kind) + "}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _batches(rows: Iterator[list[Cell]], size: int) -> Iterator[list[tuple[int, list[Cell]]]]:
    numbered = enumerate(rows, start=2)  # as a spreadsheet shows it: the header is row 1
    while chunk := list(islice(numbered, size)):
        yield chunk


@contextmanager
def _bulk(session: Session) -> Iterator[None]:
    """Leave the objects alive before the import (modules, mappers, the app) out of the garbage
    collector's full passes, which would walk them all again every few thousand rows; and give
    the session's transactions a bulk writer's SQLite settings (core.db.bulk)."""
    gc.freeze()
    try:
        with bulk(session):
            yield
    finally:
        gc.unfreeze()


def run_import(session: Session, clinic: Clinic, kind: str, table: Table,
               columns: Mapping[str, str] | None = None, *, dry_run: bool = False,
               locale: str = "en", progress: Progress | None = None,
               batch: int = BATCH, staff_id: int | None = None, via: str = "web",
               now: datetime | None = None) -> Result:
    """Import the table's rows as `kind` for the clinic (see the module's note on transactions)."""
    with _bulk(session):
        return _run(session, clinic, kind, table, columns, dry_run, locale, progress, batch,
                    staff_id, via, now)


def _run(session: Session, clinic: Clinic, kind: str, table: Table,
         columns: Mapping[str, str] | None, dry_run: bool, locale: str, progress: Progress | None,
         batch: int, staff_id: int | None, via: str, now: datetime | None) -> Result:
    plan = _plan(table.header, resolve(kind, table.header, columns))
    ctx = Context.of(clinic)
    build = BUILDERS[kind]
    writer = Writer(session, clinic, now or utcnow())
    result = Result(total=table.total)
    refusals = Refusals(table)
    done = 0
    try:
        for chunk in _batches(table.rows(), batch):
            rows = [_signed(kind, number, row, _cells(row, plan)) for number, row in chunk]
            writer.prefetch({kind: {external for *_rest, external, _sign in rows if external}})
            # The rows they point at are looked up only for the rows that changed: in a
            # re-import, none.
            writer.prefetch(lookups(kind, [cells for _n, _row, cells, external, sign in rows
                                           if external and not writer.unchanged(kind, external, sign)]))
            for number, row, cells, external, signature in rows:
                try:
                    if isinstance(signature, InputError):
                        raise signature
                    outcome = (UNCHANGED if writer.unchanged(kind, external, signature)
                               else writer.upsert(kind, build(cells, ctx), signature))
                    field_name = reason = ""
                except InputError as exc:
                    outcome, field_name = REFUSED, exc.field
                    reason = f"{exc.field}: {exc.localized(locale)}"
                    refusals.add(table.record(row), reason)
                    if len(result.refused) < REPORT_LIMIT:
                        result.refused.append((number, reason))
                result.counts[outcome] += 1
                if len(result.report) < REPORT_LIMIT:
                    result.report.append((number, outcome, field_name, reason))
            done += len(chunk)
            if len(chunk) == batch:
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
        refusals.close()
        raise
    result.refused_file = refusals.content()
    if progress is not None:
        progress(done, result.total)
    return result


def _end_batch(session: Session, writer: Writer, dry_run: bool) -> None:
    writer.end_batch()
    if not dry_run:
        session.commit()
