"""Issue 14, acceptances 2 and 5 (live): a byzantine signer, and a slashed pending withdrawal.

A real 4-validator net on anvil whose node 3 signs settlement batches with a key
that is not its sequencer's stored signer (its `[app] signer_key_file` names
another key): well-formed signatures that recover to the wrong address. The
proposers must prune them, and the honest 3 of 4 settle the batch. Then node 3
(sequencer 4) asks to withdraw and goes down before the delay ends: the downtime
slash takes from the pending withdrawal first, and L1 pays only the remainder.
Withdrawals wait DELAY_S here, long enough for the slash to land inside it.
"""

import base64
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import coincurve
import pytest
from eth_utils import keccak

from abci_app import pb
from abci_app.devnet.localnet import LocalNode, wait_until
from abci_app.devnet.localnet_l1 import TOKEN, L1Localnet, L1Settings
from abci_app.l1 import contract
from abci_app.node.config import CONFIG_RELATIVE_PATH
from abci_app.node.home import read_signer_key, read_validator_pubkey
from abci_app.relay.attested_tx import decode_attested_tx
from abci_app.relay.settlement_checks import compute_settlement_signer
from abci_app.settlement import SLASH_REASON_BY_NAME, Release, Slash, decode_batch
from abci_app.valset import compute_consensus_address

pytestmark = pytest.mark.integration

DELAY_S = 25  # withdrawal_delay_s = evidence_max_age_s
SETTINGS = L1Settings(withdrawal_delay_s=DELAY_S, evidence_max_age_s=DELAY_S,
                      settlement_interval_blocks=3)
DOWNTIME_SLASH_BPS = 100
PARAMS = {"signed_blocks_window": 10, "min_signed_bps": 5_000,
          "downtime_slash_bps": DOWNTIME_SLASH_BPS, "downtime_jail_s": 600}
BYZANTINE = 3  # node 3 = sequencer 4
WRONG_KEY_FILE = "config/wrong_signer_key.json"


def write_wrong_signer_key(node: LocalNode) -> bytes:
    """Points the node's app at a fresh key that no sequencer registered; its address."""
    key = coincurve.PrivateKey()
    address = keccak(key.public_key.format(compressed=False)[1:])[-20:]
    (node.home / WRONG_KEY_FILE).write_text(json.dumps(
        {"address": "0x" + address.hex(), "private_key": key.secret.hex()}))
    path = node.home / CONFIG_RELATIVE_PATH
    text, count = re.subn(r'(?m)^signer_key_file = ".*"$', f'signer_key_file = "{WRONG_KEY_FILE}"',
                          path.read_text())
    assert count == 1, f"{path} has no single signer_key_file line"
    path.write_text(text)
    return address


@pytest.fixture(scope="module")
def byzantine_net(tmp_path_factory: pytest.TempPathFactory, cometbft_binary: str
                  ) -> Iterator[tuple[L1Localnet, bytes]]:
    net = L1Localnet(tmp_path_factory.mktemp("settle-faults"), 4, block_time_ms=300,
                     settings=SETTINGS, params=PARAMS, cometbft=cometbft_binary)
    try:
        net.init()  # sequencer 4 locks with node 3's real signer; the app gets another key
        wrong_signer = write_wrong_signer_key(net.nodes[BYZANTINE])
        net.start()
        net.net.wait_for_height(3)
        yield net, wrong_signer
    finally:
        net.stop()


def get_signer(node: LocalNode) -> bytes:
    return bytes.fromhex(read_signer_key(node.home)[0][2:])


def send_and_wait(net: L1Localnet, what: str, send: Any) -> int:
    send()
    nonce = contract.get_event_nonce(net.deployment)
    net.wait_for_applied_nonce(nonce, what)
    return nonce


def wait_for_batched_withdrawal(net: L1Localnet, seq_id: int) -> Any:
    return wait_until(f"sequencer {seq_id}'s withdrawal to be releasable and batched",
                      lambda: next((w for w in net.query(f"/withdrawals/{seq_id}").withdrawals
                                    if w.releasable and w.batch_nonce), None), DELAY_S + 60)


def get_settlement_traffic(node: LocalNode, first: int, last: int, voter: bytes, digest: bytes
                           ) -> tuple[set[bytes], set[bytes]]:
    """(signers recovered from `voter`'s extensions in the commits, signers the attested
    txs listed), for signatures over `digest` in blocks first..last."""
    carried, listed = set(), set()
    for height in range(first, last + 1):
        txs = node.rpc("block", height=height)["block"]["data"]["txs"] or []
        body = decode_attested_tx(base64.b64decode(txs[0])) if txs else None
        if body is None:
            continue
        for signature in body.settlement_signatures:
            listed.add(compute_settlement_signer(digest, bytes(signature.signature)))
        commit = pb.abci.ExtendedCommitInfo.FromString(body.extended_commit_info)
        for vote in commit.votes:
            if bytes(vote.validator.address) != voter or not vote.vote_extension:
                continue
            extension = pb.relay.VoteExtension.FromString(bytes(vote.vote_extension))
            if extension.HasField("settlement_signature"):
                carried.add(compute_settlement_signer(
                    digest, bytes(extension.settlement_signature.signature)))
    return carried, listed


def count_log_lines(nodes: list[LocalNode], needle: str) -> int:
    paths = [node.home / "logs" / "app.log" for node in nodes]
    return sum(path.read_text(errors="replace").count(needle) for path in paths if path.exists())


def test_byzantine_signature_is_pruned_and_honest_three_of_four_settle(
    byzantine_net: tuple[L1Localnet, bytes],
) -> None:
    net, wrong_signer = byzantine_net
    dep, seq_id, amount = net.deployment, 1, 50 * TOKEN
    started, first_height = time.monotonic(), net.nodes[0].height()
    honest = {get_signer(node) for node in net.nodes if node.index != BYZANTINE}
    send_and_wait(net, "partial withdrawal", lambda: contract.request_withdrawal(
        dep, net.owner(0).private_key, seq_id, amount))

    nonce = int(wait_for_batched_withdrawal(net, seq_id).batch_nonce)
    net.wait_for_batch_settled(nonce)
    last_height = net.nodes[0].height()
    record = net.query(f"/settlement/batch/{nonce}").batch
    digest = bytes(record.digest)
    assert list(decode_batch(bytes(record.batch)).releases) == [Release(seq_id, amount)]
    print(f"batch {nonce} settled {time.monotonic() - started:.1f}s after the request")

    # The lie was on the wire: node 3's extensions carried a well-formed signature of
    # this very digest, by a key that is not sequencer 4's signer ...
    voter = compute_consensus_address(read_validator_pubkey(net.nodes[BYZANTINE].home))
    carried, listed = get_settlement_traffic(net.nodes[0], first_height, last_height, voter,
                                             digest)
    print(f"node {BYZANTINE} carried signatures by {[a.hex() for a in carried]}; "
          f"attested txs listed {sorted(a.hex() for a in listed)}")
    assert carried == {wrong_signer}
    assert get_signer(net.nodes[BYZANTINE]) != wrong_signer
    # ... and no proposer kept it: the batch holds exactly the honest three
    assert listed == honest
    assert {bytes(s.signer) for s in record.signatures} == honest
    assert net.query(f"/settlement/batch/{nonce}").complete
    assert contract.get_last_batch_nonce(dep) >= nonce
    assert contract.get_claimable(dep, seq_id) == amount
    assert count_log_lines(net.nodes, "REJECT proposal") == 0
    assert count_log_lines(net.nodes, "HALT") == 0


def test_withdrawal_slashed_while_pending_pays_only_the_remainder(
    byzantine_net: tuple[L1Localnet, bytes],
) -> None:
    net, _ = byzantine_net
    dep, seq_id, amount = net.deployment, BYZANTINE + 1, 100 * TOKEN
    owner = net.owner(BYZANTINE)
    started = time.monotonic()
    l1_locked_before = contract.get_sequencer(dep, seq_id).amount_wei
    send_and_wait(net, "partial withdrawal", lambda: contract.request_withdrawal(
        dep, owner.private_key, seq_id, amount))
    [queued] = net.query(f"/withdrawals/{seq_id}").withdrawals
    at_risk = l1_locked_before  # what is left locked plus the pending withdrawal

    # Down before the delay ends: slashed for downtime, from the pending withdrawal first
    net.nodes[BYZANTINE].stop()
    slash = wait_until(f"sequencer {seq_id} to be slashed for downtime",
                       lambda: next(iter(net.query(f"/slashes/{seq_id}").slashes), None), 60)
    net.nodes[BYZANTINE].start()
    slashed = at_risk * DOWNTIME_SLASH_BPS // 10_000
    print(f"slashed {slashed} wei {time.monotonic() - started:.1f}s after the request "
          f"(delay {DELAY_S}s)")
    assert slash.time_ns < queued.releasable_at_ns, "the delay ended before the slash"
    assert (int(slash.from_pending_wei), int(slash.from_locked_wei)) == (slashed, 0)
    [pending] = net.query(f"/withdrawals/{seq_id}").withdrawals
    remainder = amount - slashed
    assert (int(pending.amount_wei), int(pending.slashed_wei)) == (remainder, slashed)

    # The slash settles first: L1's queue shrinks by it and the lock stays
    slash_nonce = int(wait_until("the slash to be batched", lambda: next(
        (s.batch_nonce for s in net.query(f"/slashes/{seq_id}").slashes if s.batch_nonce),
        None), 30))
    slash_batch = decode_batch(bytes(net.query(f"/settlement/batch/{slash_nonce}").batch.batch))
    downtime = SLASH_REASON_BY_NAME["downtime"]
    assert list(slash_batch.slashes) == [Slash(seq_id, downtime, 0, slashed)]
    net.wait_for_batch_settled(slash_nonce)
    assert [w.amount_wei for w in contract.get_pending_withdrawals(dep, seq_id)] == [remainder]
    assert contract.get_sequencer(dep, seq_id).amount_wei == l1_locked_before - amount

    # After the delay only the remainder is released, and the claim pays exactly that
    nonce = int(wait_for_batched_withdrawal(net, seq_id).batch_nonce)
    release_batch = decode_batch(bytes(net.query(f"/settlement/batch/{nonce}").batch.batch))
    assert list(release_batch.releases) == [Release(seq_id, remainder)]
    net.wait_for_batch_settled(nonce)
    assert contract.get_claimable(dep, seq_id) == remainder
    owner_before = net.token_balance(owner.address)
    locking_before = net.token_balance(dep.locking_address)
    send_and_wait(net, "claim", lambda: contract.claim(dep, owner.private_key, seq_id))
    assert net.token_balance(owner.address) == owner_before + remainder
    assert net.token_balance(dep.locking_address) == locking_before - remainder
    assert list(net.query(f"/withdrawals/{seq_id}").withdrawals) == []
    assert contract.get_sequencer(dep, seq_id).amount_wei == l1_locked_before - amount
    print(f"request -> claim of the remainder: {time.monotonic() - started:.1f}s")
