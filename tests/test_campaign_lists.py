"""List builders and their date logic: hand-made clinics, days off, DST, idempotency."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.followup_table import parse_overrides, schedule
from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Call,
    CallDirection,
    CallStatus,
    Clinic,
    DayOff,
    DialTask,
    OptOut,
    Staff,
    StaffRole,
    TaskPurpose,
    Treatment,
    TreatmentType,
)
from callcenter.outbound import lists
from callcenter.outbound.workdays import (
    ClinicCalendar,
    ConfirmationRun,
    Part,
    confirmation_runs,
    confirmed_at_booking,
    next_call_time,
)
from tests import factories as f

MSK = ZoneInfo("Europe/Moscow")
WEEKDAYS_9_TO_21 = {day: [["09:00", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
EVENING = (time(16), time(20))
MORNING = (time(9), time(11))
# Tuesday 2026-03-10, 12:00 in Moscow.
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def _calendar(days_off: tuple[date, ...] = (), tz: str = "Europe/Moscow",
              hours: dict | None = None) -> ClinicCalendar:
    return ClinicCalendar.build(tz, WEEKDAYS_9_TO_21 if hours is None else hours, days_off)


# ---- pure date logic ----------------------------------------------------------------------------

def test_an_ordinary_weekday_calls_all_of_tomorrow_in_the_evening() -> None:
    runs = confirmation_runs(date(2026, 3, 10), _calendar(), EVENING, MORNING)
    assert runs == [ConfirmationRun(date(2026, 3, 10), date(2026, 3, 11), Part.ALL, EVENING)]


def test_friday_calls_the_first_half_of_monday_and_monday_morning_its_second_half() -> None:
    calendar = _calendar()
    friday = confirmation_runs(date(2026, 3, 13), calendar, EVENING, MORNING)
    assert friday == [ConfirmationRun(date(2026, 3, 13), date(2026, 3, 16), Part.FIRST_HALF, EVENING)]
    monday = confirmation_runs(date(2026, 3, 16), calendar, EVENING, MORNING)
    assert monday == [
        ConfirmationRun(date(2026, 3, 16), date(2026, 3, 16), Part.SECOND_HALF, MORNING),
        ConfirmationRun(date(2026, 3, 16), date(2026, 3, 17), Part.ALL, EVENING),
    ]
    assert confirmation_runs(date(2026, 3, 14), calendar, EVENING, MORNING) == []


def test_a_holiday_in_midweek_splits_the_day_after_it() -> None:
    calendar = _calendar(days_off=(date(2026, 3, 11),))
    tuesday = confirmation_runs(date(2026, 3, 10), calendar, EVENING, MORNING)
    assert tuesday == [ConfirmationRun(date(2026, 3, 10), date(2026, 3, 12), Part.FIRST_HALF, EVENING)]
    assert confirmation_runs(date(2026, 3, 11), calendar, EVENING, MORNING) == []
    thursday = confirmation_runs(date(2026, 3, 12), calendar, EVENING, MORNING)
    assert thursday[0] == ConfirmationRun(date(2026, 3, 12), date(2026, 3, 12), Part.SECOND_HALF, MORNING)


def test_half_of_the_day_is_the_middle_of_opening_hours() -> None:
    assert _calendar().split(date(2026, 3, 10)) == time(15, 0)
    split_shift = {"mon": [["08:00", "12:00"], ["14:00", "20:00"]]}
    assert _calendar(hours=split_shift).split(date(2026, 3, 9)) == time(14, 0)


def test_no_opening_hours_means_monday_to_friday() -> None:
    calendar = ClinicCalendar.build("Europe/Moscow", {}, ())
    assert [calendar.is_working(date(2026, 3, 9) + timedelta(days=d)) for d in range(7)] == [
        True, True, True, True, True, False, False]


def test_booked_today_for_today_or_the_next_working_day_is_confirmed_at_booking() -> None:
    calendar = _calendar()
    friday_noon = datetime(2026, 3, 13, 9, 0, tzinfo=UTC)
    assert confirmed_at_booking(friday_noon, datetime(2026, 3, 13, 14, tzinfo=UTC), calendar)
    assert confirmed_at_booking(friday_noon, datetime(2026, 3, 16, 7, tzinfo=UTC), calendar)
    assert not confirmed_at_booking(friday_noon, datetime(2026, 3, 17, 7, tzinfo=UTC), calendar)
    wednesday = friday_noon - timedelta(days=2)
    assert not confirmed_at_booking(wednesday, datetime(2026, 3, 13, 14, tzinfo=UTC), calendar)


def test_windows_follow_the_local_clock_across_dst() -> None:
    berlin = _calendar(tz="Europe/Berlin")
    # 16:00 in Berlin is 15:00 UTC in winter and 14:00 UTC in summer.
    assert berlin.at(date(2026, 3, 27), time(16)) == datetime(2026, 3, 27, 15, tzinfo=UTC)
    assert berlin.at(date(2026, 3, 30), time(16)) == datetime(2026, 3, 30, 14, tzinfo=UTC)
    # 02:30 does not exist on 29 March: it lands just after the gap, at 03:00 CEST.
    assert berlin.at(date(2026, 3, 29), time(2, 30)) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert berlin.local_day(datetime(2026, 10, 25, 22, 30, tzinfo=UTC)) == date(2026, 10, 25)


def test_calling_hours_are_on_the_patients_clock_and_skip_days_off() -> None:
    calendar = _calendar(days_off=(date(2026, 3, 11),))
    hours = (time(9), time(21))
    late = datetime(2026, 3, 10, 19, 0, tzinfo=UTC)  # 22:00 in Moscow
    # Wednesday is a holiday: the next allowed moment is Thursday 09:00 Moscow.
    assert next_call_time(late, calendar, MSK, hours) == datetime(2026, 3, 12, 6, 0, tzinfo=UTC)
    assert next_call_time(NOW, calendar, MSK, hours) == NOW
    # A patient in Vladivostok (UTC+10) at 19:00 UTC is asleep; 09:00 there is 23:00 UTC.
    vladivostok = ZoneInfo("Asia/Vladivostok")
    early = datetime(2026, 3, 9, 19, 0, tzinfo=UTC)
    assert next_call_time(early, calendar, vladivostok, hours) == datetime(2026, 3, 9, 23, 0, tzinfo=UTC)


def test_follow_up_table_overrides_are_validated() -> None:
    assert schedule("filling=1,30")[TreatmentType.FILLING] == (1, 30)
    assert schedule("")[TreatmentType.PROSTHETICS] == (1, 7, 30, 90, 180, 360)
    with pytest.raises(ValueError, match="unknown treatment 'veneer'"):
        parse_overrides("veneer=1")
    with pytest.raises(ValueError, match="positive"):
        parse_overrides("filling=0")


# ---- builders on a real database ------------------------------------------------------------------

@pytest.fixture
def clinic(session: Session) -> Clinic:
    row = f.clinic(session, opening_hours=WEEKDAYS_9_TO_21)
    session.add(Staff(clinic_id=row.id, role=StaffRole.DOCTOR, first_name="Olga", last_name="Doc"))
    session.flush()
    return row


def _doctor(session: Session, clinic: Clinic) -> int:
    return session.scalar(select(Staff.id).where(Staff.clinic_id == clinic.id))  # type: ignore[return-value]


def _visit(session: Session, clinic: Clinic, patient_id: int, local: datetime,
           status: AppointmentStatus = AppointmentStatus.BOOKED,
           created: datetime | None = None) -> Appointment:
    starts = local.replace(tzinfo=MSK).astimezone(UTC)
    row = Appointment(clinic_id=clinic.id, patient_id=patient_id, doctor_id=_doctor(session, clinic),
                      starts_at=starts, ends_at=starts + timedelta(minutes=30), status=status,
                      created_at=created or NOW - timedelta(days=5))
    session.add(row)
    session.flush()
    return row


def _treated(session: Session, clinic: Clinic, patient_id: int, kind: TreatmentType, days_ago: int,
             today: date = date(2026, 3, 10)) -> Treatment:
    row = Treatment(clinic_id=clinic.id, patient_id=patient_id, type=kind,
                    performed_on=today - timedelta(days=days_ago))
    session.add(row)
    session.flush()
    return row


def _save(session: Session, tasks: list[DialTask]) -> int:
    added = lists.save_new(session, tasks, {})
    session.commit()
    return added


def test_confirmations_for_tomorrow_skip_settled_and_protected_patients(session: Session, clinic: Clinic) -> None:
    ann = f.patient(session, clinic, "+79001110001")
    bob = f.patient(session, clinic, "+79001110002")
    new = f.patient(session, clinic, "+79001110003")
    done = f.patient(session, clinic, "+79001110004")
    quiet = f.patient(session, clinic, "+79001110005")
    nocall = f.patient(session, clinic, "+79001110006", consent_calls=False)
    session.add(OptOut(e164="+79001110005", scope="all"))
    a = _visit(session, clinic, ann.id, datetime(2026, 3, 11, 10, 0))
    b = _visit(session, clinic, bob.id, datetime(2026, 3, 11, 18, 0))
    booked_today = _visit(session, clinic, new.id, datetime(2026, 3, 11, 12, 0), created=NOW)
    _visit(session, clinic, done.id, datetime(2026, 3, 11, 11, 0), status=AppointmentStatus.CONFIRMED)
    _visit(session, clinic, quiet.id, datetime(2026, 3, 11, 13, 0))
    _visit(session, clinic, nocall.id, datetime(2026, 3, 11, 14, 0))
    _visit(session, clinic, ann.id, datetime(2026, 3, 12, 10, 0))  # the day after: not yet

    tasks = lists.build_confirmations(session, clinic, NOW)
    assert sorted((t.patient_id, t.appointment_id, t.phone) for t in tasks) == [
        (ann.id, a.id, "+79001110001"), (bob.id, b.id, "+79001110002")]
    assert {t.due_date for t in tasks} == {date(2026, 3, 11)}
    # Called today 16:00–20:00 Moscow.
    assert {(t.next_attempt_at, t.deadline_at) for t in tasks} == {
        (datetime(2026, 3, 10, 13, tzinfo=UTC), datetime(2026, 3, 10, 17, tzinfo=UTC))}
    assert lists.bookings_confirmed_at_booking(session, clinic, NOW) == [booked_today.id]

    assert _save(session, tasks) == 2
    assert lists.build_confirmations(session, clinic, NOW) == []
    assert _save(session, lists.build_confirmations(session, clinic, NOW + timedelta(hours=1))) == 0


def test_before_a_weekend_only_mondays_first_half_is_called(session: Session, clinic: Clinic) -> None:
    ann = f.patient(session, clinic, "+79001110001")
    bob = f.patient(session, clinic, "+79001110002")
    morning = _visit(session, clinic, ann.id, datetime(2026, 3, 16, 10, 0))
    afternoon = _visit(session, clinic, bob.id, datetime(2026, 3, 16, 16, 0))
    friday = datetime(2026, 3, 13, 9, 0, tzinfo=UTC)
    assert [t.appointment_id for t in lists.build_confirmations(session, clinic, friday)] == [morning.id]
    _save(session, lists.build_confirmations(session, clinic, friday))
    monday = datetime(2026, 3, 16, 5, 0, tzinfo=UTC)  # 08:00 Moscow
    tasks = lists.build_confirmations(session, clinic, monday)
    assert [t.appointment_id for t in tasks] == [afternoon.id]
    # The morning run calls 09:00–11:00.
    assert tasks[0].next_attempt_at == datetime(2026, 3, 16, 6, 0, tzinfo=UTC)


def test_a_day_off_in_the_database_moves_the_run(session: Session, clinic: Clinic) -> None:
    ann = f.patient(session, clinic, "+79001110001")
    _visit(session, clinic, ann.id, datetime(2026, 3, 12, 10, 0))
    session.add(DayOff(clinic_id=clinic.id, day=date(2026, 3, 11), reason="holiday"))
    session.flush()
    tasks = lists.build_confirmations(session, clinic, NOW)
    assert [(t.patient_id, t.due_date) for t in tasks] == [(ann.id, date(2026, 3, 12))]


def test_follow_ups_by_treatment_type(session: Session, clinic: Clinic) -> None:
    filled = f.patient(session, clinic, "+79001110001")
    pulled = f.patient(session, clinic, "+79001110002")
    booked = f.patient(session, clinic, "+79001110003")
    implant_only = f.patient(session, clinic, "+79001110004")
    crowned = f.patient(session, clinic, "+79001110005")
    filling = _treated(session, clinic, filled.id, TreatmentType.FILLING, 90)
    extraction = _treated(session, clinic, pulled.id, TreatmentType.EXTRACTION, 1)
    _treated(session, clinic, booked.id, TreatmentType.FILLING, 1)
    _visit(session, clinic, booked.id, datetime(2026, 3, 20, 10, 0))
    implant = _treated(session, clinic, implant_only.id, TreatmentType.IMPLANT, 60)
    _treated(session, clinic, crowned.id, TreatmentType.IMPLANT, 60)
    _treated(session, clinic, crowned.id, TreatmentType.IMPLANT_CROWN, 20)
    _treated(session, clinic, filled.id, TreatmentType.CLEANING, 5)  # its day 1 is past catching up

    tasks = lists.build_follow_ups(session, clinic, NOW)
    assert sorted((t.patient_id, t.treatment_id, t.due_date) for t in tasks) == sorted([
        (filled.id, filling.id, date(2026, 3, 10)),
        (pulled.id, extraction.id, date(2026, 3, 10)),
        (implant_only.id, implant.id, date(2026, 3, 10)),
    ])
    assert all(t.purpose is TaskPurpose.FOLLOW_UP for t in tasks)
    assert _save(session, tasks) == 3
    assert lists.build_follow_ups(session, clinic, NOW) == []


def test_a_follow_up_missed_while_down_is_caught_up(session: Session, clinic: Clinic) -> None:
    late = f.patient(session, clinic, "+79001110001")
    _treated(session, clinic, late.id, TreatmentType.ROOT_CANAL, 17)  # day 15 was two days ago
    tasks = lists.build_follow_ups(session, clinic, NOW)
    assert [(t.patient_id, t.due_date) for t in tasks] == [(late.id, date(2026, 3, 8))]


def test_recall_after_the_last_treatment_only(session: Session, clinic: Clinic) -> None:
    due = f.patient(session, clinic, "+79001110001")
    came_back = f.patient(session, clinic, "+79001110002")
    year = f.patient(session, clinic, "+79001110003")
    _treated(session, clinic, due.id, TreatmentType.ROOT_CANAL, 180)
    _treated(session, clinic, came_back.id, TreatmentType.ROOT_CANAL, 180)
    _treated(session, clinic, came_back.id, TreatmentType.CLEANING, 30)
    _treated(session, clinic, year.id, TreatmentType.EXTRACTION, 360)
    tasks = lists.build_recalls(session, clinic, NOW)
    assert sorted(t.patient_id for t in tasks) == [due.id, year.id]
    assert {t.purpose for t in tasks} == {TaskPurpose.RECALL}


def test_no_recall_on_a_day_a_follow_up_already_calls(session: Session, clinic: Clinic) -> None:
    patient = f.patient(session, clinic, "+79001110001")
    _treated(session, clinic, patient.id, TreatmentType.FILLING, 180)
    _save(session, lists.build_follow_ups(session, clinic, NOW))
    assert lists.build_recalls(session, clinic, NOW) == []


def test_no_shows_today_unless_rebooked(session: Session, clinic: Clinic) -> None:
    missed = f.patient(session, clinic, "+79001110001")
    rebooked = f.patient(session, clinic, "+79001110002")
    visit = _visit(session, clinic, missed.id, datetime(2026, 3, 10, 10, 0), status=AppointmentStatus.NO_SHOW)
    _visit(session, clinic, rebooked.id, datetime(2026, 3, 10, 9, 0), status=AppointmentStatus.NO_SHOW)
    _visit(session, clinic, rebooked.id, datetime(2026, 3, 12, 9, 0))
    tasks = lists.build_no_shows(session, clinic, NOW)
    assert [(t.patient_id, t.appointment_id) for t in tasks] == [(missed.id, visit.id)]


def test_missed_calls_become_one_top_priority_call_back_per_caller(session: Session, clinic: Clinic) -> None:
    def missed(caller: str, minutes_ago: int, returned: bool = False) -> Call:
        row = Call(clinic_id=clinic.id, provider="test", provider_call_id=f"{caller}-{minutes_ago}",
                   direction=CallDirection.INBOUND, caller=caller, status=CallStatus.MISSED,
                   started_at=NOW - timedelta(minutes=minutes_ago),
                   callback_done_at=NOW if returned else None)
        session.add(row)
        session.flush()
        return row

    first = missed("+79005550001", 30)
    missed("+79005550001", 10)
    missed("+79005550002", 20, returned=True)
    tasks = lists.build_missed_calls(session, clinic, NOW)
    assert [(t.phone, t.call_id, t.priority) for t in tasks] == [("+79005550001", first.id, 0)]
    _save(session, tasks)
    assert lists.build_missed_calls(session, clinic, NOW) == []


def test_booking_drops_a_patient_from_the_after_care_lists(session: Session, clinic: Clinic) -> None:
    patient = f.patient(session, clinic, "+79001110001")
    _treated(session, clinic, patient.id, TreatmentType.FILLING, 90)
    _save(session, lists.build_follow_ups(session, clinic, NOW))
    assert lists.tasks_dropped_by_booking(session, clinic, NOW) == []
    _visit(session, clinic, patient.id, datetime(2026, 3, 20, 10, 0))
    task_id = session.scalar(select(DialTask.id))
    assert lists.tasks_dropped_by_booking(session, clinic, NOW) == [task_id]
