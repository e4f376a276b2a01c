#!/usr/bin/env python3
"""watch_latency.py -- how long a record takes to reach a watcher (SPEC
section 7, issue 9): a private tmsd in a temp dir, one `tmsctl --connect
watch` following it, and a submitter pushing RATE commands/s for SECONDS
(a frame of RATE/500 commands every 2 ms, pipelined: it never waits for the
acknowledgements). For every record: the watcher's read time minus the
record's time (stamped by the engine just before its group's fdatasync), and,
as the limit in the same run, the submitter's acknowledgement time minus that
same stamp (the record is durable and applied then: no watcher can have it
earlier). Prints p50/p99 of both and their ratio.

usage: watch_latency.py BIN_DIR [RATE ...] (default 1000 10000) [--seconds S (default 5)]
The machine is shared and noisy: run it twice and give both."""
import json, os, shutil, signal, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "daemon"))
import mp


def ns_of(rfc3339):
    """'2026-12-02T07:04:38.047969679Z' -> ns since the epoch."""
    import calendar
    secs = calendar.timegm(time.strptime(rfc3339[:19], "%Y-%m-%dT%H:%M:%S"))
    return secs * 10**9 + int(rfc3339[20:29])


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))]


def run(bin_dir, rate, seconds):
    d = tempfile.mkdtemp(prefix="tms-watchlat-")
    data = os.path.join(d, "data")
    tmsd = subprocess.Popen([os.path.join(bin_dir, "tmsd"), "--data", data], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    sock = os.path.join(data, "tmsd.sock")
    try:
        for _ in range(300):
            if os.path.exists(sock):
                try:
                    c = mp.Conn(sock)
                    break
                except OSError:
                    pass
            time.sleep(0.02)
        c.call("submit", cmds=[{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
        watcher = subprocess.Popen([os.path.join(bin_dir, "tmsctl"), "--connect", sock, "watch"],
                                   stdout=subprocess.PIPE, text=True, bufsize=1)
        time.sleep(0.3)
        seen = {}
        total = rate * seconds

        def read_lines():
            for line in watcher.stdout:
                now = time.time_ns()
                x = json.loads(line)
                seen[x["seq"]] = (now, ns_of(x["time"]))
                if len(seen) >= total:
                    return
        reader = threading.Thread(target=read_lines)
        reader.start()
        acked = {}
        per = max(1, rate // 500)
        sent, req, t0 = 0, 100, time.monotonic()
        pending = {}

        def read_acks():
            while len(acked) < total:
                r = c.read()
                now = time.time_ns()
                for res in r.get("results", []):
                    acked[res["seq"]] = now
        acker = threading.Thread(target=read_acks)
        acker.start()
        while sent < total:
            due = t0 + (sent / rate)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            n = min(per, total - sent)
            cmds = [{"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "x%d" % (sent + k)}
                    for k in range(n)]
            req += 1
            c.send_raw(mp.frame({"op": "submit", "req": req, "cmds": cmds}))
            sent += n
        acker.join(timeout=60)
        reader.join(timeout=60)
        elapsed = time.monotonic() - t0
        watch = [(seen[s][0] - seen[s][1]) / 1e6 for s in seen]
        ack = [(acked[s] - seen[s][1]) / 1e6 for s in seen if s in acked]
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=10)
        return len(seen) / elapsed, watch, ack
    finally:
        tmsd.send_signal(signal.SIGTERM)
        tmsd.wait(timeout=30)
        shutil.rmtree(d, ignore_errors=True)


def main():
    args = sys.argv[1:]
    seconds = 5
    if "--seconds" in args:
        i = args.index("--seconds")
        seconds = int(args[i + 1])
        del args[i:i + 2]
    if not args:
        print(__doc__)
        sys.exit(2)
    bin_dir, rates = args[0], [int(r) for r in args[1:]] or [1000, 10000]
    print("| offered cmd/s | achieved | watch p50 | watch p99 | ack p50 | ack p99 | watch/ack p50 | watch/ack p99 |")
    print("|---|---|---|---|---|---|---|---|")
    for rate in rates:
        got, watch, ack = run(bin_dir, rate, seconds)
        print("| %d | %.0f | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.2fx | %.2fx |" % (
            rate, got, pct(watch, 50), pct(watch, 99), pct(ack, 50), pct(ack, 99),
            pct(watch, 50) / pct(ack, 50), pct(watch, 99) / pct(ack, 99)))


if __name__ == "__main__":
    main()
