#!/usr/bin/env python3
"""A small, self-contained writer of MaxMind DB (.mmdb) files, for tests.

It writes the format described at https://maxmind.github.io/MaxMind-DB/
(binary format 2.0): a binary search tree over the address bits, a 16-byte
zero separator, a data section in the typed control-byte encoding, and the
metadata map after the "\\xAB\\xCD\\xEFMaxMind.com" marker. Files it writes
are read by libmaxminddb (vigie's GeoIp, `mmdblookup`).

    write_mmdb(path, [(cidr, record), ...], database_type="vigie-test-City")

`cidr` is an IPv4 or IPv6 network ("127.1.0.0/16", "2001:db8::/32"); host
bits must be zero. `record` is any encodable value, usually a dict shaped
like GeoIP2-City / GeoLite2-ASN records:

    {"country": {"iso_code": "FR"},
     "location": {"latitude": 48.85, "longitude": 2.35},
     "autonomous_system_number": 64500,
     "traits": {"is_anonymous_vpn": True}}

Python values map to MMDB types as follows: str -> utf8_string, bytes ->
bytes, bool -> boolean, float -> double, int -> uint32 (uint64 / uint128 when
larger, int32 when negative), dict -> map (str keys), list/tuple -> array.
The wrappers Uint16, Uint32, Uint64, Uint128, Int32 and Float32 force a
type. Overlapping networks are allowed: the more specific one wins for its
addresses, whatever the order of the list.

With ip_version=6 (the default, like GeoLite2), IPv4 networks live at ::/96,
which is where libmaxminddb looks up IPv4 addresses; ::ffff:0:0/96 is
aliased to the same subtree so IPv4-mapped addresses find them too. With
ip_version=4 only IPv4 networks are accepted.

Usage: python3 mmdb_writer.py OUT.mmdb   (writes the default test database)
"""

import ipaddress
import struct
import sys
import time

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"

# Type numbers from the specification.
T_POINTER = 1
T_UTF8_STRING = 2
T_DOUBLE = 3
T_BYTES = 4
T_UINT16 = 5
T_UINT32 = 6
T_MAP = 7
T_INT32 = 8
T_UINT64 = 9
T_UINT128 = 10
T_ARRAY = 11
T_BOOLEAN = 14
T_FLOAT = 15


class _Typed:
    """A value that must be written with one specific MMDB type."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.value)


class Uint16(_Typed):
    pass


class Uint32(_Typed):
    pass


class Uint64(_Typed):
    pass


class Uint128(_Typed):
    pass


class Int32(_Typed):
    pass


class Float32(_Typed):
    pass


def _control(type_num, size):
    """Control byte(s) for a value of `type_num` with payload size `size`."""
    if size < 0 or size >= 65821 + (1 << 24):
        raise ValueError("MMDB value too large: %d" % size)
    if size < 29:
        size_bits, extra = size, b""
    elif size < 285:
        size_bits, extra = 29, bytes([size - 29])
    elif size < 65821:
        size_bits, extra = 30, struct.pack(">H", size - 285)
    else:
        size_bits, extra = 31, struct.pack(">I", size - 65821)[1:]
    if type_num <= 7:
        return bytes([(type_num << 5) | size_bits]) + extra
    # Extended type: type bits 0, the next byte holds type - 7.
    return bytes([size_bits, type_num - 7]) + extra


def _uint_bytes(value, max_bytes, what):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("%s needs a non-negative int, got %r" % (what, value))
    raw = value.to_bytes(max_bytes, "big") if value else b""
    return raw.lstrip(b"\x00")


def _pointer(offset):
    """A pointer to `offset` in the data section."""
    if offset < 2048:
        return bytes([0x20 | (offset >> 8), offset & 0xFF])
    if offset < 2048 + (1 << 19):
        v = offset - 2048
        return bytes([0x28 | (v >> 16), (v >> 8) & 0xFF, v & 0xFF])
    if offset < 526336 + (1 << 27):
        v = offset - 526336
        return bytes([0x30 | (v >> 24)]) + struct.pack(">I", v)[1:]
    return bytes([0x38]) + struct.pack(">I", offset)


class _DataSection:
    """Accumulates encoded values; identical values and strings are stored
    once and referred to by pointers."""

    def __init__(self, use_pointers=True):
        # libmaxminddb reports a value found at offset 0 as "no data" (0 is
        # its not-found marker), so the section opens with an unreferenced
        # empty map and no value a lookup can reach lives at offset 0.
        self.buf = bytearray(_control(T_MAP, 0))
        self.use_pointers = use_pointers
        self._values = {}  # encoded bytes -> offset of a top-level value
        self._strings = {}  # str -> offset of its utf8_string

    def add(self, value):
        """Appends `value` (deduplicated) and returns its offset."""
        encoded = self.encode(value)
        if encoded not in self._values:
            self._values[encoded] = len(self.buf)
            self.buf += encoded
        return self._values[encoded]

    def _string(self, s):
        raw = s.encode("utf-8")
        direct = _control(T_UTF8_STRING, len(raw)) + raw
        if not self.use_pointers or len(direct) <= 3:
            return direct
        if s not in self._strings:
            # The string is stored once, ahead of the value being encoded
            # (which is appended later), and every use points at it.
            self._strings[s] = len(self.buf)
            self.buf += direct
        return _pointer(self._strings[s])

    def encode(self, value):
        if isinstance(value, Uint16):
            return self._uint(T_UINT16, value.value, 2)
        if isinstance(value, Uint32):
            return self._uint(T_UINT32, value.value, 4)
        if isinstance(value, Uint64):
            return self._uint(T_UINT64, value.value, 8)
        if isinstance(value, Uint128):
            return self._uint(T_UINT128, value.value, 16)
        if isinstance(value, Int32):
            v = value.value
            if not -(1 << 31) <= v < (1 << 31):
                raise ValueError("int32 out of range: %r" % v)
            raw = struct.pack(">i", v) if v < 0 else _uint_bytes(v, 4, "int32")
            return _control(T_INT32, len(raw)) + raw
        if isinstance(value, Float32):
            return _control(T_FLOAT, 4) + struct.pack(">f", value.value)
        if isinstance(value, bool):
            return _control(T_BOOLEAN, 1 if value else 0)
        if isinstance(value, int):
            if value < 0:
                return self.encode(Int32(value))
            if value < (1 << 32):
                return self._uint(T_UINT32, value, 4)
            if value < (1 << 64):
                return self._uint(T_UINT64, value, 8)
            return self._uint(T_UINT128, value, 16)
        if isinstance(value, float):
            return _control(T_DOUBLE, 8) + struct.pack(">d", value)
        if isinstance(value, str):
            return self._string(value)
        if isinstance(value, (bytes, bytearray)):
            return _control(T_BYTES, len(value)) + bytes(value)
        if isinstance(value, dict):
            out = bytearray(_control(T_MAP, len(value)))
            for k, v in value.items():
                if not isinstance(k, str):
                    raise ValueError("map keys must be str, got %r" % (k,))
                out += self._string(k)
                out += self.encode(v)
            return bytes(out)
        if isinstance(value, (list, tuple)):
            out = bytearray(_control(T_ARRAY, len(value)))
            for v in value:
                out += self.encode(v)
            return bytes(out)
        raise TypeError("cannot encode %r in an MMDB" % (value,))

    @staticmethod
    def _uint(type_num, value, max_bytes):
        if value >= 1 << (8 * max_bytes):
            raise ValueError("value %d does not fit in %d bytes" % (value, max_bytes))
        raw = _uint_bytes(value, max_bytes, "unsigned value")
        return _control(type_num, len(raw)) + raw


class _Node:
    __slots__ = ("children",)

    def __init__(self):
        # Each child is None (no data), a _Node, or ("data", offset).
        self.children = [None, None]


def _bits(network, depth):
    """The first network.prefixlen bits of `network` placed in a tree of
    `depth` bits (IPv4 networks go to ::/96 in an IPv6 tree)."""
    addr = int(network.network_address)
    width = network.max_prefixlen
    prefix = network.prefixlen
    if width == 32 and depth == 128:
        prefix += 96
        width = 128
    return [(addr >> (width - 1 - i)) & 1 for i in range(prefix)]


def _insert(root, bits, leaf):
    node = root
    for i, bit in enumerate(bits):
        if i == len(bits) - 1:
            node.children[bit] = leaf
            return
        child = node.children[bit]
        if not isinstance(child, _Node):
            # Split a less specific network (or an empty record) in two.
            split = _Node()
            split.children = [child, child]
            node.children[bit] = split
            child = split
        node = child
    raise ValueError("a network of prefix length 0 is not supported")


def write_mmdb(
    path,
    networks,
    database_type="vigie-test-City",
    ip_version=6,
    record_size=None,
    languages=("en",),
    description=None,
    build_epoch=None,
    use_pointers=True,
):
    """Writes an MMDB file at `path` mapping each (cidr, record) network.

    record_size is 24, 28 or 32; None picks the smallest that fits.
    use_pointers=False writes every value inline (no pointer type).
    Raises ValueError on malformed networks or unencodable records."""
    if ip_version not in (4, 6):
        raise ValueError("ip_version must be 4 or 6")
    depth = 32 if ip_version == 4 else 128
    data = _DataSection(use_pointers)

    parsed = []
    for cidr, record in networks:
        net = ipaddress.ip_network(cidr, strict=True)
        if net.version == 6 and ip_version == 4:
            raise ValueError("IPv6 network %s in an ip_version 4 database" % cidr)
        parsed.append((net, record))
    # Less specific networks first, so a more specific one splits them.
    parsed.sort(key=lambda nr: len(_bits(nr[0], depth)))

    root = _Node()
    for net, record in parsed:
        _insert(root, _bits(net, depth), ("data", data.add(record)))

    if ip_version == 6:
        # Alias ::ffff:0:0/96 (IPv4-mapped) to the IPv4 subtree at ::/96.
        ipv4_root = root
        for _ in range(96):
            nxt = ipv4_root.children[0]
            if not isinstance(nxt, _Node):
                ipv4_root = None
                break
            ipv4_root = nxt
        if ipv4_root is not None:
            mapped = _bits(ipaddress.ip_network("::ffff:0:0/96"), 128)
            node = root
            for bit in mapped[:-1]:
                child = node.children[bit]
                if not isinstance(child, _Node):
                    child = _Node()
                    child.children = [node.children[bit], node.children[bit]]
                    node.children[bit] = child
                node = child
            if node.children[mapped[-1]] is None:
                node.children[mapped[-1]] = ipv4_root

    # Number the nodes breadth-first; the root is node 0.
    order, index = [root], {id(root): 0}
    i = 0
    while i < len(order):
        for child in order[i].children:
            if isinstance(child, _Node) and id(child) not in index:
                index[id(child)] = len(order)
                order.append(child)
        i += 1
    node_count = len(order)

    def record_value(child):
        if child is None:
            return node_count
        if isinstance(child, _Node):
            return index[id(child)]
        return node_count + 16 + child[1]

    largest = node_count + 16 + len(data.buf)
    if record_size is None:
        record_size = next(rs for rs in (24, 28, 32) if largest < (1 << rs))
    if record_size not in (24, 28, 32):
        raise ValueError("record_size must be 24, 28 or 32")
    if largest >= 1 << record_size:
        raise ValueError("database too large for record_size %d" % record_size)

    tree = bytearray()
    for node in order:
        left, right = (record_value(c) for c in node.children)
        if record_size == 24:
            tree += left.to_bytes(3, "big") + right.to_bytes(3, "big")
        elif record_size == 28:
            middle = ((left >> 24) << 4) | (right >> 24)
            tree += (left & 0xFFFFFF).to_bytes(3, "big") + bytes([middle])
            tree += (right & 0xFFFFFF).to_bytes(3, "big")
        else:
            tree += left.to_bytes(4, "big") + right.to_bytes(4, "big")

    metadata = {
        "node_count": Uint32(node_count),
        "record_size": Uint16(record_size),
        "ip_version": Uint16(ip_version),
        "database_type": database_type,
        "languages": list(languages),
        "binary_format_major_version": Uint16(2),
        "binary_format_minor_version": Uint16(0),
        "build_epoch": Uint64(int(time.time()) if build_epoch is None else build_epoch),
        "description": description or {"en": "vigie test database"},
    }
    meta = _DataSection(use_pointers=False).encode(metadata)

    with open(path, "wb") as f:
        f.write(bytes(tree))
        f.write(b"\x00" * 16)
        f.write(bytes(data.buf))
        f.write(METADATA_MARKER)
        f.write(meta)


def _city(country, lat, lon, asn, **traits):
    record = {
        "country": {"iso_code": country},
        "location": {"latitude": lat, "longitude": lon},
        "autonomous_system_number": asn,
    }
    if traits:
        record["traits"] = traits
    return record


# The database the C++ and integration tests use (documentation ASNs).
DEFAULT_NETWORKS = [
    ("127.1.0.0/16", _city("FR", 48.8566, 2.3522, 64500)),  # Paris
    ("127.2.0.0/16", _city("AU", -33.8688, 151.2093, 64501)),  # Sydney
    ("127.3.0.0/16", _city("FR", 45.764, 4.8357, 64502)),  # Lyon
    ("127.4.0.0/16", _city("NL", 52.37, 4.89, 64503, is_anonymous_vpn=True)),  # VPN
]


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: %s OUT.mmdb\n" % argv[0])
        return 2
    write_mmdb(argv[1], DEFAULT_NETWORKS)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
