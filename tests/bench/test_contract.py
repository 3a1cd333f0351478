"""The API contract for three minutes, as an outside client tests it: schemathesis with
every check, all four phases, against a real `lookalike serve` (bench/contract.py).

What it holds: no 5xx, every answer in its documented schema and status, auth enforced
everywhere, Allow headers right. Still open (issue 21) and so allowed here: the data
acceptance checks, ST201/ST202, where a generated case reaches a rule JSON Schema does not
carry; each such case the run finds is printed, for the next fix.
"""

from __future__ import annotations

import pytest

from bench import contract

pytestmark = pytest.mark.slow
SECONDS = 180
OPEN = {"ST201 Schema-violating request accepted", "ST202 Schema-valid request rejected"}


def test_the_api_keeps_its_contract_for_three_minutes() -> None:
    report = contract.run(SECONDS)
    print("\n" + report.summary())
    assert report.operations >= 25 and report.cases >= 1000, report.output[-3000:]
    assert report.errors == 0, report.output[-3000:]
    unexpected = set(report.failures) - OPEN
    assert not unexpected, report.output[-6000:]
