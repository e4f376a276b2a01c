#!/usr/bin/env python3
"""fold_ratio_bench.py -- a long operation over a whole log against a one-core
fold of the same log, in the same rounds (issue 22 item 1 targets, as
records per second; measured, never asserted), and optionally against
another build's (the code before a change). The operation:
  (default) a full `tms-audit verify --data DIR` (target: >= 0.8x the fold);
  --open    an open without the projection: `tmsctl --data COPY submit` of one
            command, COPY holding DIR's log and tree only (no projection, no
            snapshot: the whole log folded, the projection and its as-of index
            rebuilt; the close writes a snapshot); the copy is made before the
            clock starts (target: <= 1.3x the fold's time, i.e. >= 0.77x).

Each round, in an order that alternates by round: the operation with
BIN_DIR's programs (wall clock of the process; verify must print
"ok":true, the submit exit 0), the same with --base BASE_BIN when given,
and `bench_fold --data DIR --rounds 1` (BIN_DIR/../benchmarks/bench_fold;
its "fold-1core" records/s). Prints each round, then min / median / max of
the times, of fold/operation (the target's ratio) and of base/operation.

usage: fold_ratio_bench.py BIN_DIR DATA_DIR [--open] [--base BASE_BIN] [--rounds N (5)]
       DATA_DIR: a gen_log directory (e.g. gen_log --tenants 10 --extensions 217346 --seed 1 --data DIR,
       987 929 records); BIN_DIR a Release build's bin (cmake -DCMAKE_BUILD_TYPE=Release -DTMS_TESTS=OFF)"""
import json
import os
import re
import shutil
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


def open_without_projection(bin_dir, data):
    copy = data.rstrip("/") + ".noproj"
    shutil.rmtree(copy, ignore_errors=True)
    os.makedirs(copy)
    for part in ("log", "tree"):
        if os.path.isdir(os.path.join(data, part)):
            shutil.copytree(os.path.join(data, part), os.path.join(copy, part))
    one = json.dumps({"cmd": "CreateTenant", "tenant": "fold-ratio", "actor": "system", "admin": "admin"}) + "\n"
    t0 = time.perf_counter()
    p = subprocess.run([os.path.join(bin_dir, "tmsctl"), "--data", copy, "submit"], input=one, capture_output=True,
                       text=True)
    secs = time.perf_counter() - t0
    shutil.rmtree(copy, ignore_errors=True)
    if p.returncode != 0:
        raise SystemExit("open (%s) failed: %d %s %s" % (bin_dir, p.returncode, p.stdout, p.stderr))
    return secs


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
    base, rounds, op = arg("--base", ""), arg("--rounds", 5), "open" if "--open" in sys.argv else "verify"
    bench_fold = os.path.join(bin_dir, "..", "benchmarks", "bench_fold")
    _, records = verify(bin_dir, data)   # warm the page cache; the record count
    run = (lambda b: open_without_projection(b, data)) if op == "open" else (lambda b: verify(b, data)[0])
    rows = []
    print("operation: %s" % ("open without projection (embedded submit of one command)" if op == "open"
                             else "tms-audit verify"))
    print("| round | operation | base | one-core fold | fold/operation | base/operation |")
    print("|---|---|---|---|---|---|")
    for r in range(rounds):
        sides = ["verify", "base", "fold"] if base else ["verify", "fold"]
        if r % 2:
            sides.reverse()
        t = {}
        for side in sides:
            if side == "verify":
                t[side] = run(bin_dir)
            elif side == "base":
                t[side] = run(base)
            else:
                t[side] = fold(bench_fold, data, records)
        rows.append(t)
        print("| %d | %.2f s | %s | %.2f s | %.2fx | %s |" % (
            r + 1, t["verify"], "%.2f s" % t["base"] if base else "-", t["fold"], t["fold"] / t["verify"],
            "%.2fx" % (t["base"] / t["verify"]) if base else "-"))
    print()
    print("records %d; operation %s s; one-core fold %s s; fold/operation %s" % (
        records, mmm([t["verify"] for t in rows], "%.2f"), mmm([t["fold"] for t in rows], "%.2f"),
        mmm([t["fold"] / t["verify"] for t in rows], "%.2fx")))
    if base:
        print("base %s s; base/operation %s" % (mmm([t["base"] for t in rows], "%.2f"),
                                                  mmm([t["base"] / t["verify"] for t in rows], "%.2fx")))


if __name__ == "__main__":
    main()
