#!/usr/bin/env python3
"""A small, independent model of a stock Stacks p2p peer (standard library only).

Written from /work/shared/PROTOCOL.md (stacks-core 4.0.2) alone, to test that the relay
interoperates with something that was not derived from its own sources.  Section numbers
below ("§2", "§4.3", ...) refer to PROTOCOL.md; "[V:M1]" etc. to vectors/VECTORS.md.

Contents
  * secp256k1 (affine/Jacobian arithmetic, RFC 6979 + low-S recoverable signing,
    public key recovery, "recover and compare" verification as in §2)
  * SHA-512/256 (hashlib 'sha512_256'), hash160 = RIPEMD160(SHA256(x)), with a pure
    Python RIPEMD-160 if the local OpenSSL does not provide one
  * StacksMessage codec (§1.2-§1.7): preamble, relayers, payload types
  * signing / verification of messages (§2), random seq per message (§3)
  * StacksPeer: a TCP client behaving like a stock node on a connection it dialed:
    handshake, preamble validation (§4.3), Ping->Pong, answers to requests, push of
    Transaction messages, collection of pushes it receives.

CLI (see `python3 stacks_peer.py -h`):
  selftest                      check the codecs/crypto against VECTORS.md byte vectors,
                                then two peers against each other over loopback
  connect HOST:PORT [...]       handshake with a relay/node, optionally push a tx, listen
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import queue
import re
import secrets
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

# =========================================================================================
# Hashes
# =========================================================================================


def sha512_256(data: bytes) -> bytes:
    """H(x) of the spec: FIPS 180-4 SHA-512/256 with its own IV (not truncated SHA-512)."""
    return hashlib.new("sha512_256", data).digest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --- RIPEMD-160 in pure Python (used only when hashlib lacks it) ------------------------

_RMD_R = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9, 5, 2, 14, 11, 8,
    3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12,
    1, 9, 11, 10, 0, 8, 12, 4, 13, 3, 7, 15, 14, 5, 6, 2,
    4, 0, 5, 9, 7, 12, 2, 10, 14, 1, 3, 8, 11, 6, 15, 13,
]
_RMD_RP = [
    5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12,
    6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8, 12, 4, 9, 1, 2,
    15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13,
    8, 6, 4, 1, 3, 11, 15, 0, 5, 12, 2, 13, 9, 7, 10, 14,
    12, 15, 10, 4, 1, 5, 8, 7, 6, 2, 13, 14, 0, 3, 9, 11,
]
_RMD_S = [
    11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8,
    7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15, 9, 11, 7, 13, 12,
    11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5,
    11, 12, 14, 15, 14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12,
    9, 15, 5, 11, 6, 8, 13, 12, 5, 12, 13, 14, 11, 8, 5, 6,
]
_RMD_SP = [
    8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6,
    9, 13, 15, 7, 12, 8, 9, 11, 7, 7, 12, 7, 6, 15, 13, 11,
    9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5,
    15, 5, 8, 11, 14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8,
    8, 5, 12, 9, 12, 5, 14, 6, 8, 13, 6, 5, 15, 13, 11, 11,
]
_RMD_K = [0x00000000, 0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xA953FD4E]
_RMD_KP = [0x50A28BE6, 0x5C4DD124, 0x6D703EF3, 0x7A6D76E9, 0x00000000]
_M32 = 0xFFFFFFFF


def _rmd_f(j: int, x: int, y: int, z: int) -> int:
    # The five boolean functions of RIPEMD-160, selected by round (j // 16).
    r = j // 16
    if r == 0:
        return x ^ y ^ z
    if r == 1:
        return (x & y) | (~x & z)
    if r == 2:
        return (x | ~y) ^ z
    if r == 3:
        return (x & z) | (y & ~z)
    return x ^ (y | ~z)


def _rol32(x: int, n: int) -> int:
    x &= _M32
    return ((x << n) | (x >> (32 - n))) & _M32


def ripemd160_pure(data: bytes) -> bytes:
    """RIPEMD-160 (Dobbertin/Bosselaers/Preneel 1996), straightforward implementation."""
    h = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
    # MD4-style padding, little-endian 64-bit bit length.
    msg = bytearray(data)
    bitlen = (8 * len(data)) & 0xFFFFFFFFFFFFFFFF
    msg.append(0x80)
    while len(msg) % 64 != 56:
        msg.append(0)
    msg += struct.pack("<Q", bitlen)
    for off in range(0, len(msg), 64):
        x = struct.unpack("<16I", bytes(msg[off:off + 64]))
        al, bl, cl, dl, el = h
        ar, br, cr, dr, er = h
        for j in range(80):
            t = (al + _rmd_f(j, bl, cl, dl) + x[_RMD_R[j]] + _RMD_K[j // 16]) & _M32
            t = (_rol32(t, _RMD_S[j]) + el) & _M32
            al, el, dl, cl, bl = el, dl, _rol32(cl, 10), bl, t
            t = (ar + _rmd_f(79 - j, br, cr, dr) + x[_RMD_RP[j]] + _RMD_KP[j // 16]) & _M32
            t = (_rol32(t, _RMD_SP[j]) + er) & _M32
            ar, er, dr, cr, br = er, dr, _rol32(cr, 10), br, t
        t = (h[1] + cl + dr) & _M32
        h[1] = (h[2] + dl + er) & _M32
        h[2] = (h[3] + el + ar) & _M32
        h[3] = (h[4] + al + br) & _M32
        h[4] = (h[0] + bl + cr) & _M32
        h[0] = t
    return struct.pack("<5I", *h)


def _detect_ripemd160() -> Callable[[bytes], bytes]:
    try:
        hashlib.new("ripemd160", b"")

        def _hl(data: bytes) -> bytes:
            return hashlib.new("ripemd160", data).digest()

        return _hl
    except (ValueError, TypeError):
        return ripemd160_pure


ripemd160 = _detect_ripemd160()


def hash160(data: bytes) -> bytes:
    """hash160(x) = RIPEMD160(SHA256(x)) (spec conventions)."""
    return ripemd160(sha256(data))


# =========================================================================================
# secp256k1
# =========================================================================================

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8
G = (GX, GY)

Point = Optional[Tuple[int, int]]  # affine point, None = point at infinity


def _jac_double(pt):
    x, y, z = pt
    if y == 0 or z == 0:
        return (0, 1, 0)
    yy = y * y % P
    s = 4 * x * yy % P
    m = 3 * x * x % P  # curve a = 0
    x3 = (m * m - 2 * s) % P
    y3 = (m * (s - x3) - 8 * yy * yy) % P
    z3 = 2 * y * z % P
    return (x3, y3, z3)


def _jac_add(p1, p2):
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if z1 == 0:
        return p2
    if z2 == 0:
        return p1
    z1z1 = z1 * z1 % P
    z2z2 = z2 * z2 % P
    u1 = x1 * z2z2 % P
    u2 = x2 * z1z1 % P
    s1 = y1 * z2 * z2z2 % P
    s2 = y2 * z1 * z1z1 % P
    if u1 == u2:
        if s1 != s2:
            return (0, 1, 0)
        return _jac_double(p1)
    h = (u2 - u1) % P
    r = (s2 - s1) % P
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    y3 = (r * (v - x3) - s1 * hhh) % P
    z3 = h * z1 * z2 % P
    return (x3, y3, z3)


def _to_jac(pt: Point):
    return (0, 1, 0) if pt is None else (pt[0], pt[1], 1)


def _from_jac(pt) -> Point:
    x, y, z = pt
    if z == 0:
        return None
    zi = pow(z, -1, P)
    zi2 = zi * zi % P
    return (x * zi2 % P, y * zi2 * zi % P)


def point_mul(k: int, pt: Point) -> Point:
    """k * pt by double-and-add (not constant time; this is a test peer)."""
    k %= N
    acc = (0, 1, 0)
    add = _to_jac(pt)
    while k:
        if k & 1:
            acc = _jac_add(acc, add)
        add = _jac_double(add)
        k >>= 1
    return _from_jac(acc)


def point_add(a: Point, b: Point) -> Point:
    return _from_jac(_jac_add(_to_jac(a), _to_jac(b)))


def on_curve(pt: Point) -> bool:
    if pt is None:
        return False
    x, y = pt
    return (y * y - x * x * x - 7) % P == 0


def lift_x(x: int, odd: bool) -> Point:
    """Curve point with this x and y parity, or None if x is not on the curve."""
    if x >= P:
        return None
    y2 = (pow(x, 3, P) + 7) % P
    y = pow(y2, (P + 1) // 4, P)
    if y * y % P != y2:
        return None
    if (y & 1) != int(odd):
        y = P - y
    return (x, y)


def pubkey_serialize(pt: Point, compressed: bool = True) -> bytes:
    x, y = pt
    if compressed:
        return bytes([2 + (y & 1)]) + x.to_bytes(32, "big")
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def pubkey_parse(data: bytes) -> Point:
    """Parse SEC1 compressed (33) or uncompressed (65) public key; raises ValueError."""
    if len(data) == 33 and data[0] in (2, 3):
        pt = lift_x(int.from_bytes(data[1:], "big"), data[0] == 3)
        if pt is None:
            raise ValueError("public key x not on curve")
        return pt
    if len(data) == 65 and data[0] == 4:
        pt = (int.from_bytes(data[1:33], "big"), int.from_bytes(data[33:], "big"))
        if pt[0] >= P or pt[1] >= P or not on_curve(pt):
            raise ValueError("public key not on curve")
        return pt
    raise ValueError("bad public key encoding")


def _rfc6979_nonces(priv: int, digest: bytes):
    """Deterministic nonce candidates per RFC 6979 (HMAC-SHA256), as libsecp256k1 does
    with no extra entropy: key = priv(32) || msg(32, reduced mod n)."""
    x = priv.to_bytes(32, "big")
    h = (int.from_bytes(digest, "big") % N).to_bytes(32, "big")
    k = b"\x00" * 32
    v = b"\x01" * 32
    k = hmac.new(k, v + b"\x00" + x + h, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    k = hmac.new(k, v + b"\x01" + x + h, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    while True:
        v = hmac.new(k, v, hashlib.sha256).digest()
        cand = int.from_bytes(v, "big")
        if 1 <= cand < N:
            yield cand
        k = hmac.new(k, v + b"\x00", hashlib.sha256).digest()
        v = hmac.new(k, v, hashlib.sha256).digest()


def sign_recoverable(priv: int, digest: bytes) -> bytes:
    """65-byte recoverable signature recid || r || s (the spec's "VRS", §2 step 4),
    RFC 6979 nonce, low-S normalised (the recid parity bit flips with s)."""
    if len(digest) != 32:
        raise ValueError("digest must be 32 bytes")
    e = int.from_bytes(digest, "big") % N
    for k in _rfc6979_nonces(priv, digest):
        rp = point_mul(k, G)
        r = rp[0] % N
        if r == 0:
            continue
        s = pow(k, -1, N) * (e + r * priv) % N
        if s == 0:
            continue
        recid = (rp[1] & 1) | (2 if rp[0] >= N else 0)
        if s > N // 2:
            s = N - s
            recid ^= 1
        return bytes([recid]) + r.to_bytes(32, "big") + s.to_bytes(32, "big")
    raise AssertionError("unreachable")


def recover_pubkey(digest: bytes, sig: bytes) -> Point:
    """Recover the signer's public key from a 65-byte recid||r||s signature.
    Raises ValueError when recovery fails (bad recid, r/s out of range, x not on curve)."""
    if len(sig) != 65 or len(digest) != 32:
        raise ValueError("bad signature/digest length")
    recid = sig[0]
    if recid > 3:
        raise ValueError("recovery id out of range")
    r = int.from_bytes(sig[1:33], "big")
    s = int.from_bytes(sig[33:65], "big")
    if not (1 <= r < N) or not (1 <= s < N):
        raise ValueError("r or s out of range")
    x = r + N * (recid >> 1)
    rp = lift_x(x, bool(recid & 1))
    if rp is None:
        raise ValueError("failed to recover public key")
    e = int.from_bytes(digest, "big") % N
    rinv = pow(r, -1, N)
    # Q = r^-1 (s*R - e*G)
    q = point_add(point_mul(s * rinv % N, rp), point_mul((-e * rinv) % N, G))
    if q is None:
        raise ValueError("recovered point at infinity")
    return q


def verify_signature(pubkey: Point, digest: bytes, sig: bytes) -> bool:
    """§2 verification: recover the key, compare as curve points, THEN reject high-S.
    Returns False for any failure (including failed recovery)."""
    try:
        q = recover_pubkey(digest, sig)
    except ValueError:
        return False
    if q != pubkey:
        return False
    s = int.from_bytes(sig[33:65], "big")
    return s <= N // 2


@dataclass
class PrivateKey:
    secret: int

    @staticmethod
    def random() -> "PrivateKey":
        while True:
            d = int.from_bytes(secrets.token_bytes(32), "big")
            if 1 <= d < N:
                return PrivateKey(d)

    @staticmethod
    def from_hex(h: str) -> "PrivateKey":
        raw = bytes.fromhex(h)
        # A trailing 0x01 (33 bytes) is the Stacks "compressed" marker; the p2p key is
        # always used compressed anyway.
        if len(raw) == 33 and raw[32] == 1:
            raw = raw[:32]
        if len(raw) != 32:
            raise ValueError("private key must be 32 bytes (optionally + 01)")
        return PrivateKey(int.from_bytes(raw, "big"))

    def public_point(self) -> Tuple[int, int]:
        return point_mul(self.secret, G)

    def public_bytes(self) -> bytes:
        return pubkey_serialize(self.public_point(), compressed=True)

    def sign(self, digest: bytes) -> bytes:
        return sign_recoverable(self.secret, digest)


# =========================================================================================
# Wire codec (§1)
# =========================================================================================

PREAMBLE_SIZE = 165
MAX_PAYLOAD_LEN = 1 + 16 * 1024 * 1024
MAX_RELAYERS_LEN = 16
MAX_MESSAGE_LEN = MAX_PAYLOAD_LEN + PREAMBLE_SIZE + MAX_RELAYERS_LEN * 42  # 16 778 054
MAX_NEIGHBORS_DATA_LEN = 128
MAX_TRANSACTION_LEN = 2 * 1024 * 1024

# StacksMessageID (§1.7)
MSG_HANDSHAKE = 0
MSG_HANDSHAKE_ACCEPT = 1
MSG_HANDSHAKE_REJECT = 2
MSG_GET_NEIGHBORS = 3
MSG_NEIGHBORS = 4
MSG_GET_BLOCKS_INV = 5
MSG_BLOCKS_INV = 6
MSG_GET_POX_INV = 7
MSG_POX_INV = 8
MSG_BLOCKS_AVAILABLE = 9
MSG_MICROBLOCKS_AVAILABLE = 10
MSG_BLOCKS = 11
MSG_MICROBLOCKS = 12
MSG_TRANSACTION = 13
MSG_NACK = 14
MSG_PING = 15
MSG_PONG = 16
MSG_NAT_PUNCH_REQUEST = 17
MSG_NAT_PUNCH_REPLY = 18
MSG_STACKERDB_HANDSHAKE_ACCEPT = 19
MSG_STACKERDB_GET_CHUNK_INV = 21
MSG_STACKERDB_CHUNK_INV = 22
MSG_STACKERDB_GET_CHUNK = 23
MSG_STACKERDB_CHUNK = 24
MSG_STACKERDB_PUSH_CHUNK = 25
MSG_GET_NAKAMOTO_INV = 26
MSG_NAKAMOTO_INV = 27
MSG_NAKAMOTO_BLOCKS = 28

MESSAGE_NAMES = {
    0: "Handshake", 1: "HandshakeAccept", 2: "HandshakeReject", 3: "GetNeighbors",
    4: "Neighbors", 5: "GetBlocksInv", 6: "BlocksInv", 7: "GetPoxInv", 8: "PoxInv",
    9: "BlocksAvailable", 10: "MicroblocksAvailable", 11: "Blocks", 12: "Microblocks",
    13: "Transaction", 14: "Nack", 15: "Ping", 16: "Pong", 17: "NatPunchRequest",
    18: "NatPunchReply", 19: "StackerDBHandshakeAccept", 21: "StackerDBGetChunkInv",
    22: "StackerDBChunkInv", 23: "StackerDBGetChunk", 24: "StackerDBChunk",
    25: "StackerDBPushChunk", 26: "GetNakamotoInv", 27: "NakamotoInv", 28: "NakamotoBlocks",
}
# Push payloads (§5.1/§5.2) go through process_relayers on receipt.
PUSH_TYPES = {MSG_BLOCKS_AVAILABLE, MSG_MICROBLOCKS_AVAILABLE, MSG_BLOCKS, MSG_MICROBLOCKS,
              MSG_TRANSACTION, MSG_STACKERDB_PUSH_CHUNK, MSG_NAKAMOTO_BLOCKS}

# NackErrorCodes (§1.7)
NACK_HANDSHAKE_REQUIRED = 1
NACK_NO_SUCH_BURNCHAIN_BLOCK = 2
NACK_INVALID_MESSAGE = 5
NACK_NO_SUCH_DB = 6

SERVICE_RELAY = 0x01
SERVICE_RPC = 0x02
SERVICE_STACKERDB = 0x04


class DecodeError(ValueError):
    """Bytes that a stock node's codec would refuse (=> it drops the connection)."""


class Reader:
    """Bounded big-endian reader over a bytes object."""

    def __init__(self, data: bytes, off: int = 0):
        self.data = data
        self.off = off

    def take(self, n: int) -> bytes:
        if n < 0 or self.off + n > len(self.data):
            raise DecodeError(f"truncated: need {n} bytes at offset {self.off}, "
                              f"have {len(self.data) - self.off}")
        out = self.data[self.off:self.off + n]
        self.off += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack(">Q", self.take(8))[0]

    def remaining(self) -> int:
        return len(self.data) - self.off

    def rest(self) -> bytes:
        return self.take(self.remaining())


def ipv4_mapped(ip: str) -> bytes:
    """PeerAddress for an IPv4 address: ::ffff:a.b.c.d (§1.4)."""
    return b"\x00" * 10 + b"\xff\xff" + socket.inet_aton(ip)


def peer_address_str(addr: bytes) -> str:
    if addr[:12] == b"\x00" * 10 + b"\xff\xff":
        return socket.inet_ntoa(addr[12:])
    return socket.inet_ntop(socket.AF_INET6, addr)


# --- Preamble (§1.3) ----------------------------------------------------------------------

_PREAMBLE_FMT = ">IIIQ32sQ32sI65sI"
assert struct.calcsize(_PREAMBLE_FMT) == PREAMBLE_SIZE


@dataclass
class Preamble:
    peer_version: int
    network_id: int
    seq: int
    burn_block_height: int
    burn_block_hash: bytes
    burn_stable_block_height: int
    burn_stable_block_hash: bytes
    additional_data: int = 0
    signature: bytes = b"\x00" * 65
    payload_len: int = 0

    def encode(self) -> bytes:
        return struct.pack(_PREAMBLE_FMT, self.peer_version, self.network_id, self.seq,
                           self.burn_block_height, self.burn_block_hash,
                           self.burn_stable_block_height, self.burn_stable_block_hash,
                           self.additional_data, self.signature, self.payload_len)

    @staticmethod
    def decode(data: bytes) -> "Preamble":
        """Decode 165 bytes with the decode-time checks of §1.3."""
        if len(data) != PREAMBLE_SIZE:
            raise DecodeError("preamble must be 165 bytes")
        pre = Preamble(*struct.unpack(_PREAMBLE_FMT, data))
        if pre.payload_len < 5:
            raise DecodeError(f"payload_len {pre.payload_len} < 5")
        if pre.payload_len >= MAX_MESSAGE_LEN:
            raise DecodeError(f"payload_len {pre.payload_len} >= MAX_MESSAGE_LEN")
        if not pre.burn_block_height > pre.burn_stable_block_height:
            raise DecodeError(f"burn_block_height {pre.burn_block_height} <= "
                              f"burn_stable_block_height {pre.burn_stable_block_height}")
        return pre

    def with_zero_signature(self) -> bytes:
        """The preamble bytes that go into the signing digest (§2 step 2/3)."""
        return struct.pack(_PREAMBLE_FMT, self.peer_version, self.network_id, self.seq,
                           self.burn_block_height, self.burn_block_hash,
                           self.burn_stable_block_height, self.burn_stable_block_hash,
                           self.additional_data, b"\x00" * 65, self.payload_len)


# --- RelayData / NeighborAddress (§1.4) -----------------------------------------------

@dataclass
class NeighborAddress:
    addrbytes: bytes
    port: int
    public_key_hash: bytes

    def encode(self) -> bytes:
        return self.addrbytes + struct.pack(">H", self.port) + self.public_key_hash

    @staticmethod
    def read(r: Reader) -> "NeighborAddress":
        return NeighborAddress(r.take(16), r.u16(), r.take(20))


@dataclass
class RelayData:
    peer: NeighborAddress
    seq: int

    def encode(self) -> bytes:
        return self.peer.encode() + struct.pack(">I", self.seq)

    @staticmethod
    def read(r: Reader) -> "RelayData":
        return RelayData(NeighborAddress.read(r), r.u32())


def encode_relayers(relayers: List[RelayData]) -> bytes:
    if len(relayers) > MAX_RELAYERS_LEN:
        raise ValueError("more than 16 relayers")
    return struct.pack(">I", len(relayers)) + b"".join(x.encode() for x in relayers)


def read_relayers(r: Reader) -> List[RelayData]:
    count = r.u32()
    if count > MAX_RELAYERS_LEN:  # read_next_at_most(16)
        raise DecodeError(f"relayers vector has {count} entries (> 16)")
    return [RelayData.read(r) for _ in range(count)]


# --- Handshake data (§1.7) --------------------------------------------------------------

_URL_CHARSET = re.compile(r"^[a-zA-Z0-9._~:/?#\[\]@!$&'()*+,;%=-]*$")


def check_url(url: bytes) -> str:
    """UrlString rules (§1.7): "" or http(s)://host[...] with no user/password, query or
    fragment, restricted charset, <= 128 bytes."""
    if len(url) > 128:
        raise DecodeError("data_url longer than 128 bytes")
    try:
        s = url.decode("ascii")
    except UnicodeDecodeError as exc:
        raise DecodeError("data_url is not ASCII") from exc
    if not _URL_CHARSET.match(s):
        raise DecodeError(f"data_url {s!r} has characters outside the allowed set")
    if s == "":
        return s
    m = re.match(r"^(https?)://([^/?#]*)([^?#]*)$", s)
    if not m or not m.group(2) or "@" in m.group(2):
        raise DecodeError(f"data_url {s!r} is not an http(s) URL with a host and no "
                          "userinfo/query/fragment")
    return s


@dataclass
class HandshakeData:
    addrbytes: bytes
    port: int
    services: int
    node_public_key: bytes
    expire_block_height: int
    data_url: str = ""

    def encode(self) -> bytes:
        url = self.data_url.encode("ascii")
        return (self.addrbytes + struct.pack(">HH", self.port, self.services) +
                self.node_public_key + struct.pack(">Q", self.expire_block_height) +
                bytes([len(url)]) + url)

    @staticmethod
    def read(r: Reader) -> "HandshakeData":
        addr = r.take(16)
        port = r.u16()
        if port == 0:
            raise DecodeError("handshake port 0")
        services = r.u16()
        key = r.take(33)
        expire = r.u64()
        url = check_url(r.take(r.u8()))
        return HandshakeData(addr, port, services, key, expire, url)


@dataclass
class HandshakeAcceptData:
    handshake: HandshakeData
    heartbeat_interval: int

    def encode(self) -> bytes:
        return self.handshake.encode() + struct.pack(">I", self.heartbeat_interval)


@dataclass
class StackerDBHandshakeData:
    rc_consensus_hash: bytes
    contracts: List[Tuple[int, bytes, str]]

    def encode(self) -> bytes:
        out = self.rc_consensus_hash + bytes([len(self.contracts)])
        for ver, h160, name in self.contracts:
            nb = name.encode("ascii")
            out += bytes([ver]) + h160 + bytes([len(nb)]) + nb
        return out


_CONTRACT_NAME = re.compile(r"^([a-zA-Z]([a-zA-Z0-9]|[-_])*|__transient)$")


def read_contract_id(r: Reader) -> Tuple[int, bytes, str]:
    ver = r.u8()
    if ver >= 32:
        raise DecodeError("address version >= 32")
    h160 = r.take(20)
    nlen = r.u8()
    if not 1 <= nlen <= 40:
        raise DecodeError("contract name length not in 1..=40")
    name = r.take(nlen).decode("ascii", "replace")
    if not _CONTRACT_NAME.match(name):
        raise DecodeError(f"bad contract name {name!r}")
    return ver, h160, name


# --- Payload (type byte + body) ---------------------------------------------------------

@dataclass
class Payload:
    """A decoded StacksMessageType. `msg_type` is the ID; `body` the raw body bytes (exactly
    as on the wire); `fields` the decoded content for the types this peer understands."""
    msg_type: int
    body: bytes
    fields: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return MESSAGE_NAMES.get(self.msg_type, f"type{self.msg_type}")

    def encode(self) -> bytes:
        return bytes([self.msg_type]) + self.body


def payload_handshake(hs: HandshakeData) -> Payload:
    return Payload(MSG_HANDSHAKE, hs.encode(), {"handshake": hs})


def payload_handshake_accept(acc: HandshakeAcceptData) -> Payload:
    return Payload(MSG_HANDSHAKE_ACCEPT, acc.encode(), {"accept": acc})


def payload_u32(msg_type: int, value: int, key: str) -> Payload:
    return Payload(msg_type, struct.pack(">I", value), {key: value})


def payload_transaction(tx: bytes) -> Payload:
    # Transaction (13): one StacksTransaction, no length prefix. Carried opaquely here.
    return Payload(MSG_TRANSACTION, bytes(tx), {"tx": bytes(tx)})


def read_payload(r: Reader) -> Payload:
    """Decode `type byte || body` from r. Bodies this peer does not model field by field
    but whose ID is valid are taken as the rest of the message (payload_len is exact)."""
    start = r.off
    t = r.u8()
    f: dict = {}
    if t == MSG_HANDSHAKE:
        f["handshake"] = HandshakeData.read(r)
    elif t in (MSG_HANDSHAKE_ACCEPT, MSG_STACKERDB_HANDSHAKE_ACCEPT):
        hs = HandshakeData.read(r)
        f["accept"] = HandshakeAcceptData(hs, r.u32())
        if t == MSG_STACKERDB_HANDSHAKE_ACCEPT:
            rc = r.take(20)
            f["stackerdb"] = StackerDBHandshakeData(rc, [read_contract_id(r)
                                                         for _ in range(r.u8())])
    elif t in (MSG_HANDSHAKE_REJECT, MSG_GET_NEIGHBORS):
        pass
    elif t == MSG_NEIGHBORS:
        cnt = r.u32()
        if cnt > MAX_NEIGHBORS_DATA_LEN:
            raise DecodeError("more than 128 neighbors")
        f["neighbors"] = [NeighborAddress.read(r) for _ in range(cnt)]
    elif t in (MSG_GET_BLOCKS_INV, MSG_GET_POX_INV):
        f["consensus_hash"] = r.take(20)
        f["num"] = r.u16()
        if f["num"] == 0 or (t == MSG_GET_POX_INV and f["num"] > 4096):
            raise DecodeError("bad inventory request length")
    elif t in (MSG_NACK,):
        f["error_code"] = r.u32()
    elif t in (MSG_PING, MSG_PONG, MSG_NAT_PUNCH_REQUEST):
        f["nonce"] = r.u32()
    elif t == MSG_NAT_PUNCH_REPLY:
        f["addrbytes"] = r.take(16)
        f["port"] = r.u16()
        f["nonce"] = r.u32()
    elif t == MSG_STACKERDB_GET_CHUNK_INV:
        f["contract_id"] = read_contract_id(r)
        f["rc_consensus_hash"] = r.take(20)
    elif t == MSG_STACKERDB_GET_CHUNK:
        f["contract_id"] = read_contract_id(r)
        f["rc_consensus_hash"] = r.take(20)
        f["slot_id"] = r.u32()
        f["slot_version"] = r.u32()
    elif t == MSG_GET_NAKAMOTO_INV:
        f["consensus_hash"] = r.take(20)
    elif t == MSG_TRANSACTION:
        tx = r.rest()
        if not tx:
            raise DecodeError("empty transaction")
        if len(tx) > MAX_TRANSACTION_LEN:
            raise DecodeError("transaction longer than 2 MiB")
        f["tx"] = tx
    elif t in MESSAGE_NAMES:
        # Valid ID whose body we do not model (inventories, blocks, StackerDB chunks...).
        f["opaque"] = True
        r.rest()
    else:
        raise DecodeError(f"unknown message type id {t}")
    return Payload(t, r.data[start + 1:r.off], f)


# --- StacksMessage ----------------------------------------------------------------------

@dataclass
class StacksMessage:
    preamble: Preamble
    relayers: List[RelayData]
    payload: Payload
    raw: bytes = b""  # the exact wire bytes (preamble || body) for received messages

    @property
    def body_bytes(self) -> bytes:
        return encode_relayers(self.relayers) + self.payload.encode()

    def digest(self) -> bytes:
        """§2: H(preamble with 65 zero signature bytes and final payload_len || body)."""
        if self.raw:
            body = self.raw[PREAMBLE_SIZE:]
        else:
            body = self.body_bytes
        return sha512_256(self.preamble.with_zero_signature() + body)

    def sign(self, key: PrivateKey, seq: int) -> bytes:
        """§2 signing steps 1-5; returns the wire bytes (and keeps them in self.raw)."""
        body = self.body_bytes
        self.preamble.payload_len = len(body)
        self.preamble.seq = seq
        self.preamble.signature = b"\x00" * 65
        dig = sha512_256(self.preamble.encode() + body)
        self.preamble.signature = key.sign(dig)
        self.raw = self.preamble.encode() + body
        return self.raw

    def verify(self, pubkey: Point) -> bool:
        return verify_signature(pubkey, self.digest(), self.preamble.signature)

    @staticmethod
    def decode(data: bytes) -> "StacksMessage":
        """Decode one complete message; payload_len must match exactly."""
        pre = Preamble.decode(data[:PREAMBLE_SIZE])
        body = data[PREAMBLE_SIZE:]
        if len(body) != pre.payload_len:
            raise DecodeError(f"have {len(body)} body bytes, payload_len {pre.payload_len}")
        return StacksMessage.decode_body(pre, data)

    @staticmethod
    def decode_body(pre: Preamble, raw: bytes) -> "StacksMessage":
        r = Reader(raw, PREAMBLE_SIZE)
        relayers = read_relayers(r)
        payload = read_payload(r)
        if r.remaining():
            # A stock node would resume parsing right after the last consumed byte (§1.3),
            # desynchronising the stream; we treat junk inside payload_len as an error.
            raise DecodeError(f"{r.remaining()} trailing bytes inside payload_len")
        return StacksMessage(pre, relayers, payload, raw)

    def describe(self) -> str:
        p = self.preamble
        return (f"{self.payload.name}(id {self.payload.msg_type}) seq=0x{p.seq:08x} "
                f"peer_version=0x{p.peer_version:08x} network_id=0x{p.network_id:08x} "
                f"burn={p.burn_block_height}/{p.burn_stable_block_height} "
                f"relayers={len(self.relayers)} payload_len={p.payload_len}")


# =========================================================================================
# Burn view and preamble validation (§4.3, §9)
# =========================================================================================

MAINNET_PEER_VERSION = 0x18000010  # 4.0.x (§9)
MAINNET_NETWORK_ID = 0x00000001   # §0.1 / §9
STABLE_CONFIRMATIONS = 7          # Bitcoin mainnet (§9)

# Mainnet epoch start heights and peer_version epoch bytes (§9) from Nakamoto on. Heights
# before 3.0 are not listed in the spec; we only need the current epoch at 900007 (3.1).
MAINNET_EPOCHS = [
    (960230, 0x10),  # 4.0
    (943333, 0x0F),  # 3.4
    (923222, 0x0E),  # 3.3
    (907740, 0x0D),  # 3.2
    (875000, 0x0C),  # 3.1
    (867867, 0x0B),  # 3.0
]


def network_epoch_byte(burn_height: int) -> int:
    for start, byte in MAINNET_EPOCHS:
        if burn_height >= start:
            return byte
    return 0x0A  # pre-Nakamoto: 2.5 or earlier (exact heights not in the spec)


@dataclass
class BurnView:
    peer_version: int = MAINNET_PEER_VERSION
    network_id: int = MAINNET_NETWORK_ID
    burn_block_height: int = 900007
    burn_block_hash: bytes = b"\x00" * 32
    burn_stable_block_height: int = 900000
    burn_stable_block_hash: bytes = b"\x00" * 32
    stable_confirmations: int = STABLE_CONFIRMATIONS

    def known_hashes(self) -> Dict[int, bytes]:
        """Burn block hashes this (simulated) node knows. We only model the two heights we
        advertise; a real node knows every hash in [stable_tip-288, tip]."""
        return {self.burn_block_height: self.burn_block_hash,
                self.burn_stable_block_height: self.burn_stable_block_hash}

    def preamble(self) -> Preamble:
        return Preamble(self.peer_version, self.network_id, 0, self.burn_block_height,
                        self.burn_block_hash, self.burn_stable_block_height,
                        self.burn_stable_block_hash, 0)

    def check_preamble(self, pre: Preamble) -> Optional[str]:
        """chat.rs :: is_preamble_valid (§4.3). Returns None if valid, else the reason."""
        if pre.network_id != self.network_id:
            return f"network_id 0x{pre.network_id:08x} != ours 0x{self.network_id:08x}"
        if (pre.peer_version & 0xFF000000) != (self.peer_version & 0xFF000000):
            return f"peer_version major 0x{pre.peer_version:08x} != ours 0x{self.peer_version:08x}"
        m = self.peer_version & 0xFF
        r = pre.peer_version & 0xFF
        if m > r:
            cur = network_epoch_byte(self.burn_block_height)
            special = (cur == 0x08 and r == 0x07) or (cur == 0x0E and r == 0x0D)
            if not (r >= cur or special):
                return (f"peer_version epoch byte 0x{r:02x} below our current epoch "
                        f"0x{cur:02x}")
        if pre.burn_stable_block_height + self.stable_confirmations != pre.burn_block_height:
            return (f"burn_stable_block_height {pre.burn_stable_block_height} + "
                    f"{self.stable_confirmations} != burn_block_height {pre.burn_block_height}")
        known = self.known_hashes().get(pre.burn_stable_block_height)
        if known is not None and known != pre.burn_stable_block_hash:
            return (f"burn_stable_block_hash {pre.burn_stable_block_hash.hex()} at height "
                    f"{pre.burn_stable_block_height} disagrees with ours {known.hex()}")
        return None


# =========================================================================================
# The peer
# =========================================================================================

class ProtocolError(Exception):
    pass


@dataclass
class Received:
    """One message received on the connection, with what the peer made of it."""
    when: float
    msg: StacksMessage
    solicited: bool
    sig_checked: bool      # verified with the conversation key at the connection layer


class StacksPeer:
    """A stock-node-like p2p client on one TCP connection that it dialed (outbound).

    Thread model: one reader thread parses frames, verifies, answers requests (Pong,
    Neighbors, Nacks, HandshakeAccept) and files everything in `self.received`; the owner
    thread sends requests/pushes and waits with bounded timeouts.
    """

    HEARTBEAT = 3600
    EXPIRE = 0x7FFFFFFFFFFFFFFF

    def __init__(self, name: str = "peer", key: Optional[PrivateKey] = None,
                 view: Optional[BurnView] = None, services: int = SERVICE_RELAY | SERVICE_RPC |
                 SERVICE_STACKERDB, data_url: str = "", advertised_port: Optional[int] = None,
                 log: Optional[Callable[[str], None]] = None):
        self.name = name
        self.key = key or PrivateKey.random()
        self.pubkey_bytes = self.key.public_bytes()
        self.pubkey_hash = hash160(self.pubkey_bytes)
        self.view = view or BurnView()
        self.services = services
        self.data_url = data_url
        self.advertised_port = advertised_port
        self._log = log
        self.sock: Optional[socket.socket] = None
        self.local_addr: Tuple[str, int] = ("0.0.0.0", 0)
        self.remote_addr: Tuple[str, int] = ("0.0.0.0", 0)
        # Conversation state
        self.remote_key: Optional[Point] = None
        self.remote_key_bytes: Optional[bytes] = None
        self.remote_accept: Optional[HandshakeAcceptData] = None
        self.remote_accept_msg: Optional[StacksMessage] = None
        self.received: List[Received] = []
        self.errors: List[str] = []      # protocol violations by the remote side
        self.sent: List[StacksMessage] = []
        self._cv = threading.Condition()
        self._pending: Dict[int, "queue.Queue[StacksMessage]"] = {}
        self._send_lock = threading.Lock()
        self._reader: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self.closed = threading.Event()
        self.close_reason: Optional[str] = None

    # -- logging ---------------------------------------------------------------------------

    def log(self, text: str) -> None:
        if self._log:
            self._log(f"[{self.name}] {text}")

    # -- connection ------------------------------------------------------------------------

    def connect(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.attach(socket.create_connection((host, port), timeout=timeout))

    def attach(self, sock: socket.socket) -> None:
        """Run the conversation on an already connected socket (e.g. an accepted one)."""
        self.sock = sock
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(0.2)  # reader polls the stop flag
        self.local_addr = self.sock.getsockname()[:2]
        self.remote_addr = self.sock.getpeername()[:2]
        self._reader = threading.Thread(target=self._read_loop, name=f"reader-{self.name}",
                                        daemon=True)
        self._reader.start()
        self.log(f"connected {self.local_addr} -> {self.remote_addr}")

    def close(self) -> None:
        self._mark_closed(self.close_reason or "closed locally")
        self._stop.set()
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                self.sock.close()
            except OSError:
                pass
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=2.0)

    def _mark_closed(self, reason: str) -> None:
        with self._cv:
            if not self.closed.is_set():
                self.close_reason = reason
                self.closed.set()
                self.log(f"connection closed: {reason}")
            self._cv.notify_all()

    def _protocol_error(self, reason: str) -> None:
        """What a stock node does on an invalid message: record and drop the connection."""
        self.errors.append(reason)
        self.log(f"PROTOCOL ERROR from remote: {reason}")
        self._mark_closed(f"protocol error: {reason}")
        self._stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- sending ---------------------------------------------------------------------------

    def my_neighbor_address(self) -> NeighborAddress:
        port = self.advertised_port or self.local_addr[1]
        return NeighborAddress(ipv4_mapped(self.local_addr[0]), port, self.pubkey_hash)

    def build(self, payload: Payload, relayers: Optional[List[RelayData]] = None) -> StacksMessage:
        return StacksMessage(self.view.preamble(), list(relayers or []), payload)

    def send(self, msg: StacksMessage, seq: Optional[int] = None,
             corrupt_signature: bool = False) -> bytes:
        """Sign (fresh random seq unless given, §3) and write the message."""
        if seq is None:
            seq = secrets.randbits(32)
        wire = msg.sign(self.key, seq)
        if corrupt_signature:
            # Flip one bit of s: the recovered key changes (or recovery fails).
            wire = bytearray(wire)
            wire[96 + 50] ^= 0x01
            wire = bytes(wire)
            msg.preamble.signature = wire[96:161]
            msg.raw = wire
        self._write(wire)
        self.sent.append(msg)
        return wire

    def _write(self, data: bytes) -> None:
        if self.sock is None:
            raise ProtocolError("not connected")
        with self._send_lock:
            self.sock.settimeout(10.0)
            try:
                self.sock.sendall(data)
            finally:
                self.sock.settimeout(0.2)

    def request(self, msg: StacksMessage, timeout: float) -> Optional[StacksMessage]:
        """Send a request and wait for the message carrying the same seq (§3)."""
        seq = secrets.randbits(32)
        q: "queue.Queue[StacksMessage]" = queue.Queue()
        with self._cv:
            self._pending[seq] = q
        try:
            self.send(msg, seq=seq)
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                try:
                    return q.get(timeout=min(left, 0.1))
                except queue.Empty:
                    if self.closed.is_set():
                        return None
        finally:
            with self._cv:
                self._pending.pop(seq, None)

    # -- protocol actions ------------------------------------------------------------------

    def handshake_data(self) -> HandshakeData:
        na = self.my_neighbor_address()
        return HandshakeData(na.addrbytes, na.port, self.services, self.pubkey_bytes,
                             self.EXPIRE, self.data_url)

    def handshake(self, timeout: float = 5.0) -> StacksMessage:
        """§4.2: send Handshake, wait for the reply with our seq. The Accept is verified
        against the key it carries (§2 / §11) and its preamble validated (§4.3); the key
        is then installed and every later message is verified with it."""
        reply = self.request(self.build(payload_handshake(self.handshake_data())), timeout)
        if reply is None:
            raise ProtocolError(f"no reply to Handshake within {timeout}s "
                                f"({self.close_reason or 'connection open'})")
        t = reply.payload.msg_type
        if t == MSG_HANDSHAKE_REJECT:
            raise ProtocolError("HandshakeReject")
        if t == MSG_NACK:
            raise ProtocolError(f"Nack {reply.payload.fields['error_code']} to Handshake")
        if t not in (MSG_HANDSHAKE_ACCEPT, MSG_STACKERDB_HANDSHAKE_ACCEPT):
            raise ProtocolError(f"unexpected reply type {reply.payload.name} to Handshake")
        acc: HandshakeAcceptData = reply.payload.fields["accept"]
        try:
            key = pubkey_parse(acc.handshake.node_public_key)
        except ValueError as exc:
            raise ProtocolError(f"HandshakeAccept key does not parse: {exc}") from exc
        if not reply.verify(key):
            raise ProtocolError("HandshakeAccept signature does not verify against the key "
                                f"it carries ({acc.handshake.node_public_key.hex()}); "
                                f"signature={reply.preamble.signature.hex()} "
                                f"digest={reply.digest().hex()}")
        with self._cv:
            self.remote_key = key
            self.remote_key_bytes = acc.handshake.node_public_key
            self.remote_accept = acc
            self.remote_accept_msg = reply
        self.log(f"handshake accepted by {acc.handshake.node_public_key.hex()} "
                 f"(services 0x{acc.handshake.services:04x}, heartbeat "
                 f"{acc.heartbeat_interval}s, {reply.describe()})")
        return reply

    @property
    def authenticated(self) -> bool:
        return self.remote_key is not None

    def ping(self, timeout: float = 5.0) -> bool:
        nonce = secrets.randbits(32)
        reply = self.request(self.build(payload_u32(MSG_PING, nonce, "nonce")), timeout)
        return (reply is not None and reply.payload.msg_type == MSG_PONG
                and reply.payload.fields["nonce"] == nonce)

    def push_transaction(self, tx: bytes, relayers: Optional[List[RelayData]] = None,
                         corrupt_signature: bool = False) -> StacksMessage:
        """Push a Transaction (13) with a fresh random seq (§3)."""
        msg = self.build(payload_transaction(tx), relayers)
        self.send(msg, corrupt_signature=corrupt_signature)
        return msg

    def own_relay_entry(self) -> RelayData:
        """The RelayData a stock node appends for itself (seq 0 in practice, §3)."""
        return RelayData(self.my_neighbor_address(), 0)

    # -- received messages -----------------------------------------------------------------

    def messages(self, msg_type: Optional[int] = None) -> List[Received]:
        with self._cv:
            return [x for x in self.received
                    if msg_type is None or x.msg.payload.msg_type == msg_type]

    def wait_for(self, pred: Callable[[Received], bool], timeout: float,
                 count: int = 1) -> List[Received]:
        """Wait until `count` received messages satisfy pred (or timeout); returns them."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                hits = [x for x in self.received if pred(x)]
                left = deadline - time.monotonic()
                if len(hits) >= count or left <= 0 or self.closed.is_set():
                    return hits
                self._cv.wait(timeout=min(left, 0.1))

    # -- reader ----------------------------------------------------------------------------

    def _read_exact(self, n: int, buf: bytearray) -> Optional[bytes]:
        while len(buf) < n:
            if self._stop.is_set():
                return None
            try:
                chunk = self.sock.recv(max(65536, n - len(buf)))
            except socket.timeout:
                continue
            except OSError as exc:
                self._mark_closed(f"socket error: {exc}")
                return None
            if not chunk:
                self._mark_closed("EOF (remote closed the connection)")
                return None
            buf += chunk
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def _read_loop(self) -> None:
        buf = bytearray()
        try:
            while not self._stop.is_set():
                head = self._read_exact(PREAMBLE_SIZE, buf)
                if head is None:
                    return
                try:
                    pre = Preamble.decode(head)
                except DecodeError as exc:
                    self._protocol_error(f"undecodable preamble {head.hex()}: {exc}")
                    return
                body = self._read_exact(pre.payload_len, buf)
                if body is None:
                    return
                self._on_frame(pre, head + body)
        except Exception as exc:  # never let the thread die silently
            self._protocol_error(f"internal error in reader: {exc!r}")

    def _on_frame(self, pre: Preamble, raw: bytes) -> None:
        # 1. Connection layer: with a key on the conversation, verify before parsing (§1.3).
        sig_checked = False
        if self.remote_key is not None:
            dig = sha512_256(pre.with_zero_signature() + raw[PREAMBLE_SIZE:])
            if not verify_signature(self.remote_key, dig, pre.signature):
                self._protocol_error(
                    f"bad signature on authenticated conversation: seq=0x{pre.seq:08x} "
                    f"sig={pre.signature.hex()} digest={dig.hex()} raw={raw[:200].hex()}...")
                return
            sig_checked = True
        # 2. Parse relayers + payload.
        try:
            msg = StacksMessage.decode_body(pre, raw)
        except DecodeError as exc:
            self._protocol_error(f"undecodable message body ({exc}): {raw.hex()[:600]}")
            return
        # 3. Preamble validation on every message (§4.3).
        why = self.view.check_preamble(pre)
        if why:
            self._protocol_error(f"{msg.describe()}: preamble invalid: {why}")
            return
        # 4. Solicited reply? (seq matches an outstanding request, §3)
        with self._cv:
            waiter = self._pending.get(pre.seq)
        solicited = waiter is not None
        rec = Received(time.monotonic(), msg, solicited, sig_checked)
        with self._cv:
            self.received.append(rec)
            self._cv.notify_all()
        self.log(f"recv {msg.describe()}{' (solicited)' if solicited else ''}")
        if solicited:
            waiter.put(msg)
            return
        self._handle_unsolicited(msg)

    def _reply(self, request: StacksMessage, payload: Payload) -> None:
        """Replies copy the request's seq (§3)."""
        try:
            self.send(self.build(payload), seq=request.preamble.seq)
        except OSError as exc:
            self._mark_closed(f"socket error on reply: {exc}")

    def _handle_unsolicited(self, msg: StacksMessage) -> None:
        t = msg.payload.msg_type
        if t == MSG_HANDSHAKE:
            self._handle_handshake(msg)
            return
        if t == MSG_NAT_PUNCH_REQUEST:  # answered even unauthenticated (§4.4)
            self._reply(msg, Payload(MSG_NAT_PUNCH_REPLY,
                                     ipv4_mapped(self.remote_addr[0]) +
                                     struct.pack(">HI", self.remote_addr[1],
                                                 msg.payload.fields["nonce"])))
            return
        if t in (MSG_HANDSHAKE_ACCEPT, MSG_STACKERDB_HANDSHAKE_ACCEPT, MSG_HANDSHAKE_REJECT,
                 MSG_NACK, MSG_NAT_PUNCH_REPLY, MSG_PONG):
            return  # unsolicited replies are ignored
        if not self.authenticated:
            # §4.4: anything else on an unauthenticated conversation => Nack(1).
            self._reply(msg, payload_u32(MSG_NACK, NACK_HANDSHAKE_REQUIRED, "error_code"))
            return
        if t == MSG_PING:
            self._reply(msg, payload_u32(MSG_PONG, msg.payload.fields["nonce"], "nonce"))
        elif t == MSG_GET_NEIGHBORS:
            self._reply(msg, Payload(MSG_NEIGHBORS, struct.pack(">I", 0), {"neighbors": []}))
        elif t in (MSG_GET_BLOCKS_INV, MSG_GET_POX_INV, MSG_GET_NAKAMOTO_INV):
            self._reply(msg, payload_u32(MSG_NACK, NACK_NO_SUCH_BURNCHAIN_BLOCK, "error_code"))
        elif t in (MSG_STACKERDB_GET_CHUNK_INV, MSG_STACKERDB_GET_CHUNK):
            self._reply(msg, payload_u32(MSG_NACK, NACK_NO_SUCH_DB, "error_code"))
        elif t in PUSH_TYPES:
            # chat.rs :: process_relayers (§3 rule 1-2, §5.2): no duplicate key hashes and
            # we must not be in the list, else the sender is dropped.
            hashes = [x.peer.public_key_hash for x in msg.relayers]
            if len(set(hashes)) != len(hashes):
                self._protocol_error(f"{msg.describe()}: relayers contain a cycle")
            elif self.pubkey_hash in hashes:
                self._protocol_error(f"{msg.describe()}: relayers contain our own key hash")
            # else: accepted push; stays in self.received for the caller.
        # Other replies/data we did not ask for are ignored.

    def _handle_handshake(self, msg: StacksMessage) -> None:
        """Inbound Handshake on this conversation (re-handshake or the remote's own, §4.2)."""
        hs: HandshakeData = msg.payload.fields["handshake"]
        try:
            key = pubkey_parse(hs.node_public_key)
        except ValueError:
            self._protocol_error(f"Handshake key does not parse: {hs.node_public_key.hex()}")
            return
        if self.remote_key is None and not msg.verify(key):
            self._protocol_error("unauthenticated Handshake signature does not verify "
                                 "against its own key")
            return
        if hs.expire_block_height <= self.view.burn_block_height or \
                hs.node_public_key == self.pubkey_bytes:
            self._reply(msg, Payload(MSG_HANDSHAKE_REJECT, b""))
            return
        with self._cv:
            self.remote_key = key
            self.remote_key_bytes = hs.node_public_key
        acc = HandshakeAcceptData(self.handshake_data(), self.HEARTBEAT)
        self._reply(msg, payload_handshake_accept(acc))


# =========================================================================================
# Self-test against VECTORS.md
# =========================================================================================

def selftest(verbose: bool = True) -> bool:
    """Check codecs and crypto against byte vectors copied from VECTORS.md."""
    ok = True

    def check(name: str, got, want) -> None:
        nonlocal ok
        good = got == want
        ok &= good
        if verbose or not good:
            print(f"{'ok  ' if good else 'FAIL'} {name}" +
                  ("" if good else f"\n     got  {got}\n     want {want}"))

    # [V:L] hashes
    check("L sha512/256('')", sha512_256(b"").hex(),
          "c672b8d1ef56ed28ab87c3622c5114069bdd3ad7b8f9737498d0c01ecef0967a")
    check("L sha512/256('abc')", sha512_256(b"abc").hex(),
          "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23")
    # RIPEMD-160 (pure) against the published test vectors and hashlib if available.
    check("ripemd160_pure('')", ripemd160_pure(b"").hex(),
          "9c1185a5c5e9fc54612808977ee8f548b2258d31")
    check("ripemd160_pure('abc')", ripemd160_pure(b"abc").hex(),
          "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc")
    check("ripemd160_pure(1M 'a')", ripemd160_pure(b"a" * 1000000).hex(),
          "52783243c1697bdbe16d37f97f68f08325dc1528")
    # [V:E2] / [V:M] key 6d43...: public key and hash160
    k = PrivateKey.from_hex("6d430bb91222408e7706c9001cfaeb91b08c2be6d5ac95779ab52c6b431950e0")
    check("E pubkey(6d43..)", k.public_bytes().hex(),
          "02db3ee269c096bb07fad458f7b1cfada089a72dba6404c2d1a516efd59f2699e5")
    check("E2 hash160(pubkey)", hash160(k.public_bytes()).hex(),
          "143e543243dfcd8c02a12ad7ea371bd07bc91df9")
    # [V:I] recoverable-signature fixtures
    pk = pubkey_parse(bytes.fromhex(
        "0385f2e2867524289d6047d0d9c5e764c5d413729fc32291ad2c353fbc396a4219"))
    pk3 = pubkey_parse(bytes.fromhex(
        "034c35b09b758678165d6ed84a50b329900c99986cf8e9a358ceae0d03af91f5b6"))
    sig = bytes.fromhex("00354445a1dc98a1bd27984dbe69979a5cd77886b4d9134af5c40e634d96e1cb44"
                        "5b97de5b632582d31704f86706a780886e6e381bfed65228267358262d203fe6")
    hello = bytes.fromhex("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")
    nope = bytes.fromhex("ca3704aa0b06f5954c79ee837faa152d84d6b2d42838f0637a15eda8337dbdce")
    check("I1", verify_signature(pk, hello, sig), True)
    check("I2", verify_signature(pk, nope, sig), False)
    check("I3", verify_signature(pk3, hello, sig), False)
    check("I4", verify_signature(pk, hello, sig[:-1] + b"\xe7"), False)
    check("I5", verify_signature(pk, hello, b"\x00\x45" + sig[2:]), False)
    check("I6", verify_signature(pk, hello, b"\x01" + sig[1:]), False)
    check("I6 recovers other key", pubkey_serialize(recover_pubkey(hello, b"\x01" + sig[1:])).hex(),
          "020879f40de2ad9c70448b78d3b45050fce9069e42c44b893ab24afde72ce617d2")
    for rid in (2, 3):
        try:
            recover_pubkey(hello, bytes([rid]) + sig[1:])
            check(f"I{rid + 5} recovery fails", "recovered", "error")
        except ValueError:
            check(f"I{rid + 5} recovery fails", "error", "error")
    # [V:B1] preamble
    b1 = bytes.fromhex(
        "0102030405060708090a0b0c0000000000001122" + "11" * 32 + "0000000000001111" +
        "22" * 32 + "33333333" + "44" * 65 + "000007ff")
    pre = Preamble.decode(b1)
    check("B1 preamble fields", (pre.peer_version, pre.network_id, pre.seq,
                                 pre.burn_block_height, pre.burn_stable_block_height,
                                 pre.additional_data, pre.payload_len),
          (0x01020304, 0x05060708, 0x090A0B0C, 0x1122, 0x1111, 0x33333333, 0x7FF))
    check("B1 re-encode", pre.encode(), b1)
    # [V:B8/B9] HandshakeData / HandshakeAcceptData
    hs_hex = ("000102030405060708090a0b0c0d0e0f30390001034e316be04870cef1795fba64d581cf64bad0c894"
              "b01a068fb9edf85321dcd9bb01020304050607082268747470733a2f2f7468652d6e65772d696e7465"
              "72776562732e636f6d2f64617461")
    hs = HandshakeData.read(Reader(bytes.fromhex(hs_hex)))
    check("B8 decode", (hs.port, hs.services, hs.expire_block_height, hs.data_url),
          (12345, 1, 0x0102030405060708, "https://the-new-interwebs.com/data"))
    check("B8 re-encode", hs.encode().hex(), hs_hex)
    check("B9 accept", HandshakeAcceptData(hs, 0x01020304).encode().hex(), hs_hex + "01020304")
    # [V:B11] RelayData
    b11 = bytes.fromhex("000102030405060708090a0b0c0d0e0f3039" + "11" * 20 + "01020304")
    rd = RelayData.read(Reader(b11))
    check("B11 RelayData", (rd.peer.port, rd.peer.public_key_hash, rd.seq, rd.encode()),
          (12345, b"\x11" * 20, 0x01020304, b11))
    # [V:B24] payloads we build
    url43 = "https://the-new-interwebs.com:4008/the-data"
    hs43 = HandshakeData(bytes(range(16)), 12345, 1, hs.node_public_key, 0x0102030405060708,
                         url43)
    check("B24 Handshake", payload_handshake(hs43).encode().hex(),
          "00000102030405060708090a0b0c0d0e0f30390001034e316be04870cef1795fba64d581cf64bad0c8"
          "94b01a068fb9edf85321dcd9bb01020304050607082b68747470733a2f2f7468652d6e65772d696e74"
          "6572776562732e636f6d3a343030382f7468652d64617461")
    check("B24 Nack", payload_u32(MSG_NACK, 0x01020304, "e").encode().hex(), "0e01020304")
    check("B24 Ping", payload_u32(MSG_PING, 0x01020304, "n").encode().hex(), "0f01020304")
    check("B24 Pong", payload_u32(MSG_PONG, 0x01020304, "n").encode().hex(), "1001020304")
    b19 = bytes.fromhex(
        "13000102030405060708090a0b0c0d0e0f30390001034e316be04870cef1795fba64d581cf64bad0c894"
        "b01a068fb9edf85321dcd9bb01020304050607082b68747470733a2f2f7468652d6e65772d696e746572"
        "776562732e636f6d3a343030382f7468652d646174610102030401010101010101010101010101010101"
        "010101010216117b591adf7caee43b7e5d8824e851b935bca9ae03666f6f1690d293d37b2989f57832f0"
        "071176a94f930b19a103626172")
    p19 = read_payload(Reader(b19))
    check("B24 StackerDBHandshakeAccept decode",
          (p19.fields["accept"].heartbeat_interval,
           [c[2] for c in p19.fields["stackerdb"].contracts]), (0x01020304, ["foo", "bar"]))
    # [V:B26] 16 relayers + ping round trip
    b26 = bytes.fromhex(_B26_HEX)
    m26 = StacksMessage.decode(b26)
    check("B26 decode", (len(m26.relayers), m26.payload.name, m26.relayers[15].seq),
          (16, "Ping", 0x01020313))
    check("B26 body re-encode", m26.body_bytes, b26[PREAMBLE_SIZE:])
    # 17 relayers must be rejected
    try:
        read_relayers(Reader(struct.pack(">I", 17) + b"\x00" * 42 * 17))
        check("17 relayers rejected", "accepted", "rejected")
    except DecodeError:
        check("17 relayers rejected", "rejected", "rejected")
    # [V:M1-M3] signed messages with the fixed key
    view = BurnView(MAINNET_PEER_VERSION, MAINNET_NETWORK_ID, 900007, b"\x11" * 32, 900000,
                    b"\x22" * 32)
    m1 = StacksMessage(view.preamble(), [], payload_u32(MSG_PING, 0x01020304, "nonce"))
    check("M1 signed Ping", m1.sign(k, 0xABCD).hex(), _M1_HEX)
    check("M1 verify", StacksMessage.decode(bytes.fromhex(_M1_HEX)).verify(k.public_point()),
          True)
    hs_m2 = HandshakeData(ipv4_mapped("127.0.0.1"), 20444, 1, k.public_bytes(),
                          0x7FFFFFFFFFFFFFFF, "")
    m2 = StacksMessage(view.preamble(), [], payload_handshake(hs_m2))
    check("M2 signed Handshake", m2.sign(k, 0xABCD).hex(), _M2_HEX)
    tx_h4 = bytes.fromhex(_H4_HEX)
    rel = [RelayData(NeighborAddress(ipv4_mapped("127.0.0.1"), 20444, hash160(k.public_bytes())),
                     0)]
    m3 = StacksMessage(view.preamble(), rel, payload_transaction(tx_h4))
    check("M3 signed Transaction", m3.sign(k, 0xABCD).hex(), _M3_HEX)
    d3 = StacksMessage.decode(bytes.fromhex(_M3_HEX))
    check("M3 decode tx", d3.payload.fields["tx"], tx_h4)
    check("M3 verify", d3.verify(k.public_point()), True)
    bad = bytearray(bytes.fromhex(_M3_HEX))
    bad[96 + 50] ^= 1
    check("M3 corrupted signature rejected",
          StacksMessage.decode(bytes(bad)).verify(k.public_point()), False)
    # preamble validation of our own view
    check("preamble check own view", BurnView().check_preamble(BurnView().preamble()), None)
    return ok


_B26_HEX = (
    "0102030405060708090a0b0c0000000000001122" + "11" * 32 + "0000000000001111" + "22" * 32 +
    "33333333" + "44" * 65 + "000002a9" + "00000010" +
    "".join(bytes([i]).hex() + "0102030405060708090a0b0c0d0e0f" + f"{12345 + i:04x}" + "11" * 20 +
            f"{0x01020304 + i:08x}" for i in range(16)) + "0f01020304")

_M1_HEX = (
    "18000010000000010000abcd00000000000dbba7111111111111111111111111111111111111111111111111"
    "111111111111111100000000000dbba022222222222222222222222222222222222222222222222222222222"
    "2222222200000000010f7df47caefce6725d109ed2773e58623cff302a49794b9d87b8fe75e255cd3e29b3ba"
    "f29742d4521db2d4d0fcf33a298180dac68b61c90ee9166a2a49043b0f00000009000000000f01020304")
_M2_HEX = (
    "18000010000000010000abcd00000000000dbba7111111111111111111111111111111111111111111111111"
    "111111111111111100000000000dbba022222222222222222222222222222222222222222222222222222222"
    "22222222000000000017c6181cf8f5f80f5196026e48a0a77e98940d8bc1ddc41c48ba85fa363fb3e21ce388"
    "7a25e718c93286ba6a85a8b1c2ce57344daef87e96756ce5e6fcfebb44000000430000000000000000000000"
    "00000000ffff7f0000014fdc000102db3ee269c096bb07fad458f7b1cfada089a72dba6404c2d1a516efd59f"
    "2699e57fffffffffffffff00")
_H4_HEX = (
    "80800000000400b71a091b4b8b7661a661c620966ab6573bc2dcd30000000000000000000000000000000a00"
    "00393810832bacd44cfc4024980876135de6b95429bdb610d5ce96a92c9ee9bfd81ec77ea0f1748c8515fc9a"
    "1589e51d8b92bf028e3e84ade1249682c05271d5b803020000000000051a525b8a36ef8a73548cd0940c248d"
    "3b71ecf4a45100000000000003e800000000000000000000000000000000000000000000000000000000000000"
    "000000")
_M3_HEX = (
    "18000010000000010000abcd00000000000dbba7111111111111111111111111111111111111111111111111"
    "111111111111111100000000000dbba022222222222222222222222222222222222222222222222222222222"
    "22222222000000000" + "1c8b3e82846ecb4207b8fe5d0682ff407f709d4398f7f2ae7436112aaf7fae38e44"
    "a720dbcb5875deb287741b3ec5c6b9e3a371a7421259d157fc233b0c3a6ede000000e3000000010000000000"
    "0000000000ffff7f0000014fdc143e543243dfcd8c02a12ad7ea371bd07bc91df9000000000d" + _H4_HEX)


# =========================================================================================
# CLI
# =========================================================================================

def loopback_selftest(verbose: bool = True) -> bool:
    """Two StacksPeers over a loopback TCP connection: exercises the responder side of this
    peer (HandshakeAccept, Pong, relayers check on pushes) that a relay may not trigger."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(5.0)
    x = StacksPeer("X")
    y = StacksPeer("Y")
    try:
        y.connect("127.0.0.1", srv.getsockname()[1], timeout=5.0)
        conn, _ = srv.accept()
        x.attach(conn)
        results = []
        acc = y.handshake(timeout=5.0)
        results.append(("loopback handshake", acc.payload.msg_type == MSG_HANDSHAKE_ACCEPT and
                        x.remote_key_bytes == y.pubkey_bytes and
                        y.remote_key_bytes == x.pubkey_bytes))
        results.append(("loopback ping/pong", y.ping(timeout=5.0)))
        tx = bytes.fromhex(_H4_HEX)
        m = y.push_transaction(tx, relayers=[y.own_relay_entry()])
        got = x.wait_for(lambda r: r.msg.payload.msg_type == MSG_TRANSACTION, 5.0)
        results.append(("loopback push", len(got) == 1 and got[0].sig_checked and
                        got[0].msg.payload.fields["tx"] == tx and
                        got[0].msg.preamble.seq == m.preamble.seq))
        # A push listing the receiver in relayers must make the receiver drop us (§3).
        y.push_transaction(tx, relayers=[RelayData(x.my_neighbor_address(), 0)])
        results.append(("loopback relayers-contain-receiver => drop",
                        x.closed.wait(5.0) and "own key hash" in (x.close_reason or "")))
    except (OSError, ProtocolError) as exc:
        results = [("loopback", False)]
        print(f"loopback error: {exc}")
    finally:
        x.close()
        y.close()
        srv.close()
    ok = True
    for name, good in results:
        ok &= bool(good)
        if verbose or not good:
            print(f"{'ok  ' if good else 'FAIL'} {name}")
    return ok


def _main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("selftest", help="check codecs/crypto against VECTORS.md")
    c = sub.add_parser("connect", help="handshake with HOST:PORT, optionally push a tx")
    c.add_argument("target", help="HOST:PORT")
    c.add_argument("--key", help="private key hex (default: random)")
    c.add_argument("--push-tx", help="raw transaction hex to push after the handshake")
    c.add_argument("--listen", type=float, default=5.0,
                   help="seconds to keep the connection open and print what arrives")
    args = ap.parse_args(argv)

    if args.cmd == "selftest":
        return 0 if (selftest() & loopback_selftest()) else 1

    host, port = args.target.rsplit(":", 1)
    peer = StacksPeer("cli", PrivateKey.from_hex(args.key) if args.key else None,
                      log=lambda s: print(s, flush=True))
    peer.connect(host, int(port))
    try:
        peer.handshake()
        if args.push_tx:
            m = peer.push_transaction(bytes.fromhex(args.push_tx))
            print(f"pushed {m.describe()}")
        time.sleep(max(0.0, args.listen))
    except ProtocolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        peer.close()
    return 0 if not peer.errors else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
