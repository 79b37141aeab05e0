"""The dashboard's API types are generated from the OpenAPI document, never written by hand:
frontend/src/api-schema.ts must be what scripts/gen-api-types makes of today's document, and
frontend/src/types.ts names its shapes (the dashboard's type check then covers every use)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gen-api-types"
GENERATOR = ROOT / "frontend" / "node_modules" / ".bin" / "openapi-typescript"


@pytest.fixture(scope="module")
def generator() -> Path:
    if not GENERATOR.exists():
        reason = "frontend/node_modules is not installed (npm ci in frontend/)"
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    return GENERATOR


def test_the_generated_types_match_the_openapi_document(generator):
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_the_dashboard_types_come_from_the_generated_schema():
    types = (ROOT / "frontend" / "src" / "types.ts").read_text()
    # Shapes the API answers are aliases of the generated ones, not interfaces of their own.
    assert 'from "./api-schema"' in types
    hand_written = re.findall(r"^export interface (\w+)", types, flags=re.MULTILINE)
    assert hand_written == [], f"write these as aliases of components['schemas']: {hand_written}"
