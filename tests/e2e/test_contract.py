"""The live service against its contract: openapi.yaml, served at /openapi.json, fuzzed by
schemathesis through gunicorn and the stand-in, with a valid key and with none.

Every check runs but `positive_data_acceptance`: the contract cannot say that a prompt of
only whitespace or only a ratio is empty, so such schema-valid bodies rightly get 400.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import yaml

from tests.e2e.service import Service
from tests.helpers import API_KEY

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
OPENAPI = Path(__file__).resolve().parents[2] / "openapi.yaml"


def test_openapi_json_is_the_yaml_contract(service: Service) -> None:
    response = requests.get(f"{service.url}/openapi.json", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == yaml.safe_load(OPENAPI.read_text())
    assert response.json()["openapi"] == "3.1.0"


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("headers", "examples", "phases"),
    [
        (["-H", f"Authorization: Bearer {API_KEY}"], 15, "examples,coverage,fuzzing,stateful"),
        # Without a key every case is the same 401: the coverage phase's five hundred
        # boundary values and the stateful links would only repeat it.
        ([], 5, "examples,fuzzing"),
    ],
    ids=["with-key", "without-key"],
)
def test_the_service_keeps_its_contract_under_fuzzing(
    make_service: Callable[..., Service],
    tmp_path: Path,
    headers: list[str],
    examples: int,
    phases: str,
) -> None:
    # A number of cases, not of seconds: on a busy machine a time limit left whole phases
    # with no case at all.
    service = make_service(label="contract")
    command = [
        str(SCHEMATHESIS), "run", f"{service.url}/openapi.json", *headers,
        "--exclude-checks", "positive_data_acceptance", "--phases", phases,
        "--max-examples", str(examples), "--seed", "1", "--request-timeout", "30",
    ]  # fmt: skip
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=170)
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert "passed" in run.stdout, report
    assert "failure" not in run.stdout.lower(), report
    # Nothing the fuzzer sent made the service stumble, even where it answered well.
    log = service.log()
    assert "unexpected error" not in log
    assert "Traceback" not in log
