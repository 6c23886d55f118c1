"""Every setting of the service in one registry, read from the environment once at start-up.

Variables (all optional):

- `VERTEBRO_ENV`: `development` (default), `test` or `production`. Outside development,
  placeholder secrets and the built-in demo accounts are refused at start-up.
- `VERTEBRO_HOME`: a folder for local state; the SQLite database is then
  `$VERTEBRO_HOME/vertebro.db` (default: `./vertebro.db`).
- `VERTEBRO_DATABASE_URL`: any SQLAlchemy URL, e.g. `postgresql+psycopg://user:pw@host/db`;
  overrides the SQLite default.
- `VERTEBRO_JWT_SECRET`: the HMAC key (at least 32 characters) that signs access tokens.
- `VERTEBRO_TOKEN_TTL_SECONDS`: access-token lifetime, default 300 (5 minutes).
- `VERTEBRO_WEB_SESSION_SECONDS`: how long a web sign-in lasts, default 28800 (8 hours).
- `VERTEBRO_PRINCIPALS`: a JSON list of accounts (`PrincipalConfig`), or
  `VERTEBRO_PRINCIPALS_FILE`: the path of a file holding that list.
- `VERTEBRO_MAX_BODY_BYTES`: the largest request body accepted (default 5,000,000); larger
  bodies are refused with 413 and an OperationOutcome.
- `VERTEBRO_DEFAULT_POLICY`: the policy the Da Vinci endpoints apply (default `carefirst`).
- `VERTEBRO_PUBLIC_BASE_URL`: the base of canonical URLs in generated resources.
- `VERTEBRO_LOG_LEVEL`: application log level (default `INFO`).
- `VERTEBRO_WARM_UP`: `true` (default) loads the ICD code lists and the note reader before
  the first request (start-up takes seconds longer; the first CRD call is then fast).

An account (`PrincipalConfig`) authenticates with an API key (header `X-API-Key`) or, for the
OAuth2 client-credentials grant, a client id and secret. Only SHA-256 digests of keys and
secrets are configured, never the secrets themselves.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEV_JWT_SECRET = "development-only-secret-do-not-use-in-production!"
PLACEHOLDER_SECRETS = frozenset({
    "", "changeme", "change-me", "change_me", "secret", "password", "dev", "development",
    "test", "placeholder", "xxx", DEV_JWT_SECRET,
})
MIN_SECRET_CHARS = 32


class Environment(StrEnum):
    """Where the service runs; only development accepts placeholder secrets and demo accounts."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Role(StrEnum):
    """What an account may do (see `vertebro.api.security.PERMISSIONS`)."""

    REQUESTER = "requester"  # a provider organisation submitting requests
    REVIEWER = "reviewer"  # a clinician who decides cases
    CODER = "coder"  # clinical coding staff
    AUDITOR = "auditor"  # reads the audit trail
    ADMIN = "admin"  # operates the service


class SettingsError(Exception):
    """The configuration is unusable; the message names the variable."""


def sha256_hex(secret: str) -> str:
    """The SHA-256 digest of a key or secret, as configured in `PrincipalConfig`."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class PrincipalConfig(BaseModel):
    """One account that may call the API."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200, description="stable account id (token subject)")
    name: str = Field(min_length=1, max_length=200, description="the person or system")
    kind: Literal["person", "system"] = "system"
    role: Role
    organisation: str = Field(min_length=1, max_length=200)
    api_key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    client_id: str | None = Field(default=None, min_length=1, max_length=200)
    client_secret_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _reviewers_are_people(self) -> PrincipalConfig:
        if self.role is Role.REVIEWER and self.kind != "person":
            raise ValueError(f"account {self.id!r}: a reviewer must be a named person "
                             "(kind 'person'), not a system")
        if (self.client_id is None) != (self.client_secret_sha256 is None):
            raise ValueError(f"account {self.id!r}: client_id and client_secret_sha256 go "
                             "together")
        return self


# Demo accounts for development only: their keys are printed in the API description.
DEMO_KEYS: dict[str, str] = {
    "requester": "dev-requester-key",
    "requester-other-org": "dev-requester-other-org-key",
    "clinician": "dev-clinician-key",
    "reviewer": "dev-reviewer-key",
    "reviewer-2": "dev-reviewer-2-key",
    "coder": "dev-coder-key",
    "auditor": "dev-auditor-key",
    "admin": "dev-admin-key",
}
DEMO_CLIENT_SECRET = "dev-client-secret"


def demo_principals() -> tuple[PrincipalConfig, ...]:
    """The development accounts (refused outside development)."""
    rows = [
        ("requester", "Demo Hospital EHR", "system", Role.REQUESTER, "org-demo-hospital"),
        ("requester-other-org", "Other Clinic EHR", "system", Role.REQUESTER, "org-other-clinic"),
        ("clinician", "Dr Claire Referrer", "person", Role.REQUESTER, "org-demo-hospital"),
        ("reviewer", "Dr Ada Reviewer", "person", Role.REVIEWER, "org-payer"),
        ("reviewer-2", "Dr Ben Second", "person", Role.REVIEWER, "org-payer"),
        ("coder", "Casey Coder", "person", Role.CODER, "org-payer"),
        ("auditor", "Audrey Auditor", "person", Role.AUDITOR, "org-payer"),
        ("admin", "Service Admin", "person", Role.ADMIN, "org-payer"),
    ]
    return tuple(
        PrincipalConfig(
            id=f"demo-{key}", name=name, kind=kind,
            role=role, organisation=org,
            api_key_sha256=sha256_hex(DEMO_KEYS[key]),
            client_id=f"demo-{key}", client_secret_sha256=sha256_hex(DEMO_CLIENT_SECRET),
        )
        for key, name, kind, role, org in rows
    )


class Settings(BaseModel):
    """The service configuration. Build it with `Settings.from_env`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: Environment = Environment.DEVELOPMENT
    database_url: str
    jwt_secret: str = DEV_JWT_SECRET
    jwt_issuer: str = "vertebro"
    jwt_audience: str = "vertebro-api"
    token_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    web_session_seconds: int = Field(default=28_800, ge=60, le=86_400)
    principals: tuple[PrincipalConfig, ...] = ()
    max_body_bytes: int = Field(default=5_000_000, ge=1_000, le=100_000_000)
    default_policy: str = "carefirst"
    public_base_url: str = "http://localhost:8000"
    log_level: str = "INFO"
    warm_up: bool = True

    def model_post_init(self, __context: object) -> None:
        """Check accounts are unique; refuse placeholder secrets and demo accounts outside
        development."""
        for attribute in ("id", "api_key_sha256", "client_id"):
            values = [getattr(p, attribute) for p in self.principals]
            values = [v for v in values if v is not None]
            if len(values) != len(set(values)):
                raise SettingsError(f"VERTEBRO_PRINCIPALS: two accounts share a {attribute}")
        if self.environment is Environment.DEVELOPMENT:
            return
        if self.jwt_secret.strip().lower() in PLACEHOLDER_SECRETS or len(self.jwt_secret) < (
            MIN_SECRET_CHARS
        ):
            raise SettingsError(
                f"VERTEBRO_JWT_SECRET is a placeholder or shorter than {MIN_SECRET_CHARS} "
                f"characters; set a random secret ({self.environment.value} environment)"
            )
        demo_ids = {p.id for p in demo_principals()}
        demo_digests = {p.api_key_sha256 for p in demo_principals()} | {
            sha256_hex(DEMO_CLIENT_SECRET)
        }
        for principal in self.principals:
            if principal.id in demo_ids or principal.api_key_sha256 in demo_digests or (
                principal.client_secret_sha256 in demo_digests
            ):
                raise SettingsError(
                    f"VERTEBRO_PRINCIPALS: account {principal.id!r} uses a demo key or secret; "
                    f"not allowed in the {self.environment.value} environment"
                )

    @property
    def accounts(self) -> tuple[PrincipalConfig, ...]:
        """The configured accounts; in development with none configured, the demo accounts."""
        if not self.principals and self.environment is Environment.DEVELOPMENT:
            return demo_principals()
        return self.principals

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read the settings from environment variables (see the module docstring).

        Raises:
            SettingsError: a variable is malformed or a secret is a placeholder.
        """
        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        home = get("VERTEBRO_HOME")
        default_db = Path(home) / "vertebro.db" if home else Path("vertebro.db")
        values: dict[str, object] = {
            "environment": get("VERTEBRO_ENV") or Environment.DEVELOPMENT.value,
            "database_url": get("VERTEBRO_DATABASE_URL") or f"sqlite:///{default_db}",
        }
        optional = {
            "jwt_secret": "VERTEBRO_JWT_SECRET",
            "token_ttl_seconds": "VERTEBRO_TOKEN_TTL_SECONDS",
            "web_session_seconds": "VERTEBRO_WEB_SESSION_SECONDS",
            "max_body_bytes": "VERTEBRO_MAX_BODY_BYTES",
            "default_policy": "VERTEBRO_DEFAULT_POLICY",
            "public_base_url": "VERTEBRO_PUBLIC_BASE_URL",
            "log_level": "VERTEBRO_LOG_LEVEL",
            "warm_up": "VERTEBRO_WARM_UP",
        }
        for key, variable in optional.items():
            value = get(variable)
            if value is not None:
                values[key] = value
        values["principals"] = _principals(get("VERTEBRO_PRINCIPALS"),
                                           get("VERTEBRO_PRINCIPALS_FILE"))
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise SettingsError(f"setting {where}: {first['msg']}") from None


def _principals(inline: str | None, path: str | None) -> list[object]:
    if inline is not None and path is not None:
        raise SettingsError("set VERTEBRO_PRINCIPALS or VERTEBRO_PRINCIPALS_FILE, not both")
    text = inline
    source = "VERTEBRO_PRINCIPALS"
    if path is not None:
        source = "VERTEBRO_PRINCIPALS_FILE"
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"{source}: {path}: {exc.strerror}") from None
    if text is None:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{source}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise SettingsError(f"{source}: expected a JSON list of accounts")
    return data
