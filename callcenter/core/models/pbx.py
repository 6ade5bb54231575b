"""A clinic's own account with a PBX provider: the URL token its webhooks arrive under and the
signing secrets that differ from the installation's (CALLCENTER_*_SECRET and friends)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.core.models.base import Base, UTCDateTime, utcnow


class PbxAccount(Base):
    __tablename__ = "pbx_accounts"
    __table_args__ = (UniqueConstraint("clinic_id", "provider"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    # The path segment of the webhook URL: it names the account before anything in the request is
    # trusted, so the right secret verifies it. Random, not the id: a guessed URL gets a 404.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    # The provider's signing settings as JSON, sealed with a key derived from CALLCENTER_SECRET_KEY
    # (core/secret_box.py): a database dump or backup does not give the secrets away.
    sealed_settings: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
