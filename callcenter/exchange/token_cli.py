"""`callcenter integration-token create|list|revoke`: keys for the sync API's connectors."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select

from callcenter.core.cli_support import UsageFailure, in_session
from callcenter.core.inputs import InputError
from callcenter.core.models import IntegrationToken, utcnow
from callcenter.exchange.import_cli import clinic_for
from callcenter.exchange.tokens import SCOPES, create_token, revoke_token


@click.group("integration-token")
def integration_token() -> None:
    """Tokens for the sync API (per clinic, scoped, revocable)."""


@integration_token.command("create")
@click.option("--clinic", "clinic_id", type=int, help="the clinic's id (needed when there are several)")
@click.option("--name", required=True, help="what the connector is, e.g. 'IDENT sync'")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(SCOPES),
              help="what it may write (repeat; default: everything)")
def create(clinic_id: int | None, name: str, scopes: tuple[str, ...]) -> None:
    """Make a token and print it once: only its hash is kept."""

    def run(session: Any) -> str:
        clinic = clinic_for(session, clinic_id)
        try:
            row, secret = create_token(session, clinic.id, name, list(scopes))
        except InputError as exc:
            raise UsageFailure(str(exc)) from None
        return f"token {row.id} for clinic {clinic.id} ({', '.join(row.scopes)}):\n{secret}"

    click.echo(in_session(run))


@integration_token.command("list")
def list_tokens() -> None:
    """Every token: id, clinic, name, the start of the token, scopes, revoked or last used."""

    def run(session: Any) -> list[str]:
        return [f"{row.id}\tclinic {row.clinic_id}\t{row.name}\t{row.prefix}…\t{','.join(row.scopes)}\t"
                + (f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else
                   f"last used {row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never used")
                for row in session.scalars(select(IntegrationToken).order_by(IntegrationToken.id))]

    for line in in_session(run):
        click.echo(line)


@integration_token.command("revoke")
@click.argument("token_id", type=int)
def revoke(token_id: int) -> None:
    """Revoke a token: its next request is refused."""
    click.echo(in_session(lambda session: f"token {revoke_token(session, token_id, utcnow()).id} revoked"))
