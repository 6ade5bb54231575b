"""Pick the script that fits a call and fill it in: greeting, names, appointment, two time options.

Selection: scripts of the scenario whose `applies` matches the call; the first locale of
(requested, clinic default, en) that has one wins; within it the most specific script
(channel, then caller kind, purpose, direction), then the highest priority, then the clinic's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.callscripts.greeting import EVENING_FROM, MORNING_UNTIL, greeting_for
from callcenter.callscripts.library import (
    BRACES,
    MISSING_LABELS,
    PACKAGED_DIR,
    Library,
    Script,
    load_library,
)
from callcenter.callscripts.offering import OfferedSlot, offer_slots, slot_values
from callcenter.callscripts.values import (
    doctor_name,
    person_values,
    service_values,
)
from callcenter.core.config import LOCALES
from callcenter.core.i18n import t
from callcenter.core.models import (
    ACTIVE_STATUSES,
    Appointment,
    Call,
    CallDirection,
    CallerKind,
    CallStatus,
    Clinic,
    DialTask,
    Patient,
    Service,
    Staff,
    TaskPurpose,
    Treatment,
)
from callcenter.schedule.offer_memo import OfferMemo

log = logging.getLogger(__name__)

FALLBACK_LOCALE = "en"
SCENARIO_FOR_PURPOSE = {
    TaskPurpose.CONFIRMATION: "confirmation",
    TaskPurpose.FOLLOW_UP: "follow_up",
    TaskPurpose.RECALL: "recall",
    TaskPurpose.NO_SHOW: "no_show",
    TaskPurpose.MISSED_CALL: "missed_call",
    TaskPurpose.RESCHEDULE: "cancel_reschedule",
    TaskPurpose.CALL_BACK: "cancel_reschedule",
    TaskPurpose.GAP_FILL: "recall",  # an invitation, with the freed time among the offers
}
SCENARIO_FOR_CALLER = {
    CallerKind.NEW: "first_time",
    CallerKind.HIDDEN: "first_time",
    CallerKind.REPEAT: "repeat_patient",
    CallerKind.FAMILY: "repeat_patient",
    CallerKind.NON_PATIENT: "non_patient",
}
class ScriptNotFound(LookupError):
    """No script of this scenario matches, in any locale of the fallback chain."""


@dataclass(frozen=True)
class Situation:
    """What selection looks at."""

    scenario: str
    locale: str
    direction: str | None = None  # None (a preview that does not say) matches any direction
    caller_kind: str | None = None
    channel: str | None = None
    purpose: str | None = None


@dataclass(frozen=True)
class Selection:
    script: Script
    reason: str
    fallbacks: tuple[str, ...]


@dataclass
class RenderedScript:
    scenario: str
    locale: str
    file: str
    source: str
    reason: str
    fallbacks: list[str]
    title: str
    sections: list[dict[str, Any]]
    slots: list[OfferedSlot] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _matches(script: Script, situation: Situation) -> bool:
    wanted = {
        "direction": situation.direction, "caller_kind": situation.caller_kind,
        "channel": situation.channel, "purpose": situation.purpose,
    }
    for name, value in wanted.items():
        allowed = getattr(script.applies, name)
        if name == "direction" and value is None:
            continue
        if allowed is not None and value not in allowed:
            return False
    return True


def _specificity(script: Script) -> tuple[int, ...]:
    a = script.applies
    return (a.channel is not None, a.caller_kind is not None, a.purpose is not None,
            a.direction is not None, script.priority, script.source == "clinic")


def locale_chain(requested: str, clinic_default: str) -> list[str]:
    chain: list[str] = []
    for locale in (requested, clinic_default, FALLBACK_LOCALE):
        if locale in LOCALES and locale not in chain:
            chain.append(locale)
    return chain


def select_script(library: Library, situation: Situation, clinic_default: str) -> Selection:
    """The most specific matching script, walking the locale chain; raises ScriptNotFound."""
    fallbacks: list[str] = []
    for locale in locale_chain(situation.locale, clinic_default):
        candidates = [s for s in library.scripts.values()
                      if s.scenario == situation.scenario and s.locale == locale
                      and _matches(s, situation)]
        if not candidates:
            fallbacks.append(f"no {locale} script for {situation.scenario} matches this call")
            continue
        best = max(candidates, key=lambda s: (_specificity(s), s.relpath))
        matched = [f"{name}={getattr(situation, name)}" for name in
                   ("channel", "caller_kind", "purpose", "direction")
                   if getattr(best.applies, name) is not None]
        reason = (f"{best.relpath} ({best.source}): the most specific of {len(candidates)} "
                  f"matching {locale} script(s); "
                  + (f"matched {', '.join(matched)}" if matched else "applies to any call")
                  + f"; priority {best.priority}")
        return Selection(best, reason, tuple(fallbacks))
    raise ScriptNotFound(f"no script for scenario {situation.scenario!r} in "
                         f"{', '.join(locale_chain(situation.locale, clinic_default))}")


def render(selection: Selection, values: Mapping[str, str | None],
           slots: Sequence[OfferedSlot] = ()) -> RenderedScript:
    """Fill every placeholder; unknown values become a bracketed label and are listed in `missing`."""
    script = selection.script
    missing: list[str] = []

    def fill(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            value = values.get(name)
            if value:
                return value
            if name not in missing:
                missing.append(name)
            return t(MISSING_LABELS[name], script.locale)

        return BRACES.sub(one, text)

    sections = []
    for section in script.sections:
        items = [{"text": fill(i.text), **({"answer": fill(i.answer)} if i.answer else {})}
                 for i in section.items]
        sections.append({"kind": section.kind, "title": section.title, "items": items})
    return RenderedScript(
        scenario=script.scenario, locale=script.locale, file=script.relpath, source=script.source,
        reason=selection.reason, fallbacks=list(selection.fallbacks), title=fill(script.title),
        sections=sections, slots=list(slots), missing=missing,
    )


@lru_cache(maxsize=8)
def _cached_library(packaged: Path, overrides: Path | None, stamp: tuple[Any, ...]) -> Library:
    library = load_library(packaged, overrides)
    for problem in library.problems:
        log.warning("script skipped: %s", problem)
    return library


def _stamp(*folders: Path | None) -> tuple[Any, ...]:
    stamp: list[Any] = []
    for folder in folders:
        if folder is not None and folder.is_dir():
            stamp.extend((str(p), p.stat().st_mtime_ns, p.stat().st_size)
                         for p in sorted(folder.rglob("*.md")))
    return tuple(stamp)


def library_for(scripts_dir: str | Path | None, packaged: Path = PACKAGED_DIR) -> Library:
    """The loaded library for a clinic override folder; reloaded when a file changes."""
    overrides = Path(scripts_dir) if scripts_dir else None
    return _cached_library(packaged, overrides, _stamp(packaged, overrides))


def default_library() -> Library:
    """Inside the app: the packaged scripts plus its SCRIPTS_DIR; elsewhere the packaged ones."""
    folder = current_app.config.get("SCRIPTS_DIR") if has_app_context() else None
    return library_for(folder)


def base_values(clinic: Clinic, now: datetime, locale: str) -> dict[str, str | None]:
    """The values every script has: greeting by the clinic's clock, clinic name."""
    return {
        "greeting": greeting_for(now, clinic.timezone, locale, clinic.morning_until, clinic.evening_from),
        "clinic": clinic.name,
    }


def _call_task(session: Session, call: Call) -> DialTask | None:
    return session.scalars(select(DialTask).where(DialTask.call_id == call.id)
                           .order_by(DialTask.id.desc())).first()


def scenario_for_call(session: Session, call: Call, task: DialTask | None) -> str:
    """Inbound: by caller kind (a missed one: the call-back script). Outbound: by the task purpose."""
    if call.direction is CallDirection.OUTBOUND:
        if task is not None:
            return SCENARIO_FOR_PURPOSE[task.purpose]
        if session.scalar(select(Call.id).where(Call.callback_call_id == call.id)) is not None:
            return "missed_call"
    elif call.status is CallStatus.MISSED:
        return "missed_call"
    return SCENARIO_FOR_CALLER.get(call.caller_kind, "first_time")


def _appointment_for(session: Session, call: Call, task: DialTask | None, now: datetime,
                     known: Sequence[Appointment] | None) -> Appointment | None:
    if task is not None and task.appointment_id is not None:
        return session.get(Appointment, task.appointment_id)
    if call.patient_id is None:
        return None
    if known is not None:
        return next((a for a in known if a.status in ACTIVE_STATUSES and a.starts_at >= now), None)
    return session.scalars(
        select(Appointment).where(Appointment.patient_id == call.patient_id,
                                  Appointment.status.in_(ACTIVE_STATUSES),
                                  Appointment.starts_at >= now)
        .order_by(Appointment.starts_at)).first()


def attending_doctor_id(session: Session, patient: Patient | None, appointment: Appointment | None,
                        treatment: Treatment | None, known: Sequence[Appointment] | None = None) -> int | None:
    """The doctor the patient would want: the visit's, the treatment's, else the latest visit's
    (`known`: the patient's visits by start, when the caller read them already)."""
    if appointment is not None:
        return appointment.doctor_id
    if treatment is not None and treatment.doctor_id is not None:
        return treatment.doctor_id
    if patient is None:
        return None
    if known is not None:
        return known[-1].doctor_id if known else None
    return session.scalar(select(Appointment.doctor_id).where(Appointment.patient_id == patient.id)
                          .order_by(Appointment.starts_at.desc()).limit(1))


def script_for_call(session: Session, call: Call, now: datetime, *, library: Library | None = None,
                    scenario: str | None = None, locale: str | None = None,
                    doctor_id: int | None = None, specialty: str | None = None,
                    agent: Staff | None = None, service: Service | None = None,
                    offers: OfferMemo | None = None,
                    appointments: Sequence[Appointment] | None = None) -> RenderedScript:
    """The filled-in script for a call, with the two slots offered (the desk can book them).

    `scenario`, `locale`, `doctor_id`, `specialty` override what the call itself suggests;
    `agent` is who will speak when the call has no agent yet (the desk that pops); `service`
    is the one the caller asked about (its name and list price); `offers`: the pops' memo;
    `appointments`: every visit of the call's patient by start, when the caller read them already.
    """
    library = library or default_library()
    clinic = session.get(Clinic, call.clinic_id)
    if clinic is None:
        raise LookupError(f"call {call.id} has no clinic")
    task = _call_task(session, call)
    # get(), not call.patient: a scoped session's lazy load asks the database even when the
    # patient is in the identity map already.
    patient = session.get(Patient, call.patient_id) if call.patient_id else None
    wanted_locale = locale or (patient.preferred_language if patient else None) or clinic.locale
    situation = Situation(
        scenario=scenario or scenario_for_call(session, call, task),
        locale=wanted_locale,
        direction=call.direction.value,
        caller_kind=call.caller_kind.value,
        channel=call.channel.code if call.channel else None,
        purpose=task.purpose.value if task else None,
    )
    selection = select_script(library, situation, clinic.locale)
    chosen = selection.script.locale
    appointment = _appointment_for(session, call, task, now, appointments)
    treatment = session.get(Treatment, task.treatment_id) if task and task.treatment_id else None
    attending = attending_doctor_id(session, patient, appointment, treatment, appointments)
    values = base_values(clinic, now, chosen)
    if call.agent_id is not None:
        agent = session.get(Staff, call.agent_id)
    values.update(person_values(clinic, chosen, agent, patient, appointment, treatment))
    if service is not None:
        values.update(service_values(service, clinic, chosen))
    slots: list[OfferedSlot] = []
    offer = selection.script.offer
    if offer != "none":
        # An acute case goes to whoever is free; otherwise the patient's own doctor when known.
        wanted_doctor = doctor_id if doctor_id is not None else (
            None if offer == "acute" or specialty else attending)
        slots = offer_slots(session, clinic, now, chosen, acute=offer == "acute",
                            doctor_id=wanted_doctor, specialty=specialty, memo=offers)
        values.update(slot_values(slots))
    doctor = session.get(Staff, attending) if attending else None
    if doctor is None and slots:
        doctor = session.get(Staff, slots[0].doctor_id)
    values["doctor"] = doctor_name(doctor, chosen) if doctor else None
    return render(selection, values, slots)


def preview_script(session: Session, library: Library, *, scenario: str, locale: str | None,
                   direction: str | None, caller_kind: str | None, channel: str | None,
                   purpose: str | None, clinic: Clinic | None, now: datetime,
                   context: Mapping[str, str], default_timezone: str,
                   default_locale: str, service: Service | None = None) -> RenderedScript:
    """A script rendered for a described situation (admin previews). Context texts fill
    placeholders as given; with a clinic, its clock, name and real free slots are used."""
    place = clinic or Clinic(name="", timezone=default_timezone, locale=default_locale,
                             morning_until=MORNING_UNTIL, evening_from=EVENING_FROM)
    situation = Situation(scenario=scenario, locale=locale or place.locale,
                          direction=direction,
                          caller_kind=caller_kind, channel=channel, purpose=purpose)
    selection = select_script(library, situation, place.locale)
    chosen = selection.script.locale
    values = base_values(place, now, chosen)
    slots: list[OfferedSlot] = []
    if clinic is not None and selection.script.offer != "none":
        slots = offer_slots(session, clinic, now, chosen, acute=selection.script.offer == "acute")
        values.update(slot_values(slots))
    if service is not None and clinic is not None:
        values.update(service_values(service, clinic, chosen))
    values.update(context)
    return render(selection, values, slots)
