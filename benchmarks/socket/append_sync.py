#!/usr/bin/env python3
"""append_sync.py -- what one durable commit costs the file system itself:
N times (write a 256-byte record, fdatasync), once appending to a growing file
(as tmsd's log does: every fdatasync must also write the inode's new size) and
once overwriting a preallocated, already synced file (as PostgreSQL's WAL
segments are: the fdatasync writes data only). Prints one Markdown line with
the median and 99th percentile of each. run-pg.sh runs it in the directory of
the benchmark so both servers' file system is the one measured.

usage: append_sync.py DIR [N]      (N records per variant, default 2000)
"""
import os
import sys
import time

REC = b"x" * 256


def one(path, n, prealloc):
    """Latencies in microseconds of n write+fdatasync, sorted."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o600)
    try:
        if prealloc:
            os.write(fd, b"\0" * (n * len(REC) + 4096))
            os.fsync(fd)
        lat = []
        for i in range(n):
            t0 = time.perf_counter()
            os.pwrite(fd, REC, i * len(REC))
            os.fdatasync(fd)
            lat.append((time.perf_counter() - t0) * 1e6)
    finally:
        os.close(fd)
        os.unlink(path)
    return sorted(lat)


def main():
    if len(sys.argv) not in (2, 3) or not os.path.isdir(sys.argv[1]):
        sys.exit(__doc__.strip().splitlines()[-1])
    n = int(sys.argv[2]) if len(sys.argv) == 3 else 2000
    path = os.path.join(sys.argv[1], "append_sync.tmp")
    res = {}
    for name, prealloc in (("append", False), ("preallocated", True)):
        lat = one(path, n, prealloc)
        res[name] = (lat[len(lat) // 2], lat[len(lat) * 99 // 100])
    print("Raw write+fdatasync of 256 bytes on this file system (`append_sync.py`, %d each): "
          "appending to a growing file p50 %.0f us / p99 %.0f us, overwriting a preallocated file "
          "p50 %.0f us / p99 %.0f us." % (n, *res["append"], *res["preallocated"]))


if __name__ == "__main__":
    main()
