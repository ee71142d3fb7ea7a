"""Free TCP ports for local networks, benchmarks and tests.

Asking the kernel for port 0 and closing the socket hands out a port from the
ephemeral range: any outgoing connection (a node dialing a peer, a client
polling RPC) may take it as its local port before our server binds it, and two
picks a few calls apart may return the same port. So ports come from just below
the ephemeral range, and a process hands them out in turn, so a port comes back
only after the whole range has gone by.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL_LOW = 32768
LOWEST_PORT = 10000

_lock = threading.Lock()
_next: int | None = None


def ephemeral_low() -> int:
    """The first port the kernel uses for outgoing connections."""
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_LOW


def port_range() -> range:
    high = ephemeral_low()
    return range(LOWEST_PORT, high) if high - LOWEST_PORT >= 1000 else range(1024, high)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """`count` distinct ports, free now, the next ones in this process's turn."""
    global _next
    ports = port_range()
    picked: list[int] = []
    with _lock:
        if _next is None:
            # Spread concurrent processes (two test runs at once) over the range.
            _next = ports.start + (os.getpid() * 7919) % len(ports)
        for _ in range(len(ports)):
            if len(picked) == count:
                break
            port = _next
            _next = ports.start if _next + 1 >= ports.stop else _next + 1
            if not _bindable(port):
                continue
            picked.append(port)
    if len(picked) < count:
        raise RuntimeError(f"no {count} free TCP ports left in {ports.start}-{ports.stop - 1}")
    return picked


def free_port() -> int:
    return free_ports(1)[0]
