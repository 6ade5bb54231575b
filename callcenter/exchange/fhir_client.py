"""The FHIR R4 REST calls the connector makes: search with paging, read, and a version-aware
update. Every failure becomes a FhirError whose message an admin can act on ("the server does
not answer", "401: the token was refused", the server's OperationOutcome text).

Paging follows the Bundle's `next` link verbatim (its form is the server's business), but only
on the server's own origin: the bearer token is never sent to another host.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from callcenter.core.secret_box import Unreadable, seal, unseal

PURPOSE = "fhir-connection"
TIMEOUT = 20  # seconds a FHIR server has to answer one request
PAGE_SIZE = 100
MAX_PAGES = 10_000  # a server that links pages in a circle must not hold the worker forever
FHIR_JSON = "application/fhir+json"


class FhirError(Exception):
    """A request the server refused or never answered; `status` None when nothing answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def seal_token(secret_key: str, token: str) -> str:
    return seal(secret_key, PURPOSE, {"token": token})


def open_token(secret_key: str, sealed: str) -> str | None:
    """The bearer token, or None when it was sealed under another CALLCENTER_SECRET_KEY."""
    try:
        return str(unseal(secret_key, PURPOSE, sealed)["token"])
    except (Unreadable, KeyError):
        return None


def outcome_text(body: Any) -> str:
    """What an OperationOutcome says, its issues joined; "" when the body is not one."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    parts = []
    for issue in body.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
        text = details.get("text") or issue.get("diagnostics") or issue.get("code") or ""
        parts.append(str(text))
    return "; ".join(part for part in parts if part)


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    etag: str


class FhirClient:
    def __init__(self, base_url: str, token: str, session: requests.Session | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.origin = urlsplit(self.base)[:2]
        self.http = session or requests.Session()
        self.http.headers.update({"Accept": FHIR_JSON, "Authorization": f"Bearer {token}"})
        self._found: dict[tuple[str, str], dict[str, Any] | None] = {}

    def _call(self, method: str, url: str, *, body: dict[str, Any] | None = None,
              params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Answer:
        try:
            reply = self.http.request(method, url, json=body, params=params, timeout=TIMEOUT,
                                      headers={"Content-Type": FHIR_JSON, **(headers or {})},
                                      allow_redirects=False)
        except requests.Timeout:
            raise FhirError(f"the FHIR server did not answer within {TIMEOUT} s") from None
        except requests.RequestException as exc:
            raise FhirError(f"the FHIR server does not answer ({type(exc).__name__})") from None
        try:
            parsed = reply.json()
        except ValueError:
            parsed = None
        if reply.status_code in (401, 403):
            said = outcome_text(parsed)
            raise FhirError(f"{reply.status_code}: the FHIR server refused the token"
                            + (f" ({said})" if said else ""), reply.status_code)
        if reply.status_code >= 300:
            said = outcome_text(parsed) or reply.reason or ""
            raise FhirError(f"{reply.status_code}: {said}".strip()[:300], reply.status_code)
        if not isinstance(parsed, dict) or "resourceType" not in parsed:
            raise FhirError(f"{reply.status_code}: not a FHIR answer (expected JSON with a "
                            "resourceType)", reply.status_code)
        return Answer(reply.status_code, parsed, reply.headers.get("ETag", ""))

    def search(self, resource_type: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every resource of the type the search matches, page after page."""
        url: str | None = f"{self.base}/{resource_type}"
        query: dict[str, Any] | None = {"_count": PAGE_SIZE, **params}
        seen: set[str] = set()
        while url is not None:
            if len(seen) >= MAX_PAGES or url in seen:
                raise FhirError(f"{resource_type}: the server's pages do not end")
            seen.add(url)
            bundle = self._call("GET", url, params=query).body
            if bundle.get("resourceType") != "Bundle":
                raise FhirError(f"{resource_type}: the search answered a "
                                f"{bundle.get('resourceType')}, not a Bundle")
            entries = bundle.get("entry") or []
            for entry in entries if isinstance(entries, list) else []:
                # A malformed entry is not a match (it used to stop the pull with a traceback).
                if not isinstance(entry, dict):
                    continue
                resource, search = entry.get("resource"), entry.get("search")
                # _include'd and OperationOutcome entries are not matches
                mode = search.get("mode", "match") if isinstance(search, dict) else "match"
                if isinstance(resource, dict) and resource.get("resourceType") == resource_type \
                        and mode == "match":
                    yield resource
            url, query = self._next(bundle), None

    def _next(self, bundle: dict[str, Any]) -> str | None:
        for link in bundle.get("link") or []:
            if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
                url = str(link["url"])
                if not url.startswith(("http://", "https://")):
                    url = f"{self.base}/{url.lstrip('/')}"
                if urlsplit(url)[:2] != self.origin:
                    raise FhirError(f"the server's next page is on another host ({urlsplit(url).hostname})")
                return url
        return None

    def read(self, resource_type: str, resource_id: str) -> Answer:
        return self._call("GET", f"{self.base}/{resource_type}/{resource_id}")

    def update(self, resource: dict[str, Any], etag: str) -> Answer:
        """PUT the resource if the server still has the version `etag` names (412 or 409
        otherwise, as a FhirError with that status)."""
        headers = {"If-Match": etag} if etag else {}
        return self._call("PUT", f"{self.base}/{resource['resourceType']}/{resource['id']}",
                          body=resource, headers=headers)

    def find(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        """The resource (read once per client), or None when the server has no such one."""
        key = (resource_type, resource_id)
        if key not in self._found:
            try:
                self._found[key] = self.read(resource_type, resource_id).body
            except FhirError as exc:
                if exc.status not in (404, 410):
                    raise
                self._found[key] = None
        return self._found[key]
