"""Authentication (API keys and OAuth2 client-credentials bearer tokens) and the role rules.

Two ways to authenticate, both checked against the accounts in the settings:

* `X-API-Key: <key>` - the SHA-256 digest of the key must match an account's `api_key_sha256`.
* `Authorization: Bearer <token>` - a JWT (HS256) from `POST /auth/token` (OAuth2 client
  credentials grant, RFC 6749 section 4.4: `grant_type=client_credentials` with `client_id`
  and `client_secret` in the form body or HTTP Basic). Tokens live `VERTEBRO_TOKEN_TTL_SECONDS`
  (default 300 s); the account is looked up again on every request, so removing an account
  revokes its tokens.

Role rules (`PERMISSIONS`): the permission a route needs is declared on the route; a requester
additionally sees only its own organisation's cases (enforced in `vertebro.case_service`), and
only a *person* with the reviewer role can record a decision. The outcomes registry: requesters
(the units that treat patients) record their own unit's procedures, complications and
follow-ups and read their own unit's registry; auditors and admins read every unit's
(enforced in `vertebro.registry_service`).
"""

from __future__ import annotations

import base64
import hmac
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import jwt

from vertebro.case_service import Actor
from vertebro.settings import PrincipalConfig, Role, Settings, sha256_hex


class Permission(StrEnum):
    """What a route needs."""

    ASSESS = "assess"  # POST /assessments
    SUBMIT = "submit"  # POST /cases, Claim/$submit, Claim/$inquire
    READ_CASES = "read-cases"  # GET /cases, GET /cases/{id}
    ANSWER = "answer"  # POST /cases/{id}/answers, /questionnaire-response
    DECIDE = "decide"  # POST /cases/{id}/decision
    APPEAL = "appeal"  # POST /cases/{id}/appeal
    HOOKS = "hooks"  # POST /cds-services/{id}
    QUESTIONNAIRE = "questionnaire"  # Questionnaire/$questionnaire-package
    READ_AUDIT = "read-audit"  # GET /audit-events, GET /cases/{id}/audit
    RECORD_OUTCOMES = "record-outcomes"  # POST /registry/procedures (and their outcomes), imports
    READ_REGISTRY = "read-registry"  # GET /registry/procedures, audit report, incident reports


PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.REQUESTER: frozenset({
        Permission.ASSESS, Permission.SUBMIT, Permission.READ_CASES, Permission.ANSWER,
        Permission.APPEAL, Permission.HOOKS, Permission.QUESTIONNAIRE,
        Permission.RECORD_OUTCOMES, Permission.READ_REGISTRY,
    }),
    Role.REVIEWER: frozenset({
        Permission.ASSESS, Permission.READ_CASES, Permission.ANSWER, Permission.DECIDE,
    }),
    Role.CODER: frozenset({Permission.ASSESS, Permission.READ_CASES}),
    Role.AUDITOR: frozenset({Permission.READ_CASES, Permission.READ_AUDIT,
                             Permission.READ_REGISTRY}),
    Role.ADMIN: frozenset({Permission.READ_CASES, Permission.READ_AUDIT,
                           Permission.READ_REGISTRY}),
}


class AuthError(Exception):
    """Authentication failed; `error` is the OAuth2 error code."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated account."""

    id: str
    name: str
    kind: Literal["person", "system"]
    role: Role
    organisation: str
    method: Literal["api-key", "token"]

    def may(self, permission: Permission) -> bool:
        """Whether the account's role grants the permission."""
        return permission in PERMISSIONS[self.role]

    def actor(self) -> Actor:
        """The account as the use cases see it."""
        return Actor(id=self.id, name=self.name, kind=self.kind, role=self.role,
                     organisation=self.organisation)


def _principal(config: PrincipalConfig, method: Literal["api-key", "token"]) -> Principal:
    return Principal(config.id, config.name, config.kind, config.role, config.organisation,
                     method)


class Authenticator:
    """Checks keys and tokens against the configured accounts and issues tokens."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        accounts = settings.accounts
        self._by_key = {a.api_key_sha256: a for a in accounts if a.api_key_sha256}
        self._by_client = {a.client_id: a for a in accounts if a.client_id}
        self._by_id = {a.id: a for a in accounts}

    def api_key(self, key: str) -> Principal:
        """The account whose key this is.

        Raises:
            AuthError: unknown key.
        """
        digest = sha256_hex(key)
        for known, account in self._by_key.items():
            if hmac.compare_digest(known, digest):
                return _principal(account, "api-key")
        raise AuthError("invalid_token", "unknown API key")

    def issue_token(self, client_id: str, client_secret: str, *, audience: str | None = None,
                    ttl: int | None = None) -> tuple[str, int]:
        """A signed access token for a client, and its lifetime in seconds.

        `audience` and `ttl` default to the API's; the web pages sign people in with their own
        audience, so a browser session cookie is never accepted as an API token or vice versa.

        Raises:
            AuthError: unknown client or wrong secret (the two are not told apart).
        """
        account = self._by_client.get(client_id)
        digest = sha256_hex(client_secret)
        expected = account.client_secret_sha256 if account else sha256_hex(uuid.uuid4().hex)
        if account is None or not hmac.compare_digest(expected or "", digest):
            raise AuthError("invalid_client", "unknown client or wrong secret")
        now = int(time.time())
        ttl = ttl or self._settings.token_ttl_seconds
        claims: dict[str, Any] = {
            "iss": self._settings.jwt_issuer, "aud": audience or self._settings.jwt_audience,
            "sub": account.id, "iat": now, "nbf": now, "exp": now + ttl,
            "jti": str(uuid.uuid4()), "role": account.role.value,
            "org": account.organisation,
        }
        return jwt.encode(claims, self._settings.jwt_secret, algorithm="HS256"), ttl

    def bearer(self, token: str, *, audience: str | None = None) -> Principal:
        """The account a valid, unexpired token was issued to (for `audience`, by default the
        API's).

        Raises:
            AuthError: the token is malformed, forged, expired, or its account is gone.
        """
        try:
            claims = jwt.decode(
                token, self._settings.jwt_secret, algorithms=["HS256"],
                audience=audience or self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("invalid_token", "the access token has expired") from None
        except jwt.PyJWTError:
            raise AuthError("invalid_token", "the access token is not valid") from None
        account = self._by_id.get(str(claims.get("sub")))
        if account is None:
            raise AuthError("invalid_token", "the token's account no longer exists")
        return _principal(account, "token")

    def from_headers(self, authorization: str | None, api_key: str | None) -> Principal:
        """The account a request authenticates as.

        Raises:
            AuthError: no credentials, or bad ones.
        """
        if api_key:
            return self.api_key(api_key)
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                return self.bearer(value.strip())
            raise AuthError("invalid_request", "use 'Authorization: Bearer <token>' or "
                                               "'X-API-Key: <key>'")
        raise AuthError("invalid_request", "authentication required: 'Authorization: Bearer "
                                           "<token>' (from POST /auth/token) or 'X-API-Key'")


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """Client id and secret from an HTTP Basic header, if one is given."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None
