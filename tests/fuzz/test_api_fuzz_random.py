# ruff: noqa: F811 - the fixtures imported from .fuzzing are named as test parameters
"""Schemathesis with a seed that changes every run, so each CI run tries input the last one did not:
every operation with random valid and invalid input, then random sequences of linked calls
(schemathesis' stateful phase: a record created by one call is read, changed and deleted by the
next), as each role. No 5xx, every answer as documented, invalid input rejected, valid input
accepted, authentication enforced, and a created record available until it is deleted.

The seed is ``KPI_FUZZ_SEED`` if set, else random; it is printed at the start and in every failure,
so a failing run is replayed with ``KPI_FUZZ_SEED=<seed> .venv/bin/pytest tests/fuzz/test_api_fuzz_random.py``
(with a larger ``KPI_FUZZ_BUDGET_SECONDS`` if the failure came late in its test's share). The whole
module runs within ``KPI_FUZZ_BUDGET_SECONDS`` (default 300), shared out equally among its tests;
each spends its share in rounds over all operations (or batches of scenarios), every round seeded
from the run's seed. The fixed-seed run over every operation x role is tests/fuzz/test_api_fuzz.py.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.stateful.state_machine import release_state_machines
from schemathesis.specs.openapi.checks import (
    ensure_resource_availability,
    ignored_auth,
    positive_data_acceptance,
    use_after_free,
)

from kpi_core.storage.models import ROLES

from .fuzzing import (  # noqa: F401 - fixtures
    CHECKS,
    OPERATIONS,
    Figures,
    allowed,
    app,
    client,
    database,
    database_url,
    describe,
    figures,
    headers_for,
    load_schema,
    settings_,
    show,
)

SEED_VARIABLE = "KPI_FUZZ_SEED"
BUDGET_VARIABLE = "KPI_FUZZ_BUDGET_SECONDS"
DEFAULT_BUDGET_SECONDS = 300.0


def _number(variable: str, kind: type, default: object) -> object:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        raise pytest.UsageError(f"{variable} must be a {kind.__name__}, not {text!r}") from None


SEED = _number(SEED_VARIABLE, int, random.SystemRandom().randrange(2**32))
BUDGET_SECONDS = _number(BUDGET_VARIABLE, float, DEFAULT_BUDGET_SECONDS)
REPLAY = f"{SEED_VARIABLE}={SEED} .venv/bin/pytest tests/fuzz/test_api_fuzz_random.py"

# Cases per generation mode and round for an operation the role may call (one for a forbidden one:
# it answers 403 before reading its input); rounds repeat with new seeds while the share lasts.
ALLOWED_CASES = 5
FORBIDDEN_CASES = 1
# Stateful: scenarios per batch, and calls per scenario.
SCENARIOS = 8
STEPS = 10
# Beyond the fixed-seed run's checks: valid input is not refused for its form (400; a 422 for a
# rule no schema can express, such as an end before its start, and a 428 or 412 for a missing or
# stale If-Match are the documented answers to valid-looking input), and an operation that needs a
# token refuses a request without one.
STATELESS_CHECKS = [*CHECKS, positive_data_acceptance, ignored_auth]
ACCEPTED_VALID_INPUT = ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "428"]
# In sequences: a created record is found until deleted, and a deleted one is gone.
STATEFUL_CHECKS = [*STATELESS_CHECKS, use_after_free, ensure_resource_availability]


@pytest.fixture(scope="module")
def fuzz_seed() -> int:
    return SEED


@pytest.fixture(scope="module")
def schema(app):
    schema = load_schema(app)
    schema.config.checks.positive_data_acceptance.expected_statuses = ACCEPTED_VALID_INPUT
    return schema


@dataclass
class Budget:
    """The module's seconds, shared out among its tests: each gets an equal part of what is left."""

    seconds: float
    tests: int
    started: float

    def deadline(self) -> float:
        now = time.monotonic()
        share = max(self.seconds - (now - self.started), 0.0) / max(self.tests, 1)
        self.tests -= 1
        return now + share


@pytest.fixture(scope="module")
def budget(request: pytest.FixtureRequest, figures: Figures) -> Iterator[Budget]:
    tests = sum(1 for item in request.session.items if item.module is request.module)
    show(request, f"API fuzzing with seed {SEED}, {BUDGET_SECONDS:.0f} s for {tests} tests; replay: {REPLAY}")
    budget = Budget(BUDGET_SECONDS, tests, time.monotonic())
    yield budget
    figures.seconds = time.monotonic() - budget.started


def failure_report(found: list[str]) -> str:
    return f"{len(found)} failures with seed {SEED}; replay: {REPLAY}\n" + "\n".join(found)


def fuzz_operation(operation, headers: dict[str, str], cases: int, modes, tag: str, figures: Figures) -> list[str]:
    """Random cases for one operation, seeded by ``tag``; the failures as text."""
    found: list[str] = []
    for mode in modes:

        @seed(f"{tag}:{mode.value}")
        @settings(
            max_examples=cases,
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
                case.validate_response(response, checks=STATELESS_CHECKS, headers=headers)
            except FailureGroup as group:
                found.append(f"[seed {SEED}, {tag}] {describe(case, response, group)}")

        # Unsatisfiable: nothing to negate (no parameters, no body); the valid cases cover it.
        with contextlib.suppress(Unsatisfiable):
            exercise()
    return found


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_random_input_to_every_operation_is_answered_as_documented(schema, figures, headers_for, budget, role):
    deadline = budget.deadline()
    order = random.Random(f"{SEED}:{role}").sample(OPERATIONS, len(OPERATIONS))
    figures.runs += len(order)
    found: list[str] = []
    for round_number in itertools.count():
        for method, path, permission in order:
            if time.monotonic() >= deadline and (round_number or found or figures.cases):
                break
            figures.operations.add((method, path))
            may = allowed(role, permission)
            modes = [schemathesis.GenerationMode.POSITIVE]
            if may:
                modes.append(schemathesis.GenerationMode.NEGATIVE)
            tag = f"{role} round {round_number} {method} {path}"
            cases = ALLOWED_CASES if may else FORBIDDEN_CASES
            started = time.monotonic()
            found += fuzz_operation(schema[path][method], headers_for(role), cases, modes, tag, figures)
            figures.took(f"{method} {path}", time.monotonic() - started)
        else:
            continue
        break

    figures.failures.extend(found)
    if found:
        pytest.fail(failure_report(found), pytrace=False)


def linked_calls(schema, headers_for, role: str, figures: Figures, found: list[str]):
    """The schema's state machine, calling as a fresh user of ``role`` in each scenario and
    recording failures instead of stopping at the first (its shrinking would spend the budget)."""

    class LinkedCalls(schema.as_state_machine()):
        tag = ""

        def setup(self) -> None:
            figures.scenarios += 1
            self.headers = headers_for(role)

        def step(self, input):
            if input.transition is not None and input.is_applied:
                figures.linked += 1
            return super().step(input)

        def get_call_kwargs(self, case) -> dict[str, object]:
            return {"headers": self.headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            figures.steps += 1
            figures.operations.add((case.method.upper(), case.path))
            figures.count(response.status_code)
            try:
                case.validate_response(
                    response,
                    checks=STATEFUL_CHECKS,
                    headers=self.headers,
                    transport_kwargs=kwargs or None,
                    recorder=self.recorder,
                )
            except FailureGroup as group:
                found.append(f"[seed {SEED}, {self.tag}, stateful] {describe(case, response, group)}")

    return LinkedCalls


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_random_sequences_of_linked_calls_are_answered_as_documented(schema, figures, headers_for, budget, role):
    deadline = budget.deadline()
    found: list[str] = []
    machine = linked_calls(schema, headers_for, role, figures, found)
    run = settings(
        max_examples=SCENARIOS,
        stateful_step_count=STEPS,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    try:
        for batch in itertools.count():
            if batch and time.monotonic() >= deadline:
                break
            machine.tag = f"{role} batch {batch}"
            machine.rule_order_seed = random.Random(f"{SEED}:{machine.tag}").randrange(2**32)
            seed(f"{SEED}:{machine.tag}")(machine)
            machine.run(settings=run)
    finally:
        release_state_machines(machine)

    figures.failures.extend(found)
    if found:
        pytest.fail(failure_report(found), pytrace=False)
