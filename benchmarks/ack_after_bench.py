#!/usr/bin/env python3
"""ack_after_bench.py -- what --ack-after stream costs (issue 20 target:
submit throughput with it, a stream of R=3 on one machine, >= 0.5x of the
local acknowledgement at 8 clients; latency p50 reported).

A three-node JetStream cluster (nats-server, loopback) is started once;
rounds alternate the two sides (local, stream; then stream, local; ...),
each a fresh tmsd on a fresh data directory publishing to a fresh stream of
3 replicas: CLIENTS connections each submit one command at a time for
SECONDS, every acknowledgement timed. Prints per round the throughput and
p50/p99 of both and the ratio stream/local; then min / median / max.

usage: ack_after_bench.py BIN_DIR [--rounds N (5)] [--seconds S (8)] [--clients C (8)] [--replicas R (3)]"""
import os, shutil, signal, socket, subprocess, sys, tempfile, threading, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "daemon"))
import mp  # noqa: E402
sys.path.insert(0, HERE)
from benchutil import pct, free_port  # noqa: E402






def wait(cond, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if cond():
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def cluster(d, n):
    ports, routes = [free_port() for _ in range(n)], [free_port() for _ in range(n)]
    procs = []
    for i in range(n):
        args = ["nats-server", "-js", "-sd", os.path.join(d, "js%d" % i), "-a", "127.0.0.1", "-p", str(ports[i])]
        if n > 1:
            args += ["-n", "n%d" % i, "--cluster_name", "bench", "--cluster", "nats://127.0.0.1:%d" % routes[i],
                     "--routes", ",".join("nats://127.0.0.1:%d" % r for j, r in enumerate(routes) if j != i)]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for p in ports:
        if not wait(lambda: socket.create_connection(("127.0.0.1", p), timeout=0.2).close() or True):
            raise SystemExit("nats-server did not come up")
    time.sleep(3 if n > 1 else 0.2)   # the cluster elects its meta leader
    return procs, "nats://127.0.0.1:%d" % ports[0]


def one_side(bin_dir, url, stream_ack, clients, seconds, replicas, name):
    d = tempfile.mkdtemp(prefix="tms-ackbench-")
    data, sock = os.path.join(d, "data"), os.path.join(d, "s.sock")
    args = [os.path.join(bin_dir, "tmsd"), "--data", data, "--socket", sock, "--publish", url, "--stream", name,
            "--snapshot-interval", "0"]
    if replicas > 1:
        args += ["--stream-replicas", str(replicas)]
    if stream_ack:
        args += ["--ack-after", "stream"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait(lambda: mp.Conn(sock, timeout=2).close() or True):
            raise SystemExit("tmsd did not come up")
        c = mp.Conn(sock, timeout=30)
        c.call("submit", cmds=[{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
        wait(lambda: c.call("status")["publish"]["published"] >= 1, 30)
        c.close()
        lat, bad, stop_at = [[] for _ in range(clients)], [0], time.monotonic() + seconds

        def client(i):
            conn = mp.Conn(sock, timeout=60)
            k = 0
            while time.monotonic() < stop_at:
                k += 1
                t0 = time.perf_counter()
                r = conn.call("submit", cmds=[{"cmd": "CreateExtension", "tenant": "acme", "actor": "admin",
                                               "id": "%d%06d" % (i, k)}])
                lat[i].append((time.perf_counter() - t0) * 1e3)
                bad[0] += r.get("results", [{}])[0].get("verdict") != "accepted"
            conn.close()

        ts = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        t0 = time.monotonic()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        el = time.monotonic() - t0
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
        shutil.rmtree(d, ignore_errors=True)
    allv = [x for v in lat for x in v]
    return len(allv) / el, pct(allv, 50), pct(allv, 99), bad[0]


def main():
    args = sys.argv[1:]
    opts = {"--rounds": "5", "--seconds": "8", "--clients": "8", "--replicas": "3"}
    for k in list(opts):
        if k in args:
            i = args.index(k)
            opts[k] = args[i + 1]
            del args[i:i + 2]
    if len(args) != 1:
        print(__doc__)
        sys.exit(2)
    bin_dir = os.path.abspath(args[0])
    rounds, seconds, clients, replicas = int(opts["--rounds"]), float(opts["--seconds"]), int(opts["--clients"]), \
        int(opts["--replicas"])
    d = tempfile.mkdtemp(prefix="tms-ackbench-js-")
    procs, url = cluster(d, replicas)
    try:
        print("%d client(s), %g s per side, a stream of %d replica(s)\n" % (clients, seconds, replicas))
        print("| round | local cmd/s | p50 | p99 | stream cmd/s | p50 | p99 | throughput ratio | not accepted |")
        print("|---|---|---|---|---|---|---|---|---|")
        ratios = []
        for r in range(rounds):
            order = (False, True) if r % 2 == 0 else (True, False)
            res = {s: one_side(bin_dir, url, s, clients, seconds, replicas, "b%d%d" % (r, s)) for s in order}
            a, b = res[False], res[True]
            ratios.append(b[0] / a[0])
            print("| %d | %.0f | %.2f ms | %.2f ms | %.0f | %.2f ms | %.2f ms | %.3fx | %d |" % (
                r + 1, a[0], a[1], a[2], b[0], b[1], b[2], ratios[-1], a[3] + b[3]))
            sys.stdout.flush()
        ratios.sort()
        print("\nstream/local throughput: min %.3fx median %.3fx max %.3fx" % (ratios[0], ratios[len(ratios) // 2],
                                                                          ratios[-1]))
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


main()
