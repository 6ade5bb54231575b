"""Local stand-ins for the ad platforms' conversion APIs, speaking them as their documentation
describes them (Metrica's calls upload and error pages, Google Ads' ConversionUploadService and
partial-failure guide; summarised in docs/webtracking.md):

- Google OAuth: POST /oauth/token, grant_type=refresh_token → {"access_token", "expires_in"}.
- Yandex Metrica: POST /management/v1/counter/{id}/offline_conversions/upload_calls
  (`Authorization: OAuth …`, multipart part `file` holding the calls CSV, `client_id_type`) →
  {"uploading": {id, status, line_quantity, …}}; errors as {"errors": [{error_type, message}],
  "code", "message"}.
- Google Ads: POST /v20/customers/{id}:uploadClickConversions and :uploadCallConversions
  (CallConversion: callerId E.164, callStartDateTime) (`Authorization: Bearer`,
  `developer-token`; partialFailure required; ≤ 2000 rows) → aligned `results` ({} for a failed
  row) and a `partialFailureError` whose errors point at `conversions[index]`.

`fail_next` makes the next requests answer a platform-level failure (503, 429…), as a platform
under load does. Every request is kept in `received` for the test to read.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

METRICA = re.compile(r"^/management/v1/counter/(\d+)/offline_conversions/upload_calls$")
GOOGLE = re.compile(r"^/v20/customers/(\d+):uploadClickConversions$")
GOOGLE_CALLS = re.compile(r"^/v20/customers/(\d+):uploadCallConversions$")
CALLER = re.compile(r"^\+\d{8,15}$")
GOOGLE_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d$")
ID_COLUMNS = {"CLIENT_ID": "ClientId", "YCLID": "Yclid", "USER_ID": "UserId"}


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    csv_rows: list[dict[str, str]] = field(default_factory=list)
    json: Any = None


class FakeAdPlatforms:
    def __init__(self, *, metrica_token: str = "metrica-token", refresh_token: str = "refresh-1",
                 developer_token: str = "dev-token") -> None:
        self.metrica_token = metrica_token
        self.refresh_token = refresh_token
        self.developer_token = developer_token
        self.access_token = "ya29.fake-access"
        self.received: list[Received] = []
        self.fail_next: list[tuple[int, str]] = []  # (status, error type) for the next requests
        self.google_row_errors: dict[str, str] = {}  # click id -> ConversionUploadError code
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> FakeAdPlatforms:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def requests_to(self, pattern: re.Pattern[str]) -> list[Received]:
        with self._lock:
            return [r for r in self.received if pattern.match(r.path)]

    # ---- the platforms ----------------------------------------------------------------------

    def _metrica(self, got: Received) -> tuple[int, dict[str, Any]]:
        if got.headers.get("authorization") != f"OAuth {self.metrica_token}":
            return _metrica_error(401 if "authorization" not in got.headers else 403,
                                  "unauthorized" if "authorization" not in got.headers
                                  else "invalid_token", "invalid OAuth token")
        parts = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + got.headers.get("content-type", "").encode() + b"\r\n\r\n" + got.body)
        files = [p for p in parts.iter_parts() if p.get_param("name", header="content-disposition") == "file"] \
            if parts.is_multipart() else []
        if len(files) != 1:
            return _metrica_error(400, "missing_parameter", "multipart part 'file' is required")
        text = files[0].get_payload(decode=True).decode("utf-8")
        rows = list(csv.DictReader(io.StringIO(text)))
        id_type = (got.query.get("client_id_type") or ["CLIENT_ID"])[0]
        id_column = ID_COLUMNS.get(id_type)
        header = text.splitlines()[0].split(",") if text else []
        if id_column is None or id_column not in header or "DateTime" not in header:
            return _metrica_error(400, "invalid_uploading", "header must name the id column and DateTime")
        for number, row in enumerate(rows, 2):
            if not row["DateTime"].isdigit() or not row[id_column]:
                return _metrica_error(400, "invalid_uploading", f"line {number}: bad DateTime or id")
        got.csv_rows = rows
        return 200, {"uploading": {
            "id": len(self.received), "create_time": "2026-03-10T10:00:00Z",
            "source_quantity": len(rows), "line_quantity": len(rows),
            "comment": (got.query.get("comment") or [""])[0], "client_id_type": id_type,
            "status": "PREPARED", "static_calls_quantity": 0, "dynamic_calls_quantity": len(rows)}}

    def _oauth(self, got: Received) -> tuple[int, dict[str, Any]]:
        form = parse_qs(got.body.decode())
        if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != [self.refresh_token]:
            return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
        return 200, {"access_token": self.access_token, "expires_in": 3599, "token_type": "Bearer"}

    def _google(self, got: Received, customer: str, calls: bool = False) -> tuple[int, dict[str, Any]]:
        if got.headers.get("authorization") != f"Bearer {self.access_token}" or \
                got.headers.get("developer-token") != self.developer_token:
            return 401, {"error": {"code": 401, "message": "Request is missing required authentication "
                                   "credential.", "status": "UNAUTHENTICATED"}}
        body = got.json = json.loads(got.body)
        conversions = body.get("conversions") or []
        if body.get("partialFailure") is not True:
            return 400, _google_error("partial_failure must be true")
        if len(conversions) > 2000:
            return 400, _google_error("Upload fewer than 2001 events", "TOO_MANY_CONVERSIONS_IN_REQUEST")
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, row in enumerate(conversions):
            # A call conversion is named by its caller and start; a click by exactly one id.
            ids = (["callerId"] if calls and CALLER.match(row.get("callerId") or "")
                   and GOOGLE_TIME.match(row.get("callStartDateTime", ""))
                   else [k for k in ("gclid", "gbraid", "wbraid") if not calls and row.get(k)])
            action = re.match(rf"^customers/{customer}/conversionActions/\d+$", row.get("conversionAction", ""))
            code = (self.google_row_errors.get(row.get(ids[0], "")) if len(ids) == 1 else
                    "EVENT_NOT_FOUND" if not ids else
                    "GBRAID_WBRAID_BOTH_SET" if "gclid" not in ids else "VALUE_MUST_BE_UNSET")
            if code is None and (not action or not GOOGLE_TIME.match(row.get("conversionDateTime", ""))):
                code = "INVALID_CONVERSION_ACTION" if not action else "INVALID_CONVERSION_DATE_TIME"
            if code:
                results.append({})
                errors.append({"errorCode": {"conversionUploadError": code}, "message": code.lower(),
                               "location": {"fieldPathElements": [{"fieldName": "conversions",
                                                                   "index": index}]}})
            else:
                named = {k: row[k] for k in (ids[0], "callStartDateTime") if k in row}
                results.append({**named, "conversionAction": row["conversionAction"],
                                "conversionDateTime": row["conversionDateTime"]})
        answer: dict[str, Any] = {"results": results, "jobId": str(2**31 + len(self.received))}
        if errors:
            answer["partialFailureError"] = {"code": 3, "message": "The conversion could not be processed.",
                                             "details": [{"@type": "type.googleapis.com/google.ads."
                                                          "googleads.v20.errors.GoogleAdsFailure",
                                                          "errors": errors}]}
        return 200, answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                got = Received(parts.path, parse_qs(parts.query),
                               {k.lower(): v for k, v in self.headers.items()}, body)
                with fake._lock:
                    fake.received.append(got)
                    failure = fake.fail_next.pop(0) if fake.fail_next and parts.path != "/oauth/token" \
                        else None
                if failure is not None:
                    status, answer = _metrica_error(failure[0], failure[1], "try again later")
                elif parts.path == "/oauth/token":
                    status, answer = fake._oauth(got)
                elif METRICA.match(parts.path):
                    status, answer = fake._metrica(got)
                elif (match := GOOGLE_CALLS.match(parts.path)) is not None:
                    status, answer = fake._google(got, match.group(1), calls=True)
                elif (match := GOOGLE.match(parts.path)) is not None:
                    status, answer = fake._google(got, match.group(1))
                else:
                    status, answer = 404, {"error": "not found"}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        return Handler


def _metrica_error(status: int, error_type: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"errors": [{"error_type": error_type, "message": message, "location": ""}],
                    "code": status, "message": message}


def _google_error(message: str, code: str = "") -> dict[str, Any]:
    return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT",
                      "details": [{"errors": [{"errorCode": {"conversionUploadError": code},
                                               "message": message}]}] if code else []}}
