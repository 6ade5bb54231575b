"""The import's date and time parsing: the strict forms of the common formats read exactly what
`strptime` reads, and a column's remembered format never changes what a value reads as. A file
row's signature written out by hand is the digest the JSON encoder gives."""

from __future__ import annotations

import random
from datetime import date, datetime, time

import pytest

from callcenter.core.inputs import InputError
from callcenter.exchange.importer import cells_digest
from callcenter.exchange.upsert import digest
from callcenter.exchange.values import (
    _STRICT_DAYS,
    _STRICT_TIMES,
    DATE_FORMATS,
    TIME_FORMATS,
    US_DATE_FORMATS,
    Dates,
    _strict_day,
    _strict_time,
)


def _strptime(raw: str, fmt: str) -> datetime | None:
    try:
        return datetime.strptime(raw, fmt)
    except ValueError:
        return None


def _parts(width: int, top: int) -> list[str]:
    return [str(n) for n in range(top)] + [f"{n:0{width}d}" for n in range(top)]


def test_the_strict_date_forms_read_what_strptime_reads() -> None:
    """Every day and month 0–39 with and without a leading zero, years around the edges."""
    years = ["0000", "0001", "1899", "1980", "2024", "2025", "9999"]
    checked = 0
    for fmt in _STRICT_DAYS:
        for year in years:
            for month in _parts(2, 14):
                for on in _parts(2, 40):
                    raw = (fmt.replace("%Y", year).replace("%m", month).replace("%d", on))
                    parsed = _strptime(raw, fmt)
                    assert _strict_day(fmt, raw) == (parsed.date() if parsed else None), (fmt, raw)
                    checked += 1
    assert checked > 50_000


def test_the_strict_time_forms_read_what_strptime_reads() -> None:
    for fmt in _STRICT_TIMES:
        for hour in _parts(2, 26):
            for minute in _parts(2, 62):
                for second in (["00", "7", "59", "60", "61"] if "%S" in fmt else [""]):
                    raw = fmt.replace("%H", hour).replace("%M", minute).replace("%S", second)
                    parsed = _strptime(raw, fmt)
                    assert _strict_time(fmt, raw) == (parsed.time() if parsed else None), raw


@pytest.mark.parametrize("formats", [DATE_FORMATS, US_DATE_FORMATS, TIME_FORMATS])
def test_a_value_of_one_format_reads_in_no_other(formats: tuple[str, ...]) -> None:
    """Why the remembered format may be tried first: no value fits two formats of a list."""
    moments = [datetime(year, month, on, hour, minute, 5)
               for year in (1999, 2003, 2012, 2024) for month in (1, 2, 10, 12)
               for on in (1, 2, 12, 13, 28, 31) if not (month == 2 and on > 28)
               for hour, minute in ((0, 0), (7, 5), (12, 30), (23, 59))]
    for fmt in formats:
        for moment in moments:
            for raw in {moment.strftime(fmt), moment.strftime(fmt).replace(" 0", " ")}:
                fits = [other for other in formats if _strptime(raw, other) is not None]
                assert fits == [fmt], (raw, fits)


def test_a_column_that_changes_format_part_way_reads_every_value() -> None:
    dates = Dates("RU", "Europe/Moscow")
    assert dates.day("01.02.1980", "birth_date") == date(1980, 2, 1)
    assert dates.day("1.2.1981", "birth_date") == date(1981, 2, 1)  # the strict form
    assert dates.day("1982-03-04", "birth_date") == date(1982, 3, 4)  # another format now
    assert dates.day("05.06.1983", "birth_date") == date(1983, 6, 5)  # and back
    assert dates.day("05.06.83", "birth_date") == date(1983, 6, 5)
    with pytest.raises(InputError, match="not a date in a known format"):
        dates.day("31.02.1990", "birth_date")
    assert dates.clock("9:30", "time") == time(9, 30)
    assert dates.clock("9.45", "time") == time(9, 45)
    assert dates.clock("10:15:30", "time") == time(10, 15, 30)
    assert dates.clock("2:05 PM", "time") == time(14, 5)
    us = Dates("US", "America/New_York")
    assert us.day("03/04/2024", "date") == date(2024, 3, 4)  # month first in the US
    assert dates.day("03/04/2024", "date") == date(2024, 4, 3)
    assert str(dates.moment("09.03.2026 10:00", "start")) == "2026-03-09 07:00:00+00:00"


def test_a_cell_read_again_reads_the_same_and_a_refused_one_is_refused_again() -> None:
    dates = Dates("RU", "Europe/Moscow")
    for _ in range(2):  # the second time from what the first remembered
        assert dates.day("01.02.1980", "birth_date") == date(1980, 2, 1)
        assert dates.clock("9:30", "time") == time(9, 30)
        assert dates.day(" 1982-03-04 ", "date") == date(1982, 3, 4)
        assert str(dates.utc(datetime(2025, 10, 26, 2, 30))) == "2025-10-25 23:30:00+00:00"
        assert str(dates.moment("09.03.2026 10:00", "start")) == "2026-03-09 07:00:00+00:00"
        with pytest.raises(InputError, match="not a date in a known format"):
            dates.day("31.02.1990", "birth_date")
        with pytest.raises(InputError, match="not a time of day"):
            dates.clock("25:61", "time")
    with pytest.raises(InputError, match="not a date in a known format"):
        dates.day("9:30", "date")  # read as a time above: never a day for that


def test_a_rows_signature_is_the_digest_of_its_cells() -> None:
    """Cells of every kind of character JSON escapes, empty, several to a field, and the odd cell
    that is not text (a workbook's numbers and dates, which the encoder itself writes)."""
    rng = random.Random(16)
    characters = ["a", "Я", "张", "😀", '"', "\\", "/", "\n", "\t", "\x00", "\x1f", "\x7f", "\u2028", " "]
    odd: list[object] = [0, 7, 2.5, True, date(2026, 3, 9), datetime(2026, 3, 9, 10, 30),
                         time(10, 30)]
    for _ in range(5000):
        cells: dict[str, list[object]] = {}
        for name in rng.sample(["external_id", "phones", "last_name", "a", "Z", "ё"],
                               rng.randrange(0, 6)):
            cells[name] = [None if rng.random() < 0.2 else "".join(
                rng.choice(characters) for _ in range(rng.randrange(0, 6)))
                for _ in range(rng.randrange(0, 3))]
        if cells and rng.random() < 0.1:
            cells[rng.choice(list(cells))].append(rng.choice(odd))
        kind = rng.choice(["patients", "appointments"])
        assert cells_digest(kind, cells) == digest({"kind": kind, "cells": cells}), cells  # type: ignore[arg-type]
