"""A real browser for the system tests: Debian's Chromium, headless, driven through its ChromeDriver (selenium).

`make test` installs both from Debian's packages when it can (Makefile, ``browser``); a test that needs them and
does not find them is skipped, saying what to install.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def need_browser() -> None:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()) and not shutil.which("chromium"):
        pytest.skip("Chromium is not installed (apt-get install chromium chromium-driver)")


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
