"""What the automatic call says, per purpose and language (our own wording)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from callcenter.core.models import TaskPurpose

KEYS_APPOINTMENT = {
    "ru": "Если всё в силе, нажмите 1. Перенести визит: 2. Отменить: 3. Больше не звонить: 9.",
    "en": "Press 1 to keep the visit, 2 to move it, 3 to cancel it, or 9 to stop these calls.",
    "zh": "确认就诊请按1，改约请按2，取消请按3，不再接听此类电话请按9。",
}
KEYS_CARE = {
    "ru": "Если всё хорошо, нажмите 1. Чтобы мы перезвонили и записали вас, нажмите 2. Больше не звонить: 9.",
    "en": "Press 1 if all is well, 2 and we will call you back to book a time, or 9 to stop these calls.",
    "zh": "一切正常请按1，需要我们回电预约请按2，不再接听此类电话请按9。",
}
OPENING = {
    TaskPurpose.CONFIRMATION: {
        "ru": "Здравствуйте, это {clinic}. Ждём вас {when}.",
        "en": "Hello, this is {clinic}. We look forward to seeing you {when}.",
        "zh": "您好，这里是{clinic}。我们期待您在{when}来院。",
    },
    TaskPurpose.FOLLOW_UP: {
        "ru": "Здравствуйте, это {clinic}. Хотим узнать, как вы себя чувствуете после лечения.",
        "en": "Hello, this is {clinic}. We are calling to ask how you feel after your treatment.",
        "zh": "您好，这里是{clinic}。我们想了解您治疗后的感觉如何。",
    },
    TaskPurpose.RECALL: {
        "ru": "Здравствуйте, это {clinic}. Подошло время профилактического осмотра.",
        "en": "Hello, this is {clinic}. It is time for your preventive check-up.",
        "zh": "您好，这里是{clinic}。您该做预防性检查了。",
    },
    TaskPurpose.NO_SHOW: {
        "ru": "Здравствуйте, это {clinic}. Мы не увиделись сегодня и хотим подобрать вам новое время.",
        "en": "Hello, this is {clinic}. We missed you today and would like to find you a new time.",
        "zh": "您好，这里是{clinic}。您今天没有来就诊，我们想为您重新安排时间。",
    },
    TaskPurpose.MISSED_CALL: {
        "ru": "Здравствуйте, это {clinic}. Вы звонили нам, а мы не успели ответить.",
        "en": "Hello, this is {clinic}. You called us and we could not answer in time.",
        "zh": "您好，这里是{clinic}。您给我们打过电话，我们没能及时接听。",
    },
}
MACHINE = {
    "ru": "Здравствуйте, это {clinic}. Пожалуйста, перезвоните нам, когда будет удобно.",
    "en": "Hello, this is {clinic}. Please call us back when it suits you.",
    "zh": "您好，这里是{clinic}。方便时请给我们回电。",
}
THANKS = {
    "ru": "Спасибо, ваш ответ записан. До свидания.",
    "en": "Thank you, we have noted your answer. Goodbye.",
    "zh": "谢谢，您的回答已记录。再见。",
}
LANGUAGES = ("ru", "en", "zh")
BABEL_LOCALE = {"ru": "ru", "en": "en", "zh": "zh_Hans"}


def language(preferred: str | None, clinic_locale: str) -> str:
    for candidate in (preferred, clinic_locale):
        if candidate and candidate[:2] in LANGUAGES:
            return candidate[:2]
    return "en"


def message(purpose: TaskPurpose, lang: str, clinic: str, visit_at: datetime | None,
            tz: ZoneInfo) -> str:
    """The whole prompt: who calls, why, and which key does what. No patient name: machines listen too."""
    when = ""
    if visit_at is not None:
        when = format_datetime(visit_at.astimezone(tz), "d MMMM, HH:mm", locale=BABEL_LOCALE[lang])
    opening = OPENING.get(purpose, OPENING[TaskPurpose.FOLLOW_UP])[lang].format(clinic=clinic, when=when)
    keys = KEYS_APPOINTMENT if purpose is TaskPurpose.CONFIRMATION else KEYS_CARE
    return f"{opening} {keys[lang]}"


def machine_message(lang: str, clinic: str) -> str:
    return MACHINE[lang].format(clinic=clinic)


def thanks(lang: str) -> str:
    return THANKS[lang]
