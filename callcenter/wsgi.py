"""WSGI entry for gunicorn: `gunicorn -k gthread --threads 8 -w 2 callcenter.wsgi:app`."""

import sys

import click

from callcenter import create_app
from callcenter.cli import refuse_known_passwords
from callcenter.core.heap import freeze_startup_objects, return_freed_memory

app = create_app()
return_freed_memory(app.config["RETURN_MEMORY"])
if app.config["ENV"] == "production":
    try:
        refuse_known_passwords()
    except click.ClickException as exc:  # the same one line `callcenter serve` prints
        sys.stderr.write(f"callcenter: {exc.format_message()}\n")
        sys.exit(2)
freeze_startup_objects()
