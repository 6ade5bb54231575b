"""Rows without a clinic column of their own (a patient's phones, a call's candidates and events,
a task's attempts) are in a session's scope exactly when their parent is, however they are
reached: selected directly, through an alias, or loaded with their parent."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased, joinedload

from callcenter.core import clinic_scope
from callcenter.core.models import (
    Call,
    CallCandidate,
    CallDirection,
    CallEventRecord,
    CallStatus,
    Clinic,
    DialAttempt,
    DialMode,
    DialTask,
    Patient,
    PatientPhone,
    TaskPurpose,
    utcnow,
)
from tests import factories


def _clinic_with_children(session: Session, name: str, phone: str) -> dict[str, Any]:
    clinic = factories.clinic(session, name=name)
    patient = factories.patient(session, clinic, phone, f"{phone[:-1]}9", last_name=name)
    call = Call(clinic_id=clinic.id, provider="test", provider_call_id=f"{name}-1",
                direction=CallDirection.INBOUND, caller=phone, status=CallStatus.RINGING,
                started_at=utcnow())
    session.add(call)
    session.flush()
    session.add(CallCandidate(call_id=call.id, patient_id=patient.id))
    session.add(CallEventRecord(call_id=call.id, kind="ringing", occurred_at=utcnow(),
                                dedupe_key=f"{name}-ring"))
    task = DialTask(clinic_id=clinic.id, patient_id=patient.id, purpose=TaskPurpose.RECALL,
                    due_date=date.today() + timedelta(days=1), phone=phone)
    session.add(task)
    session.flush()
    session.add(DialAttempt(task_id=task.id, attempt_no=1, mode=DialMode.PREVIEW, phone=phone))
    session.commit()
    return {"clinic": clinic.id, "patient": patient.id, "call": call.id, "task": task.id}


def test_child_rows_follow_their_parents_clinic(app: Any, session: Session) -> None:
    a = _clinic_with_children(session, "Alpha", "+79001112201")
    b = _clinic_with_children(session, "Beta", "+79001112301")
    factory = app.extensions["callcenter"].sessions
    with factory() as scoped:
        clinic_scope.restrict(scoped, clinic_scope.Scope(frozenset({a["clinic"]})))
        assert set(scoped.scalars(select(Clinic.id))) == {a["clinic"]}
        assert sorted(scoped.scalars(select(PatientPhone.e164))) == ["+79001112201", "+79001112209"]
        other_phone = aliased(PatientPhone)
        assert {p.patient_id for p in scoped.scalars(select(other_phone))} == {a["patient"]}
        # The parent and its children in one statement (the card's read): only A's, all of them.
        loaded = scoped.scalars(select(Patient).options(joinedload(Patient.phones))
                                .where(Patient.id.in_([a["patient"], b["patient"]]))).unique().all()
        assert [(p.id, len(p.phones)) for p in loaded] == [(a["patient"], 2)]
        # A join from the child to its parent keeps both: the criteria do not swallow the join.
        joined = scoped.execute(select(PatientPhone.e164, Patient.last_name)
                                .join(Patient, Patient.id == PatientPhone.patient_id)).all()
        assert {row.last_name for row in joined} == {"Alpha"} and len(joined) == 2
        assert [c.patient_id for c in scoped.scalars(select(CallCandidate))] == [a["patient"]]
        assert [e.call_id for e in scoped.scalars(select(CallEventRecord))] == [a["call"]]
        assert [t.task_id for t in scoped.scalars(select(DialAttempt))] == [a["task"]]
        # B's children by their own keys are simply not there.
        assert scoped.scalars(select(CallCandidate).where(CallCandidate.call_id == b["call"])).all() == []
        assert scoped.scalars(select(DialAttempt).where(DialAttempt.task_id == b["task"])).all() == []
    with factory() as whole:  # unscoped (worker, webhooks): everything
        assert len(whole.scalars(select(PatientPhone)).all()) == 4
        assert len(whole.scalars(select(DialAttempt)).all()) == 2
