"""Crash injection for the crash-recovery tests.

`SEQSET_FAILPOINT=<name>:<height>` makes the process SIGKILL itself when it
reaches that point at that height. Read once at start; unset in production.
"""

import logging
import os
import signal

log = logging.getLogger("seqset.failpoint")

POINTS = ("finalize-done", "commit-before-write", "commit-after-write")


def _parse(spec: str) -> tuple[str, int] | None:
    if not spec:
        return None
    name, _, height = spec.partition(":")
    if name not in POINTS or not height.isdigit():
        raise ValueError(f"SEQSET_FAILPOINT must be <{'|'.join(POINTS)}>:<height>, got {spec!r}")
    return name, int(height)


_ARMED = _parse(os.environ.get("SEQSET_FAILPOINT", ""))


def failpoint(name: str, height: int) -> None:
    if _ARMED is not None and _ARMED == (name, height):
        log.warning("failpoint %s at height %d: killing the process", name, height)
        os.kill(os.getpid(), signal.SIGKILL)
