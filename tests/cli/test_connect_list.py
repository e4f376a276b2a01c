#!/usr/bin/env python3
"""test_connect_list.py -- clients that fail over (issue 20, item 4):
tmsctl --connect ADDR[,ADDR...] (the client library's address list) against
fake nodes of a cluster, written here in Python (tests/daemon/mp.py's
framing, TCP on 127.0.0.1 ephemeral ports), that answer hello / submit /
check / status as tmsd would, a follower answering a submit E_NOT_LEADER:

  (a) the first address refuses connections (or answers E_BUSY): the next one
      takes the submit;
  (b) a follower naming the leader: the submit lands on the leader, exit 0,
      stdout unchanged, a note on stderr;
  (c) two followers naming each other: at most 3 redirects, exit 2 with the
      message;
  (d) no leader known anywhere: the list is tried for ~5 s, then exit 2 with
      E_NOT_LEADER's message;
  (e) a connection dropped while a submit waits: not sent again (exit 2)
      unless every command carries a request_id (then sent to the next
      address); a lookup is sent again; E_NOT_STORED (a leader deposed
      after logging the submit: the server never says E_NOT_LEADER then)
      is an answer, never followed nor sent again;
  (f) a real tmsd (no cluster): --connect BADADDR,SOCKET for status and check.

usage: test_connect_list.py BIN_DIR     (prints 'N passed, N failed')
"""
import json, os, socket, struct, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
import mp  # noqa: E402

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/bin"
TMSCTL = os.path.join(BIN, "tmsctl")
TMSD = os.path.join(BIN, "tmsd")
passed = failed = 0

TENANT = '{"cmd":"CreateTenant","tenant":"acme","actor":"system","admin":"admin"}'
EXT = '{"cmd":"CreateExtension","tenant":"acme","actor":"admin","id":"%s"%s}'
NO_LEADER = "no node holds the leader lease now; retry"


def ext(i, rid=None):
    return EXT % (i, ', "request_id": "r-%s"' % rid if rid else "")


class Fake:
    """A fake tmsd node. mode: 'leader' (accepts submits), 'follower' (E_NOT_LEADER naming self.leader, or
    no leader when it is None) or 'drop' (closes the connection on a submit or check, unanswered). It records what
    it got."""

    def __init__(self, mode, leader=None, node="n1"):
        self.mode, self.leader, self.node = mode, leader, node
        self.submits, self.checks, self.hellos = [], [], []
        self.lock = threading.Lock()
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.addr = "127.0.0.1:%d" % self.srv.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                s, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        buf = b""
        try:
            while True:
                while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                n = struct.unpack(">I", buf[:4])[0]
                m, _ = mp.unpack(buf[4:4 + n])
                buf = buf[4 + n:]
                reply = self.answer(m)
                if reply is None:
                    return
                s.sendall(mp.frame(reply))
        finally:
            s.close()

    def answer(self, m):
        op, req = m.get("op"), m.get("req")
        with self.lock:
            if op == "hello":
                self.hellos.append(m.get("token"))
                return {"req": req, "principal": "local", "version": 1, "server": "tmsd",
                        "rights": ["lookup", "submit"]}
            if op == "submit":
                self.submits.append(list(m["cmds"]))
                if self.mode == "drop":
                    return None
                if self.mode == "deposed":   # a leader that lost its lease after logging it: outcome unknown
                    return {"req": req, "error": "E_NOT_STORED",
                            "message": "this node lost the leader lease before it could acknowledge (durable here): "
                                       "not acknowledged; retry with the same request_id"}
                if self.mode == "follower":
                    if self.leader is None:
                        return {"req": req, "error": "E_NOT_LEADER", "message": NO_LEADER}
                    return {"req": req, "error": "E_NOT_LEADER", "leader": self.leader, "leader_node": "n2",
                            "message": "not the leader: the leader is n2 at %s" % self.leader}
                first = sum(len(x) for x in self.submits) - len(m["cmds"])
                return {"req": req, "results": [{"seq": first + i + 1, "verdict": "accepted"}
                                                for i in range(len(m["cmds"]))]}
            if op == "check":
                self.checks.append(m["q"])
                if self.mode == "drop":
                    return None
                return {"req": req, "allow": [True] * len(m["q"]), "seq": 1}
            if op == "status":
                return {"req": req, "json": json.dumps({"role": self.mode, "node": self.node})}
            return {"req": req, "error": "E_PROTOCOL", "message": "unknown op"}

    def close(self):
        self.srv.close()


class BusyFake(Fake):
    """tmsd at its connection limit: E_BUSY without a req, then the connection closed."""

    def serve(self, s):
        try:
            s.sendall(mp.frame({"error": "E_BUSY", "message": "too many connections"}))
            time.sleep(0.05)
        finally:
            s.close()


def closed_port():
    """An address nothing listens on: connections to it are refused."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "127.0.0.1:%d" % port


def ctl(args, stdin=b"", env=None):
    t0 = time.monotonic()
    p = subprocess.run([TMSCTL] + args, input=stdin, capture_output=True, timeout=30, env=env)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"), time.monotonic() - t0


def case(fn):
    global passed, failed
    fakes = []
    try:
        with tempfile.TemporaryDirectory() as d:
            fn(d, fakes)
        passed += 1
    except AssertionError as e:
        failed += 1
        print("FAIL %s: %s" % (fn.__name__, e))
    finally:
        for f in fakes:
            f.close()
    return fn


def make(fakes, cls, *a, **k):
    f = cls(*a, **k)
    fakes.append(f)
    return f


def lines(*ls):
    return ("\n".join(ls) + "\n").encode()


@case
def test_a_first_address_refuses_the_next_takes_it(d, fakes):
    leader = make(fakes, Fake, "leader")
    rc, out, err, _ = ctl(["--connect", closed_port() + "," + leader.addr, "submit"], lines(TENANT, ext(1001)))
    assert rc == 0 and [json.loads(x)["verdict"] for x in out.splitlines()] == ["accepted"] * 2, (rc, out, err)
    assert leader.submits == [[TENANT, ext(1001)]], leader.submits
    # a node at its connection limit (E_BUSY on connecting) is passed over too
    busy = make(fakes, BusyFake, "leader")
    rc, out, err, _ = ctl(["--connect", busy.addr + "," + leader.addr, "submit"], lines(ext(1002)))
    assert rc == 0 and json.loads(out)["verdict"] == "accepted" and leader.submits[-1] == [ext(1002)], (rc, out, err)
    # every address failing: one line naming each, exit 2
    bad = closed_port()
    rc, out, err, _ = ctl(["--connect", bad + "," + os.path.join(d, "none.sock") + "," + busy.addr, "status"])
    assert rc == 2 and not out and len(err.strip().splitlines()) == 1, (rc, out, err)
    assert bad in err and os.path.join(d, "none.sock") in err and busy.addr in err and "E_BUSY" in err, err
    rc, _, err, _ = ctl(["--connect", leader.addr + ",", "status"])
    assert rc == 2 and "empty address" in err, (rc, err)


@case
def test_b_a_follower_names_the_leader(d, fakes):
    leader = make(fakes, Fake, "leader")
    follower = make(fakes, Fake, "follower", leader=leader.addr)
    tok = os.path.join(d, "token")
    with open(tok, "w") as f:
        f.write("s3cret-token-of-the-cluster\n")
    rc, out, err, _ = ctl(["--connect", follower.addr, "--token-file", tok, "submit"], lines(TENANT, ext(1001)))
    assert rc == 0, (rc, out, err)
    assert out == '{"seq":1,"verdict":"accepted"}\n{"seq":2,"verdict":"accepted"}\n', out   # the output as ever
    assert follower.submits == [[TENANT, ext(1001)]] and leader.submits == [[TENANT, ext(1001)]], \
        (follower.submits, leader.submits)
    assert leader.hellos == ["s3cret-token-of-the-cluster"], leader.hellos   # the same token to the leader
    assert "redirected to the leader at %s" % leader.addr in err, err
    # TMS_CONNECT takes the list the same way
    env = dict(os.environ, TMS_CONNECT=closed_port() + "," + follower.addr)
    rc, out, err, _ = ctl(["submit"], lines(ext(1002)), env=env)
    assert rc == 0 and json.loads(out)["verdict"] == "accepted" and leader.submits[-1] == [ext(1002)], (rc, out, err)


@case
def test_c_followers_naming_each_other_are_not_followed_for_ever(d, fakes):
    a = make(fakes, Fake, "follower")
    b = make(fakes, Fake, "follower", leader=a.addr)
    a.leader = b.addr
    rc, out, err, took = ctl(["--connect", a.addr, "submit"], lines(ext(1001)))
    assert rc == 2 and not out and "not the leader: the leader is n2 at" in err, (rc, out, err)
    assert len(a.submits) + len(b.submits) == 4, (a.submits, b.submits)   # the first try and 3 redirects
    assert took < 4, took


@case
def test_d_no_leader_anywhere_gives_up_after_5_s(d, fakes):
    a = make(fakes, Fake, "follower")
    b = make(fakes, Fake, "follower")
    rc, out, err, took = ctl(["--connect", a.addr + "," + closed_port() + "," + b.addr, "submit"], lines(ext(1001)))
    assert rc == 2 and not out and NO_LEADER in err, (rc, out, err)
    assert 4.5 <= took <= 7.5, took
    # both asked, again and again (a round of the list every 200 ms or so), and nothing else
    assert len(a.submits) >= 3 and len(b.submits) >= 3 and len(a.submits) + len(b.submits) < 60, \
        (len(a.submits), len(b.submits))


@case
def test_e_a_connection_dropped_mid_submit(d, fakes):
    dropper = make(fakes, Fake, "drop")
    leader = make(fakes, Fake, "leader")
    where = ["--connect", dropper.addr + "," + leader.addr]
    # no request_id: the outcome is unknown, so it is not sent again
    rc, out, err, _ = ctl(where + ["submit"], lines(ext(1001, "a"), ext(1002)))
    assert rc == 2 and not out and "outcome is unknown" in err, (rc, out, err)
    assert len(dropper.submits) == 1 and leader.submits == [], (dropper.submits, leader.submits)
    # a request_id on every command: sending it again is idempotent, the next address gets it
    cmds = [ext(1001, "a"), ext(1002, "b")]
    rc, out, err, _ = ctl(where + ["submit"], lines(*cmds))
    assert rc == 0 and [json.loads(x)["verdict"] for x in out.splitlines()] == ["accepted"] * 2, (rc, out, err)
    assert len(dropper.submits) == 2 and leader.submits == [cmds], (dropper.submits, leader.submits)
    # request_id as a value, in a string, or a key of a nested object does not count: only a member of the command
    tricky = ('{"cmd":"CreateExtension","tenant":"acme","actor":"admin","id":"7","origin":"request_id",'
              '"note":"\\"request_id\\": \\"x\\"","x":{"request_id":"y"}}')
    rc, out, err, _ = ctl(where + ["submit"], lines(ext(1003, "c"), tricky))
    assert rc == 2 and len(dropper.submits) == 3 and len(leader.submits) == 1, (rc, err, leader.submits)
    # a lookup changes nothing: sent again on the next address
    rc, out, err, _ = ctl(where + ["check", "acme", "extension", "1001", "reports.view"])
    assert rc == 0 and len(dropper.checks) == 1 and len(leader.checks) == 1, (rc, out, err)


@case
def test_e2_a_deposed_leader_answering_not_stored(d, fakes):
    leader = make(fakes, Fake, "leader")
    deposed = make(fakes, Fake, "deposed", leader=leader.addr)
    for cmd in (ext(1001), ext(1001, "a")):   # with or without request_id: an answer, not a redirect
        rc, out, err, _ = ctl(["--connect", deposed.addr + "," + leader.addr, "submit"], lines(cmd))
        assert rc == 2 and not out and "not acknowledged" in err, (rc, out, err)
    assert len(deposed.submits) == 2 and leader.submits == [], (deposed.submits, leader.submits)


def start_tmsd(d):
    data = os.path.join(d, "data")
    log = open(os.path.join(d, "tmsd.log"), "ab")
    p = subprocess.Popen([TMSD, "--data", data], stdout=log, stderr=log)
    sock = os.path.join(data, "tmsd.sock")
    for _ in range(300):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
            s.close()
            return p, sock
        except OSError:
            s.close()
            if p.poll() is not None:
                raise AssertionError("tmsd exited %d" % p.returncode)
            time.sleep(0.02)
    p.kill()
    raise AssertionError("tmsd did not come up")


@case
def test_f_a_real_tmsd_behind_a_bad_address(d, fakes):
    p, sock = start_tmsd(d)
    try:
        bad = closed_port()
        rc, out, err, _ = ctl(["--connect", sock, "submit"], lines(TENANT, ext(1001)))
        assert rc == 0, (rc, out, err)
        rc, out, err, _ = ctl(["--connect", bad + "," + sock, "status"])
        assert rc == 0 and json.loads(out)["role"] == "leader" and json.loads(out)["last_seq"] == 2, (rc, out, err)
        rc, out, err, _ = ctl(["--connect", os.path.join(d, "nowhere.sock") + "," + sock, "check", "acme",
                               "extension", "1001", "reports.view"])
        assert rc in (0, 1) and not err.strip(), (rc, out, err)   # an answer (allow or deny), not exit 2
        rc, out, err, _ = ctl(["--connect", bad + "," + sock, "show", "acme", "extension", "1001"])
        assert rc == 0 and json.loads(out)["id"] == "1001", (rc, out, err)
        rc, out, err, _ = ctl(["--connect", bad + "," + sock, "submit"], lines(ext(1002)))
        assert rc == 0 and json.loads(out) == {"seq": 3, "verdict": "accepted"} and not err.strip(), (rc, out, err)
    finally:
        p.terminate()
        p.wait(timeout=30)


@case
def test_help_names_the_list(d, fakes):
    rc, out, _, _ = ctl(["--help"])
    assert rc == 0 and "--connect ADDR[,ADDR...]" in out and "TMS_CONNECT=ADDR[,ADDR...]" in out, out


print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
