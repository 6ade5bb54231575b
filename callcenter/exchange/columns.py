"""What each kind of file may carry (our fields), the headers that name them in ru/en/zh
exports, and the mapping of a file's columns onto the fields."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from callcenter.core.i18n import N_
from callcenter.core.inputs import InputError

KINDS = ("patients", "doctors", "services", "appointments", "treatments")

_ID = ("id", "external id", "ид", "код", "идентификатор", "编号", "id号")
_PATIENT_ID = ("patient id", "patient external id", "id пациента", "код пациента",
               "номер карты", "№ карты", "медицинская карта", "chart number", "患者编号", "病历号")
_DOCTOR_ID = ("doctor id", "id врача", "код врача", "医生编号")
_NAMES = {
    "last_name": ("фамилия", "last name", "surname", "family name", "姓"),
    "first_name": ("имя", "first name", "given name", "名"),
    "patronymic": ("отчество", "patronymic", "middle name", "父名"),
    "full_name": ("фио", "ф.и.о.", "full name", "姓名"),
}
_NOTES = ("примечание", "примечания", "комментарий", "заметки", "notes", "note", "comment", "备注")
_SPECIALTIES = ("специальность", "специализация", "specialty", "speciality", "specialties",
                "专业", "科室")
_ACTIVE = ("активен", "активна", "работает", "active", "在职", "启用")
_DURATION = ("длительность", "продолжительность", "длительность мин", "duration", "minutes",
             "duration min", "时长")
_PRICE = ("цена", "стоимость", "price", "cost", "价格", "费用")

SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "patients": {
        "external_id": (*_ID, *_PATIENT_ID),
        **_NAMES,
        "full_name": (*_NAMES["full_name"], "пациент", "patient", "patient name", "患者", "患者姓名"),
        "birth_date": ("дата рождения", "др", "birth date", "date of birth", "dob", "birthday",
                       "出生日期", "生日"),
        "sex": ("пол", "sex", "gender", "性别"),
        "language": ("язык", "language", "语言"),
        "phones": ("телефон", "телефоны", "phone", "phones", "tel", "telephone", "电话"),
        "phone_mobile": ("мобильный", "мобильный телефон", "сотовый", "mobile", "cell",
                         "mobile phone", "手机", "手机号"),
        "phone_home": ("домашний", "домашний телефон", "home phone", "家庭电话"),
        "phone_work": ("рабочий", "рабочий телефон", "work phone", "工作电话"),
        "phone_family": ("семейный телефон", "телефон родственника", "family phone", "家属电话"),
        "consent_calls": ("согласие на звонки", "calls consent", "consent calls", "同意来电"),
        "consent_marketing": ("согласие на рассылку", "согласие на рекламу", "marketing consent",
                              "consent marketing", "同意营销"),
        "notes": _NOTES,
    },
    "doctors": {
        "external_id": (*_ID, *_DOCTOR_ID),
        **_NAMES,
        "full_name": (*_NAMES["full_name"], "врач", "doctor", "医生"),
        "specialties": _SPECIALTIES,
        "active": _ACTIVE,
    },
    "services": {
        "external_id": (*_ID, "код услуги", "service code", "code", "项目编号"),
        "name": ("название", "наименование", "услуга", "name", "service", "服务", "项目", "名称"),
        "name_ru": ("название ru", "name ru", "название по-русски"),
        "name_en": ("название en", "name en", "english name", "英文名称"),
        "name_zh": ("название zh", "name zh", "chinese name", "中文名称"),
        "duration": _DURATION,
        "price": (*_PRICE, "цена от", "price min", "最低价"),
        "price_max": ("цена до", "price max", "最高价"),
        "specialties": _SPECIALTIES,
        "active": _ACTIVE,
    },
    "appointments": {
        "external_id": (*_ID, "id визита", "id записи", "номер записи", "код записи", "visit id",
                        "appointment id", "预约编号"),
        "patient_id": _PATIENT_ID,
        "doctor_id": _DOCTOR_ID,
        "start": ("начало", "дата и время", "время приема", "start", "starts at", "start time",
                  "开始时间", "预约时间"),
        "date": ("дата", "дата визита", "дата приема", "date", "visit date", "日期"),
        "time": ("время", "time", "时间"),
        "end": ("окончание", "конец", "end", "ends at", "end time", "结束时间"),
        "duration": _DURATION,
        "service": ("услуга", "service", "服务", "项目"),
        "booked_at": ("дата записи", "создано", "когда записан", "booked at", "created",
                      "created at", "创建时间"),
        "status": ("статус", "status", "状态"),
        "price": _PRICE,
        "notes": _NOTES,
    },
    "treatments": {
        "external_id": (*_ID, "id лечения", "treatment id", "治疗编号"),
        "patient_id": _PATIENT_ID,
        "doctor_id": _DOCTOR_ID,
        "appointment_id": ("id визита", "id записи", "visit id", "appointment id", "预约编号"),
        "type": ("вид лечения", "тип лечения", "лечение", "тип", "type", "treatment",
                 "treatment type", "治疗", "治疗类型"),
        "date": ("дата", "дата лечения", "date", "performed on", "treatment date", "日期",
                 "治疗日期"),
        "notes": _NOTES,
    },
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "patients": ("external_id",),
    "doctors": ("external_id",),
    "services": ("external_id",),
    "appointments": ("external_id", "patient_id", "doctor_id"),
    "treatments": ("external_id", "patient_id", "type", "date"),
}

# How the mapping step names our fields (translated where shown).
FIELD_NAMES: dict[str, str] = {
    "external_id": N_("their id"), "last_name": N_("last name"), "first_name": N_("first name"),
    "patronymic": N_("patronymic"), "full_name": N_("full name"), "birth_date": N_("birth date"),
    "sex": N_("sex"), "language": N_("language"), "phones": N_("phones"),
    "phone_mobile": N_("mobile phone"), "phone_home": N_("home phone"),
    "phone_work": N_("work phone"), "phone_family": N_("family phone"),
    "consent_calls": N_("consents to calls"), "consent_marketing": N_("consents to marketing"),
    "notes": N_("notes"), "specialties": N_("specialties"), "active": N_("active"),
    "name": N_("name"), "name_ru": N_("name (ru)"), "name_en": N_("name (en)"),
    "name_zh": N_("name (zh)"), "duration": N_("duration, minutes"), "price": N_("price"),
    "price_max": N_("price up to"), "patient_id": N_("patient's id"),
    "doctor_id": N_("doctor's id"), "appointment_id": N_("visit's id"),
    "start": N_("start"), "date": N_("date"), "time": N_("time"), "end": N_("end"),
    "service": N_("service"), "booked_at": N_("booked at"), "status": N_("status"), "type": N_("treatment type"),
}


@functools.lru_cache(maxsize=4096)  # a file's words (sex, status, yes/no) repeat on every row
def normalized(header: str) -> str:
    """A header as compared: case, spaces, punctuation and ё/е do not matter."""
    folded = header.casefold().replace("ё", "е")
    return "".join(ch for ch in folded if ch.isalnum())


_LOOKUP = {kind: {normalized(s): field for field, names in fields.items() for s in names}
           for kind, fields in SYNONYMS.items()}


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InputError("kind", "not one of {choices}", choices=", ".join(KINDS))
    return kind


def detect(kind: str, header: list[str]) -> dict[str, str]:
    """{column: field} for the columns whose header we recognise; the first column naming a
    field wins (a second "Телефон" column is a further phone, which `phones` also takes)."""
    lookup = _LOOKUP[check_kind(kind)]
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for column in header:
        field = lookup.get(normalized(column))
        if field and (field not in taken or field == "phones"):
            mapping[column] = field
            taken.add(field)
    return mapping


def resolve(kind: str, header: list[str], columns: Mapping[str, str] | None) -> dict[str, str]:
    """The mapping to use: the one given (a saved profile or the mapping step), else the
    detected one. Refuses a mapping that names a column the file lacks or a field we do not
    have, and one that leaves a required field without a column."""
    fields = SYNONYMS[check_kind(kind)]
    mapping = dict(columns) if columns else detect(kind, header)
    present = set(header)
    for column, field in mapping.items():
        if column not in present:
            raise InputError("columns", "the file has no column '{column}'", column=column[:60])
        if field and field not in fields:
            raise InputError("columns", "unknown field '{name}' for column '{column}'",
                             name=field[:40], column=column[:60])
    mapping = {column: field for column, field in mapping.items() if field}
    chosen = set(mapping.values())
    for field in REQUIRED[kind]:
        if field not in chosen:
            raise InputError("columns", "no column for '{name}'; the file has: {header}",
                             name=field, header=", ".join(h for h in header if h)[:300])
    if kind == "appointments" and not chosen & {"start", "date"}:
        raise InputError("columns", "no column for the visit's start ('start' or 'date')")
    return mapping
