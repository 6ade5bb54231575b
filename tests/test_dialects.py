"""What every PBX dialect must do with its recorded sequences: verify, parse, refuse forgeries, never crash."""

from __future__ import annotations

import json
from base64 import b64encode
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from tests.dialects import (
    ADAPTER_SETTINGS,
    PROVIDERS,
    SECRETS,
    Signed,
    scenario,
    scenarios,
    signed_requests,
)
from tests.dialects import sign as sign_step
from webhooks import ADAPTERS, CallEvent, InboundRequest, PayloadError, SignatureError

SECRET_KEYS = {
    "zadarma": ("ZADARMA_SECRET",), "mango": ("MANGO_API_KEY", "MANGO_SALT"),
    "yeastar": ("YEASTAR_SECRET",), "telnyx": ("TELNYX_PUBLIC_KEY",), "3cx": ("3CX_SECRET",),
}
# The header (or, for Mango, the form field) that carries each provider's proof.
PROOF_HEADERS = {"zadarma": "Signature", "yeastar": "X-Signature",
                 "telnyx": "telnyx-signature-ed25519", "3cx": "X-Api-Key"}
CASES = [(p, name) for p in PROVIDERS for name in scenarios(p)]


def _requests(provider: str, name: str) -> list[Signed]:
    # Signed now: Telnyx's replay window is measured from the moment of the test.
    return signed_requests(provider, name, datetime.now(UTC))


@pytest.mark.parametrize(("provider", "name"), CASES)
def test_recorded_sequence_verifies_and_names_one_call(provider: str, name: str) -> None:
    adapter = ADAPTERS[provider]
    expected_id = scenario(provider, name)["expect"][0]["provider_call_id"]
    kinds = set()
    for request in _requests(provider, name):
        inbound = request.inbound()
        adapter.verify(inbound, ADAPTER_SETTINGS)
        events = adapter.parse(inbound, ADAPTER_SETTINGS)
        assert adapter.reply(inbound, events, ADAPTER_SETTINGS).status == 200
        for event in events:
            assert event.provider == provider and event.provider_call_id == expected_id
            assert event.occurred_at.utcoffset().total_seconds() == 0
            kinds.add(str(event.kind))
    status = scenario(provider, name)["expect"][0]["status"]
    final = {"completed": {"answered", "ended"}, "missed": {"ended", "missed"}}[status]
    assert "ringing" in kinds and kinds & final


@pytest.mark.parametrize(("provider", "name"), CASES)
def test_parsing_twice_gives_the_same_event_keys(provider: str, name: str) -> None:
    """Redelivery maps onto the stored events: same dedupe keys, same times, every time."""
    adapter = ADAPTERS[provider]

    def keys() -> list[tuple[str, datetime]]:
        return [(e.dedupe_key, e.occurred_at) for r in _requests(provider, name)
                for e in adapter.parse(r.inbound(), ADAPTER_SETTINGS)]

    assert keys() == keys()


def _tamper(request: Signed) -> Signed:
    if request.provider == "3cx":  # 3CX signs nothing: a forger lacks the key instead
        return replace(request, headers={**request.headers, "X-Api-Key": "guess"})
    body = request.body
    for old, new in ((b"79001234567", b"79001234568"), (b"call", b"cal1")):
        if old in body:
            return replace(request, body=body.replace(old, new, 1))
    raise AssertionError("nothing to tamper with")


def _strip_proof(request: Signed) -> Signed:
    if request.provider == "mango":
        form = dict(request.inbound().form())
        form.pop("sign")
        return replace(request, body=urlencode(form).encode())
    drop = PROOF_HEADERS[request.provider].lower()
    return replace(request, headers={k: v for k, v in request.headers.items() if k.lower() != drop})


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("forge", [_tamper, _strip_proof])
def test_tampered_or_unsigned_requests_are_refused(provider: str, forge: Any) -> None:
    adapter = ADAPTERS[provider]
    for request in _requests(provider, "inbound_answered"):
        with pytest.raises(SignatureError):
            adapter.verify(forge(request).inbound(), ADAPTER_SETTINGS)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_without_a_configured_secret_everything_is_refused(provider: str) -> None:
    adapter = ADAPTERS[provider]
    unset = {**ADAPTER_SETTINGS, **dict.fromkeys(SECRET_KEYS[provider], "")}
    request = _requests(provider, "inbound_answered")[0].inbound()
    with pytest.raises(SignatureError):
        adapter.verify(request, unset)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_another_clinics_secret_does_not_verify(provider: str) -> None:
    adapter = ADAPTERS[provider]
    other = {**ADAPTER_SETTINGS, **{k: SECRETS[k][::-1] for k in SECRET_KEYS[provider]}}
    if provider == "telnyx":
        other["TELNYX_PUBLIC_KEY"] = b64encode(bytes(SigningKey(b"\x07" * 32).verify_key)).decode()
    request = _requests(provider, "inbound_answered")[0].inbound()
    with pytest.raises(SignatureError):
        adapter.verify(request, other)


def _assert_events_or_payload_error(provider: str, request: InboundRequest) -> None:
    try:
        events = ADAPTERS[provider].parse(request, ADAPTER_SETTINGS)
    except PayloadError:
        return
    assert isinstance(events, list) and all(isinstance(e, CallEvent) for e in events)


SUBPATHS = st.sampled_from(["", "events/call", "events/summary", "events/recording",
                            "events/record/added", "events/dtmf", "x/y"])
HEADERS = st.sampled_from([{}, {"Content-Type": "application/json"},
                           {"Content-Type": "application/x-www-form-urlencoded"},
                           {"Content-Type": "multipart/form-data; boundary=b"}])


@pytest.mark.parametrize("provider", PROVIDERS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=400), subpath=SUBPATHS, headers=HEADERS,
       method=st.sampled_from(["POST", "GET"]), query=st.text(max_size=40))
def test_parse_of_arbitrary_bytes_raises_only_payload_error(
    provider: str, body: bytes, subpath: str, headers: dict[str, str], method: str, query: str,
) -> None:
    request = InboundRequest(provider=provider, subpath=subpath, method=method, url="https://x/",
                             headers=headers, body=body, query=query)
    _assert_events_or_payload_error(provider, request)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=True)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12,
)


def _mutate(value: Any, path: list[int], replacement: Any) -> Any:
    """Replace one node of a JSON-like tree (chosen by `path`) with `replacement`."""
    if not path or not isinstance(value, dict | list) or not value:
        return replacement
    items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    key, child = items[path[0] % len(items)]
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[key] = _mutate(child, path[1:], replacement)
    return copy


@pytest.mark.parametrize("provider", PROVIDERS)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), replacement=JSON_VALUES,
       path=st.lists(st.integers(0, 20), min_size=1, max_size=4))
def test_parse_of_mutated_recordings_raises_only_payload_error(
    provider: str, data: Any, replacement: Any, path: list[int],
) -> None:
    """Recorded steps with one field swapped for anything JSON can hold."""
    name = data.draw(st.sampled_from(scenarios(provider)))
    steps = scenario(provider, name)["requests"]
    step = dict(data.draw(st.sampled_from(steps)))
    if "json" in step:
        step["json"] = _mutate(step["json"], path, replacement)
    elif isinstance(step["body"], dict):
        step["body"] = _mutate(step["body"], path, replacement)
    else:
        form = dict(parse_qsl(step["body"], keep_blank_values=True))
        key = sorted(form)[path[0] % len(form)]
        form[key] = json.dumps(replacement) if not isinstance(replacement, str) else replacement
        step["body"] = urlencode(form)
    try:
        request = sign_step(provider, step, datetime.now(UTC))
    except (TypeError, ValueError):
        return  # not JSON-serialisable (NaN is, but a PBX could not send some of these)
    _assert_events_or_payload_error(provider, request.inbound())
