import sys
from pathlib import Path

import pytest

from itscm_check import fast_yaml

# Tests import their shared helpers as a plain module.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True, params=["fast", "pyyaml"])
def parse_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both parse paths: yaml_rs with our line scanner, and PyYAML alone
    (ITSCM_CHECK_PARSER=pyyaml, which subprocesses inherit). They must agree in every result."""
    if request.param == "pyyaml":
        monkeypatch.setenv(fast_yaml.PARSER_VARIABLE, "pyyaml")
    elif fast_yaml.yaml_rs is None:
        pytest.skip("yaml_rs has no wheel for this platform: the fast path is the PyYAML path here")
    else:
        monkeypatch.delenv(fast_yaml.PARSER_VARIABLE, raising=False)
    return request.param
