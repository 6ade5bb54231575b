"""GET /api/openapi.json: the API's OpenAPI document (callcenter/openapi.yaml), public since it holds no data."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Response, jsonify

bp = Blueprint("openapi", __name__)
DOCUMENT = Path(__file__).resolve().parents[1] / "openapi.yaml"


@cache
def document() -> dict[str, Any]:
    """The document as data, read once per process."""
    with DOCUMENT.open(encoding="utf-8") as source:
        return yaml.safe_load(source)


@bp.get("/api/openapi.json")
def openapi() -> Response:
    return jsonify(document())
