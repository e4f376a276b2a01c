#!/usr/bin/env python3
"""open_bench.py -- how long an open of a big data directory takes, from a
snapshot with a tail of about 1% of the log against a fold of the whole log
(issue 18's target: >= 10x), sides alternated in one run.

usage: open_bench.py BIN_DIR DIR [--base BASE_BIN_DIR [--base-dir BASE_DIR]] [--rounds N] [--tail PERCENT] [--clean]
                    [--spread N]

DIR is a gen_log directory (benchmarks/gen_log --data DIR). It is prepared
once (DIR/.open_bench marks it): an embedded submit folds the whole log and
its close writes the snapshot S; then TAIL percent (default 0.9: below the
1% at which a clean close writes another) more records are submitted, so S
stays the newest with the tail after it.

Measured, each round alternating the sides:
  tmsd: from exec to the "msg=started" line (listeners open), then kill -9
        (nothing written at a stop, so every round opens the same directory;
        --snapshot-interval 0, no running snapshot either). A tmsd that
        reads the projection after "started" (screen=after, docs/trust.md)
        is killed once that read is judged ("projection screened"), and the
        time to it is given as its side's "(screen judged)" row
        - snapshot: DIR as prepared (the open starts from S, folds the tail)
        - full: DIR/snapshots moved aside (the open folds the whole log, and
          since c817b89 writes its own snapshot before "started": removed
          after the round)
        - base (with --base): the tmsd of BASE_BIN_DIR, built from before
          issue 18 (it knows no snapshots): today's full fold; or, with
          --base-dir, an earlier build that does, on BASE_DIR (a copy of DIR
          prepared by the base's own programs: the two builds' snapshot
          files need not be of one version, and each sets aside the other's)
  embedded submit of one command (tmsctl --data DIR submit): snapshot, and
        base (with --base; the current tmsctl without snapshots would write
        one at its close, which no one did before issue 18)
Each embedded submit adds one record (the tail grows by one per round).
--spread N: the tail's records go to gen_log's tenants tn00001..tnN in turn
(N: the --tenants DIR was generated with) instead of all to one new tenant,
so that an open must bring every tenant's state up to date, not one (a
directory is prepared one way: the mark says which).
--clean: first 1.01% more records are submitted, so that the close writes the
snapshot of the last seq (what a clean stop leaves: no tail, the projection
at the snapshot's seq); only tmsd's sides are measured then.
Prints min / median / max seconds per side and the ratios of medians."""
import argparse, json, os, shutil, signal, statistics, subprocess, sys, tempfile, time


def sh(*args, stdin=None):
    r = subprocess.run([str(a) for a in args], input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("%s failed (%d): %s" % (" ".join(map(str, args)), r.returncode, r.stderr[-2000:]))
    return r.stdout


def last_seq(bindir, d):
    out = sh(os.path.join(bindir, "tmsctl"), "--data", d, "status")
    return json.loads(out)["last_seq"]


def prepare(bindir, d, tail_percent, spread=0):
    mark = os.path.join(d, ".open_bench")
    if os.path.exists(mark):
        info = json.load(open(mark))
        if info.get("spread", 0) != spread:
            sys.exit("%s was prepared with --spread %d: prepare a fresh copy" % (d, info.get("spread", 0)))
        return info
    one = json.dumps({"cmd": "CreateTenant", "tenant": "benchopen", "actor": "system", "admin": "admin"}) + "\n"
    t0 = time.time()
    sh(os.path.join(bindir, "tmsctl"), "--data", d, "submit", stdin=one)
    first = time.time() - t0
    snaps = sorted(os.listdir(os.path.join(d, "snapshots")))
    snap_seq = int(snaps[-1].split(".")[0])
    n = int(snap_seq * tail_percent / 100)
    cmds = [{"cmd": "CreateExtension", "tenant": "tn%05d" % (1 + i % spread) if spread else "benchopen",
             "actor": "admin", "id": str(100000 + i) if not spread else "8%08d" % i} for i in range(n)]
    sh(os.path.join(bindir, "tmsctl"), "--data", d, "submit", stdin="".join(json.dumps(c) + "\n" for c in cmds))
    info = {"snapshot_seq": snap_seq, "tail": n, "first_open_s": round(first, 2), "spread": spread}
    json.dump(info, open(mark, "w"))
    return info


def tmsd_start(bindir, d, scratch):
    log = os.path.join(scratch, "tmsd.log")
    sock = os.path.join(scratch, "s.sock")
    with open(log, "w") as f:
        t0 = time.time()
        p = subprocess.Popen([os.path.join(bindir, "tmsd"), "--data", d, "--socket", sock] +
                             (["--snapshot-interval", "0"] if "snapshot-interval" in HELP.get(bindir, "") else []),
                             stdout=f, stderr=f)
        try:
            while True:
                if "msg=started" in open(log).read():
                    el = time.time() - t0
                    break
                if p.poll() is not None:
                    sys.exit("tmsd exited: " + open(log).read()[-2000:])
                time.sleep(0.005)
            # a tmsd that reads the projection after "started" (docs/trust.md) is killed only once that read
            # is judged: killed before, it leaves DIR/proj/unscreened and the next open screens first
            while "screen=after" in open(log).read() and "msg=\"projection screened\"" not in open(log).read():
                if p.poll() is not None or "level=error" in open(log).read():
                    sys.exit("tmsd failed: " + open(log).read()[-2000:])
                time.sleep(0.005)
            judged = time.time() - t0
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait()
    text = open(log).read()
    if os.path.exists(sock):
        os.unlink(sock)
    return el, text, judged


def embedded_submit(bindir, d, i):
    one = json.dumps({"cmd": "CreateExtension", "tenant": "benchopen", "actor": "admin", "id": "9%08d" % i}) + "\n"
    t0 = time.time()
    sh(os.path.join(bindir, "tmsctl"), "--data", d, "submit", stdin=one)
    return time.time() - t0


HELP = {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bindir")
    ap.add_argument("dir")
    ap.add_argument("--base")
    ap.add_argument("--base-dir")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tail", type=float, default=0.9)
    ap.add_argument("--clean", action="store_true")
    ap.add_argument("--spread", type=int, default=0)
    a = ap.parse_args()
    for b in filter(None, (a.bindir, a.base)):
        HELP[b] = subprocess.run([os.path.join(b, "tmsd"), "--help"], capture_output=True, text=True).stdout
    info = prepare(a.bindir, a.dir, a.tail, a.spread)
    binfo = prepare(a.base, a.base_dir, a.tail, a.spread) if a.base_dir else info
    bdir = a.base_dir or a.dir
    if a.clean:
        n = int(last_seq(a.bindir, a.dir) * 0.0101) + 1
        cmds = [{"cmd": "CreateExtension", "tenant": "benchopen", "actor": "admin", "id": "7%08d" % i} for i in range(n)]
        sh(os.path.join(a.bindir, "tmsctl"), "--data", a.dir, "submit",
           stdin="".join(json.dumps(c) + "\n" for c in cmds))
        info["snapshot_seq"] = last_seq(a.bindir, a.dir)
        os.unlink(os.path.join(a.dir, ".open_bench"))   # the directory is no longer as prepared
    snapdir, aside = os.path.join(a.dir, "snapshots"), os.path.join(a.dir, "snapshots.aside")
    scratch = tempfile.mkdtemp(prefix="open-bench-")
    times = {}
    sides = ["tmsd snapshot", "tmsd full"] + (["tmsd base"] if a.base else [])
    esides = [] if a.clean else ["submit snapshot"] + (["submit base"] if a.base else [])
    sub_i = 0
    for r in range(a.rounds):
        order = sides if r % 2 == 0 else list(reversed(sides))
        for s in order:
            if s == "tmsd full":
                os.rename(snapdir, aside)
            try:
                el, text, judged = tmsd_start(a.base if s == "tmsd base" else a.bindir, bdir if s == "tmsd base" else a.dir,
                                      scratch)
            finally:
                if s == "tmsd full":   # the whole fold takes its own snapshot (docs/design.md, "When" (3)): dropped
                    shutil.rmtree(snapdir, ignore_errors=True)
                    os.rename(aside, snapdir)
            if s == "tmsd snapshot" and "from_snapshot=%d" % info["snapshot_seq"] not in text:
                sys.exit("the snapshot side did not start from the snapshot: " + text[-1500:])
            if s == "tmsd base" and a.base_dir and "from_snapshot=%d" % binfo["snapshot_seq"] not in text:
                sys.exit("the base side did not start from its snapshot: " + text[-1500:])
            times.setdefault(s, []).append(el)
            if "screen=after" in text:   # the projection read after "started": when that was judged too
                times.setdefault(s + " (screen judged)", []).append(judged)
        order = esides if r % 2 == 0 else list(reversed(esides))
        for s in order:
            sub_i += 1
            base = s == "submit base"
            times.setdefault(s, []).append(embedded_submit(a.base if base else a.bindir, bdir if base else a.dir,
                                                           sub_i))
            extra = sorted(os.listdir(os.path.join(bdir if base else a.dir, "snapshots")))
            if int(extra[-1].split(".")[0]) != (binfo if base else info)["snapshot_seq"]:
                sys.exit("a snapshot other than S appeared: %s" % extra)
    shutil.rmtree(scratch, ignore_errors=True)
    print("directory %s: last seq %d, snapshot at %d, tail %d records (%.2f%%, %s); first open (full fold + "
          "snapshot written) %.1f s" % (a.dir, last_seq(a.bindir, a.dir), info["snapshot_seq"],
                                         last_seq(a.bindir, a.dir) - info["snapshot_seq"],
                                         100.0 * (last_seq(a.bindir, a.dir) - info["snapshot_seq"]) /
                                         last_seq(a.bindir, a.dir),
                                         "over tn00001..tn%05d" % a.spread if a.spread else "one tenant",
                                         info["first_open_s"]))
    if a.base_dir:
        print("base directory %s: last seq %d, snapshot at %d" % (a.base_dir, last_seq(a.base, a.base_dir),
                                                                  binfo["snapshot_seq"]))
    print("| side | min | median | max | rounds |")
    print("|---|---|---|---|---|")
    for s, v in times.items():
        print("| %s | %.2f | %.2f | %.2f | %d |" % (s, min(v), statistics.median(v), max(v), len(v)))
    med = {s: statistics.median(v) for s, v in times.items()}
    for full in ("tmsd full", "tmsd base"):
        if full in med:
            print("%s / tmsd snapshot: %.1fx" % (full, med[full] / med["tmsd snapshot"]))
    if "submit base" in med:
        print("submit base / submit snapshot: %.1fx" % (med["submit base"] / med["submit snapshot"]))


if __name__ == "__main__":
    main()
