#!/usr/bin/env python3
"""trust_bench.py -- does signing delay an acknowledgement? (issue 17 target:
submit latency p50/p99 with --signing-key within 5% of without.)

Rounds alternate the two sides (plain, signed; then signed, plain; ...),
each on a fresh data directory and a fresh tmsd: CLIENTS connections each
submit one command at a time for SECONDS and time every acknowledgement.
The signed side runs with --checkpoint-interval INTERVAL (default 0.05 s:
twenty checkpoints a second, far more than the default 10 s, so a cost
would show). Prints per round p50/p99 of both, and the ratio signed/plain:
min / median / max over the rounds.

With --proofs DIR (a data directory, e.g. a gen_log one of 10M records):
the cost of an inclusion proof where users meet it, against a current check
in the same run, rounds alternating: GET /v1/proof/inclusion (keep-alive,
random seqs) vs GET /v1/check on the same tmsd; and `tms-audit prove` as a
process vs `tms-audit checkpoint --size 1` (the same start, open and exit,
no proof) — their difference is what a proof adds.

usage: trust_bench.py BIN_DIR [--rounds N (5)] [--seconds S (4)] [--clients C (1,8)] [--interval S (0.05)]
       trust_bench.py BIN_DIR --proofs DIR [--rounds N (5)] [--n N (2000)]"""
import os, shutil, signal, subprocess, sys, tempfile, threading, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "daemon"))
import mp  # noqa: E402
sys.path.insert(0, HERE)
from benchutil import pct, wait_sock  # noqa: E402






def one_side(bin_dir, signed, clients, seconds, interval, key):
    d = tempfile.mkdtemp(prefix="tms-trustbench-")
    data, sock = os.path.join(d, "data"), os.path.join(d, "s.sock")
    args = [os.path.join(bin_dir, "tmsd"), "--data", data, "--socket", sock]
    if signed:
        args += ["--signing-key", key, "--checkpoint-interval", str(interval)]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_sock(sock, p)
        c = mp.Conn(sock, timeout=30)
        c.call("submit", cmds=[{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
        c.close()
        lat, stop_at = [[] for _ in range(clients)], time.monotonic() + seconds

        def client(i):
            conn = mp.Conn(sock, timeout=30)
            n = 0
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                r = conn.call("submit", cmds=[{"cmd": "CreateExtension", "tenant": "acme", "actor": "admin",
                                               "id": "c%d-%d" % (i, n)}])
                lat[i].append(time.perf_counter() - t0)
                if r.get("results", [{}])[0].get("verdict") != "accepted":
                    raise SystemExit("a submit was not accepted: %r" % r)
                n += 1
            conn.close()
        ts = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        allv = [x for v in lat for x in v]
        cps = mp.Conn(sock, timeout=30).call("status").get("checkpoint", {}).get("signed", 0) if signed else 0
        return pct(allv, 50) * 1e3, pct(allv, 99) * 1e3, len(allv), cps
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        shutil.rmtree(d, ignore_errors=True)


def proofs(bin_dir, data, rounds, n):
    import http.client, random, socket as so
    s = so.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    sock = os.path.join(tempfile.mkdtemp(prefix="tms-proofbench-"), "s.sock")
    p = subprocess.Popen([os.path.join(bin_dir, "tmsd"), "--data", data, "--socket", sock, "--http",
                          "127.0.0.1:%d" % port], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_sock(sock, p)
        size = mp.Conn(sock, timeout=30).call("status")["last_seq"]
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        rnd = random.Random(5)

        def timed(path):
            t0 = time.perf_counter()
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            if r.status != 200:
                raise SystemExit("%s: %d %s" % (path, r.status, body[:200]))
            return time.perf_counter() - t0
        res = {"proof": [], "check": []}
        for r in range(rounds):
            for side in (("proof", "check") if r % 2 == 0 else ("check", "proof")):
                v = []
                for _ in range(n):
                    if side == "proof":
                        v.append(timed("/v1/proof/inclusion?seq=%d&size=%d" % (rnd.randint(1, size), size)))
                    else:
                        v.append(timed("/v1/check?tenant=t%d&kind=extension&id=%d&name=calls.international" % (
                            rnd.randint(1, 100), rnd.randint(1, 20000))))
                res[side].append((pct(v, 50) * 1e3, pct(v, 99) * 1e3))
        print("\ntmsd over HTTP, %d records, %d requests per side per round, %d rounds (ms)\n" % (size, n, rounds))
        print("| round | proof p50 | proof p99 | check p50 | check p99 | p50 ratio |")
        print("|---|---|---|---|---|---|")
        ratios = []
        for r in range(rounds):
            a, b = res["proof"][r], res["check"][r]
            ratios.append(a[0] / b[0])
            print("| %d | %.3f | %.3f | %.3f | %.3f | %.2fx |" % (r + 1, a[0], a[1], b[0], b[1], ratios[-1]))
        ratios.sort()
        print("\nproof/check p50: min %.2fx median %.2fx max %.2fx" % (ratios[0], ratios[len(ratios) // 2], ratios[-1]))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=120)
    audit = os.path.join(bin_dir, "tms-audit")
    walls = {"prove": [], "base": []}
    rnd = random.Random(9)
    for r in range(rounds):
        for side in (("prove", "base") if r % 2 == 0 else ("base", "prove")):
            v = []
            for _ in range(max(5, n // 100)):
                args = ([audit, "prove", "--data", data, "--seq", str(rnd.randint(1, size)), "--size", str(size)]
                        if side == "prove" else [audit, "checkpoint", "--data", data, "--size", "1"])
                t0 = time.perf_counter()
                subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                v.append(time.perf_counter() - t0)
            walls[side].append(pct(v, 50) * 1e3)
    print("\ntms-audit as a process, median wall time per round (ms): prove %s; the same start without a proof %s" % (
        " / ".join("%.2f" % x for x in walls["prove"]), " / ".join("%.2f" % x for x in walls["base"])))
    diffs = sorted(a - b for a, b in zip(walls["prove"], walls["base"]))
    print("what the proof adds: min %.2f median %.2f max %.2f ms" % (diffs[0], diffs[len(diffs) // 2], diffs[-1]))


def main():
    args = sys.argv[1:]
    if "--proofs" in args:
        i = args.index("--proofs")
        data = args[i + 1]
        del args[i:i + 2]
        rounds = n = None
        for k in ("--rounds", "--n"):
            if k in args:
                j = args.index(k)
                v = int(args[j + 1])
                del args[j:j + 2]
                rounds, n = (v, n) if k == "--rounds" else (rounds, v)
        proofs(os.path.abspath(args[0]), data, rounds or 5, n or 2000)
        return
    opts = {"--rounds": "5", "--seconds": "4", "--clients": "1,8", "--interval": "0.05"}
    for k in list(opts):
        if k in args:
            i = args.index(k)
            opts[k] = args[i + 1]
            del args[i:i + 2]
    if len(args) != 1:
        print(__doc__)
        sys.exit(2)
    bin_dir = os.path.abspath(args[0])
    keydir = tempfile.mkdtemp(prefix="tms-trustbench-key-")
    key = os.path.join(keydir, "log.key")
    subprocess.run([os.path.join(bin_dir, "tms-audit"), "keygen", "--name", "bench.example/tms", "--out", key],
                   check=True, capture_output=True)
    rounds, seconds, interval = int(opts["--rounds"]), float(opts["--seconds"]), float(opts["--interval"])
    for clients in (int(c) for c in opts["--clients"].split(",")):
        print("\n%d client(s), %g s per side, checkpoint interval %g s\n" % (clients, seconds, interval))
        print("| round | plain p50 | plain p99 | signed p50 | signed p99 | checkpoints | p50 ratio | p99 ratio |")
        print("|---|---|---|---|---|---|---|---|")
        r50, r99 = [], []
        for r in range(rounds):
            order = (False, True) if r % 2 == 0 else (True, False)
            res = {s: one_side(bin_dir, s, clients, seconds, interval, key) for s in order}
            a, b = res[False], res[True]
            r50.append(b[0] / a[0])
            r99.append(b[1] / a[1])
            print("| %d | %.3f ms | %.3f ms | %.3f ms | %.3f ms | %d | %.3fx | %.3fx |" % (
                r + 1, a[0], a[1], b[0], b[1], b[3], r50[-1], r99[-1]))
        r50.sort()
        r99.sort()
        print("\nsigned/plain p50: min %.3fx median %.3fx max %.3fx; p99: min %.3fx median %.3fx max %.3fx" % (
            r50[0], r50[len(r50) // 2], r50[-1], r99[0], r99[len(r99) // 2], r99[-1]))
    shutil.rmtree(keydir, ignore_errors=True)


if __name__ == "__main__":
    main()
