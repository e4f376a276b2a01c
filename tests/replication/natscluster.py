"""natscluster.py -- a clustered nats-server fixture for the failover tests.

NatsCluster(d, n=3) runs n nats-servers on 127.0.0.1, each with JetStream and its
own store dir, client port and cluster port, no monitoring port, routed to each
other (one config file per server, d/nI.conf; its output in d/nI.log). Server i
is named "nI" (server_name: what JetStream reports as a stream's leader).
The servers do not advertise each other's client URLs (cluster no_advertise):
a client knows only the URLs it is given, so a client behind tcpproxy.Proxy
cannot reconnect around it to a server it discovered.

    c = NatsCluster(d)
    try:
        c.start()                          # all; returns once an R=3 stream can be created
        c.stream_add("tms", "tms.log", 3)
        c.pub("tms.log", "x")              # -> stream seq
        i = c.leader("tms")                # index of the stream's leader, or None
        c.kill(i)                          # SIGKILL; stop(i) is SIGTERM; restart(i) stops if need be, starts, waits
        c.urls, c.url(0)                   # "nats://127.0.0.1:P0,nats://...", "nats://127.0.0.1:P0"
    finally:
        c.close()                          # every server killed (also registered with atexit)

Every wait is bounded and raises on timeout. The JetStream calls go through
js_probe (tests/replication/js_probe.c, built into BIN_DIR); BIN_DIR defaults to
$TMS_BIN_DIR or build/bin of this tree."""
import atexit, os, signal, socket, subprocess, time

HERE = os.path.dirname(os.path.abspath(__file__))


def _free_ports(k):
    """k distinct free loopback ports (held together while chosen, so none repeats)."""
    socks = []
    try:
        for _ in range(k):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def _until(cond, timeout, what):
    """cond() until true or timeout seconds; returns its value or raises TimeoutError naming what (a string, or a
    function giving one, called then: so it can tell the last error)."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= end:
            raise TimeoutError("natscluster: %s (%.0f s)" % (what() if callable(what) else what, timeout))
        time.sleep(0.1)


class NatsCluster:
    def __init__(self, d, n=3, bin_dir=None, cluster_name="tms"):
        self.dir, self.n, self.cluster_name = os.path.abspath(d), n, cluster_name
        self.bin = os.path.abspath(bin_dir or os.environ.get("TMS_BIN_DIR") or
                                   os.path.join(HERE, "..", "..", "build", "bin"))
        self.probe = os.path.join(self.bin, "js_probe")
        ports = _free_ports(2 * n)
        self.ports, self.cluster_ports = ports[:n], ports[n:]
        self.procs = [None] * n
        self._logs = [None] * n
        self.last_error = ""
        os.makedirs(self.dir, exist_ok=True)
        for i in range(n):
            with open(self.conf(i), "w") as f:
                f.write(self._config(i))
        atexit.register(self.close)

    # --- names and addresses
    def name(self, i):
        return "n%d" % i

    def index(self, name):
        """The index of the server called name ("n1" -> 1), or None."""
        return int(name[1:]) if name and name.startswith("n") and name[1:].isdigit() else None

    def url(self, i):
        return "nats://127.0.0.1:%d" % self.ports[i]

    @property
    def urls(self):
        return ",".join(self.url(i) for i in range(self.n))

    def conf(self, i):
        return os.path.join(self.dir, "n%d.conf" % i)

    def log(self, i):
        return os.path.join(self.dir, "n%d.log" % i)

    def _config(self, i):
        routes = ", ".join("nats-route://127.0.0.1:%d" % self.cluster_ports[j] for j in range(self.n) if j != i)
        return ("server_name: %s\nlisten: 127.0.0.1:%d\n"
                "jetstream {\n  store_dir: \"%s\"\n}\n"
                "cluster {\n  name: %s\n  listen: 127.0.0.1:%d\n  no_advertise: true\n  routes: [%s]\n}\n"
                % (self.name(i), self.ports[i], os.path.join(self.dir, "store%d" % i), self.cluster_name,
                   self.cluster_ports[i], routes))

    # --- processes
    def running(self, i):
        p = self.procs[i]
        return p is not None and p.poll() is None

    def _spawn(self, i):
        assert not self.running(i), "n%d is running" % i
        if self._logs[i]:
            self._logs[i].close()
        self._logs[i] = open(self.log(i), "ab")
        self.procs[i] = subprocess.Popen(["nats-server", "-c", self.conf(i)], stdout=self._logs[i],
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def _wait_port(self, i, timeout=15):
        def up():
            if not self.running(i):
                raise RuntimeError("natscluster: n%d exited (%s): %s" % (i, self.procs[i].returncode, self.tail(i)))
            return _port_open(self.ports[i])
        _until(up, timeout, "n%d's client port" % i)

    def tail(self, i, k=800):
        try:
            with open(self.log(i), "rb") as f:
                return f.read()[-k:].decode(errors="replace")
        except OSError:
            return ""

    def start(self, timeout=60):
        """Start every server not running, wait for their ports, then until JetStream is ready cluster-wide: a
        stream with replicas=n can be created (and is deleted again)."""
        for i in range(self.n):
            if not self.running(i):
                self._spawn(i)
        for i in range(self.n):
            self._wait_port(i)
        end = time.monotonic() + timeout
        _until(lambda: self.js("stream-add", self.urls, "_ready", "_ready", str(self.n)) is not None,
               timeout, lambda: "an R=%d stream could not be created: %s" % (self.n, self.last_error))
        _until(lambda: self.js("stream-del", self.urls, "_ready") is not None or self.last_rc == 1,
               max(5, end - time.monotonic()), lambda: "the readiness stream could not be deleted: %s" % self.last_error)

    def start_one(self, i, timeout=60):
        """Start server i (not running) and wait until JetStream answers through it."""
        self._spawn(i)
        self._wait_port(i)
        self.wait_ready(i, timeout)

    def wait_ready(self, i, timeout=60):
        """Until server i answers JetStream requests (it sees a meta leader)."""
        _until(lambda: self.js("ready", self.url(i)) is not None, timeout,
               lambda: "JetStream through n%d: %s" % (i, self.last_error))

    def kill(self, i):
        """SIGKILL server i (a crash); waits for it to be gone."""
        p = self.procs[i]
        if p is not None and p.poll() is None:
            p.kill()
            p.wait(timeout=10)

    def stop(self, i, timeout=15):
        """SIGTERM server i (a clean shutdown), SIGKILL after timeout seconds."""
        p = self.procs[i]
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    def restart(self, i, timeout=60):
        """Stop server i if it runs, start it again (same ports, same store) and wait until it answers."""
        self.stop(i)
        self.start_one(i, timeout)

    def kill_all(self):
        for i in range(self.n):
            self.kill(i)

    def close(self):
        """Kill every server; idempotent."""
        for i in range(self.n):
            try:
                self.kill(i)
            except Exception:
                pass
            if self._logs[i]:
                self._logs[i].close()
                self._logs[i] = None
        try:
            atexit.unregister(self.close)
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- JetStream through js_probe
    def js(self, *args, timeout=15):
        """Run js_probe ARGS; its stdout (stripped) on exit 0, else None (last_rc, last_error tell why)."""
        try:
            r = subprocess.run([self.probe] + list(args), capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.last_rc, self.last_error = -1, "js_probe %s timed out" % args[0]
            return None
        self.last_rc, self.last_error = r.returncode, r.stderr.strip()
        return r.stdout.strip() if r.returncode == 0 else None

    def _live_urls(self):
        return ",".join(self.url(i) for i in range(self.n) if self.running(i)) or self.urls

    def stream_add(self, stream, subject, replicas=3, timeout=30):
        """Create a file stream (or find it identical), retrying until timeout."""
        _until(lambda: self.js("stream-add", self._live_urls(), stream, subject, str(replicas)) is not None, timeout,
               lambda: "stream %s: %s" % (stream, self.last_error))

    def pub(self, subject, text, url=None, wait_ms=2000):
        """Publish once through JetStream (url: any live server); the stream seq, or None (last_error says why)."""
        out = self.js("pub", url or self._live_urls(), subject, text, str(wait_ms))
        return int(out) if out is not None else None

    def pub_until(self, subject, text, timeout=30, url=None):
        """Publish, retrying until the stream takes it (a leader elected); the stream seq."""
        return _until(lambda: self.pub(subject, text, url), timeout, lambda: "publish to %s: %s" % (subject, self.last_error))

    def info(self, stream, url=None):
        """{"leader": "nI" or None, "msgs", "first", "last", "replicas": {name: "current"|"behind"|"offline"}},
        or None (no such stream, or no answer)."""
        out = self.js("info", url or self._live_urls(), stream)
        if out is None:
            return None
        w = out.split()
        reps = dict(r.split(":") for r in w[9].split(",")) if len(w) > 9 else {}
        return {"leader": None if w[1] == "-" else w[1], "msgs": int(w[3]), "first": int(w[5]), "last": int(w[7]),
                "replicas": reps}

    def leader(self, stream, timeout=30):
        """Index of stream's leader, waiting (bounded) until it has one."""
        inf = _until(lambda: (lambda x: x if x and x["leader"] else None)(self.info(stream)), timeout,
                     lambda: "a leader for %s: %s" % (stream, self.last_error))
        return self.index(inf["leader"])

    def kv_leader(self, bucket, timeout=30):
        """Index of the leader of a KV bucket's stream (KV_bucket)."""
        return self.leader("KV_" + bucket, timeout)

    def wait_current(self, stream, timeout=60):
        """Until stream has a leader and every other replica is current (after a restart, say)."""
        def ok():
            x = self.info(stream)
            return x if x and x["leader"] and len(x["replicas"]) == self.n - 1 and \
                all(v == "current" for v in x["replicas"].values()) else None
        return _until(ok, timeout, lambda: "stream %s current on every server: %s" % (stream, self.info(stream)))

    def kv_get(self, bucket, key, url=None):
        """(revision, value) of key, or None (absent, or no answer: last_rc 1 means absent)."""
        out = self.js("kv-get", url or self._live_urls(), bucket, key)
        if out is None:
            return None
        rev, _, val = out.partition(" ")
        return int(rev), val
