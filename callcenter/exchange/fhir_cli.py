"""`callcenter fhir pull [--clinic ID]`: a pull from the clinic's FHIR server from the terminal
(every clinic with a server when no clinic is named). Prints the counts and the refusals; exit
status 0 when nothing was refused, 1 otherwise, 2 when a pull could not run."""

from __future__ import annotations

import sys
from typing import Any

import click
from sqlalchemy import select

from callcenter.core.cli_support import UsageFailure, in_session, settings
from callcenter.core.models import FhirConnection
from callcenter.exchange.fhir_jobs import run_pull


@click.group("fhir")
def fhir() -> None:
    """The clinic's FHIR R4 server (set it up on the admin page /admin/fhir)."""


@fhir.command("pull")
@click.option("--clinic", "clinic_id", type=int, help="the clinic's id (default: every clinic with a FHIR server)")
def pull_command(clinic_id: int | None) -> None:
    """Read patients, practitioners and appointments changed since the last pull."""
    config = settings()

    def run(session: Any) -> tuple[int, list[str]]:
        ids = session.scalars(select(FhirConnection.clinic_id).order_by(FhirConnection.clinic_id)).all()
        if clinic_id is not None:
            if clinic_id not in ids:
                raise UsageFailure(f"--clinic: clinic {clinic_id} has no FHIR server set up")
            ids = [clinic_id]
        if not ids:
            raise UsageFailure("no clinic has a FHIR server set up (see /admin/fhir)")
        refused, failures = 0, []
        for each in ids:
            done = run_pull(session, each, config, via="cli")
            if done is None:
                failures.append(f"clinic {each}: a pull is running already")
                continue
            if done.pull_state != "ok":  # the counts kept on the connection are the last good pull's
                failures.append(f"clinic {each}: {done.pull_error}")
                continue
            for fhir_type, fhir_id, _field, reason in done.pull_refusals:
                click.echo(f"clinic {each}: {fhir_type}/{fhir_id}: {reason}", err=True)
            for kind, counts in done.pull_counts.items():
                click.echo(f"clinic {each}: {kind}: created {counts['created']}, updated "
                           f"{counts['updated']}, unchanged {counts['unchanged']}, "
                           f"refused {counts['refused']}")
                refused += counts["refused"]
        return refused, failures

    refused, failures = in_session(run)
    if failures:
        raise UsageFailure("; ".join(failures))
    sys.exit(1 if refused else 0)
