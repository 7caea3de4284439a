"""The README and docs/ link only to files, and sections of them, that exist in the repository."""
import re

from helpers import ROOT

LINK = re.compile(r"\]\(([^)#\s]+)")
SECTION_LINK = re.compile(r"\]\(([^)#\s]+\.md)#([^)\s]+)\)")


def doc_pages() -> list:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_in_the_docs_exists():
    pages = doc_pages()
    assert len(pages) > 5
    broken = [f"{page.relative_to(ROOT)} -> {target}" for page in pages
              for target in LINK.findall(page.read_text())
              if "://" not in target and not (page.parent / target).exists()]
    assert not broken, broken


def test_readme_stays_short_and_names_both_commands():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert 'pip install -e . && ssl-ae run' in text and 'pip install -e ".[test]" && pytest' in text


def test_every_section_link_in_the_docs_names_a_heading_of_its_page():
    links = [(page, (page.parent / target).resolve(), section) for page in doc_pages()
             for target, section in SECTION_LINK.findall(page.read_text())]
    assert links
    anchors = {target: {anchor(line.lstrip("#")) for line in target.read_text().splitlines()
                        if line.startswith("#")} for target in {t for _, t, _ in links}}
    broken = [f"{page.relative_to(ROOT)} -> {target.relative_to(ROOT)}#{section}"
              for page, target, section in links if section not in anchors[target]]
    assert not broken, broken
