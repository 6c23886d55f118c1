"""The web pages under test.

* `web` - an in-process TestClient on a fresh SQLite database with the demo accounts and a
  controllable clock, for fast page tests (`web.sign_in("reviewer")`).
* `server` + `page` - a real `vertebro serve` process on loopback and Debian's Chromium driven by
  Playwright (never a downloaded browser). Without /usr/bin/chromium the browser tests are
  skipped locally and fail in CI (`CI=true`), where `make test` installs the package first.
* `shot(page, name)` saves a screenshot to `out/screenshots/` to look at.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from vertebro.server import create_server
from vertebro.settings import DEMO_CLIENT_SECRET, Settings

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
SCREENSHOTS = REPO / "out" / "screenshots"
CHROMIUM = Path(os.environ.get("VERTEBRO_CHROMIUM", "/usr/bin/chromium"))
VERTEBRO = Path(sys.executable).with_name("vertebro")
START = dt.datetime(2026, 10, 6, 9, 0, tzinfo=dt.UTC)
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ACCOUNTS = {
    "requester": "demo-requester", "other-org": "demo-requester-other-org",
    "clinician": "demo-clinician", "reviewer": "demo-reviewer", "reviewer-2": "demo-reviewer-2",
    "coder": "demo-coder", "auditor": "demo-auditor", "admin": "demo-admin",
}
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class Web:
    """A TestClient on the whole service (API + pages) with its clock."""

    client: TestClient
    clock: FakeClock

    def sign_in(self, who: str) -> None:
        """Sign in through the form as a demo account (see `ACCOUNTS`)."""
        self.client.cookies.clear()
        response = self.client.post("/app/login", data={
            "account": ACCOUNTS[who], "password": DEMO_CLIENT_SECRET, "next": "/app"},
            follow_redirects=False)
        assert response.status_code == 303, response.text

    def csrf(self, path: str = "/app") -> str:
        """The form token of the signed-in session, read from a page."""
        match = CSRF.search(self.client.get(path).text)
        assert match, "no CSRF field on the page"
        return match.group(1)

    def post_form(self, path: str, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """POST a form with the session's CSRF token added."""
        response: httpx.Response = self.client.post(
            path, data={**data, "csrf_token": self.csrf()}, follow_redirects=False, **kwargs)
        return response


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    clock = FakeClock(START)
    app = create_server(Settings(database_url=f"sqlite:///{tmp_path / 'web.db'}",
                                 warm_up=False), clock=clock)
    with TestClient(app) as client:
        yield Web(client, clock)


# --- A real server and a real browser ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    """A running `vertebro serve`."""

    url: str
    home: Path


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("vertebro-home")
    port = _free_port()
    env = {**os.environ, "VERTEBRO_HOME": str(home), "VERTEBRO_WARM_UP": "true",
           "VERTEBRO_LOG_LEVEL": "WARNING"}
    env.pop("VERTEBRO_DATABASE_URL", None)
    env.pop("VERTEBRO_PRINCIPALS", None)
    log = (home / "server.log").open("w")
    process = subprocess.Popen([str(VERTEBRO), "serve", "--port", str(port)], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"vertebro serve exited: {(home / 'server.log').read_text()}")
            try:
                if httpx.get(f"{url}/app/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("vertebro serve did not start within 120 s")
            time.sleep(0.25)
        yield Server(url, home)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    """A fresh browser tab (no cookies) on the server, 1280 x 900."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def sign_in(page: Any, who: str) -> None:
    """Sign in through the form, as a person would."""
    page.goto("/app/login")
    page.get_by_label("Account", exact=True).fill(ACCOUNTS[who])
    page.get_by_label("Password").fill(DEMO_CLIENT_SECRET)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/app(\?.*)?$"))


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/app/login.*"))


def shot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under out/screenshots/ (looked at by people, kept in docs/
    for the README when worth it)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
