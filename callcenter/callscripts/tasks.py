"""The script for a call on the outbound list, before there is a call: the task's purpose picks
the scenario, the patient's visit or treatment fills it, and the two slots are offered (the
patient's own doctor first) for the scenarios that book."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from callcenter.callscripts.offering import OfferedSlot, offer_slots, slot_values
from callcenter.callscripts.selection import (
    SCENARIO_FOR_PURPOSE,
    RenderedScript,
    Situation,
    attending_doctor_id,
    base_values,
    default_library,
    render,
    select_script,
)
from callcenter.callscripts.values import doctor_name, person_values
from callcenter.core.models import Appointment, Clinic, DialTask, Patient, Staff, Treatment


def script_for_task(session: Session, task: DialTask, now: datetime, *, agent: Staff) -> RenderedScript:
    clinic = session.get(Clinic, task.clinic_id)
    assert clinic is not None  # a task always has its clinic
    patient = session.get(Patient, task.patient_id) if task.patient_id else None
    situation = Situation(scenario=SCENARIO_FOR_PURPOSE[task.purpose],
                          locale=(patient.preferred_language if patient else None) or clinic.locale,
                          direction="outbound", caller_kind="repeat" if patient else "new",
                          purpose=task.purpose.value)
    selection = select_script(default_library(), situation, clinic.locale)
    chosen = selection.script.locale
    visit = session.get(Appointment, task.appointment_id) if task.appointment_id else None
    treatment = session.get(Treatment, task.treatment_id) if task.treatment_id else None
    attending = attending_doctor_id(session, patient, visit, treatment)
    values = base_values(clinic, now, chosen)
    values.update(person_values(clinic, chosen, agent, patient, visit, treatment))
    slots: list[OfferedSlot] = []
    if selection.script.offer != "none":
        slots = offer_slots(session, clinic, now, chosen, acute=selection.script.offer == "acute",
                            doctor_id=attending)
        values.update(slot_values(slots))
    doctor = session.get(Staff, attending) if attending else None
    values["doctor"] = doctor_name(doctor, chosen) if doctor else None
    return render(selection, values, slots)
