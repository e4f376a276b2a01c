#!/usr/bin/env python3
"""replication_bench.py -- replication through NATS JetStream, measured on
loopback in one run (issue 10 targets): a private nats-server (-js) and
tmsd's in a temp dir.

1. catch-up: a leader data directory of RECORDS records (gen_log), then
   `tmsd --publish`: records/s until the stream holds the log; then a new
   `tmsd --replica-of`: records/s until it has applied them all;
2. lag: a submitter pushes RATE commands/s to the leader (frames of
   RATE/500 every 2 ms, pipelined) while `tmsctl --connect REPLICA watch`
   follows the replica; per record, the replica's line read time minus the
   record's stamp, against the leader's acknowledgement minus the stamp
   (the earliest anyone can have it) in the same run: p50/p99 and ratios.
3. lookups: the same random checks against the leader's and the replica's
   socket (tms_client round trips: bench_history --connect) — run by hand.

--signed: the leader signs (--signing-key, a checkpoint on every published
batch) and the replica applies only what they cover (--leader-key); run it
alternately with and without to compare (benchmarks/RESULTS.md, issue 17).

--reader thread|process[,...]: who stamps the replica's watch lines: a
thread of this process (default; it shares the GIL with the submitter and
the acknowledgements' reader), or a process of its own that does nothing
else (then the lines are parsed after the run). Both, comma-separated, are
run one after the other at each rate.

usage: replication_bench.py BIN_DIR [--records N (default 200000)] [--signed] [--reader MODES] [RATE ...]
       (default rates 1000 10000)"""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "daemon"))
import mp
from watch_latency import ns_of, pct


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(cond, timeout=600, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise SystemExit("timed out")


def status(sock):
    c = mp.Conn(sock, timeout=30)
    try:
        return c.call("status")
    finally:
        c.close()


def tmsd(bin_dir, data, sock, *args):
    p = subprocess.Popen([os.path.join(bin_dir, "tmsd"), "--data", data, "--socket", sock] + list(args),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: os.path.exists(sock), 600)
    wait_for(lambda: _open(sock), 600)
    return p


def histograms(port):
    """A tmsd's tmsd_replica_* and tmsd_publish_* histograms from its /metrics: name -> [(le, cumulative count)],
    and NAME_sum -> the sum."""
    import urllib.request
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    h = {}
    for line in text.splitlines():
        if line.startswith(("tmsd_replica_", "tmsd_publish_")) and "_bucket{le=" in line:
            name, rest = line.split("_bucket{le=\"", 1)
            le, count = rest.split("\"} ")
            h.setdefault(name, []).append((float("inf") if le == "+Inf" else float(le), int(count)))
        elif line.startswith(("tmsd_replica_", "tmsd_publish_")) and line.split()[0].endswith("_sum"):
            h[line.split()[0]] = float(line.split()[1])
    return h


def bucket_pct(before, after, name, p):
    """The upper bound of the bucket holding the p-th percentile of what name counted between two readings."""
    b, a = dict(before[name]), after[name]
    counts = [(le, c - b.get(le, 0)) for le, c in a]
    total = counts[-1][1]
    for le, c in counts:
        if total and c >= total * p / 100:
            return le
    return float("nan")


def _open(sock):
    try:
        mp.Conn(sock, timeout=1).close()
        return True
    except OSError:
        return False


# The watch lines' stamper as a process of its own (--reader process): it reads
# and stamps each line and does nothing else, so no thread of this process
# (the submitter, the acknowledgements' reader) holds the GIL while a line
# waits to be stamped.
STAMPER = ("import sys, time\n"
           "out = sys.stdout\n"
           "for line in sys.stdin:\n"
           "    out.write('%d %s' % (time.time_ns(), line))\n"
           "    out.flush()\n")


RUNS = [0]


def lag(bin_dir, leader_sock, replica_sock, rate, seconds=5, reader_mode="thread"):
    total = rate * seconds
    RUNS[0] += 1
    run = RUNS[0]   # new extension ids each run: every command is accepted, as in the first
    watcher = subprocess.Popen([os.path.join(bin_dir, "tmsctl"), "--connect", replica_sock, "watch"],
                               stdout=subprocess.PIPE, text=True, bufsize=1)
    stamped = None
    if reader_mode == "process":
        fd, stamped = tempfile.mkstemp(prefix="tms-replbench-lines-")
        with os.fdopen(fd, "w") as out:
            stamper = subprocess.Popen([sys.executable, "-c", STAMPER], stdin=watcher.stdout, stdout=out)
        watcher.stdout.close()
    time.sleep(0.3)
    seen, acked = {}, {}

    def read_lines():
        if reader_mode == "process":   # the stamper's file, once it holds every line (its size checked only)
            while os.path.getsize(stamped) < total * 60 and watcher.poll() is None:
                time.sleep(0.2)   # (a watch line is longer than 60 bytes: then counted once, below)
            got = {}
            while len(got) < total and watcher.poll() is None:
                with open(stamped) as f:
                    for line in f:
                        if line.endswith("\n"):   # a line the stamper has not finished is read next time
                            now, rest = line.split(" ", 1)
                            x = json.loads(rest)
                            got[x["seq"]] = (int(now), ns_of(x["time"]))
                if len(got) < total:
                    time.sleep(0.2)
            seen.update(got)   # whole, once: the main thread reads seen after the join
            return
        for line in watcher.stdout:
            now = time.time_ns()
            x = json.loads(line)
            seen[x["seq"]] = (now, ns_of(x["time"]))
            if len(seen) >= total:
                return
    reader = threading.Thread(target=read_lines)
    reader.start()
    c = mp.Conn(leader_sock)

    def read_acks():
        while len(acked) < total:
            r = c.read()
            now = time.time_ns()
            for res in r.get("results", []):
                acked[res["seq"]] = now
    acker = threading.Thread(target=read_acks)
    acker.start()
    per, sent, req, t0 = max(1, rate // 500), 0, 1000, time.monotonic()
    while sent < total:
        delay = t0 + sent / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        n = min(per, total - sent)
        req += 1
        c.send_raw(mp.frame({"op": "submit", "req": req, "cmds": [
            {"cmd": "CreateExtension", "tenant": "tn00001", "actor": "admin",
             "id": "lag%d_%d_%d" % (rate, run, sent + k)}
            for k in range(n)]}))
        sent += n
    acker.join(timeout=120)
    reader.join(timeout=120)
    if reader.is_alive() or acker.is_alive():
        raise SystemExit("lag at %d cmd/s: not every line or acknowledgement came within 120 s" % rate)
    elapsed = time.monotonic() - t0
    watcher.send_signal(signal.SIGINT)
    watcher.wait(timeout=10)
    if stamped:
        stamper.wait(timeout=10)
        os.unlink(stamped)
    c.close()
    rep = [(seen[s][0] - seen[s][1]) / 1e6 for s in seen]
    ack = [(acked[s] - seen[s][1]) / 1e6 for s in seen if s in acked]
    return len(seen) / elapsed, rep, ack


def main():
    args = sys.argv[1:]
    records = 200000
    if "--records" in args:
        i = args.index("--records")
        records = int(args[i + 1])
        del args[i:i + 2]
    signed = "--signed" in args
    if signed:
        args.remove("--signed")
    readers = ["thread"]
    if "--reader" in args:
        i = args.index("--reader")
        readers = args[i + 1].split(",")
        del args[i:i + 2]
        if any(r not in ("thread", "process") for r in readers):
            sys.exit("--reader: thread or process (comma-separated), not %s" % ",".join(readers))
    if not args:
        print(__doc__)
        sys.exit(2)
    bin_dir, rates = os.path.abspath(args[0]), [int(r) for r in args[1:]] or [1000, 10000]
    gen = os.path.join(bin_dir, "..", "benchmarks", "gen_log")
    d = tempfile.mkdtemp(prefix="tms-replbench-")
    port = free_port()
    nats = subprocess.Popen(["nats-server", "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", os.path.join(d, "js")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "nats://127.0.0.1:%d" % port
    procs = [nats]
    try:
        time.sleep(0.5)
        leader_data, lsock, rsock = os.path.join(d, "leader"), os.path.join(d, "l.sock"), os.path.join(d, "r.sock")
        ext = max(1, records * 100000 // 460094)   # gen_log: ~4.6 records per extension
        subprocess.run([gen, "--tenants", "10", "--extensions", str(ext), "--data", leader_data], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lopts, ropts = [], []
        if signed:
            key = os.path.join(d, "log.key")
            vkey = subprocess.run([os.path.join(bin_dir, "tms-audit"), "keygen", "--name", "bench.example/tms", "--out",
                                   key], check=True, capture_output=True, text=True).stdout.strip()
            lopts, ropts = ["--signing-key", key], ["--leader-key", vkey]
        t0 = time.monotonic()
        lport = free_port()
        leader = tmsd(bin_dir, leader_data, lsock, "--publish", url, "--metrics", "127.0.0.1:%d" % lport, *lopts)
        procs.append(leader)
        last = status(lsock)["last_seq"]
        wait_for(lambda: status(lsock)["publish"]["published"] == last, 3600, 0.2)
        pub_s = time.monotonic() - t0
        t0 = time.monotonic()
        mport = free_port()
        replica = tmsd(bin_dir, os.path.join(d, "replica"), rsock, "--replica-of", url, "--metrics",
                       "127.0.0.1:%d" % mport, *ropts)
        procs.append(replica)
        wait_for(lambda: status(rsock)["last_seq"] == last, 3600, 0.2)
        rep_s = time.monotonic() - t0
        same = status(rsock)["head"] == status(lsock)["head"]
        print("%s; records: %d; publish (leader start to stream complete): %.1f s, %.0f records/s; "
              "replica catch-up (start to applied): %.1f s, %.0f records/s; same head: %s\n"
              % ("signed (--signing-key, --leader-key)" if signed else "plain", last, pub_s, last / pub_s, rep_s,
                 last / rep_s, same))
        print("| offered cmd/s | lines stamped by | achieved | replica line p50 | p99 | leader ack p50 | p99 | "
              "ratio p50 | ratio p99 | stamp to sent to NATS (leader) p50 / p99 | to the stream's ack (leader) | "
              "to the replica's receipt | to applied there | replica groups: records, mean time |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for rate in rates:
            for mode in readers:
                h0, l0 = histograms(mport), histograms(lport)
                got, rep, ack = lag(bin_dir, lsock, rsock, rate, reader_mode=mode)
                h1, l1 = histograms(mport), histograms(lport)

                def stage(b, a, name):
                    return "< %.2f / < %.2f ms" % (1e3 * bucket_pct(b, a, name, 50), 1e3 * bucket_pct(b, a, name, 99))
                groups = dict(h1["tmsd_replica_group_size"])[float("inf")] - \
                    dict(h0["tmsd_replica_group_size"])[float("inf")]
                recs = h1["tmsd_replica_group_size_sum"] - h0["tmsd_replica_group_size_sum"]
                gsec = h1["tmsd_replica_group_seconds_sum"] - h0["tmsd_replica_group_seconds_sum"]
                print("| %d | %s | %.0f | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.2fx | %.2fx | %s | %s | %s | %s "
                      "| %.1f, %.2f ms |" % (
                          rate, mode, got, pct(rep, 50), pct(rep, 99), pct(ack, 50), pct(ack, 99),
                          pct(rep, 50) / pct(ack, 50), pct(rep, 99) / pct(ack, 99),
                          stage(l0, l1, "tmsd_publish_sent_lag_seconds"),
                          stage(l0, l1, "tmsd_publish_acked_lag_seconds"),
                          stage(h0, h1, "tmsd_replica_received_lag_seconds"),
                          stage(h0, h1, "tmsd_replica_lag_seconds"),
                          recs / groups if groups else 0, 1e3 * gsec / groups if groups else 0), flush=True)
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
