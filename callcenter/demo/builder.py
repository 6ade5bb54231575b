"""The deterministic demo clinic: same seed and same `today`, same rows, on any database.

Calls are written here as a historical import, straight into the `calls` table in bulk
(provider "demo", provider_call_id "demo-000123"), with no CallEventRecord or RawWebhook behind
them. Live calls never take this path: they only ever come through calls.record_call_event.
Everything else (patients, appointments, treatments) is bulk-inserted the same way, so 5,000
patients load in seconds and 100,000 in about a minute on SQLite.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from callcenter.access.passwords import hash_password
from callcenter.core.models import (
    WEEKDAYS,
    Appointment,
    AppointmentStatus,
    Call,
    CallCandidate,
    CallDirection,
    CallerKind,
    CallOutcome,
    CallStatus,
    Channel,
    Clinic,
    DayOff,
    DoctorSchedule,
    Patient,
    PatientPhone,
    Sex,
    Staff,
    StaffRole,
    TrackingNumber,
    Treatment,
    TreatmentType,
)
from callcenter.demo import data
from callcenter.demo.phones import PhoneFactory

HISTORY_DAYS = 183
FUTURE_DAYS = 21
PATIENTS_PER_DOCTOR = 1250
VISITS_PER_PATIENT = 0.75  # past appointments per patient over the half year
OPENING_HOURS = {"mon": [["09:00", "21:00"]], "tue": [["09:00", "21:00"]],
                 "wed": [["09:00", "21:00"]], "thu": [["09:00", "21:00"]],
                 "fri": [["09:00", "21:00"]], "sat": [["10:00", "18:00"]],
                 "sun": [["10:00", "16:00"]]}
# Relative call volume by local hour and by weekday (Monday busiest, Sunday quiet).
HOUR_WEIGHTS = {8: 1.5, 9: 6, 10: 10, 11: 11, 12: 9, 13: 7, 14: 7, 15: 7, 16: 8, 17: 9, 18: 8,
                19: 6, 20: 4, 21: 1.5, 22: 0.6}
WEEKDAY_WEIGHTS = (1.25, 1.1, 1.0, 1.0, 0.9, 0.55, 0.3)
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


def load_demo(session: Session, *, seed: int, patients: int, config: dict[str, Any],
              today: date | None = None) -> str:
    """Fill the database with the demo clinic and return a one-line summary; the caller commits."""
    if patients < 20:
        raise ValueError(f"patients: at least 20 needed, got {patients}")
    zone = ZoneInfo(config["TIMEZONE"])
    day = today or datetime.now(zone).date()
    builder = _Builder(random.Random(seed), zone, config["LOCALE"], config["REGION"], day, patients)
    builder.build()
    return builder.write(session, config["TIMEZONE"])


@dataclass
class _Household:
    language: str
    members: list[int]
    phone: str  # the number every member has
    new: bool  # joins during the half year (first call), else a patient from before


@dataclass
class _Visit:
    doctor: int  # index in _Builder.doctors
    starts: datetime
    ends: datetime
    service: data.Service
    created_at: datetime
    by_phone: bool
    patient: int = -1
    status: AppointmentStatus = AppointmentStatus.BOOKED
    call: int | None = None  # index of the booking call
    moved_from: int | None = None  # index of the rescheduled original


@dataclass
class _Call:
    started: datetime
    caller: str | None
    tracking: int  # index in _Builder.tracking
    patient: int | None
    outcome: CallOutcome | None  # None = missed
    non_patient: bool = False
    talk: int = 0
    callback: int | None = None  # index of the call that answered this missed one
    callback_at: datetime | None = None
    joins: list[int] = field(default_factory=list)  # patients whose card this call creates


@dataclass
class _Doctor:
    specialties: tuple[str, ...]
    windows: dict[int, list[tuple[time, time]]]
    slot: int
    services: tuple[data.Service, ...]
    weights: list[float]


class _Builder:
    """Generates everything in memory with plain indices, then writes it in bulk."""

    def __init__(self, rng: random.Random, zone: ZoneInfo, locale: str, region: str,
                 today: date, patients: int) -> None:
        self.rng, self.zone, self.locale, self.region = rng, zone, locale, region
        self.today, self.n_patients = today, patients
        self.first_day = today - timedelta(days=HISTORY_DAYS)
        self.cutoff = self._at(today, time(0, 0))  # nothing has happened from today on
        self.window = self._at(self.first_day, time(0, 0))
        self.phones = PhoneFactory(rng)
        self.people: list[dict[str, Any]] = []
        self.extra_phones: list[tuple[int, str, str]] = []
        self.households: list[_Household] = []
        self.joined_at: list[datetime | None] = []
        self.acquired: list[int] = []  # tracking index each patient first came through
        self.numbers: list[list[str]] = []  # each patient's numbers, the household's first
        self.leads: set[int] = set()
        self.old_patients: list[int] = []
        self.joined: list[int] = []  # patients who joined during the half year, in order
        self.leftover: list[_Household] = []
        self.owners: dict[str, list[int]] = {}
        self.doctors: list[_Doctor] = []
        self.visits: list[_Visit] = []
        self.calls: list[_Call] = []
        self.history: list[tuple[int, TreatmentType, date]] = []
        self.days_off: dict[date, tuple[str, str, str]] = {}
        self.tracking: list[tuple[int | None, str, str]] = []  # (channel index, e164, label)

    # ---- time helpers -------------------------------------------------------------------
    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, self.zone).astimezone(UTC)

    def _open_hours(self, day: date) -> tuple[int, int] | None:
        if day in self.days_off:
            return None
        (start, end), = OPENING_HOURS[WEEKDAYS[day.weekday()]]
        return int(start[:2]), int(end[:2])

    def _is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        hours = self._open_hours(local.date())
        return hours is not None and hours[0] <= local.hour < hours[1]

    def _moment(self, day: date, *, open_only: bool, before: datetime | None = None) -> datetime | None:
        """A call-like moment on `day` following the hourly curve; None when none fits."""
        choices = list(HOUR_WEIGHTS)
        if open_only:
            hours = self._open_hours(day)
            if hours is None:
                return None
            choices = [h for h in choices if hours[0] <= h < hours[1]]
        if before is not None:
            choices = [h for h in choices if self._at(day, time(h, 59)) < before]
        if not choices:
            return None
        hour = self.rng.choices(choices, [HOUR_WEIGHTS[h] for h in choices])[0]
        moment = self._at(day, time(hour, self.rng.randrange(60), self.rng.randrange(60)))
        return moment if before is None or moment < before else None

    def _days(self, first: date, last: date) -> list[date]:
        return [first + timedelta(days=n) for n in range((last - first).days)]

    # ---- building ------------------------------------------------------------------------
    def build(self) -> None:
        self._plan_days_off()
        self._plan_tracking()
        self._plan_doctors()
        self._plan_patients()
        self._plan_visits()
        self._book_visits()
        self._add_other_calls()
        self._add_missed_calls()
        self._plan_history()

    def _plan_days_off(self) -> None:
        last = self.today + timedelta(days=FUTURE_DAYS)
        holidays = [d for d in self._days(self.first_day, last) if (d.month, d.day) in data.PUBLIC_HOLIDAYS]
        for day in holidays[-2:]:
            self.days_off[day] = data.HOLIDAY
        # The clinic's own closing day: one past, one coming, both on a quiet Wednesday.
        for offset in (-60, 10):
            day = self.today + timedelta(days=offset)
            day += timedelta(days=(2 - day.weekday()) % 7)
            self.days_off.setdefault(day, data.MAINTENANCE_DAY)

    def _plan_tracking(self) -> None:
        self.tracking.append((None, self.phones.take(self.region, "landline"),
                              data.label(data.MAIN_LINE, self.locale)))
        for index, spec in enumerate(data.CHANNELS):
            for n in range(spec.numbers):
                name = data.label(spec.labels, self.locale)
                self.tracking.append((index, self.phones.take(self.region, "landline"),
                                      f"{name} {n + 1}" if spec.numbers > 1 else name))
        # A number nobody registered: what the PBX reported, not yet given a channel.
        self.tracking.append((None, self.phones.take(self.region, "landline"), ""))
        self.new_weights = {True: self._channel_weights(True), False: self._channel_weights(False)}

    def _channel_weights(self, booked: bool) -> list[float]:
        weights = []
        for channel, _, label in self.tracking:
            if channel is None:
                share = 0.0 if not label else data.MAIN_LINE_SHARE
                conversion = data.MAIN_LINE_CONVERSION
            else:
                spec = data.CHANNELS[channel]
                share, conversion = spec.share / spec.numbers, spec.conversion
            weights.append(share * (conversion if booked else 1 - conversion))
        return weights

    def _plan_doctors(self) -> None:
        count = max(4, round(self.n_patients / PATIENTS_PER_DOCTOR))
        for n in range(count):
            specialties, windows, slot = DOCTOR_TEMPLATES[n % len(DOCTOR_TEMPLATES)]
            services = tuple(s for sp in specialties for s in data.SERVICES[sp])
            parsed = {wd: [(time.fromisoformat(a), time.fromisoformat(b)) for a, b in spans]
                      for wd, spans in windows.items()}
            self.doctors.append(_Doctor(specialties, parsed, slot, services,
                                        [s.weight for s in services]))
        self.doctor_names = [self._ru_adult(self.rng.random() < 0.5) for _ in self.doctors]

    def _ru_adult(self, female: bool) -> tuple[str, str, str]:
        first = self.rng.choice(data.RU_FEMALE) if female else self.rng.choice(data.RU_MALE)[0]
        father = self.rng.choice(data.RU_MALE)
        surname = data.ru_surname(self.rng.choice(data.RU_SURNAMES), female)
        return surname, first, father[2] if female else father[1]

    def _plan_patients(self) -> None:
        languages = [lang for lang, _ in LANGUAGES]
        lang_weights = [w for _, w in LANGUAGES]
        sizes = [s for s, _ in FAMILY_SIZES]
        size_weights = [w for _, w in FAMILY_SIZES]
        while len(self.people) < self.n_patients:
            size = min(self.rng.choices(sizes, size_weights)[0], self.n_patients - len(self.people))
            language = self.rng.choices(languages, lang_weights)[0]
            household = _Household(language, [], self._household_phone(language, size),
                                   new=self.rng.random() < 0.2)
            for person in self._family(language, size):
                index = len(self.people)
                self.people.append(person)
                household.members.append(index)
                self.owners.setdefault(household.phone, []).append(index)
                self.numbers.append([household.phone])
                self.joined_at.append(None)
                self.acquired.append(self.rng.choices(range(len(self.tracking)),
                                                      self.new_weights[True])[0])
                self._maybe_second_phone(index, size, language)
            self.households.append(household)

    def _household_phone(self, language: str, size: int) -> str:
        if size > 1 and self.rng.random() < 0.3:
            return self.phones.take(self.region, "landline")
        return self.phones.take(self._phone_region(language), "mobile")

    def _phone_region(self, language: str) -> str:
        foreign = {"en": "GB", "zh": "CN"}.get(language)
        return foreign if foreign and self.rng.random() < 0.3 else self.region

    def _maybe_second_phone(self, index: int, size: int, language: str) -> None:
        adult = self.people[index]["birth_date"].year < self.today.year - 18
        if (size > 1 and adult and self.rng.random() < 0.5) or self.rng.random() < 0.06:
            kind = "mobile" if size > 1 else "landline"
            number = self.phones.take(self._phone_region(language) if kind == "mobile" else self.region, kind)
            self.extra_phones.append((index, number, "mobile" if kind == "mobile" else "work"))
            self.numbers[index].append(number)
            self.owners.setdefault(number, []).append(index)

    def _family(self, language: str, size: int) -> list[dict[str, Any]]:
        """Adults first (a couple when there are several), then children with the family name."""
        year = self.today.year
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

    def _plan_visits(self) -> None:
        """Fill each doctor's weekly windows slot by slot, never overlapping."""
        past_days = self._days(self.first_day, self.today)
        capacity = sum(self._slots(doc, d) for doc in self.doctors for d in past_days)
        mean_len = sum(s.slots * w for s, w in zip(self.doctors[0].services, self.doctors[0].weights,
                                                      strict=True)) / sum(self.doctors[0].weights)
        share = min(0.45, self.n_patients * VISITS_PER_PATIENT / max(capacity, 1))
        occupancy = min(0.85, share / (1 - share * (mean_len - 1)))
        for day in self._days(self.first_day, self.today + timedelta(days=FUTURE_DAYS)):
            if day in self.days_off:
                continue
            ahead = (day - self.today).days
            fill = occupancy if ahead < 0 else occupancy * max(0.15, 0.95 - 0.8 * ahead / FUTURE_DAYS)
            for index, doctor in enumerate(self.doctors):
                for start, end in doctor.windows.get(day.weekday(), []):
                    self._fill_window(index, doctor, day, start, end, fill)

    def _slots(self, doctor: _Doctor, day: date) -> int:
        if day in self.days_off:
            return 0
        return sum((e.hour * 60 + e.minute - s.hour * 60 - s.minute) // doctor.slot
                   for s, e in doctor.windows.get(day.weekday(), []))

    def _fill_window(self, index: int, doctor: _Doctor, day: date, start: time, end: time,
                     fill: float) -> None:
        minute, last = start.hour * 60 + start.minute, end.hour * 60 + end.minute
        while minute + doctor.slot <= last:
            if self.rng.random() >= fill:
                minute += doctor.slot
                continue
            service = self.rng.choices(doctor.services, doctor.weights)[0]
            length = service.slots * doctor.slot
            if minute + length > last:
                service, length = doctor.services[0], doctor.services[0].slots * doctor.slot
                if minute + length > last:
                    break
            begins = self._at(day, time(minute // 60, minute % 60))
            booked, by_phone = self._booking_moment(begins)
            self.visits.append(_Visit(index, begins, begins + timedelta(minutes=length), service,
                                      booked, by_phone))
            minute += length

    def _book_visits(self) -> None:
        """Decide when and how each visit was booked, by whom, and what became of it."""
        self.visits.sort(key=lambda v: v.created_at)
        new_households = [h for h in self.households if h.new]
        window = self.window
        phone_bookings = sum(1 for v in self.visits if v.by_phone and v.created_at >= window)
        p_new = min(0.9, 0.85 * len(new_households) / max(phone_bookings, 1))
        self.old_patients = [i for h in self.households if not h.new for i in h.members]
        pending = iter(new_households)
        for visit in list(self.visits):
            by_phone_now = visit.by_phone and visit.created_at >= window
            household = next(pending, None) if by_phone_now and self.rng.random() < p_new else None
            if household is not None:
                visit.patient = household.members[0]
            else:
                visit.patient = self._returning_patient()
            visit.status = self._status(visit)
            if visit.by_phone:
                visit.call = self._booking_call(visit, household)
            if visit.status is AppointmentStatus.CANCELLED and self.rng.random() < 0.7:
                self._status_call(visit, CallOutcome.CANCELLED)
            elif self.rng.random() < 0.04:
                self._reschedule(visit)
        self.leftover = list(pending)

    def _returning_patient(self) -> int:
        if self.joined and (self.rng.random() < 0.3 or not self.old_patients):
            return self.joined[self.rng.randrange(len(self.joined))]
        return self.old_patients[self.rng.randrange(len(self.old_patients))]

    def _booking_moment(self, starts: datetime) -> tuple[datetime, bool]:
        local_day = starts.astimezone(self.zone).date()
        lead = self.rng.choices((0, 1, 2, 3, 5, 7, 10, 14, 21, 28), (8, 14, 12, 10, 10, 12, 10, 10, 8, 6))[0]
        by_phone = self.rng.random() < 0.6
        latest = min(local_day - timedelta(days=lead), self.today - timedelta(days=1))
        limit = min(starts - timedelta(hours=1), self.cutoff)
        busiest = max(WEEKDAY_WEIGHTS)
        for back in range(10):
            day = latest - timedelta(days=back)
            if back < 9 and self.rng.random() * busiest > WEEKDAY_WEIGHTS[day.weekday()]:
                continue  # fewer people phone at the weekend
            moment = self._moment(day, open_only=True, before=limit)
            if moment is not None:
                return moment, by_phone
        # Booked long ago at the desk (only reachable for visits at the very start of the window).
        return starts - timedelta(days=lead + 10), False

    def _status(self, visit: _Visit) -> AppointmentStatus:
        ahead = (visit.starts.astimezone(self.zone).date() - self.today).days
        r = self.rng.random()
        if ahead < 0:
            if r < 0.07:
                return AppointmentStatus.NO_SHOW
            if r < 0.17:
                return AppointmentStatus.CANCELLED
            # Yesterday's desk did not close every visit it checked in.
            return AppointmentStatus.ARRIVED if ahead == -1 and r > 0.8 else AppointmentStatus.COMPLETED
        if r < 0.05:
            return AppointmentStatus.CANCELLED
        if ahead <= 1 and r > 0.9:
            return AppointmentStatus.CALL_BACK
        confirmed = {0: 0.85, 1: 0.5}.get(ahead, 0.03)
        return AppointmentStatus.CONFIRMED if r < 0.05 + confirmed else AppointmentStatus.BOOKED

    def _booking_call(self, visit: _Visit, household: _Household | None) -> int | None:
        if visit.created_at < self._at(self.first_day, time(0, 0)):
            return None
        patient = visit.patient
        if household is not None:
            tracking = self.rng.choices(range(len(self.tracking)), self.new_weights[True])[0]
            call = _Call(visit.created_at, household.phone, tracking, patient, CallOutcome.BOOKED,
                         joins=list(household.members))
            for member in household.members:
                self.acquired[member] = tracking
                self.joined_at[member] = visit.created_at
                self.joined.append(member)
        else:
            call = _Call(visit.created_at, self._number_of(patient), self._known_tracking(patient),
                         patient, CallOutcome.BOOKED)
        call.talk = self.rng.randint(120, 420)
        self.calls.append(call)
        return len(self.calls) - 1

    def _number_of(self, patient: int) -> str:
        numbers = self.numbers[patient]
        return numbers[0] if len(numbers) == 1 or self.rng.random() < 0.7 else numbers[1]

    def _known_tracking(self, patient: int) -> int:
        return self.acquired[patient] if self.rng.random() < 0.4 else 0

    def _status_call(self, visit: _Visit, outcome: CallOutcome) -> None:
        limit = min(visit.starts, self.cutoff)
        span = (limit - visit.created_at).days
        day = (visit.created_at + timedelta(days=self.rng.randint(0, max(span, 0)))).astimezone(self.zone).date()
        moment = self._moment(day, open_only=True, before=limit)
        if moment is None or moment <= visit.created_at or moment < self.window:
            return
        call = _Call(moment, self._number_of(visit.patient), self._known_tracking(visit.patient),
                     visit.patient, outcome, talk=self.rng.randint(40, 240))
        self.calls.append(call)

    def _reschedule(self, visit: _Visit) -> None:
        """The visit was first booked for an earlier day and moved by a phone call."""
        shift = timedelta(days=self.rng.randint(1, 10))
        original = _Visit(visit.doctor, visit.starts - shift, visit.ends - shift, visit.service,
                          visit.created_at, visit.by_phone, visit.patient,
                          AppointmentStatus.RESCHEDULED)
        limit = min(original.starts, self.cutoff)
        if limit - visit.created_at < timedelta(hours=6) or visit.created_at < self.window:
            return
        moved = visit.created_at + (limit - visit.created_at) * self.rng.random()
        moment = self._moment(moved.astimezone(self.zone).date(), open_only=True, before=limit)
        if moment is None or moment <= visit.created_at:
            return
        # The original keeps the booking call; the moved visit is created by the rescheduling one.
        original.call, visit.call = visit.call, len(self.calls)
        self.visits.append(original)
        visit.moved_from = len(self.visits) - 1
        visit.created_at = moment
        self.calls.append(_Call(moment, self._number_of(visit.patient),
                                self._known_tracking(visit.patient), visit.patient,
                                CallOutcome.RESCHEDULED, talk=self.rng.randint(90, 240)))

    def _add_other_calls(self) -> None:
        """Questions, confirmations, complaints, new callers who did not book, vendors, hidden."""
        days = self._days(self.first_day, self.today)
        weights = [WEEKDAY_WEIGHTS[d.weekday()] * (0.2 if d in self.days_off else 1) for d in days]
        cumulative = list(accumulate(weights))
        booked_new = sum(1 for c in self.calls if c.joins)
        booked = sum(1 for c in self.calls if c.outcome is CallOutcome.BOOKED)
        plan = ((self._new_caller_call, booked_new + len(self.leftover)),
                (self._repeat_question, int(booked * 0.35)),
                (self._vendor_call, int(booked * 0.10)),
                (self._hidden_call, int(booked * 0.05)))
        for make, count in plan:
            for _ in range(count):
                day = days[bisect_right(cumulative, self.rng.random() * cumulative[-1])]
                moment = self._moment(day, open_only=True)
                if moment is not None:
                    make(moment)
        # The number nobody registered only appeared last month (a partner's leaflet, say).
        for _ in range(max(3, booked // 200)):
            moment = self._moment(self.today - timedelta(days=self.rng.randint(1, 30)), open_only=True)
            if moment is not None:
                self.calls.append(_Call(moment, self.phones.take(self.region, "mobile"),
                                        len(self.tracking) - 1, None, CallOutcome.INFORMATION,
                                        talk=self.rng.randint(40, 200)))

    def _new_caller_call(self, moment: datetime) -> None:
        tracking = self.rng.choices(range(len(self.tracking)), self.new_weights[False])[0]
        household = self.leftover.pop() if self.leftover else None
        if household is not None:  # a lead: left a name and number, did not book
            call = _Call(moment, household.phone, tracking, household.members[0],
                         CallOutcome.INFORMATION, joins=list(household.members))
            for member in household.members:
                self.joined_at[member] = moment
                self.acquired[member] = tracking
                self.leads.add(member)
        else:
            call = _Call(moment, self.phones.take(self.region, "mobile"), tracking, None,
                         CallOutcome.INFORMATION)
        call.talk = self.rng.randint(40, 300)
        self.calls.append(call)

    def _repeat_question(self, moment: datetime) -> None:
        patient = self._patient_known_at(moment)
        if patient is None:
            return
        outcome = self.rng.choices((CallOutcome.INFORMATION, CallOutcome.CONFIRMED,
                                    CallOutcome.COMPLAINT), (0.75, 0.22, 0.03))[0]
        talk = self.rng.randint(180, 600) if outcome is CallOutcome.COMPLAINT else self.rng.randint(30, 240)
        self.calls.append(_Call(moment, self._number_of(patient), self._known_tracking(patient),
                                patient, outcome, talk=talk))

    def _patient_known_at(self, moment: datetime) -> int | None:
        for _ in range(5):
            patient = self._returning_patient()
            joined = self.joined_at[patient]
            if joined is None or joined < moment:
                return patient
        return None

    def _vendor_call(self, moment: datetime) -> None:
        wrong = self.rng.random() < 0.2
        number = self.phones.take(self.region, "mobile" if wrong else "landline")
        self.calls.append(_Call(moment, number, 0, None,
                                CallOutcome.WRONG_NUMBER if wrong else CallOutcome.NON_PATIENT,
                                non_patient=True,
                                talk=self.rng.randint(5, 20) if wrong else self.rng.randint(20, 150)))

    def _hidden_call(self, moment: datetime) -> None:
        self.calls.append(_Call(moment, None, self.rng.choice((0, 0, 1, 2)), None,
                                CallOutcome.INFORMATION, talk=self.rng.randint(30, 200)))

    def _add_missed_calls(self) -> None:
        """Attempts that got through on a later try, ones the desk rang back, after-hours ones."""
        answered = [i for i, c in enumerate(self.calls) if c.caller and not c.non_patient]
        for index in answered:
            call = self.calls[index]
            r = self.rng.random()
            if r < 0.09:  # the caller tried again and got through
                earlier = call.started - timedelta(minutes=self.rng.randint(2, 90))
                if earlier < self.window:
                    continue
                self.calls.append(_Call(earlier, call.caller, call.tracking, None, None,
                                        callback=index, callback_at=call.started))
            elif r < 0.12 and not call.joins:  # the desk saw it and rang back
                missed = call.started + timedelta(minutes=self.rng.randint(30, 240))
                done = missed + timedelta(minutes=self.rng.randint(5, 60))
                if done < self.cutoff and self._is_open(missed):
                    self.calls.append(_Call(missed, call.caller, call.tracking, None, None,
                                            callback_at=done))
        for _ in range(len(answered) // 25):
            call = self.calls[self.rng.choice(answered)]
            day = call.started.astimezone(self.zone).date()
            hours = self._open_hours(day)
            if hours is None:
                continue
            missed = self._at(day, time(hours[1], self.rng.randrange(60)))
            rang_back = self._moment(day + timedelta(days=1), open_only=True)
            done = rang_back if rang_back is not None and rang_back < self.cutoff else None
            if missed < self.cutoff and not call.joins:
                self.calls.append(_Call(missed, call.caller, call.tracking, None, None, callback_at=done))

    def _plan_history(self) -> None:
        """Treatments from before the half year, so recall lists have something to work with."""
        kinds = list(TreatmentType)
        weights = [6 if k in (TreatmentType.FILLING, TreatmentType.CLEANING) else 2 for k in kinds]
        for n, patient in enumerate(self.old_patients):
            if n >= len(kinds) and self.rng.random() > 0.35:
                continue
            kind = kinds[n] if n < len(kinds) else self.rng.choices(kinds, weights)[0]
            days_ago = self.rng.randint(HISTORY_DAYS + 1, 730)
            self.history.append((patient, kind, self.today - timedelta(days=days_ago)))

    # ---- writing -------------------------------------------------------------------------
    def write(self, session: Session, timezone: str) -> str:
        founded = self._at(self.first_day - timedelta(days=6 * 365), time(9, 0))
        name = data.label(data.CLINIC_NAME, self.locale)
        clinic = _ids(session, Clinic, [{
            "name": name, "timezone": timezone, "locale": self.locale, "region": self.region,
            "address": data.label(data.CLINIC_ADDRESS, self.locale), "opening_hours": OPENING_HOURS,
            "created_at": founded}])[0]
        session.execute(insert(DayOff), [{"clinic_id": clinic, "day": day, "reason": data.label(why, self.locale)}
                                         for day, why in sorted(self.days_off.items())])
        channels = _ids(session, Channel, [
            {"code": c.code, "name": data.label(c.labels, self.locale), "offered_as_answer": True}
            for c in data.CHANNELS])
        calls, order = self.calls, sorted(range(len(self.calls)), key=lambda i: self.calls[i].started)
        unregistered_since = min((calls[i].started for i in order if calls[i].tracking == len(self.tracking) - 1),
                                 default=self.cutoff)
        tracking = _ids(session, TrackingNumber, [
            {"clinic_id": clinic, "e164": e164, "channel_id": None if ch is None else channels[ch],
             "label": label, "auto_created": not label,
             "created_at": unregistered_since if not label else founded}
            for ch, e164, label in self.tracking])
        staff, agents = self._write_staff(session, clinic, founded)
        patients = self._write_patients(session, clinic, founded)
        call_ids = self._write_calls(session, clinic, order, patients, tracking, channels, agents)
        visits = self._write_visits(session, clinic, patients, staff, call_ids)
        return (f"clinic '{name}' ({timezone}): {len(patients)} patients "
                f"({len(self.leads)} leads), {len(self.doctors)} doctors, {len(agents)} receptionists, "
                f"{visits} appointments, {self.treatments} treatments, {len(call_ids)} calls to "
                f"{len(self.tracking)} numbers, "
                f"{self.today - timedelta(days=HISTORY_DAYS)} to {self.today + timedelta(days=FUTURE_DAYS)}")

    def _write_staff(self, session: Session, clinic: int, founded: datetime
                     ) -> tuple[list[int], list[tuple[int, str, tuple[set[int], int, int]]]]:
        """Doctors (ids by doctor index) and receptionists (id, extension, shift)."""
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
        ids = _ids(session, Staff, rows)
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

    def _write_patients(self, session: Session, clinic: int, founded: datetime) -> list[int]:
        span = int((self.window - founded).total_seconds())
        rows = []
        for index, person in enumerate(self.people):
            joined = self.joined_at[index] or founded + timedelta(seconds=self.rng.randrange(span))
            lead = index in self.leads
            rows.append({**person, "clinic_id": clinic, "is_lead": lead, "created_at": joined,
                         "birth_date": None if lead else person["birth_date"],
                         "consent_marketing": person["consent_marketing"] and not lead})
        ids = _ids(session, Patient, rows)
        phones = [{"patient_id": ids[i], "e164": h.phone, "label": "home" if h.phone.startswith(
            self.tracking[0][1][:5]) else "mobile"} for h in self.households for i in h.members]
        phones += [{"patient_id": ids[i], "e164": number, "label": label}
                   for i, number, label in self.extra_phones]
        session.execute(insert(PatientPhone), phones)
        return ids

    def _write_calls(self, session: Session, clinic: int, order: list[int], patients: list[int],
                     tracking: list[int], channels: list[int],
                     agents: list[tuple[int, str, tuple[set[int], int, int]]]) -> dict[int, int]:
        """Calls in time order; who the caller was is worked out as the desk would have then."""
        seen: set[str] = set()
        rows, candidates = [], []
        answer_weights = [spec.share or 0.04 for spec in data.CHANNELS]
        for position, index in enumerate(order):
            call = self.calls[index]
            known = [p for p in self.owners.get(call.caller or "", [])
                     if (self.joined_at[p] or call.started) < call.started or self.joined_at[p] is None]
            kind, first_time = self._caller_kind(call, known, seen)
            if call.caller:
                seen.add(call.caller)
            patient = call.patient if call.outcome else (known[0] if len(known) == 1 else None)
            if len(known) > 1:
                candidates.append((position, known))
            channel = self.tracking[call.tracking][0]
            heard, note = None, ""
            if kind is CallerKind.NEW and call.outcome and self.rng.random() < 0.85:
                heard = channel if channel is not None and self.rng.random() < 0.7 else \
                    self.rng.choices(range(len(data.CHANNELS)), answer_weights)[0]
                if data.CHANNELS[heard].code in ("referral", "insurance") and self.rng.random() < 0.3:
                    note = data.label(self.rng.choice(data.HEARD_FROM_NOTES), self.locale)
            ring = timedelta(seconds=self.rng.randint(3, 25) if call.outcome else self.rng.randint(10, 45))
            answered = call.started + ring if call.outcome else None
            ended = answered + timedelta(seconds=call.talk) if answered else call.started + ring
            agent = self._agent(call.started, agents) if call.outcome else None
            rows.append({
                "clinic_id": clinic, "provider": "demo", "provider_call_id": f"demo-{position + 1:06d}",
                "direction": CallDirection.INBOUND, "caller": call.caller,
                "caller_raw": self._raw(call.caller), "dialed": self.tracking[call.tracking][1],
                "tracking_number_id": tracking[call.tracking],
                "channel_id": None if channel is None else channels[channel],
                "patient_id": None if patient is None else patients[patient],
                "caller_kind": kind, "first_time": first_time,
                "agent_id": agent[0] if agent else None, "extension": agent[1] if agent else None,
                "started_at": call.started, "ringing_at": call.started, "answered_at": answered,
                "ended_at": ended, "duration": call.talk if call.outcome else 0,
                "status": CallStatus.COMPLETED if call.outcome else CallStatus.MISSED,
                "outcome": call.outcome,
                "heard_from_channel_id": None if heard is None else channels[heard],
                "heard_from_note": note, "callback_done_at": call.callback_at, "updated_at": ended,
            })
        ids = _ids(session, Call, rows)
        by_index = {index: ids[position] for position, index in enumerate(order)}
        callbacks = [{"id": by_index[i], "callback_call_id": by_index[c.callback]}
                     for i, c in enumerate(self.calls) if c.callback is not None]
        if callbacks:
            session.execute(update(Call), callbacks)
        links = [{"call_id": ids[position], "patient_id": patients[p]}
                 for position, known in candidates for p in known]
        if links:
            session.execute(insert(CallCandidate), links)
        return by_index

    @staticmethod
    def _caller_kind(call: _Call, known: list[int], seen: set[str]) -> tuple[CallerKind, bool]:
        if call.caller is None:
            return CallerKind.HIDDEN, False
        if call.non_patient:
            return CallerKind.NON_PATIENT, call.caller not in seen
        if known:
            return (CallerKind.FAMILY if len(known) > 1 else CallerKind.REPEAT), False
        return CallerKind.NEW, call.caller not in seen

    def _agent(self, moment: datetime,
               agents: list[tuple[int, str, tuple[set[int], int, int]]]) -> tuple[int, str]:
        local = moment.astimezone(self.zone)
        on_shift = [(i, ext) for i, ext, (days, start, end) in agents
                    if local.weekday() in days and start <= local.hour < end]
        return self.rng.choice(on_shift or [(i, ext) for i, ext, _ in agents])

    def _raw(self, e164: str | None) -> str:
        """The caller id as a PBX here would send it: home numbers without the plus."""
        if e164 is None:
            return "anonymous"
        home = self.tracking[0][1][:2]
        return e164[1:] if e164.startswith(home) else e164

    def _write_visits(self, session: Session, clinic: int, patients: list[int], doctors: list[int],
                      calls: dict[int, int]) -> int:
        rows = []
        for visit in self.visits:
            price = Decimal(visit.service.price) * Decimal(self.rng.choice((1, 1, 1, 1.1, 1.2, 0.9)))
            rows.append({
                "clinic_id": clinic, "patient_id": patients[visit.patient],
                "doctor_id": doctors[visit.doctor], "starts_at": visit.starts, "ends_at": visit.ends,
                "service": data.label(visit.service.labels, self.locale), "status": visit.status,
                "price": price.quantize(Decimal("1.00")),
                "created_by_call_id": None if visit.call is None else calls[visit.call],
                "created_at": visit.created_at, "updated_at": max(visit.created_at, min(visit.ends, self.cutoff)),
            })
        ids = _ids(session, Appointment, rows)
        moved = [{"id": ids[n], "rescheduled_from_id": ids[v.moved_from]}
                 for n, v in enumerate(self.visits) if v.moved_from is not None]
        if moved:
            session.execute(update(Appointment), moved)
        treatments = [
            {"clinic_id": clinic, "patient_id": patients[v.patient], "doctor_id": doctors[v.doctor],
             "appointment_id": ids[n], "type": v.service.treatment,
             "performed_on": v.starts.astimezone(self.zone).date()}
            for n, v in enumerate(self.visits)
            if v.status is AppointmentStatus.COMPLETED and v.service.treatment is not None]
        by_type = {s.treatment: n for n, d in enumerate(self.doctors) for s in d.services}
        treatments += [{"clinic_id": clinic, "patient_id": patients[p], "doctor_id": doctors[by_type[kind]],
                        "appointment_id": None, "type": kind, "performed_on": day}
                       for p, kind, day in self.history]
        session.execute(insert(Treatment), treatments)
        self.treatments = len(treatments)
        return len(rows)


def _staff_row(clinic: int, role: StaffRole, founded: datetime, last: str, first: str,
               patronymic: str, **extra: Any) -> dict[str, Any]:
    row = {"clinic_id": clinic, "role": role, "login": None, "password_hash": None,
           "last_name": last, "first_name": first, "patronymic": patronymic, "locale": "ru",
           "sip_extension": None, "specialties": [], "active": True, "created_at": founded}
    row.update(extra)
    return row


def _ids(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> list[int]:
    """Bulk insert with primary keys numbered here, so links need no RETURNING round trip.

    RETURNING in bulk goes row by row on SQLite; numbering from max(id) is safe because the
    demo loads into a database nobody else is writing to at that moment.
    """
    first = (session.scalar(select(func.max(model.id))) or 0) + 1
    ids = list(range(first, first + len(rows)))
    if not rows:
        return ids
    session.execute(insert(model), [{**row, "id": id_} for id_, row in zip(ids, rows, strict=True)])
    if session.get_bind().dialect.name == "postgresql":
        # Explicit keys leave the serial sequence behind; live inserts must continue after them.
        session.execute(text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :last)"),
                        {"table": model.__tablename__, "last": ids[-1]})
    return ids
