#!/usr/bin/env python3
"""screen_window_bench.py -- what tmsd's lookups cost while it reads the
projection after "started" (docs/trust.md, "The projection's screen after
the open"): check latencies during that read against those after it, in the
same run.

usage: screen_window_bench.py BIN_DIR DIR [--rounds N] [--seconds S]

DIR: a big data directory tmsd opens from a snapshot with its projection
level (open_bench.py's, say). Each round starts tmsd, connects to its socket
as soon as it says "started", and sends one check at a time (one existing
account of a tenant in the middle, one permission) for S seconds (default
4); each latency is filed by whether it was sent before the time stamp of
tmsd's "projection screened" line or after it. Then kill -9 (after the
judgement: nothing left to screen first next time). Prints, per round, the
count and p50 / p99 of each side and their ratios, then min / median / max
of the ratios. Latencies include this Python client's own ~50-100 us."""
import argparse, datetime, os, re, shutil, signal, statistics, subprocess, sys, tempfile, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "daemon"))
import mp  # noqa: E402


def an_account(d):
    """(tenant, "extension", id) of one extension of a tenant in the middle of the projection (mdb_dump -p
    prints a key as tenant\\00kind\\00id, other bytes as \\xx)."""
    p = subprocess.Popen(["mdb_dump", "-s", "accounts", "-p", os.path.join(d, "proj")], stdout=subprocess.PIPE,
                         text=True)
    seen = 0
    for line in p.stdout:
        parts = line[1:].rstrip("\n").split("\\00")
        if line.startswith(" tn0005") and len(parts) == 3 and parts[1] == "e" and "\\" not in parts[2]:
            seen += 1
            if seen == 1000:
                p.kill()
                p.wait()
                return parts[0], "extension", parts[2]
    sys.exit("no extension of tn0005x in %s" % d)


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def one_round(bindir, d, q, seconds, scratch):
    log = os.path.join(scratch, "tmsd.log")
    sock = os.path.join(scratch, "s.sock")
    with open(log, "w") as f:
        p = subprocess.Popen([os.path.join(bindir, "tmsd"), "--data", d, "--socket", sock,
                              "--snapshot-interval", "0"], stdout=f, stderr=f)
    try:
        while "msg=started" not in open(log).read():
            if p.poll() is not None:
                sys.exit("tmsd exited: " + open(log).read()[-1500:])
            time.sleep(0.002)
        if "screen=after" not in open(log).read():
            sys.exit("tmsd read its projection during the open (screen=done): nothing to measure")
        c = mp.Conn(sock)
        lat = []
        t_end = time.time() + seconds
        while time.time() < t_end:
            t0 = time.time()
            r = c.call("check", q=[q])
            lat.append((t0, time.time() - t0))
            if r.get("error"):
                sys.exit("check: %s" % r)
        c.close()
        while "projection screened" not in open(log).read():
            if p.poll() is not None:
                sys.exit("tmsd exited: " + open(log).read()[-1500:])
            time.sleep(0.01)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    line = [l for l in open(log).read().splitlines() if "projection screened" in l][0]
    ts = re.search(r"ts=(\S+)Z", line).group(1)
    judged = datetime.datetime.fromisoformat(ts).replace(tzinfo=datetime.timezone.utc).timestamp()
    during = [x * 1e6 for t, x in lat if t < judged]
    after = [x * 1e6 for t, x in lat if t >= judged]
    if os.path.exists(sock):
        os.unlink(sock)
    return during, after


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bindir")
    ap.add_argument("dir")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4)
    a = ap.parse_args()
    tenant, kind, ident = an_account(a.dir)
    q = [tenant, kind, ident, "calls.international"]
    scratch = tempfile.mkdtemp(prefix="screen-window-")
    r50, r99 = [], []
    print("check %s; %d rounds of %.1f s" % (q, a.rounds, a.seconds))
    print("| round | during: n | p50 us | p99 us | after: n | p50 us | p99 us | p50 ratio | p99 ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i in range(a.rounds):
        during, after = one_round(a.bindir, a.dir, q, a.seconds, scratch)
        if len(during) < 20 or len(after) < 20:
            print("| %d | %d | - | - | %d | - | - | - | - |" % (i + 1, len(during), len(after)))
            continue
        d50, d99, a50, a99 = pct(during, .5), pct(during, .99), pct(after, .5), pct(after, .99)
        r50.append(d50 / a50)
        r99.append(d99 / a99)
        print("| %d | %d | %.0f | %.0f | %d | %.0f | %.0f | %.2fx | %.2fx |" % (i + 1, len(during), d50, d99,
                                                                            len(after), a50, a99, r50[-1], r99[-1]))
    if r50:
        print("during / after, p50: %.2f / %.2f / %.2fx; p99: %.2f / %.2f / %.2fx (min / median / max)" %
              (min(r50), statistics.median(r50), max(r50), min(r99), statistics.median(r99), max(r99)))
    shutil.rmtree(scratch, ignore_errors=True)


main()
