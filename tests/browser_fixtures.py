"""A live server, a real worker process and Chromium driven by Playwright.

The browser is Debian's Chromium (`make test` installs it); Playwright's own browser
downloads are not used. On failure a screenshot goes to test-artifacts/.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

ASSET_TYPES = {"script", "stylesheet", "image", "font", "other"}
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # No network beyond loopback: don't let Chromium try to phone home.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str | None:
    """Debian's Chromium (or $CHROMIUM); None to use Playwright's own download, which
    `make browser` fetches where the distribution has no Chromium package."""
    for name in (os.environ.get("CHROMIUM"), "chromium"):
        if name and (found := shutil.which(name)):
            return found
    return None


@pytest.fixture(scope="session")
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def worker_process(app):
    """A real `flask worker` process on the test queue, stopped after the test."""
    env = dict(os.environ, APP_ENV="testing", FLASK_APP="app:create_app")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "worker"],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def _new_page(browser, request, live_server, **context_options):
    context = browser.new_context(base_url=live_server, **context_options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    # Script errors, and any of our assets that failed to load. (A form answered with a
    # 400 is expected, so HTTP statuses of pages and fetches are left to the tests.)
    console_errors: list[str] = []

    def on_console(message):
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            console_errors.append(message.text)

    def on_response(response):
        if response.status >= 400 and response.request.resource_type in ASSET_TYPES:
            console_errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    page.on("response", on_response)
    page.console_errors = console_errors
    return context, page


@pytest.fixture
def page(browser, request, live_server):
    """A phone-sized page (390x844, touch), as a PCSO or resident would use."""
    context, page = _new_page(
        browser,
        request,
        live_server,
        viewport={"width": 390, "height": 844},
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
    )
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def sign_in_officer(app, page, officer, *, forget: bool = True) -> None:
    """Sign a page in as this officer: the password (PASSWORDS of their role), then a
    code from their authenticator app (pyotp). forget: as make_officer made it after."""
    from tests.factories import (
        PASSWORDS,
        forget_second_factor,
        second_factor_secret,
        totp_code,
    )

    second_factor_secret(app, officer.id)
    page.goto("/sign-in")
    page.get_by_label("E-mail address").fill(officer.email)
    page.get_by_label("Password").fill(PASSWORDS[officer.role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    page.get_by_label("The 6-digit code your authenticator app shows").fill(
        totp_code(app, officer.id)
    )
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()
    if forget:
        forget_second_factor(app, officer.id)


def staff_menu(page) -> None:
    """Open the staff menu when it is folded behind its "Menu" button (on a phone)."""
    page.locator("#staff-nav").wait_for(state="attached")
    page.wait_for_load_state("domcontentloaded")  # static/js/menu.js has folded it
    toggle = page.locator(".menu-toggle")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()


@pytest.fixture
def sign_in_page(app, page, make_officer):
    """Sign the phone-sized page in as a new officer of the given role."""

    def do(role: str = "officer"):
        officer = make_officer(role=role)
        sign_in_officer(app, page, officer)
        return officer

    return do


def sideways(page) -> int:
    """How far the page reaches past the screen's width. Against the screen, not the
    window: a phone's browser widens its window to a page that is too wide (the public
    alert page at 200% text read 0 against a window of 477 pixels: an outside check)."""
    return page.evaluate(
        "document.scrollingElement.scrollWidth - Math.min(window.innerWidth, screen.width)"
    )


def text_at_twice_the_size(page) -> None:
    """Every page this browser tab opens from now, at 200% text (as a phone's setting)."""
    page.add_init_script(
        "document.addEventListener('DOMContentLoaded', () => { const s ="
        " document.createElement('style'); s.textContent ="
        " 'html { font-size: 200% !important }'; document.head.appendChild(s); })"
    )
