# ruff: noqa: F811 - the fixtures imported from .fuzzing are named as test parameters
"""Schemathesis fuzzes every operation of the app's own OpenAPI document, in-process (WSGI),
authenticated as each role: no 5xx, and every answer matches its documented status codes,
headers, content type and schema; invalid input is rejected with a 4xx.

Fixed seed (Hypothesis ``derandomize``) and a bounded number of cases per operation, so a CI
run is repeatable and takes a few minutes. Operations added to the app later are included
automatically: the cases are collected from the document. The figures (operations, cases,
failures) are printed at the end of the module. The random-seed run with stateful sequences
beside it is tests/fuzz/test_api_fuzz_random.py; both share tests/fuzz/fuzzing.py.
"""

from __future__ import annotations

import contextlib

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.failures import FailureGroup

from kpi_core.storage.models import ROLES

from .fuzzing import (  # noqa: F401 - fixtures
    CHECKS,
    OPERATIONS,
    allowed,
    app,
    client,
    database,
    database_url,
    describe,
    figures,
    fuzz_seed,
    headers_for,
    schema,
    settings_,
)

# Cases per generation mode (valid, then invalid input) for an operation the role may call;
# a forbidden one answers 403 before reading its input, so a couple of cases show that.
ALLOWED_CASES = 12
FORBIDDEN_CASES = 2
CASES = [
    pytest.param(role, method, path, permission, id=f"{method} {path} as {role}")
    for role in ROLES
    for method, path, permission in OPERATIONS
]


@pytest.mark.slow
@pytest.mark.parametrize(("role", "method", "path", "permission"), CASES)
def test_operation_answers_fuzzed_input_as_documented(schema, figures, headers_for, role, method, path, permission):
    operation = schema[path][method]
    headers = headers_for(role)
    count = ALLOWED_CASES if allowed(role, permission) else FORBIDDEN_CASES
    modes = [schemathesis.GenerationMode.POSITIVE]
    if allowed(role, permission):
        modes.append(schemathesis.GenerationMode.NEGATIVE)
    found: list[str] = []
    figures.operations.add((method, path))
    figures.runs += 1

    for mode in modes:

        @settings(
            max_examples=count,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def exercise(case) -> None:
            figures.cases += 1
            response = case.call(headers=headers)
            figures.count(response.status_code)
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except FailureGroup as group:
                found.append(describe(case, response, group))

        # Unsatisfiable: nothing to negate (no parameters, no body); the valid cases cover it.
        with contextlib.suppress(Unsatisfiable):
            exercise()

    figures.failures.extend(found)
    assert not found, "\n".join(found)
