"""`callcenter …` commands. Bad settings end in one line on stderr and exit code 2."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select, text

from callcenter.access.first_run_cli import init
from callcenter.access.staff_cli import staff
from callcenter.core.cli_support import UsageFailure, in_session, settings, with_database
from callcenter.core.config import ConfigError, describe
from callcenter.core.logging_setup import configure as configure_logging
from callcenter.exchange.fhir_cli import fhir
from callcenter.exchange.import_cli import import_command
from callcenter.exchange.token_cli import integration_token

log = logging.getLogger("callcenter")


@click.group(commands=[init, staff, import_command, integration_token, fhir])
def cli() -> None:
    """The clinic front desk's telephony service."""


@cli.command("check-config")
@click.option("--sip", "test_sip", is_flag=True,
              help="Also test the SIP account: register on the PBX, report, unregister.")
def check_config(test_sip: bool) -> None:
    """Validate settings and print them (secrets masked)."""
    from callcenter.core.clinic_settings import report
    from callcenter.inbound import pbx_accounts
    from callcenter.inbound.webhook_secrets import provider_status

    config = settings()
    for name, shown in describe(config):
        click.echo(f"{name:34} {shown}")
    click.echo("\n".join(report(config, more=lambda session, clinic: pbx_accounts.describe(
        session, clinic.id, config["SECRET_KEY"]))))
    status = provider_status(config)
    for provider, ready in status.items():
        click.echo(f"webhooks/{provider:25} {'signed' if ready else 'not set up: refuses every request'}")
    if not any(status.values()):
        click.echo("warning: no PBX is set up; every webhook will be refused with 403", err=True)
    if test_sip:
        _test_sip_account(config)
    click.echo("configuration ok")


def _test_sip_account(config: dict[str, Any]) -> None:
    from callcenter.outbound.dial_reasons import describe
    from callcenter.outbound.dialers.sip import SipDialer

    if not config["SIP_SERVER"]:
        raise UsageFailure("sip: CALLCENTER_SIP_SERVER is not set; nothing to test")
    account = f"{config['SIP_USER']}@{config['SIP_SERVER']}:{config['SIP_PORT']}"
    failure = SipDialer(config).check()
    if failure is not None:
        raise UsageFailure(f"sip account {account}: {describe(failure.reason, failure.status, 'en')}"
                           f"{f' ({failure.detail})' if failure.detail else ''}")
    click.echo(f"sip account {account:21} registered and unregistered")


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema (a no-op when already current)."""
    from callcenter.core import migrate

    config = settings()
    with_database(lambda: migrate.upgrade(config["DATABASE_URL"]))
    click.echo(f"database at revision {migrate.head_revision()}")


@db.command("current")
def db_current() -> None:
    """Print the schema revision of the database."""
    from callcenter.core import migrate

    config = settings()
    rev = with_database(lambda: migrate.current_revision(config["DATABASE_URL"]))
    click.echo(rev or "empty")


@cli.command()
@click.option("--seed", default=20261122, show_default=True, help="random seed (same seed, same clinic)")
@click.option("--patients", default=5000, show_default=True, type=click.IntRange(min=20),
              help="how many patients")
@click.option("--force", is_flag=True, help="load even if the database already has a clinic")
def demo(seed: int, patients: int, force: bool) -> None:
    """Load the deterministic demo clinic."""
    config = settings()
    if config["ENV"] == "production":
        raise UsageFailure("demo: refused with CALLCENTER_ENV=production (its logins are public)")
    loaded = _load_demo(config, seed=seed, patients=patients, force=force)
    click.echo(loaded)


def _load_demo(config: dict[str, Any], *, seed: int, patients: int, force: bool) -> str:
    from callcenter.core import migrate
    from callcenter.core.db import make_engine, make_session_factory, session_scope
    from callcenter.core.models import Clinic
    from callcenter.demo.builder import load_demo

    with_database(lambda: migrate.upgrade(config["DATABASE_URL"]))
    engine = make_engine(config["DATABASE_URL"])
    try:
        with session_scope(make_session_factory(engine)) as session:
            if session.scalar(select(func.count(Clinic.id))) and not force:
                return "demo: the database already has a clinic; nothing loaded"
            summary = load_demo(session, seed=seed, patients=patients, config=config)
        with engine.begin() as conn:
            # A bulk load leaves the planner without statistics: without them PostgreSQL scans a
            # clinic's patients for every caller lookup (92 ms instead of 0.05 ms at 100,000).
            conn.execute(text("ANALYZE"))
        return f"demo: loaded {summary}"
    finally:
        engine.dispose()


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(args: tuple[str, ...]) -> None:
    """Run a benchmark from bench/ (no name: list them)."""
    from bench.__main__ import main as run_bench

    status = run_bench(list(args))
    if status:
        sys.exit(status)


@cli.command()
@click.option("--dry-run", is_flag=True, help="only count what would go")
def retention(dry_run: bool) -> None:
    """Apply the retention policy (run daily, e.g. from cron or a systemd timer)."""
    from callcenter.access.retention import prune
    from callcenter.core.db import make_engine, make_session_factory, session_scope
    from callcenter.core.models import utcnow

    config = settings()
    engine = make_engine(config["DATABASE_URL"])
    try:
        with session_scope(make_session_factory(engine)) as session:
            done = with_database(lambda: prune(
                session, utcnow(), raw_days=config["RAW_RETENTION_DAYS"],
                review_days=config["REVIEW_RETENTION_DAYS"],
                recording_days=config["RECORDING_RETENTION_DAYS"], dry_run=dry_run))
    finally:
        engine.dispose()
    verb = "would remove" if dry_run else "removed"
    click.echo(f"retention: {verb} {done.raw_webhooks} raw webhooks, "
               f"{done.recordings} recording links")


@cli.command()
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="exit when the queues are empty")
def worker(queues: tuple[str, ...], burst: bool) -> None:
    """Run an RQ worker (same as python worker.py)."""
    from callcenter.core.heap import return_freed_memory
    from callcenter.workers import QUEUES, run_worker

    # A misspelt queue ("dail") would be worked for ever while nothing dials.
    unknown = [name for name in queues if name not in QUEUES]
    if unknown:
        raise UsageFailure(f"unknown queue {unknown[0]!r}: one of {', '.join(QUEUES)}")
    config = settings()
    if not config["REDIS_URL"]:
        raise UsageFailure("REDIS_URL: required for a worker (callcenter serve starts one for you)")
    configure_logging(config["LOG_LEVEL"], config["LOG_FORMAT"])
    return_freed_memory(config["RETURN_MEMORY"])  # the work horses it forks keep the setting
    run_worker(config, queues or QUEUES, burst=burst)


@cli.command()
def dialer() -> None:
    """Dial the queued calls: a long-lived process (python worker.py starts one beside it)."""
    from callcenter.core.heap import return_freed_memory
    from callcenter.workers import run_dialer

    config = settings()
    if not config["REDIS_URL"]:
        raise UsageFailure("REDIS_URL: required for the dialer (callcenter serve starts one for you)")
    configure_logging(config["LOG_LEVEL"], config["LOG_FORMAT"])
    return_freed_memory(config["RETURN_MEMORY"])
    run_dialer()


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--demo/--no-demo", "with_demo", default=True, show_default=True,
              help="load the demo clinic into an empty database")
def serve(host: str, port: int, with_demo: bool) -> None:
    """Run everything on one machine: web, worker, embedded Redis, SQLite.

    Ctrl+C, SIGTERM and SIGHUP stop the web, then the worker, then Redis (see docs/operations.md).
    """
    from werkzeug.serving import run_simple

    from callcenter import create_app
    from callcenter.core.heap import freeze_startup_objects, return_freed_memory
    from callcenter.core.processes import supervised

    config = settings()
    return_freed_memory(config["RETURN_MEMORY"])  # before any thread starts: arenas are per thread
    try:
        with supervised() as children:
            if not config["REDIS_URL"]:
                from callcenter.core.embedded_redis import EmbeddedRedisError, start

                try:
                    config["REDIS_URL"] = start(config["INSTANCE_DIR"], children)
                except EmbeddedRedisError as exc:
                    raise UsageFailure(str(exc)) from None
                click.echo(f"embedded Redis at {config['REDIS_URL']}")
            os.environ["REDIS_URL"] = config["REDIS_URL"]
            os.environ["DATABASE_URL"] = config["DATABASE_URL"]
            # The schema and the demo load in a process of their own: what they allocate (the
            # demo's 5,000 patients, Alembic) goes back to the system instead of staying in the
            # web's process for good.
            _in_child("db", "upgrade")
            if config["ENV"] == "production":
                refuse_known_passwords()
            elif with_demo:
                _in_child("demo", "--seed", "20261122", "--patients", "5000")
            if config["WEB_WORKER"]:
                script = Path(__file__).resolve().parent.parent / "worker.py"
                children.spawn("worker", [sys.executable, str(script)], env=os.environ.copy())
            app = create_app({"REDIS_URL": config["REDIS_URL"], "DATABASE_URL": config["DATABASE_URL"]})
            freeze_startup_objects()
            click.echo(f"callcenter is running: open http://{host}:{port}/desk  (Ctrl+C to stop)")
            # Returns on the KeyboardInterrupt that Ctrl+C, SIGTERM or SIGHUP raise, web closed.
            run_simple(host, port, app, threaded=True, use_reloader=False)
    except KeyboardInterrupt:
        pass  # stopped while starting up: the children are stopped all the same
    click.echo("callcenter stopped")


def _in_child(*command: str) -> None:
    """Run a `callcenter` command in a child process; its failure (already reported) stops here."""
    done = subprocess.run([sys.executable, "-m", "callcenter.cli", *command], check=False)
    if done.returncode:
        raise SystemExit(done.returncode)


def refuse_known_passwords() -> None:
    """Production never runs while someone can sign in with a password from the README."""
    from callcenter.access.staff_accounts import with_known_password

    found = in_session(with_known_password)
    if found:
        # A count, not the logins: this line lands in service logs, and it says whose password is known.
        raise UsageFailure(f"{len(found)} active staff account(s) have a known default password: "
                           "`callcenter staff check` lists them; change or deactivate them first")


@cli.group()
def scripts() -> None:
    """Call scripts (scripts_library/ and the clinic's own folder)."""


@scripts.command("check")
@click.option("--library", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="library folder to check instead of the packaged one")
@click.option("--overrides", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="clinic folder on top (default: CALLCENTER_SCRIPTS_DIR)")
@click.option("--locale", "locales", multiple=True, help="a locale that must have every scenario")
def scripts_check(library: Path | None, overrides: Path | None, locales: tuple[str, ...]) -> None:
    """Validate every script and text template; prints file:line: problem, exits 1 on any."""
    from callcenter.callscripts.check import check_scripts
    from callcenter.callscripts.library import PACKAGED_DIR
    from callcenter.messaging import templates

    config = settings()
    folder = overrides or (Path(config["SCRIPTS_DIR"]) if config["SCRIPTS_DIR"] else None)
    problems, usable = check_scripts(library or PACKAGED_DIR, folder, (*locales, config["LOCALE"]))
    # The text templates live beside the scripts (messages/); a library without them leans on
    # the packaged ones.
    texts = library if library is not None and (library / templates.FOLDER).is_dir() else PACKAGED_DIR
    problems += templates.check(texts, folder)
    for problem in problems:
        shown = problem.path.resolve()
        if shown.is_relative_to(Path.cwd()):
            shown = shown.relative_to(Path.cwd())
        click.echo(f"{shown}:{problem.line}: {problem.message}")
    if problems:
        click.echo(f"scripts check: {len(problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo(f"scripts ok: {usable} scripts")


@cli.group()
def patient() -> None:
    """A patient's data requests: a copy of everything held, or erasure."""


@patient.command("export")
@click.argument("patient_id", type=int)
def patient_export(patient_id: int) -> None:
    """Print everything held on the patient as JSON (audited)."""
    import json

    from callcenter.access.audit import record as audit
    from callcenter.access.privacy import export
    from callcenter.core.models import utcnow

    def run(session: Any) -> str:
        document = export(session, patient_id, utcnow())
        audit(session, None, "export", "patient", patient_id, via="cli")
        return json.dumps(document, ensure_ascii=False, indent=2)

    click.echo(in_session(run))


@patient.command("erase")
@click.argument("patient_id", type=int)
@click.option("--yes", is_flag=True, help="confirm: erasure cannot be undone")
def patient_erase(patient_id: int, yes: bool) -> None:
    """Erase the patient's personal data, keeping anonymous statistics (audited)."""
    from callcenter.access.privacy import AlreadyErased, erase
    from callcenter.core.models import utcnow

    if not yes:
        raise UsageFailure("erasure cannot be undone: add --yes")

    def run(session: Any) -> str:
        try:
            removed = erase(session, patient_id, None, utcnow(), via="cli")
        except AlreadyErased as exc:
            raise click.ClickException(str(exc)) from None
        return f"patient {patient_id} erased: " + ", ".join(f"{k} {v}" for k, v in removed.items())

    click.echo(in_session(run))


@cli.command("ami-bridge")
def ami_bridge() -> None:
    """Read Asterisk's manager port (AMI) and feed call events in; runs until stopped."""
    from callcenter.core.runtime import Runtime
    from callcenter.inbound.ami_bridge import AmiBridge, AmiLoginError, ingest_sink

    config = settings()
    if not config["AMI_USER"]:
        raise UsageFailure("CALLCENTER_AMI_USER: required for ami-bridge")
    configure_logging(config["LOG_LEVEL"], config["LOG_FORMAT"])
    runtime = Runtime.from_config(config)
    try:
        AmiBridge(config, ingest_sink(runtime)).run()
    except AmiLoginError as exc:
        raise UsageFailure(f"CALLCENTER_AMI_USER/CALLCENTER_AMI_PASSWORD: AMI login refused: {exc}") from None
    except KeyboardInterrupt:
        click.echo("ami-bridge stopped")
    finally:
        runtime.close()


def main(argv: Sequence[str] | None = None) -> None:
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="callcenter")
    except ConfigError as exc:  # raised from deep inside a command
        click.echo(f"callcenter: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
