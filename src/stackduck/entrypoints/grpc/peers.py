"""Who a ConsumeJobs stream comes from, for the per-client stream limit
(STACKDUCK_MAX_STREAMS_PER_CLIENT)."""

from __future__ import annotations

import ipaddress
from urllib.parse import unquote

#: An IPv6 host is commonly given a whole /64: counting its addresses one by one would
#: let it open streams without end, one address each.
IPV6_CLIENT_PREFIX = 64


def client_of(peer: str) -> str:
    """The client a gRPC peer counts as: an IPv4 peer's host ("ipv4:1.2.3.4:5678" →
    "ipv4:1.2.3.4"), an IPv6 peer's /64 network ("ipv6:[2001:db8:1:2::9]:5678" →
    "ipv6:2001:db8:1:2::/64"; an IPv4-mapped one as IPv4), anything else as it is. grpc
    gives the peer as a URI: "ipv6:%5B::1%5D:5678" is [::1] port 5678."""
    kind, _, address = peer.partition(":")
    address = unquote(address)
    if kind == "ipv4":
        return f"ipv4:{address.rsplit(':', 1)[0]}"
    if kind != "ipv6":
        return peer
    host = address.rsplit(":", 1)[0].strip("[]").split("%", 1)[0]  # no port, brackets, zone
    try:
        ip = ipaddress.IPv6Address(host)
    except ValueError:
        return peer
    if ip.ipv4_mapped is not None:
        return f"ipv4:{ip.ipv4_mapped}"
    return f"ipv6:{ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False)}"
