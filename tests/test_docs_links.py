"""Every relative link in README.md, CONTRIBUTING.md and docs/ points at a file and heading that exist.

Anchors must resolve both as GitHub renders the Markdown and as the MkDocs site does (its slugs
drop non-ASCII letters and squeeze hyphens), so a link works wherever the page is read. The
site build (`mkdocs build --strict`, run by .ci/run) checks docs/ again with MkDocs' own rules.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)


def _prose(text: str) -> str:
    return CODE_SPAN.sub("", FENCE.sub("", text))


def _github_slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _mkdocs_slug(heading: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode()
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", ascii_text).strip().lower())


def _anchors(page: Path) -> set[str]:
    """Headings' slugs valid in both renderings (duplicates get -1, -2… in both)."""
    seen: dict[str, int] = {}
    both: set[str] = set()
    for raw in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        text = re.sub(r"[`*]", "", raw)
        slugs = []
        for slug in (_github_slug(text), _mkdocs_slug(text)):
            count = seen.get(slug, 0)
            slugs.append(f"{slug}-{count}" if count else slug)
        seen[slugs[0]] = seen.get(slugs[0], 0) + 1
        if slugs[0] == slugs[1]:
            both.add(slugs[0])
    return both


def _links(page: Path) -> list[str]:
    return [target for target in LINK.findall(_prose(page.read_text(encoding="utf-8")))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def _broken(page: Path) -> list[str]:
    broken = []
    for target in _links(page):
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in _anchors(destination):
            broken.append(f"{target}: no heading #{anchor} (as GitHub and MkDocs both slug it)")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = _broken(page)
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_front_page_links_into_the_manual() -> None:
    """The README is the front page: it must reach every page of the manual."""
    linked = {Path(t.partition("#")[0]).name for t in _links(ROOT / "README.md")}
    manual = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert manual <= linked, f"README.md does not link to {sorted(manual - linked)}"


def test_a_broken_link_or_anchor_is_caught(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\n## Two words\n\n## Asterisk / FreePBX\n")
    page = tmp_path / "b.md"
    page.write_text("[ok](a.md#two-words) [gone](missing.md) `[code](gone.md)`\n"
                    "[bad anchor](a.md#three-words) [slugged apart](a.md#asterisk-freepbx)\n"
                    "![picture](a.md) [site](https://example.org/x.md) [here](#title)\n")
    assert _broken(page) == [
        "missing.md: no such file",
        "a.md#three-words: no heading #three-words (as GitHub and MkDocs both slug it)",
        "a.md#asterisk-freepbx: no heading #asterisk-freepbx (as GitHub and MkDocs both slug it)",
        "#title: no heading #title (as GitHub and MkDocs both slug it)",
    ]
