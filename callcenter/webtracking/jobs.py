"""The worker's part: every PLAN_SECONDS write the visits and leases recorded in Redis, tie new
calls to visits and record the conversions owed, then one upload job per clinic with something
to send, retried by RQ when a platform fails."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

from redis import Redis
from rq import Queue, Retry
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.config import load_config
from callcenter.core.models import Clinic, WebAdAccount, WebConversion, utcnow
from callcenter.core.runtime import Runtime
from callcenter.webtracking import ad_accounts
from callcenter.webtracking.conversions import collect, items
from callcenter.webtracking.records import flush
from callcenter.webtracking.ties import tie_calls
from callcenter.webtracking.uploads import (
    UploadFailed,
    google_access_token,
    upload_google,
    upload_metrica,
)

log = logging.getLogger(__name__)
_runtime: Runtime | None = None


def _rt() -> Runtime:
    """This worker process's handles, made on first use (after RQ forked the job's process)."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime.from_config(load_config())
    return _runtime


def track(session: Session, client: Redis, now: datetime) -> tuple[int, int]:
    """Write the visits and leases waiting in Redis, tie calls to them, then record conversions:
    (calls tied, conversions recorded). Commits."""
    flush(session, client)
    tied = tie_calls(session, now)
    recorded = collect(session, now)
    session.commit()
    return tied, recorded


def track_and_upload() -> dict[str, int]:
    """The scheduled job."""
    rt = _rt()
    with rt.write_guard(), rt.sessions() as session:
        tied, recorded = track(session, rt.redis, utcnow())
        waiting = sorted(set(session.scalars(
            select(WebConversion.clinic_id).where(WebConversion.state == "pending")
            .join(WebAdAccount, WebAdAccount.clinic_id == WebConversion.clinic_id))))
    queue = Queue("default", connection=rt.redis)
    for clinic_id in waiting:
        job_id = f"callcenter-web-upload-{clinic_id}"
        earlier = queue.fetch_job(job_id)
        if earlier is not None and earlier.get_status() in ("queued", "started", "scheduled",
                                                            "deferred"):
            continue  # its retries will send the new rows too
        queue.enqueue(upload_clinic, clinic_id, job_id=job_id, job_timeout=600, result_ttl=600,
                      failure_ttl=86400, retry=Retry(max=len(rt.config["UPLOAD_RETRY_SECONDS"]),
                                                     interval=list(rt.config["UPLOAD_RETRY_SECONDS"])))
    return {"tied": tied, "recorded": recorded, "uploads": len(waiting)}


def upload_pending(session: Session, clinic: Clinic, config: dict[str, Any], now: datetime,
                   write_guard: Callable[[], AbstractContextManager[object]] = nullcontext) -> list[str]:
    """Send the clinic's pending conversions to each platform it has an account for; the
    platforms whose request failed (their rows counted an attempt). Commits each platform's
    outcome under the write guard, which is not held while a platform is asked."""
    account = session.get(WebAdAccount, clinic.id)
    if account is None:
        return []
    tokens = ad_accounts.tokens(account, config["SECRET_KEY"])
    failed = []
    metrica = items(session, clinic.id, "metrica", pending_only=True)
    if metrica and account.metrica_counter and tokens.get("metrica_token"):
        try:
            upload_metrica(clinic, config["METRICA_API_URL"], account.metrica_counter,
                           tokens["metrica_token"], metrica, now)
        except UploadFailed as exc:
            log.warning("web conversions: Metrica upload for clinic %s failed: %s", clinic.id, exc)
            failed.append("metrica")
        with write_guard():
            session.commit()
    for platform, action in (("google", account.google_action),
                             ("google_call", account.google_call_action)):
        google = items(session, clinic.id, platform, pending_only=True)
        if not (google and account.google_customer and action):
            continue
        try:
            token = google_access_token(config["GOOGLE_OAUTH_URL"], tokens)
            upload_google(clinic, config["GOOGLE_ADS_API_URL"], account.google_customer, action,
                          token, tokens, google, now, calls=platform == "google_call")
        except UploadFailed as exc:
            log.warning("web conversions: Google Ads %s upload for clinic %s failed: %s", platform,
                        clinic.id, exc)
            failed.append(platform)
        with write_guard():
            session.commit()
    return failed


def upload_clinic(clinic_id: int) -> dict[str, Any]:
    """The upload job: raises when a platform failed, so RQ retries it after a wait."""
    rt = _rt()
    with rt.sessions() as session:
        clinic = session.get(Clinic, clinic_id)
        if clinic is None:
            return {"clinic": clinic_id, "failed": []}
        failed = upload_pending(session, clinic, rt.config, utcnow(), rt.write_guard)
    if failed:
        raise UploadFailed(f"clinic {clinic_id}: {', '.join(failed)} failed; retried later")
    return {"clinic": clinic_id, "failed": []}
