"""A real browser for the dashboard tests: Debian's chromium driven by its chromium-driver
through Selenium. Nothing downloads a browser: the Debian packages are installed when missing
(as root, like the cluster's packages), and a browser that cannot be had fails the test with
the reason, never skips it.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from tests.cluster.packages import PackageError, ensure_installed

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
BROWSER_PACKAGES = {"chromium": CHROMIUM, "chromium-driver": CHROMEDRIVER}

NO_RELOAD_MARK = "window.__kflowNoReload"
"""Set by the test on a loaded page; a reload or a navigation loses it."""


def new_driver() -> webdriver.Chrome:
    try:
        ensure_installed(tuple(BROWSER_PACKAGES), BROWSER_PACKAGES, "the dashboard's browser tests")
    except PackageError as error:
        pytest.fail(f"no browser for the dashboard tests: {error}", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespaces for the sandbox
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
    ):
        options.add_argument(argument)
    try:
        return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    except WebDriverException as error:
        pytest.fail(f"chromium could not be started through chromedriver: {error}", pytrace=False)


@dataclass
class Browser:
    driver: webdriver.Chrome
    screenshots: Path

    def open(self, url: str) -> None:
        self.driver.get(url)
        self.wait_for("the page's script connected", lambda: self.connection() == "live")

    def connection(self) -> str:
        found = self.driver.find_elements(By.ID, "connection")
        return str(found[0].get_attribute("data-state")) if found else ""

    def mark_page(self) -> None:
        """Tag the loaded page; `still_same_page` is false after any reload or navigation."""
        self.driver.execute_script(f"{NO_RELOAD_MARK} = true;")

    def still_same_page(self) -> bool:
        return bool(self.driver.execute_script(f"return {NO_RELOAD_MARK} === true;"))

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def texts(self, css: str) -> list[str]:
        """The visible text of every element matching `css`, read at one instant in the page
        (again, at most 20 times, while a navigation replaces the document)."""
        script = "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText);"
        for _ in range(20):
            try:
                return [str(t).strip() for t in self.driver.execute_script(script, css)]
            except WebDriverException:
                time.sleep(0.05)  # the document is being replaced: read the next one
        raise AssertionError(f"{css} could not be read, 20 times in a row")

    def text(self, css: str) -> str:
        found = self.texts(css)
        return found[0] if found else ""

    def attribute(self, css: str, name: str) -> str:
        for _ in range(20):
            try:
                found = self.driver.find_elements(By.CSS_SELECTOR, css)
                return str(found[0].get_attribute(name) or "") if found else ""
            except StaleElementReferenceException:
                continue
        raise AssertionError(f"{css} kept being replaced while read, 20 times in a row")

    def attributes(self, css: str, name: str) -> list[str]:
        """An attribute of every element matching `css`, read at one instant (in the page)."""
        script = (
            "return Array.from(document.querySelectorAll(arguments[0]))"
            ".map(e => e.getAttribute(arguments[1]) || '');"
        )
        return [str(v) for v in self.driver.execute_script(script, css, name)]

    def click(self, css: str) -> None:
        """Click the element, found again if the page's live update swapped it meanwhile."""

        def clicked() -> bool:
            self.find(css).click()
            return True

        self.wait_for(f"{css} to be clicked", clicked, timeout=5)

    def wait_for(self, what: str, probe: Callable[[], Any], timeout: float = 30) -> Any:
        """Poll the DOM until `probe` is truthy (every 20 ms, with a deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = probe()
            except StaleElementReferenceException:
                value = None
            except WebDriverException as error:
                # A live update swapped the node out between finding and reading it; chromedriver
                # reports that as this inspector error rather than as a stale element.
                if "does not belong to the document" not in str(error):
                    raise
                value = None
            if value:
                return value
            if time.monotonic() >= deadline:
                shot = self.screenshot(f"timeout-{int(time.time())}")
                raise TimeoutError(
                    f"{what} not seen in the page within {timeout:.1f}s (screenshot {shot}); "
                    f"page text: {self.driver.find_element(By.TAG_NAME, 'body').text[:2000]}"
                )
            time.sleep(0.02)

    def screenshot(self, name: str) -> Path:
        """The whole page, beyond the window's height, as NAME.png (through DevTools)."""
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{name}.png"
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
