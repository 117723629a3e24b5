"""Headless Chromium for the HTML report's tests: the Debian package at /usr/bin/chromium driven by
Playwright's Python package. Never downloads a browser. Where no Chromium is installed the tests
skip with a message, except under CI (``CI`` set), where they fail."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from keytrail.render import chart

CHROMIUM = Path(os.environ.get("KEYTRAIL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = list(chart.CHROMIUM_ARGS)  # the flags keytrail's own chart command uses
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser tests: .ci/run installs chromium)")
    pytest.skip(f"{reason}: install it (apt-get install chromium chromium-driver) to run the browser tests")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The Chromium executable, and Playwright importable; else skip (fail under CI)."""
    if not CHROMIUM.exists():
        _unavailable(f"no Chromium at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright Python package is not installed (pip install -e '.[test]')")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class OpenedPage:
    """A report opened from its file URL, with everything it tried to do recorded."""

    page: Any
    url: str
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def assert_quiet(self) -> None:
        """No console message, script error, dialog, or request other than the file itself."""
        assert self.console == []
        assert self.errors == []
        assert self.dialogs == []
        assert self.blocked == []
        assert set(self.requests) <= {self.url}
        assert self.failed == []


@pytest.fixture
def open_report(browser: Any) -> Iterator[Callable[..., OpenedPage]]:
    contexts: list[Any] = []

    def open_(path: Path, color_scheme: str = "light", media: str = "screen", fragment: str = "",
              width: int = 1300) -> OpenedPage:
        context = browser.new_context(viewport={"width": width, "height": 1000}, color_scheme=color_scheme,
                                      service_workers="block")
        contexts.append(context)
        url = path.resolve().as_uri()
        opened = OpenedPage(context.new_page(), url)

        def route(r: Any) -> None:
            if r.request.url.split("#", 1)[0] == url:
                r.continue_()
            else:
                opened.blocked.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page = opened.page
        page.on("console", lambda m: opened.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: opened.errors.append(str(e)))
        page.on("request", lambda r: opened.requests.append(r.url.split("#", 1)[0]))
        page.on("response", lambda r: opened.responses.append(r.url.split("#", 1)[0]))
        page.on("requestfailed", lambda r: opened.failed.append((r.url, str(r.failure))))
        page.on("websocket", lambda w: opened.blocked.append(w.url))

        def dialog(d: Any) -> None:
            opened.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()

        page.on("dialog", dialog)
        page.emulate_media(media=media)
        page.goto(url + fragment)
        page.wait_for_selector("html[data-ready]", timeout=20_000)
        assert page.get_attribute("html", "data-ready") == "1", opened.errors
        return opened

    yield open_
    for c in contexts:
        c.close()


def artifact(name: str) -> Path:
    """Where a test keeps a screenshot (tests/artifacts/, not committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
