import sys
from pathlib import Path

import pytest

from itscm_check import fast_yaml

# Tests import their shared helpers as a plain module.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True, params=["fast", "pyyaml"])
def parse_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both parse paths: the fast path (our line scanner, with yaml_rs where it
    has a wheel), and PyYAML alone (ITSCM_CHECK_PARSER=pyyaml, which subprocesses inherit). They
    must agree in every result."""
    if request.param == "pyyaml":
        monkeypatch.setenv(fast_yaml.PARSER_VARIABLE, "pyyaml")
    else:
        monkeypatch.delenv(fast_yaml.PARSER_VARIABLE, raising=False)
    return request.param
