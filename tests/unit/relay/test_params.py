"""RelayParams validation."""

import pytest

from abci_app.errors import ParamsError
from abci_app.relay.params import RelayParams


def test_defaults_are_valid() -> None:
    params = RelayParams()
    assert params.max_events_per_extension == 64
    assert params.max_extension_bytes < params.max_attested_tx_bytes


@pytest.mark.parametrize("kwargs", [
    {"max_events_per_extension": 0},
    {"max_events_per_extension": True},
    {"max_extension_bytes": 100},
    {"max_extension_bytes": 2 * 1024 * 1024},
    {"max_extension_bytes": 1.5},
    {"max_attested_tx_bytes": 1000},
    {"max_extension_bytes": 64 * 1024, "max_attested_tx_bytes": 64 * 1024},
])
def test_invalid_params_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ParamsError):
        RelayParams(**kwargs)  # type: ignore[arg-type]
