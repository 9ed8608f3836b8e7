"""A real browser for the system tests: Debian's Chromium, headless, driven through its ChromeDriver (selenium).

`make test` installs both from Debian's packages when it can (Makefile, ``browser``); a test that needs them and
does not find them is skipped, saying what to install.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def has_browser() -> bool:
    return (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()) or bool(shutil.which("chromium"))


def need_browser() -> None:
    if not has_browser():
        pytest.skip("Chromium is not installed (apt-get install chromium chromium-driver)")


def wait_for(driver, predicate: Callable[[], object], what: str, seconds: float = 30) -> object:
    """What ``predicate`` finds, once it finds something; fails naming ``what`` and the page after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            found = predicate()
        except Exception:  # the page is still loading: look again
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} did not appear: {driver.current_url}\n{driver.page_source[:2000]}"
        time.sleep(0.3)


def open_deliveries(browser, base: str, password: str) -> object:
    """Browse -> Deliveries as ``admin``, logging in through Airflow's own form; the page's frame, entered."""
    from selenium.webdriver.common.by import By

    browser.get(f"{base}/plugin/mlc-deliveries")
    wait_for(browser, lambda: browser.find_element(By.CSS_SELECTOR, "input[name=username]"), "the login form")
    browser.find_element(By.CSS_SELECTOR, "input[name=username]").send_keys("admin")
    browser.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # back in the UI, the page in its frame, under the navigation
    frame = wait_for(browser, lambda: browser.find_element(By.CSS_SELECTOR, "iframe[src$='mlc/deliveries']"),
                     "the deliveries frame")
    wait_for(browser, lambda: "Browse" in browser.find_element(By.TAG_NAME, "body").text, "Airflow's navigation")
    browser.switch_to.frame(frame)
    wait_for(browser, lambda: browser.find_element(By.ID, "outbound"), "the table of files sent")
    return frame


@contextmanager
def chromium(downloads: Path | None = None) -> Iterator[object]:
    """A headless Chromium with a window large enough for the pages' tables."""
    need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1600,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
