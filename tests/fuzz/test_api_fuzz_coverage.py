# ruff: noqa: F811 - the fixtures imported from .fuzzing are named as test parameters
"""Schemathesis' coverage phase over every operation of the app's own document, as each role:
the values at and just past every bound the document states (lengths, ranges, enums, formats,
required properties), each required parameter and header left out, Content-Type probes, and every
method the document does not declare for a path (OPTIONS among them). No 5xx, every answer as
documented, invalid input rejected, valid input accepted, authentication enforced, and:

- a required header left out is refused (``missing_required_header``);
- an undeclared method is answered 405 with an ``Allow`` header (``unsupported_method``);
- ``Allow`` (on OPTIONS) lists exactly the methods the document declares (``allow_header_conformance``).

The coverage phase generates every case the document defines rather than a number of random
ones, so each run sends the same cases (about 4,300 per role) and needs no seed or budget; the
random-seed runs are tests/fuzz/test_api_fuzz_random.py. Cases are made by schemathesis' own
coverage driver (``CoverageGenerator``, what ``st run --phases coverage`` uses), sent with a fresh
user's token per operation like the other fuzzing modules (tests/fuzz/fuzzing.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.coverage import GenerationSession
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.meta import CoveragePhaseData, CoverageScenario
from schemathesis.generation.overrides import Override
from schemathesis.specs.openapi.checks import allow_header_conformance, missing_required_header, unsupported_method

from kpi_core.storage.models import ROLES

from .fuzzing import (  # noqa: F401 - fixtures
    OPERATIONS,
    STATELESS_CHECKS,
    Figures,
    app,
    client,
    database,
    database_url,
    describe,
    headers_for,
    load_schema,
    settings_,
    show,
)

COVERAGE_CHECKS = [*STATELESS_CHECKS, missing_required_header, unsupported_method, allow_header_conformance]
# The only required headers of the document are preconditions (If-Match), and a request without
# its precondition is answered 428 Precondition Required (RFC 6585, section 3), which schemathesis'
# default list for a missing header (400, 401, 403, 406, 415, 422) leaves out.
# test_the_only_required_headers_are_preconditions keeps this from covering any other header.
PRECONDITION_HEADERS = {"if-match"}
MISSING_PRECONDITION = "428"


@pytest.fixture(scope="module")
def schema(app):
    schema = load_schema(app)
    config = schema.config.checks.missing_required_header
    config.expected_statuses = [*config.expected_statuses, MISSING_PRECONDITION]
    return schema


@pytest.fixture(scope="module")
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    figures = Figures(title="API coverage phase (every case the document defines)")
    started = time.monotonic()
    yield figures
    figures.seconds = time.monotonic() - started
    show(request, figures.line())


def coverage_cases(operation, session: GenerationSession) -> CoverageGenerator:
    """Every coverage-phase case of ``operation``, valid and invalid, as schemathesis' engine makes them."""
    generation = operation.schema.config.generation_for(operation=operation, phase="coverage")
    return CoverageGenerator(
        operation=operation,
        generation_modes=generation.modes,
        generation_config=generation,
        auth_storage=None,
        override=Override(),
        feedback=FeedbackSources(),
        session=session,
    )


def note_probe(figures: Figures, case, response) -> None:
    """Count the cases the coverage-only checks judge, so the figures show they ran."""
    data = case.meta.phase.data if case.meta is not None else None
    if not isinstance(data, CoveragePhaseData):
        return
    if data.scenario == CoverageScenario.UNSPECIFIED_HTTP_METHOD:
        if case.method.upper() == "OPTIONS":
            figures.note("OPTIONS sent")
        else:
            figures.note("undeclared methods sent")
            if response.status_code == 405 and response.headers.get("allow"):
                figures.note("405 with Allow")
    elif data.scenario == CoverageScenario.MISSING_PARAMETER and data.parameter_location == ParameterLocation.HEADER:
        figures.note("required headers left out")


def test_the_only_required_headers_are_preconditions(schema):
    required = {
        (operation.label, parameter.name)
        for result in schema.get_all_operations()
        for operation in [result.ok()]
        for parameter in operation.headers
        if parameter.is_required
    }
    assert required, "no required header left: MISSING_PRECONDITION can go"
    assert {name.lower() for _, name in required} <= PRECONDITION_HEADERS, sorted(required)


def send_coverage_cases(operation, headers: dict[str, str], session: GenerationSession, figures: Figures) -> list[str]:
    """Every coverage case of ``operation``, sent and checked; the failures as text."""
    found: list[str] = []
    cases = coverage_cases(operation, session)
    try:
        for case in cases:
            figures.cases += 1
            response = case.call(headers=headers)
            figures.count(response.status_code)
            note_probe(figures, case, response)
            try:
                case.validate_response(response, checks=COVERAGE_CHECKS, headers=headers)
            except FailureGroup as group:
                found.append(describe(case, response, group))
    except InvalidSchema as error:
        # The document itself is wrong here; the other operations still run.
        found.append(f"{operation.label}: the document is invalid: {error}")
    found += [f"{operation.label}: cases not made: {error}" for error in cases.controller.deferred_errors]
    for media_type in sorted(cases.controller.unserializable_media_types):
        figures.note(f"{media_type} bodies left out (no serializer)")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_every_coverage_case_is_answered_as_documented(schema, figures, headers_for, role):
    # One session per role, so that each role sends every path its undeclared methods.
    session = GenerationSession()
    found: list[str] = []
    try:
        for method, path, _ in OPERATIONS:
            figures.operations.add((method, path))
            figures.runs += 1
            started = time.monotonic()
            failures = send_coverage_cases(schema[path][method], headers_for(role), session, figures)
            found += [f"[{role}] {failure}" for failure in failures]
            figures.took(f"{method} {path}", time.monotonic() - started)
    finally:
        session.close()

    figures.failures.extend(found)
    if found:
        pytest.fail(f"{len(found)} failures\n" + "\n".join(found), pytrace=False)
