"""A file as a table: header and rows, from CSV in any common encoding and delimiter or XLSX.

Russian exports are Windows-1251 with `;`; Excel writes UTF-8 with a BOM; Chinese ones may be
GB18030. The encoding is UTF-8 when the bytes decode as UTF-8, else charset-normalizer's best
guess; the delimiter is what the standard library's csv.Sniffer finds in the first lines.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zipfile import BadZipFile

from charset_normalizer import from_bytes

from callcenter.core.inputs import InputError

DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 * 1024
Cell = str | date | datetime | time | int | float | None


@dataclass
class Table:
    header: list[str]
    rows: list[list[Cell]]
    encoding: str  # "xlsx" for a workbook
    delimiter: str


def read_table(content: bytes, filename: str = "") -> Table:
    """The file's header and rows; InputError("file", …) when it is not a table we can read."""
    if content.startswith(b"PK\x03\x04"):
        return _xlsx(content)
    if content.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError("file", "an old Excel .xls file: save it as .xlsx or CSV")
    if not content.strip():
        raise InputError("file", "the file is empty")
    text, encoding = _decode(content)
    delimiter = _delimiter(text)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return _table([[cell.strip() for cell in row] for row in rows], encoding, delimiter)


def _decode(content: bytes) -> tuple[str, str]:
    if b"\x00" in content[:SNIFF_BYTES] and not content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError("file", "not a table: the file is binary")
    try:
        return content.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(content[: SNIFF_BYTES * 4]).best()
    if best is None:
        raise InputError("file", "not a table: the text encoding cannot be recognised")
    try:
        return content.decode(best.encoding), best.encoding
    except (UnicodeDecodeError, LookupError):
        raise InputError("file", "not a table: the text encoding cannot be recognised") from None


def _delimiter(text: str) -> str:
    sample = "\n".join(text[:SNIFF_BYTES].splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        # The sniffer wants the same count on every line; a header alone still tells.
        first = sample.splitlines()[0] if sample else ""
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        if counts[best] == 0:
            raise InputError("file", "not a table: no column delimiter (, ; tab |) found") from None
        return best


def _xlsx(content: bytes) -> Table:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (InvalidFileException, BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError("file", "not a readable .xlsx workbook: {problem}",
                         problem=str(exc)[:100]) from None
    try:
        sheet = book.worksheets[0]
        rows = [[_cell(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    return _table(rows, "xlsx", "")


def _cell(value: Any) -> Cell:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return int(value)  # Excel keeps every number as a float: 79161234567.0 is a phone
    return value


def _table(rows: list[list[Cell]], encoding: str, delimiter: str) -> Table:
    rows = [row for row in rows if any(cell not in (None, "") for cell in row)]
    if not rows:
        raise InputError("file", "the file is empty")
    header = [str(cell or "").strip() for cell in rows[0]]
    while header and not header[-1]:
        header.pop()
    if len([name for name in header if name]) < 2:
        raise InputError("file", "not a table: the first line must name at least two columns")
    return Table(header, rows[1:], encoding, delimiter)


def iter_records(table: Table) -> Iterator[tuple[int, dict[str, Cell]]]:
    """(row number as a spreadsheet shows it, {header: cell}); the header is row 1."""
    for index, row in enumerate(table.rows, start=2):
        yield index, {name: (row[i] if i < len(row) else None)
                      for i, name in enumerate(table.header) if name}


def write_refused(table: Table, refused: list[tuple[int, dict[str, Cell], str]]) -> bytes:
    """The refused rows with a column saying why, as UTF-8 CSV with a BOM (Excel opens it as
    such) in the file's own delimiter, to fix and import again."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=table.delimiter or ";")
    names = [name for name in table.header if name]
    writer.writerow([*names, "error"])
    for _row, record, reason in refused:
        writer.writerow([*("" if record.get(n) is None else record[n] for n in names), reason])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
