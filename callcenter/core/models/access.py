"""Signed-in browsers: the server-side half of a staff session."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.core.models.base import Base, UTCDateTime


class StaffSession(Base):
    """One sign-in. The cookie carries a random token; the key is its SHA-256, so a copy of this
    table (a backup, a replica) signs nobody in."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # sign_out, idle, expired, password, deactivated: what an admin reads when asked "why was I out?"
    end_reason: Mapped[str | None] = mapped_column(String(20))
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    remote_addr: Mapped[str] = mapped_column(String(64), default="")


class FirstRun(Base):
    """The one row that says the installation was set up (`access/first_run.py`). Its key is
    fixed, so of two set-ups racing on an empty database the second one's insert fails in the
    database itself; it goes with the first administrator, so deleting every account reopens set-up."""

    __tablename__ = "first_run"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    admin_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    done_at: Mapped[datetime] = mapped_column(UTCDateTime)
