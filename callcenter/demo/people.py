"""Who is in the demo: staff (the public demo logins, receptionists' shifts), doctors with their
weekly schedules, and patients in families that share a phone number.

Patients go by index in `People.people`. Each patient's numbers and when they joined are kept
here because calls and appointments planned later have to agree with them: a returning caller
dials a number they own, and nobody books a visit before their card exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from callcenter.access.passwords import hash_password
from callcenter.core.models import DoctorSchedule, Patient, PatientPhone, Sex, Staff, StaffRole
from callcenter.demo import data
from callcenter.demo.bulk import insert_numbered
from callcenter.demo.clinic import ClinicPlan

PATIENTS_PER_DOCTOR = 1250
# (specialties, weekly windows: weekday -> [(from, to)], slot minutes); every one has days off.
DOCTOR_TEMPLATES: tuple[tuple[tuple[str, ...], dict[int, list[tuple[str, str]]], int], ...] = (
    (("therapist", "prosthodontist"),
     {0: [("09:00", "15:00")], 1: [("14:00", "21:00")], 2: [("09:00", "15:00")],
      3: [("14:00", "21:00")], 4: [("09:00", "15:00")], 5: [("10:00", "16:00")]}, 30),
    (("surgeon", "implantologist"),
     {0: [("09:00", "13:00"), ("15:00", "20:00")], 1: [("09:00", "13:00"), ("15:00", "20:00")],
      3: [("09:00", "13:00"), ("15:00", "20:00")], 4: [("09:00", "14:00")]}, 30),
    (("orthodontist",),
     {1: [("10:00", "19:00")], 2: [("09:00", "13:00"), ("16:00", "21:00")],
      3: [("10:00", "19:00")], 5: [("10:00", "18:00")]}, 30),
    (("hygienist",),
     {0: [("12:00", "21:00")], 1: [("12:00", "21:00")], 3: [("12:00", "21:00")],
      4: [("12:00", "21:00")], 6: [("10:00", "16:00")]}, 45),
)
# Demo logins: (login, role, locale, extension, last, first, patronymic).
LOGINS = (
    ("admin", StaffRole.ADMIN, "ru", None, "Соколова", "Елена", "Викторовна"),
    ("anna", StaffRole.RECEPTIONIST, "ru", "101", "Кузнецова", "Анна", "Сергеевна"),
    ("john", StaffRole.RECEPTIONIST, "en", "102", "Miller", "John", ""),
    ("li", StaffRole.RECEPTIONIST, "zh", "103", "李", "娜", ""),
    ("marketing", StaffRole.MARKETING, "ru", None, "Орлова", "Ольга", "Игоревна"),
)
# Receptionist shifts: anna weekday mornings, john weekday evenings, li the rush and weekends.
SHIFTS = {"anna": ({0, 1, 2, 3, 4, 5}, 9, 15), "john": ({0, 1, 2, 3, 4}, 15, 21),
          "li": ({1, 3, 5, 6}, 10, 19)}
LANGUAGES = (("ru", 0.70), ("en", 0.15), ("zh", 0.15))
FAMILY_SIZES = ((1, 0.80), (2, 0.11), (3, 0.06), (4, 0.03))

Shift = tuple[set[int], int, int]  # weekdays, from hour, to hour
Agent = tuple[int, str, Shift]  # staff id, extension, shift


@dataclass
class Household:
    language: str
    members: list[int]
    phone: str  # the number every member has
    new: bool  # joins during the half year (first call), else a patient from before


@dataclass
class Doctor:
    specialties: tuple[str, ...]
    windows: dict[int, list[tuple[time, time]]]
    slot: int
    services: tuple[data.Service, ...]
    weights: list[float]


class People:
    """Doctors (by index in `doctors`) and patients (by index in `people`), planned in memory."""

    def __init__(self, clinic: ClinicPlan, patients: int) -> None:
        self.clinic, self.rng, self.n_patients = clinic, clinic.rng, patients
        self.doctors: list[Doctor] = []
        self.doctor_names: list[tuple[str, str, str]] = []
        self.people: list[dict[str, Any]] = []
        self.extra_phones: list[tuple[int, str, str]] = []
        self.households: list[Household] = []
        self.joined_at: list[datetime | None] = []
        self.acquired: list[int] = []  # tracking index each patient first came through
        self.numbers: list[list[str]] = []  # each patient's numbers, the household's first
        self.owners: dict[str, list[int]] = {}
        self.leads: set[int] = set()
        self.old_patients: list[int] = []  # patients from before the half year
        self.joined: list[int] = []  # patients who joined during the half year, in order

    # ---- planning ----------------------------------------------------------------------
    def plan_doctors(self) -> None:
        count = max(4, round(self.n_patients / PATIENTS_PER_DOCTOR))
        for n in range(count):
            specialties, windows, slot = DOCTOR_TEMPLATES[n % len(DOCTOR_TEMPLATES)]
            services = tuple(s for sp in specialties for s in data.SERVICES[sp])
            parsed = {wd: [(time.fromisoformat(a), time.fromisoformat(b)) for a, b in spans]
                      for wd, spans in windows.items()}
            self.doctors.append(Doctor(specialties, parsed, slot, services, [s.weight for s in services]))
        self.doctor_names = [self._ru_adult(self.rng.random() < 0.5) for _ in self.doctors]

    def _ru_adult(self, female: bool) -> tuple[str, str, str]:
        first = self.rng.choice(data.RU_FEMALE) if female else self.rng.choice(data.RU_MALE)[0]
        father = self.rng.choice(data.RU_MALE)
        surname = data.ru_surname(self.rng.choice(data.RU_SURNAMES), female)
        return surname, first, father[2] if female else father[1]

    def plan_patients(self) -> None:
        languages = [lang for lang, _ in LANGUAGES]
        lang_weights = [w for _, w in LANGUAGES]
        sizes = [s for s, _ in FAMILY_SIZES]
        size_weights = [w for _, w in FAMILY_SIZES]
        while len(self.people) < self.n_patients:
            size = min(self.rng.choices(sizes, size_weights)[0], self.n_patients - len(self.people))
            language = self.rng.choices(languages, lang_weights)[0]
            household = Household(language, [], self._household_phone(language, size),
                                  new=self.rng.random() < 0.2)
            for person in self._family(language, size):
                index = len(self.people)
                self.people.append(person)
                household.members.append(index)
                self.owners.setdefault(household.phone, []).append(index)
                self.numbers.append([household.phone])
                self.joined_at.append(None)
                self.acquired.append(self.clinic.pick_tracking(True))
                self._maybe_second_phone(index, size, language)
            self.households.append(household)
        self.old_patients = [i for h in self.households if not h.new for i in h.members]

    def _household_phone(self, language: str, size: int) -> str:
        if size > 1 and self.rng.random() < 0.3:
            return self.clinic.phones.take(self.clinic.region, "landline")
        return self.clinic.phones.take(self._phone_region(language), "mobile")

    def _phone_region(self, language: str) -> str:
        foreign = {"en": "GB", "zh": "CN"}.get(language)
        return foreign if foreign and self.rng.random() < 0.3 else self.clinic.region

    def _maybe_second_phone(self, index: int, size: int, language: str) -> None:
        adult = self.people[index]["birth_date"].year < self.clinic.today.year - 18
        if (size > 1 and adult and self.rng.random() < 0.5) or self.rng.random() < 0.06:
            kind = "mobile" if size > 1 else "landline"
            region = self._phone_region(language) if kind == "mobile" else self.clinic.region
            number = self.clinic.phones.take(region, kind)
            self.extra_phones.append((index, number, "mobile" if kind == "mobile" else "work"))
            self.numbers[index].append(number)
            self.owners.setdefault(number, []).append(index)

    def _family(self, language: str, size: int) -> list[dict[str, Any]]:
        """Adults first (a couple when there are several), then children with the family name."""
        year = self.clinic.today.year
        female_first = self.rng.random() < 0.58
        roles = [female_first] if size == 1 else [female_first, not female_first]
        roles = roles[:size] + [self.rng.random() < 0.5 for _ in range(size - len(roles))]
        surname_ru = self.rng.choice(data.RU_SURNAMES)
        father = self.rng.choice(data.RU_MALE)
        surname_other = self.rng.choice(data.EN_SURNAMES if language == "en" else data.ZH_SURNAMES)
        people = []
        for n, female in enumerate(roles):
            child = n >= 2 or (size == 2 and n == 1 and self.rng.random() < 0.4)
            born_year = self.rng.randint(year - 17, year - 3) if child else self.rng.randint(year - 80, year - 20)
            born = date(born_year, 1, 1) + timedelta(days=self.rng.randrange(365))
            if language == "ru":
                first = self.rng.choice(data.RU_FEMALE) if female else self.rng.choice(data.RU_MALE)[0]
                if child:
                    patronymic = father[2] if female else father[1]
                else:
                    parent = self.rng.choice(data.RU_MALE)
                    patronymic = parent[2] if female else parent[1]
                last = data.ru_surname(surname_ru, female)
            else:
                pool = (data.EN_FEMALE if female else data.EN_MALE) if language == "en" else (
                    data.ZH_FEMALE if female else data.ZH_MALE)
                first, last, patronymic = self.rng.choice(pool), surname_other, ""
            people.append({
                "last_name": last, "first_name": first, "patronymic": patronymic,
                "birth_date": born, "sex": Sex.FEMALE if female else Sex.MALE,
                "preferred_language": language,
                "consent_calls": self.rng.random() < 0.96,
                "consent_marketing": self.rng.random() < 0.45,
            })
        return people

    # ---- what later plans ask of them ----------------------------------------------------
    def join(self, household: Household, moment: datetime, tracking: int, *, lead: bool) -> None:
        """A new household's first call: their cards exist from `moment`, came via `tracking`.

        A lead left a name and number without booking; only those who booked come back later.
        """
        for member in household.members:
            self.acquired[member] = tracking
            self.joined_at[member] = moment
            if lead:
                self.leads.add(member)
            else:
                self.joined.append(member)

    def returning_patient(self) -> int:
        if self.joined and (self.rng.random() < 0.3 or not self.old_patients):
            return self.joined[self.rng.randrange(len(self.joined))]
        return self.old_patients[self.rng.randrange(len(self.old_patients))]

    def patient_known_at(self, moment: datetime) -> int | None:
        for _ in range(5):
            patient = self.returning_patient()
            joined = self.joined_at[patient]
            if joined is None or joined < moment:
                return patient
        return None

    def number_of(self, patient: int) -> str:
        numbers = self.numbers[patient]
        return numbers[0] if len(numbers) == 1 or self.rng.random() < 0.7 else numbers[1]

    def known_tracking(self, patient: int) -> int:
        return self.acquired[patient] if self.rng.random() < 0.4 else 0

    # ---- writing -----------------------------------------------------------------------
    def write_staff(self, session: Session, clinic: int) -> tuple[list[int], list[Agent]]:
        """Doctors (ids by doctor index) with their schedules, and the receptionists on shift."""
        founded = self.clinic.founded
        rows = []
        for login, role, locale, extension, last, first, patronymic in LOGINS:
            rows.append(_staff_row(clinic, role, founded, last, first, patronymic, login=login,
                                   password_hash=hash_password(login), locale=locale,
                                   sip_extension=extension))
        extra_desk = (len(self.doctors) - 4) // 4
        shifts = list(SHIFTS.values())
        for n in range(extra_desk):
            last, first, patronymic = self._ru_adult(True)
            rows.append(_staff_row(clinic, StaffRole.RECEPTIONIST, founded, last, first, patronymic,
                                   sip_extension=str(104 + n)))
        for doctor, (last, first, patronymic) in zip(self.doctors, self.doctor_names, strict=True):
            rows.append(_staff_row(clinic, StaffRole.DOCTOR, founded, last, first, patronymic,
                                   specialties=list(doctor.specialties)))
        ids = insert_numbered(session, Staff, rows)
        desk_rows = [(i, r) for i, r in enumerate(rows) if r["role"] is StaffRole.RECEPTIONIST]
        agents = [(ids[i], r["sip_extension"], SHIFTS.get(r["login"]) or shifts[n % 2])
                  for n, (i, r) in enumerate(desk_rows)]
        doctor_ids = ids[len(rows) - len(self.doctors):]
        session.execute(insert(DoctorSchedule), [
            {"doctor_id": doctor_ids[n], "weekday": weekday, "starts": a, "ends": b,
             "slot_minutes": doctor.slot}
            for n, doctor in enumerate(self.doctors)
            for weekday, spans in sorted(doctor.windows.items()) for a, b in spans])
        return doctor_ids, agents

    def write_patients(self, session: Session, clinic: int) -> list[int]:
        """Patients (ids by patient index) and their phones; cards from before get a past date."""
        founded = self.clinic.founded
        span = int((self.clinic.window - founded).total_seconds())
        rows = []
        for index, person in enumerate(self.people):
            joined = self.joined_at[index] or founded + timedelta(seconds=self.rng.randrange(span))
            lead = index in self.leads
            rows.append({**person, "clinic_id": clinic, "is_lead": lead, "created_at": joined,
                         "birth_date": None if lead else person["birth_date"],
                         "consent_marketing": person["consent_marketing"] and not lead})
        ids = insert_numbered(session, Patient, rows)
        home = self.clinic.tracking[0][1][:5]
        phones = [{"patient_id": ids[i], "e164": h.phone,
                   "label": "home" if h.phone.startswith(home) else "mobile"}
                  for h in self.households for i in h.members]
        phones += [{"patient_id": ids[i], "e164": number, "label": label}
                   for i, number, label in self.extra_phones]
        session.execute(insert(PatientPhone), phones)
        return ids


def _staff_row(clinic: int, role: StaffRole, founded: datetime, last: str, first: str,
               patronymic: str, **extra: Any) -> dict[str, Any]:
    row = {"clinic_id": clinic, "role": role, "login": None, "password_hash": None,
           "last_name": last, "first_name": first, "patronymic": patronymic, "locale": "ru",
           "sip_extension": None, "specialties": [], "active": True, "created_at": founded}
    row.update(extra)
    return row
