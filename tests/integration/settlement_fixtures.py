"""Building, signing and submitting settlement batches in tests against a real anvil."""

from __future__ import annotations

from collections.abc import Sequence

from web3.types import TxReceipt

from abci_app import settlement as s
from abci_app.l1 import contract as c
from tests.integration.l1_fixtures import L1Env, make_signer, make_signer_key

MAX_SIGNER_INDEX = 16  # make_signer indices the helpers try when no signers are named


def make_batch(
    env: L1Env,
    *,
    releases: Sequence[s.Release] = (),
    slashes: Sequence[s.Slash] = (),
    rewards: Sequence[s.Reward] = (),
    lock_params: s.LockParams | None = None,
    nonce: int | None = None,
) -> s.Batch:
    """A batch for this deployment; the nonce defaults to the next one."""
    return s.Batch(
        nonce=c.get_last_batch_nonce(env.dep) + 1 if nonce is None else nonce,
        chain_id=env.node.w3.eth.chain_id,
        verifying_contract=bytes.fromhex(env.dep.locking_address[2:]),
        releases=tuple(releases), slashes=tuple(slashes), rewards=tuple(rewards),
        lock_params=lock_params,
    )  # fmt: skip


def get_registered_signer_indices(env: L1Env) -> list[int]:
    """The make_signer indices that are some sequencer's current signer."""
    of_signer = env.dep.locking.functions.sequencerOfSigner
    return [i for i in range(MAX_SIGNER_INDEX) if of_signer(make_signer(i)).call() != 0]


def sign_batch(batch: s.Batch, signer_indices: Sequence[int]) -> list[s.BatchSignature]:
    """Signatures by the make_signer keys, sorted by signer address as `settle` requires."""
    digest = s.compute_batch_digest(batch)
    return s.sort_signatures(s.sign_digest(digest, make_signer_key(i)) for i in signer_indices)


def settle_batch(
    env: L1Env, batch: s.Batch, signer_indices: Sequence[int] | None = None
) -> TxReceipt:
    """Signs (by every registered signer unless named) and submits from the outsider."""
    indices = get_registered_signer_indices(env) if signer_indices is None else signer_indices
    signatures = sign_batch(batch, indices)
    return c.settle(env.dep, env.outsider.private_key, batch, signatures)


def settle_items(
    env: L1Env,
    *,
    releases: Sequence[s.Release] = (),
    slashes: Sequence[s.Slash] = (),
    rewards: Sequence[s.Reward] = (),
    lock_params: s.LockParams | None = None,
) -> TxReceipt:
    """Settles the next batch with these items, signed by every registered signer."""
    batch = make_batch(env, releases=releases, slashes=slashes, rewards=rewards,
                       lock_params=lock_params)  # fmt: skip
    return settle_batch(env, batch)
