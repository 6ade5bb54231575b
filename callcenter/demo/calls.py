"""The demo's half year of calls, written as a historical import.

Calls go straight into the `calls` table in bulk (provider "demo", provider_call_id
"demo-000123"), with no CallEventRecord or RawWebhook behind them. Live calls never take this
path: they only ever come through callcenter.inbound.calls.record_call_event. Booking,
cancelling and rescheduling calls are planned with the appointments (history.py) and added to
the same `CallLog`; this module adds the rest (questions, vendors, hidden numbers, missed calls)
and writes them all.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import partial
from itertools import accumulate

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from callcenter.core.models import (
    Call,
    CallCandidate,
    CallDirection,
    CallerKind,
    CallOutcome,
    CallStatus,
)
from callcenter.demo import data
from callcenter.demo.bulk import insert_numbered
from callcenter.demo.clinic import WEEKDAY_WEIGHTS, ClinicPlan
from callcenter.demo.people import Agent, Household, People


@dataclass
class PlannedCall:
    started: datetime
    caller: str | None
    tracking: int  # index in ClinicPlan.tracking
    patient: int | None
    outcome: CallOutcome | None  # None = missed
    non_patient: bool = False
    talk: int = 0
    callback: int | None = None  # index of the call that answered this missed one
    callback_at: datetime | None = None
    joins: list[int] = field(default_factory=list)  # patients whose card this call creates


class CallLog:
    """Every planned call, by index in `calls` (the order they were planned, not their time)."""

    def __init__(self, clinic: ClinicPlan, people: People) -> None:
        self.clinic, self.people, self.rng = clinic, people, clinic.rng
        self.calls: list[PlannedCall] = []

    def add(self, call: PlannedCall) -> int:
        self.calls.append(call)
        return len(self.calls) - 1

    # ---- planning ----------------------------------------------------------------------
    def add_other_calls(self, waiting: list[Household]) -> None:
        """Questions, confirmations, complaints, new callers who did not book, vendors, hidden.

        `waiting` are the new households no booking call brought in: they call as leads.
        """
        clinic = self.clinic
        days = clinic.days(clinic.first_day, clinic.today)
        weights = [WEEKDAY_WEIGHTS[d.weekday()] * (0.2 if d in clinic.days_off else 1) for d in days]
        cumulative = list(accumulate(weights))
        booked_new = sum(1 for c in self.calls if c.joins)
        booked = sum(1 for c in self.calls if c.outcome is CallOutcome.BOOKED)
        plan: tuple[tuple[Callable[[datetime], None], int], ...] = (
            (partial(self._new_caller_call, waiting), booked_new + len(waiting)),
            (self._repeat_question, int(booked * 0.35)),
            (self._vendor_call, int(booked * 0.10)),
            (self._hidden_call, int(booked * 0.05)))
        for make, count in plan:
            for _ in range(count):
                day = days[bisect_right(cumulative, self.rng.random() * cumulative[-1])]
                moment = clinic.moment(day, open_only=True)
                if moment is not None:
                    make(moment)
        # The number nobody registered only appeared last month (a partner's leaflet, say).
        for _ in range(max(3, booked // 200)):
            moment = clinic.moment(clinic.today - timedelta(days=self.rng.randint(1, 30)), open_only=True)
            if moment is not None:
                self.add(PlannedCall(moment, clinic.phones.take(clinic.region, "mobile"),
                                     clinic.unregistered, None, CallOutcome.INFORMATION,
                                     talk=self.rng.randint(40, 200)))

    def _new_caller_call(self, waiting: list[Household], moment: datetime) -> None:
        tracking = self.clinic.pick_tracking(False)
        household = waiting.pop() if waiting else None
        if household is not None:  # a lead: left a name and number, did not book
            call = PlannedCall(moment, household.phone, tracking, household.members[0],
                               CallOutcome.INFORMATION, joins=list(household.members))
            self.people.join(household, moment, tracking, lead=True)
        else:
            call = PlannedCall(moment, self.clinic.phones.take(self.clinic.region, "mobile"), tracking,
                               None, CallOutcome.INFORMATION)
        call.talk = self.rng.randint(40, 300)
        self.add(call)

    def _repeat_question(self, moment: datetime) -> None:
        patient = self.people.patient_known_at(moment)
        if patient is None:
            return
        outcome = self.rng.choices((CallOutcome.INFORMATION, CallOutcome.CONFIRMED,
                                    CallOutcome.COMPLAINT), (0.75, 0.22, 0.03))[0]
        talk = self.rng.randint(180, 600) if outcome is CallOutcome.COMPLAINT else self.rng.randint(30, 240)
        self.add(PlannedCall(moment, self.people.number_of(patient), self.people.known_tracking(patient),
                             patient, outcome, talk=talk))

    def _vendor_call(self, moment: datetime) -> None:
        wrong = self.rng.random() < 0.2
        number = self.clinic.phones.take(self.clinic.region, "mobile" if wrong else "landline")
        self.add(PlannedCall(moment, number, 0, None,
                             CallOutcome.WRONG_NUMBER if wrong else CallOutcome.NON_PATIENT,
                             non_patient=True,
                             talk=self.rng.randint(5, 20) if wrong else self.rng.randint(20, 150)))

    def _hidden_call(self, moment: datetime) -> None:
        self.add(PlannedCall(moment, None, self.rng.choice((0, 0, 1, 2)), None,
                             CallOutcome.INFORMATION, talk=self.rng.randint(30, 200)))

    def add_missed_calls(self) -> None:
        """Attempts that got through on a later try, ones the desk rang back, after-hours ones."""
        clinic = self.clinic
        answered = [i for i, c in enumerate(self.calls) if c.caller and not c.non_patient]
        for index in answered:
            call = self.calls[index]
            r = self.rng.random()
            if r < 0.09:  # the caller tried again and got through
                earlier = call.started - timedelta(minutes=self.rng.randint(2, 90))
                if earlier < clinic.window:
                    continue
                self.add(PlannedCall(earlier, call.caller, call.tracking, None, None,
                                     callback=index, callback_at=call.started))
            elif r < 0.12 and not call.joins:  # the desk saw it and rang back
                missed = call.started + timedelta(minutes=self.rng.randint(30, 240))
                done = missed + timedelta(minutes=self.rng.randint(5, 60))
                if done < clinic.cutoff and clinic.is_open(missed):
                    self.add(PlannedCall(missed, call.caller, call.tracking, None, None, callback_at=done))
        for _ in range(len(answered) // 25):
            call = self.calls[self.rng.choice(answered)]
            day = call.started.astimezone(clinic.zone).date()
            hours = clinic.open_hours(day)
            if hours is None:
                continue
            missed = clinic.at(day, time(hours[1], self.rng.randrange(60)))
            rang_back = clinic.moment(day + timedelta(days=1), open_only=True)
            done = rang_back if rang_back is not None and rang_back < clinic.cutoff else None
            if missed < clinic.cutoff and not call.joins:
                self.add(PlannedCall(missed, call.caller, call.tracking, None, None, callback_at=done))

    def first_to_unregistered(self) -> datetime:
        """When the unregistered number was first dialled (the PBX reported it then)."""
        return min((c.started for c in self.calls if c.tracking == self.clinic.unregistered),
                   default=self.clinic.cutoff)

    # ---- writing -----------------------------------------------------------------------
    def write(self, session: Session, clinic: int, patients: list[int], tracking: list[int],
              channels: list[int], agents: list[Agent]) -> dict[int, int]:
        """Calls in time order; who the caller was is worked out as the desk would have then.

        Returns call ids by planned index, for the appointments those calls created.
        """
        people = self.people
        order = sorted(range(len(self.calls)), key=lambda i: self.calls[i].started)
        seen: set[str] = set()
        rows, candidates = [], []
        answer_weights = [spec.share or 0.04 for spec in data.CHANNELS]
        for position, index in enumerate(order):
            call = self.calls[index]
            known = [p for p in people.owners.get(call.caller or "", [])
                     if (people.joined_at[p] or call.started) < call.started or people.joined_at[p] is None]
            kind, first_time = _caller_kind(call, known, seen)
            if call.caller:
                seen.add(call.caller)
            patient = call.patient if call.outcome else (known[0] if len(known) == 1 else None)
            if len(known) > 1:
                candidates.append((position, known))
            channel = self.clinic.tracking[call.tracking][0]
            heard, note = None, ""
            if kind is CallerKind.NEW and call.outcome and self.rng.random() < 0.85:
                heard = channel if channel is not None and self.rng.random() < 0.7 else \
                    self.rng.choices(range(len(data.CHANNELS)), answer_weights)[0]
                if data.CHANNELS[heard].code in ("referral", "insurance") and self.rng.random() < 0.3:
                    note = data.label(self.rng.choice(data.HEARD_FROM_NOTES), self.clinic.locale)
            ring = timedelta(seconds=self.rng.randint(3, 25) if call.outcome else self.rng.randint(10, 45))
            answered = call.started + ring if call.outcome else None
            ended = answered + timedelta(seconds=call.talk) if answered else call.started + ring
            agent = self._agent(call.started, agents) if call.outcome else None
            rows.append({
                "clinic_id": clinic, "provider": "demo", "provider_call_id": f"demo-{position + 1:06d}",
                "direction": CallDirection.INBOUND, "caller": call.caller,
                "caller_raw": self._raw(call.caller), "dialed": self.clinic.tracking[call.tracking][1],
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
        ids = insert_numbered(session, Call, rows)
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

    def _agent(self, moment: datetime, agents: list[Agent]) -> tuple[int, str]:
        local = moment.astimezone(self.clinic.zone)
        on_shift = [(i, ext) for i, ext, (days, start, end) in agents
                    if local.weekday() in days and start <= local.hour < end]
        return self.rng.choice(on_shift or [(i, ext) for i, ext, _ in agents])

    def _raw(self, e164: str | None) -> str:
        """The caller id as a PBX here would send it: home numbers without the plus."""
        if e164 is None:
            return "anonymous"
        home = self.clinic.tracking[0][1][:2]
        return e164[1:] if e164.startswith(home) else e164


def _caller_kind(call: PlannedCall, known: list[int], seen: set[str]) -> tuple[CallerKind, bool]:
    if call.caller is None:
        return CallerKind.HIDDEN, False
    if call.non_patient:
        return CallerKind.NON_PATIENT, call.caller not in seen
    if known:
        return (CallerKind.FAMILY if len(known) > 1 else CallerKind.REPEAT), False
    return CallerKind.NEW, call.caller not in seen
