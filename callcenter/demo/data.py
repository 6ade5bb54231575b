"""Word lists and labels the demo clinic is built from (names, services, channels, per locale)."""

from __future__ import annotations

from dataclasses import dataclass

from callcenter.core.models import TreatmentType

# Russian first names of men with the patronymics they give their sons and daughters.
RU_MALE = (
    ("Александр", "Александрович", "Александровна"), ("Сергей", "Сергеевич", "Сергеевна"),
    ("Дмитрий", "Дмитриевич", "Дмитриевна"), ("Андрей", "Андреевич", "Андреевна"),
    ("Алексей", "Алексеевич", "Алексеевна"), ("Михаил", "Михайлович", "Михайловна"),
    ("Иван", "Иванович", "Ивановна"), ("Николай", "Николаевич", "Николаевна"),
    ("Владимир", "Владимирович", "Владимировна"), ("Евгений", "Евгеньевич", "Евгеньевна"),
    ("Павел", "Павлович", "Павловна"), ("Максим", "Максимович", "Максимовна"),
    ("Артём", "Артёмович", "Артёмовна"), ("Игорь", "Игоревич", "Игоревна"),
    ("Олег", "Олегович", "Олеговна"), ("Роман", "Романович", "Романовна"),
    ("Виктор", "Викторович", "Викторовна"), ("Юрий", "Юрьевич", "Юрьевна"),
    ("Константин", "Константинович", "Константиновна"), ("Денис", "Денисович", "Денисовна"),
    ("Кирилл", "Кириллович", "Кирилловна"), ("Георгий", "Георгиевич", "Георгиевна"),
    ("Илья", "Ильич", "Ильинична"), ("Тимур", "Тимурович", "Тимуровна"),
    ("Станислав", "Станиславович", "Станиславовна"), ("Вадим", "Вадимович", "Вадимовна"),
)
RU_FEMALE = (
    "Анна", "Мария", "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Екатерина", "Светлана",
    "Юлия", "Анастасия", "Дарья", "Ксения", "Марина", "Виктория", "Полина", "Алина", "Вера",
    "Людмила", "Галина", "Софья", "Валентина", "Евгения", "Алёна", "Надежда", "Кристина",
)
# Masculine forms; ru_surname() derives the feminine one.
RU_SURNAMES = (
    "Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов",
    "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров",
    "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин",
    "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев", "Романов", "Воробьёв",
    "Сергеев", "Кузьмин", "Фролов", "Александров", "Дмитриев", "Королёв", "Гусев", "Киселёв",
    "Ильин", "Максимов", "Поляков", "Сорокин", "Виноградов", "Ковалёв", "Белов", "Медведев",
    "Антонов", "Тарасов", "Жуков", "Баранов", "Филиппов", "Комаров", "Давыдов", "Беляев",
    "Герасимов", "Богданов", "Осипов", "Сидоров", "Матвеев", "Титов", "Марков", "Миронов",
    "Крылов", "Куликов", "Карпов", "Власов", "Мельников", "Денисов", "Гаврилов", "Тихонов",
    "Казаков", "Афанасьев", "Данилов", "Савельев", "Тимофеев", "Фомин", "Чернов", "Абрамов",
    "Мартынов", "Ефимов", "Щербаков", "Назаров", "Калинин", "Исаев", "Быков", "Маслов",
    "Родионов", "Коновалов", "Лазарев", "Воронин", "Климов", "Филатов", "Пономарёв", "Голубев",
    "Кудрявцев", "Прохоров", "Наумов", "Потапов", "Журавлёв", "Трофимов", "Леонов", "Соболев",
    "Ермаков", "Колесников", "Гончаров", "Никифоров", "Котов", "Гришин", "Ефремов", "Архипов",
    "Громов", "Кириллов", "Малышев", "Панов", "Моисеев", "Румянцев", "Акимов", "Бирюков",
    "Вишневский", "Ковальский", "Шевченко", "Коваленко", "Бондаренко", "Литвиненко",
)
EN_MALE = (
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas",
    "Charles", "Daniel", "Matthew", "Andrew", "George", "Edward", "Peter", "Oliver", "Henry",
    "Samuel", "Benjamin", "Jack", "Harry", "Mark", "Paul",
)
EN_FEMALE = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Susan", "Jessica", "Sarah", "Karen",
    "Emily", "Emma", "Olivia", "Sophie", "Charlotte", "Hannah", "Grace", "Lucy", "Alice", "Kate",
    "Rachel", "Laura", "Amy", "Claire", "Helen",
)
EN_SURNAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark",
    "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker",
    "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts", "Carter", "Phillips", "Evans",
    "Turner", "Parker", "Collins", "Edwards", "Stewart", "Morris", "Murphy", "Cook", "Rogers",
    "Morgan", "Cooper", "Bennett", "Wood", "Hughes", "Price", "Hall", "Ward",
)
ZH_MALE = (
    "伟", "强", "磊", "军", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏", "华", "飞",
    "浩", "宇", "俊", "建国", "志强", "子轩", "浩然", "文博", "晨阳",
)
ZH_FEMALE = (
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "玲", "婷", "雪", "琳", "慧", "颖", "秀英",
    "桂英", "欣怡", "梓涵", "诗涵", "雨桐", "晓燕", "丹", "佳怡", "思琪",
)
ZH_SURNAMES = (
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡",
    "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
    "彭", "曾", "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏",
    "魏", "吕", "丁", "任", "沈", "欧阳", "司马",
)


def ru_surname(masculine: str, female: bool) -> str:
    """The form of a Russian surname for a woman: -ов → -ова, -ский → -ская, -ко unchanged."""
    if not female or masculine.endswith("ко"):
        return masculine
    if masculine.endswith("ский"):
        return masculine[:-2] + "ая"
    return masculine + "а"


def label(labels: tuple[str, str, str], locale: str) -> str:
    """Pick the ru / en / zh label."""
    return labels[("ru", "en", "zh").index(locale)] if locale in ("ru", "en", "zh") else labels[1]


CLINIC_NAME = ("Улыбка", "Smile Dental", "微笑口腔")
CLINIC_ADDRESS = (
    "Москва, Профсоюзная ул., 45",
    "45 Profsoyuznaya St, Moscow",
    "莫斯科 Profsoyuznaya 街 45 号",
)
HOLIDAY = ("Праздничный день", "Public holiday", "公共假日")
MAINTENANCE_DAY = ("Санитарный день", "Maintenance day", "设备维护日")
MAIN_LINE = ("Основной номер", "Main line", "总机")
# Fixed-date public holidays (month, day) a clinic in the demo closes on.
PUBLIC_HOLIDAYS = ((1, 1), (1, 2), (1, 7), (2, 23), (3, 8), (5, 1), (5, 9), (6, 12), (11, 4), (12, 31))


@dataclass(frozen=True)
class ChannelSpec:
    code: str
    labels: tuple[str, str, str]
    numbers: int  # tracking numbers advertised in it; 0 = only a "how did you hear" answer
    share: float  # of new callers
    conversion: float  # of its new callers who book


CHANNELS = (
    ChannelSpec("search_ads", ("Реклама в поиске", "Search ads", "搜索广告"), 2, 0.28, 0.40),
    ChannelSpec("maps_listing", ("Карточка на картах", "Maps listing", "地图标注"), 1, 0.22, 0.55),
    ChannelSpec("website", ("Сайт клиники", "Clinic website", "诊所网站"), 1, 0.14, 0.50),
    ChannelSpec("social", ("Соцсети", "Social media", "社交媒体"), 1, 0.10, 0.35),
    ChannelSpec("billboard", ("Наружная реклама", "Billboard", "户外广告牌"), 1, 0.08, 0.45),
    ChannelSpec("referral", ("Рекомендация знакомых", "Recommended by a friend", "亲友推荐"),
                1, 0.08, 0.70),
    ChannelSpec("passing_by", ("Увидел вывеску", "Walked past the clinic", "路过看到招牌"), 0, 0, 0),
    ChannelSpec("insurance", ("Страховая компания", "Insurance company", "保险公司"), 0, 0, 0),
)
# New callers who dial the main line (no channel behind it) and how often they book.
MAIN_LINE_SHARE, MAIN_LINE_CONVERSION = 0.10, 0.55

HEARD_FROM_NOTES = (
    ("посоветовала подруга", "a friend told me about you", "朋友介绍的"),
    ("лечились всей семьёй раньше", "my family were patients before", "家人以前在这里看过"),
    ("по полису ДМС", "through my insurance plan", "通过保险公司"),
)


@dataclass(frozen=True)
class Service:
    labels: tuple[str, str, str]
    slots: int  # length in the doctor's slots
    price: int
    treatment: TreatmentType | None
    weight: float


CONSULTATION = Service(("Консультация", "Consultation", "初诊咨询"), 1, 1000, None, 3)
SERVICES: dict[str, tuple[Service, ...]] = {
    "therapist": (
        CONSULTATION,
        Service(("Лечение кариеса, пломба", "Filling", "补牙"), 2, 6500, TreatmentType.FILLING, 5),
        Service(("Лечение каналов", "Root canal treatment", "根管治疗"), 3, 14000,
                TreatmentType.ROOT_CANAL, 2),
    ),
    "prosthodontist": (
        Service(("Коронка", "Crown", "牙冠"), 2, 28000, TreatmentType.PROSTHETICS, 2),
    ),
    "surgeon": (
        CONSULTATION,
        Service(("Удаление зуба", "Tooth extraction", "拔牙"), 2, 5500, TreatmentType.EXTRACTION, 4),
    ),
    "implantologist": (
        Service(("Установка импланта", "Implant placement", "种植体植入"), 3, 45000,
                TreatmentType.IMPLANT, 2),
        Service(("Коронка на имплант", "Crown on an implant", "种植牙冠"), 2, 38000,
                TreatmentType.IMPLANT_CROWN, 1.5),
    ),
    "orthodontist": (
        CONSULTATION,
        Service(("Коррекция брекетов", "Braces adjustment", "牙套调整"), 1, 3500,
                TreatmentType.OTHER, 5),
        Service(("Установка ретейнера", "Retainer fitting", "佩戴保持器"), 2, 9000,
                TreatmentType.ORTHODONTIC_RETAINER, 1.5),
    ),
    "hygienist": (
        Service(("Профессиональная гигиена", "Professional cleaning", "洁牙"), 2, 6000,
                TreatmentType.CLEANING, 6),
        Service(("Лечение дёсен", "Gum treatment", "牙周治疗"), 2, 7500, TreatmentType.PERIODONTAL, 2),
        Service(("Отбеливание", "Whitening", "牙齿美白"), 2, 15000, TreatmentType.OTHER, 1),
    ),
}
