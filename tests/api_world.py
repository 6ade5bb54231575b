"""A small clinic with every kind of row the JSON API reads: the desk world (doctor, patients,
visits, tasks, receptionists), calls that came in through signed webhooks (with raw webhooks and
events behind them) and a preview-mode campaign with a task per coming visit."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core import events_out
from callcenter.core.models import (
    AbsenceKind,
    Appointment,
    Call,
    Campaign,
    Channel,
    Complaint,
    ComplaintRule,
    ComplaintSeverity,
    ComplaintSubject,
    DialMode,
    DialTask,
    DoctorAbsence,
    DoctorNotice,
    ImportJob,
    OptOut,
    OutboxEvent,
    Patient,
    RawWebhook,
    Service,
    Staff,
    StaffRole,
    TaskPurpose,
    TrackingNumber,
    WebPool,
    utcnow,
)
from tests import desk_world as w

# Path parameter name -> the table its ids come from.
ID_TABLES = {"call_id": Call, "appointment_id": Appointment, "campaign_id": Campaign,
             "task_id": DialTask, "patient_id": Patient, "raw_id": RawWebhook,
             "number_id": TrackingNumber, "entry_id": OptOut, "absence_id": DoctorAbsence,
             "service_id": Service, "channel_id": Channel, "notice_id": DoctorNotice,
             "job_id": ImportJob, "pool_id": WebPool, "complaint_id": Complaint,
             "rule_id": ComplaintRule,
             "event_id": OutboxEvent}


def build(client: Any, session: Session) -> w.World:
    desk = w.build(session)
    for call_id, caller, events in (("api-1", w.MARIA_PHONE, ("ringing", "answered", "ended")),
                                    ("api-2", w.FAMILY_PHONE, ("ringing",)),
                                    ("api-3", w.STRANGER_PHONE, ("ringing", "missed"))):
        for event in events:
            body, headers = w.webhook(call_id, event, caller=caller)
            response = client.post("/webhooks/generic", data=body, headers=headers)
            assert response.status_code == 204, response.get_data(as_text=True)
    campaign = Campaign(clinic_id=desk.clinic.id, purpose=TaskPurpose.CONFIRMATION,
                        mode=DialMode.PREVIEW, name="Confirm coming visits")
    session.add(campaign)
    site_number = session.scalars(select(TrackingNumber).where(TrackingNumber.e164 == w.TRACKED)).one()
    session.add(WebPool(clinic_id=desk.clinic.id, name="Clinic site", key="api-world-pool",
                        sites=["https://clinic-a.example"], fallback_number_id=site_number.id))
    session.add(Service(clinic_id=desk.clinic.id, names={"ru": "Пломба", "en": "Filling"},
                        duration_minutes=45, price_min=650000, specialties=["therapist"]))
    session.flush()
    for visit in session.scalars(select(Appointment).where(Appointment.starts_at > utcnow())):
        patient = session.get(Patient, visit.patient_id)
        assert patient is not None
        session.add(DialTask(clinic_id=desk.clinic.id, campaign_id=campaign.id, patient_id=patient.id,
                             purpose=TaskPurpose.CONFIRMATION, appointment_id=visit.id,
                             phone=patient.phones[0].e164, due_date=utcnow().date()))
    session.add(DoctorNotice(clinic_id=desk.clinic.id, doctor_id=desk.doctor.id, patient_id=desk.maria.id,
                             note="cancelled and would not say when to call"))
    # A finished import with a refused row: its page, status and download answer for real.
    session.add(ImportJob(clinic_id=desk.clinic.id, kind="patients", filename="ident-patients.csv",
                          content=b"id;last name\nP-1;Petrova\n;Sidorov\n", state="done",
                          columns={"id": "external_id", "last name": "last_name"},
                          refused_file=b"id;last name;error\n;Sidorov;the id is empty\n"))
    events_out.patient_created(desk.maria, utcnow())  # the admin's delivery log has a row
    session.add(OptOut(e164=w.STRANGER_PHONE, clinic_id=desk.clinic.id, scope="all", source="admin",
                       reason="asked not to be called"))
    session.add(Complaint(clinic_id=desk.clinic.id, patient_id=desk.maria.id, subject=ComplaintSubject.WAITING,
                          severity=ComplaintSeverity.LOW, words="Waited long", owner_id=desk.anna.id,
                          callback_by_id=desk.anna.id, created_by_id=desk.anna.id,
                          due_on=date(2099, 1, 1)))
    session.add(ComplaintRule(clinic_id=desk.clinic.id, subject=ComplaintSubject.BILLING,
                              owner_id=desk.anna.id, due_days=2))
    # Far ahead, so no offer of the coming weeks changes: the doctors' pages take its id.
    session.add(DoctorAbsence(doctor_id=desk.doctor.id, starts_on=date(2099, 7, 1),
                              ends_on=date(2099, 7, 14), kind=AbsenceKind.VACATION))
    session.commit()
    return desk


def existing_ids(session: Session) -> dict[str, list[int]]:
    """Every path parameter's ids that exist, for requests that reach real rows."""
    ids = {name: list(session.scalars(select(table.id).order_by(table.id)))
           for name, table in ID_TABLES.items()}
    # The staff pages take any staff member, the doctors' pages a doctor: a doctor serves both.
    ids["staff_id"] = list(session.scalars(select(Staff.id).where(Staff.role == StaffRole.DOCTOR)
                                           .order_by(Staff.id)))
    return ids
