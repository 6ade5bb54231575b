"""Two clinics in one database: clinic A with every kind of record (api_world), clinic B with its
own number, patient and calls, and a signed-in client for each staff role of either clinic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callcenter.core.models import Call, Clinic, Patient, Staff
from callcenter.core.phones import display
from tests import api_world
from tests import desk_world as w
from tests import factories as f

B_TRACKED = "+74951230099"
B_PHONE = "+79035550011"
ROLES = ("receptionist", "doctor", "marketing", "admin")


@dataclass
class Pair:
    a: w.World
    b: Clinic
    b_patient: Patient
    a_ids: dict[str, int]  # path parameter -> one of clinic A's ids
    b_call: int
    clients_a: dict[str, Any]
    clients_b: dict[str, Any]
    staff_b: dict[str, Staff]


def post(client: Any, call_id: str, event: str, **kw: Any) -> None:
    body, headers = w.webhook(call_id, event, **kw)
    response = client.post("/webhooks/generic", data=body, headers=headers)
    assert response.status_code == 204, response.get_data(as_text=True)


def build(app: Any, session: Session) -> Pair:
    a = api_world.build(app.test_client(), session)
    a_ids = {name: ids[0] for name, ids in api_world.existing_ids(session).items()}
    # A recording link on the call whose id the walk uses: clinic A's own desk then gets past the
    # 404 of "no recording" (to a 502: nothing listens on the discard port).
    session.execute(update(Call).where(Call.id == a_ids["call_id"])
                    .values(recording_url="http://127.0.0.1:9/recording.wav"))
    b = f.clinic(session, name="Clinic B")
    f.channel_number(session, b, "billboard_b", B_TRACKED)
    b_patient = f.patient(session, b, B_PHONE, first_name="Bertram", last_name="Brown")
    session.commit()
    for event in ("ringing", "answered"):
        post(app.test_client(), "b-1", event, caller=B_PHONE, to=B_TRACKED, extension="201")
    b_call = session.scalar(select(Call.id).where(Call.provider_call_id == "b-1"))
    assert b_call is not None
    clients_a, clients_b, staff_b = {}, {}, {}
    for role in ROLES:
        clients_a[role] = app.test_client()
        f.signed_in(clients_a[role], session, role=role, clinic_row=a.clinic, extension="301")
        clients_b[role] = app.test_client()
        staff_b[role] = f.signed_in(clients_b[role], session, role=role, clinic_row=b, extension="201")
    return Pair(a, b, b_patient, a_ids, b_call, clients_a, clients_b, staff_b)


def a_markers(world: w.World) -> list[str]:
    """Texts only clinic A's records contain: names, numbers, call ids, the campaign's name."""
    phones = [w.MARIA_PHONE, w.FAMILY_PHONE, w.EMILY_PHONE, w.STRANGER_PHONE, w.TRACKED]
    return [*(p.last_name for p in (world.maria, *world.family, world.emily)),
            world.doctor.last_name, *phones, *(display(p, "RU") for p in phones),
            "api-1", "api-2", "api-3", "Confirm coming visits", "ident-patients.csv"]
