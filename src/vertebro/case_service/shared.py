"""Who calls the use cases, the errors they raise, and which cases a caller may see."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from vertebro.adapters.db.repository import StoredCase
from vertebro.settings import Role

Json = dict[str, Any]


class Actor(BaseModel):
    """Who is calling: an authenticated account."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    kind: Literal["person", "system"]
    role: Role
    organisation: str


class NotFound(Exception):
    """No such case - or one the caller may not see (the two are not distinguished)."""


class Forbidden(Exception):
    """The caller may not do this."""


class Conflict(Exception):
    """The request clashes with the stored state (a reused identifier, a transition the
    lifecycle does not allow, or a concurrent change)."""


def visible(actor: Actor, stored: StoredCase) -> bool:
    """Requesters see their own organisation's cases only; payer staff see all."""
    return actor.role is not Role.REQUESTER or stored.case.organisation == actor.organisation
