"""WSGI entry for gunicorn: `gunicorn -k gthread --threads 8 -w 2 callcenter.wsgi:app`."""

from . import create_app

app = create_app()
