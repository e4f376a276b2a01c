#!/usr/bin/env python3
"""failover_bench.py -- tmsd --cluster failover time under load, measured
(issue 20 targets, SPEC section 12, docs/failover.md): failover (leader lost
-> a new leader acknowledging a submit) p50 <= 3 s and max <= 10 s with the
default lease (3 s), and no acknowledged command lost over >= 20 kill -9
rounds.

One three-server NATS cluster (tests/replication/natscluster.py; stream and
lease bucket of 3 replicas), three tmsd nodes (BIN_DIR: a Release build) and
CLIENTS client threads, each submitting one CreateExtension at a time with a
request_id, following E_NOT_LEADER to the node it names and retrying
everything else with the same request_id on another node (as Load in
tests/replication/test_failover.py); every accepted answer is timed.
ROUNDS rounds of: until ACKS new acknowledgements, one leader that renewed
its lease at least once, two followers that know it; then a random wait
(uniform over one renewal period, TTL/4 + TTL/24: the kill falls anywhere in
the lease's cycle; --seed), kill -9 the leader, then, timed from the kill:

  aged out   the lease's key ages out by the bucket's own timestamps: the
             killed leader's last renewal, as the stream stored it, + TTL
             (theory: 3/4 TTL .. TTL after the kill, renewals every TTL/4);
  absent     the key first seen absent (polled every POLL ms, a small NATS
             client here asking the stream for the key's last message);
  taken      a survivor's "took the leader lease" log line (ms resolution);
  leader     a survivor's status says role == leader (polled every POLL ms);
  first ack  the first submit acknowledged by another node: the failover;
  floor      aged out + TTL/12 (a follower looks every TTL/12): the
             lease's own limit, in the same round; failover / floor.

then the killed node is started again (it rejoins as a follower; it may set
aside records it wrote but never had acknowledged). A round without a new
acknowledgement within 30 s is a failure (the bench goes on; it stops after 3
failed rounds in a row). At the end: the load stops, the nodes converge, stop
cleanly (SIGTERM), every acknowledged request_id must be at its seq in
`tms-audit export` of every node (lost = acknowledged commands missing on
any node: must be 0) and `tms-audit verify` must pass on every node.

usage: failover_bench.py BIN_DIR [--probe-bin DIR (js_probe; default build/bin of this tree)] [--rounds N (20)]
                         [--clients C (4)] [--acks K (20)] [--poll MS (20)] [--seed N (1)]
                         [--lease-ttl S (not passed: tmsd's default)] [--keep (the temp dir, with the logs)]"""
import base64, calendar, random, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, threading, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "daemon"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "replication"))
sys.path.insert(0, HERE)
import mp  # noqa: E402
from natscluster import NatsCluster  # noqa: E402
from benchutil import pct, free_port  # noqa: E402

TOKEN = "failover-bench-token-0123456789"
ROUND_LIMIT = 30.0


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


class Node:
    def __init__(self, d, name, urls, key, bin_dir, ttl):
        self.name, self.urls, self.key, self.bin, self.ttl = name, urls, key, bin_dir, ttl
        self.data = os.path.join(d, name)
        self.sock = os.path.join(d, name + ".sock")
        self.port = free_port()
        self.logpath = os.path.join(d, name + ".log")
        self.tokfile = os.path.join(d, "token")
        with open(self.tokfile, "w") as f:
            f.write(TOKEN + "\n")
        self.p = None

    def start(self):
        args = [os.path.join(self.bin, "tmsd"), "--data", self.data, "--socket", self.sock, "--listen",
                "127.0.0.1:%d" % self.port, "--token-file", self.tokfile, "--cluster", self.urls, "--node", self.name,
                "--signing-key", self.key, "--stream-replicas", "3"]
        if self.ttl:
            args += ["--lease-ttl", self.ttl]
        with open(self.logpath, "ab") as log:
            self.p = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        if not wait_for(lambda: self.p.poll() is None and os.path.exists(self.sock) and self.status(), 30):
            raise SystemExit("node %s did not come up: %s" % (self.name, self.tail()))

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def status(self, timeout=5):
        c = mp.Conn(self.sock, timeout=timeout)
        try:
            return c.call("status")
        finally:
            c.close()

    def role(self, timeout=2):
        try:
            return self.status(timeout).get("role")
        except (OSError, ValueError):
            return None

    def submit(self, cmds, timeout=20):
        c = mp.Conn(self.sock, timeout=timeout)
        try:
            return c.call("submit", cmds=cmds)
        finally:
            c.close()

    def kill(self):
        if self.alive():
            self.p.send_signal(signal.SIGKILL)
            self.p.wait(10)

    def stop(self):
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                return self.p.wait(60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
                return "killed after 60 s"
        return self.p.returncode if self.p else None

    def tail(self, k=1500):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()[-k:]
        except OSError:
            return ""

    def log_lines(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read().splitlines()
        except OSError:
            return []


def ext(i, rid):
    return {"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "x%d" % i, "request_id": rid}


def leader_of(nodes, timeout=30):
    found = {}

    def one():
        ls = [n for n in nodes if n.alive() and n.role() == "leader"]
        if len(ls) == 1:
            found["n"] = ls[0]
            return True
        return False
    return found.get("n") if wait_for(one, timeout, 0.05) else None


class Load:
    """As Load in tests/replication/test_failover.py: acked[rid] = (seq, i);
    answers: (monotonic time, rid, node, seq) of every accepted answer; and a
    count of every other answer by its error (or by the rule's verdict)."""

    def __init__(self, nodes, threads):
        self.nodes, self.acked, self.lock, self.stop = nodes, {}, threading.Lock(), False
        self.answers, self.other, self.rejected = [], {}, []
        self.th = [threading.Thread(target=self.run, args=(k,), daemon=True) for k in range(threads)]
        self.next = 0

    def start(self):
        for t in self.th:
            t.start()

    def count(self, what):
        with self.lock:
            self.other[what] = self.other.get(what, 0) + 1

    def run(self, k):
        target = self.nodes[k % len(self.nodes)]
        while not self.stop:
            with self.lock:
                i = self.next
                self.next += 1
            rid = "load-%d" % i
            cmd = ext(i, rid)
            while not self.stop:
                try:
                    r = target.submit([cmd], timeout=15)
                except (OSError, ValueError):
                    self.count("no connection")
                    target = self.nodes[(self.nodes.index(target) + 1) % len(self.nodes)]
                    time.sleep(0.05)
                    continue
                res = (r or {}).get("results")
                if res and res[0].get("verdict") == "accepted":
                    with self.lock:
                        self.acked[rid] = (res[0]["seq"], i)
                        self.answers.append((time.monotonic(), rid, target.name, res[0]["seq"]))
                    break
                if res:   # rejected by a rule: a bug here (every command is new, retries carry the same request_id)
                    with self.lock:
                        self.rejected.append((time.monotonic(), rid, target.name, res[0]))
                    break
                self.count((r or {}).get("error") or "closed without an answer")
                node = (r or {}).get("leader_node")
                named = [n for n in self.nodes if n.name == node]
                target = named[0] if named else self.nodes[(self.nodes.index(target) + 1) % len(self.nodes)]
                time.sleep(0.02)

    def acks(self):
        with self.lock:
            return len(self.acked)

    def first_ack_after(self, t0, not_node):
        with self.lock:
            return min((t for t, _, node, _ in self.answers if t > t0 and node != not_node), default=None)

    def halt(self):
        self.stop = True
        for t in self.th:
            t.join(30)


class Nats:
    """Just enough of the NATS client protocol for JetStream API requests
    (the standard library has no NATS client; the bench must not need pip)."""

    def __init__(self, url):
        host, port = url[len("nats://"):].rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=5)
        self.f = self.s.makefile("rb")
        if not self.f.readline().startswith(b"INFO"):
            raise OSError("not a NATS server")
        self.n = 0
        self.s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,'
                       b'"protocol":1,"name":"failover_bench"}\r\nSUB _INBOX.fbench.* 1\r\nPING\r\n')
        while True:
            line = self.f.readline()
            if not line:
                raise OSError("NATS closed the connection")
            if line.startswith(b"PONG"):
                break
            if line.startswith(b"-ERR"):
                raise OSError(line.decode().strip())

    def request(self, subject, payload, timeout=2.0):
        """The reply's payload (bytes), or None (no responders)."""
        self.n += 1
        inbox = "_INBOX.fbench.%d" % self.n
        self.s.settimeout(timeout)
        self.s.sendall(b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), inbox.encode(), len(payload), payload))
        while True:
            line = self.f.readline()
            if not line:
                raise OSError("NATS closed the connection")
            w = line.split()
            if not w:
                continue
            if w[0] == b"PING":
                self.s.sendall(b"PONG\r\n")
            elif w[0] == b"MSG":
                body = self.f.read(int(w[-1]) + 2)[:-2]
                if w[1].decode() == inbox:
                    return body
            elif w[0] == b"HMSG":
                self.f.read(int(w[-1]) + 2)
                if w[1].decode() == inbox:
                    return None
            elif w[0] == b"-ERR":
                raise OSError(line.decode().strip())

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def rfc3339_ns(s):
    """'2026-12-05T01:15:19.123456789Z' -> ns since the epoch."""
    s = s.rstrip("Z")
    whole, _, frac = s.partition(".")
    sec = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return sec * 1000000000 + int((frac + "000000000")[:9])


class LeaseKey:
    """The lease's key as the bucket's stream holds it: (node, stored wall
    time in s, revision, term) of its last message (term 0: the take itself,
    > 0: a renewal), or None when absent (aged out, or a delete marker)."""

    def __init__(self, url, stream="tms"):
        self.url, self.bucket = url, stream + "_lease"
        self.nc = None

    def get(self):
        try:
            if self.nc is None:
                self.nc = Nats(self.url)
            body = self.nc.request("$JS.API.STREAM.MSG.GET.KV_" + self.bucket,
                                   json.dumps({"last_by_subj": "$KV.%s.leader" % self.bucket}).encode())
        except OSError:
            if self.nc:
                self.nc.close()
            self.nc = None
            raise
        o = json.loads(body or b"{}")
        if "error" in o:
            if o["error"].get("code") == 404:
                return None
            raise OSError("JetStream: %s" % o["error"])
        m = o["message"]
        if m.get("hdrs") and b"KV-Operation" in base64.b64decode(m["hdrs"]):
            return None
        v = json.loads(base64.b64decode(m.get("data", "")) or b"{}")
        return v.get("node"), rfc3339_ns(m["time"]) / 1e9, m.get("seq"), v.get("term", 0)

    def close(self):
        if self.nc:
            self.nc.close()


LOG_TS = re.compile(r"^ts=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z")


def log_wall(line):
    m = LOG_TS.match(line)
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + int(m.group(2)) / 1000.0


def first_log(node, after_wall, needle):
    for line in node.log_lines():
        if needle in line:
            t = log_wall(line)
            if t is not None and t >= after_wall - 0.0005:
                return t
    return None


def kill_round(rnd, nodes, load, lease, ttl, poll, rng):
    """One kill -9 of the leader, timed. Returns a dict (or one with "fail")."""
    ldr = leader_of(nodes, 30)
    if not ldr:
        return {"fail": "no single leader before the kill"}
    others = [n for n in nodes if n is not ldr]
    prev = load.acks()
    r = {"killed": ldr.name}
    def follows(n):   # a follower that has read who holds the lease (its lease thread is not stuck)
        c = n.status(2).get("cluster") or {}
        return n.alive() and c.get("role") == "follower" and c.get("leader") == ldr.name

    def renewed():   # the leader renewed at least once: in its steady cycle
        k = lease.get()
        return k is not None and k[0] == ldr.name and k[3] > 0

    ready = wait_for(lambda: load.acks() >= prev + r_acks and all(follows(n) for n in others) and renewed(), 60, 0.05)
    if not ready:
        return {"fail": "not ready to kill: acks %d (+%d), roles %s, key %s" % (load.acks(), load.acks() - prev,
                [(n.name, n.role()) for n in nodes], lease.get())}
    time.sleep(rng.uniform(0, ttl / 4 + ttl / 24))   # a random moment of the renewal cycle (TTL/4, + the look/2 nap)
    try:
        last = lease.get()   # the key's last message before the kill (a renewal may still land: followed below)
    except OSError:
        last = None
    t_kill, w_kill = time.monotonic(), time.time()
    ldr.kill()
    r["acks_before"] = load.acks()

    def mono(wall):
        return None if wall is None else wall - w_kill

    absent = leader_seen = new_key = None
    end = t_kill + ROUND_LIMIT
    while time.monotonic() < end:
        now = time.monotonic()
        try:
            k = lease.get()
        except OSError:
            k = "?"
        if k is None and absent is None and new_key is None:
            absent = now - t_kill
        elif k not in (None, "?"):
            if k[0] == ldr.name:
                last = k
            elif new_key is None:
                new_key = k
        if leader_seen is None:
            for n in others:
                if n.alive() and n.role(1) == "leader":
                    leader_seen = time.monotonic() - t_kill
                    r["new"] = n.name
                    break
        first = load.first_ack_after(t_kill, ldr.name)
        if first is not None and leader_seen is not None:
            break
        time.sleep(poll)
    first = load.first_ack_after(t_kill, ldr.name)
    r["ack"] = None if first is None else first - t_kill
    r["leader"] = leader_seen
    r["absent"] = absent
    if last and last[0] == ldr.name:
        r["aged_out"] = last[1] + ttl - w_kill   # the bucket's stream ages it out TTL after it stored it
        r["floor"] = r["aged_out"] + ttl / 12
    if new_key:
        r["new"] = r.get("new") or new_key[0]
        r["taken_kv"] = mono(new_key[1])
    newn = [n for n in others if n.name == r.get("new")]
    if newn:
        r["taken"] = mono(first_log(newn[0], w_kill, "took the leader lease"))
        r["leading"] = mono(first_log(newn[0], w_kill, "cluster: leading"))
    if first is None:
        r["fail"] = "no acknowledgement by another node within %.0f s of the kill" % ROUND_LIMIT
        r["tails"] = {n.name: n.tail(1200) for n in others}
    ldr.start()   # rejoins as a follower
    return r


r_acks = 20


def fmt(v, unit=" s"):
    return "-" if v is None else "%.3f%s" % (v, unit)


def mmm(v):
    v = sorted(x for x in v if x is not None)
    if not v:
        return "-"
    return "min %.3f / median %.3f / max %.3f (n=%d)" % (v[0], pct(v, 50), v[-1], len(v))


def export(audit, node):
    out = subprocess.run([audit, "export", "--data", node.data], capture_output=True, text=True, timeout=300)
    recs = {}
    for line in out.stdout.splitlines():
        o = json.loads(line)
        recs[o["seq"]] = o
    return recs, out


def converged(nodes):
    st = [n.status() for n in nodes]
    return len({(s["last_seq"], s["head"]) for s in st}) == 1 and st[0]["last_seq"] > 0


def main():
    global r_acks
    args = sys.argv[1:]
    opts = {"--rounds": "20", "--seed": "1", "--clients": "4", "--acks": "20", "--poll": "20", "--lease-ttl": None,
            "--probe-bin": os.environ.get("TMS_BIN_DIR") or os.path.join(HERE, "..", "build", "bin")}
    keep = "--keep" in args
    if keep:
        args.remove("--keep")
    for k in list(opts):
        if k in args:
            i = args.index(k)
            opts[k] = args[i + 1]
            del args[i:i + 2]
    if len(args) != 1:
        print(__doc__)
        sys.exit(2)
    if not shutil.which("nats-server"):
        raise SystemExit("nats-server is not installed (scripts/bootstrap installs it)")
    bin_dir = os.path.abspath(args[0])
    rounds, clients, poll = int(opts["--rounds"]), int(opts["--clients"]), int(opts["--poll"]) / 1000.0
    r_acks = int(opts["--acks"])
    rng = random.Random(int(opts["--seed"]))
    audit = os.path.join(bin_dir, "tms-audit")
    d = tempfile.mkdtemp(prefix="tms-failbench-")
    cluster = NatsCluster(os.path.join(d, "nats"), bin_dir=os.path.abspath(opts["--probe-bin"]))
    nodes, results, load, lease = [], [], None, None
    lost = None
    t_start = time.monotonic()
    try:
        cluster.start()
        key = os.path.join(d, "log.key")
        subprocess.run([audit, "keygen", "--name", "log.bench", "--out", key], check=True, capture_output=True)
        nodes = [Node(d, n, cluster.urls, key, bin_dir, opts["--lease-ttl"]) for n in ("a", "b", "c")]
        for n in nodes:
            n.start()
        ldr = leader_of(nodes, 60)
        if not ldr:
            raise SystemExit("no leader: " + " | ".join(n.tail(600) for n in nodes))
        st = ldr.status()
        ttl = st["cluster"]["lease_ttl_ms"] / 1000.0
        r = ldr.submit([{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
        if r.get("results", [{}])[0].get("verdict") != "accepted":
            raise SystemExit("CreateTenant: %s" % r)
        lease = LeaseKey(cluster.url(0))
        print("failover_bench: %d rounds, %d client threads, >= %d acks between kills, lease TTL %.3f s (%s), "
              "NATS: 3 servers, R=3; tmsd %s; seed %s; data in %s\n" % (rounds, clients, r_acks, ttl,
              "--lease-ttl " + opts["--lease-ttl"] if opts["--lease-ttl"] else "tmsd's default", bin_dir,
              opts["--seed"], d))
        print("times from the kill -9 of the leader, seconds; floor = aged out + TTL/12\n")
        print("| round | killed | new | aged out | absent | taken (log) | leading (log) | role leader | first ack "
              "| floor | ack/floor |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        sys.stdout.flush()
        load = Load(nodes, clients)
        load.start()
        fails_in_row = 0
        for rnd in range(rounds):
            r = kill_round(rnd, nodes, load, lease, ttl, poll, rng)
            r["round"] = rnd + 1
            results.append(r)
            if "fail" in r and "ack" not in r:
                print("| %d | FAILED: %s |" % (rnd + 1, r["fail"]))
            else:
                ratio = r["ack"] / r["floor"] if r.get("ack") is not None and r.get("floor") else None
                print("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    rnd + 1, r["killed"], r.get("new", "?"), fmt(r.get("aged_out"), ""), fmt(r.get("absent"), ""),
                    fmt(r.get("taken"), ""), fmt(r.get("leading"), ""), fmt(r.get("leader"), ""),
                    fmt(r.get("ack"), "") if r.get("ack") is not None else "NONE", fmt(r.get("floor"), ""),
                    "-" if ratio is None else "%.2fx" % ratio))
                if "fail" in r:
                    print("  FAILED: %s" % r["fail"])
                    for name, t in r.get("tails", {}).items():
                        print("  --- %s:\n%s" % (name, t))
            sys.stdout.flush()
            fails_in_row = fails_in_row + 1 if "fail" in r else 0
            if fails_in_row >= 3:
                print("\nSTOPPED: 3 failed rounds in a row")
                break
        before = load.acks()
        wait_for(lambda: load.acks() >= before + r_acks, 30)
        load.halt()
        ok = wait_for(lambda: converged(nodes), 120)
        heads = []
        for n in nodes:
            try:
                s = n.status()
                heads.append((n.name, s["last_seq"], s["head"][:12] if isinstance(s["head"], str) else s["head"],
                               len(s.get("set_aside") or [])))
            except (OSError, KeyError, ValueError) as e:
                heads.append((n.name, "status failed: %s" % e))
        rcs = [(n.name, n.stop()) for n in nodes]
        missing, verified, dups = {}, {}, {}
        for n in nodes:
            recs, out = export(audit, n)
            seen = {}
            for o in recs.values():
                rid = (o.get("cmd") or {}).get("request_id")
                if rid:
                    seen[rid] = seen.get(rid, 0) + 1
            dups[n.name] = sum(1 for v in seen.values() if v > 1)
            missing[n.name] = [rid for rid, (seq, i) in load.acked.items()
                               if recs.get(seq, {}).get("cmd", {}).get("request_id") != rid]
            if out.returncode:
                missing[n.name].append("export failed: %s" % out.stderr[-300:])
            v = subprocess.run([audit, "verify", "--data", n.data], capture_output=True, text=True, timeout=600)
            verified[n.name] = (v.returncode, (v.stdout + v.stderr).strip().splitlines()[-1:] or [""])
        lost = len({rid for m in missing.values() for rid in m})
        # --- summary
        good = [r for r in results if r.get("ack") is not None]
        acks = [r["ack"] for r in good]
        print("\n== summary (%d rounds, %d with a new leader acknowledging, %d failed; %.0f s in all)" % (
            len(results), len(good), sum("fail" in r for r in results), time.monotonic() - t_start))
        print("failover (kill -> first ack by the new leader): %s" % mmm(acks))
        if acks:
            print("  targets: p50 <= 3 s: %s (p50 %.3f s); max <= 10 s: %s (max %.3f s)" % (
                "MET" if pct(acks, 50) <= 3 else "MISSED", pct(acks, 50), "MET" if max(acks) <= 10 else "MISSED",
                max(acks)))
        print("kill -> key aged out (last renewal stored + TTL): %s  [theory %.3f .. %.3f]" % (
            mmm([r.get("aged_out") for r in good]), 0.75 * ttl, ttl))
        print("kill -> key seen absent: %s" % mmm([r.get("absent") for r in good]))
        lag = [r["absent"] - r["aged_out"] for r in good if r.get("absent") is not None and r.get("aged_out")]
        print("  server expiry lag (absent - aged out, poll %d ms): %s" % (poll * 1000, mmm(lag)))
        print("kill -> lease taken (log): %s" % mmm([r.get("taken") for r in good]))
        print("kill -> lease taken (the new key's stored time): %s" % mmm([r.get("taken_kv") for r in good]))
        print("kill -> leading (log): %s" % mmm([r.get("leading") for r in good]))
        print("kill -> status role leader: %s" % mmm([r.get("leader") for r in good]))
        print("taken (log) -> leading (log) (catching up): %s" % mmm([r["leading"] - r["taken"] for r in good
                                                                      if r.get("taken") is not None and
                                                                      r.get("leading") is not None]))
        print("taken (log) -> first ack: %s" % mmm([r["ack"] - r["taken"] for r in good if r.get("taken") is not None]))
        print("leading (log) -> first ack: %s" % mmm([r["ack"] - r["leading"] for r in good
                                                      if r.get("leading") is not None]))
        print("aged out -> taken (log): %s  [a follower looks every %.3f s]" % (
            mmm([r["taken"] - r["aged_out"] for r in good if r.get("taken") is not None and r.get("aged_out")]),
            ttl / 12))
        print("floor (aged out + TTL/12): %s" % mmm([r.get("floor") for r in good]))
        print("failover / floor: %s" % mmm([r["ack"] / r["floor"] for r in good if r.get("floor")]))
        print("\nacknowledged commands: %d; other answers: %s; rejected by a rule: %d" % (
            len(load.acked), json.dumps(load.other, sort_keys=True), len(load.rejected)))
        for x in load.rejected[:5]:
            print("  rejected:", x)
        print("converged: %s %s" % ("yes" if ok else "NO", heads))
        print("clean stops (exit codes): %s" % rcs)
        for n in nodes:
            print("node %s: missing %d acknowledged; request_ids at more than one seq: %d; tms-audit verify: %s %s" % (
                n.name, len(missing[n.name]), dups[n.name], "pass" if verified[n.name][0] == 0 else
                "FAIL (exit %d)" % verified[n.name][0], verified[n.name][1][0][:200]))
        if lost:
            print("\n!!!!! LOST: %d acknowledged command(s) missing on some node: %s" % (
                lost, sorted({rid for m in missing.values() for rid in m})[:20]))
        else:
            print("\nlost: 0 of %d acknowledged commands" % len(load.acked))
        print("restarts for a set-aside (\"records to set aside\" in the logs): %s" % [
            (n.name, sum("records to set aside: restarting" in line for line in n.log_lines())) for n in nodes])
        errs = [(n.name, sum(" level=error " in line for line in n.log_lines())) for n in nodes]
        print("error lines in the tmsd logs: %s" % errs)
    finally:
        if load:
            load.halt()
        if lease:
            lease.close()
        for n in nodes:
            n.kill()
        cluster.close()
        if keep or lost or any("fail" in r for r in results):
            print("kept", d)
        else:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
