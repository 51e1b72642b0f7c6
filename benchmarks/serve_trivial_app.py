"""The ceiling for ``benchmarks/serve_load.py``: the least a FastAPI scoring endpoint does.

Pydantic records in (one ``{feature: number}`` object per row), the sum of each row out. No model,
no checks beyond pydantic's: what a FastAPI app costs per request and per row on this machine.

Run with ``uvicorn --app-dir benchmarks serve_trivial_app:app``.
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel


class Rows(BaseModel):
    records: list[dict[str, float]]


class Sums(BaseModel):
    scores: list[float]


app = FastAPI(title="trivial")


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.post("/score")
def score(rows: Rows) -> Sums:
    return Sums(scores=[sum(record.values()) for record in rows.records])
