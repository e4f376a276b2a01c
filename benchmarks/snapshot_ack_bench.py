#!/usr/bin/env python3
"""snapshot_ack_bench.py -- does writing snapshots delay an acknowledgement?
(issue 18 target: submit p99 with running snapshots within 5% of without.)

On a big data directory (a gen_log one: the state must be big for a
snapshot to cost anything), rounds alternate the two sides, each a fresh
tmsd on DIR: "off" (--snapshot-interval 0) and "on" (--snapshot-interval
INTERVAL --snapshot-records 1: a snapshot forked every INTERVAL seconds, far
more often than the default 60 s, so that a child is writing most of the
time). CLIENTS connections each submit one command at a time for SECONDS
after tmsd is up, every acknowledgement timed. tmsd is stopped with SIGKILL
(its child too) so that every round opens the same kind of directory.
Prints per round p50/p99 of both, the snapshots written and the longest
fork (status snapshots.fork_us_max), and the ratio on/off: min / median /
max over the rounds.

--records N: the "on" side's --snapshot-records (default 1: every tick);
--interval 60 --records 100000 is tmsd's default policy.

usage: snapshot_ack_bench.py BIN_DIR DIR [--rounds N (5)] [--seconds S (10)] [--clients C (4)] [--interval S (2)]
                             [--records N (1)]"""
import json, os, signal, subprocess, sys, tempfile, threading, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "daemon"))
import mp  # noqa: E402
sys.path.insert(0, HERE)
from benchutil import pct, wait_sock  # noqa: E402






def one_side(bin_dir, data, on, clients, seconds, interval, rnd, records=1):
    d = tempfile.mkdtemp(prefix="tms-snapbench-")
    sock = os.path.join(d, "s.sock")
    args = [os.path.join(bin_dir, "tmsd"), "--data", data, "--socket", sock]
    args += ["--snapshot-interval", str(interval), "--snapshot-records", str(records)] if on else \
        ["--snapshot-interval", "0"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_sock(sock, p)
        lat, stop_at = [[] for _ in range(clients)], time.monotonic() + seconds

        def client(i):
            conn = mp.Conn(sock, timeout=60)
            k = 0
            while time.monotonic() < stop_at:
                k += 1
                cmd = {"cmd": "CreateExtension", "tenant": "benchopen", "actor": "admin",
                       "id": "6%02d%03d%06d" % (i, rnd, k)}
                t0 = time.perf_counter()
                conn.call("submit", cmds=[cmd])
                lat[i].append((time.perf_counter() - t0) * 1e3)
            conn.close()

        ts = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        st = mp.Conn(sock, timeout=30).call("status")
        snaps = (st.get("snapshots") or {}) if isinstance(st, dict) else {}
    finally:
        # the child (if one is writing) dies with it: kill the process group's members we know of
        kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
        p.send_signal(signal.SIGKILL)
        p.wait()
        for k in kids:
            try:
                os.kill(int(k), signal.SIGKILL)
            except OSError:
                pass
        for k in kids:   # gone (it holds DIR's lock while it lives)
            while os.path.exists("/proc/%s" % k) and "Z" not in open("/proc/%s/stat" % k).read().split()[2]:
                time.sleep(0.01)
    allv = [x for v in lat for x in v]
    return pct(allv, 50), pct(allv, 99), len(allv), snaps.get("written", 0), snaps.get("fork_us_max", 0)


def main():
    args = sys.argv[1:]
    opts = {"--rounds": "5", "--seconds": "10", "--clients": "4", "--interval": "2", "--records": "1"}
    for k in list(opts):
        if k in args:
            i = args.index(k)
            opts[k] = args[i + 1]
            del args[i:i + 2]
    if len(args) != 2:
        print(__doc__)
        sys.exit(2)
    bin_dir, data = os.path.abspath(args[0]), args[1]
    rounds, seconds, clients, interval = int(opts["--rounds"]), float(opts["--seconds"]), int(opts["--clients"]), \
        float(opts["--interval"])
    records = int(opts["--records"])
    print("%s: %d client(s), %g s per side, on the 'on' side a look every %g s for %d new records\n" % (
        data, clients, seconds, interval, records))
    print("| round | off p50 | off p99 | on p50 | on p99 | snapshots | longest fork | p50 ratio | p99 ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    r50, r99 = [], []
    for r in range(rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        res = {s: one_side(bin_dir, data, s, clients, seconds, interval, r * 2 + s, records) for s in order}
        a, b = res[False], res[True]
        r50.append(b[0] / a[0])
        r99.append(b[1] / a[1])
        print("| %d | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %d | %.1f ms | %.3fx | %.3fx |" % (
            r + 1, a[0], a[1], b[0], b[1], b[3], b[4] / 1000.0, r50[-1], r99[-1]))
        sys.stdout.flush()
    r50.sort()
    r99.sort()
    print("\non/off p50: min %.3fx median %.3fx max %.3fx; p99: min %.3fx median %.3fx max %.3fx" % (
        r50[0], r50[len(r50) // 2], r50[-1], r99[0], r99[len(r99) // 2], r99[-1]))


main()
