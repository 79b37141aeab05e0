"""The dashboard's API types are generated from the OpenAPI document, never written by hand:
frontend/src/api-schema.ts must be what scripts/gen-api-types makes of today's document, and
frontend/src/types.ts names its shapes (the dashboard's type check then covers every use). No
other file declares an interface or object type with a schema's fields, and every API call's
answer is typed with a name from types.ts, so a page cannot drift from the contract unnoticed."""

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


# --- no API shape written by hand anywhere in the dashboard -------------------------------------

SOURCE = ROOT / "frontend" / "src"
GENERATED = "api-schema.ts"
# Shapes the API document does not describe, so there is nothing to alias (say why, not just what).
NOT_IN_THE_DOCUMENT = {
    # An import's row errors travel in Error.errors, which the document leaves as a free map.
    ("api.ts", "RowError"),
}
API_CALL = re.compile(r"\b(?:api\.(?:get|post|page|all)|upload|request)<(?P<type>[^>()]*(?:<[^>]*>)?[^>()]*)>\(")
DECLARATION = re.compile(
    r"^\s*(?:export\s+)?(?:interface\s+(?P<interface>\w+)[^{=]*|type\s+(?P<type>\w+)(?:<[^=]*>)?\s*=\s*)\{", re.M
)
FIELD = re.compile(r"^(?:readonly\s+)?(\w+)\??\s*:", re.M)


def _block(text: str, opening: int) -> str:
    """The text between the brace at ``opening`` and the brace that closes it."""
    depth = 0
    for index in range(opening, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[opening + 1 : index]
    return text[opening + 1 :]


def _top_level_fields(body: str) -> set[str]:
    """The field names of an object type's body, not those of the object types nested in it."""
    flat, depth = [], 0
    for char in body:
        depth += {"{": 1, "}": -1}.get(char, 0)
        flat.append(char if depth == 0 or char in "{}" else " ")
    return set(FIELD.findall("\n".join(line.strip() for line in "".join(flat).splitlines())))


def schema_fields(source: Path = SOURCE) -> dict[str, set[str]]:
    """Each schema of the generated file with its property names."""
    text = (source / GENERATED).read_text()
    schemas = _block(text, text.index("{", text.index("    schemas: {")))
    found, position = {}, 0
    for match in re.finditer(r"^ {8}(\w+): \{", schemas, flags=re.M):
        if match.start() < position:
            continue
        body = _block(schemas, match.end() - 1)
        found[match.group(1)] = _top_level_fields(body)
        position = match.end() + len(body)
    return found


def hand_written_shapes(source: Path = SOURCE) -> list[str]:
    """Interfaces and object types declared in the dashboard whose fields are a schema's."""
    schemas = schema_fields(source)
    problems = []
    for path in sorted(source.rglob("*.ts")):
        if path.name == GENERATED:
            continue
        text = path.read_text()
        for match in DECLARATION.finditer(text):
            name = match.group("interface") or match.group("type")
            if (path.relative_to(source).as_posix(), name) in NOT_IN_THE_DOCUMENT:
                continue
            fields = _top_level_fields(_block(text, match.end() - 1))
            for schema, properties in schemas.items():
                shared = fields & properties
                if len(fields) >= 2 and (shared == fields or (len(shared) >= 3 and len(shared) >= 0.75 * len(fields))):
                    problems.append(
                        f"{path.relative_to(source)}: {name} repeats the schema {schema} ({sorted(shared)})"
                    )
                    break
    return problems


def untyped_api_calls(source: Path = SOURCE) -> list[str]:
    """API calls whose answer type is not a name from types.ts (a literal, or a type of the file's own)."""
    problems = []
    for path in sorted(source.rglob("*.ts")):
        if path.name in (GENERATED, "types.ts"):
            continue
        text = path.read_text()
        imported = set()
        for names in re.findall(r'import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+"\.{1,2}/(?:\.\./)*types"', text):
            imported |= {name.replace("type ", "").strip() for name in names.split(",") if name.strip()}
        for match in API_CALL.finditer(text):
            wanted = match.group("type").strip()
            name = wanted.removesuffix("[]")
            if path.name == "api.ts" and name in ("T", "T[]"):
                continue  # the generic helpers themselves
            if name not in imported:
                line = text.count("\n", 0, match.start()) + 1
                problems.append(
                    f"{path.relative_to(source)}:{line}: answer typed as {wanted!r}, not a name from types.ts"
                )
    return problems


def test_the_generated_schemas_are_read():
    schemas = schema_fields()
    assert {"created", "rows", "dry_run"} <= schemas["ImportResult"]
    assert "company" in schemas["MetricTargets"] and "green" not in schemas["MetricTargets"]


def test_no_page_or_widget_declares_an_api_shape_of_its_own():
    problems = hand_written_shapes()
    assert problems == [], "alias these in frontend/src/types.ts instead:\n" + "\n".join(problems)


def test_every_api_answer_is_typed_with_a_generated_shape():
    problems = untyped_api_calls()
    assert problems == [], "\n".join(problems)
