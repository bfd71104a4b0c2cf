"""The per-client stream limit counts an IPv4 host, or an IPv6 /64 network, as one client."""

from __future__ import annotations

import pytest

from stackduck.entrypoints.grpc.peers import client_of


@pytest.mark.parametrize(
    ("peer", "client"),
    [
        ("ipv4:10.1.2.3:50123", "ipv4:10.1.2.3"),
        ("ipv6:[::1]:50123", "ipv6:::/64"),
        ("ipv6:%5B::1%5D:59026", "ipv6:::/64"),  # as grpc gives it: a URI
        ("ipv6:%5B2001:db8:1:2::9%5D:443", "ipv6:2001:db8:1:2::/64"),
        ("ipv6:%5Bfe80::1%25eth0%5D:443", "ipv6:fe80::/64"),
        ("ipv6:[2001:db8:1:2::9]:443", "ipv6:2001:db8:1:2::/64"),
        ("ipv6:[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:1", "ipv6:2001:db8:1:2::/64"),
        ("ipv6:[2001:DB8:1:2::9]:443", "ipv6:2001:db8:1:2::/64"),
        ("ipv6:[fe80::1%eth0]:443", "ipv6:fe80::/64"),
        ("ipv6:[::ffff:192.0.2.7]:9", "ipv4:192.0.2.7"),
        ("unix:/run/stackduck.sock", "unix:/run/stackduck.sock"),
        ("ipv6:[not an address]:1", "ipv6:[not an address]:1"),
        ("", ""),
    ],
)
def test_a_peer_counts_as_its_host_or_its_ipv6_network(peer: str, client: str) -> None:
    assert client_of(peer) == client


def test_every_address_of_one_ipv6_64_is_one_client_and_the_next_64_another() -> None:
    ours = {client_of(f"ipv6:[2001:db8:0:7::{n:x}]:{40000 + n}") for n in range(1, 500)}
    assert ours == {"ipv6:2001:db8:0:7::/64"}
    assert client_of("ipv6:[2001:db8:0:8::1]:1") != client_of("ipv6:[2001:db8:0:7::1]:1")
