"""Zadarma: the reference signature example in both encodings, the echo handshake, time zones."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from tests.conftest import PAYLOADS
from tests.dialects import ADAPTER_SETTINGS
from webhooks import CallEventKind, Direction, InboundRequest, PayloadError, SignatureError
from webhooks.zadarma import ZadarmaAdapter

ADAPTER = ZadarmaAdapter()
REFERENCE = PAYLOADS / "zadarma" / "reference"


def _post(form: dict[str, str], signature: str | None) -> InboundRequest:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["Signature"] = signature
    return InboundRequest(provider="zadarma", subpath="", method="POST", url="https://x/",
                          headers=headers, body=urlencode(form).encode())


def _self_example() -> tuple[dict[str, str], dict, dict]:
    example = json.loads((REFERENCE / "signature_example.self.json").read_text())
    form = {"event": example["event"], "call_start": example["call_start"],
            "pbx_call_id": "in_example", "caller_id": example["caller_id"],
            "called_did": example["called_did"]}
    return form, {**ADAPTER_SETTINGS, "ZADARMA_SECRET": example["secret"]}, example


@pytest.mark.parametrize("encoding", ["Signature_base64_of_hex (PHP/Python official)",
                                      "Signature_base64_of_raw (TS SDK variant)"])
def test_reference_example_verifies_in_both_encodings(encoding: str) -> None:
    form, settings, example = _self_example()
    ADAPTER.verify(_post(form, example[encoding]), settings)


def test_reference_example_refuses_a_changed_caller() -> None:
    form, settings, example = _self_example()
    form["caller_id"] = "+79001234568"
    with pytest.raises(SignatureError):
        ADAPTER.verify(_post(form, example["Signature_base64_of_hex (PHP/Python official)"]),
                       settings)


def test_reference_form_file_with_its_printed_signature() -> None:
    lines = (REFERENCE / "notify_start.form.txt").read_text().splitlines()
    signature = next(line for line in lines if "Signature header" in line).rsplit("= ", 1)[1]
    body = next(line for line in lines if not line.startswith("#"))
    request = InboundRequest(provider="zadarma", subpath="", method="POST", url="https://x/",
                             headers={"Signature": signature.strip()}, body=body.encode())
    ADAPTER.verify(request, {**ADAPTER_SETTINGS, "ZADARMA_SECRET": "test_secret"})
    (event,) = ADAPTER.parse(request, ADAPTER_SETTINGS)
    assert event.kind == CallEventKind.RINGING and event.caller == "+79001234567"
    assert event.dialed == "+74951234567"


def test_echo_handshake_is_answered_without_a_signature() -> None:
    request = InboundRequest(provider="zadarma", subpath="", method="GET", url="https://x/",
                             headers={}, body=b"", query="zd_echo=Xy7_kP2q")
    ADAPTER.verify(request, {**ADAPTER_SETTINGS, "ZADARMA_SECRET": ""})
    assert ADAPTER.parse(request, ADAPTER_SETTINGS) == []
    reply = ADAPTER.reply(request, [], ADAPTER_SETTINGS)
    assert (reply.status, reply.body) == (200, "Xy7_kP2q")


def test_echo_with_markup_is_refused() -> None:
    request = InboundRequest(provider="zadarma", subpath="", method="GET", url="https://x/",
                             headers={}, body=b"", query="zd_echo=%3Cscript%3E")
    with pytest.raises(PayloadError):
        ADAPTER.parse(request, ADAPTER_SETTINGS)


@pytest.mark.parametrize(("zone", "utc_hour"), [("Europe/Moscow", 10), ("Asia/Yekaterinburg", 8),
                                                ("UTC", 13)])
def test_call_start_is_read_in_the_clinic_time_zone(zone: str, utc_hour: int) -> None:
    form = {"event": "NOTIFY_START", "call_start": "2024-05-01 13:00:00", "pbx_call_id": "in_1",
            "caller_id": "79001234567", "called_did": "74951234567"}
    (event,) = ADAPTER.parse(_post(form, None), {**ADAPTER_SETTINGS, "TIMEZONE": zone})
    assert event.occurred_at == datetime(2024, 5, 1, utc_hour, tzinfo=UTC)


def test_missed_end_and_hidden_caller() -> None:
    form = {"event": "NOTIFY_END", "call_start": "2024-05-01 13:00:00", "pbx_call_id": "in_2",
            "caller_id": "anonymous", "called_did": "74951234567", "internal": "",
            "duration": "0", "disposition": "busy", "status_code": "17", "is_recorded": "0"}
    (event,) = ADAPTER.parse(_post(form, None), ADAPTER_SETTINGS)
    assert event.kind == CallEventKind.MISSED and event.caller is None
    assert event.caller_raw == "anonymous" and event.extra["disposition"] == "busy"


def test_outbound_call_is_dialed_to_the_client() -> None:
    form = {"event": "NOTIFY_OUT_START", "call_start": "2024-05-01 13:00:00",
            "pbx_call_id": "out_1", "internal": "102", "destination": "79001234567"}
    (event,) = ADAPTER.parse(_post(form, None), ADAPTER_SETTINGS)
    assert event.direction == Direction.OUTBOUND and event.dialed == "+79001234567"
    assert event.extension == "102"


def test_unknown_event_cannot_be_verified() -> None:
    with pytest.raises(SignatureError):
        ADAPTER.verify(_post({"event": "NOTIFY_SMS"}, "c2ln"), ADAPTER_SETTINGS)


def test_multipart_posts_are_refused_not_guessed() -> None:
    """One declared encoding: a multipart body is not read, even with a valid Signature."""
    form, settings, example = _self_example()
    parts = b"".join(
        b'--b0undary\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
        % (name.encode(), value.encode()) for name, value in form.items())
    request = InboundRequest(
        provider="zadarma", subpath="", method="POST", url="https://x/",
        headers={"Content-Type": "multipart/form-data; boundary=b0undary",
                 "Signature": example["Signature_base64_of_hex (PHP/Python official)"]},
        body=parts + b"--b0undary--\r\n")
    with pytest.raises(PayloadError) as refused:
        ADAPTER.verify(request, settings)
    assert refused.value.field == "Content-Type"


def test_answer_names_the_signed_destination_not_the_unsigned_internal() -> None:
    form = {"event": "NOTIFY_ANSWER", "caller_id": "79001234567", "destination": "101",
            "call_start": "2024-05-01 13:00:00", "pbx_call_id": "in_3", "internal": "102"}
    (event,) = ADAPTER.parse(_post(form, None), ADAPTER_SETTINGS)
    assert event.kind == CallEventKind.ANSWERED and event.extension == "101"


def test_the_recording_comes_only_from_the_signed_notify_record() -> None:
    end = {"event": "NOTIFY_END", "call_start": "2024-05-01 13:00:00", "pbx_call_id": "in_4",
           "caller_id": "79001234567", "called_did": "74951234567", "internal": "101",
           "duration": "60", "disposition": "answered", "is_recorded": "1",
           "call_id_with_rec": "1714557600.77"}
    assert CallEventKind.RECORDING not in {e.kind for e in ADAPTER.parse(_post(end, None),
                                                                          ADAPTER_SETTINGS)}
    record = {"event": "NOTIFY_RECORD", "pbx_call_id": "in_4", "call_id_with_rec": "1714557600.77"}
    (event,) = ADAPTER.parse(_post(record, None), ADAPTER_SETTINGS)
    assert event.recording_url == "zadarma-record:1714557600.77"


@pytest.mark.parametrize("rec_id", ["714557600.77", "17145576001.77", "x1714557600.77", "1714557600"])
def test_a_recording_id_that_could_be_a_re_cut_call_id_is_refused(rec_id: str) -> None:
    """pbx_call_id + call_id_with_rec are signed as one string: only the documented shape of the
    second leaves no other way to cut it."""
    record = {"event": "NOTIFY_RECORD", "pbx_call_id": "in_4", "call_id_with_rec": rec_id}
    with pytest.raises(PayloadError):
        ADAPTER.parse(_post(record, None), ADAPTER_SETTINGS)


def test_each_event_binds_its_signed_facts_its_call_and_its_outcome() -> None:
    form = {"event": "NOTIFY_END", "call_start": "2024-05-01 13:00:00", "pbx_call_id": "in_5",
            "caller_id": "79001234567", "called_did": "74951234567", "internal": "101",
            "duration": "60", "disposition": "answered", "status_code": "16"}
    claims = {(b.scope, b.call) for e in ADAPTER.parse(_post(form, None), ADAPTER_SETTINGS)
              for b in e.bindings}
    assert claims == {("signed", "in_5"), ("call", "in_5"), ("end", "in_5")}


def test_a_repeated_field_is_refused_not_resolved() -> None:
    body = urlencode(START_FORM).encode() + b"&caller_id=79990000000"
    request = InboundRequest(provider="zadarma", subpath="", method="POST", url="https://x/",
                             headers={"Signature": "c2ln"}, body=body)
    with pytest.raises(PayloadError) as refused:
        ADAPTER.verify(request, ADAPTER_SETTINGS)
    assert refused.value.field == "caller_id"


START_FORM = {"event": "NOTIFY_START", "call_start": "2024-05-01 13:00:00", "pbx_call_id": "in_6",
              "caller_id": "79001234567", "called_did": "74951234567"}
