"""The licence as shipped: the Apache License 2.0 text in LICENSE, the same licence in the
package's metadata (installed, so in the image's too), and how to report a vulnerability."""

from __future__ import annotations

import tomllib
from importlib.metadata import metadata

from tests.databases import ROOT


def test_the_licence_is_stated_alike_everywhere() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    installed = metadata("portfolio")
    assert installed["License-Expression"] == "Apache-2.0"
    assert "LICENSE" in (installed.get_all("License-File") or [])
    classifiers = installed.get_all("Classifier") or []
    assert any(c.startswith("Topic :: Office/Business") for c in classifiers)
    assert "Apache License 2.0" in (ROOT / "README.md").read_text()


def test_security_md_says_how_to_report_privately() -> None:
    text = (ROOT / "SECURITY.md").read_text()
    assert "## Reporting a vulnerability" in text
    assert "privately" in text
    assert "Report a vulnerability" in text
