"""The API contract for two and a half minutes, as an outside client tests it: schemathesis with
every check, all four phases (examples, coverage, fuzzing, stateful), against a real
`lookalike serve` with keys (bench/contract.py says what the run sets up, and why)."""

from __future__ import annotations

import pytest

from bench import contract

pytestmark = pytest.mark.slow
SECONDS = 150  # of the suite's 25 minutes; `lookalike bench contract` runs 10 by default
# The suite replays the same generated cases each run (a failure here is a change, not luck);
# `lookalike bench contract` explores with a fresh seed every time.
SEED = 294556130361736622690540188547495821224


def test_the_api_keeps_its_contract_for_two_and_a_half_minutes() -> None:
    report = contract.run(SECONDS, seed=SEED)
    print("\n" + report.summary())
    assert report.operations >= 25 and report.cases >= 1000, report.output[-3000:]
    assert report.ok, report.output[-8000:]
