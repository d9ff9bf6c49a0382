"""Fixtures of the browser tests: one Chromium for the run, a fresh context
(cookies, storage) and page per test, the servers under test, and a
screenshot of the page when a test fails."""

import os
import pathlib

import pytest
from playwright.sync_api import expect, sync_playwright

import harness

# Generous: CI machines are small, and a wait ends as soon as its condition
# holds (none of these is a sleep).
expect.set_options(timeout=20_000)


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = harness.launch(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def server():
    return harness.open_server()


@pytest.fixture(scope="session")
def guarded():
    return harness.guarded_server()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.failed_call = report.failed
    return report


@pytest.fixture
def context(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    yield context
    if getattr(request.node, "failed_call", False):
        artifacts = pathlib.Path(os.environ.get("AGENTPROC_UI_ARTIFACTS", "."))
        artifacts.mkdir(parents=True, exist_ok=True)
        for number, page in enumerate(context.pages):
            path = artifacts / f"{request.node.name}-{number}.png"
            page.screenshot(path=str(path), full_page=True)
            print(f"screenshot of the failed page: {path}")
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A violation of the Content-Security-Policy shows as a console error.
    page.on(
        "console",
        lambda message: errors.append(message.text)
        if message.type == "error" and "Content Security Policy" in message.text
        else None,
    )
    yield page
    assert not errors, f"the page threw or broke its policy: {errors}"
