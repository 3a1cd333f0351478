"""The API contract, tested as an outside client would: schemathesis against a live
`lookalike serve` with an admin key, every check, all four phases (examples, coverage,
fuzzing, stateful), for a time budget.

What the run sets up, and why:
- The refused-request rate limit is off (LOOKALIKE_AUTH_FAILURES_PER_S=0): the fuzzer sends
  hundreds of unauthenticated requests a second on purpose, and the limit would answer them
  429 where the check expects 401. The limit has its own tests (tests/security).
- DELETE /v1/keys/{key_id} may revoke only a key made for it: revoking the run's own admin
  key (after creating another, as the stateful phase does) would lock the fuzzer out, and
  every later answer would be a 401.
- One schemathesis worker: with two, Hypothesis parses lambda sources (`ast.parse`) on two
  threads at once, and CPython 3.11 then fails with "AST constructor recursion depth
  mismatch" (CPython gh-106905, fixed in 3.11.8; this machine has 3.11.7), an error of the
  tool, not of the API.
- The cursor formats draw from cursors this server issued, and schema-valid uploads carry
  real images (bench/contract_hooks.py).
- The three multipart forms are not judged on negative data: a form travels as text, and a
  "wrong type" the fuzzer makes up (the number 5 for a client key, a number for a file)
  arrives as the same text as a valid value, which no server can tell apart (schemathesis
  drops such cases itself for query strings); and an upload answers a bad file or a bad
  key with a per-file failure by design. Their positive cases, and every other check on
  them, still run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.images import small_jpeg
from bench.server import ServeProcess

SEED_IMAGES = 4
TEXT_FORMS = ("POST /v1/items", "POST /v1/search/image", "POST /v1/search/batch")


@dataclass
class ContractReport:
    seconds: float
    returncode: int
    operations: int = 0
    cases: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.failures and self.errors == 0

    def summary(self) -> str:
        failed = ", ".join(f"{k}: {v}" for k, v in sorted(self.failures.items())) or "none"
        return (
            f"schemathesis, every check, {self.seconds:g} s: {self.cases} cases over "
            f"{self.operations} operations; failures: {failed}; errors: {self.errors}"
        )


def _keys(data_dir: Path) -> tuple[str, str]:
    """The run's admin token, and the id of a key made to be revoked."""
    from api.keys import KeyRing
    from engine import Engine
    from index import IndexSettings

    ring = KeyRing(Engine(index_settings=IndexSettings(data_dir=data_dir)).store)
    _, token = ring.create(["admin"], name="contract")
    spare, _ = ring.create(["read"], name="to-revoke")
    return token, spare.key_id


def _config(token: str, spare_key: str, path: Path) -> Path:
    """Credentials through schemathesis's auth config, not a raw header: it then knows they
    are ours and probes each operation without them and with invalid ones."""
    path.write_text(
        # every check (what `--checks all` selects), here so the operations below can
        # switch one off: a check named on the command line would win over them
        "[checks]\nenabled = true\n\n"
        f'[auth.openapi.Bearer]\nbearer = "{token}"\n\n'
        f'[auth.openapi.ApiKeyHeader]\napi_key = "{token}"\n\n'
        '[[operations]]\ninclude-name = "DELETE /v1/keys/{key_id}"\n'
        f'parameters = {{ key_id = "{spare_key}" }}\n'
        + "".join(
            f'\n[[operations]]\ninclude-name = "{name}"\n'
            "[operations.checks.negative_data_rejection]\nenabled = false\n"
            for name in TEXT_FORMS
        )
    )
    return path


def _cursors(url: str, headers: dict[str, str]) -> dict[str, list[str]]:
    """Cursors of each kind, from a listing and a search of the seeded catalog."""
    from api.openapi import ITEMS_CURSOR, SEARCH_CURSOR

    page = httpx.get(url + "/v1/items", params={"limit": 1}, headers=headers, timeout=60).json()
    first = page["items"][0]["id"]
    found = httpx.get(
        url + f"/v1/items/{first}/similar", params={"k": 1}, headers=headers, timeout=60
    ).json()
    return {
        ITEMS_CURSOR: [page["next_cursor"]],
        SEARCH_CURSOR: [found["next_cursor"]],
    }


def _parse(report: Path) -> tuple[int, int, dict[str, int], int]:
    """Operations, cases, failures by title, errors from schemathesis's ndjson events."""
    operations: set[str] = set()
    cases = errors = 0
    failures: dict[str, int] = {}
    for line in report.read_text().splitlines() if report.exists() else []:
        event = json.loads(line)
        ((kind, body),) = event.items()
        if kind == "ScenarioFinished":
            recorder = body.get("recorder", {})
            label = recorder.get("label")
            if label:
                operations.add(label)
            cases += len(recorder.get("cases", {}))
            for checks in recorder.get("checks", {}).values():
                for check in checks:
                    if check.get("status") == "failure":
                        failure = (check.get("failure_info") or {}).get("failure", {})
                        title = f"{failure.get('code', '?')} {failure.get('title', check['name'])}"
                        failures[title] = failures.get(title, 0) + 1
        elif kind == "NonFatalError":
            errors += 1
    return len(operations), cases, failures, errors


def run(
    seconds: float, workers: int = 1, seed: int | None = None, keep: Path | None = None
) -> ContractReport:
    """`keep`: where to copy schemathesis's ndjson events, for a closer look."""
    with tempfile.TemporaryDirectory(prefix="lookalike-contract-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        token, spare_key = _keys(data)
        server = ServeProcess(data, env={"LOOKALIKE_AUTH_FAILURES_PER_S": "0"})
        try:
            files = [
                ("files", (f"{i}.jpg", small_jpeg(i), "image/jpeg")) for i in range(SEED_IMAGES)
            ]
            headers = {"Authorization": f"Bearer {token}"}
            httpx.post(
                server.url + "/v1/items", files=files, headers=headers, timeout=60
            ).raise_for_status()
            env = {
                **os.environ,
                "SCHEMATHESIS_HOOKS": "bench.contract_hooks",
                "LOOKALIKE_CONTRACT_CURSORS": json.dumps(_cursors(server.url, headers)),
                "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            }
            events = Path(tmp) / "events.ndjson"
            cmd = [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file", str(_config(token, spare_key, Path(tmp) / "schemathesis.toml")),
                "run", server.url + "/openapi.json",
                "--max-time", str(max(1, round(seconds))),
                "--workers", str(workers),
                "--suppress-health-check", "all",
                "--report", "ndjson", "--report-ndjson-path", str(events),
                "--no-color",
            ] + (["--seed", str(seed)] if seed is not None else [])  # fmt: skip
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=seconds + 300, env=env, cwd=tmp
            )  # in the temporary folder: schemathesis keeps its crash cache where it runs
            operations, cases, failures, errors = _parse(events)
            if keep is not None:
                keep.write_bytes(events.read_bytes())
            return ContractReport(
                seconds, done.returncode, operations, cases, failures, errors,
                done.stdout + done.stderr,
            )  # fmt: skip
        finally:
            server.stop()
