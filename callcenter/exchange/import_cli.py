"""`callcenter import patients|doctors|services|appointments|treatments FILE`: the file import
from the terminal. Prints the counts; exit status 0 when nothing was refused, 1 otherwise, 2
(one line) when the file or the options cannot be used at all."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from callcenter.core.cli_support import UsageFailure, in_session
from callcenter.core.inputs import InputError
from callcenter.core.models import Clinic, ImportProfile
from callcenter.exchange.columns import KINDS, resolve
from callcenter.exchange.importer import Result, run_import
from callcenter.exchange.profiles import save_profile
from callcenter.exchange.tables import read_table

SHOWN_REFUSALS = 50


def clinic_for(session: Any, clinic_id: int | None) -> Clinic:
    if clinic_id is not None:
        clinic = session.get(Clinic, clinic_id)
        if clinic is None:
            raise UsageFailure(f"--clinic: no clinic {clinic_id}")
        return clinic
    clinics = session.scalars(select(Clinic).order_by(Clinic.id).limit(2)).all()
    if len(clinics) != 1:
        raise UsageFailure("--clinic: required (the installation has "
                           f"{'no clinic' if not clinics else 'several clinics'})")
    return clinics[0]


def profile_columns(session: Any, clinic: Clinic, kind: str, name: str) -> dict[str, str]:
    profile = session.scalar(select(ImportProfile).where(
        ImportProfile.clinic_id == clinic.id, ImportProfile.kind == kind, ImportProfile.name == name))
    if profile is None:
        raise UsageFailure(f"--mapping: no saved mapping '{name}' for {kind} in this clinic")
    return dict(profile.columns)


@click.command("import")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--clinic", "clinic_id", type=int, help="the clinic's id (needed when there are several)")
@click.option("--mapping", help="a saved column mapping to use instead of the detected one")
@click.option("--save-mapping", help="save the mapping used under this name")
@click.option("--dry-run", is_flag=True, help="check every row, write nothing")
@click.option("--refused", "refused_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write the refused rows, with the reason, to this CSV file")
def import_command(kind: str, file: Path, clinic_id: int | None, mapping: str | None,
                   save_mapping: str | None, dry_run: bool, refused_path: Path | None) -> None:
    """Import patients, doctors, services, appointments or treatments from CSV or XLSX."""
    try:
        table = read_table(file, file.name)
    except InputError as exc:
        raise UsageFailure(f"{file.name}: {exc.message}") from None

    def run(session: Any) -> Result:
        clinic = clinic_for(session, clinic_id)
        columns = profile_columns(session, clinic, kind, mapping) if mapping else None
        try:
            columns = resolve(kind, table.header, columns)
            if save_mapping and not dry_run:
                save_profile(session, clinic.id, kind, save_mapping, columns)
            return run_import(session, clinic, kind, table, columns, dry_run=dry_run, via="cli")
        except InputError as exc:
            raise UsageFailure(f"{file.name}: {exc.message}") from None

    result = in_session(run)
    for row, reason in result.refused[:SHOWN_REFUSALS]:
        click.echo(f"row {row}: {reason}", err=True)
    if result.counts["refused"] > SHOWN_REFUSALS:
        click.echo(f"… and {result.counts['refused'] - SHOWN_REFUSALS} more refused rows", err=True)
    if refused_path is not None and result.refused_file:
        refused_path.write_bytes(result.refused_file)
    counts = result.counts
    click.echo(("dry run: " if dry_run else "") + f"{kind}: created {counts['created']}, "
               f"updated {counts['updated']}, unchanged {counts['unchanged']}, "
               f"refused {counts['refused']}")
    sys.exit(1 if counts["refused"] else 0)

