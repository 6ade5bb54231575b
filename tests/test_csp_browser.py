"""The pages under their Content-Security-Policy in a real browser: Chromium via Playwright.

An admin (who may open every page) signs in and works through the login, desk (a pop rings),
patient card (click-to-call), outbound list, marketing charts, admin and campaigns pages. Any
violation the browser reports (a `securitypolicyviolation` event or a console error) and any
uncaught script error fails the test. A planted inline handler at the end proves the listeners
hear a violation and the policy blocks it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.access.passwords import hash_password
from callcenter.core.models import DialTask, Staff, StaffRole
from tests import desk_world as w
from tests.test_desk_browser import Live, browser, live, twilio  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`);
});
"""


class Watched:
    """A page whose CSP reports, console errors and script errors are all kept."""

    def __init__(self, context: Any) -> None:
        context.add_init_script(LISTEN)
        self.page = context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))

    def _console(self, message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.problems.append(f"console: {message.text}")

    def visit(self, url: str) -> Any:
        self.collect()  # the page being left: its events die with it
        response = self.page.goto(url)
        assert response is not None and response.ok, (url, response and response.status)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        return self.page

    def collect(self) -> None:
        if self.page.url.startswith("http"):
            self.problems += [f"{self.page.url}: {v}" for v in self.page.evaluate("window.__violations")]
            self.page.evaluate("window.__violations = []")


def _admin(server: Live) -> Staff:
    with server.sessions() as session:
        admin = Staff(clinic_id=server.world.clinic.id, role=StaffRole.ADMIN, login="boss",
                      first_name="Boss", last_name="Admin", sip_extension="103", locale="ru",
                      password_hash=hash_password(w.PASSWORD))
        session.add(admin)
        session.commit()
        assert session.scalar(select(DialTask.id).limit(1)) is not None  # the outbound list has rows
        return admin


def test_every_page_works_under_the_policy(live: Live, browser: Any) -> None:  # noqa: F811
    admin = _admin(live)
    watched = Watched(browser.new_context(viewport={"width": 1440, "height": 1000}, locale="ru-RU"))
    page = watched.visit(f"{live.url}/desk")
    page.fill('input[name="login"]', admin.login)
    page.fill('input[name="password"]', w.PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url("**/desk")
    page.wait_for_selector('#conn[data-state="live"]')  # desk.js read its JSON config and connected
    live.post("csp-1", "ringing", extension=None)
    page.locator("article.pop .patient-name").filter(has_text="Соколова").wait_for()
    page.locator("article.pop .step.opening li").first.wait_for()

    page = watched.visit(f"{live.url}/desk/patients/{live.world.maria.id}")
    page.locator("button.dial").first.click()
    page.locator("#dial-note").filter(has_text="гарнитура").wait_for()  # patient.js, text from data-

    with page.expect_response("**/static/outbound.js") as script:
        watched.visit(f"{live.url}/desk/outbound")
    assert script.value.ok

    page = watched.visit(f"{live.url}/marketing")
    charts = page.locator("svg.chart")
    assert charts.count() >= 4
    assert all(charts.nth(i).bounding_box()["height"] > 50 for i in range(charts.count()))

    watched.visit(f"{live.url}/admin")
    page = watched.visit(f"{live.url}/admin/campaigns")
    watched.collect()
    assert watched.problems == [], "\n".join(watched.problems)

    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate("""document.body.insertAdjacentHTML("beforeend",
            '<img src="/static/missing.png" onerror="window.__ran = true">')""")
    deadline = time.monotonic() + 30
    while not page.evaluate("window.__violations.length") and time.monotonic() < deadline:
        time.sleep(0.05)  # the event is queued after the console report; wait_for_function would eval
    assert page.evaluate("window.__ran") is None
    watched.collect()
    assert sum("script-src" in problem for problem in watched.problems) == 2, watched.problems
