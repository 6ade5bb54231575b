"""The clinic's price list: services with their names, length, price and who performs them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.core.models.base import Base, UTCDateTime, utcnow


class Service(Base):
    """One line of the price list. Prices are in the clinic's currency, in its minor units
    (kopecks, cents; whole yen), so no amount is ever a float."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    # {"ru": "Лечение кариеса", "en": "Filling", "zh": "补牙"}: at least one language.
    names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    # Both None: no price on the list; equal or max None: one price; else a range.
    price_min: Mapped[int | None] = mapped_column(BigInteger)
    price_max: Mapped[int | None] = mapped_column(BigInteger)
    # Codes of core/specialties.py: the doctors who perform it.
    specialties: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
