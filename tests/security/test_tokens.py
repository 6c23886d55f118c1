"""Bearer tokens: a token works until it expires and not a second longer (time is moved by
hand, no sleeping); forged, altered, unsigned (`alg: none`), wrong-audience, wrong-issuer and
otherwise malformed tokens are refused with 401 and an OperationOutcome."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from vertebro.api import security
from vertebro.settings import DEMO_CLIENT_SECRET, DEV_JWT_SECRET

from .conftest import Service, outcome_text, service

TTL = 30  # the shortest lifetime the settings allow
# The HS512 probe signs with the server's (HS256-sized) key on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


class Clock:
    """Wall-clock time for the token issuer and for PyJWT's expiry check, moved by hand."""

    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    wall = Clock(float(int(time.time())))

    class FrozenDatetime(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> FrozenDatetime:
            moment = dt.datetime.fromtimestamp(wall.now, tz or dt.UTC)
            return cls.fromtimestamp(moment.timestamp(), moment.tzinfo)

    # Only the issuer's and the verifier's view of time move: nothing else in the process.
    monkeypatch.setattr(security, "time", wall)
    monkeypatch.setattr(jwt.api_jwt, "datetime", FrozenDatetime)
    return wall


@pytest.fixture
def short_lived(sqlite_url: str) -> Iterator[Service]:
    with service(sqlite_url, token_ttl_seconds=TTL) as running:
        yield running


def issue(api: Service, client_id: str = "demo-requester") -> str:
    response = api.client.post("/auth/token", data={
        "grant_type": "client_credentials", "client_id": client_id,
        "client_secret": DEMO_CLIENT_SECRET})
    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] == TTL
    token: str = response.json()["access_token"]
    return token


def call(api: Service, token: str) -> Any:
    header = f"Bearer {token}".encode()  # bytes: a hostile token need not be ASCII
    return api.client.get("/cases", headers={"Authorization": header})


def test_a_token_works_until_it_expires(short_lived: Service, clock: Clock) -> None:
    token = issue(short_lived)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == TTL
    assert call(short_lived, token).status_code == 200
    clock.now += TTL - 1
    assert call(short_lived, token).status_code == 200
    clock.now += 2  # one second past its expiry
    refused = call(short_lived, token)
    assert refused.status_code == 401
    assert "expired" in outcome_text(refused)
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert call(short_lived, issue(short_lived)).status_code == 200  # a new one works


def test_a_token_issued_in_the_future_is_refused(short_lived: Service, clock: Clock) -> None:
    clock.now += 3600
    token = issue(short_lived)
    clock.now -= 3600
    assert call(short_lived, token).status_code == 401


def _b64(part: dict[str, Any]) -> str:
    raw = json.dumps(part, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iss": "vertebro", "aud": "vertebro-api", "sub": "demo-requester",
                            "iat": now, "nbf": now, "exp": now + 60}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def _altered(token: str, **changes: Any) -> str:
    """The token with its payload changed and its signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{_b64(claims)}.{signature}"


def _bad_tokens(good: str) -> dict[str, str]:
    sign = DEV_JWT_SECRET
    return {
        "another key": jwt.encode(_claims(), "an-attacker-s-own-secret-of-40-chars!!", "HS256"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}.",
        "alg none, signature kept": f"{_b64({'alg': 'none', 'typ': 'JWT'})}."
                                    f"{_b64(_claims())}.{good.split('.')[2]}",
        "HS512 with the right key": jwt.encode(_claims(), sign, "HS512"),
        "subject changed": _altered(good, sub="demo-auditor"),
        "role changed": _altered(good, role="admin"),
        "expiry extended": _altered(good, exp=int(time.time()) + 86400),
        "wrong audience": jwt.encode(_claims(aud="another-api"), sign, "HS256"),
        "wrong issuer": jwt.encode(_claims(iss="someone-else"), sign, "HS256"),
        "no expiry": jwt.encode(_claims(exp=None), sign, "HS256"),
        "no audience": jwt.encode(_claims(aud=None), sign, "HS256"),
        "not yet valid": jwt.encode(_claims(nbf=int(time.time()) + 600), sign, "HS256"),
        "unknown account": jwt.encode(_claims(sub="demo-nobody"), sign, "HS256"),
        "expired": jwt.encode(_claims(iat=int(time.time()) - 600, nbf=None,
                                      exp=int(time.time()) - 1), sign, "HS256"),
        "truncated": good[:-5],
        "two parts": ".".join(good.split(".")[:2]),
        "garbage": "not-a-token",
        "huge": "a." * 4000 + "b",
        "unicode": "tökén.ü.ñ",
    }


BAD_TOKENS = ("another key", "alg none", "alg none, signature kept", "HS512 with the right key",
              "subject changed", "role changed", "expiry extended", "wrong audience",
              "wrong issuer", "no expiry", "no audience", "not yet valid", "unknown account",
              "expired", "truncated", "two parts", "garbage", "huge", "unicode")


def test_every_bad_token_is_tried() -> None:
    assert set(_bad_tokens(jwt.encode(_claims(), "k" * 40, "HS256"))) == set(BAD_TOKENS)


@pytest.mark.parametrize("name", BAD_TOKENS)
def test_bad_tokens_are_refused(api: Service, name: str) -> None:
    good = issue_default(api)
    assert call(api, good).status_code == 200
    response = call(api, _bad_tokens(good)[name])
    assert response.status_code == 401, name
    outcome_text(response)
    assert response.json()["issue"][0]["code"] == "login"
    assert api.unexpected_errors == 0


def issue_default(api: Service) -> str:
    response = api.client.post("/auth/token", data={
        "grant_type": "client_credentials", "client_id": "demo-requester",
        "client_secret": DEMO_CLIENT_SECRET})
    token: str = response.json()["access_token"]
    return token


def test_a_token_for_the_web_pages_is_not_an_api_token(api: Service) -> None:
    """A token signed with the right key for another audience (e.g. a web sign-in) is refused
    by the API."""
    token = jwt.encode(_claims(aud="vertebro-web"), DEV_JWT_SECRET, "HS256")
    assert call(api, token).status_code == 401


@pytest.mark.parametrize("header", [
    "Bearer", "Bearer ", "bearer x.y.z", "Basic ZGVtbzpkZW1v", "Token abc", "Bearer a b c",
    "Bearer\tx",
])
def test_malformed_authorization_headers_are_refused(api: Service, header: str) -> None:
    response = api.client.get("/cases", headers={"Authorization": header})
    assert response.status_code == 401
    outcome_text(response)
