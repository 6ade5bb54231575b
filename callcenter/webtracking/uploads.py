"""Conversions uploaded to the platforms' APIs, as documented (reference notes §3, §4):

- Metrica: POST {api}/management/v1/counter/{id}/offline_conversions/upload_calls?client_id_type=…,
  `Authorization: OAuth <token>`, multipart part `file` holding the CSV; 200 answers
  {"uploading": {id, status, …}}, errors {"errors": [{error_type, message}], "code", "message"}.
- Google Ads: an access token from the refresh token (POST {oauth}, grant_type=refresh_token), then
  POST {api}/customers/{id}:uploadClickConversions with `Authorization: Bearer`, `developer-token`
  (and `login-customer-id` through a manager), partialFailure true, at most 2000 rows a request;
  `results` align with the rows and a failed row's error is located by `conversions` index;
  calls from call assets the same way through :uploadCallConversions.

A request that fails as a whole (network, 401/403, 429, 5xx) raises UploadFailed after counting
the attempt on its rows: the RQ job then retries later. A row the platform refuses is `rejected`
with its reason, except Google's "too recent" codes, which stay pending for the next run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from callcenter.core.models import Clinic
from callcenter.webtracking.conversions import (
    ID_COLUMNS,
    Item,
    google_call_conversions,
    google_conversions,
    metrica_csv,
    metrica_rows,
)

TIMEOUT = 30
GOOGLE_BATCH = 2000
# Google asks to wait and upload again (conversion_upload_error.proto): not the row's fault.
GOOGLE_LATER = frozenset({"TOO_RECENT_EVENT", "TOO_RECENT_CONVERSION_ACTION", "TOO_RECENT_CALL"})


class UploadFailed(Exception):
    """The request as a whole failed: try again later."""


def _failed(batch: list[Item], reason: str) -> UploadFailed:
    for item in batch:
        item.conversion.attempts += 1
        item.conversion.error = reason[:2000]
    return UploadFailed(reason)


def _sent(item: Item, now: datetime, **detail: Any) -> None:
    item.conversion.state, item.conversion.sent_at, item.conversion.error = "sent", now, ""
    item.conversion.attempts += 1
    item.conversion.detail = detail


def _rejected(item: Item, reason: str) -> None:
    item.conversion.state, item.conversion.error = "rejected", reason[:2000]
    item.conversion.attempts += 1


def _error_text(answer: requests.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return f"HTTP {answer.status_code}"
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return f"HTTP {answer.status_code} {errors[0].get('error_type', '')}: {errors[0].get('message', '')}"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return f"HTTP {answer.status_code}: {body['error'].get('message', '')}"
    return f"HTTP {answer.status_code}"


def upload_metrica(clinic: Clinic, api: str, counter: str, token: str, batch: list[Item],
                   now: datetime) -> None:
    for id_type, rows in metrica_rows(clinic, batch).items():
        items = [item for item, _ in rows]
        try:
            answer = requests.post(
                f"{api.rstrip('/')}/management/v1/counter/{counter}/offline_conversions/upload_calls",
                params={"client_id_type": id_type, "comment": f"callcenter {now:%Y-%m-%d %H:%M}"},
                headers={"Authorization": f"OAuth {token}"},
                files={"file": ("calls.csv", metrica_csv([row for _, row in rows], ID_COLUMNS[id_type]),
                                 "text/csv")},
                timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise _failed(items, f"Metrica unreachable: {type(exc).__name__}") from None
        if answer.status_code == 200:
            uploading = (answer.json() or {}).get("uploading") or {}
            for item in items:
                _sent(item, now, uploading_id=uploading.get("id"), status=uploading.get("status"))
        elif answer.status_code == 400:  # the file itself was refused: a person must look
            for item in items:
                _rejected(item, _error_text(answer))
        else:
            raise _failed(items, _error_text(answer))


def google_access_token(oauth: str, tokens: dict[str, str]) -> str:
    try:
        answer = requests.post(oauth, data={
            "grant_type": "refresh_token", "client_id": tokens.get("google_client_id", ""),
            "client_secret": tokens.get("google_client_secret", ""),
            "refresh_token": tokens.get("google_refresh_token", "")}, timeout=TIMEOUT)
        token = answer.json().get("access_token") if answer.status_code == 200 else None
    except (requests.RequestException, ValueError, AttributeError):
        token = None
    if not token:
        raise UploadFailed("Google OAuth: no access token for the refresh token")
    return str(token)


def _row_errors(body: dict[str, Any]) -> dict[int, tuple[str, str]]:
    """The partial failure's errors by row index: (error code, message)."""
    found: dict[int, tuple[str, str]] = {}
    status = body.get("partialFailureError") or {}
    for detail in status.get("details") or []:
        for error in detail.get("errors") or []:
            path = (error.get("location") or {}).get("fieldPathElements") or []
            index = next((p.get("index") for p in path if p.get("fieldName") == "conversions"), None)
            if isinstance(index, int):
                code = next(iter((error.get("errorCode") or {}).values()), "")
                found.setdefault(index, (str(code), str(error.get("message", ""))))
    return found


def upload_google(clinic: Clinic, api: str, customer: str, action: str, access_token: str,
                  tokens: dict[str, str], batch: list[Item], now: datetime, *,
                  calls: bool = False) -> None:
    """Click conversions, or with `calls` the call conversions of calls from call assets."""
    method, rows = (("uploadCallConversions", google_call_conversions) if calls
                    else ("uploadClickConversions", google_conversions))
    headers = {"Authorization": f"Bearer {access_token}",
               "developer-token": tokens.get("google_developer_token", "")}
    if tokens.get("google_login_customer"):
        headers["login-customer-id"] = tokens["google_login_customer"].replace("-", "")
    for start in range(0, len(batch), GOOGLE_BATCH):
        chunk = batch[start:start + GOOGLE_BATCH]
        body = {"conversions": rows(clinic, customer, action, chunk), "partialFailure": True}
        try:
            answer = requests.post(f"{api.rstrip('/')}/customers/{customer}:{method}",
                                   json=body, headers=headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise _failed(chunk, f"Google Ads unreachable: {type(exc).__name__}") from None
        if answer.status_code != 200:
            raise _failed(chunk, _error_text(answer))
        data = answer.json()
        errors = _row_errors(data)
        for index, item in enumerate(chunk):
            if index not in errors:
                _sent(item, now, job_id=data.get("jobId"))
            elif errors[index][0] in GOOGLE_LATER:
                item.conversion.attempts += 1
                item.conversion.error = f"{errors[index][0]}: {errors[index][1]}"
            else:
                _rejected(item, f"{errors[index][0]}: {errors[index][1]}")
