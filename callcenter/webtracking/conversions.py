"""Booked and arrived visits of website calls, owed to the ad platforms that brought the click.

`collect` records each once per platform and kind (web_conversions); the rows of the platforms'
formats are built here, for the file to download and the upload alike:
- Yandex Metrica, the calls upload CSV: ClientId or Yclid (one id type per file), DateTime (Unix,
  UTC), StaticCall 0, PhoneNumber, TalkDuration, CallMissed, FirstTimeCaller, Tag, URL, Price,
  Currency (README §3.3 of the reference notes).
- Google Ads, ClickConversion: gclid | gbraid | wbraid (exactly one: Google refuses a braid beside
  a gclid, and both braids), conversionAction, conversionDateTime "yyyy-mm-dd hh:mm:ss+hh:mm" in
  the clinic's zone, conversionValue, currencyCode, orderId.
- Google Ads, CallConversion: for a call from a Google Ads call asset, which brings no click id,
  Google matches the callerId (E.164) and callStartDateTime of the call it forwarded;
  conversionAction, conversionDateTime, conversionValue, currencyCode. The calls are those to
  the numbers of the channel the clinic names as the call assets' forwarding target.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Call,
    CallStatus,
    Channel,
    Clinic,
    WebAdAccount,
    WebCallLink,
    WebConversion,
    WebVisit,
)
from callcenter.core.price_list import currency_of

ARRIVED = (AppointmentStatus.ARRIVED, AppointmentStatus.COMPLETED)
NOT_A_BOOKING = (AppointmentStatus.CANCELLED,)
CHUNK = 500  # call ids per IN (…)
METRICA_COLUMNS = ("DateTime", "StaticCall", "PhoneNumber", "TalkDuration", "CallMissed",
                   "FirstTimeCaller", "Tag", "URL", "Price", "Currency")
GOOGLE_CALL_CSV_HEADER = ("Caller's Phone Number", "Call Start Time", "Conversion Name",
                          "Conversion Time", "Conversion Value", "Conversion Currency")
GOOGLE_CSV_HEADER = ("Google Click ID", "Conversion Name", "Conversion Time", "Conversion Value",
                     "Conversion Currency", "Order ID")
ID_COLUMNS = {"CLIENT_ID": "ClientId", "YCLID": "Yclid"}  # client_id_type -> the CSV's id column
# The names the conversion actions must have in Google Ads for a file import.
GOOGLE_NAMES = {"booked": "Booked visit", "arrived": "Arrived visit"}


def _platforms(visit: WebVisit) -> list[str]:
    """The platforms that can match the visit: Metrica by its client id or yclid, Google Ads
    by a click id."""
    out = []
    if visit.ym_client_id or visit.yclid:
        out.append("metrica")
    if visit.gclid or visit.gbraid or visit.wbraid:
        out.append("google")
    return out


def _kinds(appointment: Appointment) -> dict[str, datetime]:
    kinds = {"booked": appointment.created_at}
    if appointment.status in ARRIVED:
        kinds["arrived"] = max(appointment.starts_at, appointment.created_at)
    return kinds


def collect(session: Session, now: datetime) -> int:
    """Record the conversions not yet recorded; how many. The caller commits."""
    # From the few calls that can owe a conversion (tied to a site visit, or on a channel the clinic
    # reports to Google) to their bookings by the bookings' call index: joined the other way,
    # SQLite read every visit the clinics ever had, every minute, inside the job's write.
    visits = {call_id: visit for call_id, visit in session.execute(
        select(WebCallLink.call_id, WebVisit).join(WebVisit, WebVisit.id == WebCallLink.visit_id))}
    web = [(a, a.created_by_call_id, visits[a.created_by_call_id])
           for a in _booked_on(session, list(visits))]
    channels = [tuple(row) for row in session.execute(
        select(Channel.id, WebAdAccount.clinic_id)
        .join(Channel, WebAdAccount.google_call_channel == Channel.code)
        .where(WebAdAccount.google_call_channel != ""))]
    google_calls: list[int] = []
    if channels:
        google_calls = list(session.scalars(select(Call.id).where(
            tuple_(Call.channel_id, Call.clinic_id).in_(channels), Call.caller.is_not(None))))
    calls = [(a, a.created_by_call_id) for a in _booked_on(session, google_calls)]
    owed = [(a, call_id, visit, platform) for a, call_id, visit in web for platform in _platforms(visit)]
    owed += [(a, call_id, None, "google_call") for a, call_id in calls]
    if not owed:
        return 0
    known = set(session.execute(select(WebConversion.platform, WebConversion.appointment_id,
                                       WebConversion.kind)))
    added = 0
    for appointment, call_id, visit, platform in owed:
        for kind, moment in _kinds(appointment).items():
            if (platform, appointment.id, kind) in known or moment > now:
                continue
            known.add((platform, appointment.id, kind))
            session.add(WebConversion(
                clinic_id=appointment.clinic_id, platform=platform, kind=kind,
                appointment_id=appointment.id, call_id=call_id,
                visit_id=visit.id if visit is not None else None, occurred_at=moment,
                value=appointment.price if kind == "arrived" else None))
            added += 1
    session.flush()
    return added


def _booked_on(session: Session, call_ids: list[int]) -> list[Appointment]:
    """The bookings made on these calls (not cancelled or moved away), in id order."""
    found: list[Appointment] = []
    for start in range(0, len(call_ids), CHUNK):
        found += session.scalars(select(Appointment).where(
            Appointment.created_by_call_id.in_(call_ids[start:start + CHUNK]),
            Appointment.status.not_in(NOT_A_BOOKING)))
    return sorted(found, key=lambda a: a.id)


@dataclass(frozen=True)
class Item:
    conversion: WebConversion
    visit: WebVisit  # google_call: an empty one (the call is the match)
    call: Call


def items(session: Session, clinic_id: int, platform: str, *, pending_only: bool) -> list[Item]:
    query = (select(WebConversion, WebVisit, Call)
             .outerjoin(WebVisit, WebVisit.id == WebConversion.visit_id)
             .join(Call, Call.id == WebConversion.call_id)
             .where(WebConversion.clinic_id == clinic_id, WebConversion.platform == platform)
             .order_by(WebConversion.id))
    if pending_only:
        query = query.where(WebConversion.state == "pending")
    return [Item(c, v or WebVisit(), call) for c, v, call in session.execute(query)]


def _money(value: Decimal | None) -> str:
    return f"{value:.2f}" if value is not None else ""


def metrica_rows(clinic: Clinic, batch: list[Item]) -> dict[str, list[tuple[Item, dict[str, str]]]]:
    """The calls CSV rows by id type (CLIENT_ID, YCLID): one file holds one type of id."""
    files: dict[str, list[tuple[Item, dict[str, str]]]] = {}
    currency = currency_of(clinic)
    for item in batch:
        kind, id_value = (("CLIENT_ID", item.visit.ym_client_id) if item.visit.ym_client_id
                          else ("YCLID", item.visit.yclid))
        call = item.call
        value = item.conversion.value
        files.setdefault(kind, []).append((item, {
            ID_COLUMNS[kind]: id_value, "DateTime": str(int(item.conversion.occurred_at.timestamp())),
            "StaticCall": "0", "PhoneNumber": call.caller or "",
            "TalkDuration": str(call.duration or 0),
            "CallMissed": "1" if call.status == CallStatus.MISSED else "0",
            "FirstTimeCaller": "1" if call.first_time else "0", "Tag": item.conversion.kind,
            "URL": item.visit.landing_url, "Price": _money(value),
            "Currency": currency if value is not None else ""}))
    return files


def metrica_csv(rows: list[dict[str, str]], id_column: str) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=(id_column, *METRICA_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def google_time(moment: datetime, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M:%S") + f"{offset[:3]}:{offset[3:]}"


def google_conversions(clinic: Clinic, customer: str, action: str,
                       batch: list[Item]) -> list[dict[str, Any]]:
    """The ClickConversion objects of uploadClickConversions, in the batch's order."""
    out = []
    for item in batch:
        visit, conversion = item.visit, item.conversion
        row: dict[str, Any] = {
            "conversionAction": f"customers/{customer}/conversionActions/{action}",
            "conversionDateTime": google_time(conversion.occurred_at, clinic.timezone),
            "orderId": f"visit-{conversion.appointment_id}-{conversion.kind}"}
        # Exactly one click id per conversion; gclid first, as Google's own example does.
        for name in ("gclid", "gbraid", "wbraid"):
            if getattr(visit, name):
                row[name] = getattr(visit, name)
                break
        out.append(_with_value(row, conversion, clinic))
    return out


def _with_value(row: dict[str, Any], conversion: WebConversion, clinic: Clinic) -> dict[str, Any]:
    """The row with the conversion's value and currency, when the visit has a value."""
    if conversion.value is not None:
        row["conversionValue"] = float(conversion.value)
        row["currencyCode"] = currency_of(clinic)
    return row


def google_csv(clinic: Clinic, batch: list[Item]) -> str:
    """The offline click conversions import file (gclid rows only: the file has no other id)."""
    out = io.StringIO()
    out.write(f"Parameters:TimeZone={clinic.timezone}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(GOOGLE_CSV_HEADER)
    for item in batch:
        if not item.visit.gclid:
            continue
        conversion = item.conversion
        local = conversion.occurred_at.astimezone(ZoneInfo(clinic.timezone))
        writer.writerow((item.visit.gclid, GOOGLE_NAMES[conversion.kind],
                         local.strftime("%Y-%m-%d %H:%M:%S"), _money(conversion.value),
                         currency_of(clinic) if conversion.value is not None else "",
                         f"visit-{conversion.appointment_id}-{conversion.kind}"))
    return out.getvalue()


def google_call_conversions(clinic: Clinic, customer: str, action: str,
                            batch: list[Item]) -> list[dict[str, Any]]:
    """The CallConversion objects of uploadCallConversions, in the batch's order."""
    out = []
    for item in batch:
        conversion = item.conversion
        row: dict[str, Any] = {
            "callerId": item.call.caller,
            "callStartDateTime": google_time(item.call.started_at, clinic.timezone),
            "conversionAction": f"customers/{customer}/conversionActions/{action}",
            "conversionDateTime": google_time(conversion.occurred_at, clinic.timezone)}
        out.append(_with_value(row, conversion, clinic))
    return out


def google_calls_csv(clinic: Clinic, batch: list[Item]) -> str:
    """The call conversions import file: the caller and the call's start name the call."""
    out = io.StringIO()
    out.write(f"Parameters:TimeZone={clinic.timezone}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(GOOGLE_CALL_CSV_HEADER)
    zone = ZoneInfo(clinic.timezone)
    for item in batch:
        conversion = item.conversion
        writer.writerow((item.call.caller, item.call.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                         GOOGLE_NAMES[conversion.kind],
                         conversion.occurred_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                         _money(conversion.value),
                         currency_of(clinic) if conversion.value is not None else ""))
    return out.getvalue()
