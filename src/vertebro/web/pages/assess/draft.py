"""The draft: an assessment's input, policy, date and answers, as a signed hidden-field value."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import zlib
from pathlib import PurePath
from typing import Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vertebro.adapters.errors import InputError
from vertebro.api.deps import state
from vertebro.report import JsonValue
from vertebro.web.session import session_token

NOTE_SOURCE = "the pasted note"
MAX_NAME_CHARS = 120
MAX_DRAFT_CHARS = 3_000_000  # the hidden field; a 5 MB bundle compresses to well under this
MAX_DRAFT_BYTES = 25_000_000  # decompressed: above the largest input any reader accepts
_DRAFT_CONTEXT = b"vertebro-assessment-draft\x00"

InputKind = Literal["note", "json", "yaml"]


class Draft(BaseModel):
    """What an assessment is made of, carried between its steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: InputKind
    name: str = Field(max_length=MAX_NAME_CHARS)
    text: str
    policy: str = Field(max_length=200)  # "carefirst", or "carefirst@2022" for one version
    as_of: dt.date | None = None
    answers: dict[str, JsonValue] = {}


class DraftExpired(Exception):
    """The draft does not belong to this session, or was altered."""


def encode_draft(request: Request, draft: Draft) -> str:
    """The draft as a hidden-field value: compressed JSON and its HMAC for this session."""
    raw = zlib.compress(draft.model_dump_json().encode("utf-8"), 6)
    blob = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
    return f"{blob}.{_signature(request, blob)}"


def decode_draft(request: Request, value: object) -> Draft:
    """The draft from a hidden field.

    Raises:
        DraftExpired: missing, altered, too large, or signed for another session.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_DRAFT_CHARS + 100:
        raise DraftExpired
    blob, _, signature = value.rpartition(".")
    if not blob or not hmac.compare_digest(signature, _signature(request, blob)):
        raise DraftExpired
    try:
        raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        inflater = zlib.decompressobj()
        payload = inflater.decompress(raw, MAX_DRAFT_BYTES)
        if inflater.unconsumed_tail:
            raise DraftExpired
        return Draft.model_validate_json(payload)
    except (ValueError, zlib.error, ValidationError):
        raise DraftExpired from None


def _signature(request: Request, blob: str) -> str:
    token = session_token(request) or ""
    key = state(request).settings.jwt_secret.encode("utf-8")
    message = _DRAFT_CONTEXT + token.encode("utf-8") + b"\x00" + blob.encode("ascii")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def new_draft(note: str, file_name: str, raw: bytes, policy: str, as_of: dt.date | None) -> Draft:
    """The draft for a new input; a file's kind from its name (.json, .yaml/.yml, .txt).

    Raises:
        InputError: the file is not text, or of a kind the page does not read.
    """
    if not file_name:
        return Draft(kind="note", name=NOTE_SOURCE, text=note, policy=policy, as_of=as_of)
    suffix = PurePath(file_name).suffix.lower()
    kinds: dict[str, InputKind] = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".txt": "note"}
    kind = kinds.get(suffix)
    if kind is None:
        stripped = raw.lstrip()
        if not stripped.startswith((b"{", b"[")):
            raise InputError(
                file_name,
                "choose a FHIR bundle or vertebro case file (.json, "
                ".yaml or .yml) or a note (.txt)",
            )
        kind = "json"
    if b"\x00" in raw:
        raise InputError(file_name, "binary file, not text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(file_name, "not UTF-8 text") from None
    if not text.strip():
        raise InputError(file_name, "the file is empty")
    if kind == "note":
        text = text.replace("\r\n", "\n")
    return Draft(kind=kind, name=file_name, text=text, policy=policy, as_of=as_of)
