#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Independent implementation of the AsymCache key chain (docs/libclient.md),
used once to produce the golden values checked in test_keys.c. SHA-256 comes
from hashlib; XXH3-128 from libxxhash through ctypes (no Python binding is
installed), which still checks our chaining and byte order independently."""
import ctypes
import hashlib
import struct

xxh = ctypes.CDLL("libxxhash.so.0")


class XXH128(ctypes.Structure):
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]


xxh.XXH3_128bits.restype = XXH128
xxh.XXH3_128bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def h(alg, data):
    if alg == "sha256":
        return hashlib.sha256(data).digest()[:16]
    r = xxh.XXH3_128bits(data, len(data))
    return struct.pack(">QQ", r.high64, r.low64)  # canonical form


def seed(alg, model, layers, heads, dim, dtype, bt, salt):
    m = model.encode()
    msg = b"asymcache-ns-v1" + struct.pack("<I", len(m)) + m
    msg += struct.pack("<IIIII", layers, heads, dim, dtype, bt)
    msg += struct.pack("<I", len(salt)) + salt
    return h(alg, msg)


def keys(alg, sd, tokens, bt):
    out, prev = [], sd
    for i in range(len(tokens) // bt):
        blk = tokens[i * bt:(i + 1) * bt]
        prev = h(alg, prev + struct.pack("<%di" % bt, *blk))
        out.append(prev)
    return out


def tokens_of(n):
    # Same generator as the C test: includes negative ids on purpose.
    return [((i * 2654435761) % 100003) - 50000 for i in range(n)]


if __name__ == "__main__":
    for alg in ("sha256", "xxh3"):
        for salt in (b"", b"tenant-a"):
            sd = seed(alg, "llama-3-8b", 32, 8, 128, 1, 16, salt)
            ks = keys(alg, sd, tokens_of(16 * 3 + 5), 16)
            print(alg, repr(salt), "seed", sd.hex())
            for k in ks:
                print("   ", k.hex())
