import sys
from pathlib import Path

import pytest

# Tests import their shared helpers as a plain module.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True, params=["fast", "pyyaml"])
def parse_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both parse paths: yaml_rs with our line scanner, and PyYAML alone
    (ITSCM_CHECK_PARSER=pyyaml, which subprocesses inherit). They must agree in every result."""
    if request.param == "pyyaml":
        monkeypatch.setenv("ITSCM_CHECK_PARSER", "pyyaml")
    else:
        monkeypatch.delenv("ITSCM_CHECK_PARSER", raising=False)
    return request.param
