#!/usr/bin/env python3
"""test_stop.py -- a cluster node stops promptly (SIGTERM: exit 0) in every
phase of taking the lead (docs/failover.md), on its own nats-server (-js),
started and stopped here on loopback:

- a node that holds the lease and has caught up halts its follower's
  thread on a libuv worker before it leads (daemon_cluster.c, halt_then).
  A SIGTERM meanwhile made the loop halt the follower too (the stop's
  tms__replica_close): two pthread_joins of one thread. glibc lets both
  wait and the thread's exit wakes one; when that was the worker, the loop
  slept for ever and tmsd never exited (CI: replication_failover, "node b
  stops cleanly", killed -9 24 ms after it took the lease). Each round here
  starts one node on a stream that does not exist yet: it takes the lease
  at once (nobody holds it), has caught up (seq 0) and halts its follower,
  which sleeps up to 300 ms between looks for the missing stream; the
  SIGTERM lands at spread moments after "catching-up", most of them during
  that halt. Without the fix, about half of these rounds hung;
- a takeover: the leader stops, the other node takes the lease at once
  (the leader resigned it) and is sent SIGTERM right after, as at the end
  of test_failover.py.
Every stop is bounded (STOP_S, then kill -9 and a failure).
usage: test_stop.py BIN_DIR [ROUNDS]"""
import os, shutil, signal, subprocess, sys, tempfile, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
import mp  # noqa: E402
from test_publish import Nats  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 12
TMSD, AUDIT = os.path.join(BIN, "tmsd"), os.path.join(BIN, "tms-audit")
STOP_S = 15          # a stop here takes well under a second; a hung one is killed after this
DELAYS = (0.05, 0.08, 0.11, 0.14, 0.18, 0.03)   # after "catching-up": the halt starts at the next 50 ms tick
passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok  ", what)
    else:
        failed += 1
        print("FAIL", what, str(detail)[:1500])
    return ok


class Node:
    def __init__(self, d, name, url, key, stream):
        self.name, self.url, self.key, self.stream = name, url, key, stream
        self.data = os.path.join(d, name)
        self.sock, self.logpath = self.data + ".sock", self.data + ".log"
        self.p = None

    def start(self):
        self.mark = os.path.getsize(self.logpath) if os.path.exists(self.logpath) else 0
        log = open(self.logpath, "ab")
        self.p = subprocess.Popen([TMSD, "--data", self.data, "--socket", self.sock, "--cluster", self.url, "--node",
                                   self.name, "--signing-key", self.key, "--stream", self.stream, "--stream-replicas",
                                   "1", "--lease-ttl", "2", "--snapshot-interval", "0"], stdout=log, stderr=log)
        log.close()
        return self

    def since(self, mark=None):
        with open(self.logpath, errors="replace") as f:
            f.seek(self.mark if mark is None else mark)
            return f.read()

    def wait_log(self, text, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.p.poll() is None:
            if text in self.since():
                return True
            time.sleep(0.001)
        return text in self.since()

    def role(self):
        try:
            c = mp.Conn(self.sock, timeout=2)
            try:
                return c.call("status").get("role")
            finally:
                c.close()
        except (OSError, ValueError, KeyError):
            return None

    def stop(self):
        """SIGTERM: (exit status or None if it had to be killed, seconds)."""
        t0 = time.monotonic()
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(STOP_S), time.monotonic() - t0
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(10)
            return None, time.monotonic() - t0

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)


def stopped_catching_up(text):
    """The stop came while the node held the lease and did not lead yet."""
    at = text.find("role=catching-up")
    end = text.find('msg="shutting down"', at)
    return at >= 0 and end > at and "role=leader" not in text[at:end]


def test_stop_before_leading(d, url, key):
    during = hung = done = 0
    for r in range(ROUNDS):
        if hung >= 2:   # enough to tell: the rest would only add STOP_S each
            check("rounds %d to %d skipped after two stops that hung" % (r, ROUNDS - 1), False)
            break
        n = Node(d, "solo%d" % r, url, key, "stop%d" % r).start()
        try:
            took = n.wait_log("role=catching-up")
            check("round %d: the node took the lease and catches up" % r, took, n.since())
            time.sleep(DELAYS[r % len(DELAYS)])
            rc, secs = n.stop()
            hung += not check("round %d: SIGTERM %.0f ms after catching-up: exit 0 in %.2f s (< %d s)" %
                              (r, DELAYS[r % len(DELAYS)] * 1000, secs, STOP_S), rc == 0, (rc, n.since()[-1200:]))
            during += stopped_catching_up(n.since())
            done += 1
        finally:
            n.kill()
    # the race needs the stop to land before the node leads: at least a third of the rounds must
    check("the stop landed before leading in %d of %d rounds (at least a third)" % (during, done),
          done and during * 3 >= done)


def leader(nodes, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ls = [n for n in nodes if n.p.poll() is None and n.role() == "leader"]
        if len(ls) == 1:
            return ls[0]
        time.sleep(0.05)
    return None


def test_takeover(d, url, key):
    nodes = [Node(d, name, url, key, "takeover") for name in ("a", "b")]
    try:
        nodes[0].start()
        ldr = leader(nodes[:1])
        check("takeover: a leads", ldr is not None, nodes[0].since())
        nodes[1].start()
        r = mp.Conn(nodes[0].sock, timeout=10)
        res = r.call("submit", cmds=[{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
        r.close()
        check("takeover: a record accepted", res.get("results", [{}])[0].get("verdict") == "accepted", res)
        for rnd, delay in enumerate((0.0, 0.02, 0.05)):
            ldr = leader(nodes)
            if not check("takeover %d: one leader" % rnd, ldr is not None, [n.since()[-600:] for n in nodes]):
                break
            other = [n for n in nodes if n is not ldr][0]
            mark = os.path.getsize(other.logpath)
            rc, secs = ldr.stop()
            check("takeover %d: the leader %s stops: exit 0 in %.2f s" % (rnd, ldr.name, secs), rc == 0,
                  (rc, ldr.since()[-1200:]))
            took = other.wait_log("role=catching-up") and "role=catching-up" in other.since(mark)
            time.sleep(delay)
            rc, secs = other.stop()
            check("takeover %d: %s, stopped %.0f ms after it took the lease%s: exit 0 in %.2f s" %
                  (rnd, other.name, delay * 1000, "" if took else " (it did not take it)", secs), rc == 0,
                  (rc, other.since(mark)[-1200:]))
            for n in nodes:
                n.start()
    finally:
        for n in nodes:
            n.kill()


def main():
    if not shutil.which("nats-server"):
        print("FAIL nats-server is not installed (scripts/bootstrap installs it)")
        sys.exit(1)
    d = tempfile.mkdtemp(prefix="tms-stop-")
    nats = Nats(d)
    try:
        nats.start()
        key = os.path.join(d, "log.key")
        subprocess.run([AUDIT, "keygen", "--name", "log.test", "--out", key], check=True, capture_output=True,
                       timeout=60)
        for t in (test_stop_before_leading, test_takeover):
            try:
                t(d, nats.url, key)
            except Exception as e:
                import traceback
                check(t.__name__, False, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=-4)))
    finally:
        nats.kill()
        if failed == 0:
            shutil.rmtree(d, ignore_errors=True)
        else:
            print("kept", d)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(0 if failed == 0 and passed > 0 else 1)


if __name__ == "__main__":
    main()
