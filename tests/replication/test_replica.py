#!/usr/bin/env python3
"""test_replica.py -- tmsd --replica-of (SPEC section 8, issue 10 items 2
and 4) with a real nats-server (-js), started and stopped here on loopback:

- a leader and two replicas under load: every acknowledged record reaches
  both, nothing twice; heads and digests equal (tms-audit verify);
- kill -9 of a replica, of the leader and of nats-server at random moments,
  several rounds: after restarts, every acknowledged record is on every
  replica and the logs are equal;
- lookups, --seq and watch on a replica; submits refused (E_REPLICA);
- a forged record (right seq, wrong hash) put into the stream stops
  replication loudly, naming the seq; the replica keeps answering;
- a replica whose start the stream no longer holds says so, and starts from
  a backup of the leader (tms-restore backup), then follows.

usage: test_replica.py BIN_DIR"""
import json, os, random, shutil, signal, socket, subprocess, sys, tempfile, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
import mp
from test_publish import Nats, check, free_port, wait_for, ext, BIN, TMSD, TMSCTL
import test_publish as tp

AUDIT, RESTORE = os.path.join(BIN, "tms-audit"), os.path.join(BIN, "tms-restore")


class Node:
    """A tmsd on its own data directory: the leader (--publish) or a replica."""

    def __init__(self, d, name, nats, role):
        self.d, self.name, self.nats, self.role = d, name, nats, role
        self.data = os.path.join(d, name)
        self.sock = os.path.join(d, name + ".sock")
        self.p = None

    def start(self):
        log = open(os.path.join(self.d, self.name + ".log"), "ab")
        self.p = subprocess.Popen([TMSD, "--data", self.data, "--socket", self.sock, self.role, self.nats.url] +
                                  getattr(self, "start_extra", []), stdout=log, stderr=log)
        if not wait_for(lambda: self.alive_and_listening(), 30):
            raise AssertionError("%s did not start: %s" % (self.name, open(os.path.join(self.d, self.name + ".log")).read()[-600:]))
        return self

    def alive_and_listening(self):
        if self.p.poll() is not None:
            return False
        try:
            mp.Conn(self.sock, timeout=1).close()
            return True
        except OSError:
            return False

    def conn(self):
        return mp.Conn(self.sock)

    def status(self):
        c = self.conn()
        try:
            return c.call("status")
        finally:
            c.close()

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=10)

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            return self.p.wait(timeout=30)
        return None


def verify(data):
    r = subprocess.run([AUDIT, "verify", "--data", data], capture_output=True, text=True, timeout=120)
    return r.returncode, (json.loads(r.stdout) if r.stdout.strip() else {}), r.stderr


def caught_up(replica, seq, timeout=60):
    return wait_for(lambda: replica.status().get("last_seq", 0) >= seq, timeout)


def same_as_leader(what, leader, replicas, acked):
    lead = leader.status()
    for r in replicas:
        check("%s: %s caught up to seq %d" % (what, r.name, lead["last_seq"]), caught_up(r, lead["last_seq"]),
              r.status())
        st = r.status()
        check("%s: %s has the leader's chain head" % (what, r.name), st["head"] == lead["head"], (st, lead))
        c = r.conn()   # every acknowledged command is there (its extension exists on the replica)
        sample = sorted(acked)[:: max(1, len(acked) // 50)] + sorted(acked)[-3:]
        missing = [i for i in sample if not c.call("show", tenant="acme", kind="extension", id="x%d" % i)["found"]]
        c.close()
        check("%s: %s holds every acknowledged record" % (what, r.name), not missing, missing[:5])


def metrics(port):
    """The samples of tmsd's /metrics without labels, by name, as prometheus_client's parser reads the text (an
    implementation not ours: a malformed exposition raises), and each family's type under "TYPE " + its name."""
    import urllib.request
    from prometheus_client.parser import text_string_to_metric_families
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        out["TYPE " + fam.name] = fam.type
        for sample in fam.samples:
            if not sample.labels:
                out[sample.name] = float(sample.value)
    return out


def submit_some(leader, acked, start, n, batch=50):
    c = leader.conn()
    try:
        for b in range(0, n, batch):
            ids = list(range(start + b, start + min(n, b + batch)))
            r = c.call("submit", cmds=[ext(i) for i in ids])
            if "results" in r:
                for i, x in zip(ids, r["results"]):
                    if x["verdict"] == "accepted":
                        acked.add(i)
    except (OSError, ConnectionError, AttributeError, TypeError):
        pass   # the leader was killed mid-submit: what was not answered is not acknowledged
    finally:
        try:
            c.close()
        except OSError:
            pass


def test_leader_and_two_replicas(d):
    nats = Nats(d)
    nats.start()
    leader = Node(d, "leader", nats, "--publish")
    lport, mport = free_port(), free_port()
    leader.start_extra = ["--metrics", "127.0.0.1:%d" % lport]
    leader.start()
    r1 = Node(d, "r1", nats, "--replica-of")
    r1.start_extra = ["--metrics", "127.0.0.1:%d" % mport]
    reps = [r1.start(), Node(d, "r2", nats, "--replica-of").start()]
    acked = set()
    try:
        c = leader.conn()
        c.call("submit", cmds=[{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
        c.close()
        submit_some(leader, acked, 0, 1500)
        same_as_leader("under load", leader, reps, acked)
        m, lm = metrics(mport), metrics(lport)
        applied = reps[0].status()["last_seq"]
        check("the leader's metrics: each record's lag to its batch written to NATS and to the stream's "
              "acknowledgement, once each",
              lm.get("tmsd_publish_acked_lag_seconds_count") == applied == lm.get("tmsd_publish_sent_lag_seconds_count")
              and
              lm.get("tmsd_publish_acked_lag_seconds_sum", 0) > 0 and lm.get("tmsd_publish_sent_lag_seconds_sum", 0) > 0
              and "tmsd_replica_lag_seconds_count" not in lm,
              (applied, lm))
        check("the lag histograms parse as Prometheus histograms (prometheus_client)",
              all(lm.get("TYPE " + f) == "histogram" for f in ("tmsd_publish_sent_lag_seconds",
                                                              "tmsd_publish_acked_lag_seconds")) and
              all(m.get("TYPE " + f) == "histogram" for f in ("tmsd_replica_received_lag_seconds",
                                                             "tmsd_replica_lag_seconds", "tmsd_replica_group_seconds",
                                                             "tmsd_replica_group_size")), (lm, m))
        check("the replica's metrics: each record's lag once as received, once as applied, its groups' sizes "
              "adding up to them",
              m.get("tmsd_replica_lag_seconds_count") == applied == m.get("tmsd_replica_group_size_sum") ==
              m.get("tmsd_replica_received_lag_seconds_count") and
              0 < m.get("tmsd_replica_received_lag_seconds_sum", 0) < m.get("tmsd_replica_lag_seconds_sum", 0) and
              1 <= m.get("tmsd_replica_group_seconds_count", 0) <= applied and
              m.get("tmsd_replica_group_seconds_count") == m.get("tmsd_replica_group_size_count"), (applied, m))
        # lookups, points and watch on a replica; submits refused
        r1 = reps[0]
        rc, out, err = tp_ctl("--connect", r1.sock, "check", "--seq", "2", "acme", "extension", "x0", "reports.view")
        check("check --seq on a replica", rc == 1 and out.strip() == "deny", (rc, out, err))
        rc, out, err = tp_ctl("--connect", r1.sock, "watch", "--from", "1", "--until", "5")
        check("watch on a replica", rc == 0 and len(out.splitlines()) == 5, (rc, out, err))
        cr = r1.conn()
        r = cr.call("submit", cmds=[ext(99999)])
        check("a replica refuses submits naming replica mode", r.get("error") == "E_REPLICA" and "replica" in r["message"], r)
        cr.close()
        # kill -9 at random moments, several rounds
        rnd = random.Random(10)
        next_id = 2000
        for rnd_no in range(3):
            for victim in ("replica", "leader", "nats"):
                submit_some(leader, acked, next_id, 300)
                next_id += 300
                if victim == "replica":
                    v = rnd.choice(reps)
                    v.kill()
                    submit_some(leader, acked, next_id, 200)
                    next_id += 200
                    v.start()
                elif victim == "leader":
                    leader.kill()
                    leader.start()
                else:
                    nats.kill()
                    check("a replica says when NATS is gone", wait_for(
                        lambda: not reps[0].status()["replica"]["connected"], 10), reps[0].status())
                    submit_some(leader, acked, next_id, 200)   # the leader accepts while NATS is down
                    next_id += 200
                    nats.start()
            same_as_leader("round %d" % (rnd_no + 1), leader, reps, acked)
        # the logs are the leader's, record for record (tms-audit verify on each: same head, same digest)
        check("leader stops with 0", leader.stop() == 0)
        lead_v = verify(leader.data)
        for r in reps:
            check("%s stops with 0" % r.name, r.stop() == 0)
            rv = verify(r.data)
            check("%s: verify passes, same head and digest as the leader" % r.name,
                  rv[0] == 0 and lead_v[0] == 0 and rv[1]["head"] == lead_v[1]["head"] and
                  rv[1]["digest"] == lead_v[1]["digest"] and rv[1]["records"] == lead_v[1]["records"], (rv, lead_v))
        info, msgs = tp.dump(nats)
        check("the stream holds the log once: no duplicate", info["count"] == lead_v[1]["records"] == info["last"], info)
    finally:
        for n in [leader] + reps:
            n.kill()
        nats.kill()


def tp_ctl(*args):
    r = subprocess.run([TMSCTL] + list(args), capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def raw_nats(port, lines):
    """Speak core NATS: CONNECT, then the given protocol lines (bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.recv(4096)   # INFO
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n' + b"".join(lines) + b"PING\r\n")
    buf = b""
    while b"PONG" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise AssertionError("nats-server closed the connection: %r" % buf[-300:])
        buf += chunk
    s.close()
    return buf


def purge(port, keep):
    body = json.dumps({"keep": keep}).encode()
    raw_nats(port, [b"PUB $JS.API.STREAM.PURGE.tms %d\r\n" % len(body) + body + b"\r\n"])


def fill_and_publish(leader, acked, n):
    """Tenant acme and n extensions through the leader, until the stream holds them: the last seq."""
    c = leader.conn()
    c.call("submit", cmds=[{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
    c.close()
    submit_some(leader, acked, 0, n)
    last = leader.status()["last_seq"]
    check("published", wait_for(lambda: leader.status()["publish"]["published"] == last), leader.status())
    return last


def test_forged_record_and_a_lost_start(d):
    nats = Nats(d)
    nats.start()
    leader = Node(d, "leader", nats, "--publish").start()
    acked = set()
    try:
        last = fill_and_publish(leader, acked, 100)
        rep = Node(d, "rep", nats, "--replica-of").start()
        check("the replica follows", caught_up(rep, last))
        check("leader stops", leader.stop() == 0)
        # a forged record: the next seq, valid checksums, a hash that does not chain
        good = tp.log_frames(leader.data)[last]
        fr = bytearray(bytes.fromhex(good))
        struct_seq = (last + 1).to_bytes(8, "little")
        fr[8:16] = struct_seq
        fr[24] ^= 0xFF   # the hash
        import tooltest as tt
        frame = tt.Frame("", 0, bytes(fr)).encode()   # CRCs recomputed: it checks, it does not chain
        raw_nats(nats.port, [b"PUB tms.log %d\r\n" % len(frame) + frame + b"\r\n"])
        st = wait_for(lambda: rep.status()["replica"]["stopped"] and rep.status()["replica"], 20)
        check("a forged record stops replication, naming its seq", st and "seq %d" % (last + 1) in st["error"], rep.status())
        check("... the replica keeps answering from its last good state", rep.status()["last_seq"] == last)
        rc, out, err = tp_ctl("--connect", rep.sock, "show", "acme", "extension", "x0")
        check("... lookups go on", rc == 0 and '"x0"' in out, (rc, out, err))
        code = rep.stop()
        check("replica stops with 0 after a stop of replication", code == 0,
              (code, open(os.path.join(d, "rep.log")).read()[-800:]))
        # a replica whose start the stream no longer holds: purge all but the forged tail
        purge(nats.port, 1)
        new = Node(d, "new", nats, "--replica-of").start()
        st = wait_for(lambda: new.status()["replica"]["stopped"] and new.status()["replica"], 20)
        check("a replica whose start is gone says to start from a backup",
              st and "backup" in st["error"] and "needs seq 1" in st["error"], new.status())
        check("new stops", new.stop() == 0)
    finally:
        for n in (leader,):
            n.kill()
        nats.kill()


def test_a_replica_writes_snapshots(d):
    """A replica writes running snapshots too (between two applied batches); after kill -9 it restarts from the
    newest and follows on, with the leader's head."""
    nats = Nats(d)
    nats.start()
    leader = Node(d, "leader", nats, "--publish").start()
    rep = Node(d, "rs", nats, "--replica-of")
    rep.start_extra = ["--snapshot-interval", "0.1", "--snapshot-records", "20"]
    rep.start()
    acked = set()
    try:
        last = fill_and_publish(leader, acked, 200)
        check("the replica follows", caught_up(rep, last), rep.status())
        ok = wait_for(lambda: (rep.status().get("snapshots") or {}).get("written", 0) >= 1, 20)
        st = rep.status().get("snapshots")
        check("the replica writes a snapshot while it follows", ok and st["error"] is None, st)
        rep.kill()   # a child may have finished another snapshot since status said st["seq"]: the newest on disk
        snap = max([int(n.split(".")[0]) for n in os.listdir(os.path.join(rep.data, "snapshots"))
                    if n.endswith(".snap")] + [0])
        check("... the newest on disk is at or after the one status named", snap >= st["seq"], (snap, st))
        submit_some(leader, acked, 3000, 30)
        before = open(os.path.join(d, "rs.log")).read().count("msg=started")
        rep.start()   # listening; its "started" line follows at once
        wait_for(lambda: open(os.path.join(d, "rs.log")).read().count("msg=started") > before, 10)
        log = open(os.path.join(d, "rs.log")).read()
        started = [l for l in log.splitlines() if "msg=started" in l][-1]
        check("after kill -9 it starts from its newest snapshot", ("from_snapshot=%d" % snap) in started, started)
        lead = leader.status()
        check("... and follows on, with the leader's head", caught_up(rep, lead["last_seq"]) and
              rep.status()["head"] == lead["head"], (rep.status(), lead))
        check("rs stops", rep.stop() == 0)
    finally:
        rep.kill()
        leader.kill()
        nats.kill()


def test_a_replica_starts_from_a_backup(d):
    nats = Nats(d)
    nats.start()
    leader = Node(d, "leader", nats, "--publish").start()
    acked = set()
    try:
        last = fill_and_publish(leader, acked, 200)
        r = subprocess.run([RESTORE, "backup", "--data", leader.data, "--to", os.path.join(d, "bk")],
                           capture_output=True, text=True, timeout=120)
        check("backup of the live leader", r.returncode == 0, r.stderr)
        purge(nats.port, 5)   # the stream's start is gone
        submit_some(leader, acked, 1000, 100)
        shutil.copytree(os.path.join(d, "bk"), os.path.join(d, "fromb"))
        rep = Node(d, "fromb", nats, "--replica-of").start()
        lead = leader.status()
        check("a replica from the backup follows the rest", caught_up(rep, lead["last_seq"]), rep.status())
        check("... with the leader's head", rep.status()["head"] == lead["head"], (rep.status(), lead))
        check("fromb stops", rep.stop() == 0)
    finally:
        leader.kill()
        nats.kill()


class ClusterNode:
    """One nats-server of a three-node JetStream cluster on loopback."""

    def __init__(self, d, name, port, route, routes):
        self.d, self.name, self.port, self.route, self.routes = d, name, port, route, routes
        self.url, self.p = "nats://127.0.0.1:%d" % port, None

    def start(self):
        self.p = subprocess.Popen(["nats-server", "-js", "-sd", os.path.join(self.d, "js-" + self.name), "-a",
                                   "127.0.0.1", "-p", str(self.port), "-n", self.name, "--cluster_name", "tms",
                                   "--cluster", "nats://127.0.0.1:%d" % self.route, "--routes",
                                   ",".join("nats://127.0.0.1:%d" % r for r in self.routes)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=10)


def test_a_nats_cluster_with_one_node_killed(d):
    """Issue 10, item 4: a stream of three replicas in a three-node cluster;
    the leader publishes through one node, the replicas read through the
    other two; one node killed (the one a replica reads from): publishing
    and replication go on through the other two."""
    ports, routes = [free_port() for _ in range(3)], [free_port() for _ in range(3)]
    nodes = [ClusterNode(d, "s%d" % i, ports[i], routes[i], [r for j, r in enumerate(routes) if j != i])
             for i in range(3)]
    for n in nodes:
        n.start()
    leader = Node(d, "leader", nodes[0], "--publish")
    reps = [Node(d, "r1", nodes[1], "--replica-of"), Node(d, "r2", nodes[2], "--replica-of")]
    acked = set()
    try:
        leader.start_extra = ["--stream-replicas", "3"]
        leader.start()
        for r in reps:
            r.start()
        c = leader.conn()
        c.call("submit", cmds=[{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
        c.close()
        submit_some(leader, acked, 0, 500)
        same_as_leader("cluster", leader, reps, acked)
        nodes[2].kill()   # r2's server
        submit_some(leader, acked, 1000, 500)
        same_as_leader("cluster with a node killed", leader, reps, acked)
        check("the stream was created with three replicas", "replicas=3" in open(os.path.join(d, "leader.log")).read())
        for n in [leader] + reps:
            check("%s stops with 0" % n.name, n.stop() == 0)
    finally:
        for n in [leader] + reps:
            n.kill()
        for n in nodes:
            n.kill()


def main():
    if not shutil.which("nats-server"):
        print("FAIL nats-server is not installed (scripts/bootstrap installs it)")
        sys.exit(1)
    for t in (test_leader_and_two_replicas, test_forged_record_and_a_lost_start, test_a_replica_starts_from_a_backup,
              test_a_replica_writes_snapshots, test_a_nats_cluster_with_one_node_killed):
        d = tempfile.mkdtemp(prefix="tms-replica-")
        try:
            t(d)
        except Exception as e:
            import traceback
            check(t.__name__, False, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=-3)))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    print("%d passed, %d failed" % (tp.passed, tp.failed))
    sys.exit(0 if tp.failed == 0 and tp.passed > 0 else 1)


if __name__ == "__main__":
    main()
