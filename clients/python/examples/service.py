"""A small FastAPI service that scores cases with the scikit-learn model and
records every decision in Cairn.

    CAIRN_URL=http://127.0.0.1:7070 uvicorn service:app --port 8000
    curl -s localhost:8000/score -H 'content-type: application/json' \\
         -d '{"case_id": "c-1", "features": [17.99, 10.38, ...30 numbers...]}'

The recorder is created with the app and closed when it stops, which delivers
whatever is still queued. Recording never waits for the ledger: the request
answers as soon as the model has decided.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from model import NAME, decide, train
from pydantic import BaseModel

from cairn import Model, Recorder

VERSION = os.environ.get("MODEL_VERSION", "1.0.0")
recorder = Recorder(
    os.environ.get("CAIRN_URL", "http://127.0.0.1:7070"), os.environ.get("CAIRN_TOKEN")
)
model = train(VERSION)


class Case(BaseModel):
    case_id: str
    features: list[float]


@recorder.decision(
    stream="clinic.triage",
    model=Model(NAME, VERSION),
    operation="triage",
    label_from=lambda out: out["decision"],
    score_from=lambda out: out["score"],
    fields_from=lambda features, case_id: {"subject": case_id},
)
def triage(features: list[float], case_id: str) -> dict[str, Any]:
    """Decide one case; the decorator records input, output, latency and model."""
    return decide(model, features)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    recorder.close(timeout=30)


app = FastAPI(lifespan=lifespan)


@app.post("/score")
def score(case: Case) -> dict[str, Any]:
    return {"case_id": case.case_id, **triage(case.features, case.case_id)}


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
