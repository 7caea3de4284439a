"""The README and docs/ link only to files that exist in the repository."""
import re

from helpers import ROOT

LINK = re.compile(r"\]\(([^)#\s]+)")


def test_every_relative_link_in_the_docs_exists():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(pages) > 5
    broken = [f"{page.relative_to(ROOT)} -> {target}" for page in pages
              for target in LINK.findall(page.read_text())
              if "://" not in target and not (page.parent / target).exists()]
    assert not broken, broken


def test_readme_stays_short_and_names_both_commands():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert 'pip install -e . && ssl-ae run' in text and 'pip install -e ".[test]" && pytest' in text
