"""Baseline for the webhook benchmark: a bare Flask endpoint that inserts one row per POST."""

from __future__ import annotations

import os

from flask import Flask, Response, request
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, insert

from callcenter.core.db import make_engine

metadata = MetaData()
hits = Table("bare_hits", metadata, Column("id", Integer, primary_key=True), Column("body", LargeBinary))

engine = make_engine(os.environ["DATABASE_URL"])
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

