"""The text providers against their documented examples and our local servers; the reading of
replies; segment counting; the templates and `scripts check`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from callcenter.core.config import load_config
from callcenter.core.models import MessageStatus
from callcenter.messaging import segments, templates
from callcenter.messaging.providers import Outgoing, SendError, provider_for
from callcenter.messaging.replies import Reading, interpret
from tests.sms_env import provider_settings, start_fake
from webhooks import InboundRequest, PayloadError, SignatureError

ROOT = Path(__file__).resolve().parent.parent
# Requests as the providers document them (names from their docs, values made up).
REFERENCE = ROOT / "tests" / "payloads" / "sms"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _recorded(path: Path) -> tuple[str, dict[str, str], bytes]:
    """(path and query, headers, body) of an HTTP request written out in a reference file."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    target = lines[0].split()[1]
    blank = lines.index("")
    headers = dict(line.split(": ", 1) for line in lines[2:blank])
    return target, headers, "\n".join(lines[blank + 1:]).strip().encode()


def _request(provider: str, subpath: str, url: str, headers: dict[str, str], body: bytes) -> InboundRequest:
    query = url.partition("?")[2]
    return InboundRequest(provider=provider, subpath=subpath, method="POST", url=url, headers=headers,
                          body=body, query=query, received_at=datetime(2026, 5, 14, tzinfo=UTC))


def _config(**values: str) -> dict[str, Any]:
    return load_config(environ={}, override={"SECRET_KEY": "x", **values})


@pytest.mark.parametrize("name,subpath", [("inbound_sms", "inbound"), ("status_callback_delivered", "status"),
                                          ("status_callback_undelivered", "status")])
def test_twilio_documented_callbacks_verify_and_parse(name: str, subpath: str) -> None:
    target, headers, body = _recorded(REFERENCE / "twilio" / f"{name}.illustrative.txt")
    twilio = provider_for("twilio", _config(TWILIO_AUTH_TOKEN="12345"))
    assert twilio is not None
    request = _request("sms-twilio", subpath, f"https://clinic.example{target}", headers, body)
    twilio.verify(request)
    [event] = twilio.parse(request)
    if subpath == "inbound":
        assert (event.kind, event.phone, event.body) == ("incoming", "+79161234567", "Да")
    else:
        assert event.status in (MessageStatus.DELIVERED, MessageStatus.UNDELIVERED)
        assert event.provider_message_id == "SM" + "2" * 32
    tampered = _request("sms-twilio", subpath, f"https://clinic.example{target}", headers,
                        body.replace(b"To=", b"To=1"))
    with pytest.raises(SignatureError):
        twilio.verify(tampered)


def test_twilio_stop_carries_the_providers_opt_out() -> None:
    target, headers, body = _recorded(REFERENCE / "twilio" / "inbound_stop_optouttype.illustrative.txt")
    twilio = provider_for("twilio", _config(TWILIO_AUTH_TOKEN="12345"))
    assert twilio is not None
    request = _request("sms-twilio", "inbound", f"https://clinic.example{target}", headers, body)
    twilio.verify(request)
    assert twilio.parse(request)[0].opt_out == "STOP"


@pytest.mark.parametrize("name", ["callback_status", "callback_incoming"])
def test_smsc_documented_callbacks_verify_and_parse(name: str) -> None:
    target, headers, body = _recorded(REFERENCE / "smsc" / f"{name}.illustrative.txt")
    smsc = provider_for("smsc", _config(SMSC_SECRET="callbacksecret"))
    assert smsc is not None
    request = _request("sms-smsc", "", f"https://clinic.example{target}", headers, body)
    smsc.verify(request)
    [event] = smsc.parse(request)
    assert event.phone == "+79161234567"
    if name == "callback_status":
        assert (event.message_id, event.status) == (42, MessageStatus.DELIVERED)
    else:
        assert (event.kind, event.body) == ("incoming", "Да")
    with pytest.raises(SignatureError):
        smsc.verify(_request("sms-smsc", "", target, headers, body.replace(b"phone=7916", b"phone=7926")))


def test_smsc_checksum_matches_the_client_librarys_vector() -> None:
    """brainspec/smscru's test: phone=123, mes=text, to=234, secret zxc."""
    smsc = provider_for("smsc", _config(SMSC_SECRET="zxc"))
    assert smsc is not None
    body = b"phone=123&mes=text&to=234&sha1=b6f768ce7614d7858cc4a6116f8ffd0dc236a3cd"
    smsc.verify(_request("sms-smsc", "", "https://x/webhooks/sms/smsc?charset=utf-8", FORM, body))


def test_unsigned_and_malformed_callbacks_are_refused() -> None:
    smsc = provider_for("smsc", _config())
    assert smsc is not None
    with pytest.raises(SignatureError):  # no secret set: nothing is accepted
        smsc.verify(_request("sms-smsc", "", "https://x/?charset=utf-8", FORM, b"id=1&phone=7&status=1"))
    smsc = provider_for("smsc", _config(SMSC_SECRET="s"))
    assert smsc is not None
    with pytest.raises(PayloadError) as problem:
        smsc.parse(_request("sms-smsc", "", "https://x/?charset=utf-8", FORM, b"id=1&phone=7&status=x"))
    assert problem.value.field == "status"


@pytest.fixture(params=["twilio", "smsc"])
def fake(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    server = start_fake(request.param)
    yield request.param, server
    server.stop()


def test_send_and_find_again_at_the_fake_provider(fake: tuple[str, Any]) -> None:
    name, server = fake
    provider = provider_for(name, _config(**provider_settings(name, server)))
    assert provider is not None
    outgoing = Outgoing(41, "+79161230041", "Напоминаем о приёме", "+74950000000", "")
    assert provider.lookup(outgoing, datetime.now(UTC)) is None
    sent = provider.send(outgoing)
    assert sent.status is MessageStatus.SENT and sent.provider_message_id
    assert [m.body for m in server.to("+79161230041")] == ["Напоминаем о приёме"]
    found = provider.lookup(outgoing, datetime.now(UTC))
    assert found is not None and found.provider_message_id == sent.provider_message_id
    if name == "smsc":
        assert sent.cost == Decimal("2.70")
        # The same id again: SMSC says duplicate (error 9) and we adopt the message it has.
        assert provider.send(outgoing).provider_message_id == sent.provider_message_id
        assert len(server.to("+79161230041")) == 1


def test_refusals_are_permanent_or_not(fake: tuple[str, Any]) -> None:
    name, server = fake
    wrong = {**provider_settings(name, server), "TWILIO_AUTH_TOKEN": "nope", "SMSC_PASSWORD": "nope"}
    provider = provider_for(name, _config(**wrong))
    assert provider is not None
    with pytest.raises(SendError) as refused:
        provider.send(Outgoing(1, "+79161230042", "x", "+74950000000", ""))
    assert refused.value.permanent
    if name == "twilio":
        server.opted_out.add("+79161230043")
        provider = provider_for(name, _config(**provider_settings(name, server)))
        assert provider is not None
        with pytest.raises(SendError) as stopped:
            provider.send(Outgoing(2, "+79161230043", "x", "+74950000000", ""))
        assert stopped.value.opted_out and stopped.value.code == "21610"


@pytest.mark.parametrize("body,reading", [
    ("да", Reading.CONFIRM), ("Да!", Reading.CONFIRM), ("1", Reading.CONFIRM), ("yes", Reading.CONFIRM),
    ("ОК", Reading.CONFIRM), ("是", Reading.CONFIRM), ("👍", Reading.CONFIRM), ("подтверждаю", Reading.CONFIRM),
    ("не приду", Reading.DECLINE), ("Нет.", Reading.DECLINE), ("2", Reading.DECLINE), ("不", Reading.DECLINE),
    ("STOP", Reading.OPT_OUT), ("СТОП", Reading.OPT_OUT), ("退订", Reading.OPT_OUT),
    ("stopall", Reading.OPT_OUT_ALL), ("START", Reading.OPT_IN),
    ("stop sending me the news", Reading.UNKNOWN), ("а можно на пятницу?", Reading.UNKNOWN), ("", Reading.UNKNOWN),
])
def test_replies_are_read_whole(body: str, reading: Reading) -> None:
    assert interpret(body) is reading


@pytest.mark.parametrize("text,encoding,count", [
    ("a" * 160, "GSM-7", 1), ("a" * 161, "GSM-7", 2), ("{" * 80, "GSM-7", 1), ("{" * 81, "GSM-7", 2),
    ("я" * 70, "UCS-2", 1), ("я" * 71, "UCS-2", 2), ("я" * 134, "UCS-2", 2), ("я" * 135, "UCS-2", 3),
    ("诊" * 70, "UCS-2", 1), ("👍" * 35, "UCS-2", 1), ("👍" * 36, "UCS-2", 2), ("", "GSM-7", 0),
])
def test_segments_gsm7_and_ucs2(text: str, encoding: str, count: int) -> None:
    result = segments.count(text)
    assert (result.encoding, result.count) == (encoding, count)


def test_monthly_cost_is_segments_times_messages_times_price() -> None:
    assert segments.monthly_cost("я" * 71, 300, Decimal("2.70")) == Decimal("1620.00")


def test_packaged_templates_are_complete_and_render_in_every_language() -> None:
    assert templates.check() == []
    library = templates.load()
    for locale in ("ru", "en", "zh"):
        for purpose in templates.REQUIRED:
            template = templates.pick(library, purpose, locale, "ru")
            assert template is not None and template.locale == locale
            text = templates.render(template, {name: "VALUE" for name in templates.KNOWN})
            assert "{" not in text and "VALUE" in text


def test_a_missing_name_leaves_no_dangling_comma() -> None:
    template = templates.Template("text_back", "ru", "", "{patient}, вы звонили в {clinic}.", Path("x"))
    assert templates.render(template, {"patient": None, "clinic": "Улыбка"}) == "Вы звонили в Улыбка."


def test_scripts_check_reports_a_broken_template(tmp_path: Path) -> None:
    folder = tmp_path / "messages" / "ru"
    folder.mkdir(parents=True)
    (folder / "confirmation.txt").write_text("{patient}, приём {visit_time}. {oops\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "callcenter.cli", "scripts", "check",
                          "--overrides", str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert run.returncode == 1
    assert "confirmation.txt:1: unknown placeholder {visit_time}" in run.stdout
    assert "confirmation.txt:1: unbalanced '{' or '}'" in run.stdout


def test_twilio_vectors_in_the_reference_match_our_validator() -> None:
    from twilio.request_validator import RequestValidator

    vectors = REFERENCE / "twilio" / "signature_vectors.illustrative.json"
    for vector in json.loads(vectors.read_text())["vectors"]:
        validator = RequestValidator(vector["auth_token"])
        assert validator.validate(vector["url"], vector["params"], vector["signature"])
