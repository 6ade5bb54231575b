"""One cell → one of our values, or an InputError naming the field and what is wrong with it
("phone '8-916-12' is not a number"). Words are recognised in ru, en and zh."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from callcenter.core import phones as phone_numbers
from callcenter.core.i18n import N_
from callcenter.core.inputs import TEXT_LIMIT, InputError, problem
from callcenter.core.models import AppointmentStatus, Sex, TreatmentType
from callcenter.core.specialties import SPECIALTIES
from callcenter.exchange.columns import normalized
from callcenter.exchange.tables import Cell

DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d.%m.%y", "%d/%m/%Y", "%Y/%m/%d", "%Y.%m.%d",
                "%d-%m-%Y", "%Y年%m月%d日")
US_DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d", "%m-%d-%Y", "%Y/%m/%d")
TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%H.%M", "%I:%M %p")
REMEMBERED = 50_000  # cells and moments a Dates keeps read (a few MB at most)


def _words(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {normalized(word): value for value, words in table.items() for word in (value, *words)}


SEXES = _words({Sex.FEMALE: ("ж", "жен", "женский", "f", "w", "woman", "女"),
                Sex.MALE: ("м", "муж", "мужской", "m", "man", "男"),
                Sex.UNKNOWN: ("не указан", "неизвестно", "u", "未知")})
BOOLEANS = _words({"1": ("да", "yes", "y", "true", "+", "д", "是", "有"),
                   "0": ("нет", "no", "n", "false", "-", "н", "否", "无")})
LANGUAGES = _words({"ru": ("русский", "rus", "russian", "俄语"),
                    "en": ("английский", "eng", "english", "英语"),
                    "zh": ("китайский", "chinese", "中文", "汉语", "zh-cn")})
STATUSES = _words({
    AppointmentStatus.BOOKED: ("записан", "запись", "новая", "scheduled", "booked", "已预约", "预约"),
    AppointmentStatus.CONFIRMED: ("подтвержден", "подтверждена", "confirmed", "已确认"),
    AppointmentStatus.CALL_BACK: ("перезвонить", "позвонить", "call", "call back", "回电"),
    AppointmentStatus.CANCELLED: ("отменен", "отменена", "отмена", "canceled", "cancelled", "已取消"),
    AppointmentStatus.RESCHEDULED: ("перенесен", "перенесена", "moved", "rescheduled", "已改期"),
    AppointmentStatus.NO_SHOW: ("не пришел", "не явился", "неявка", "no show", "missed", "未到"),
    AppointmentStatus.ARRIVED: ("пришел", "пришла", "в клинике", "arrived", "checked in", "已到"),
    AppointmentStatus.COMPLETED: ("завершен", "завершена", "выполнен", "принят", "completed",
                                  "done", "fulfilled", "已完成"),
})
TREATMENTS = _words({
    TreatmentType.EXTRACTION: ("удаление", "удаление зуба", "extraction", "拔牙"),
    TreatmentType.FILLING: ("пломба", "пломбирование", "лечение кариеса", "filling", "补牙"),
    TreatmentType.ROOT_CANAL: ("лечение каналов", "эндодонтия", "root canal", "根管治疗"),
    TreatmentType.PROSTHETICS: ("протезирование", "коронка", "prosthetics", "crown", "修复", "牙冠"),
    TreatmentType.CLEANING: ("чистка", "гигиена", "профгигиена", "cleaning", "hygiene", "洁牙"),
    TreatmentType.PERIODONTAL: ("пародонтология", "лечение десен", "periodontal", "牙周治疗"),
    TreatmentType.IMPLANT: ("имплантация", "имплант", "implant", "种植"),
    TreatmentType.IMPLANT_CROWN: ("коронка на имплант", "implant crown", "种植牙冠"),
    TreatmentType.ORTHODONTIC_RETAINER: ("ретейнер", "ретейнер после брекетов", "retainer",
                                         "orthodontic retainer", "保持器"),
    TreatmentType.OTHER: ("другое", "прочее", "other", "其他"),
})
PHONE_LABEL = re.compile(r"^\s*(?:(?P<pre>[^\d+:()]+):)?\s*(?P<number>[^()]+?)\s*(?:\((?P<post>[^)]*)\))?\s*$")


def text(value: Cell, field: str, limit: int = TEXT_LIMIT) -> str:
    result = value.strip() if type(value) is str else "" if value is None else str(value).strip()
    if len(result) > limit:
        raise InputError(field, "longer than {most} characters", most=limit)
    if result.isascii() and "\x00" not in result:
        return result  # most cells (ids, dates, numbers): nothing `problem` could find
    found = problem(result)
    if found:
        raise InputError(field, found)
    return result


def external_id(value: Cell, field: str = "external_id") -> str:
    result = text(value, field, 100)
    if not result:
        raise InputError(field, "the id is empty")
    return result


def _word(value: Cell, field: str, table: dict[str, str], unknown: str) -> str | None:
    """The value the word stands for; `unknown` (a message with {value}) when none."""
    raw = text(value, field, 100)
    if not raw:
        return None
    found = table.get(normalized(raw))
    if found is None:
        raise InputError(field, unknown, value=raw[:40])
    return found


def sex(value: Cell) -> Sex:
    return Sex(_word(value, "sex", SEXES, N_("'{value}' is not a sex we know")) or Sex.UNKNOWN)


def boolean(value: Cell, field: str) -> bool | None:
    if isinstance(value, bool | int):
        return bool(value)
    found = _word(value, field, BOOLEANS, N_("'{value}' is neither yes nor no"))
    return None if found is None else found == "1"


def language(value: Cell) -> str | None:
    return _word(value, "language", LANGUAGES, N_("'{value}' is not a language we speak"))


def status(value: Cell) -> AppointmentStatus:
    return AppointmentStatus(_word(value, "status", STATUSES,
                                   N_("'{value}' is not a visit status we know"))
                             or AppointmentStatus.BOOKED)


def treatment_type(value: Cell) -> TreatmentType:
    found = _word(value, "type", TREATMENTS,
                  N_("'{value}' is not a treatment type we know"))
    if found is None:
        raise InputError("type", "the treatment type is empty")
    return TreatmentType(found)


def specialties(value: Cell, locale_names: dict[str, str]) -> list[str]:
    """Codes from codes or from the specialties' names in any of our languages."""
    raw = text(value, "specialties", 500)
    codes: list[str] = []
    for part in filter(None, (p.strip() for p in re.split(r"[,;/]", raw))):
        code = part if part in SPECIALTIES else locale_names.get(normalized(part))
        if code is None:
            raise InputError("specialties", "'{value}' is not a known specialty", value=part[:40])
        codes.append(code)
    return codes


# Strict forms of the common formats: each accepts only strings `strptime` accepts for that
# format and reads them as it does; anything else goes to `strptime`.
_STRICT_DAYS = {fmt: (re.compile(pattern), order) for fmt, pattern, order in (
    ("%Y-%m-%d", r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})", (0, 1, 2)),
    ("%Y/%m/%d", r"([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})", (0, 1, 2)),
    ("%Y.%m.%d", r"([0-9]{4})\.([0-9]{1,2})\.([0-9]{1,2})", (0, 1, 2)),
    ("%d.%m.%Y", r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})", (2, 1, 0)),
    ("%d/%m/%Y", r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})", (2, 1, 0)),
    ("%d-%m-%Y", r"([0-9]{1,2})-([0-9]{1,2})-([0-9]{4})", (2, 1, 0)),
    ("%m/%d/%Y", r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})", (2, 0, 1)),
    ("%m-%d-%Y", r"([0-9]{1,2})-([0-9]{1,2})-([0-9]{4})", (2, 0, 1)),
)}
_STRICT_TIMES = {"%H:%M": re.compile(r"([0-9]{1,2}):([0-9]{1,2})"),
                 "%H:%M:%S": re.compile(r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})")}


def _strict_day(fmt: str, raw: str) -> date | None:
    found = _STRICT_DAYS.get(fmt)
    match = found[0].fullmatch(raw) if found else None
    if match is None:
        return None
    year, month, on = (int(match.group(i + 1)) for i in found[1])
    try:
        return date(year, month, on)
    except ValueError:
        return None


def _strict_time(fmt: str, raw: str) -> time | None:
    pattern = _STRICT_TIMES.get(fmt)
    match = pattern.fullmatch(raw) if pattern else None
    if match is None:
        return None
    try:
        return time(*map(int, match.groups()))
    except ValueError:
        return None


class Dates:
    """Dates, times and moments of one import, in the clinic's region and zone.

    A column keeps one format: the format its last value was found in is tried first, by a
    strict parse (a regular expression, not `strptime`), and a value it does not fit goes through
    every known format in order, as it would without the memory. Each format's values fit no
    other format of its list, so the order tried never changes what a value reads as.
    """

    def __init__(self, region: str, zone: str) -> None:
        self.day_formats = US_DATE_FORMATS if region == "US" else DATE_FORMATS
        self.zone = ZoneInfo(zone)
        self._days: dict[str, str] = {}
        self._times: dict[str, str] = {}
        # What a cell read as, by its text (a file repeats its days and times thousands of
        # times); what a moment is in UTC, by its local time. A cell that was refused is not kept.
        self._read: dict[tuple[str, str], date | time] = {}
        self._utc: dict[datetime, datetime] = {}

    def _remember(self, kind: str, cell: str, found: date | time) -> None:
        if len(self._read) >= REMEMBERED:
            self._read.clear()
        self._read[kind, cell] = found

    def day(self, value: Cell, field: str) -> date | None:
        if type(value) is str and (found := self._read.get(("day", value))) is not None:
            return found  # type: ignore[return-value]
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        found = self._day(value, field)
        if found is not None and type(value) is str:
            self._remember("day", value, found)
        return found

    def _day(self, value: Cell, field: str) -> date | None:
        raw = text(value, field, 40)
        if not raw:
            return None
        known = self._days.get(field)
        found = _strict_day(known, raw) if known else None
        if found is None:
            parsed = self._general(raw, field, self.day_formats, self._days)
            if parsed is None:
                raise InputError(field, "'{value}' is not a date in a known format", value=raw)
            found = parsed.date()
        return found

    def clock(self, value: Cell, field: str) -> time | None:
        if type(value) is str and (found := self._read.get(("time", value))) is not None:
            return found  # type: ignore[return-value]
        if isinstance(value, datetime):
            return value.time()
        if isinstance(value, time):
            return value
        found = self._clock(value, field)
        if found is not None and type(value) is str:
            self._remember("time", value, found)
        return found

    def _clock(self, value: Cell, field: str) -> time | None:
        raw = text(value, field, 20)
        if not raw:
            return None
        known = self._times.get(field)
        found = _strict_time(known, raw) if known else None
        if found is None:
            parsed = self._general(raw, field, TIME_FORMATS, self._times)
            if parsed is None:
                raise InputError(field, "'{value}' is not a time of day", value=raw)
            found = parsed.time()
        return found

    @staticmethod
    def _general(raw: str, field: str, formats: tuple[str, ...],
                 memory: dict[str, str]) -> datetime | None:
        for fmt in formats:
            try:
                found = datetime.strptime(raw, fmt)
            except ValueError:
                continue
            memory[field] = fmt
            return found
        return None

    def moment(self, value: Cell, field: str) -> datetime | None:
        """A date and time in the clinic's zone (unless it says its own offset), as aware UTC."""
        if isinstance(value, datetime):
            return self.utc(value)
        raw = text(value, field, 40)
        if not raw:
            return None
        try:
            return self.utc(datetime.fromisoformat(raw))
        except ValueError:
            date_part, _, time_part = raw.replace("T", " ").partition(" ")
            on = self.day(date_part, field)
            at = self.clock(time_part, field) if time_part else None
            if on is None or at is None:
                raise InputError(field, "'{value}' is not a date and time", value=raw) from None
            return self.utc(datetime.combine(on, at))

    def utc(self, local: datetime) -> datetime:
        """Aware UTC; a time without its own offset is the clinic's."""
        if local.tzinfo is not None:
            return local.astimezone(UTC)
        found = self._utc.get(local)
        if found is None:
            if len(self._utc) >= REMEMBERED:
                self._utc.clear()
            found = self._utc[local] = local.replace(tzinfo=self.zone).astimezone(UTC)
        return found


def minutes(value: Cell, field: str = "duration") -> int | None:
    raw = text(value, field, 10)
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) <= 24 * 60:
        raise InputError(field, "'{value}' is not a number of minutes", value=raw)
    return int(raw)


def between(starts: datetime, ends: datetime | None, length: int | None) -> datetime:
    if ends is None:
        return starts + timedelta(minutes=length or 30)
    if ends <= starts:
        raise InputError("end", "the visit ends before it starts")
    return ends


def phones(value: Cell, label: str, region: str, field: str = "phones") -> list[tuple[str, str]]:
    """[(e164, label)] from "8 916 123-45-67; home: +7 495 123 45 67" or "… (mobile)"."""
    raw = text(value, field, 300)
    found: list[tuple[str, str]] = []
    for part in filter(None, (p.strip() for p in re.split(r"[;,\n/]", raw))):
        match = PHONE_LABEL.match(part)
        number = match.group("number") if match else part
        own = ((match.group("pre") or match.group("post") or "").strip() if match else "") or label
        e164 = phone_numbers.normalize(number, region)
        if e164 is None:
            raise InputError(field, "phone '{value}' is not a number", value=part[:40])
        found.append((e164, own[:40]))
    return found
