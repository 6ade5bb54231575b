"""/marketing, /api/analytics and the CSV exports, over the hand-computed March fixture."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.analytics import REPORTS
from callcenter.core.i18n import t
from callcenter.core.models import AuditLog
from tests import factories as f
from tests.analytics_fixture import Month, march

MARCH = "from=2026-03-01&to=2026-03-31"


@pytest.fixture
def month(session: Session) -> Month:
    return march(session)


def test_roles(client, session: Session, month: Month) -> None:
    assert client.get(f"/api/analytics/summary?{MARCH}").status_code == 401
    assert client.get("/marketing").status_code == 302  # to the sign-in page
    f.signed_in(client, session, role="receptionist")
    assert client.get(f"/api/analytics/summary?{MARCH}").status_code == 403


def test_json_api_and_channel_filter(client, session: Session, month: Month) -> None:
    f.signed_in(client, session, role="marketing")
    body = client.get(f"/api/analytics/summary?{MARCH}").json
    [row] = body["rows"]
    assert (row["calls"], row["bookings"], row["arrivals"]) == (10, 3, 2)
    assert (row["booking_rate"], row["arrival_rate"]) == (0.3, 0.2)
    assert body["filters"]["timezone"] == "Europe/Moscow" and body["columns"][0] == "calls"
    search = month.search.channel_id
    [narrow] = client.get(f"/api/analytics/summary?{MARCH}&channel={search}").json["rows"]
    assert (narrow["calls"], narrow["bookings"]) == (3, 2)
    index = client.get("/api/analytics").json
    assert set(index["reports"]) == set(REPORTS) and "bookings" in index["definitions"]


def test_bad_filters_are_named(client, session: Session, month: Month) -> None:
    f.signed_in(client, session, role="admin")
    for query, field in (("from=2026-13-01", "from"), ("group=year", "group"),
                         ("window=0", "window"), ("channel=x", "channel"),
                         ("number=" + "9" * 30, "number"),
                         ("from=2026-03-10&to=2026-03-01", "from")):
        response = client.get(f"/api/analytics/channels?{query}")
        assert response.status_code == 400, query
        assert response.json["field"] == field and response.json["message"], response.json
    assert client.get("/api/analytics/nope").status_code == 404


def test_every_table_exports_csv_and_the_export_is_audited(client, session: Session,
                                                           month: Month) -> None:
    staff = f.signed_in(client, session, role="marketing")
    for name, report in REPORTS.items():
        response = client.get(f"/marketing/export/{name}.csv?{MARCH}")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
        assert tuple(rows[0]) == report.columns
    channels = client.get(f"/marketing/export/channels.csv?{MARCH}").get_data(as_text=True)
    by_name = {r["channel"]: r for r in csv.DictReader(io.StringIO(channels.lstrip("\ufeff")))}
    assert (by_name["Search"]["calls"], by_name["Search"]["bookings"]) == ("3", "2")
    exports = session.scalars(select(AuditLog).where(AuditLog.staff_id == staff.id,
                                                     AuditLog.action == "export")).all()
    assert len(exports) == len(REPORTS) + 1


@pytest.mark.parametrize(("locale", "title"), [("en", "Marketing analytics"),
                                                ("ru", "Маркетинговая аналитика"),
                                                ("zh", "营销分析")])
def test_dashboard_shows_aggregates_only(client, session: Session, month: Month, locale: str,
                                         title: str) -> None:
    f.signed_in(client, session, role="marketing", locale=locale)
    page = client.get(f"/marketing?{MARCH}&group=week").get_data(as_text=True)
    assert title in page
    assert page.count(t("not asked / no answer", locale)) == 1  # the heard-from row without an answer
    assert page.count("<svg") == 6
    assert 'title="' in page and "/marketing/export/channels.csv?" in page
    # no patient names, no caller numbers: only the clinic's own tracking numbers
    assert "Petrov" not in page and "Child" not in page
    assert not re.search(r"\+7900\d+", page)
