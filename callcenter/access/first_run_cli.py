"""`callcenter init`: the /setup page from a terminal. Asks for each answer it was not given as an
option; checks them with the page's own checks; bad answers end in one line and exit code 2, an
installation already set up in exit code 1. Run from a script (stdin not a terminal) it asks
nothing: a missing answer takes its default or is named as required."""

from __future__ import annotations

import sys
from typing import Any

import click

OPTIONS = (  # (answer, option, prompt); the password has its own option
    ("clinic_name", "--clinic-name", "Clinic name"),
    ("address", "--address", "Address (may be empty)"),
    ("timezone", "--timezone", "Time zone (IANA, e.g. Europe/Moscow)"),
    ("language", "--language", "Language (ru, en, zh)"),
    ("region", "--region", "Country of the phone numbers (ISO code, e.g. RU)"),
    ("login", "--admin-login", "Administrator's login"),
    ("first_name", "--admin-first-name", "Administrator's first name"),
    ("last_name", "--admin-last-name", "Administrator's last name (may be empty)"),
)


class BadAnswer(click.ClickException):
    exit_code = 2


@click.command("init")
@click.option("--clinic-name")
@click.option("--address")
@click.option("--timezone", help="IANA time zone [default: CALLCENTER_TIMEZONE]")
@click.option("--language", help="ru, en or zh [default: CALLCENTER_LOCALE]")
@click.option("--region", help="ISO country code [default: CALLCENTER_REGION]")
@click.option("--admin-login")
@click.option("--admin-first-name")
@click.option("--admin-last-name")
@click.option("--admin-password-file", type=click.File("r", encoding="utf-8"),
              help="read the password from this file's first line ('-' for stdin)")
def init(admin_password_file: Any, **given: str | None) -> None:
    """Set up an empty installation: the clinic and its first administrator (like /setup)."""
    from sqlalchemy.exc import OperationalError

    from callcenter.core import migrate
    from callcenter.core.config import load_config
    from callcenter.core.db import make_engine, make_session_factory, session_scope

    config = load_config()  # a bad setting: callcenter.cli.main prints it and exits 2
    engine = make_engine(config["DATABASE_URL"])
    try:
        migrate.upgrade(config["DATABASE_URL"])
        with session_scope(make_session_factory(engine)) as session:
            click.echo(_run(session, config, given, admin_password_file))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise BadAnswer(f"DATABASE_URL: cannot use the database: {reason}") from None
    finally:
        engine.dispose()


def _run(session: Any, config: dict[str, Any], given: dict[str, str | None],
         password_file: Any) -> str:
    from callcenter.access import first_run
    from callcenter.core.models import utcnow

    if not first_run.pending(session):  # before asking anything
        raise click.ClickException("this installation is already set up: sign in at /login")
    defaults = {"timezone": config["TIMEZONE"], "language": config["LOCALE"],
                "region": config["REGION"], "address": "", "last_name": ""}
    # The password first: with `--admin-password-file -` it is stdin's first line, which a prompt
    # for another answer would otherwise take.
    password = password_file.readline().rstrip("\r\n") if password_file is not None else None
    interactive = sys.stdin.isatty()
    answers: dict[str, str] = {}
    for field, option, prompt in OPTIONS:
        value = given[option.lstrip("-").replace("-", "_")]
        if value is None:
            default = defaults.get(field)
            if not interactive:
                if default is None:
                    raise BadAnswer(f"{option}: required (nothing to ask: stdin is not a terminal)")
                value = default
            else:
                value = click.prompt(prompt, default=default, show_default=bool(default))
        answers[field] = value
    if password is None:
        if not interactive:
            raise BadAnswer("--admin-password-file: required (nothing to ask: stdin is not a terminal)")
        password = click.prompt("Administrator's password", hide_input=True, confirmation_prompt=True)
    answers["password"] = answers["password_again"] = password
    try:
        admin = first_run.create_first_clinic(session, first_run.check(answers), utcnow(), via="cli")
    except first_run.Problems as exc:
        raise BadAnswer(str(exc)) from None
    except first_run.AlreadySetUp:
        raise click.ClickException("this installation is already set up: sign in at /login") from None
    return (f"clinic {answers['clinic_name']!r} set up; {admin.login} can sign in at /login, "
            "where /admin/setup lists what is left")

