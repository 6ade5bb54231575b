"""One cell → one of our values, or an InputError naming the field and what is wrong with it
("phone '8-916-12' is not a number"). Words are recognised in ru, en and zh."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
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
    result = "" if value is None else str(value).strip()
    if len(result) > limit:
        raise InputError(field, "longer than {most} characters", most=limit)
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


def day(value: Cell, field: str, region: str) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raw = text(value, field, 40)
    if not raw:
        return None
    for fmt in US_DATE_FORMATS if region == "US" else DATE_FORMATS:
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise InputError(field, "'{value}' is not a date in a known format", value=raw)


def clock(value: Cell, field: str) -> time | None:
    if isinstance(value, datetime):
        return value.time()
    if isinstance(value, time):
        return value
    raw = text(value, field, 20)
    if not raw:
        return None
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(raw, fmt).time()
        except ValueError:
            continue
    raise InputError(field, "'{value}' is not a time of day", value=raw)


def moment(value: Cell, field: str, region: str, zone: str) -> datetime | None:
    """A date and time in the clinic's zone (unless it says its own offset), as aware UTC."""
    if isinstance(value, datetime):
        local = value
    else:
        raw = text(value, field, 40)
        if not raw:
            return None
        try:
            local = datetime.fromisoformat(raw)
        except ValueError:
            date_part, _, time_part = raw.replace("T", " ").partition(" ")
            on = day(date_part, field, region)
            at = clock(time_part, field) if time_part else None
            if on is None or at is None:
                raise InputError(field, "'{value}' is not a date and time", value=raw) from None
            local = datetime.combine(on, at)
    if local.tzinfo is None:
        local = local.replace(tzinfo=ZoneInfo(zone))
    return local.astimezone(ZoneInfo("UTC"))


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
