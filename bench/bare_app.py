"""Baseline for the webhook benchmark: a bare Flask endpoint that inserts one row per POST."""

from __future__ import annotations

import contextlib
import os

from flask import Flask, Response, request
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, exc, insert

from callcenter.core.db import make_engine

metadata = MetaData()
hits = Table("bare_hits", metadata, Column("id", Integer, primary_key=True), Column("body", LargeBinary))

engine = make_engine(os.environ["DATABASE_URL"])
# Both gunicorn workers import this at once: on PostgreSQL the second CREATE TABLE can fail on the
# catalogue's unique index while the first commits; the table is there either way.
with contextlib.suppress(exc.IntegrityError, exc.ProgrammingError):
    metadata.create_all(engine)
app = Flask(__name__)


@app.get("/healthz")
def healthz() -> str:
    return "ok"


@app.post("/bare")
def bare() -> Response:
    with engine.begin() as conn:
        conn.execute(insert(hits).values(body=request.get_data()))
    return Response(status=204)

