"""The OpenAPI document as the service publishes it with the default settings.

    python -m portfolio.main.openapi > openapi.json      (make openapi)

The copy in the repository is what clients generate from; a test fails when it no longer
matches the app."""

from __future__ import annotations

import json
import sys
from typing import Any

from portfolio.config import Settings
from portfolio.main.app import create_app


def document() -> dict[str, Any]:
    # Built from the defaults alone, not from the environment or a .env file, so every machine
    # exports the same document.
    return create_app(Settings.model_construct()).openapi()


def rendered() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(rendered())
