"""Genesis app_state: parse and validate it into state, and export state back to it.

Shape (JSON):
  {"params": {...every Params field, missing ones take the defaults...},
   "sequencers": [{"id": 1, "owner": "0x..", "signer": "0x..",
                   "consensus_pubkey": "<base64 ed25519>", "locked_wei": "1000.."}],
   "last_l1_nonce": 0,
   "l1_confirmed_height": 0}   (optional: names the L1 block that seeds epoch 2)
An exported genesis adds per-sequencer status fields (status, jailed_until_ns,
missed_productions, rewards_accrued_wei, rewards_claimed_wei, created_height,
out_of_turn_blocks, producer_jailed_until_ns)
and "state": the rest of the chain's records as protobuf JSON (ExportedState),
restored verbatim so the restarted chain has the same app hash.
"""

import base64
import binascii
import json
from collections.abc import Mapping, Sequence

from google.protobuf import json_format

from abci_app.chain import keys
from abci_app.chain.messages import genesis as genesis_pb
from abci_app.chain.messages import state
from abci_app.chain.params import (
    Params,
    compute_params_from_json,
    compute_params_json,
)
from abci_app.chain.seeds import init_schedule
from abci_app.chain.state import (
    STATUS_NAMES,
    format_wei,
    get_chain_state,
    get_locked,
    get_params,
    get_record,
    get_records,
    get_sequencers,
    get_totals,
    parse_wei,
    put_chain_state,
    put_consensus_index,
    put_params,
    put_record,
    put_sequencer,
    put_totals,
)
from abci_app.chain.types import ValidatorUpdate
from abci_app.chain.validators import (
    compute_validator_set,
    get_latest_validator_set,
    get_validator_set,
    put_validator_set,
)
from abci_app.chain.withdrawals import get_withdrawal_amount, get_withdrawals, put_withdrawal
from abci_app.errors import AppError, GenesisError
from abci_app.store.kv import KVStore
from abci_app.valset import compute_consensus_address

_SEQUENCER_REQUIRED = ("id", "owner", "signer", "consensus_pubkey", "locked_wei")
_SEQUENCER_OPTIONAL = ("status", "jailed_until_ns", "missed_productions",
                       "rewards_accrued_wei", "rewards_claimed_wei", "created_height",
                       "out_of_turn_blocks", "producer_jailed_until_ns", "l1_locked_wei",
                       "rewards_batched_wei", "rewards_settled_wei")
_STATUS_BY_NAME = {name: value for value, name in STATUS_NAMES.items()}
_TOP_LEVEL = ("params", "sequencers", "last_l1_nonce", "l1_confirmed_height", "state")


def _int_field(doc: Mapping[str, object], key: str, where: str, default: int = 0) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 2**63:
        raise GenesisError(f"{where}.{key}: expected a non-negative 64-bit integer")
    return value


def _address_field(doc: Mapping[str, object], key: str, where: str) -> bytes:
    value = doc.get(key)
    if not isinstance(value, str) or len(value) != 42 or not value.startswith("0x"):
        raise GenesisError(f"{where}.{key}: expected a 0x-prefixed 20-byte hex address")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise GenesisError(f"{where}.{key}: {value!r} is not hex") from None


def _pubkey_field(doc: Mapping[str, object], where: str) -> bytes:
    value = doc.get("consensus_pubkey")
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except binascii.Error:
        raw = b""
    if len(raw) != 32:
        raise GenesisError(f"{where}.consensus_pubkey: expected base64 of a 32-byte ed25519 key")
    return raw


def _wei_field(doc: Mapping[str, object], key: str, where: str, default: str = "0") -> int:
    value = doc.get(key, default)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    try:
        return parse_wei(value, f"{where}.{key}")
    except AppError as exc:
        raise GenesisError(exc.message) from None


def compute_genesis_sequencer(doc: object, where: str) -> state.Sequencer:
    """One app_state.sequencers entry as a Sequencer record."""
    if not isinstance(doc, Mapping):
        raise GenesisError(f"{where}: expected an object")
    for key in sorted(doc):
        if key not in _SEQUENCER_REQUIRED + _SEQUENCER_OPTIONAL:
            raise GenesisError(f"{where}.{key}: unknown field")
    for key in _SEQUENCER_REQUIRED:
        if key not in doc:
            raise GenesisError(f"{where}.{key}: missing")
    status_name = doc.get("status", "active")
    if status_name not in _STATUS_BY_NAME:
        raise GenesisError(f"{where}.status: expected one of {sorted(_STATUS_BY_NAME)}")
    seq_id = _int_field(doc, "id", where)
    if seq_id == 0:
        raise GenesisError(f"{where}.id: must be >= 1")
    return state.Sequencer(
        id=seq_id, owner=_address_field(doc, "owner", where),
        signer=_address_field(doc, "signer", where),
        consensus_pubkey=_pubkey_field(doc, where),
        locked_wei=format_wei(_wei_field(doc, "locked_wei", where)),
        status=_STATUS_BY_NAME[status_name],
        jailed_until_ns=_int_field(doc, "jailed_until_ns", where),
        missed_productions=_int_field(doc, "missed_productions", where),
        rewards_accrued_wei=format_wei(_wei_field(doc, "rewards_accrued_wei", where)),
        rewards_claimed_wei=format_wei(_wei_field(doc, "rewards_claimed_wei", where)),
        created_height=_int_field(doc, "created_height", where),
        out_of_turn_blocks=_int_field(doc, "out_of_turn_blocks", where),
        producer_jailed_until_ns=_int_field(doc, "producer_jailed_until_ns", where),
        # A genesis sequencer's L1 lock is its chain lock unless stated
        l1_locked_wei=format_wei(_wei_field(doc, "l1_locked_wei", where,
                                            default=str(doc["locked_wei"]))),
        rewards_batched_wei=format_wei(_wei_field(doc, "rewards_batched_wei", where)),
        rewards_settled_wei=format_wei(_wei_field(doc, "rewards_settled_wei", where)),
    )


def compute_sequencer_json(seq: state.Sequencer) -> dict[str, int | str]:
    return {
        "id": int(seq.id), "owner": "0x" + bytes(seq.owner).hex(),
        "signer": "0x" + bytes(seq.signer).hex(),
        "consensus_pubkey": base64.b64encode(bytes(seq.consensus_pubkey)).decode(),
        "locked_wei": seq.locked_wei or "0", "status": STATUS_NAMES[seq.status],
        "jailed_until_ns": int(seq.jailed_until_ns),
        "missed_productions": int(seq.missed_productions),
        "rewards_accrued_wei": seq.rewards_accrued_wei or "0",
        "rewards_claimed_wei": seq.rewards_claimed_wei or "0",
        "created_height": int(seq.created_height),
        "out_of_turn_blocks": int(seq.out_of_turn_blocks),
        "producer_jailed_until_ns": int(seq.producer_jailed_until_ns),
        "l1_locked_wei": seq.l1_locked_wei or "0",
        "rewards_batched_wei": seq.rewards_batched_wei or "0",
        "rewards_settled_wei": seq.rewards_settled_wei or "0",
    }


def _parse_sequencers(doc: object, params: Params, restoring: bool) -> list[state.Sequencer]:
    if not isinstance(doc, list):
        raise GenesisError("app_state.sequencers: expected a list")
    out: list[state.Sequencer] = []
    seen_ids: set[int] = set()
    seen_keys: set[bytes] = set()
    for index, entry in enumerate(doc):
        where = f"app_state.sequencers[{index}]"
        seq = compute_genesis_sequencer(entry, where)
        if seq.id in seen_ids:
            raise GenesisError(f"{where}.id: duplicate id {seq.id}")
        if bytes(seq.consensus_pubkey) in seen_keys:
            raise GenesisError(f"{where}.consensus_pubkey: duplicate key")
        if not restoring and get_locked(seq) < params.min_lock_wei:
            raise GenesisError(f"{where}.locked_wei: {get_locked(seq)} < params.min_lock_wei "
                               f"{params.min_lock_wei}")
        seen_ids.add(seq.id)
        seen_keys.add(bytes(seq.consensus_pubkey))
        out.append(seq)
    return sorted(out, key=lambda s: s.id)


def compute_app_state(
    app_state_json: bytes,
) -> tuple[Params, list[state.Sequencer], int, genesis_pb.ExportedState | None, int]:
    """Parse and validate without touching state:
    (params, sequencers, last nonce, state, L1 confirmed height)."""
    try:
        doc = json.loads(app_state_json or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise GenesisError(f"app_state: not valid JSON ({exc})") from None
    if not isinstance(doc, Mapping):
        raise GenesisError("app_state: expected a JSON object")
    for key in sorted(doc):
        if key not in _TOP_LEVEL:
            raise GenesisError(f"app_state.{key}: unknown field")
    params = compute_params_from_json(doc.get("params"))
    exported = None
    if "state" in doc:
        exported = genesis_pb.ExportedState()
        try:
            json_format.ParseDict(doc["state"], exported)
        except (json_format.ParseError, TypeError, ValueError) as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise GenesisError(f"app_state.state: {first_line}") from None
    sequencers = _parse_sequencers(doc.get("sequencers", []), params, exported is not None)
    last_nonce = _int_field(doc, "last_l1_nonce", "app_state")
    l1_height = _int_field(doc, "l1_confirmed_height", "app_state")
    return params, sequencers, last_nonce, exported, l1_height


def make_genesis_app_state(
    sequencers: Sequence[Mapping[str, object]], params: Mapping[str, object] | None = None,
    l1_confirmed_height: int = 0,
) -> dict[str, object]:
    """A fresh app_state; bytes values (owner, signer, consensus_pubkey) are encoded for you."""
    entries = []
    for entry in sequencers:
        item = dict(entry)
        for key in ("owner", "signer"):
            if isinstance(address := item.get(key), bytes | bytearray):
                item[key] = "0x" + bytes(address).hex()
        if isinstance(pubkey := item.get("consensus_pubkey"), bytes | bytearray):
            item["consensus_pubkey"] = base64.b64encode(bytes(pubkey)).decode()
        if isinstance(item.get("locked_wei"), int):
            item["locked_wei"] = str(item["locked_wei"])
        entries.append(item)
    doc: dict[str, object] = {
        "params": compute_params_json(compute_params_from_json(params or {})),
        "sequencers": entries, "last_l1_nonce": 0}
    if l1_confirmed_height:
        doc["l1_confirmed_height"] = l1_confirmed_height
    compute_app_state(json.dumps(doc).encode())  # fail early, with the same messages
    return doc


def _restore(kv: KVStore, exported: genesis_pb.ExportedState, chain_id: str) -> None:
    chain = state.ChainState()
    chain.CopyFrom(exported.chain)
    chain.chain_id = chain_id
    put_chain_state(kv, chain)
    put_record(kv, keys.TOTALS, exported.totals)
    for account in exported.accounts:
        put_record(kv, keys.account_key(bytes(account.address)), account)
    for withdrawal in exported.withdrawals:
        put_withdrawal(kv, withdrawal)  # with its due-index entry
    for slash in exported.slashes:
        put_record(kv, keys.slash_key(slash.id), slash)
    for noop in exported.l1_noops:
        put_record(kv, keys.l1_noop_key(noop.nonce), noop)
    for info in exported.signing_infos:
        put_record(kv, keys.signing_info_key(info.sequencer_id), info)
    for schedule in exported.schedules:
        put_record(kv, keys.epoch_key(schedule.epoch), schedule)
    for record in exported.validator_sets:
        put_record(kv, keys.valset_key(record.height), record)
    for batch in exported.settlement_batches:
        put_record(kv, keys.settlement_batch_key(batch.nonce), batch)


def _derive(kv: KVStore, sequencers: list[state.Sequencer], params: Params, chain_id: str,
            genesis_time_ns: int, initial_height: int, last_nonce: int, l1_height: int) -> None:
    total = sum(get_locked(s) for s in sequencers)
    totals = {"total_locked_ever_wei": total, "total_locked_wei": total}
    put_totals(kv, {name: totals.get(name, 0) for name in (
        "total_locked_ever_wei", "total_locked_wei", "total_pending_wei",
        "total_released_wei", "total_slashed_wei", "total_rewards_accrued_wei",
        "total_rewards_claimed_wei")})
    put_chain_state(kv, state.ChainState(
        chain_id=chain_id, last_height=initial_height - 1, last_block_time_ns=genesis_time_ns,
        last_l1_nonce=last_nonce, current_epoch=0, last_progress_time_ns=genesis_time_ns,
        next_withdrawal_id=1, next_slash_id=1))
    valset = compute_validator_set(sequencers, params)
    if not valset:
        raise GenesisError("app_state.sequencers: no active sequencer has locked_wei >= "
                           f"power_reduction {params.power_reduction}; the validator set "
                           "would be empty")
    put_validator_set(kv, initial_height, valset)
    init_schedule(kv, chain_id, params, l1_height)


def _check_restored(kv: KVStore, sequencers: list[state.Sequencer], last_nonce: int,
                    l1_height: int) -> None:
    """An exported state must agree with itself: nonce, L1 height, stake conservation."""
    chain = get_chain_state(kv)
    if int(chain.last_l1_nonce) != last_nonce:
        raise GenesisError("app_state.last_l1_nonce: disagrees with app_state.state.chain")
    if int(chain.l1_confirmed_height) != l1_height:
        raise GenesisError("app_state.l1_confirmed_height: disagrees with app_state.state.chain")
    totals = get_totals(kv)
    locked = sum(get_locked(s) for s in sequencers)
    pending = sum(get_withdrawal_amount(w) for w in get_withdrawals(kv))
    if (totals["total_locked_wei"], totals["total_pending_wei"]) != (locked, pending):
        raise GenesisError("app_state.state.totals: locked or pending totals disagree with "
                           "the sequencers and withdrawals")
    accounted = locked + pending + totals["total_released_wei"] + totals["total_slashed_wei"]
    if totals["total_locked_ever_wei"] != accounted:
        raise GenesisError("app_state.state.totals: total_locked_ever_wei is not conserved")
    _check_restored_slashes(get_records(kv, keys.SLASH_PREFIX, state.SlashRecord),
                            int(chain.next_slash_id))


def _check_restored_slashes(slashes: list[state.SlashRecord], next_slash_id: int) -> None:
    """Ids 1..next_slash_id - 1 with no gap, and the ones in no batch yet after every
    batched one (settlement reads them back from the newest id)."""
    ids = [int(record.id) for record in slashes]
    if ids != list(range(1, len(ids) + 1)) or max(next_slash_id, 1) != len(ids) + 1:
        raise GenesisError(f"app_state.state.slashes: ids must run 1..{len(ids)} with no gap "
                           f"and state.chain.next_slash_id must be {len(ids) + 1} "
                           f"(it is {next_slash_id})")
    seen_batched = False
    for record in reversed(slashes):  # newest first
        if record.batch_nonce != 0:
            seen_batched = True
        elif seen_batched:
            raise GenesisError(f"app_state.state.slashes: slash {record.id} is in no batch "
                               "but a later slash is; batches take slashes in id order")


def init_chain(kv: KVStore, app_state_json: bytes, chain_id: str, genesis_time_ns: int,
               initial_height: int) -> list[ValidatorUpdate]:
    """Write the genesis state; return the full initial validator set (never empty)."""
    params, sequencers, last_nonce, exported, l1_height = compute_app_state(app_state_json)
    put_params(kv, params)
    for seq in sequencers:
        put_sequencer(kv, seq)
        put_consensus_index(kv, compute_consensus_address(bytes(seq.consensus_pubkey)), seq.id)
    if exported is None:
        _derive(kv, sequencers, params, chain_id, genesis_time_ns, max(initial_height, 1),
                last_nonce, l1_height)
    else:
        _restore(kv, exported, chain_id)
        _check_restored(kv, sequencers, last_nonce, l1_height)
    valset = get_latest_validator_set(kv)
    if not valset:
        raise GenesisError("app_state.state.validator_sets: the validator set is empty")
    return [ValidatorUpdate(e.pub_key, e.power) for e in valset]


def export_genesis(kv: KVStore, chain_id: str) -> dict[str, object]:
    """app_state that, fed to init_chain, reproduces this KV state byte for byte.

    Refused while a validator-set change is pending: InitChain gives CometBFT
    one set for the first two heights, while the stored history would say
    the new set starts one height later.
    """
    chain = get_chain_state(kv)
    next_height = chain.last_height + 1
    if get_validator_set(kv, next_height) != get_validator_set(kv, next_height + 1):
        raise GenesisError(f"a validator-set change takes effect at height {next_height + 1}: "
                           "export again once it has (two blocks later)")
    exported = genesis_pb.ExportedState(
        chain=chain,
        totals=get_record(kv, keys.TOTALS, state.Totals) or state.Totals(),
        accounts=get_records(kv, keys.ACCOUNT_PREFIX, state.Account),
        withdrawals=get_records(kv, keys.WITHDRAWAL_PREFIX, state.PendingWithdrawal),
        slashes=get_records(kv, keys.SLASH_PREFIX, state.SlashRecord),
        l1_noops=get_records(kv, keys.L1_NOOP_PREFIX, state.L1Noop),
        signing_infos=get_records(kv, keys.SIGNING_INFO_PREFIX, state.SigningInfo),
        schedules=get_records(kv, keys.EPOCH_PREFIX, state.EpochSchedule),
        validator_sets=get_records(kv, keys.VALSET_PREFIX, state.ValidatorSetRecord),
        settlement_batches=get_records(kv, keys.SETTLEMENT_BATCH_PREFIX, state.SettlementBatch),
    )
    return {
        "params": compute_params_json(get_params(kv)),
        "sequencers": [compute_sequencer_json(s) for s in get_sequencers(kv)],
        "last_l1_nonce": int(chain.last_l1_nonce),
        "l1_confirmed_height": int(chain.l1_confirmed_height),
        "state": json_format.MessageToDict(exported, preserving_proto_field_name=True),
    }
