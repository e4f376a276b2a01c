#!/usr/bin/env python3
"""verify_fold_bench.py -- a full `tms-audit verify` against a one-core fold of
the same log, in the same rounds (issue 22 item 1 target: verify >= 0.8x a
one-core fold, as records per second; measured, never asserted), and
optionally against another build's verify (the code before a change).

Each round, in an order that alternates by round: `tms-audit verify --data
DIR` of BIN_DIR (wall clock of the process; it must print "ok":true), the
same of --base BASE_BIN when given, and `bench_fold --data DIR --rounds 1`
(BIN_DIR/../benchmarks/bench_fold; its "fold-1core" records/s). Prints each
round, then min / median / max of the times, of fold/verify (the ratio of
the target: verify's records/s over the fold's) and of base/verify.

usage: verify_fold_bench.py BIN_DIR DATA_DIR [--base BASE_BIN] [--rounds N (5)]
       DATA_DIR: a gen_log directory (e.g. gen_log --tenants 10 --extensions 217346 --seed 1 --data DIR,
       987 929 records); BIN_DIR a Release build's bin (cmake -DCMAKE_BUILD_TYPE=Release -DTMS_TESTS=OFF)"""
import json
import os
import re
import statistics
import subprocess
import sys
import time


def arg(name, default):
    if name in sys.argv:
        return type(default)(sys.argv[sys.argv.index(name) + 1])
    return default


def verify(bin_dir, data):
    t0 = time.perf_counter()
    p = subprocess.run([os.path.join(bin_dir, "tms-audit"), "verify", "--data", data], capture_output=True, text=True)
    secs = time.perf_counter() - t0
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = {}
    if p.returncode != 0 or doc.get("ok") is not True:
        raise SystemExit("verify (%s) failed: %d %s %s" % (bin_dir, p.returncode, p.stdout, p.stderr))
    return secs, doc["last_seq"]


def fold(bench_fold, data, records):
    p = subprocess.run([bench_fold, "--data", data, "--rounds", "1"], capture_output=True, text=True)
    m = re.search(r"^\| fold-1core \| (\d+) \|", p.stdout, re.M)
    if p.returncode != 0 or not m:
        raise SystemExit("bench_fold failed: %d %s %s" % (p.returncode, p.stdout, p.stderr))
    return records / int(m.group(1))


def mmm(xs, fmt):
    return " / ".join(fmt % x for x in (min(xs), statistics.median(xs), max(xs)))


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    bin_dir, data = sys.argv[1], sys.argv[2]
    base, rounds = arg("--base", ""), arg("--rounds", 5)
    bench_fold = os.path.join(bin_dir, "..", "benchmarks", "bench_fold")
    _, records = verify(bin_dir, data)   # warm the page cache; the record count
    rows = []
    print("| round | verify | base verify | one-core fold | fold/verify | base/verify |")
    print("|---|---|---|---|---|---|")
    for r in range(rounds):
        sides = ["verify", "base", "fold"] if base else ["verify", "fold"]
        if r % 2:
            sides.reverse()
        t = {}
        for side in sides:
            if side == "verify":
                t[side] = verify(bin_dir, data)[0]
            elif side == "base":
                t[side] = verify(base, data)[0]
            else:
                t[side] = fold(bench_fold, data, records)
        rows.append(t)
        print("| %d | %.2f s | %s | %.2f s | %.2fx | %s |" % (
            r + 1, t["verify"], "%.2f s" % t["base"] if base else "-", t["fold"], t["fold"] / t["verify"],
            "%.2fx" % (t["base"] / t["verify"]) if base else "-"))
    print()
    print("records %d; verify %s s; one-core fold %s s; fold/verify %s" % (
        records, mmm([t["verify"] for t in rows], "%.2f"), mmm([t["fold"] for t in rows], "%.2f"),
        mmm([t["fold"] / t["verify"] for t in rows], "%.2fx")))
    if base:
        print("base verify %s s; base/verify %s" % (mmm([t["base"] for t in rows], "%.2f"),
                                                  mmm([t["base"] / t["verify"] for t in rows], "%.2fx")))


if __name__ == "__main__":
    main()
