"""Saved column mappings ("IDENT patients"), per clinic and kind."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.inputs import InputError, text
from callcenter.core.models import ImportProfile


def profiles(session: Session, clinic_id: int, kind: str) -> list[ImportProfile]:
    return list(session.scalars(select(ImportProfile).where(
        ImportProfile.clinic_id == clinic_id, ImportProfile.kind == kind
    ).order_by(ImportProfile.name)))


def save_profile(session: Session, clinic_id: int, kind: str, name: str,
                 columns: dict[str, str]) -> ImportProfile:
    """Create or replace the clinic's mapping of that name."""
    name = text(ImportProfile.name, name.strip(), "name")
    if not name:
        raise InputError("name", "required")
    row = session.scalar(select(ImportProfile).where(
        ImportProfile.clinic_id == clinic_id, ImportProfile.kind == kind, ImportProfile.name == name))
    if row is None:
        row = ImportProfile(clinic_id=clinic_id, kind=kind, name=name)
        session.add(row)
    row.columns = dict(columns)
    session.flush()
    return row
