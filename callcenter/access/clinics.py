"""Which clinic a call belongs to, and the default clinic of a fresh install."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from callcenter.core.models import Clinic, TrackingNumber


def default_clinic(session: Session, config: dict[str, Any]) -> Clinic:
    """The first clinic; created from the settings when the database has none yet."""
    clinic = session.scalar(select(Clinic).order_by(Clinic.id).limit(1))
    if clinic is None:
        clinic = Clinic(name="Clinic", timezone=config["TIMEZONE"], locale=config["LOCALE"],
                        region=config["REGION"], opening_hours={})
        session.add(clinic)
        session.flush()
    return clinic


def clinic_id_for_number(session: Session, clinic_number: str | None,
                         config: dict[str, Any]) -> int:
    """A clinic network shares one service: the tracking number dialed tells the location, and
    an outbound call's caller ID the clinic that placed it (Twilio reports ours back to us)."""
    if clinic_number:
        conn = session.connection()
        found = (conn.execute(_BY_TRACKING_NUMBER, {"_e164": clinic_number}).scalar()
                 or conn.execute(_BY_CALLER_ID, {"_e164": clinic_number}).scalar())
        if found is not None:
            return int(found)
    return default_clinic(session, config).id


# Built once: on a new call's path (see inbound/calls.py on statements built once).
_BY_TRACKING_NUMBER = (select(TrackingNumber.__table__.c.clinic_id)
                       .where(TrackingNumber.__table__.c.e164 == bindparam("_e164")))
_BY_CALLER_ID = (select(Clinic.__table__.c.id).where(Clinic.__table__.c.caller_id == bindparam("_e164"))
                 .order_by(Clinic.__table__.c.id).limit(1))
