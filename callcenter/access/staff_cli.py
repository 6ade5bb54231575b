"""`callcenter staff …`: passwords, deactivation and the known-password check from a terminal
(each ends the account's sessions at once, like the admin pages)."""

from __future__ import annotations

import sys
from typing import Any

import click

from callcenter.core.cli_support import UsageFailure, in_session


@click.group()
def staff() -> None:
    """Staff accounts: passwords, deactivation (each ends the account's sessions at once)."""


@staff.command("password")
@click.argument("login")
@click.password_option("--password", prompt="New password", help="read from a prompt if not given")
def staff_password(login: str, password: str) -> None:
    """Set a staff member's password; their sessions end."""
    from callcenter.access.staff_accounts import WeakPassword, by_login, change_password
    from callcenter.core.i18n import t
    from callcenter.core.models import utcnow

    def run(session: Any) -> str:
        try:
            ended = change_password(session, by_login(session, login), password, utcnow())
        except WeakPassword as exc:
            raise UsageFailure(f"password: {t(exc.key, 'en')}") from None
        return f"password of {login} changed; {ended} session(s) ended"

    click.echo(in_session(run))


@staff.command("deactivate")
@click.argument("login")
def staff_deactivate(login: str) -> None:
    """No more sign-ins for this login; their sessions end now."""
    from callcenter.access.staff_accounts import by_login, deactivate
    from callcenter.core.models import utcnow

    def run(session: Any) -> str:
        return f"{login} deactivated; {deactivate(session, by_login(session, login), utcnow())} session(s) ended"

    click.echo(in_session(run))


@staff.command("check")
def staff_check() -> None:
    """List active logins whose password is a known default (exit 1 if any)."""
    from callcenter.access.staff_accounts import with_known_password

    found = in_session(with_known_password)
    for login in found:
        click.echo(f"{login}: known default password")
    if found:
        sys.exit(1)
    click.echo("no known default passwords")
