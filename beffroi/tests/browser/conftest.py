"""Fixtures for the end-to-end tests: one headless Chromium per session, a fresh context and page per test.

The app runs in pytest-django's live server (a thread of this process, on a transactional test database)
loaded with the demo organisations. Playwright's sync API runs an event loop in this thread, so Django is
told that ORM calls from here are fine. Plain static files and a fast password hasher come from beffroi/conftest.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, Playwright, Response, expect, sync_playwright

from beffroi.demo.data import DEMO_PASSWORD, PEOPLE, load_demo

CHROMIUM = os.environ.get("BEFFROI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = os.environ.get("BEFFROI_SCREENSHOTS", "/tmp/beffroi-screens")

BASSIN = "demo-bassin-minier"
QUEBEC = "demo-scc-quebec"
EMAILS = {person.role.value: person.email for person in PEOPLE}  # "admin" -> "admin@demo.beffroi.example"

expect.set_options(timeout=5_000)


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    # Only while the browser tests run: Playwright's loop in this thread would make Django refuse ORM calls.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            yield playwright
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def demo(transactional_db):
    return load_demo()


@pytest.fixture
def page(browser: Browser, live_server, demo) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(5_000)
    page = context.new_page()
    yield page
    context.close()


def org_url(slug: str, path: str = "") -> str:
    return f"/o/{slug}/{path}"


def submit_login(page: Page, email: str, password: str) -> None:
    """Fills and submits the login form of the current page."""
    page.fill("#id_login", email)
    page.fill("#id_password", password)
    page.locator("main form[method=post] [type=submit]").click()


@pytest.fixture
def login(page: Page) -> Callable[..., Page]:
    """Logs in through the login form as a demo person ("admin", "validator", "editor", "moderator", "analyst"),
    then lands on `next` (an organisation's dashboard by default)."""

    def do_login(role: str = "admin", next: str = org_url(BASSIN)) -> Page:
        page.goto(f"/accounts/login/?next={next}")
        submit_login(page, EMAILS[role], DEMO_PASSWORD)
        expect(page).to_have_url(re.compile(re.escape(next) + "$"))
        return page

    return do_login


def click_and_load(page: Page, locator: Locator) -> Response:
    """Clicks a link or button that loads a new page; returns the page's response (redirects followed)."""
    with page.expect_navigation() as navigation:
        locator.click()
    response = navigation.value
    assert response is not None
    return response


def screenshot(page: Page, name: str) -> Path:
    folder = Path(SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path
