#!/usr/bin/env python3
"""verify_since_bench.py -- tms-audit verify --since after 1% more records,
against a full verify of the same directory (issue 18 item 4 target: the
--since one at most 5% of the full one; measured, never asserted).

1. A gen_log data directory of about RECORDS records (`gen_log --tenants 10
   --extensions RECORDS*100000/460094 --seed 1`: ~4.6 records per
   extension, as benchmarks/replication_bench.py makes them); gen_log's
   engine writes a snapshot at its clean close (an embedded `tmsctl submit`
   of one command makes one when there is none).
2. `tms-audit verify --data DIR --receipt R` (a full verify, timed once),
   which also writes R.state (the state at its seq: its size is printed).
3. PCT% more records through one embedded `tmsctl --data DIR submit`: a new
   tenant, extensions, and a SetPermissions on every other one. Its close
   writes a snapshot when the writer's policy says so (docs/design.md,
   "Snapshots"); the script says which snapshots are kept.
4. ROUNDS rounds, each timing a full `verify --data DIR` and `verify --data
   DIR --since R` (wall clock of the process), the order alternating by
   round; every run must print "ok":true (and the --since one "since").
   Prints each round (with the file the --since one started from: R.state),
   then min / median / max of both and of the ratio since/full (per round).
5. Once, `verify --data DIR --since R --receipt R2` (a roll forward: R2 and
   R2.state written), timed.

usage: verify_since_bench.py BIN_DIR [--records N (1000000)] [--pct P (1)] [--rounds N (5)] [--work DIR] [--keep]
       BIN_DIR holds tmsctl and tms-audit; gen_log is BIN_DIR/../benchmarks/gen_log (a Release build:
       cmake -S . -B /work/build-bench -DCMAKE_BUILD_TYPE=Release -DTMS_TESTS=OFF)"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def arg(name, default):
    if name in sys.argv:
        return type(default)(sys.argv[sys.argv.index(name) + 1])
    return default


def run(*args, stdin=None):
    t0 = time.perf_counter()
    p = subprocess.run([str(a) for a in args], input=stdin, capture_output=True, text=True)
    return time.perf_counter() - t0, p


def verify(bin_dir, data, *extra):
    secs, p = run(os.path.join(bin_dir, "tms-audit"), "verify", "--data", data, *extra)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = {}
    if p.returncode != 0 or doc.get("ok") is not True or ("--since" in extra and "since" not in doc):
        raise SystemExit("verify %s failed: %d %s %s" % (" ".join(extra), p.returncode, p.stdout, p.stderr))
    return secs, doc


def snapshots(data):
    return sorted(int(f.split(".")[0]) for f in os.listdir(os.path.join(data, "snapshots")) if f.endswith(".snap"))


def snapshot_path(data, seq):
    return os.path.join(data, "snapshots", "%020d.snap" % seq)


def more_commands(n):
    out = [{"cmd": "CreateTenant", "tenant": "bench-since", "actor": "system", "admin": "admin"}]
    i = 0
    while len(out) < n:
        out.append({"cmd": "CreateExtension", "tenant": "bench-since", "actor": "admin", "id": str(500000 + i)})
        if len(out) < n and i % 2:
            out.append({"cmd": "SetPermissions", "tenant": "bench-since", "actor": "admin", "kind": "extension",
                        "id": str(500000 + i), "enable": ["reports.view"], "disable": []})
        i += 1
    return "".join(json.dumps(c) + "\n" for c in out)


def summary(v):
    return "%.3f / %.3f / %.3f" % (min(v), statistics.median(v), max(v))


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    bin_dir = os.path.abspath(sys.argv[1])
    records, pct, rounds = arg("--records", 1000000), arg("--pct", 1.0), arg("--rounds", 5)
    work = arg("--work", "") or tempfile.mkdtemp(prefix="tms-sincebench-")
    os.makedirs(work, exist_ok=True)
    data, receipt = os.path.join(work, "data"), os.path.join(work, "receipt.json")
    receipt2 = os.path.join(work, "receipt2.json")
    if os.path.exists(data):
        raise SystemExit("%s exists: give another --work" % data)
    gen = os.path.join(bin_dir, "..", "benchmarks", "gen_log")
    try:
        ext = max(1, records * 100000 // 460094)
        secs, p = run(gen, "--tenants", 10, "--extensions", ext, "--seed", 1, "--data", data)
        if p.returncode != 0:
            raise SystemExit("gen_log failed: %s" % p.stderr)
        secs_v, doc = verify(bin_dir, data)
        n = doc["last_seq"]
        if not snapshots(data) or snapshots(data)[-1] != n:   # a writer's clean close with nothing new
            run(os.path.join(bin_dir, "tmsctl"), "--data", data, "submit",
                stdin=json.dumps({"cmd": "CreateTenant", "tenant": "bench-snap", "actor": "system",
                                  "admin": "admin"}) + "\n")
        print("gen_log: %d records (%d extensions, 10 tenants) in %.1f s; snapshots %s" %
              (n, ext, secs, snapshots(data)))
        secs, doc = verify(bin_dir, data, "--receipt", receipt)
        n = doc["last_seq"]
        print("full verify --receipt: %.3f s, receipt at seq %d; %s.state %d bytes (%.1f bytes/record; the "
              "snapshot of seq %d: %s bytes)" % (secs, n, os.path.basename(receipt), os.path.getsize(receipt + ".state"),
                                                 os.path.getsize(receipt + ".state") / n, n,
                                                 os.path.getsize(snapshot_path(data, n))
                                                 if os.path.exists(snapshot_path(data, n)) else "no"))
        add = max(1, int(n * pct / 100))
        secs, p = run(os.path.join(bin_dir, "tmsctl"), "--data", data, "submit", stdin=more_commands(add))
        if p.returncode != 0:
            raise SystemExit("tmsctl submit failed: %s" % p.stderr)
        _, doc = verify(bin_dir, data)
        print("appended %d records (%.2f%%) in %.1f s: last seq %d; snapshots kept %s" %
              (doc["last_seq"] - n, 100.0 * (doc["last_seq"] - n) / n, secs, doc["last_seq"], snapshots(data)))
        full, since, ratio = [], [], []
        for r in range(rounds):
            sides = ("full", "since") if r % 2 == 0 else ("since", "full")
            got = {}
            for side in sides:
                got[side] = verify(bin_dir, data, *(("--since", receipt) if side == "since" else ()))
            full.append(got["full"][0])
            since.append(got["since"][0])
            ratio.append(got["since"][0] / got["full"][0])
            print("round %d (%s first): full %.3f s, since %.3f s (%d records read, from %s), ratio %.2f%%" %
                  (r + 1, sides[0], got["full"][0], got["since"][0], got["since"][1]["records"],
                   os.path.basename(got["since"][1].get("from") or "-"), 100 * ratio[-1]))
        print("full verify  min/median/max: %s s" % summary(full))
        print("--since      min/median/max: %s s" % summary(since))
        print("since/full   min/median/max: %s (%.1f%% at the median; target <= 5%%)" %
              (summary(ratio), 100 * statistics.median(ratio)))
        secs, doc = verify(bin_dir, data, "--since", receipt, "--receipt", receipt2)
        print("--since R --receipt R2 (a roll forward, R2.state written): %.3f s" % secs)
    finally:
        if "--keep" not in sys.argv:   # only what this run made
            shutil.rmtree(data, ignore_errors=True)
            for f in (receipt, receipt + ".state", receipt2, receipt2 + ".state"):
                if os.path.exists(f):
                    os.unlink(f)
        else:
            print("kept: %s" % work)


if __name__ == "__main__":
    main()
