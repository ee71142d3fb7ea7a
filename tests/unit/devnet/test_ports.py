"""Ports for local networks never come from the range outgoing connections use,
and one process never hands out the same port twice in a row of picks: either
let a node's app lose its port between the pick and the bind."""

import socket

from abci_app.devnet.ports import ephemeral_low, free_port, free_ports


def test_ports_are_below_the_ephemeral_range() -> None:
    low = ephemeral_low()
    assert all(port < low for port in free_ports(200))


def test_a_process_never_hands_out_a_port_twice_in_a_row_of_picks() -> None:
    picked = free_ports(50) + [free_port() for _ in range(300)]
    assert len(set(picked)) == len(picked)


def test_a_port_in_use_is_skipped() -> None:
    before = free_port()
    with socket.socket() as server:
        server.bind(("127.0.0.1", before + 1))  # the next port in this process's turn
        server.listen()
        assert free_port() != before + 1


def test_picked_ports_bind() -> None:
    for port in free_ports(20):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
