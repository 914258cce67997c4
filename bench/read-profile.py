#!/usr/bin/env python3
"""Attributes a `ward serve` profile to the parts of an audited read (bench/read-profile.sh).

Input: `perf script -F comm,ip,sym,dso` of a call-graph recording (one blank-line-separated
sample per block: the thread's name, then frames, innermost first). Each sample goes to the
first bucket whose rule matches, and the shares are scaled to microseconds per read by the
server's CPU per read measured from /proc over the same window.

Usage: read-profile.py SCRIPT_OUTPUT SERVER_US_PER_READ
"""

import collections
import sys


def samples(path):
    comm, stack = None, []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if comm is not None:
                    yield comm, stack
                comm, stack = None, []
            elif comm is None:
                comm = line.split()[0]
            else:
                stack.append(line.strip())
    if comm is not None:
        yield comm, stack


def has(stack, *keys):
    return any(k in fr for fr in stack for k in keys)


def leaf_in_libcrypto(stack):
    # SQLCipher's page cipher and HMAC (OpenSSL); the leaf frame names its library.
    return bool(stack) and "libcrypto" in stack[0]


def bucket(comm, st):
    if comm.startswith("ward-audit-app"):  # the trail's append thread (comm is cut at 15)
        if has(st, "fdatasync", "fsync"):
            return "append: fsync"
        if leaf_in_libcrypto(st):
            return "append: page cipher"
        if has(st, "lz4_flex"):
            return "append: pack (lz4)"
        if has(st, "KeyRing::seal", "aes_gcm"):
            return "append: seal"
        if has(st, "sqlite3"):
            return "append: sqlite"
        return "append: other (waking, channel)"
    if comm.startswith("ward-sqlite-ch"):
        return "checkpointer"
    if has(st, "audit::project", "index_audit", "insert_sorted", "AuditIndex::catch_up"):
        return "projection"
    if has(st, "walWriteOneFrame", "sqlite3PagerCommitPhaseOne", "pagerStress"):
        # Writing WAL frames outside the append thread. Under a read load only the projection
        # writes the data file, and its COMMIT runs in a task of its own (`StoreTx::commit`),
        # whose stack names no projection function.
        return "projection: commit (WAL write)"
    if has(st, "ward_core::audit::", "ward_audit::", "Appender::append"):
        return "record: build and hand over"
    if has(st, "rustls::"):
        return "tls"
    if has(st, "sqlite3", "conn::Pool::read"):
        return "read: page cipher" if leaf_in_libcrypto(st) else "read: sqlite"
    if has(st, "hyper::", "axum::", "tower::"):
        return "http"
    return "other (runtime, kernel, allocator)"


def main():
    path, per_read = sys.argv[1], float(sys.argv[2])
    counts = collections.Counter(bucket(c, s) for c, s in samples(path))
    n = sum(counts.values())
    if n == 0:
        sys.exit("no samples")
    for name, v in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{name:36s} {100 * v / n:5.1f}%  {per_read * v / n:6.1f} us/read")
    print(f"{'total':36s} 100.0%  {per_read:6.1f} us/read  ({n} samples)")


if __name__ == "__main__":
    main()
