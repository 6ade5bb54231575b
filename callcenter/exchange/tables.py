"""A file as a table: header and rows, from CSV in any common encoding and delimiter or XLSX.

Russian exports are Windows-1251 with `;`; Excel writes UTF-8 with a BOM; Chinese ones may be
GB18030. The encoding is UTF-8 when the bytes decode as UTF-8, else charset-normalizer's best
guess; the delimiter is what the standard library's csv.Sniffer finds in the first lines.

The rows are streamed: `Table.rows()` reads the file again on each call, a row at a time, so an
import holds the file's bytes (or nothing, given a path) and one batch of rows, never every row
parsed at once. `read_table` reads it through once to check it and count its rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any
from zipfile import BadZipFile

from charset_normalizer import from_bytes

from callcenter.core.inputs import InputError

DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 * 1024
CHUNK = 1024 * 1024
SPOOL_BYTES = 4 * 1024 * 1024  # the refused rows' file goes to a temporary file past this
Cell = str | date | datetime | time | int | float | None
Source = bytes | Path
Lines = Callable[[], Iterator[list[Cell]]]  # the file's non-blank rows, the header first


@dataclass
class Table:
    header: list[str]
    encoding: str  # "xlsx" for a workbook
    delimiter: str
    total: int  # rows below the header
    lines: Lines = field(repr=False)

    def rows(self) -> Iterator[list[Cell]]:
        """The rows below the header, read from the file again."""
        lines = self.lines()
        next(lines)
        yield from lines

    def sample(self, count: int) -> list[list[Cell]]:
        found = []
        for row in self.rows():
            if len(found) == count:
                break
            found.append(row)
        return found

    def record(self, row: list[Cell]) -> dict[str, Cell]:
        """{header: cell}; a column named twice gives its last cell."""
        return {name: (row[i] if i < len(row) else None)
                for i, name in enumerate(self.header) if name}


def read_table(source: Source, filename: str = "") -> Table:
    """The file's header and rows; InputError("file", …) when it is not a table we can read."""
    def opened() -> IO[bytes]:
        return source.open("rb") if isinstance(source, Path) else io.BytesIO(source)

    with opened() as stream:
        head = stream.read(SNIFF_BYTES * 4)
    if head.startswith(b"PK\x03\x04"):
        return _table(_xlsx(opened), "xlsx", "")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError("file", "an old Excel .xls file: save it as .xlsx or CSV")
    if not head.strip() and len(head) < SNIFF_BYTES * 4:
        raise InputError("file", "the file is empty")
    encoding = _encoding(opened, head)
    with io.TextIOWrapper(opened(), encoding=encoding, newline="") as text:
        delimiter = _delimiter(text.read(SNIFF_BYTES))

    def lines() -> Iterator[list[Cell]]:
        with io.TextIOWrapper(opened(), encoding=encoding, newline="") as text:
            for row in csv.reader(text, delimiter=delimiter):
                cells = [cell.strip() for cell in row]
                if any(cells):
                    yield cells

    return _table(lines, "utf-8" if encoding == "utf-8-sig" else encoding, delimiter)


def _encoding(opened: Callable[[], IO[bytes]], head: bytes) -> str:
    """The codec that decodes the whole file (checked chunk by chunk, not held decoded)."""
    if b"\x00" in head[:SNIFF_BYTES] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError("file", "not a table: the file is binary")
    if _decodes(opened, "utf-8-sig"):
        return "utf-8-sig"
    best = from_bytes(head).best()
    if best is None or not _decodes(opened, best.encoding):
        raise InputError("file", "not a table: the text encoding cannot be recognised")
    return best.encoding


def _decodes(opened: Callable[[], IO[bytes]], encoding: str) -> bool:
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
        with opened() as stream:
            while chunk := stream.read(CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


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


def _xlsx(opened: Callable[[], IO[bytes]]) -> Lines:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    def lines() -> Iterator[list[Cell]]:
        try:
            book = load_workbook(opened(), read_only=True, data_only=True)
        except (InvalidFileException, BadZipFile, KeyError, OSError, ValueError) as exc:
            raise InputError("file", "not a readable .xlsx workbook: {problem}",
                             problem=str(exc)[:100]) from None
        try:
            for values in book.worksheets[0].iter_rows(values_only=True):
                row = [_cell(value) for value in values]
                if any(cell not in (None, "") for cell in row):
                    yield row
        finally:
            book.close()

    return lines


def _cell(value: Any) -> Cell:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return int(value)  # Excel keeps every number as a float: 79161234567.0 is a phone
    return value


def _table(lines: Lines, encoding: str, delimiter: str) -> Table:
    """Read through once: the header, the count of rows, and any fault found now, not halfway
    through an import."""
    rows = lines()
    try:
        first = next(rows, None)
        total = sum(1 for _row in rows)
    except csv.Error as exc:
        raise InputError("file", "not a table: {problem}", problem=str(exc)[:100]) from None
    if first is None:
        raise InputError("file", "the file is empty")
    header = [str(cell or "").strip() for cell in first]
    while header and not header[-1]:
        header.pop()
    if len([name for name in header if name]) < 2:
        raise InputError("file", "not a table: the first line must name at least two columns")
    return Table(header, encoding, delimiter, total, lines)


class Refusals:
    """The refused rows with a column saying why, written as they come (to a temporary file
    once large) as UTF-8 CSV with a BOM (Excel opens it as such) in the file's own delimiter,
    to fix and import again."""

    def __init__(self, table: Table) -> None:
        self._names = [name for name in table.header if name]
        self._file = tempfile.SpooledTemporaryFile(SPOOL_BYTES, mode="w+", encoding="utf-8",  # noqa: SIM115 (open for the whole import: closed by content/close)
                                                    newline="")
        self._file.write("\ufeff")
        self._writer = csv.writer(self._file, delimiter=table.delimiter or ";")
        self._writer.writerow([*self._names, "error"])
        self.count = 0

    def add(self, record: Mapping[str, Cell], reason: str) -> None:
        self._writer.writerow([*("" if record.get(n) is None else record[n] for n in self._names),
                               reason])
        self.count += 1

    def content(self) -> bytes | None:
        """The file, None when no row was refused; closes it."""
        with self._file:
            if not self.count:
                return None
            self._file.seek(0)
            return self._file.read().encode("utf-8")

    def close(self) -> None:
        self._file.close()
