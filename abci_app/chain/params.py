"""Chain parameters: one validated Params value, set at genesis.

Every fraction is basis points in [0, 10000]. Durations are whole seconds of
block time. Amounts are integer wei. In JSON each parameter may be a number or
a decimal string; export writes wei amounts (and power_reduction) as strings
because they exceed JSON's safe integer range.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from abci_app.chain.messages import state
from abci_app.errors import ParamsError
from abci_app.l1events_schema import UINT256_MAX

BPS_DENOMINATOR = 10_000
# Durations are seconds; block time is unix nanoseconds.
NS_PER_S = 1_000_000_000
# No duration may push a unix-nanosecond time past int64 (~2262).
MAX_DURATION_S = 10**9
MAX_SIGNED_BLOCKS_WINDOW = 100_000
MAX_VALIDATORS_LIMIT = 10_000
# CometBFT's types.MaxVoteExtensionSize: a larger extension breaks the vote.
COMETBFT_MAX_VOTE_EXTENSION_BYTES = 1024 * 1024
# CometBFT's types.MaxBlockSizeBytes: no tx can be larger than a block.
COMETBFT_MAX_BLOCK_BYTES = 104_857_600
# Room one vote takes in the injected tx besides its extension bytes: a 20-byte
# address, power, flag, 64-byte signature and the protobuf tags and lengths
# around them, plus the tx's own prefix and commit header: 134 bytes at worst
# (tests/unit/test_protocol_constants.py measures it), so 256 leaves margin.
RELAY_VOTE_OVERHEAD_BYTES = 256
_STRING_FIELDS = ("power_reduction", "min_lock_wei", "reward_per_l2_block_wei", "max_lock_wei")
_BYTES_FIELDS = ("l2_genesis_hash", "l1_contract_address")
L2_HASH_BYTES = 32
L1_ADDRESS_BYTES = 20
# The contract's bound on maxLock (its stake fits in 192 bits).
MAX_LOCK_LIMIT_WEI = 2**192 - 1


@dataclass(frozen=True)
class Params:
    power_reduction: int = 10**18  # wei per unit of CometBFT voting power
    max_validators: int = 100
    min_lock_wei: int = 10**18
    max_lock_wei: int = MAX_LOCK_LIMIT_WEI  # the contract's maxLock (genesis from-l1)
    epoch_length: int = 100  # L2 blocks per epoch
    rotation_timeout_s: int = 60
    signed_blocks_window: int = 100
    min_signed_bps: int = 5_000
    downtime_jail_s: int = 600
    downtime_slash_bps: int = 100
    double_sign_slash_bps: int = 500
    # At least evidence_max_age_s: stake must stay slashable while evidence is valid.
    withdrawal_delay_s: int = 172_800
    reward_per_l2_block_wei: int = 10**15
    max_tx_bytes: int = 16_384
    max_evidence_age_blocks: int = 100_000
    # The relay's limits (abci_app/relay/params.py reads them; validate_relay_params checks them).
    max_events_per_extension: int = 64
    max_extension_bytes: int = 16 * 1024
    max_attested_tx_bytes: int = 4 * 1024 * 1024
    # The L2 under the schedule. l2_chain_id 0: no L2 registered, a plain validator set.
    l2_chain_id: int = 0
    l2_genesis_hash: bytes = b""  # 32 bytes when an L2 is registered; 0x-hex in JSON
    l2_block_interval_ms: int = 1_000
    max_l2_headers_per_extension: int = 64
    producer_fault_slash_bps: int = 10  # a missed production: slash, then out of the rotation
    producer_jail_s: int = 600
    # Must exceed the sidecars' L1 confirmation depth, so that the L1 block a
    # seed is drawn from is not yet mined when its epoch's candidates are fixed.
    seed_l1_delay_blocks: int = 16
    # Block time an unseeded epoch waits for its L1 randomness before the fallback seed.
    seed_timeout_s: int = 600
    # Settlement to the Locking contract. l1_chain_id 0: no settlement.
    l1_chain_id: int = 0
    l1_contract_address: bytes = b""  # 20 bytes when l1_chain_id != 0; 0x-hex in JSON
    settlement_interval_blocks: int = 10
    max_settlement_items: int = 100
    evidence_max_age_s: int = 172_800  # CometBFT's default evidence max_age_duration (48 h)


# (low, high) inclusive bounds per parameter.
_BOUNDS: dict[str, tuple[int, int]] = {
    "power_reduction": (1, UINT256_MAX),
    "max_validators": (1, MAX_VALIDATORS_LIMIT),
    "min_lock_wei": (1, UINT256_MAX),
    "max_lock_wei": (1, MAX_LOCK_LIMIT_WEI),
    "epoch_length": (1, 2**32),
    "rotation_timeout_s": (1, MAX_DURATION_S),
    "signed_blocks_window": (1, MAX_SIGNED_BLOCKS_WINDOW),
    "min_signed_bps": (0, BPS_DENOMINATOR),
    "downtime_jail_s": (0, MAX_DURATION_S),
    "downtime_slash_bps": (0, BPS_DENOMINATOR),
    "double_sign_slash_bps": (0, BPS_DENOMINATOR),
    "withdrawal_delay_s": (0, MAX_DURATION_S),
    "reward_per_l2_block_wei": (0, 10**40),
    "max_tx_bytes": (256, 1 << 20),
    "max_evidence_age_blocks": (1, 2**62),
    "max_events_per_extension": (1, 10_000),
    "max_extension_bytes": (256, COMETBFT_MAX_VOTE_EXTENSION_BYTES),
    # Half a block at most, so user txs still fit beside it.
    "max_attested_tx_bytes": (512, COMETBFT_MAX_BLOCK_BYTES // 2),
    "l2_chain_id": (0, 2**64 - 1),
    "l2_block_interval_ms": (50, 600_000),
    "max_l2_headers_per_extension": (1, 10_000),
    "producer_fault_slash_bps": (0, BPS_DENOMINATOR),
    "producer_jail_s": (0, MAX_DURATION_S),
    "seed_l1_delay_blocks": (1, 10_000),
    "seed_timeout_s": (1, MAX_DURATION_S),
    "l1_chain_id": (0, 2**64 - 1),
    "settlement_interval_blocks": (1, 1_000_000),
    "max_settlement_items": (1, 10_000),
    "evidence_max_age_s": (1, MAX_DURATION_S),
}


def validate_param(name: str, value: object) -> int:
    """`value` as parameter `name`: an integer (not a bool) within its bounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(f"app_state.params.{name}: expected an integer, got {value!r}")
    low, high = _BOUNDS[name]
    if not low <= value <= high:
        raise ParamsError(f"app_state.params.{name}: {value} is outside [{low}, {high}]")
    return value


def compute_param_int(name: str, raw: object) -> int:
    """Parse one parameter from JSON (int or decimal string) and check its bounds."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ParamsError(f"app_state.params.{name}: expected an integer or decimal string")
    if isinstance(raw, str):
        if not raw.isascii() or not raw.isdigit() or (len(raw) > 1 and raw[0] == "0"):
            raise ParamsError(f"app_state.params.{name}: {raw!r} is not a canonical decimal")
        raw = int(raw)
    return validate_param(name, raw)


def validate_relay_room(max_extension_bytes: int, max_attested_tx_bytes: int) -> None:
    """At least one full extension and its vote must fit in the injected tx,
    or nothing is ever attested."""
    low = max_extension_bytes + RELAY_VOTE_OVERHEAD_BYTES
    if max_attested_tx_bytes < low:
        raise ParamsError(f"app_state.params.max_attested_tx_bytes: {max_attested_tx_bytes} < "
                          f"max_extension_bytes + {RELAY_VOTE_OVERHEAD_BYTES} = {low}")


def validate_relay_params(
    max_events_per_extension: object, max_extension_bytes: object, max_attested_tx_bytes: object
) -> None:
    """The relay's three limits: each within its bounds, and the room between them."""
    validate_param("max_events_per_extension", max_events_per_extension)
    extension = validate_param("max_extension_bytes", max_extension_bytes)
    attested = validate_param("max_attested_tx_bytes", max_attested_tx_bytes)
    validate_relay_room(extension, attested)


def compute_params_from_json(doc: object) -> Params:
    """Defaults for missing keys; unknown keys are an error (they are usually typos)."""
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise ParamsError("app_state.params: expected an object")
    names = [f.name for f in fields(Params)]
    for key in sorted(doc):
        if key not in names:
            raise ParamsError(f"app_state.params.{key}: unknown parameter")
    defaults = compute_params_json(Params())
    values: dict[str, Any] = {  # Any: as in compute_params_from_proto
        n: compute_param_int(n, doc.get(n, defaults[n])) for n in names if n not in _BYTES_FIELDS}
    for name in _BYTES_FIELDS:
        values[name] = compute_hex_param(name, doc.get(name, ""))
    params = Params(**values)
    validate_params(params)
    return params


def compute_hex_param(name: str, raw: object) -> bytes:
    """"" or a 0x-prefixed hex string."""
    if not isinstance(raw, str):
        raise ParamsError(f"app_state.params.{name}: expected a 0x-hex string")
    if raw == "":
        return b""
    if not raw.startswith("0x"):
        raise ParamsError(f"app_state.params.{name}: {raw!r} lacks the 0x prefix")
    try:
        return bytes.fromhex(raw[2:])
    except ValueError:
        raise ParamsError(f"app_state.params.{name}: {raw!r} is not hex") from None


def validate_params(params: Params) -> None:
    """The checks across parameters."""
    validate_relay_room(params.max_extension_bytes, params.max_attested_tx_bytes)
    if params.l2_chain_id == 0:
        if params.l2_genesis_hash:
            raise ParamsError("app_state.params.l2_genesis_hash: set without l2_chain_id")
    elif len(params.l2_genesis_hash) != L2_HASH_BYTES:
        raise ParamsError(f"app_state.params.l2_genesis_hash: expected {L2_HASH_BYTES} bytes "
                          f"when l2_chain_id is set, got {len(params.l2_genesis_hash)}")
    validate_settlement_params(params)


def validate_settlement_params(params: Params) -> None:
    """Lock range, the L1 domain, and a delay that outlasts evidence."""
    if params.min_lock_wei > params.max_lock_wei:
        raise ParamsError(f"app_state.params.min_lock_wei: {params.min_lock_wei} > "
                          f"max_lock_wei {params.max_lock_wei}")
    if params.l1_chain_id == 0:
        if params.l1_contract_address:
            raise ParamsError("app_state.params.l1_contract_address: set without l1_chain_id")
    elif len(params.l1_contract_address) != L1_ADDRESS_BYTES:
        raise ParamsError(f"app_state.params.l1_contract_address: expected {L1_ADDRESS_BYTES} "
                          f"bytes when l1_chain_id is set, got {len(params.l1_contract_address)}")
    # A validator that double signs and unlocks at once must still be slashable
    if params.withdrawal_delay_s < params.evidence_max_age_s:
        raise ParamsError(
            f"app_state.params.withdrawal_delay_s: {params.withdrawal_delay_s} s < "
            f"evidence_max_age_s {params.evidence_max_age_s} s: stake would leave before "
            "evidence against it expires")


MAX_TOTAL_VOTING_POWER = (2**63 - 1) // 8  # CometBFT types.MaxTotalVotingPower


def compute_max_validator_power(params: Params) -> int:
    return MAX_TOTAL_VOTING_POWER // params.max_validators


def compute_power(stake_wei: int, params: Params) -> int:
    """Voting power, rounded down and capped so the whole set stays under CometBFT's max."""
    return min(stake_wei // params.power_reduction, compute_max_validator_power(params))


def is_l2_registered(params: Params) -> bool:
    return params.l2_chain_id != 0


def is_settlement_enabled(params: Params) -> bool:
    return params.l1_chain_id != 0


def compute_params_json(params: Params) -> dict[str, int | str]:
    out: dict[str, int | str] = {}
    for name, value in asdict(params).items():
        if name in _BYTES_FIELDS:
            out[name] = "0x" + value.hex() if value else ""
        else:
            out[name] = str(value) if name in _STRING_FIELDS else int(value)
    return out


def compute_params_proto(params: Params) -> state.Params:
    msg = state.Params()
    for name, value in asdict(params).items():
        setattr(msg, name, str(value) if name in _STRING_FIELDS else value)
    return msg


def compute_params_from_proto(msg: state.Params) -> Params:
    # Any: the fields are ints but for the bytes ones, which one dict type cannot say.
    values: dict[str, Any] = {
        f.name: bytes(getattr(msg, f.name)) if f.name in _BYTES_FIELDS
        else int(getattr(msg, f.name)) for f in fields(Params)}
    return Params(**values)


def compute_max_missed_blocks(params: Params) -> int:
    """Missed votes tolerated in one window. min_signed rounds down, so the
    tolerance rounds up: a validator is never jailed for a fraction of a vote."""
    window = params.signed_blocks_window
    min_signed = window * params.min_signed_bps // BPS_DENOMINATOR
    return window - min_signed
