"""The OpenAPI document matches the app: every /api rule documented, nothing documented that is gone."""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis

from callcenter.core.openapi_routes import document

METHODS = {"get", "post", "put", "patch", "delete"}
CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


@pytest.fixture
def settings(sqlite_url: str, redis_url: str, tmp_path: Any) -> dict[str, Any]:
    from tests.conftest import app_settings

    return app_settings(sqlite_url, redis_url, tmp_path)


def _api_rules(app: Any) -> dict[tuple[str, str], str]:
    """(METHOD, /openapi/{path}) -> endpoint, for every rule under /api/."""
    found = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                found[(method, CONVERTER.sub(r"{\1}", rule.rule))] = rule.endpoint
    return found


def _documented() -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): operation
            for path, item in document()["paths"].items()
            for method, operation in item.items() if method in METHODS}


def test_every_api_rule_is_documented_and_nothing_else(app: Any) -> None:
    rules, documented = set(_api_rules(app)), set(_documented())
    assert sorted(rules - documented) == [], "routes missing from callcenter/openapi.yaml"
    assert sorted(documented - rules) == [], "documented operations with no route"


def test_documented_roles_match_the_views(app: Any) -> None:
    for key, endpoint in _api_rules(app).items():
        allowed = getattr(app.view_functions[endpoint], "allowed_roles", set())
        assert set(_documented()[key]["x-roles"]) == allowed, key


def _parameter_names(item: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    shared = document()["components"]["parameters"]
    return {(shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p)["name"]
            for p in [*item.get("parameters", []), *operation.get("parameters", [])]}


def test_path_parameters_are_declared() -> None:
    for (method, path), operation in _documented().items():
        in_path = set(re.findall(r"{([a-z_]+)}", path))
        assert in_path <= _parameter_names(document()["paths"][path], operation), (method, path)


def test_mutating_operations_require_the_csrf_header() -> None:
    for (method, path), operation in _documented().items():
        security = operation.get("security", document()["security"])
        if path.startswith("/api/sync/"):  # connectors: an integration token, no cookie to forge
            assert security == [{"integrationToken": []}], (method, path)
        elif method in ("POST", "PATCH"):
            assert security == [{"session": [], "csrf": []}], (method, path)
        elif path != "/api/openapi.json":
            assert security == [{"session": []}], (method, path)


def test_served_without_a_session_and_valid(client: Any) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == document()
    schema = schemathesis.openapi.from_dict(response.get_json())
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    assert document()["openapi"].startswith("3.1")


def test_error_schema_names_the_problem() -> None:
    error = document()["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "message"]
    assert set(error["properties"]) == {"error", "message", "field"}
    for (method, path), operation in _documented().items():
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                ref = response.get("$ref") or response["content"]["application/json"]["schema"]["$ref"]
                target = ref.rsplit("/", 1)[1]
                assert target == "Error" or document()["components"]["responses"][target][
                    "content"]["application/json"]["schema"]["$ref"].endswith("/Error"), (method, path)
