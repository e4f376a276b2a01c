#!/usr/bin/env python3
"""seed_bench.py -- a new replica's data directory from a leader's snapshot
(tms-restore seed, issue 18 item 5) against a whole copy of the leader
(tms-restore backup, what a new replica needed before), sides alternated in
one run.

usage: seed_bench.py BIN_DIR DIR [--rounds N]

DIR is a gen_log directory (benchmarks/gen_log --data DIR); it is copied
once to a work directory beside it (DIR.seedbench, kept between runs), where
a log key is made and `tmsctl checkpoint --signing-key` signs a checkpoint
and the notes of the snapshots (the leader's part). Each round, alternating:
  backup: tms-restore backup --data WORK --to NEW (the log checked and copied,
          the projection copied, NEW opened)
  seed:   tms-restore seed --from WORK --key VKEY --to NEW (the snapshot
          read and decoded, the tree of its records computed from the leaf
          hashes, the projection written from the state, NEW opened)
and NEW removed. What each side reads from the leader is reported too (the
seed: the snapshot file and the tree's stored hashes up to its seq; the
backup: the log and the projection), and the size of NEW.
Prints min / median / max seconds per side and the ratio of medians."""
import argparse, json, os, shutil, statistics, subprocess, sys, time


def sh(*args):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("%s failed (%d): %s" % (" ".join(map(str, args)), r.returncode, r.stderr[-2000:]))
    return r.stdout


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bindir")
    ap.add_argument("dir")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    work = os.path.abspath(a.dir.rstrip("/") + ".seedbench")
    key, vkey = work + ".key", work + ".vkey"
    if not os.path.exists(work):
        shutil.copytree(a.dir, work, ignore=shutil.ignore_patterns("*.sock", "lock"))
        with open(vkey, "w") as f:
            f.write(sh(os.path.join(a.bindir, "tms-audit"), "keygen", "--name", "bench.example/tms", "--out", key))
        sh(os.path.join(a.bindir, "tmsctl"), "--data", work, "checkpoint", "--signing-key", key)
        sh(os.path.join(a.bindir, "tmsctl"), "--data", work, "checkpoint", "--signing-key", key)   # the close's note
    snaps = sorted(n for n in os.listdir(os.path.join(work, "snapshots")) if n.endswith(".snap"))
    seq = int(snaps[-1].split(".")[0])
    stored = 16 + 32 * (2 * seq)   # at most: the stored hashes of seq leaves are < 2 * seq
    reads = {"seed": os.path.getsize(os.path.join(work, "snapshots", snaps[-1])) + min(stored, du(os.path.join(work, "tree"))),
             "backup": du(os.path.join(work, "log")) + du(os.path.join(work, "proj"))}
    new = work + ".new"
    times = {"seed": [], "backup": []}
    sizes = {}
    for r in range(a.rounds):
        order = ("seed", "backup") if r % 2 == 0 else ("backup", "seed")
        for side in order:
            shutil.rmtree(new, ignore_errors=True)
            t0 = time.monotonic()
            if side == "seed":
                out = json.loads(sh(os.path.join(a.bindir, "tms-restore"), "seed", "--from", work, "--key", vkey,
                                    "--to", new))
                assert out["seeded_from"] == seq, out
            else:
                sh(os.path.join(a.bindir, "tms-restore"), "backup", "--data", work, "--to", new)
            times[side].append(time.monotonic() - t0)
            sizes[side] = du(new)
            print("round %d %s %.3f s" % (r + 1, side, times[side][-1]), flush=True)
    shutil.rmtree(new, ignore_errors=True)
    print("records %d, snapshot of seq %d" % (seq, seq))
    for side in ("seed", "backup"):
        t = times[side]
        print("%-6s min %.3f median %.3f max %.3f s; reads %.1f MB of the leader's; the new directory %.1f MB" %
              (side, min(t), statistics.median(t), max(t), reads[side] / 1e6, sizes[side] / 1e6))
    print("ratio of medians backup/seed: %.2fx; bytes read backup/seed: %.2fx" %
          (statistics.median(times["backup"]) / statistics.median(times["seed"]), reads["backup"] / reads["seed"]))


if __name__ == "__main__":
    main()
