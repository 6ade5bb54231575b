"""The admin page's import: upload, mapping step, dry run and the real run as RQ jobs in a real
worker process, the progress endpoint, cancel, the refused-rows download (SQLite, PostgreSQL)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue
from rq.job import Job
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.core.models import ImportJob, ImportProfile, Patient
from callcenter.exchange.tables import read_table
from tests import factories as f
from tests.campaign_env import start_worker, stop_worker, wait_until, worker_env
from tests.import_files import PATIENTS_1251, csv_bytes


@pytest.fixture
def worker(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[None]:
    proc = start_worker(worker_env(database_url, redis_url, tmp_path), tmp_path / "worker.log",
                        "default")
    yield
    stop_worker(proc)


def _upload(client: Any, content: bytes, kind: str = "patients", name: str = "пациенты.csv") -> Any:
    return client.post("/admin/import", data={"kind": kind, "file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def _job_id(response: Any) -> int:
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(re.search(r"/admin/import/(\d+)$", response.headers["Location"]).group(1))


def _finished(client: Any, job_id: int) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def ended() -> bool:
        found.update(client.get(f"/admin/import/{job_id}/status").get_json())
        return found["state"] not in ("queued", "running")

    wait_until(ended, 120, f"import job {job_id} to end")
    return found


def test_upload_map_dry_run_then_import_in_the_worker(client: Any, session: Session,
                                                      worker: None) -> None:
    f.signed_in(client, session, role="admin", locale="en")
    job_id = _job_id(_upload(client, csv_bytes(PATIENTS_1251, "cp1251", ";")))
    page = client.get(f"/admin/import/{job_id}").get_data(as_text=True)
    assert "Код пациента" in page and 'value="external_id" selected' in page

    header = PATIENTS_1251[0]
    mapping = {f"column_{i}": "" for i in range(len(header))}
    mapping.update(column_0="external_id", column_1="last_name", column_2="first_name",
                   column_6="phones")
    response = client.post(f"/admin/import/{job_id}/run",
                           data={**mapping, "dry_run": "1", "profile_name": "IDENT"})
    assert response.status_code == 303
    status = _finished(client, job_id)
    assert status["state"] == "done"
    assert status["counts"] == {"created": 4, "updated": 0, "unchanged": 0, "refused": 1}
    assert session.scalar(select(func.count(Patient.id))) == 0
    page = client.get(f"/admin/import/{job_id}").get_data(as_text=True)
    assert "Dry run: what would happen" in page
    assert "phone &#39;8-916-12&#39; is not a number" in page
    assert session.scalar(select(ImportProfile.columns)) == {
        "Код пациента": "external_id", "Фамилия": "last_name", "Имя": "first_name",
        "Телефон": "phones"}

    refused = client.get(f"/admin/import/{job_id}/refused")
    assert refused.status_code == 200 and "attachment" in refused.headers["Content-Disposition"]
    assert [row[0] for row in read_table(refused.data).rows()] == ["P-3"]

    assert client.post(f"/admin/import/{job_id}/run", data={"keep_mapping": "1"}).status_code == 303
    status = _finished(client, job_id)
    assert (status["state"], status["counts"]["created"]) == ("done", 4)
    session.expire_all()
    assert session.scalar(select(func.count(Patient.id))) == 4
    # The other fields were left out by the mapping: the birth dates stay unknown.
    assert session.scalar(select(func.count(Patient.id)).where(Patient.birth_date.is_not(None))) == 0


def test_a_cancelled_job_imports_nothing(client: Any, session: Session, database_url: str,
                                         redis_url: str, tmp_path: Path) -> None:
    f.signed_in(client, session, role="admin", locale="en")
    job_id = _job_id(_upload(client, csv_bytes(PATIENTS_1251, "cp1251", ";")))
    client.post(f"/admin/import/{job_id}/run", data={"keep_mapping": "1", "dry_run": "0"})
    assert client.post(f"/admin/import/{job_id}/cancel").status_code == 303
    assert _finished(client, job_id)["state"] == "cancelled"
    connection = redis.Redis.from_url(redis_url)
    [queued] = Queue("default", connection=connection).job_ids
    proc = start_worker(worker_env(database_url, redis_url, tmp_path), tmp_path / "worker.log",
                        "default")
    try:
        rq_job = Job.fetch(queued, connection=connection)
        wait_until(lambda: rq_job.get_status(refresh=True) == "finished", 120, "the worker")
        assert rq_job.return_value() == "skipped"
    finally:
        stop_worker(proc)
        connection.close()
    session.expire_all()
    assert session.get(ImportJob, job_id).state == "cancelled"  # type: ignore[union-attr]
    assert session.scalar(select(func.count(Patient.id))) == 0


@pytest.mark.parametrize(("kind", "content", "message"), [
    ("patients", None, "choose a file"),
    ("pets", b"a,b\n1,2\n", "choose what the file holds"),
    ("patients", b"\x00\x01binary", "not a table: the file is binary"),
])
def test_a_bad_upload_is_named_and_stores_nothing(client: Any, session: Session, kind: str,
                                                  content: bytes | None, message: str) -> None:
    f.signed_in(client, session, role="admin", locale="en")
    data: dict[str, Any] = {"kind": kind}
    if content is not None:
        data["file"] = (io.BytesIO(content), "x.csv")
    response = client.post("/admin/import", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert session.scalar(select(func.count(ImportJob.id))) == 0


def test_a_mapping_without_the_id_is_refused_on_the_page(client: Any, session: Session) -> None:
    f.signed_in(client, session, role="admin", locale="ru")
    job_id = _job_id(_upload(client, csv_bytes(PATIENTS_1251, "cp1251", ";")))
    response = client.post(f"/admin/import/{job_id}/run", data={"column_1": "last_name",
                                                               "dry_run": "1"})
    assert response.status_code == 400
    assert "external_id" in response.get_data(as_text=True)
    assert session.get(ImportJob, job_id).state == "uploaded"  # type: ignore[union-attr]
