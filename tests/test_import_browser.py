"""An administrator imports a Windows-1251 patient file in Chromium: upload, the detected
mapping, a dry run followed by its progress bar, then the real import, run by a real worker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from callcenter.access.passwords import hash_password
from callcenter.core.models import ExternalRef, Staff, StaffRole
from tests import desk_world as w
from tests.campaign_env import start_worker, stop_worker, worker_env
from tests.import_files import PATIENTS_1251, csv_bytes
from tests.test_csp_browser import Watched
from tests.test_desk_browser import Live, browser, live, twilio  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def test_an_admin_dry_runs_then_imports_a_patient_file(live: Live, browser: Any,  # noqa: F811
                                                       sqlite_url: str, redis_url: str,
                                                       tmp_path: Path) -> None:
    expect.set_options(timeout=30_000)  # a loaded machine is slow, not wrong: wait generously
    with live.sessions() as session:
        session.add(Staff(clinic_id=live.world.clinic.id, role=StaffRole.ADMIN, login="boss",
                          first_name="Boss", last_name="Admin", locale="en",
                          password_hash=hash_password(w.PASSWORD)))
        session.commit()
    upload = tmp_path / "ident-patients.csv"
    upload.write_bytes(csv_bytes(PATIENTS_1251, "cp1251", ";"))
    worker = start_worker(worker_env(sqlite_url, redis_url, tmp_path / "worker"),
                          tmp_path / "worker.log", "default")
    try:
        watched = Watched(browser.new_context(viewport={"width": 1280, "height": 1000},
                                              locale="en-US"))
        page = watched.visit(f"{live.url}/login")
        page.locator('input[name="login"]').fill("boss")
        page.locator('input[name="password"]').fill(w.PASSWORD)
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/admin$"))

        page = watched.visit(f"{live.url}/admin/import")
        page.locator("#kind").select_option("patients")
        page.locator("#file").set_input_files(str(upload))
        page.get_by_role("button", name="Upload").click()
        expect(page).to_have_url(re.compile(r"/admin/import/\d+$"))
        expect(page.get_by_label("Код пациента")).to_have_value("external_id")
        expect(page.get_by_label("Телефон", exact=True)).to_have_value("phones")

        page.locator("#dry-run").click()
        expect(page.locator('#import-counts [data-outcome="created"]')).to_have_text("3")
        expect(page.locator('#import-counts [data-outcome="refused"]')).to_have_text("2")
        expect(page.locator("#import-report")).to_contain_text("phone '8-916-12' is not a number")
        expect(page.locator("#refused-link")).to_be_visible()
        with live.sessions() as session:
            assert session.scalar(select(func.count(ExternalRef.id))) == 0

        page.locator("#import-for-real").click()
        expect(page.locator("#job-state")).to_contain_text("done")
        expect(page.locator("#job-state")).not_to_contain_text("dry run")
        expect(page.locator('#import-counts [data-outcome="created"]')).to_have_text("3")
        with live.sessions() as session:
            assert session.scalar(select(func.count(ExternalRef.id))) == 3
        watched.collect()
        assert watched.problems == []
    finally:
        stop_worker(worker)
