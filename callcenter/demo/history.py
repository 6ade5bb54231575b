"""The demo's appointments and treatments: what the doctors' half year (and the weeks ahead)
looked like, and the phone calls that booked, cancelled or moved those visits.

Visits are planned first, filling the doctors' schedules; only then is each one given a patient
and a booking moment, so a newcomer's first visit is the one their first call booked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    CallOutcome,
    Treatment,
    TreatmentType,
)
from callcenter.demo import data
from callcenter.demo.bulk import insert_numbered
from callcenter.demo.calls import CallLog, PlannedCall
from callcenter.demo.clinic import FUTURE_DAYS, HISTORY_DAYS, WEEKDAY_WEIGHTS, ClinicPlan
from callcenter.demo.people import Doctor, Household, People

VISITS_PER_PATIENT = 0.75  # past appointments per patient over the half year


@dataclass
class Visit:
    doctor: int  # index in People.doctors
    starts: datetime
    ends: datetime
    service: data.Service
    created_at: datetime
    by_phone: bool
    patient: int = -1
    status: AppointmentStatus = AppointmentStatus.BOOKED
    call: int | None = None  # index of the booking call in CallLog.calls
    moved_from: int | None = None  # index of the rescheduled original


class History:
    """Visits (by index in `visits`) and treatments from before the half year."""

    def __init__(self, clinic: ClinicPlan, people: People, log: CallLog) -> None:
        self.clinic, self.people, self.log, self.rng = clinic, people, log, clinic.rng
        self.visits: list[Visit] = []
        self.history: list[tuple[int, TreatmentType, date]] = []

    # ---- planning ----------------------------------------------------------------------
    def plan_visits(self) -> None:
        """Fill each doctor's weekly windows slot by slot, never overlapping."""
        clinic, doctors = self.clinic, self.people.doctors
        past_days = clinic.days(clinic.first_day, clinic.today)
        capacity = sum(self._slots(doc, d) for doc in doctors for d in past_days)
        mean_len = sum(s.slots * w for s, w in zip(doctors[0].services, doctors[0].weights,
                                                      strict=True)) / sum(doctors[0].weights)
        share = min(0.45, self.people.n_patients * VISITS_PER_PATIENT / max(capacity, 1))
        occupancy = min(0.85, share / (1 - share * (mean_len - 1)))
        for day in clinic.days(clinic.first_day, clinic.today + timedelta(days=FUTURE_DAYS)):
            if day in clinic.days_off:
                continue
            ahead = (day - clinic.today).days
            fill = occupancy if ahead < 0 else occupancy * max(0.15, 0.95 - 0.8 * ahead / FUTURE_DAYS)
            for index, doctor in enumerate(doctors):
                for start, end in doctor.windows.get(day.weekday(), []):
                    self._fill_window(index, doctor, day, start, end, fill)

    def _slots(self, doctor: Doctor, day: date) -> int:
        if day in self.clinic.days_off:
            return 0
        return sum((e.hour * 60 + e.minute - s.hour * 60 - s.minute) // doctor.slot
                   for s, e in doctor.windows.get(day.weekday(), []))

    def _fill_window(self, index: int, doctor: Doctor, day: date, start: time, end: time,
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
            begins = self.clinic.at(day, time(minute // 60, minute % 60))
            booked, by_phone = self._booking_moment(begins)
            self.visits.append(Visit(index, begins, begins + timedelta(minutes=length), service,
                                     booked, by_phone))
            minute += length

    def book_visits(self) -> list[Household]:
        """Decide when and how each visit was booked, by whom, and what became of it.

        Returns the new households no booking call brought in: they are left to call as leads.
        """
        self.visits.sort(key=lambda v: v.created_at)
        new_households = [h for h in self.people.households if h.new]
        window = self.clinic.window
        phone_bookings = sum(1 for v in self.visits if v.by_phone and v.created_at >= window)
        p_new = min(0.9, 0.85 * len(new_households) / max(phone_bookings, 1))
        pending = iter(new_households)
        for visit in list(self.visits):
            by_phone_now = visit.by_phone and visit.created_at >= window
            household = next(pending, None) if by_phone_now and self.rng.random() < p_new else None
            if household is not None:
                visit.patient = household.members[0]
            else:
                visit.patient = self.people.returning_patient()
            visit.status = self._status(visit)
            if visit.by_phone:
                visit.call = self._booking_call(visit, household)
            if visit.status is AppointmentStatus.CANCELLED and self.rng.random() < 0.7:
                self._status_call(visit, CallOutcome.CANCELLED)
            elif self.rng.random() < 0.04:
                self._reschedule(visit)
        return list(pending)

    def _booking_moment(self, starts: datetime) -> tuple[datetime, bool]:
        clinic = self.clinic
        local_day = starts.astimezone(clinic.zone).date()
        lead = self.rng.choices((0, 1, 2, 3, 5, 7, 10, 14, 21, 28), (8, 14, 12, 10, 10, 12, 10, 10, 8, 6))[0]
        by_phone = self.rng.random() < 0.6
        latest = min(local_day - timedelta(days=lead), clinic.today - timedelta(days=1))
        limit = min(starts - timedelta(hours=1), clinic.cutoff)
        busiest = max(WEEKDAY_WEIGHTS)
        for back in range(10):
            day = latest - timedelta(days=back)
            if back < 9 and self.rng.random() * busiest > WEEKDAY_WEIGHTS[day.weekday()]:
                continue  # fewer people phone at the weekend
            moment = clinic.moment(day, open_only=True, before=limit)
            if moment is not None:
                return moment, by_phone
        # Booked long ago at the desk (only reachable for visits at the very start of the window).
        return starts - timedelta(days=lead + 10), False

    def _status(self, visit: Visit) -> AppointmentStatus:
        ahead = (visit.starts.astimezone(self.clinic.zone).date() - self.clinic.today).days
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

    def _booking_call(self, visit: Visit, household: Household | None) -> int | None:
        if visit.created_at < self.clinic.window:
            return None
        patient = visit.patient
        if household is not None:
            tracking = self.clinic.pick_tracking(True)
            call = PlannedCall(visit.created_at, household.phone, tracking, patient, CallOutcome.BOOKED,
                               joins=list(household.members))
            self.people.join(household, visit.created_at, tracking, lead=False)
        else:
            call = PlannedCall(visit.created_at, self.people.number_of(patient),
                               self.people.known_tracking(patient), patient, CallOutcome.BOOKED)
        call.talk = self.rng.randint(120, 420)
        return self.log.add(call)

    def _status_call(self, visit: Visit, outcome: CallOutcome) -> None:
        clinic = self.clinic
        limit = min(visit.starts, clinic.cutoff)
        span = (limit - visit.created_at).days
        day = (visit.created_at + timedelta(days=self.rng.randint(0, max(span, 0)))).astimezone(clinic.zone).date()
        moment = clinic.moment(day, open_only=True, before=limit)
        if moment is None or moment <= visit.created_at or moment < clinic.window:
            return
        self.log.add(PlannedCall(moment, self.people.number_of(visit.patient),
                                 self.people.known_tracking(visit.patient), visit.patient, outcome,
                                 talk=self.rng.randint(40, 240)))

    def _reschedule(self, visit: Visit) -> None:
        """The visit was first booked for an earlier day and moved by a phone call."""
        clinic = self.clinic
        shift = timedelta(days=self.rng.randint(1, 10))
        original = Visit(visit.doctor, visit.starts - shift, visit.ends - shift, visit.service,
                         visit.created_at, visit.by_phone, visit.patient, AppointmentStatus.RESCHEDULED)
        limit = min(original.starts, clinic.cutoff)
        if limit - visit.created_at < timedelta(hours=6) or visit.created_at < clinic.window:
            return
        moved = visit.created_at + (limit - visit.created_at) * self.rng.random()
        moment = clinic.moment(moved.astimezone(clinic.zone).date(), open_only=True, before=limit)
        if moment is None or moment <= visit.created_at:
            return
        # The original keeps the booking call; the moved visit is created by the rescheduling one.
        original.call = visit.call
        self.visits.append(original)
        visit.moved_from = len(self.visits) - 1
        visit.created_at = moment
        visit.call = self.log.add(PlannedCall(moment, self.people.number_of(visit.patient),
                                              self.people.known_tracking(visit.patient), visit.patient,
                                              CallOutcome.RESCHEDULED, talk=self.rng.randint(90, 240)))

    def plan_history(self) -> None:
        """Treatments from before the half year, so recall lists have something to work with."""
        kinds = list(TreatmentType)
        weights = [6 if k in (TreatmentType.FILLING, TreatmentType.CLEANING) else 2 for k in kinds]
        for n, patient in enumerate(self.people.old_patients):
            if n >= len(kinds) and self.rng.random() > 0.35:
                continue
            kind = kinds[n] if n < len(kinds) else self.rng.choices(kinds, weights)[0]
            days_ago = self.rng.randint(HISTORY_DAYS + 1, 730)
            self.history.append((patient, kind, self.clinic.today - timedelta(days=days_ago)))

    # ---- writing -----------------------------------------------------------------------
    def write(self, session: Session, clinic: int, patients: list[int], doctors: list[int],
              calls: dict[int, int]) -> tuple[int, int]:
        """Appointments and treatments; returns how many of each."""
        rows = []
        for visit in self.visits:
            price = Decimal(visit.service.price) * Decimal(self.rng.choice((1, 1, 1, 1.1, 1.2, 0.9)))
            rows.append({
                "clinic_id": clinic, "patient_id": patients[visit.patient],
                "doctor_id": doctors[visit.doctor], "starts_at": visit.starts, "ends_at": visit.ends,
                "service": data.label(visit.service.labels, self.clinic.locale), "status": visit.status,
                "price": price.quantize(Decimal("1.00")),
                "created_by_call_id": None if visit.call is None else calls[visit.call],
                "created_at": visit.created_at,
                "updated_at": max(visit.created_at, min(visit.ends, self.clinic.cutoff)),
            })
        ids = insert_numbered(session, Appointment, rows)
        moved = [{"id": ids[n], "rescheduled_from_id": ids[v.moved_from]}
                 for n, v in enumerate(self.visits) if v.moved_from is not None]
        if moved:
            session.execute(update(Appointment), moved)
        treatments = [
            {"clinic_id": clinic, "patient_id": patients[v.patient], "doctor_id": doctors[v.doctor],
             "appointment_id": ids[n], "type": v.service.treatment,
             "performed_on": v.starts.astimezone(self.clinic.zone).date()}
            for n, v in enumerate(self.visits)
            if v.status is AppointmentStatus.COMPLETED and v.service.treatment is not None]
        by_type = {s.treatment: n for n, d in enumerate(self.people.doctors) for s in d.services}
        treatments += [{"clinic_id": clinic, "patient_id": patients[p], "doctor_id": doctors[by_type[kind]],
                        "appointment_id": None, "type": kind, "performed_on": day}
                       for p, kind, day in self.history]
        session.execute(insert(Treatment), treatments)
        return len(rows), len(treatments)
