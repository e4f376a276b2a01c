#!/usr/bin/env python3
"""test_natscluster.py -- the failover tests' fixtures proved on their own (issue 20):
natscluster.NatsCluster (three nats-servers with JetStream, routed into one
cluster) and tcpproxy.Proxy (cut, heal, freeze, thaw one client's connection).

The cluster: three servers form one (an R=3 stream is placed on all three, an R=4
one is refused); the stream takes messages; with its leader SIGKILLed it still
does (quorum 2 of 3), with two servers down it does not; restarted servers catch
up; kill_all and start again keep the stream; close(), and atexit when a user
forgets it, leave no server behind.

The proxy: a NATS connection through it works both ways (INFO, PING/PONG,
messages, JetStream publishes); cut() closes it at once and closes new ones,
heal() lets nats.c reconnect; freeze() keeps it open but silent (no PONG, no EOF;
nats.c calls it stale and disconnects), thaw() delivers what was held, in order.

usage: test_natscluster.py BIN_DIR"""
import json, os, shutil, socket, subprocess, sys, tempfile, threading, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from natscluster import NatsCluster
from tcpproxy import Proxy

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "build", "bin"))
PROBE = os.path.join(BIN, "js_probe")
passed = failed = 0


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (what, str(detail)[:800]))
    return cond


def wait_for(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    return cond()


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def pid_gone(pid):
    return not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split(") ")[1][0] == "Z"


class Raw:
    """A NATS client in raw protocol over one socket: what goes through the proxy, byte by byte."""

    def __init__(self, port, timeout=3.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def line(self, timeout=3.0):
        """The next protocol line but the server's PINGs (answered); b"" at EOF (or reset); None when nothing came
        within timeout."""
        end = time.monotonic() + timeout
        while True:
            ln = self._line(end)
            if ln != b"PING":
                return ln
            self.send(b"PONG\r\n")

    def _line(self, end):
        while b"\r\n" not in self.buf:
            try:
                self.s.settimeout(max(0.01, end - time.monotonic()))
                d = self.s.recv(65536)
            except socket.timeout:
                return None
            except (ConnectionResetError, BrokenPipeError):
                return b""
            if not d:
                return b""
            self.buf += d
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def send(self, data):
        self.s.sendall(data)

    def hello(self):
        """INFO, then CONNECT and PING answered by PONG: the server's INFO dict, or None."""
        info = self.line()
        if not info or not info.startswith(b"INFO "):
            return None
        self.send(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
        return json.loads(info[5:]) if self.line() == b"PONG" else None

    def close(self):
        self.s.close()


class Watch:
    """js_probe watch URL: a nats.c client (reconnects, pings) whose events are collected with their times."""

    def __init__(self, url, seconds=120):
        self.p = subprocess.Popen([PROBE, "watch", url, str(seconds)], stdout=subprocess.PIPE, text=True,
                                  stdin=subprocess.DEVNULL)
        self.events = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for ln in self.p.stdout:
            self.events.append((time.monotonic(), ln.split()[1]))

    def since(self, mark, what):
        return [t for t, e in self.events if e == what and t >= mark]

    def wait(self, mark, what, timeout=15):
        return wait_for(lambda: self.since(mark, what), timeout)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(timeout=10)
        self.t.join(5)


def test_fixture_files(c):
    confs = [open(c.conf(i)).read() for i in range(3)]
    ports = c.ports + c.cluster_ports
    check("config: six distinct loopback ports", len(set(ports)) == 6, ports)
    for i, conf in enumerate(confs):
        others = ["nats-route://127.0.0.1:%d" % c.cluster_ports[j] for j in range(3) if j != i]
        check("config n%d: server_name, client port, own store, cluster listen, routes to the two others" % i,
              "server_name: n%d\n" % i in conf and "listen: 127.0.0.1:%d\n" % c.ports[i] in conf and
              'store_dir: "%s"' % os.path.join(c.dir, "store%d" % i) in conf and
              "listen: 127.0.0.1:%d\n" % c.cluster_ports[i] in conf and all(r in conf for r in others) and
              "127.0.0.1:%d" % c.cluster_ports[i] not in conf.split("routes:")[1], conf)
        check("config n%d: clients are not told of the other servers (no_advertise)" % i,
              "no_advertise: true" in conf.split("cluster {")[1], conf)
        keys = [ln.split(":")[0].strip() for ln in conf.splitlines()]
        check("config n%d: no monitoring port" % i, not {"http", "http_port", "https", "https_port", "monitor_port"} &
              set(keys), keys)
    check("urls: every client URL, comma-separated",
          c.urls == ",".join("nats://127.0.0.1:%d" % p for p in c.ports) and c.url(2).endswith(":%d" % c.ports[2]),
          c.urls)


def test_cluster(c):
    t = time.monotonic()
    c.start()
    check("start: the three servers run, JetStream ready cluster-wide (%.1f s)" % (time.monotonic() - t),
          all(c.running(i) for i in range(3)))
    check("start: each store dir used", all(os.path.isdir(os.path.join(c.dir, "store%d" % i, "jetstream"))
                                             for i in range(3)))
    for i in range(3):
        check("JetStream answers through n%d alone" % i, c.js("ready", c.url(i)) is not None, c.last_error)
    check("the readiness stream is gone", c.info("_ready") is None and c.last_rc == 1, c.last_rc)
    # one cluster: an R=3 stream is placed on the three servers; an R=4 one has nowhere to go
    c.stream_add("t", "t.x", 3)
    inf = c.info("t")
    check("an R=3 stream: a leader and two current replicas, the three servers",
          inf and inf["leader"] and sorted([inf["leader"]] + list(inf["replicas"])) == ["n0", "n1", "n2"] and
          all(v == "current" for v in inf["replicas"].values()), inf)
    check("an R=4 stream is refused (only three servers)", c.js("stream-add", c.urls, "t4", "t4.x", "4") is None,
          c.last_error)
    seqs = [c.pub("t.x", "m%d" % k) for k in range(10)]
    check("the R=3 stream takes messages: seq 1..10", seqs == list(range(1, 11)), (seqs, c.last_error))
    for i in range(3):
        check("published through n%d too" % i, c.pub("t.x", "via%d" % i, url=c.url(i)) == 11 + i, c.last_error)
    check("info: 13 messages", c.info("t")["msgs"] == 13, c.info("t"))
    # quorum 2 of 3: its leader SIGKILLed, the stream elects another and takes messages
    lead = c.leader("t")
    c.kill(lead)
    check("kill(i): that server is gone, its port closed", not c.running(lead) and not port_open(c.ports[lead]))
    t = time.monotonic()
    seq = c.pub_until("t.x", "after kill")
    inf = c.info("t")
    check("leader n%d killed: the stream takes messages again (%.1f s), seq 14, a new leader" %
          (lead, time.monotonic() - t), seq == 14 and inf["leader"] not in (None, c.name(lead)), (seq, inf))
    # two of three down: no quorum, no message taken
    second = c.index(inf["leader"])
    c.kill(second)
    refused = [c.pub("t.x", "no quorum", wait_ms=1500) for _ in range(3)]
    check("two servers down: the stream takes nothing (no quorum)", refused == [None] * 3, refused)
    # restart both: they catch up, the stream goes on
    t = time.monotonic()
    c.restart(lead)
    c.restart(second)
    inf = c.wait_current("t")
    check("restart: every replica current again (%.1f s), 14 messages" % (time.monotonic() - t),
          inf["msgs"] == 14 and inf["last"] == 14, inf)
    check("... and the stream goes on: seq 15", c.pub_until("t.x", "after restart") == 15, c.last_error)
    # stop (SIGTERM) and restart of one server: same ports
    old = c.procs[0].pid
    c.stop(0)
    check("stop(0): gone", not c.running(0) and not port_open(c.ports[0]))
    c.restart(0)
    check("restart(0): a new process on the same port", c.running(0) and c.procs[0].pid != old and
          port_open(c.ports[0]))
    # kill_all, then start again: the stores kept the stream
    pids = [p.pid for p in c.procs]
    c.kill_all()
    check("kill_all: no server left", all(not c.running(i) and pid_gone(pids[i]) for i in range(3)) and
          not any(port_open(p) for p in c.ports))
    c.start()
    inf = c.wait_current("t")
    check("start after kill_all: the stream is back with its 15 messages", inf["msgs"] == 15, inf)


def test_proxy(c):
    if not all(c.running(i) for i in range(3)):
        c.start()
    c.stream_add("t", "t.x", 3)
    p = Proxy("127.0.0.1", c.ports[0])
    w = None
    held = []
    try:
        check("proxy: an ephemeral loopback port, its URL", p.port not in c.ports and
              p.url == "nats://127.0.0.1:%d" % p.port)
        r = Raw(p.port)
        info = r.hello()
        check("through the proxy: n0's INFO, and PING answered by PONG", info and info.get("server_name") == "n0",
              info)
        r.send(b"SUB q.x 1\r\nPING\r\n")
        check("SUB through the proxy", r.line() == b"PONG")
        d = Raw(c.ports[1])
        d.hello()
        # n0's PONG says n0 has the subscription; n1 learns of it over the route a moment later, and core NATS
        # drops what n1 gets before (at most once): publish until one arrives (a loaded machine takes seconds)
        got = None
        for _ in range(20):
            d.send(b"PUB q.x 5\r\nhello\r\nPING\r\n")
            d.line()
            got = r.line(timeout=0.5)
            if got:
                break
        check("a message published on n1 reaches the proxied subscriber",
              got == b"MSG q.x 1 5" and r.line() == b"hello", got)
        check("a JetStream publish through the proxy", c.pub("t.x", "via proxy", url=p.url) is not None,
              c.last_error)
        w = Watch(p.url)
        check("a nats.c client connects through the proxy", w.wait(0, "flush-ok"), w.events)
        check("proxy: two connections open (raw, nats.c)", wait_for(lambda: p.connections == 2, 5), p.connections)

        # cut: every proxied connection closed at once, new ones closed on accept
        mark = time.monotonic()
        p.cut()
        check("cut: the raw client sees EOF at once", r.line(timeout=2) == b"")
        check("cut: no connection left", p.connections == 0, p.connections)
        check("cut: nats.c sees the disconnection", w.wait(mark, "disconnected", 5), w.events)
        n = Raw(p.port)
        check("cut: a new connection is closed without INFO", n.line(timeout=3) == b"")
        n.close()
        check("cut: a JetStream publish through the proxy fails", c.pub("t.x", "cut", url=p.url) is None)
        time.sleep(1.5)
        check("cut: nats.c stays disconnected (its reconnects are closed)", not w.since(mark, "reconnected"),
              w.events)
        check("cut: n0 itself is fine", c.pub("t.x", "direct", url=c.url(0)) is not None, c.last_error)

        # heal: accepted and forwarded again; nats.c reconnects by itself
        mark = time.monotonic()
        p.heal()
        check("heal: nats.c reconnects", w.wait(mark, "reconnected", 10) and w.wait(mark, "flush-ok", 10), w.events)
        r = Raw(p.port)
        check("heal: a new raw connection gets INFO and PONG", r.hello() is not None)
        check("heal: a JetStream publish through the proxy", c.pub("t.x", "healed", url=p.url) is not None,
              c.last_error)

        # freeze: connections stay open, nothing goes through either way
        mark = time.monotonic()
        before = p.connections
        p.freeze()
        r.send(b"PING\r\n")
        check("freeze: no PONG, and no EOF either (silence)", r.line(timeout=2) is None)
        check("freeze: the connections stay open", p.connections >= before, (p.connections, before))
        check("freeze: nats.c's flush fails", w.wait(mark, "flush-fail", 10), w.events)
        check("freeze: nats.c calls the connection stale and disconnects", w.wait(mark, "disconnected", 15), w.events)
        n = Raw(p.port)
        held.append(n)
        check("freeze: a new connection is accepted but gets no INFO", n.line(timeout=2) is None)
        check("freeze: a JetStream publish through the proxy fails", c.pub("t.x", "frozen", url=p.url) is None)
        time.sleep(1)
        check("freeze: nats.c does not reconnect through it", not w.since(mark, "reconnected"), w.events)
        check("freeze: n0 itself is fine", c.pub("t.x", "direct", url=c.url(0)) is not None, c.last_error)

        # thaw: what was held flows on, in order; nats.c reconnects
        mark = time.monotonic()
        p.thaw()
        ln = r.line(timeout=5)
        check("thaw: the PONG held back arrives", ln == b"PONG", ln)
        r.send(b"PING\r\n")
        check("thaw: the connection works again", r.line(timeout=5) == b"PONG")
        check("thaw: the new connection's INFO arrives", (n.line(timeout=5) or b"").startswith(b"INFO "))
        check("thaw: nats.c reconnects", w.wait(mark, "reconnected", 15) and w.wait(mark, "flush-ok", 15), w.events)
        check("thaw: a JetStream publish through the proxy", c.pub("t.x", "thawed", url=p.url) is not None,
              c.last_error)

        # close: listener gone, connections closed, threads joined
        p.close()
        check("close: the port refuses", not port_open(p.port))
        ln = r.line(timeout=2)
        check("close: the raw client sees EOF", ln == b"", ln)
        check("close: the proxy's threads are gone", not any(t.is_alive() for t in p.threads),
              [t for t in p.threads if t.is_alive()])
    finally:
        for x in held:
            x.close()
        if w:
            w.close()
        p.close()


def test_atexit(d):
    """A user that forgets close() and dies of an exception leaves no nats-server behind."""
    code = ("import sys; sys.path.insert(0, %r)\nfrom natscluster import NatsCluster\n"
            "c = NatsCluster(%r, bin_dir=%r)\nc.start()\nprint(' '.join(str(p.pid) for p in c.procs), flush=True)\n"
            "raise RuntimeError('a test failing')\n" % (HERE, d, BIN))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    pids = [int(x) for x in r.stdout.split()]
    check("atexit: the child started three servers and died of its exception",
          len(pids) == 3 and r.returncode != 0 and "a test failing" in r.stderr, (r.stdout, r.stderr[-400:]))
    check("atexit: none of its servers is left", wait_for(lambda: all(pid_gone(x) for x in pids), 10), pids)


def main():
    if not shutil.which("nats-server"):
        print("FAIL nats-server is not installed (scripts/bootstrap installs it)")
        sys.exit(1)
    if not os.access(PROBE, os.X_OK):
        print("FAIL %s is not built" % PROBE)
        sys.exit(1)
    d = tempfile.mkdtemp(prefix="tms-natscluster-")
    c = NatsCluster(os.path.join(d, "c"), bin_dir=BIN)
    try:
        for t in (lambda: test_fixture_files(c), lambda: test_cluster(c), lambda: test_proxy(c),
                  lambda: test_atexit(os.path.join(d, "a"))):
            try:
                t()
            except Exception as e:
                import traceback
                check("no exception", False, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=-3)))
        pids = [p.pid for p in c.procs if p]
        c.close()
        check("close: every server gone", pids and all(pid_gone(x) for x in pids) and
              not any(port_open(p) for p in c.ports), pids)
    finally:
        c.close()
        shutil.rmtree(d, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(0 if failed == 0 and passed > 0 else 1)


if __name__ == "__main__":
    main()
