"""Health checks for load balancers and orchestrators; no authentication, no patient data.

- `GET /healthz` (liveness): the process answers. It does not touch the database, so a database
  outage does not get a healthy process restarted.
- `GET /readyz` (readiness): the database answers and its schema is the one this version needs;
  otherwise 503 with an OperationOutcome, so that traffic goes elsewhere until it is.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from vertebro.adapters.db.migrate import head_revision
from vertebro.api.deps import state
from vertebro.api.errors import ApiError

router = APIRouter(tags=["health"])
_head_revision = cache(head_revision)  # the shipped migrations do not change while running


class Liveness(BaseModel):
    """The process is up."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """The process can serve requests: its database answers at the schema it needs."""

    status: Literal["ready"] = "ready"
    database: str  # the SQL dialect, e.g. "postgresql"
    schema_revision: str


@router.get("/healthz", response_model=Liveness, summary="Liveness (no authentication)")
def liveness() -> Liveness:
    """200 while the process answers HTTP."""
    return Liveness()


@router.get("/readyz", response_model=Readiness, summary="Readiness (no authentication)",
            responses={503: {"description": "OperationOutcome: the database is unavailable or "
                                            "its schema is not current"}})
async def readiness(request: Request) -> Readiness:
    """200 when the database answers and its schema is current, else 503."""
    db = state(request).db
    revision = await run_in_threadpool(db.ping)  # DatabaseUnavailable -> 503
    wanted = _head_revision()
    if revision != wanted:
        raise ApiError(503, f"the database schema is at revision {revision}, this version "
                            f"needs {wanted}: run `vertebro db upgrade`", "transient",
                       headers={"Retry-After": "30"})
    return Readiness(database=db.engine.dialect.name, schema_revision=revision)
