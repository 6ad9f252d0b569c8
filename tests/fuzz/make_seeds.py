#!/usr/bin/env python3
"""make_seeds.py — writes the small seed corpora of the fuzz targets (tests/fuzz/corpus/<t>/).

Run from anywhere: python3 tests/fuzz/make_seeds.py. The seeds are valid inputs of each format
(built here from the layouts documented in wal/wal_format.c and storage/store_codec.c) plus a few
near misses, so that the fuzzer starts past the magic numbers and the checksums."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def frame(seq, synced, file_no, typ, payload):
    hdr_rest = struct.pack("<IQQIBBH", len(payload), seq, synced, file_no, typ, 0, 0)
    crc = crc32c(hdr_rest, crc32c(payload))
    body = struct.pack("<I", crc) + hdr_rest + payload
    return body + b"\0" * ((-len(body)) % 8)


def file_header(file_no, size, record_max):
    h = bytearray(64)
    h[0:8] = b"SEGLOGWL"
    struct.pack_into("<I", h, 8, 1)
    struct.pack_into("<QQI", h, 16, file_no, size, record_max)
    struct.pack_into("<I", h, 12, crc32c(bytes(h)))
    return bytes(h)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# wal_frame: flags, file_no, record_max, bytes
pre = lambda flags, file_no=1, rmax=65536: bytes([flags]) + struct.pack("<II", file_no, rmax)
f1 = frame(1, 0, 1, 16, b"hello, wal")
f2 = frame(2, 1, 1, 17, bytes(range(40)))
pad = frame(0, 2, 1, 1, b"")
write("wal_frame", "two-frames", pre(0) + f1 + f2 + pad)
write("wal_frame", "fix-crc", pre(1) + f1[:4].replace(f1[:4], b"\0\0\0\0") + f1[4:])
write("wal_frame", "file-header", pre(0) + file_header(1, 1 << 20, 65536))
write("wal_frame", "file-name", pre(0) + b"wal-0000000000000007.log")
write("wal_frame", "stale", pre(0, 2) + f1)

# wal_recovery: flags, first file number, files' bytes
recs = b"".join(frame(i, i - 1, 1, 16 + i % 3, bytes([i]) * (i * 5)) for i in range(1, 6))
write("wal_recovery", "one-file", bytes([0, 0]) + recs + frame(0, 5, 1, 1, b""))
torn = recs + frame(6, 5, 1, 16, b"torn" * 10)[:-12]
write("wal_recovery", "torn-tail", bytes([0, 0]) + torn)
# two files: records 1..3 in file 1, 4..5 in file 2 (the input is split evenly)
a = b"".join(frame(i, i - 1, 1, 16, b"A" * 16) for i in range(1, 4))
b = b"".join(frame(i, i - 1, 2, 16, b"B" * 16) for i in range(4, 7))
write("wal_recovery", "two-files", bytes([1, 0]) + a + b)
write("wal_recovery", "fix-up", bytes([8 | 16, 3]) + recs)
write("wal_recovery", "own-header", bytes([4, 0]) + file_header(1, 8192, 65536) + b"\0" * 4032 + recs)
# the same through wal_open (flag 32) and an append after it; 64: replay from a later sequence
write("wal_recovery", "open-one-file", bytes([32, 0]) + recs + frame(0, 5, 1, 1, b""))
write("wal_recovery", "open-torn-tail", bytes([32, 0]) + torn)
write("wal_recovery", "open-two-files", bytes([1 | 32, 0]) + a + b)
write("wal_recovery", "open-from-later", bytes([32 | 64, 16]) + recs)

# store_codec: which (0 op, 1 segment value, 2 log value), then the bytes
def seg_value(state, base, next_lsn, sealed_at, nbytes, cf):
    return struct.pack("<BQQQQQQQ", state, base, next_lsn, sealed_at, nbytes, cf, 0, 0)


def seg(log_id, seg_id, *v):
    return struct.pack("<QQ", log_id, seg_id) + seg_value(*v)


ZERO_SEG = b"\0" * (16 + 57)
log = struct.pack("<QQQQ", 7, 1, 0, 1700000000000000)
create = log + seg(7, 1, 1, 1, 1, 0, 0, 1) + ZERO_SEG + struct.pack("<QIQI", 0, 0, 0, 0)
write("store_codec", "op-create", bytes([0, 16]) + create)
recs_ = [b"alpha", b"beta!", b""]
append = (log + seg(7, 1, 1, 1, 4, 0, 10, 1) + ZERO_SEG +
          struct.pack("<QIQI", 1, len(recs_), 1700000000000001, 0) +
          b"".join(struct.pack("<I", len(r)) for r in recs_) + b"".join(recs_))
write("store_codec", "op-append", bytes([0, 17]) + append)
seal_ext = (struct.pack("<QQQQ", 7, 3, 0, 1) + seg(7, 1, 2, 1, 4, 4, 10, 1) +
            seg(7, 2, 1, 4, 4, 0, 0, 2) + struct.pack("<QIQI", 0, 0, 0, 0))
write("store_codec", "op-seal-extend", bytes([0, 20]) + seal_ext)
trim = (struct.pack("<QQQQ", 7, 4, 3, 1) + ZERO_SEG + ZERO_SEG + struct.pack("<QIQI", 0, 0, 0, 1) +
        seg(7, 1, 3, 1, 4, 0, 0, 1))
write("store_codec", "op-trim", bytes([0, 21]) + trim)
write("store_codec", "seg-value", bytes([1]) + seg_value(2, 1, 9, 9, 100, 3))
write("store_codec", "log-value", bytes([2]) + struct.pack("<QQQ", 3, 0, 1700000000000000))
