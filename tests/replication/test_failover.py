#!/usr/bin/env python3
"""test_failover.py -- tmsd --cluster (SPEC section 12, issue 20) on a
three-server NATS cluster (R = 3 stream and lease bucket) started and
stopped here, three tmsd nodes:
- one node leads; followers refuse submits with E_NOT_LEADER naming it
  (socket: leader, leader_node; HTTP 421 with leader and Tms-Leader);
- kill -9 of the leader under load, ROUNDS times: a new leader accepts,
  every acknowledged command is at its seq on every node at the end, the
  same head everywhere, tms-audit verify passes on every node;
- a leader frozen (SIGSTOP) past its lease never acknowledges after it
  thaws (the submit it held is answered E_NOT_LEADER), and rejoins;
- a leader cut from NATS (a proxy) stops accepting, another leads, it
  rejoins once healed;
- a deposed leader's records the stream never stored are set aside with
  their evidence (status set_aside, tms-audit set-aside), then it follows;
- NATS down entirely: no acknowledgement, lookups go on; NATS back: a leader.
usage: test_failover.py BIN_DIR [ROUNDS]"""
import http.client, json, os, shutil, signal, subprocess, sys, tempfile, threading, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
import mp  # noqa: E402
from natscluster import NatsCluster  # noqa: E402
from tcpproxy import Proxy  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
TMSD, AUDIT = os.path.join(BIN, "tmsd"), os.path.join(BIN, "tms-audit")
TTL = "2"           # --lease-ttl: short, for a quick test (the default, 2.5 s, is measured in benchmarks/)
passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok  ", what)
    else:
        failed += 1
        print("FAIL", what, str(detail)[:1500])


def wait_for(cond, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if cond():
                return True
        except (OSError, ValueError, KeyError, TypeError):
            pass
        time.sleep(step)
    return False


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


TOKEN = "failover-test-token-0123456789"


class Node:
    def __init__(self, d, name, urls, key):
        self.name, self.urls, self.key = name, urls, key
        self.data = os.path.join(d, name)
        self.sock = os.path.join(d, name + ".sock")
        self.port, self.http = free_port(), free_port()
        self.logpath = os.path.join(d, name + ".log")
        self.tokfile = os.path.join(d, "token")
        with open(self.tokfile, "w") as f:
            f.write(TOKEN + "\n")
        self.p = None

    def start(self):
        for attempt in range(3):   # a port free_port() gave may be taken meanwhile by a test running beside this one
            if self._start_once() or attempt == 2:
                return
            self.port, self.http = free_port(), free_port()

    def _start_once(self):
        log = open(self.logpath, "ab")
        mark = os.path.getsize(self.logpath)
        self.p = subprocess.Popen([TMSD, "--data", self.data, "--socket", self.sock, "--listen",
                                   "127.0.0.1:%d" % self.port, "--http", "127.0.0.1:%d" % self.http, "--cluster",
                                   self.urls, "--node", self.name, "--signing-key", self.key, "--stream-replicas", "3",
                                   "--lease-ttl", TTL, "--stream-timeout", "5", "--snapshot-interval", "0",
                                   "--token-file", self.tokfile],
                                  stdout=log, stderr=log)
        wait_for(lambda: self.p.poll() is not None or (os.path.exists(self.sock) and self.status()), 30)
        ok = self.p.poll() is None and wait_for(lambda: self.status(), 5)
        if not ok and self.p.poll() is not None and "address already in use" in open(self.logpath).read()[mark:]:
            return False
        assert ok, self.tail()
        return True

    def status(self, timeout=5):
        c = mp.Conn(self.sock, timeout=timeout)
        try:
            return c.call("status")
        finally:
            c.close()

    def role(self):
        try:
            return self.status(timeout=2).get("role")
        except OSError:
            return None

    def submit(self, cmds, timeout=20):
        c = mp.Conn(self.sock, timeout=timeout)
        try:
            return c.call("submit", cmds=cmds)
        finally:
            c.close()

    def kill(self, sig=signal.SIGKILL):
        if self.p and self.p.poll() is None:
            self.p.send_signal(sig)
            if sig == signal.SIGKILL:
                self.p.wait(10)

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                return self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                return -9
        return self.p.returncode if self.p else None

    def tail(self, k=1500):
        try:
            return open(self.logpath, errors="replace").read()[-k:]
        except OSError:
            return ""


def ext(i, rid):
    return {"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "x%d" % i, "request_id": rid}


def leader_of(nodes, timeout=30):
    found = {}

    def one():
        ls = [n for n in nodes if n.p and n.p.poll() is None and n.role() == "leader"]
        if len(ls) == 1:
            found["n"] = ls[0]
            return True
        return False
    return found.get("n") if wait_for(one, timeout, 0.05) else None


class Load:
    """Client threads submitting one command at a time with request ids,
    following E_NOT_LEADER to the named node, retrying everything else on
    another node with the same request id: acked[rid] = seq."""

    def __init__(self, nodes, threads=2):
        self.nodes, self.acked, self.lock, self.stop = nodes, {}, threading.Lock(), False
        self.answers = []          # (t, rid, node, reply) of every accepted answer
        self.th = [threading.Thread(target=self.run, args=(k,), daemon=True) for k in range(threads)]
        self.next = 0

    def start(self):
        for t in self.th:
            t.start()

    def run(self, k):
        target = self.nodes[k % len(self.nodes)]
        while not self.stop:
            with self.lock:
                i = self.next
                self.next += 1
            rid, cmd = "load-%d" % i, None
            cmd = ext(i, rid)
            for attempt in range(200):
                if self.stop:
                    return
                try:
                    r = target.submit([cmd], timeout=10)
                except OSError:
                    target = self.nodes[(self.nodes.index(target) + 1) % len(self.nodes)]
                    time.sleep(0.05)
                    continue
                res = (r or {}).get("results")
                if res and res[0].get("verdict") == "accepted":
                    with self.lock:
                        self.acked[rid] = (res[0]["seq"], i)
                        self.answers.append((time.monotonic(), rid, target.name, res[0]["seq"]))
                    break
                if res:   # rejected by a rule: a bug here (every command is new)
                    with self.lock:
                        self.answers.append((time.monotonic(), rid, target.name, res[0]))
                    break
                node = (r or {}).get("leader_node")
                named = [n for n in self.nodes if n.name == node]
                target = named[0] if named else self.nodes[(self.nodes.index(target) + 1) % len(self.nodes)]
                time.sleep(0.02)

    def halt(self):
        self.stop = True
        for t in self.th:
            t.join(30)


def export(node):
    out = subprocess.run([AUDIT, "export", "--data", node.data], capture_output=True, text=True, timeout=120)
    recs = {}
    for line in out.stdout.splitlines():
        o = json.loads(line)
        recs[o["seq"]] = o
    return recs, out


def converged(nodes):
    st = [n.status() for n in nodes]
    return len({(s["last_seq"], s["head"]) for s in st}) == 1 and st[0]["last_seq"] > 0


def setup(d, cluster, names=("a", "b", "c"), urls=None):
    key = os.path.join(d, "log.key")
    if not os.path.exists(key):
        subprocess.run([AUDIT, "keygen", "--name", "log.test", "--out", key], check=True, capture_output=True)
    nodes = [Node(d, n, (urls or {}).get(n, cluster.urls), key) for n in names]
    for n in nodes:
        n.start()
    return nodes


def bootstrap(nodes):
    ldr = leader_of(nodes)
    assert ldr, "no leader: " + " | ".join(n.tail(600) for n in nodes)
    r = ldr.submit([{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
    assert r["results"][0]["verdict"] == "accepted", r
    return ldr


def test_roles_and_refusals(d, cluster, nodes):
    ldr = bootstrap(nodes)
    check("exactly one node leads", sum(n.role() == "leader" for n in nodes) == 1,
          [n.role() for n in nodes])
    fol = [n for n in nodes if n is not ldr][0]
    knows = wait_for(lambda: fol.status()["cluster"]["leader"] == ldr.name, 10)
    check("a follower learns who leads", knows, fol.status().get("cluster"))
    r = fol.submit([ext(0, "refused-0")])
    check("a follower refuses a submit: E_NOT_LEADER naming the leader's address and node",
          r.get("error") == "E_NOT_LEADER" and r.get("leader") == "127.0.0.1:%d" % ldr.port and
          r.get("leader_node") == ldr.name, r)
    h = http.client.HTTPConnection("127.0.0.1", fol.http, timeout=10)
    h.request("POST", "/v1/submit", body=json.dumps([ext(0, "refused-1")]),
              headers={"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN})
    resp = h.getresponse()
    body = json.loads(resp.read() or b"{}")
    check("HTTP: 421 E_NOT_LEADER with the leader and Tms-Leader",
          resp.status == 421 and body.get("error") == "E_NOT_LEADER" and body.get("leader", {}).get("node") == ldr.name
          and resp.getheader("Tms-Leader") == ldr.name, (resp.status, body))
    st = fol.status()
    c = st.get("cluster", {})
    check("status: role, leader, term, lease", st["role"] == "follower" and c.get("leader") == ldr.name and
          c.get("term", 0) > 0 and c.get("lease_held") is False, st.get("cluster"))
    st = ldr.status()
    check("the leader's status: its lease expires within the ttl", st["cluster"]["lease_held"] is True and
          0 < st["cluster"]["lease_expires_in_ms"] <= 2000, st.get("cluster"))
    return ldr


def test_kill_rounds(d, cluster, nodes):
    load = Load(nodes)
    load.start()
    times = []
    try:
        for rnd in range(ROUNDS):
            ldr = leader_of(nodes)
            if not ldr:
                check("round %d: a leader" % rnd, False, [n.tail(500) for n in nodes])
                return
            wait_for(lambda: len(load.acked) >= 10 * (rnd + 1), 20)
            t0 = time.monotonic()
            ldr.kill()
            # the first acknowledgement by another node after the kill
            got = wait_for(lambda: any(t > t0 and node != ldr.name for t, _, node, _ in list(load.answers)), 20, 0.01)
            first = min((t for t, _, node, _ in list(load.answers) if t > t0 and node != ldr.name), default=None)
            times.append(first - t0 if first else None)
            check("round %d: another node acknowledges after the leader's kill -9 (%.2f s)" %
                  (rnd, (first - t0) if first else -1), got and first - t0 < 10, [n.tail(800) for n in nodes])
            ldr.start()
        wait_for(lambda: len(load.acked) >= 10 * (ROUNDS + 1), 20)
    finally:
        load.halt()
    bad = [a for a in load.answers if not isinstance(a[3], int)]
    check("no command was rejected by a rule (each is new)", not bad, bad[:3])
    ok = wait_for(lambda: converged(nodes), 60)
    check("every node converges: the same last seq and head", ok, [(n.name, n.status()["last_seq"]) for n in nodes])
    for n in nodes:
        recs, out = export(n)
        missing = [(rid, seq) for rid, (seq, i) in load.acked.items()
                   if recs.get(seq, {}).get("cmd", {}).get("request_id") != rid]
        check("node %s holds every acknowledged command (%d) at its seq" % (n.name, len(load.acked)),
              not missing and out.returncode == 0, (missing[:5], out.stderr[-300:]))
    print("failover times (s):", ["%.2f" % t if t else None for t in times])


def test_frozen_leader(d, cluster, nodes):
    """The leader commits a submit, its publish stalls (its NATS link
    frozen), the process is frozen (SIGSTOP) while the link thaws (the
    stream stores the record, its acknowledgement waits in the socket),
    another node takes the lease; thawed, the old leader must not answer
    `accepted`: its lease may have passed, by its own clock."""
    ldr = leader_of(nodes)
    others = [n for n in nodes if n is not ldr]
    ldr.proxy.freeze()
    box = {}
    th = threading.Thread(target=lambda: box.update(r=ldr.submit([ext(90001, "frozen-1")], timeout=60)))
    th.start()
    time.sleep(0.5)
    ldr.kill(signal.SIGSTOP)
    ldr.proxy.thaw()
    new = leader_of(others, 30)
    check("a frozen leader's lease passes to another node", new is not None, [n.tail(500) for n in others])
    if new:
        r = new.submit([ext(90002, "after-freeze")])
        check("... which acknowledges", r.get("results", [{}])[0].get("verdict") == "accepted", r)
    ldr.kill(signal.SIGCONT)
    th.join(60)
    r = box.get("r") or {}
    verdict = (r.get("results") or [{}])[0].get("verdict")
    check("the thawed leader never acknowledges what it held: E_NOT_LEADER, never accepted",
          verdict != "accepted" and r.get("error") in ("E_NOT_LEADER", "E_NOT_STORED"), r)
    ok = wait_for(lambda: ldr.p.poll() is None and ldr.role() == "follower", 60)
    check("the thawed leader restarts itself as a follower", ok, ldr.tail(1500))
    check("no two leaders", sum(n.role() == "leader" for n in nodes) == 1, [n.role() for n in nodes])
    ok = wait_for(lambda: converged(nodes), 60)
    check("converged after the freeze", ok, [(n.name, n.status()["last_seq"]) for n in nodes])


def test_set_aside(d, cluster, nodes):
    """A leader's own records the stream never stored: made by cutting the
    leader's NATS connection (a proxy) between its local commit and the
    stream, then another node leads and writes those seqs."""
    ldr = leader_of(nodes)
    before = set(ldr.status().get("set_aside") or [])
    prox = ldr.proxy
    prox.freeze()   # its publishes (and lease renewals) go nowhere now
    box = {}
    th = threading.Thread(target=lambda: box.update(r=ldr.submit([ext(91001, "cut-1")], timeout=60)))
    th.start()
    others = [n for n in nodes if n is not ldr]
    new = leader_of(others, 30)
    check("the cut leader's lease passes on", new is not None, [n.tail(500) for n in others])
    if new:
        r = new.submit([ext(91002, "other-1")])
        check("the new leader acknowledges at the seq the cut one wrote locally",
              r.get("results", [{}])[0].get("verdict") == "accepted", r)
    th.join(60)
    r = box.get("r") or {}
    check("the cut leader did not acknowledge", (r.get("results") or [{}])[0].get("verdict") != "accepted", r)
    t0 = time.monotonic()
    r = ldr.submit([ext(91003, "cut-2")], timeout=30)
    check("the cut leader stops accepting: a new submit is refused at once (E_NOT_LEADER, naming the new leader)",
          r.get("error") == "E_NOT_LEADER" and time.monotonic() - t0 < 2 and
          r.get("leader_node") in (None, getattr(new, "name", None)), r)
    prox.thaw()
    prox.cut()
    prox.heal()
    ok = wait_for(lambda: ldr.p.poll() is None and ldr.role() == "follower" and
                  set(ldr.status().get("set_aside") or []) - before, 60)
    check("the deposed leader set its unstored record aside, and follows", ok, (before, ldr.tail(2500)))
    out = subprocess.run([AUDIT, "set-aside", "--data", ldr.data], capture_output=True, text=True, timeout=60)
    lines = [json.loads(x) for x in out.stdout.splitlines() if x.strip()]
    rids = [rec.get("cmd", {}).get("request_id") for o in lines for rec in o.get("records", [])
            if o.get("set_aside") not in before]
    check("tms-audit set-aside lists it, the chain checked", out.returncode == 0 and "cut-1" in rids and
          all(o.get("chain") == "ok" for o in lines), (out.returncode, out.stdout[-800:], out.stderr[-300:]))
    ok = wait_for(lambda: converged(nodes), 60)
    check("converged after the set-aside", ok, [(n.name, n.status()["last_seq"]) for n in nodes])


def test_nats_down(d, cluster, nodes):
    ldr = leader_of(nodes)
    for i in range(3):
        cluster.kill(i)
    r = ldr.submit([ext(92001, "down-1")], timeout=30)
    check("NATS down: a submit is not acknowledged", (r.get("results") or [{}])[0].get("verdict") != "accepted", r)
    c = mp.Conn(ldr.sock, timeout=5)
    look = c.call("check", q=[["acme", "extension", "x1", "calls.international"]])
    c.close()
    check("... lookups go on", "allow" in look, look)
    cluster.start()   # all three at once: JetStream needs its quorum back
    new = leader_of(nodes, 60)
    ok = new is not None and wait_for(lambda: new.submit([ext(92002, "back-1")])["results"][0]["verdict"] ==
                                      "accepted", 30, 0.5)
    check("NATS back: a leader acknowledges again", ok, [n.tail(600) for n in nodes])
    ok = wait_for(lambda: converged(nodes), 60)
    check("converged after NATS came back (the old leader's unstored record set aside)", ok,
          [(n.name, n.status()["last_seq"], n.status().get("set_aside")) for n in nodes])


def main():
    global failed
    if not shutil.which("nats-server"):
        print("FAIL nats-server is not installed (scripts/bootstrap installs it)")
        sys.exit(1)
    d = tempfile.mkdtemp(prefix="tms-failover-")
    cluster = NatsCluster(os.path.join(d, "nats"), bin_dir=BIN)
    nodes, proxies = [], []
    try:
        cluster.start()
        host, port = cluster.url(0)[len("nats://"):].split(":")
        proxies = [Proxy("127.0.0.1", int(cluster.url(i).rsplit(":", 1)[1])) for i in range(3)]
        urls = {n: ",".join(p.url for p in proxies[k:k + 1]) for k, n in enumerate(("a", "b", "c"))}
        nodes = setup(d, cluster, urls=urls)
        for k, n in enumerate(nodes):
            n.proxy = proxies[k]
        for t in (test_roles_and_refusals, test_kill_rounds, test_frozen_leader, test_set_aside, test_nats_down):
            try:
                t(d, cluster, nodes)
            except Exception as e:
                import traceback
                check(t.__name__, False, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=-4)))
        for n in nodes:
            rc = n.stop()
            check("node %s stops cleanly (exit 0)" % n.name, rc == 0, (rc, n.tail(600)))
            out = subprocess.run([AUDIT, "verify", "--data", n.data], capture_output=True, text=True, timeout=300)
            check("tms-audit verify passes on node %s" % n.name, out.returncode == 0, out.stdout[-500:] + out.stderr)
    finally:
        for n in nodes:
            n.kill()
        for p in proxies:
            p.close()
        cluster.close()
        if failed == 0:
            shutil.rmtree(d, ignore_errors=True)
        else:
            print("kept", d)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(0 if failed == 0 and passed > 0 else 1)


if __name__ == "__main__":
    main()
