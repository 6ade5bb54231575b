"""Advertising channels and the tracking numbers that lead to them: the rules of their forms.

Channels are shared by the clinics of an installation (a network reports by them across its
clinics); numbers belong to one clinic. A channel one of whose numbers belongs to a clinic the
admin does not work in is answered like a missing one: only someone who administers every
clinic using it may rename or retire it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.admin.forms import Problems
from callcenter.core.inputs import InputError, text
from callcenter.core.models import Channel, Clinic, TrackingNumber
from callcenter.core.phones import normalize
from callcenter.inbound.attribution import UNATTRIBUTED, assign_channel

CODE = re.compile(r"^[a-z][a-z0-9_]*$")
NUMBERS = TrackingNumber.__table__  # the table, not the entity: seen past the clinic scope


def _checked(form: Any, name: str) -> bool:
    return form.get(name) in ("1", "on", "true")


@dataclass
class ChannelForm:
    name: str = ""
    code: str = ""
    offered_as_answer: bool = True

    @classmethod
    def of(cls, channel: Channel) -> ChannelForm:
        return cls(channel.name, channel.code, channel.offered_as_answer)

    @classmethod
    def read(cls, form: Any) -> ChannelForm:
        return cls(str(form.get("name", "")), str(form.get("code", "")),
                   _checked(form, "offered_as_answer"))


def _name(raw: str) -> str:
    value = text(Channel.name, raw, "name").strip()
    if not value:
        raise InputError("name", "required")
    return value


def _code(session: Session, raw: str) -> str:
    value = text(Channel.code, raw, "code").strip()
    if not CODE.match(value):
        raise InputError("code", "lower-case Latin letters, digits and _, starting with a letter")
    if value == UNATTRIBUTED:
        raise InputError("code", "{value} is reserved", value=value)
    if session.scalar(select(Channel.id).where(Channel.code == value)) is not None:
        raise InputError("code", "a channel with the code {value} exists", value=value)
    return value


def channel_problems(session: Session, form: ChannelForm, channel: Channel | None) -> Problems:
    """A new channel needs a unique code; a channel's code never changes (scripts and the
    desk's answers name it), only its name and whether the desk offers it."""
    problems = Problems()
    problems.check(lambda: _name(form.name))
    if channel is None:
        problems.check(lambda: _code(session, form.code))
    return problems


def save_channel(channel: Channel, form: ChannelForm) -> None:
    channel.name = form.name.strip()
    channel.offered_as_answer = form.offered_as_answer


def editable_channel(session: Session, channel_id: int, clinic_ids: frozenset[int]) -> Channel | None:
    channel = session.get(Channel, channel_id)
    if channel is None:
        return None
    foreign = session.scalar(select(func.count()).select_from(NUMBERS).where(
        NUMBERS.c.channel_id == channel.id, NUMBERS.c.clinic_id.not_in(clinic_ids)))
    return channel if not foreign else None


def channels_in_use(session: Session) -> dict[int, int]:
    """Numbers (of the admin's clinics) per channel."""
    return dict(session.execute(select(TrackingNumber.channel_id, func.count())
                                .where(TrackingNumber.channel_id.is_not(None))
                                .group_by(TrackingNumber.channel_id)).all())


@dataclass
class NumberForm:
    e164: str = ""
    clinic_id: str = ""
    channel_id: str = ""
    label: str = ""
    main_line: bool = False

    @classmethod
    def of(cls, number: TrackingNumber) -> NumberForm:
        return cls(number.e164, str(number.clinic_id),
                   str(number.channel_id) if number.channel_id else "", number.label,
                   number.main_line)

    @classmethod
    def read(cls, form: Any) -> NumberForm:
        return cls(str(form.get("e164", "")), str(form.get("clinic_id", "")),
                   str(form.get("channel_id", "")), str(form.get("label", "")),
                   _checked(form, "main_line"))


@dataclass(frozen=True)
class NumberValues:
    clinic: Clinic
    channel: Channel | None
    label: str
    main_line: bool
    e164: str = ""


def _id(raw: str) -> int | None:
    value = raw.strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


def form_clinic(session: Session, form: NumberForm) -> Clinic | None:
    """The clinic the form names; None when missing or another clinic's (the scope hides it)."""
    clinic_id = _id(form.clinic_id)
    return session.get(Clinic, clinic_id) if clinic_id is not None else None


def _channel(session: Session, raw: str, current: int | None) -> Channel | None:
    if not raw:
        return None
    channel_id = _id(raw)
    channel = session.get(Channel, channel_id) if channel_id is not None else None
    if channel is None or (not channel.active and channel.id != current):
        raise InputError("channel_id", "choose a channel in use")
    return channel


def _e164(session: Session, raw: str, region: str) -> str:
    value = text(TrackingNumber.e164, raw.strip()[:40], "e164")
    e164 = normalize(value, region) if value else None
    if e164 is None:
        raise InputError("e164", "not a phone number: {value}", value=value)
    if session.scalar(select(NUMBERS.c.id).where(NUMBERS.c.e164 == e164)) is not None:
        raise InputError("e164", "{value} is already registered", value=e164)
    return e164


def number_values(session: Session, form: NumberForm, clinic: Clinic,
                  number: TrackingNumber | None) -> tuple[NumberValues | None, Problems]:
    """The values to store, or None with every problem (a new number also needs its E.164,
    read in the numbering plan of its clinic's region)."""
    problems = Problems()
    channel = problems.check(lambda: _channel(session, form.channel_id.strip(),
                                              number.channel_id if number else None))
    label = problems.check(lambda: text(TrackingNumber.label, form.label, "label").strip())
    e164 = ""
    if number is None:
        e164 = problems.check(lambda: _e164(session, form.e164, clinic.region)) or ""
    if problems or label is None:
        return None, problems
    return NumberValues(clinic, channel, label, form.main_line, e164), problems


def create_number(session: Session, values: NumberValues) -> TrackingNumber:
    number = TrackingNumber(clinic_id=values.clinic.id, e164=values.e164, channel=values.channel,
                            label=values.label, main_line=values.main_line, auto_created=False,
                            active=True)
    session.add(number)
    session.flush()
    return number


def update_number(session: Session, number: TrackingNumber, values: NumberValues) -> int:
    """Clinic, channel (past calls follow it), label and the main-line mark; calls moved."""
    number.clinic_id = values.clinic.id
    number.label = values.label
    number.main_line = values.main_line
    if values.channel is not number.channel:
        return assign_channel(session, number, values.channel)
    number.auto_created = False
    return 0
