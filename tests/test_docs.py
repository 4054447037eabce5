"""The documentation builds: `mkdocs build --strict` on docs/, every page in the nav, README links that resolve.

MkDocs' strict build fails on a link to a missing page or a missing anchor, and on a page left out of
the nav (mkdocs.yml's `validation` turns those into warnings, and `--strict` makes warnings fatal), and
on a docstring mkdocstrings cannot parse for the API pages (docs/api/). The README is not part of the
site, so its links into docs/ are checked here against the built pages.
"""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README_MAX_LINES = 250

MISSING = [name for name in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers")
           if importlib.util.find_spec(name) is None]
needs_mkdocs = pytest.mark.skipif(
    bool(MISSING),
    reason=f"{', '.join(MISSING)} not installed: the docs build needs the `dev` extra "
           "(pip install -e '.[dev]', or 'mkdocs>=1.6' 'mkdocstrings>=1.0' 'mkdocstrings-python>=2.0')",
)


def nav_pages(nav) -> list[str]:
    """Every page file named anywhere in mkdocs.yml's nested nav."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in nav_pages(value)]
    return []


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built once, strictly, into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    return out


def page_html(site: Path, page: str) -> Path:
    """Where MkDocs (directory URLs) writes a docs/ page."""
    stem = Path(page).with_suffix("")
    return site / stem.parent / "index.html" if stem.name == "index" else site / stem / "index.html"


@needs_mkdocs
def test_the_site_builds_strictly_with_every_page(site):
    assert (site / "index.html").is_file()
    for page in DOCS.rglob("*.md"):
        assert page_html(site, str(page.relative_to(DOCS))).is_file(), page


def test_every_docs_page_is_in_the_nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = set(nav_pages(config["nav"]))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages - listed == set(), f"pages missing from mkdocs.yml's nav: {sorted(pages - listed)}"
    assert listed - pages == set(), f"nav entries without a page: {sorted(listed - pages)}"


def test_the_readme_stays_short():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move topics into docs/ (limit {README_MAX_LINES})"


@needs_mkdocs
def test_readme_links_resolve(site):
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert any(link.startswith("docs/") for link in links), "the README links no docs page"
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue  # an external URL: not checked offline
        path, _, anchor = link.partition("#")
        target = ROOT / path
        assert target.exists(), f"README links {link!r}, but {path} does not exist"
        if anchor:
            assert path.startswith("docs/"), f"README anchor link outside docs/: {link!r}"
            html = page_html(site, path.removeprefix("docs/")).read_text()
            assert f'id="{anchor}"' in html, f"README links {link!r}, but that page has no anchor {anchor!r}"
