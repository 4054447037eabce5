"""Headless Chromium for the browser tests (the HTML report, the `--web` page)."""

import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Without the background-networking flags Chromium tries Google's hosts, which this closed network refuses.
HEADLESS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
            "--no-first-run", "--allow-file-access-from-files", "--disable-background-networking",
            "--disable-component-update", "--disable-sync")


def chromium() -> str:
    """The path of a Chromium binary, or skip the test and say how to get one."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium found: the browser tests need Debian's chromium "
                "(`apt-get install chromium`; `make test` installs it when run as root)")
