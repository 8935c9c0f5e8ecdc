"""The README a newcomer reads first: whole, with the sections the code and changelog name."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
HEADINGS = set(re.findall(r"^#{2,4} (.+)$", README, flags=re.MULTILINE))


def test_the_readme_opens_with_the_project_and_its_two_commands() -> None:
    assert README.startswith("# portfolio\n")
    assert "make run" in README
    assert "make test" in README


def test_the_readme_keeps_every_part_of_its_outline() -> None:
    """Each part a user, an operator or a contributor looks for, in order."""
    outline = ["Using it", "The command line", "Settings", "Running in production",
               "Storage", "Speed", "Load and faults", "Layout"]  # fmt: skip
    positions = [README.find(f"\n## {heading}\n") for heading in outline]
    assert -1 not in positions, [h for h, p in zip(outline, positions, strict=True) if p < 0]
    assert positions == sorted(positions)


def test_every_section_the_code_and_changelog_name_is_there() -> None:
    named = set()
    for path in [ROOT / "CHANGELOG.md", *(ROOT / "src").rglob("*.py")]:
        named |= set(re.findall(r"README's ([A-Z][\w ]*?)[,.)\"]", path.read_text()))
    assert named, "no section named: the pattern no longer matches"
    assert named <= HEADINGS, named - HEADINGS
