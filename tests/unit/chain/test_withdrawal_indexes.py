"""The withdrawal indexes: the per-block sweep reads the due ones, and one sequencer's
withdrawals are read through its index, never by reading every queued withdrawal."""

from collections.abc import Iterator

from abci_app.chain import keys
from abci_app.chain.messages import state
from abci_app.chain.withdrawals import get_withdrawals, process_withdrawal_queue, put_withdrawal
from abci_app.store.kv import MemoryKV

QUEUED = 1000


class WithdrawalReadCountingKV(MemoryKV):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key: bytes) -> bytes | None:
        self.reads += key.startswith((keys.WITHDRAWAL_PREFIX, keys.WITHDRAWAL_DUE_INDEX_PREFIX))
        return super().get(key)

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        for item in super().iterate(prefix, start):
            self.reads += item[0].startswith((keys.WITHDRAWAL_PREFIX,
                                              keys.WITHDRAWAL_DUE_INDEX_PREFIX))
            yield item


def make_withdrawal(withdrawal_id: int, releasable_at_ns: int) -> state.PendingWithdrawal:
    return state.PendingWithdrawal(id=withdrawal_id, sequencer_id=withdrawal_id % 50 + 1,
                                   amount_wei="100", requested_at_ns=1,
                                   releasable_at_ns=releasable_at_ns, slashed_wei="0")


def test_a_block_reads_the_due_withdrawals_not_the_whole_queue() -> None:
    kv = WithdrawalReadCountingKV()
    for withdrawal_id in range(1, QUEUED + 1):  # due in a year, except two
        due_ns = 50 if withdrawal_id in (7, 3) else 10**18
        put_withdrawal(kv, make_withdrawal(withdrawal_id, due_ns))
    kv.reads = 0
    events = process_withdrawal_queue(kv, 100)
    assert [dict(e.attributes)["withdrawal_id"] for e in events] == ["3", "7"]  # request order
    assert kv.reads <= 10
    releasable = [w.id for w in get_withdrawals(kv) if w.releasable]
    assert releasable == [3, 7]
    kv.reads = 0
    assert process_withdrawal_queue(kv, 100) == []  # left the index
    assert kv.reads <= 2


def test_paid_or_slashed_to_nothing_a_withdrawal_leaves_the_index() -> None:
    kv = MemoryKV()
    withdrawal = make_withdrawal(1, 10**18)
    put_withdrawal(kv, withdrawal)
    assert len(list(kv.iterate(keys.WITHDRAWAL_DUE_INDEX_PREFIX))) == 1
    withdrawal.amount_wei = "0"
    put_withdrawal(kv, withdrawal)
    assert list(kv.iterate(keys.WITHDRAWAL_DUE_INDEX_PREFIX)) == []
    assert get_withdrawals(kv) == []


def test_one_sequencers_withdrawals_are_read_through_its_index() -> None:
    kv = WithdrawalReadCountingKV()
    for withdrawal_id in range(1, QUEUED + 1):  # sequencers 1..50, 20 each
        put_withdrawal(kv, make_withdrawal(withdrawal_id, 10**18))
    kv.reads = 0
    mine = get_withdrawals(kv, 7)
    assert [w.id for w in mine] == [w.id for w in get_withdrawals(kv) if w.sequencer_id == 7]
    assert len(mine) == QUEUED // 50
    kv.reads = 0
    get_withdrawals(kv, 7)
    assert kv.reads <= 2 * len(mine) + 1
