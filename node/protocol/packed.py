"""Packed snapshot records: the wire form a snapshot chunk takes to a subscriber that
asked for it (``Hello.packed_snapshots``), and its checks.

A chunk's ``packed`` bytes are records back to back, each ``key_len:u32 rec_len:u32
key record``, the record in the store's own encoding: ``hlc:8 op:1 origin_len:1 origin
seq:8 hash:16 value``. The sender copies what LevelDB holds; a receiver new to the key
range stores the record as it came, with no protobuf object and no re-encoding per
record. Why it can: ``unpack_chunk`` checks every field with the rules of a write
(``validate``), that keys rise strictly inside the chunk's range, that the lengths
add up to the bytes received, and recomputes each version hash, refusing the chunk if
one differs (a peer cannot choose what the digest XORs).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from node.pb import remesh_pb2 as pb
from node.protocol.apply import HASH_HEAD
from node.protocol.errors import Refused
from node.protocol.identity import ORIGIN_RE
from node.protocol.validate import MAX_SEQ, WriteLimits

REC_HEAD = struct.Struct(">QBB")  # hlc, op, len(origin); then origin, seq:8, hash:16, value
PACK_HEAD = struct.Struct(">II")  # len(key), len(record): a key may be 64 KiB (u16 is not)
U64 = struct.Struct(">Q")
REC_FIXED = REC_HEAD.size + 8 + 16  # a record's bytes besides its origin and value


@dataclass
class Unpacked:
    """A checked chunk: what merging it needs, computed in the one pass that checked it."""

    records: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key, record)
    tombstones: list[tuple[int, bytes]] = field(default_factory=list)  # (hlc, key)
    digest: int = 0  # XOR of the live records' version hashes
    puts: int = 0
    max_hlc: int = 0
    max_origin: str = ""  # the origin of the newest record (for a skew message)


def unpack_chunk(
    buf: bytes, lo: bytes, end: bytes, limits: WriteLimits, peer: str
) -> Unpacked:
    """Split and check a packed chunk covering ``lo <= key < end`` (``end`` empty: to the
    last key); raises ``Refused`` naming the first problem, before anything is merged."""
    out = Unpacked()
    records, tombs = out.records, out.tombstones
    good: set[bytes] = set()
    n, off, prev = len(buf), 0, None
    max_key, max_value = limits.max_key_bytes, limits.max_value_bytes
    head_at, rec_at, u64_at = PACK_HEAD.unpack_from, REC_HEAD.unpack_from, U64.unpack_from
    hash_head, blake2b = HASH_HEAD.pack, hashlib.blake2b
    put_op, delete_op = pb.PUT, pb.DELETE
    digest = puts = max_hlc = 0
    newest = b""

    def bad(why: str) -> Refused:
        return Refused(f"{peer} sent a bad packed snapshot record at byte {off}: {why}")

    while off < n:
        if off + 8 > n:
            raise bad("a truncated record header")
        klen, rlen = head_at(buf, off)
        ks = off + 8
        rs = ks + klen
        stop = rs + rlen
        if stop > n:
            raise bad(f"lengths {klen}+{rlen} run past the chunk's {n} bytes")
        if not 0 < klen <= max_key:
            raise bad(f"key of {klen} bytes; the limit is {max_key} (max_key_bytes)")
        if rlen < REC_FIXED:
            raise bad(f"a record of {rlen} bytes is too short")
        key = buf[ks:rs]
        if key < lo or (end and key >= end) or (prev is not None and key <= prev):
            raise Refused(f"{peer} sent a snapshot record outside its chunk's key range")
        prev = key
        hlc, op, olen = rec_at(buf, rs)
        os_ = rs + 10
        vs = os_ + olen + 24  # the value's offset
        if vs > stop:
            raise bad(f"an origin of {olen} bytes overruns the record")
        origin = buf[os_ : os_ + olen]
        if origin not in good:
            if not ORIGIN_RE.match(origin.decode("ascii", "replace")):
                raise bad(f"bad origin {origin[:80]!r}")
            good.add(origin)
        seq = u64_at(buf, os_ + olen)[0]
        if not 1 <= seq <= MAX_SEQ:
            raise bad(f"seq {seq} out of range")
        vlen = stop - vs
        if op == put_op:
            if vlen > max_value:
                raise bad(f"value of {vlen} bytes; the limit is {max_value} (max_value_bytes)")
        elif op != delete_op:
            raise bad(f"unknown op {op}; expected PUT or DELETE")
        elif vlen:
            raise bad("a DELETE carries no value")
        vhash = blake2b(hash_head(klen, hlc, op) + key + origin, digest_size=16).digest()
        if vhash != buf[vs - 16 : vs]:
            raise bad("its version hash does not match its key and version")
        records.append((key, buf[rs:stop]))
        if op == put_op:
            digest ^= int.from_bytes(vhash, "big")
            puts += 1
        else:
            tombs.append((hlc, key))
        if hlc > max_hlc:
            max_hlc, newest = hlc, origin
        off = stop
    out.digest, out.puts, out.max_hlc, out.max_origin = digest, puts, max_hlc, newest.decode()
    return out


def pack_record(key: bytes, record: bytes) -> tuple[bytes, bytes, bytes]:
    """One record's three parts on the wire (the sender joins a chunk's parts once)."""
    return PACK_HEAD.pack(len(key), len(record)), key, record
