"""Signing in, the start page by role, errors as pages, and the session's protections."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Web, shot, sign_in, sign_out


def test_signed_out_pages_redirect_to_sign_in_and_back(web: Web) -> None:
    response = web.client.get("/app?state=queued", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/login?next=%2Fapp%3Fstate%3Dqueued"


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(web: Web) -> None:
    response = web.client.post("/app/login", data={"account": "demo-reviewer",
                                                   "password": "wrong", "next": "/app"})
    assert response.status_code == 401
    assert "The account or the password is not right." in response.text
    assert "vertebro_session" not in response.headers.get("set-cookie", "")


def test_sign_in_never_redirects_off_site(web: Web) -> None:
    response = web.client.post("/app/login", data={
        "account": "demo-reviewer", "password": "dev-client-secret",
        "next": "//evil.example/app"}, follow_redirects=False)
    assert response.headers["location"] == "/app"


@pytest.mark.parametrize(("who", "sees", "does_not_see"), [
    ("reviewer", ["New assessment", "Cases", "Policies"], []),
    ("auditor", ["Cases", "Policies"], ["New assessment", "Coding"]),
    ("coder", ["Coding", "Policies"], []),
])
def test_the_start_page_offers_what_the_role_may_do(
    web: Web, who: str, sees: list[str], does_not_see: list[str]
) -> None:
    web.sign_in(who)
    page = web.client.get("/app").text
    for label in sees:
        assert f">{label}</a>" in page
    for label in does_not_see:
        assert f">{label}</a>" not in page


def test_the_session_cookie_is_not_an_api_token_and_an_api_token_is_not_a_session(
    web: Web,
) -> None:
    web.sign_in("reviewer")
    cookie = web.client.cookies.get("vertebro_session")
    assert cookie
    api = web.client.get("/cases", headers={"Authorization": f"Bearer {cookie}"})
    assert api.status_code == 401
    token = web.client.post("/auth/token", data={
        "grant_type": "client_credentials", "client_id": "demo-reviewer",
        "client_secret": "dev-client-secret"}).json()["access_token"]
    web.client.cookies.clear()
    web.client.cookies.set("vertebro_session", token)
    assert web.client.get("/app", follow_redirects=False).status_code == 303


def test_signing_out_needs_the_form_token(web: Web) -> None:
    web.sign_in("reviewer")
    refused = web.client.post("/app/logout", data={"csrf_token": "0" * 64})
    assert refused.status_code == 403
    assert "did not come from vertebro" in refused.text
    assert web.client.get("/app", follow_redirects=False).status_code == 200
    done = web.post_form("/app/logout", {})
    assert done.headers["location"] == "/app/login?done=signed-out"


def test_pages_carry_security_headers_and_are_not_cached(web: Web) -> None:
    web.sign_in("reviewer")
    response = web.client.get("/app")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_api_still_answers_errors_as_operation_outcomes(web: Web) -> None:
    response = web.client.get("/cases/nope")
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.browser
def test_sign_in_and_out_in_a_browser(page: Any) -> None:
    page.goto("/app")
    assert "/app/login" in page.url
    shot(page, "login")
    sign_in(page, "reviewer")
    assert page.get_by_role("heading", name="What would you like to do?").is_visible()
    shot(page, "home-reviewer")
    sign_out(page)
    assert page.get_by_role("status").inner_text() == "You have signed out."


def test_a_body_over_the_limit_on_a_page_is_a_page_not_an_operation_outcome(web: Web) -> None:
    web.sign_in("clinician")
    limit = web.client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]
    response = web.client.post("/app/assess", content=b"x" * (limit + 1),
                               headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "larger than this service accepts" in response.text
    api = web.client.post("/assessments", content=b"x" * (limit + 1),
                          headers={"content-type": "text/plain"})
    assert api.status_code == 413
    assert api.json()["resourceType"] == "OperationOutcome"
