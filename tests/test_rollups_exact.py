"""The roll-ups are exact: every report read from them equals the same report computed from the raw
rows, on random calls and bookings across clinics in three time zones and their DST changes, after
each round of changes (late calls, re-attributed numbers, bookings arriving or cancelled later,
calls deleted, family phones added), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.orm import Session

from callcenter.analytics import RAW_BUILDS, REPORTS, Filters, Granularity, jobs, network
from callcenter.analytics.funnel import LINES
from callcenter.analytics.periods import local_day_number
from callcenter.analytics.rollups import KEPT, refresh, settle
from callcenter.core import clinic_scope, migrate
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.models import (
    AnalyticsDirty,
    Appointment,
    AppointmentStatus,
    Call,
    CallDirection,
    CallerKind,
    CallStatus,
    Channel,
    Clinic,
    Patient,
    PatientPhone,
    RollupCall,
    RollupCaller,
    RollupHour,
    RollupStale,
    Span,
    Staff,
    StaffRole,
    TrackingNumber,
)
from callcenter.exchange.importer import run_import
from callcenter.exchange.tables import read_table
from callcenter.inbound.attribution import assign_channel
from tests.import_files import csv_bytes
from webhooks import TEST_CALLER

ZONES = ("Europe/Berlin", "America/New_York", "Europe/Moscow")
# Days around the 2025 DST changes (EU: 30 Mar, 26 Oct; US: 9 Mar, 2 Nov) and a plain week.
ANCHORS = (date(2025, 3, 7), date(2025, 3, 28), date(2025, 10, 24), date(2025, 10, 31), date(2025, 6, 10))
ROLLED = [name for name in RAW_BUILDS if REPORTS[name].build is not RAW_BUILDS[name]]
CASES = 4
ROUNDS = 4


@dataclass
class World:
    rng: random.Random
    clinics: list[int] = field(default_factory=list)
    channels: list[int] = field(default_factory=list)
    numbers: dict[int, list[int]] = field(default_factory=dict)  # clinic → tracking number ids
    staff: dict[int, list[int]] = field(default_factory=dict)
    doctors: dict[int, int] = field(default_factory=dict)
    phones: dict[int, list[tuple[int, str]]] = field(default_factory=dict)  # clinic → (patient, e164)
    lines: set[str] = field(default_factory=set)  # the lines the compared channel reports showed


def _instant(rng: random.Random) -> datetime:
    anchor = rng.choice(ANCHORS)
    start = datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC)
    return start + timedelta(seconds=rng.randrange(6 * 86400))


def _world(session: Session, seed: int) -> World:
    w = World(random.Random(seed))
    channels = [Channel(code=f"c{seed}_{i}", name=f"Channel {i}") for i in range(4)]
    session.add_all(channels)
    session.flush()
    w.channels = [c.id for c in channels]
    for index, zone in enumerate(ZONES):
        clinic = Clinic(name=f"Clinic {index}", timezone=zone, locale="en", region="RU", opening_hours={})
        session.add(clinic)
        session.flush()
        w.clinics.append(clinic.id)
        numbers = [TrackingNumber(clinic_id=clinic.id, e164=f"+7495{seed:03d}{index}{n:03d}",
                                  channel_id=w.channels[n % 4] if n < 3 else None, label=f"n{n}",
                                  main_line=n == 3) for n in range(5)]
        staff = [Staff(clinic_id=clinic.id, role=StaffRole.RECEPTIONIST, first_name=f"R{n}",
                       last_name="Desk") for n in range(3)]
        doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, first_name="D", last_name="Doc")
        patients = [Patient(clinic_id=clinic.id, first_name=f"P{n}") for n in range(10)]
        session.add_all([*numbers, *staff, doctor, *patients])
        session.flush()
        w.numbers[clinic.id] = [n.id for n in numbers]
        w.staff[clinic.id] = [s.id for s in staff]
        w.doctors[clinic.id] = doctor.id
        w.phones[clinic.id] = []
        for n, patient in enumerate(patients):
            # Patients 0 and 1 share a family number.
            e164 = f"+7916{seed:03d}{index}{max(n, 1):03d}"
            session.add(PatientPhone(patient_id=patient.id, e164=e164, label="mobile"))
            w.phones[clinic.id].append((patient.id, e164))
    session.commit()
    return w


def _add_calls(session: Session, w: World, count: int) -> None:
    rng = w.rng
    for _ in range(count):
        clinic = rng.choice(w.clinics)
        started = _instant(rng)
        roll = rng.random()
        caller = (None if roll < 0.1 else TEST_CALLER if roll < 0.13
                  else f"+7903{rng.randrange(30):07d}" if roll < 0.35 else rng.choice(w.phones[clinic])[1])
        number = rng.choice([None, *w.numbers[clinic]])
        channel = session.get(TrackingNumber, number).channel_id if number else None
        status = rng.choice(list(CallStatus))
        answered = started + timedelta(seconds=rng.randrange(1, 40)) if status in (
            CallStatus.ANSWERED, CallStatus.COMPLETED) else None
        session.add(Call(
            clinic_id=clinic, provider="prop", provider_call_id=f"p{rng.getrandbits(48)}",
            direction=CallDirection.OUTBOUND if rng.random() < 0.15 else CallDirection.INBOUND,
            caller=caller, caller_raw=caller or "", dialed=None, tracking_number_id=number,
            channel_id=channel, caller_kind=rng.choice(list(CallerKind)),
            first_time=rng.random() < 0.4, agent_id=rng.choice([None, *w.staff[clinic]]),
            started_at=started, ringing_at=started + timedelta(seconds=rng.choice([0, 2])),
            answered_at=answered, status=status,
            heard_from_channel_id=rng.choice([None, None, *w.channels]), notes="",
            heard_from_note=""))
    session.flush()
    # Missed calls closed by a later call of the clinic: the desk calling back or the caller again.
    missed = session.scalars(select(Call).where(Call.status == CallStatus.MISSED,
                                                Call.callback_call_id.is_(None))).all()
    for call in missed:
        if rng.random() < 0.5:
            later = session.scalars(select(Call).where(Call.clinic_id == call.clinic_id,
                                                       Call.started_at > call.started_at).limit(3)).all()
            if later:
                back = rng.choice(later)
                call.callback_call_id = back.id
                call.callback_done_at = back.started_at if rng.random() < 0.8 else None
    session.commit()


def _add_bookings(session: Session, w: World, count: int) -> None:
    rng = w.rng
    for _ in range(count):
        clinic = rng.choice(w.clinics)
        patient = rng.choice(w.phones[clinic])[0]
        calls = session.scalars(select(Call).where(Call.clinic_id == clinic)).all()
        direct = rng.choice(calls) if calls and rng.random() < 0.3 else None
        base = direct.started_at if direct else (rng.choice(calls).started_at if calls else _instant(rng))
        created = base + timedelta(seconds=rng.randrange(-3600, 20 * 86400))
        starts = created + timedelta(days=rng.randrange(0, 6), hours=rng.randrange(24))
        earlier = session.scalars(select(Appointment.id).where(Appointment.clinic_id == clinic)).all()
        status = rng.choice(list(AppointmentStatus))
        session.add(Appointment(
            clinic_id=clinic, patient_id=patient, doctor_id=w.doctors[clinic], starts_at=starts,
            ends_at=starts + timedelta(minutes=30), status=status,
            price=Decimal(rng.randrange(100, 5000)) if rng.random() < 0.6 else None,
            created_by_call_id=direct.id if direct else None, created_at=created,
            rescheduled_from_id=rng.choice(earlier) if earlier and rng.random() < 0.1 else None))
    session.commit()


def _some(session: Session, w: World, model: type, count: int) -> list:
    ids = sorted(session.scalars(select(model.id)))
    return [session.get(model, i) for i in w.rng.sample(ids, min(count, len(ids)))]


def _change(session: Session, w: World) -> None:
    """One round of what happens after the fact."""
    rng = w.rng
    _add_calls(session, w, rng.randrange(5, 20))  # late webhooks: calls in the past
    clinic = rng.choice(w.clinics)
    number = session.get(TrackingNumber, rng.choice(w.numbers[clinic]))
    assert number is not None
    assign_channel(session, number, session.get(Channel, rng.choice([*w.channels, w.channels[0]])))
    for call in _some(session, w, Call, 8):
        call.status = rng.choice(list(CallStatus))
        call.agent_id = rng.choice([None, *w.staff[call.clinic_id]])
        call.heard_from_channel_id = rng.choice([None, *w.channels])
        call.started_at = call.started_at + timedelta(hours=rng.randrange(-30, 30))
    for appointment in _some(session, w, Appointment, 5):
        appointment.status = rng.choice(list(AppointmentStatus))
        appointment.starts_at = appointment.starts_at + timedelta(days=rng.randrange(-2, 3))
    for victim in _some(session, w, Call, 1):
        session.execute(update(Appointment).where(Appointment.created_by_call_id == victim.id)
                        .values(created_by_call_id=None))
        session.execute(update(Call).where(Call.callback_call_id == victim.id)
                        .values(callback_call_id=None, callback_done_at=None))
        session.delete(victim)
    patient, _ = rng.choice(w.phones[clinic])
    session.add(PatientPhone(patient_id=patient, e164=f"+7903{rng.randrange(30):07d}", label="family"))
    session.commit()
    _add_bookings(session, w, rng.randrange(3, 10))


def _filters(w: World, session: Session) -> list[Filters]:
    rng = w.rng
    out = []
    for clinic in w.clinics:
        tz = ZoneInfo(session.get(Clinic, clinic).timezone)
        for _ in range(2):
            start = rng.choice(ANCHORS) + timedelta(days=rng.randrange(-1, 5))
            days = rng.randrange(0, 8)
            if rng.random() < 0.4:  # whole months inside: read from the months' caller sets
                start = start.replace(day=1) - timedelta(days=rng.randrange(0, 3))
                days = rng.randrange(31, 250)
            channels = tuple(rng.sample(w.channels, 2)) if rng.random() < 0.25 else ()
            numbers = tuple(rng.sample(w.numbers[clinic], 2)) if rng.random() < 0.2 else ()
            out.append(Filters(clinic_id=clinic, tz=tz, start=start,
                               end=start + timedelta(days=days),
                               granularity=rng.choice(list(Granularity)), channel_ids=channels,
                               tracking_number_ids=numbers, window_days=rng.randrange(1, 25)))
    return out


def _compare(session: Session, w: World) -> int:
    compared = 0
    for flt in _filters(w, session):
        for name in ROLLED:
            rolled = REPORTS[name].build(session, flt)
            raw = RAW_BUILDS[name](session, flt)
            assert rolled == raw, (name, flt)
            compared += 1
            if name == "channels":
                w.lines.update(row["line"] for row in rolled)
    return compared


@pytest.mark.parametrize("seed", range(CASES))
def test_rollups_equal_raw_reports(database_url: str, seed: int) -> None:
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        w = _world(session, seed)
        _add_calls(session, w, 60)
        _add_bookings(session, w, 25)
        compared = _compare(session, w)
        for _ in range(ROUNDS):
            _change(session, w)
            compared += _compare(session, w)
        assert compared == (ROUNDS + 1) * 6 * len(ROLLED)
        # Channels and each kind of line come from one pass: every kind was there to compare.
        assert w.lines == set(LINES)
        # Every clinic was read last: each mark was taken, none is left to recompute.
        assert session.scalar(select(func.count()).select_from(AnalyticsDirty)) == 0
    engine.dispose()


def test_a_network_built_in_threads_equals_its_clinics_raw_reports(database_url: str) -> None:
    """The dashboard's reports for several clinics, built two and three at a time on sessions of
    their own while the clinics' marks are still to be taken (so threads bring the same clinic
    up to date at once), equal the raw rows summed; and the threads see only the scope's
    clinics, as the request's session does."""
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as session:
        w = _world(session, 7)
        for round_ in range(3):
            if round_ == 0:
                _add_calls(session, w, 80)
                _add_bookings(session, w, 30)
            else:
                _change(session, w)
            start = date(2025, 2, 24) + timedelta(days=37 * round_)
            filters = [Filters(clinic_id=c, tz=ZoneInfo(session.get(Clinic, c).timezone), start=start,
                               end=start + timedelta(days=200), granularity=Granularity.WEEK)
                       for c in w.clinics]
            assert session.scalar(select(func.count()).select_from(AnalyticsDirty)) > 0
            built = network.build_many(session, list(REPORTS), filters, factory, 2 + round_ % 2)
            assert session.scalar(select(func.count()).select_from(AnalyticsDirty)) == 0
            for name in REPORTS:
                expected = network.merge(name, [RAW_BUILDS[name](session, flt) for flt in filters])
                assert built[name] == expected, name
            assert built["summary"][0]["calls"] > 0
        own = clinic_scope.Scope(frozenset({w.clinics[0]}))
        scoped = clinic_scope.restrict(factory(), own)
        in_turn = network.build_many(scoped, list(REPORTS), filters)
        threaded = network.build_many(scoped, list(REPORTS), filters,
                                      lambda: clinic_scope.restrict(factory(), own), 2)
        scoped.close()
        assert threaded == in_turn
        alone = network.build(session, "summary", filters[:1])
        assert threaded["summary"][0]["calls"] == alone[0]["calls"] < built["summary"][0]["calls"]

        def unreachable() -> Session:
            raise ConnectionError("no connection left in the pool")

        with pytest.raises(ConnectionError):
            network.build_many(session, list(REPORTS), filters, unreachable, 2)
    engine.dispose()


def _span_sets(session: Session) -> list[tuple[object, ...]]:
    return [tuple(row) for row in session.execute(
        select(RollupCaller.clinic_id, RollupCaller.span, RollupCaller.day,
               RollupCaller.tracking_number_id, RollupCaller.channel_id,
               RollupCaller.heard_from_channel_id, RollupCaller.callers, RollupCaller.first_callers)
        .where(RollupCaller.span != Span.DAY)
        .order_by(RollupCaller.clinic_id, RollupCaller.span, RollupCaller.day,
                  RollupCaller.tracking_number_id, RollupCaller.channel_id,
                  RollupCaller.heard_from_channel_id))]


def test_spans_grown_by_new_calls_equal_spans_rebuilt(database_url: str) -> None:
    """New calls only add callers to their days: the weeks' and months' sets are then joined with
    the days' new sets instead of rebuilt from every day of the span. Both ways give the same
    sets, and the reports still equal the raw rows'."""
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        w = _world(session, 7)
        _add_calls(session, w, 60)
        _compare(session, w)
        for _ in range(3):
            _add_calls(session, w, 25)
            _compare(session, w)
        grown = _span_sets(session)
        assert {row[1] for row in grown} == {Span.WEEK, Span.MONTH}
        session.add_all(AnalyticsDirty(clinic_id=clinic) for clinic in w.clinics)
        session.commit()
        _compare(session, w)  # a clinic-wide mark: every week and month rebuilt from its days
        assert _span_sets(session) == grown
    engine.dispose()


def test_triggers_exist_at_head(database_url: str) -> None:
    """A batch migration that recreates `calls` on SQLite drops its triggers: this catches it."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            names = set(conn.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")))
            expected = {"analytics_calls", "analytics_appointments", "analytics_patient_phones",
                        "analytics_appointments_inserted", "analytics_patient_phones_inserted"}
        else:
            names = set(conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
            expected = {f"analytics_{t}_{op}" for t in ("calls", "appointments", "patient_phones")
                        for op in ("insert", "update", "delete")}
    engine.dispose()
    assert expected <= names


def test_worker_job_takes_every_clinics_marks(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Marks never pile up between reads: the scheduled job rebuilds what they name."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    jobs._runtime.cache_clear()
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        w = _world(session, 99)
        _add_calls(session, w, 30)
        marks = session.scalar(select(func.count()).select_from(AnalyticsDirty))
        assert marks and marks > 0
        assert jobs.refresh_rollups() == marks
        assert session.scalar(select(func.count()).select_from(AnalyticsDirty)) == 0
        counted = session.scalar(select(func.count()).select_from(Call).where(
            Call.direction == CallDirection.INBOUND, Call.caller_kind != CallerKind.NON_PATIENT,
            (Call.caller.is_(None)) | (Call.caller != TEST_CALLER)))
        # Every counted call is in its day's row, and again in its week's and its month's.
        for span in Span:
            assert session.scalar(select(func.sum(RollupCall.calls))
                                  .where(RollupCall.span == span)) == counted
    jobs._runtime.cache_clear()
    engine.dispose()


def _import_bookings(session: Session, w: World, clinic_id: int) -> int:
    """A record system's patients (on numbers that have called) and their visits, booked after
    those calls, imported as files; the number of visits imported."""
    rng, tz = w.rng, ZoneInfo(session.get(Clinic, clinic_id).timezone)
    callers = sorted(set(session.scalars(select(Call.caller).where(
        Call.clinic_id == clinic_id, Call.caller.like("+7903%")))))
    patients = [["id", "last name", "phone"]] + [[f"P{i}", f"Imported{i}", e164]
                                                 for i, e164 in enumerate(callers)]
    doctors = [["id", "full name"], ["D1", "Doc Imported"]]
    visits = [["id", "patient id", "doctor id", "start", "booked at", "status", "price"]]
    for n in range(40):
        booked = _instant(rng).astimezone(tz)
        visits.append([f"V{n}", f"P{rng.randrange(len(callers))}", "D1",
                       (booked + timedelta(days=rng.randrange(1, 20))).strftime("%Y-%m-%d %H:%M"),
                       booked.strftime("%Y-%m-%d %H:%M"),
                       rng.choice(["booked", "arrived", "completed", "no_show", "cancelled"]),
                       rng.choice(["", "1200.50"])])
    clinic = session.get(Clinic, clinic_id)
    for kind, rows in (("patients", patients), ("doctors", doctors), ("appointments", visits)):
        result = run_import(session, clinic, kind, read_table(csv_bytes(rows)), batch=15)
        assert result.counts["refused"] == 0, (kind, result.counts)
    return len(visits) - 1


def test_imported_visits_and_phones_roll_up_exactly(database_url: str) -> None:
    """An import writes its rows in bulk, past the ORM: the triggers mark them all the same, and
    the reports still equal the raw rows (credits moved to newly known callers included)."""
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        w = _world(session, 11)
        _add_calls(session, w, 120)
        _compare(session, w)  # every mark of the calls taken: what follows is the import's
        assert session.scalar(select(func.count()).select_from(AnalyticsDirty)) == 0
        imported = sum(_import_bookings(session, w, clinic) for clinic in w.clinics)
        marks = session.execute(select(AnalyticsDirty.appointment_id, AnalyticsDirty.patient_id)).all()
        assert len({m.appointment_id for m in marks if m.appointment_id}) == imported
        assert {m.patient_id for m in marks if m.patient_id}  # the imported patients' phones
        assert _compare(session, w) == 6 * len(ROLLED)
        # A visit booked at the desk afterwards, and the reports again.
        patient, _ = w.phones[w.clinics[0]][0]
        session.add(Appointment(clinic_id=w.clinics[0], patient_id=patient, doctor_id=w.doctors[w.clinics[0]],
                                starts_at=(at := _instant(w.rng)), ends_at=at + timedelta(minutes=30),
                                status=AppointmentStatus.BOOKED))
        session.commit()
        assert session.scalar(select(func.count()).select_from(AnalyticsDirty)) == 1
        _compare(session, w)
    engine.dispose()


def _span_rows(session: Session) -> dict[str, list[tuple[object, ...]]]:
    """Every roll-up's week and month rows (and the hours' weekdays), without their ids."""
    out = {}
    for model in KEPT:
        columns = [c for c in model.__table__.c if c.name != "id"]
        rows = session.execute(select(*columns).where(model.span != Span.DAY)).all()
        out[model.__tablename__] = sorted((tuple(row) for row in rows), key=repr)
        assert {row.span for row in rows} == set(KEPT[model])
    out["weekdays"] = sorted(session.execute(select(RollupHour.day, RollupHour.weekday)
                                             .where(RollupHour.span == Span.DAY).distinct()).all())
    return out


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_migration_gives_rolled_up_data_the_spans_a_refresh_keeps(
        db: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Roll-ups built before migration 0043 had day rows (and month caller sets) only: the
    migration joins their weeks and months itself, to the same rows the code keeps, so no clinic
    is rebuilt (82 s a clinic at 1,000,000 calls); down and up again leaves the reports as they
    were."""
    url = (f"sqlite:///{tmp_path / 'spans.db'}" if db == "sqlite"
           else request.getfixturevalue("postgres_server").create_database("rollup_spans"))
    migrate.upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        w = _world(session, 11)
        _add_calls(session, w, 80)
        _add_bookings(session, w, 20)
        _compare(session, w)
        with engine.begin() as conn:
            for clinic in w.clinics:
                settle(conn, clinic, 0, 10**6)
        kept = _span_rows(session)
    command.downgrade(migrate.alembic_config(url), "0042")
    with engine.connect() as conn:
        assert "span" not in {c["name"] for c in inspect(conn).get_columns("rollup_calls")}
        assert "month" in {c["name"] for c in inspect(conn).get_columns("rollup_callers")}
    migrate.upgrade(url)
    with make_session_factory(engine)() as session:
        assert _span_rows(session) == kept
        assert session.scalar(select(func.count()).select_from(AnalyticsDirty)) == 0
        _compare(session, w)
    engine.dispose()


def test_spans_are_summed_when_a_period_holds_them_whole(database_url: str) -> None:
    """Changed days leave their weeks and months stale; a report sums only the ones its period
    holds whole (today's month waits), and what it reads equals the raw rows'."""
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        w = _world(session, 5)
        _add_calls(session, w, 60)
        clinic = w.clinics[0]
        tz = ZoneInfo(session.get(Clinic, clinic).timezone)
        month = Filters(clinic_id=clinic, tz=tz, start=date(2025, 3, 1), end=date(2025, 3, 31))
        inside = Filters(clinic_id=clinic, tz=tz, start=date(2025, 3, 3), end=date(2025, 3, 29))

        def stale() -> set[tuple[int, int]]:
            return {(span, day) for span, day in session.execute(
                select(RollupStale.span, RollupStale.day).where(RollupStale.clinic_id == clinic))}

        with engine.begin() as conn:
            refresh(conn, clinic)  # the calls' days recomputed, their weeks and months marked
        march = (Span.MONTH, local_day_number(date(2025, 3, 1)))
        weeks = {(Span.WEEK, local_day_number(date(2025, 3, d))) for d in (3, 10, 17)}
        assert march in stale() and weeks & stale()
        assert REPORTS["summary"].build(session, inside) == RAW_BUILDS["summary"](session, inside)
        # The weeks from the 3rd to the 23rd are whole inside the 3rd to the 29th: summed. The
        # month is not, nor the week of the 24th: left for a report that holds them.
        assert march in stale() and not weeks & stale()
        assert REPORTS["summary"].build(session, month) == RAW_BUILDS["summary"](session, month)
        assert march not in stale()
    engine.dispose()
