"""The audit trail: who viewed which patient card, played which recording, exported what."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from sqlalchemy.orm import Session

from callcenter.core.models import AuditLog


def record(session: Session, staff_id: int | None, action: str, object_type: str,
           object_id: object = "", **details: Any) -> None:
    """Add an audit row to the session; it commits with the caller's transaction."""
    session.add(AuditLog(
        staff_id=staff_id, action=action, object_type=object_type, object_id=str(object_id),
        details=details, remote_addr=(request.remote_addr or "") if has_request_context() else "",
    ))
