"""Schemathesis fuzzes every operation of callcenter/openapi.yaml against the real app (SQLite and
PostgreSQL, real Redis, a small real clinic): never a 5xx, and every answer's status code, content
type and body are the documented ones. Once as an admin (every operation), once as a receptionist
(the desk's ones).

Per operation: 25 examples drawn from valid requests, invalid requests (negative generation),
valid requests aimed at rows that exist (random ids alone would only ever meet 404s) and hostile
ones: ids past 32 and 64 bits in the path, and NUL, lone surrogates, `%00` and overlong strings
in every documented body field and text query parameter (of rows that exist).
GET /api/openapi.json itself is checked by test_openapi.py (Schemathesis skips the document's own URL).
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from callcenter.callscripts.selection import default_library
from callcenter.core.models import utcnow
from callcenter.core.openapi_routes import document
from tests import api_world
from tests import desk_world as w
from tests.conftest import app_settings
from tests.factories import signed_in, unlock_all

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


# What PostgreSQL refuses (NUL), what no driver can encode (a lone surrogate), what outgrows a
# VARCHAR(8), (200) or the notes limit, and ids past INTEGER and BIGINT.
QUERY_TEXT = ["\x00", "a\x00b", "%00", "l" * 9, "x" * 201, "n" * 5001]
HOSTILE_TEXT = st.sampled_from([*QUERY_TEXT, "\ud800", "x\udfffy"])  # a URL cannot carry a surrogate
HOSTILE_IDS = st.sampled_from([2**31, 2**31 + 7, 2**63, 2**64 + 1, 10**30])


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET, CLICK_TO_CALL="off")


def _documented_for(role: str) -> set[str]:
    return {f"{method.upper()} {path}" for path, item in document()["paths"].items()
            for method, operation in item.items()
            if method != "parameters" and role in operation["x-roles"] and path != "/api/openapi.json"}


def _aimed_bodies(world: Any, known: dict[str, list[int]]) -> dict[str, st.SearchStrategy[Any]]:
    """Bodies naming rows and values that exist, for operations random bodies never get past."""
    tomorrow = utcnow().astimezone(ZoneInfo("Europe/Moscow")).date() + timedelta(days=1)
    slots = [datetime.combine(tomorrow, time(hour, minute), ZoneInfo("Europe/Moscow")).isoformat()
             for hour in (9, 14, 18) for minute in (0, 30)]
    patients = st.sampled_from(known["patient_id"])
    return {
        "POST /api/desk/calls/{call_id}/patient": st.fixed_dictionaries({"patient_id": patients}),
        "POST /api/desk/calls/{call_id}/book": st.fixed_dictionaries(
            {"doctor_id": st.just(world.doctor.id), "starts_at": st.sampled_from(slots)},
            optional={"patient_id": patients, "service": st.text(max_size=20)}),
        "POST /api/desk/appointments/{appointment_id}/cancel": st.one_of(
            st.fixed_dictionaries({"call_back_at": st.sampled_from(slots)}),
            st.fixed_dictionaries({"starts_at": st.sampled_from(slots),
                                   "doctor_id": st.just(world.doctor.id)})),
        "POST /api/desk/dial": st.fixed_dictionaries({"number": st.just(w.STRANGER_PHONE)}),
        "POST /api/desk/softphone/dial": st.fixed_dictionaries({"number": st.just(w.STRANGER_PHONE)}),
        "POST /api/desk/softphone/events": st.fixed_dictionaries(
            {"kind": st.sampled_from(["ringing", "answered", "transferred", "ended", "missed"]),
             "sip_call_id": st.sampled_from(["fuzz-1@pbx", "fuzz-2@pbx"]),
             "direction": st.sampled_from(["inbound", "outbound"])},
            optional={"call_id": st.sampled_from(known["call_id"]), "number": st.just(w.STRANGER_PHONE),
                      "target": st.just("202")}),
        "POST /api/scripts/preview": st.fixed_dictionaries(
            {"scenario": st.sampled_from(sorted({s.scenario for s in default_library().scripts.values()}))},
            optional={"locale": st.sampled_from(["ru", "en", "zh"]),
                      "direction": st.sampled_from(["inbound", "outbound"])}),
    }


def _cases(operation: Any, known: dict[str, list[int]],
           bodies: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    aimed = [operation.as_strategy(GenerationMode.POSITIVE, path_parameters={p.name: row_id})
             for p in operation.path_parameters if p.name in known for row_id in known[p.name]]
    if operation.label in bodies:
        ids = st.fixed_dictionaries({p.name: st.sampled_from(known[p.name])
                                     for p in operation.path_parameters})
        aimed.append(st.tuples(ids, bodies[operation.label]).flatmap(
            lambda chosen: operation.as_strategy(GenerationMode.POSITIVE, path_parameters=chosen[0],
                                                 body=chosen[1])))
    return st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                     operation.as_strategy(GenerationMode.NEGATIVE), *aimed,
                     *_hostile(operation, known))


def _hostile(operation: Any, known: dict[str, list[int]]) -> list[st.SearchStrategy[Any]]:
    """Ids no id column holds; hostile text in every body field and text query parameter."""
    positive = GenerationMode.POSITIVE
    names = [p.name for p in operation.path_parameters]
    strategies = []
    if names:
        strategies.append(st.fixed_dictionaries({n: HOSTILE_IDS for n in names}).flatmap(
            lambda ids: operation.as_strategy(positive, path_parameters=ids)))
    existing = st.fixed_dictionaries({n: st.sampled_from(known[n]) for n in names if n in known})
    body = operation.definition.raw.get("requestBody", {}).get("content", {}).get("application/json")
    fields = sorted(body["schema"].get("properties", {})) if body else []
    if fields:
        bodies = st.dictionaries(st.sampled_from(fields), HOSTILE_TEXT | HOSTILE_IDS, min_size=1)
        strategies.append(st.tuples(existing, bodies).flatmap(
            lambda chosen: operation.as_strategy(positive, path_parameters=chosen[0], body=chosen[1])))
    texts = [p.name for p in operation.query if p.definition.get("schema", {}).get("type") == "string"]
    if texts:
        queries = st.dictionaries(st.sampled_from(texts), st.sampled_from(QUERY_TEXT), min_size=1)
        strategies.append(st.tuples(existing, queries).flatmap(
            lambda chosen: operation.as_strategy(positive, path_parameters=chosen[0], query=chosen[1])))
    return strategies


def _ascii_json(case: Any) -> dict[str, Any]:
    """The body as a browser's JSON.stringify sends it, a lone surrogate as the escape \\ud800
    (Schemathesis would encode the character itself, which UTF-8 cannot)."""
    if case.media_type != "application/json" or isinstance(case.body, NotSet | bytes):
        return {}
    return {"data": json.dumps(case.body).encode()}


def _fuzz(app: Any, client: Any, session: Session, subtests: Any, role: str) -> set[str]:
    """Fuzz every operation the role may use; returns their labels."""
    world = api_world.build(client, session)
    known = api_world.existing_ids(session)
    bodies = _aimed_bodies(world, known)
    # No SIP extension: click-to-call stops at 409 instead of reaching for a PBX the test has not got.
    signed_in(client, session, role=role, extension=None)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    # The session cookie and the CSRF header come from the signed-in client, not from the generator.
    schema.config.generation.update(with_security_parameters=False)
    fuzzed = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        if role not in operation.definition.raw["x-roles"]:
            continue

        @FUZZ
        @given(case=_cases(operation, known, bodies))
        def run(case: Any) -> None:
            unlock_all(session)  # a fuzzed POST /api/desk/lock must not hide the rest
            case.validate_response(case.call(session=client, **_ascii_json(case)), checks=CHECKS)

        with subtests.test(msg=operation.label):
            run()
        fuzzed.add(operation.label)
    return fuzzed


def test_admin_fuzz(app: Any, client: Any, session: Session, subtests: Any) -> None:
    assert _fuzz(app, client, session, subtests, "admin") == _documented_for("admin")


def test_receptionist_fuzz(app: Any, client: Any, session: Session, subtests: Any) -> None:
    assert _fuzz(app, client, session, subtests, "receptionist") == _documented_for("receptionist")
