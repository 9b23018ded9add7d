"""The suite itself refuses outbound connections."""

import socket

import pytest

from tests.conftest import OutboundNetworkBlocked


def test_outbound_connection_is_blocked() -> None:
    with socket.socket() as sock, pytest.raises(OutboundNetworkBlocked):
        sock.connect(("192.0.2.1", 80))


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())
