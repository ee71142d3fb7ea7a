"""State-sync snapshots: taken at an interval after Commit, served and restored.

Format 1: the store's data records in key order, cut into chunks. Snapshot
metadata is the concatenated sha256 of each chunk, and the snapshot hash is
sha256(metadata), so a node restoring checks every chunk before applying it
and the store checks the rebuilt Merkle root against the trusted app hash.
"""

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from abci_app import pb
from abci_app.store.snapshot import SnapshotError, SnapshotRestorer, export_snapshot
from abci_app.store.state_store import StateStore

log = logging.getLogger("seqset.snapshots")

SNAPSHOT_FORMAT = 1
_Offer: Any = pb.abci.ResponseOfferSnapshot
_Apply: Any = pb.abci.ResponseApplySnapshotChunk


class SnapshotManager:
    def __init__(self, folder: Path, interval: int, keep_recent: int, chunk_bytes: int) -> None:
        self.folder = folder
        self.interval = interval
        self.keep_recent = keep_recent
        self.chunk_bytes = chunk_bytes
        self._restoring: tuple[pb.abci.Snapshot, bytes, SnapshotRestorer] | None = None
        self._applied: set[int] = set()

    # --- taking -----------------------------------------------------------------------

    def maybe_take(self, store: StateStore, height: int) -> None:
        if self.interval <= 0 or height % self.interval != 0:
            return
        snap_height, app_hash, chunks = export_snapshot(store, self.chunk_bytes)
        hashes = [hashlib.sha256(c).digest() for c in chunks]
        final = self.folder / str(snap_height)
        staging = self.folder / f".{snap_height}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for index, chunk in enumerate(chunks):
            (staging / f"{index:06d}").write_bytes(chunk)
        meta = {"height": snap_height, "format": SNAPSHOT_FORMAT, "chunks": len(chunks),
                "app_hash": app_hash.hex(), "chunk_hashes": [h.hex() for h in hashes]}
        (staging / "meta.json").write_text(json.dumps(meta))
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        log.info("snapshot taken at height %d: %d chunks", snap_height, len(chunks))
        self._prune()

    def _prune(self) -> None:
        for old in self._heights()[self.keep_recent:]:
            shutil.rmtree(self.folder / str(old), ignore_errors=True)

    def _heights(self) -> list[int]:
        if not self.folder.is_dir():
            return []
        found = [int(p.name) for p in self.folder.iterdir()
                 if p.name.isdigit() and (p / "meta.json").is_file()]
        return sorted(found, reverse=True)

    def _snapshot(self, height: int) -> pb.abci.Snapshot:
        meta = json.loads((self.folder / str(height) / "meta.json").read_text())
        metadata = b"".join(bytes.fromhex(h) for h in meta["chunk_hashes"])
        return pb.abci.Snapshot(height=height, format=SNAPSHOT_FORMAT, chunks=meta["chunks"],
                                hash=hashlib.sha256(metadata).digest(), metadata=metadata)

    # --- ABCI ---------------------------------------------------------------------------

    def handle(self, store: StateStore, request: pb.abci.Request) -> pb.abci.Response:
        method = request.WhichOneof("value")
        if method == "list_snapshots":
            snaps = [self._snapshot(h) for h in self._heights()]
            return pb.abci.Response(list_snapshots=pb.abci.ResponseListSnapshots(snapshots=snaps))
        if method == "load_snapshot_chunk":
            return pb.abci.Response(load_snapshot_chunk=self._load(request.load_snapshot_chunk))
        if method == "offer_snapshot":
            return pb.abci.Response(offer_snapshot=self._offer(store, request.offer_snapshot))
        return pb.abci.Response(apply_snapshot_chunk=self._apply(request.apply_snapshot_chunk))

    def _load(self, req: pb.abci.RequestLoadSnapshotChunk) -> pb.abci.ResponseLoadSnapshotChunk:
        path = self.folder / str(req.height) / f"{req.chunk:06d}"
        if req.format != SNAPSHOT_FORMAT or not path.is_file():
            return pb.abci.ResponseLoadSnapshotChunk()
        return pb.abci.ResponseLoadSnapshotChunk(chunk=path.read_bytes())

    def _offer(self, store: StateStore, req: pb.abci.RequestOfferSnapshot) -> Any:
        snap = req.snapshot
        if snap.format != SNAPSHOT_FORMAT:
            return _Offer(result=_Offer.REJECT_FORMAT)
        if (snap.chunks == 0 or len(snap.metadata) != 32 * snap.chunks
                or hashlib.sha256(snap.metadata).digest() != snap.hash):
            log.warning("rejecting snapshot at height %d: inconsistent metadata", snap.height)
            return _Offer(result=_Offer.REJECT)
        if store.last_height != 0:
            log.warning("rejecting snapshot: the store already holds height %d", store.last_height)
            return _Offer(result=_Offer.ABORT)
        self._restoring = (pb.abci.Snapshot(), bytes(req.app_hash), SnapshotRestorer(store))
        self._restoring[0].CopyFrom(snap)
        self._applied = set()
        log.info("restoring snapshot at height %d (%d chunks)", snap.height, snap.chunks)
        return _Offer(result=_Offer.ACCEPT)

    def _apply(self, req: pb.abci.RequestApplySnapshotChunk) -> Any:
        if self._restoring is None:
            return _Apply(result=_Apply.ABORT)
        snap, app_hash, restorer = self._restoring
        index = int(req.index)
        expected = snap.metadata[32 * index: 32 * index + 32]
        if index >= snap.chunks or hashlib.sha256(req.chunk).digest() != expected:
            log.warning("snapshot chunk %d from %s failed its hash check", index, req.sender)
            return _Apply(result=_Apply.RETRY, refetch_chunks=[index],
                          reject_senders=[req.sender] if req.sender else [])
        try:
            if index not in self._applied:
                restorer.apply_chunk(index, bytes(req.chunk))
                self._applied.add(index)
            if len(self._applied) == snap.chunks:
                restorer.finish(int(snap.height), app_hash)
                self._restoring = None
                log.info("snapshot at height %d restored", snap.height)
        except SnapshotError as exc:
            # A chunk that matches its hash but is malformed means a dishonest snapshot.
            log.error("snapshot at height %d refused: %s", snap.height, exc)
            self._restoring = None
            return _Apply(result=_Apply.REJECT_SNAPSHOT)
        return _Apply(result=_Apply.ACCEPT)
