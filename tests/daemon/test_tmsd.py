#!/usr/bin/env python3
"""test_tmsd.py -- tmsd as its clients see it: the conformance scenarios
through tmsctl --connect, protocol round trips, pipelining and batches,
garbage and oversize frames, many connections, the connection limit, the
TCP token, SIGTERM, and a crash test: kill -9 at random moments during a
stream of submits, restart, every acknowledged command is there.

usage: test_tmsd.py BIN_DIR [CONFORMANCE_RUN]   (prints 'N passed, N failed')
"""
import os
import json, re, struct, random, signal, socket, stat, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mp

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
RUNNER = sys.argv[2] if len(sys.argv) > 2 else None
TMSD, TMSCTL = os.path.join(BIN, "tmsd"), os.path.join(BIN, "tmsctl")
CRASH_ROUNDS = int(os.environ.get("TMS_CRASH_ROUNDS", "12"))
passed = failed = skipped = 0

class Skipped(Exception):
    """This machine cannot run the case (said, and counted apart from passes)."""

def case(fn):
    global passed, failed, skipped
    try:
        with tempfile.TemporaryDirectory() as d:
            fn(d)
        passed += 1
    except Skipped as e:
        skipped += 1
        print("SKIP %s: %s" % (fn.__name__, e))
    except Exception as e:
        failed += 1
        import traceback
        print("FAIL %s: %s: %s\n%s" % (fn.__name__, type(e).__name__, e, traceback.format_exc(limit=-2)))
    return fn

def start(d, *extra, wait_for=None):
    log = open(os.path.join(d, "tmsd.log"), "ab")
    data = os.path.join(d, "data")
    p = subprocess.Popen([TMSD, "--data", data] + list(extra), stdout=log, stderr=log)
    sock = wait_for or os.path.join(data, "tmsd.sock")
    for _ in range(200):
        if port_open(sock):   # a stale socket file of a killed daemon does not count
            return p, data
        if p.poll() is not None:
            raise AssertionError("tmsd exited %d: %s" % (p.returncode, open(os.path.join(d, "tmsd.log")).read()[-500:]))
        time.sleep(0.02)
    raise AssertionError("tmsd did not come up")

def port_open(addr):
    try:
        if isinstance(addr, str):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(addr)
            s.close()
        else:
            socket.create_connection(addr, timeout=0.2).close()
        return True
    except OSError:
        return False

def stop(p):
    p.send_signal(signal.SIGTERM)
    return p.wait(timeout=20)

def ctl(*args, stdin=b""):
    r = subprocess.run([TMSCTL] + list(args), input=stdin, capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode(), r.stderr.decode()

def mp_json(o):
    import json
    return json.dumps(o)

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

def http_get(addr, path):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(("GET %s HTTP/1.0\r\n\r\n" % path).encode())
    body = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    s.close()
    return body.decode(errors="replace")

TENANT = {"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}
def ext(i):
    return {"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "x%d" % i, "request_id": "r%d" % i}

@case
def test_round_trips_and_socket_mode(d):
    p, data = start(d)
    sock = os.path.join(data, "tmsd.sock")
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660, oct(os.stat(sock).st_mode)
    c = mp.Conn(sock)
    h = c.call("hello", version=1)
    assert h["server"] == "tmsd" and h["rights"] == ["lookup", "submit", "admin"] and h["principal"] == "local", h
    r = c.call("submit", cmds=[TENANT, ext(1), '{"cmd":"CreateExtension","tenant":"acme","actor":"admin","id":"x1"}',
                               "{not json", {"cmd": "Nope"}])
    res = r["results"]
    assert [x["verdict"] for x in res] == ["accepted", "accepted", "rejected", "rejected", "rejected"], res
    assert [x["seq"] for x in res] == [1, 2, 3, None, None], res
    assert res[2]["error"] == "ALREADY_EXISTS" and res[3]["error"] == "INVALID_COMMAND", res
    r = c.call("check", q=[["acme", "admin", "admin", "reports.view"], ["acme", "extension", "x1", "reports.view"],
                           ["acme", "extension", "nobody", "reports.view"]])
    assert r["allow"] == [True, False, False], r
    r = c.call("check", q=[["acme", "admin", "admin", "reports.view"], ["acme", "extension", "x1"], [1, 2, 3, 4]])
    assert r.get("error") == "E_PROTOCOL" and r["message"].startswith("q[1]: ") and "allow" not in r, r   # issue 19
    r = c.call("show", tenant="acme", kind="extension", id="x1")
    assert r["found"] is True and '"id":"x1"' in r["json"], r
    r = c.call("show", tenant="acme", kind="extension", id="x9")
    assert r["found"] is False, r
    r = c.call("visible", tenant="acme", manager="nobody")
    assert r["json"] == "[]", r
    r = c.call("status")
    assert r["last_seq"] == 3 and len(r["head"]) == 64 and r["connections"] == 1, r
    c.close()
    assert stop(p) == 0

@case
def test_min_seq_waits_without_holding_up_others_and_replies_carry_their_seq(d):
    # SPEC section 7, freshness, through tmsd
    p, data = start(d)
    sock = os.path.join(data, "tmsd.sock")
    c, other = mp.Conn(sock), mp.Conn(sock)
    c.call("submit", cmds=[TENANT, ext(1)])
    r = c.call("check", q=[["acme", "extension", "x1", "reports.view"]])
    assert r["seq"] == 2 and r["allow"] == [False], r
    assert c.call("show", tenant="acme", kind="extension", id="x1")["seq"] == 2
    assert c.call("visible", tenant="acme", manager="nobody")["seq"] == 2
    # a lookup asking for seq 3 waits; another client is answered meanwhile
    c.send_raw(mp.frame({"op": "check", "req": 77, "min_seq": 3, "wait_ms": 10000,
                         "q": [["acme", "extension", "x1", "reports.view"]]}))
    assert other.call("status")["last_seq"] == 2
    time.sleep(0.1)
    r = other.call("submit", cmds=['{"cmd":"SetPermissions","tenant":"acme","actor":"admin","kind":"extension",'
                                   '"id":"x1","enable":["reports.view"],"disable":[]}'])
    assert r["results"][0]["verdict"] == "accepted", r
    r = c.read()
    assert r["req"] == 77 and r["seq"] == 3 and r["allow"] == [True], r
    # a min_seq or wait_ms that is not an unsigned integer is refused, never answered without freshness
    for bad in ({"min_seq": "5"}, {"min_seq": -1}, {"min_seq": 2, "wait_ms": -5}):
        r = c.call("check", q=[["acme", "extension", "x1", "reports.view"]], **bad)
        assert r.get("error") == "E_PROTOCOL" and "allow" not in r, (bad, r)
    # not reached in time: E_STALE naming the seq, and tmsctl exits 2
    t0 = time.monotonic()
    r = c.call("show", tenant="acme", kind="extension", id="x1", min_seq=9, wait_ms=100)
    assert r["error"] == "E_STALE" and "at seq 3" in r["message"] and time.monotonic() - t0 >= 0.1, r
    rc, out, err = ctl("--connect", sock, "check", "--min-seq", "4", "--wait", "50", "acme", "extension", "x1", "reports.view")
    assert rc == 2 and out == "" and "at seq 3" in err, (rc, out, err)
    rc, out, err = ctl("--connect", sock, "check", "--min-seq", "3", "acme", "extension", "x1", "reports.view")
    assert rc == 0 and out.strip() == "allow", (rc, out, err)
    # show and visible through tmsd print what embedded prints, with the same exit codes
    for args in (["show", "acme", "extension", "x1"], ["show", "acme", "extension", "x9"], ["visible", "acme", "nobody"]):
        remote, local = ctl("--connect", sock, *args), ctl("--data", data, *args)
        assert remote[:2] == local[:2] and remote[0] == (1 if "x9" in args else 0), (args, remote, local)
    # a waiter is answered (E_STALE) when tmsd stops, which then exits 0
    c.send_raw(mp.frame({"op": "visible", "req": 78, "min_seq": 99, "wait_ms": 60000, "tenant": "acme", "manager": "m"}))
    time.sleep(0.1)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    r = c.read()
    assert r["req"] == 78 and r["error"] == "E_STALE" and "stopping" in r["message"], r
    assert p.wait(timeout=20) == 0 and time.monotonic() - t0 < 5
    c.close()
    other.close()

@case
def test_lookups_at_a_point_and_explain_through_tmsd_equal_embedded(d):
    """SPEC section 7: --seq/--at and --explain through tmsd print what
    embedded prints, with the same exit codes; the reply's seq is the point;
    a point beyond the log is exit 2 naming the last seq; bad types are E_PROTOCOL."""
    data = os.path.join(d, "data")
    perms = '{"cmd":"SetPermissions","tenant":"acme","actor":"admin","kind":"extension","id":"x1","enable":%s,"disable":%s}'
    lines = [mp_json(TENANT), mp_json(ext(1)), perms % ('["calls.international"]', "[]"),
             '{"cmd":"AddManager","tenant":"acme","actor":"admin","id":"lead","new_login":{"id":"login-lead"}}',
             '{"cmd":"Distribute","tenant":"acme","actor":"admin","kind":"extension","id":"x1","manager":"lead"}',
             perms % ("[]", '["calls.international"]')]
    rc, out, err = ctl("--data", data, "submit", stdin=("\n".join(lines) + "\n").encode())
    assert rc == 0 and out.count('"accepted"') == 6, (rc, out, err)
    p, data = start(d)
    sock = os.path.join(data, "tmsd.sock")
    try:
        cases = [["check", "--seq", "3", "acme", "extension", "x1", "calls.international"],
                 ["check", "--seq", "2", "acme", "extension", "x1", "calls.international"],
                 ["check", "acme", "extension", "x1", "calls.international"],
                 ["check", "--explain", "--seq", "3", "acme", "extension", "x1", "calls.international"],
                 ["check", "--explain", "acme", "extension", "x1", "calls.international"],
                 ["check", "--explain", "--seq", "1", "acme", "extension", "x1", "calls.international"],
                 ["check", "--explain", "acme", "admin", "admin", "reports.view"],
                 ["check", "--explain", "nope", "extension", "x1", "calls.international"],
                 ["show", "--seq", "4", "acme", "extension", "x1"], ["show", "--seq", "1", "acme", "extension", "x1"],
                 ["show", "--at", "2000-01-01", "acme", "extension", "x1"],
                 ["show", "--at", "2200-01-01T00:00:00Z", "acme", "extension", "x1"],
                 ["visible", "--seq", "4", "acme", "lead"], ["visible", "--seq", "5", "acme", "lead"]]
        want_rc = [0, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 0]
        for args, want in zip(cases, want_rc):
            remote, local = ctl("--connect", sock, *args), ctl("--data", data, *args)
            assert remote[:2] == local[:2] and remote[0] == want, (args, remote, local)
        explained = json.loads(ctl("--connect", sock, *cases[4])[1])
        assert explained["reason"] == "not_held" and explained["changed"]["seq"] == 6, explained
        assert explained["changed"]["actor"] == "admin" and explained["changed"]["cmd"]["cmd"] == "SetPermissions"
        assert json.loads(ctl("--connect", sock, *cases[7])[1])["reason"] == "unknown_tenant"
        assert '"x1"' in ctl("--connect", sock, *cases[13])[1] and ctl("--connect", sock, *cases[12])[1].strip() == "[]"
        for way in (["--connect", sock], ["--data", data]):
            rc, out, err = ctl(*way, "check", "--seq", "7", "acme", "extension", "x1", "reports.view")
            assert rc == 2 and out == "" and "the last seq is 6" in err, (way, rc, out, err)
        c = mp.Conn(sock)
        r = c.call("show", tenant="acme", kind="extension", id="x1", at_seq=3)
        assert r["seq"] == 3 and '"calls.international"' in r["json"], r
        r = c.call("check", q=[["acme", "extension", "x1", "calls.international"]], at_seq=3, explain=True)
        assert r["allow"] == [True] and json.loads(r["explain"][0])["changed"]["seq"] == 3, r
        for bad in ({"at_seq": "3"}, {"at_seq": -1}, {"at_time": "2026"}, {"at_seq": 1, "at_time": 1}, {"explain": 1}):
            r = c.call("check", q=[["acme", "extension", "x1", "reports.view"]], **bad)
            assert r.get("error") == "E_PROTOCOL" and "allow" not in r, (bad, r)
        c.close()
    finally:
        assert stop(p) == 0

def watch_lines(out):
    return [json.loads(l) for l in out.splitlines() if l.strip()]

@case
def test_watch_embedded_and_through_tmsd_no_gap_no_duplicate(d):
    """SPEC section 7, watch: the lines equal the export (seq, time, verdict,
    cmd) plus the changed sets found by diffing show before and after each
    record; through tmsd the same text as embedded; a tmsd stop names the seq
    to resume from and --from there continues with no gap and no duplicate;
    a watcher that does not read gets everything, in order, when it does."""
    data = os.path.join(d, "data")
    perms = '{"cmd":"SetPermissions","tenant":"acme","actor":"admin","kind":"extension","id":"x1","enable":%s,"disable":%s}'
    lines = [mp_json(TENANT), mp_json(ext(1)), mp_json(ext(2)), perms % ('["calls.international"]', "[]"),
             '{"cmd":"AddManager","tenant":"acme","actor":"admin","id":"lead","new_login":{"id":"login-lead"}}',
             '{"cmd":"Distribute","tenant":"acme","actor":"admin","kind":"extension","id":"x1","manager":"lead"}',
             '{"cmd":"Distribute","tenant":"acme","actor":"admin","kind":"extension","id":"x9","manager":"lead"}',
             '{"cmd":"TakeOwnership","tenant":"acme","actor":"admin","id":"x1","manager":"lead"}',
             '{"cmd":"DeleteExtension","tenant":"acme","actor":"admin","id":"x2"}',
             '{"cmd":"CreateTenant","tenant":"beta","actor":"system","admin":"root"}']
    rc, out, err = ctl("--data", data, "submit", stdin=("\n".join(lines) + "\n").encode())
    assert rc == 0, (rc, out, err)
    last = 10
    rc, out, err = ctl("--data", data, "watch", "--from", "1", "--until", str(last))
    assert rc == 0, (rc, err)
    got = watch_lines(out)
    exported = [json.loads(l) for l in subprocess.run([os.path.join(BIN, "tms-audit"), "export", "--data", data],
                                                      capture_output=True, text=True).stdout.splitlines()]
    assert [g["seq"] for g in got] == list(range(1, last + 1)) == [e["seq"] for e in exported], (got, exported)
    things = [("extension", "x1"), ("extension", "x2"), ("extension", "x9"), ("manager", "lead")]
    for g, e in zip(got, exported):
        assert g["time"] == e["time"] and g["cmd"] == e["cmd"], (g, e)
        assert (g["verdict"], g["error"]) == (("accepted", None) if e["verdict"] == "accepted" else ("rejected", e["verdict"])), (g, e)
        changed = []
        for kind, id_ in things:
            before = ctl("--data", data, "show", "--seq", str(g["seq"] - 1), g["tenant"], kind, id_)
            after = ctl("--data", data, "show", "--seq", str(g["seq"]), g["tenant"], kind, id_)
            if before[:2] != after[:2]:
                changed.append({"kind": kind, "id": id_})
        assert g["changed"] == changed, (g, changed)
    assert ctl("--data", data, "watch", "--tenant", "beta", "--from", "1", "--until", str(last))[1].count('"seq"') == 1
    p, data = start(d)
    sock = os.path.join(data, "tmsd.sock")
    try:
        rc, out, err = ctl("--connect", sock, "watch", "--tenant", "beta", "--from", "1", "--until", str(last))
        assert rc == 0 and [x["seq"] for x in watch_lines(out)] == [last], (rc, out, err)   # through tmsd too
        remote = subprocess.Popen([TMSCTL, "--connect", sock, "watch", "--from", "1"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        c = mp.Conn(sock)
        for i in range(3, 8):   # live records while the watcher follows
            assert c.call("submit", cmds=[ext(i)])["results"][0]["verdict"] == "accepted"
        seen = [json.loads(remote.stdout.readline()) for _ in range(last + 5)]
        assert [x["seq"] for x in seen] == list(range(1, last + 6)), seen
        # a watcher that does not read while 3000 records go in still gets them all, in order
        slow = mp.Conn(sock)
        slow.send_raw(mp.frame({"op": "watch", "req": 5, "from": 1}))
        for b in range(10):
            r = c.call("submit", cmds=[ext(100 + b * 300 + k) for k in range(300)])
            assert all(x["verdict"] == "accepted" for x in r["results"])
        assert c.call("status")["last_seq"] == last + 5 + 3000
        first = slow.read()
        assert first == {"req": 5, "seq": 1}, first
        seqs = [json.loads(slow.read()["line"])["seq"] for _ in range(last + 5 + 3000)]
        assert seqs == list(range(1, last + 5 + 3001)), (seqs[:5], seqs[-5:])
        slow.close()
        for bad in ({"from": "1"}, {"until": -3}, {"tenant": 7}):
            r = c.call("watch", **bad)
            assert r.get("error") == "E_PROTOCOL", (bad, r)
        r = c.call("watch", **{"from": 2, "until": 3})
        assert r["seq"] == 2 and [json.loads(c.read()["line"])["seq"] for _ in range(2)] == [2, 3] and c.read()["end"]
        c.close()
        upto = last + 5 + 3000
        while True:   # the remote watcher has printed everything before tmsd stops
            x = json.loads(remote.stdout.readline())
            if x["seq"] == upto:
                break
    finally:
        assert stop(p) == 0
    rest, err = remote.communicate(timeout=20)
    assert remote.returncode == 2 and "resume with from = %d" % (upto + 1) in err and rest == "", (remote.returncode, rest, err)
    rc, out, err = ctl("--data", data, "submit", stdin=(mp_json(ext(9000)) + "\n").encode())
    p, data = start(d)
    try:   # resumed from the seq named: the record made while tmsd was down, no gap, no duplicate
        rc, out, err = ctl("--connect", sock, "watch", "--from", str(upto + 1), "--until", str(upto + 1))
        assert rc == 0 and [x["seq"] for x in watch_lines(out)] == [upto + 1], (rc, out, err)
        assert watch_lines(out)[0]["cmd"]["id"] == "x9000"
        embedded = ctl("--data", data, "watch", "--from", "1", "--until", str(upto + 1))
        remote_all = ctl("--connect", sock, "watch", "--from", "1", "--until", str(upto + 1))
        assert embedded[0] == remote_all[0] == 0 and embedded[1] == remote_all[1], (embedded[2], remote_all[2])
        # SIGINT ends a watch with exit 0
        w = subprocess.Popen([TMSCTL, "--connect", sock, "watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.3)
        w.send_signal(signal.SIGINT)
        assert w.wait(timeout=10) == 0
    finally:
        assert stop(p) == 0

@case
def test_a_reply_over_the_frame_limit_is_answered_e_toobig_not_dropped(d):
    # 2500 extensions distributed to one manager: what it sees is ~90 KB of JSON, over a 64 KiB frame limit
    data = os.path.join(d, "data")
    lines = [mp_json(TENANT), '{"cmd":"AddManager","tenant":"acme","actor":"admin","id":"lead","new_login":{"id":"login-lead"}}']
    for i in range(2500):
        lines.append(mp_json(ext(i)))
        lines.append('{"cmd":"Distribute","tenant":"acme","actor":"admin","kind":"extension","id":"x%d",'
                     '"manager":"lead"}' % i)
    rc, out, err = ctl("--data", data, "submit", stdin=("\n".join(lines) + "\n").encode())
    assert rc == 0 and out.count('"accepted"') == len(lines), (rc, err, out[-300:])
    p, data = start(d, "--max-frame-bytes", "65536")
    c = mp.Conn(os.path.join(data, "tmsd.sock"))
    c.s.settimeout(10)   # a dropped reply fails here, not at ctest's timeout
    r = c.call("visible", tenant="acme", manager="lead")
    assert r["req"] == c.req and r.get("error") == "E_TOOBIG" and "frame limit" in r["message"], r
    assert c.call("status")["last_seq"] == len(lines)   # the connection goes on
    c.close()
    rc, out, err = ctl("--connect", os.path.join(data, "tmsd.sock"), "visible", "acme", "lead")
    assert rc == 2 and out == "" and "E_TOOBIG" not in out, (rc, out, err)
    assert stop(p) == 0

@case
def test_pipelined_and_batched_requests(d):
    p, data = start(d)
    c = mp.Conn(os.path.join(data, "tmsd.sock"))
    c.call("submit", cmds=[TENANT] + [ext(i) for i in range(50)])
    # 200 requests in one write, answered in order
    c.send_raw(b"".join(mp.frame({"op": "check", "req": 1000 + i, "q": [["acme", "admin", "admin", "billing.view"]]})
                        for i in range(200)))
    for i in range(200):
        r = c.read()
        assert r["req"] == 1000 + i and r["allow"] == [True], r
    q = [["acme", "extension", "x%d" % (i % 60), "reports.view"] for i in range(5000)]
    r = c.call("check", q=q)
    assert len(r["allow"]) == 5000 and not any(r["allow"]), len(r["allow"])
    # pipelined submits: every one answered, seqs contiguous
    c.send_raw(b"".join(mp.frame({"op": "submit", "req": 5000 + i, "cmds": [ext(100 + i)]}) for i in range(100)))
    seqs = []
    for i in range(100):
        r = c.read()
        assert r["req"] == 5000 + i, r
        seqs.append(r["results"][0]["seq"])
    assert seqs == list(range(52, 152)), seqs[:5]
    c.close()
    assert stop(p) == 0

@case
def test_garbage_and_oversize_frames_close_only_that_connection(d):
    p, data = start(d)
    sock = os.path.join(data, "tmsd.sock")
    good = mp.Conn(sock)
    for payload in [b"\x00\x00\x00\x03abc", b"\x00\x00\x00\x01\x93", mp.frame([1, 2]), mp.frame({"op": "check"}),
                    mp.frame({"op": "frobnicate", "req": 1}), mp.frame({"op": "hello", "req": 1, "version": 9})]:
        c = mp.Conn(sock)
        c.send_raw(payload)
        r = c.read()
        assert r is not None and r.get("error") in ("E_PROTOCOL",), (payload, r)
        assert c.read() is None, "connection should be closed after %r" % payload
        c.close()
    c = mp.Conn(sock)
    c.send_raw(b"\x7f\xff\xff\xff" + b"x" * 100)   # announces 2 GiB
    r = c.read()
    assert r["error"] == "E_TOOBIG" and c.read() is None, r
    random.seed(7)
    for _ in range(30):
        c = mp.Conn(sock)
        c.send_raw(bytes(random.getrandbits(8) for _ in range(random.randint(1, 300))))
        c.s.shutdown(socket.SHUT_WR)
        while c.read() is not None:
            pass
        c.close()
    assert good.call("check", q=[["acme", "admin", "admin", "x"]])["allow"] == [False]
    assert p.poll() is None, "tmsd died"
    good.close()
    assert stop(p) == 0

@case
def test_many_connections_and_the_connection_limit(d):
    p, data = start(d, "--max-connections", "300")
    sock = os.path.join(data, "tmsd.sock")
    conns = []
    for _ in range(250):
        conns.append(mp.Conn(sock))
    for i, c in enumerate(conns):
        c.send_raw(mp.frame({"op": "check", "req": i, "q": [["acme", "admin", "admin", "reports.view"]]}))
    for i, c in enumerate(conns):
        assert c.read()["req"] == i
    more = [mp.Conn(sock) for _ in range(60)]   # 310 > 300
    refused = 0
    for c in more:
        try:
            c.send_raw(mp.frame({"op": "status", "req": 1}))
        except OSError:
            pass   # refused connections may already be closed
        try:
            r = c.read()
        except OSError:
            r = None
        refused += r is not None and r.get("error") == "E_BUSY"
    assert refused == 10, refused
    for c in conns + more:
        c.close()
    assert stop(p) == 0

@case
def test_tcp_submit_needs_the_token(d):
    port = 20000 + os.getpid() % 20000
    tok = os.path.join(d, "token")
    with open(tok, "w") as f:
        f.write("s3cret-token-0123456789\n")
    p, data = start(d, "--socket", "", "--listen", "127.0.0.1:%d" % port, "--token-file", tok,
                    wait_for=("127.0.0.1", port))
    c = mp.Conn(("127.0.0.1", port))
    assert c.call("hello", version=1)["rights"] == ["lookup"]
    r = c.call("submit", cmds=[TENANT])
    assert r.get("error") == "E_DENIED", r
    assert c.call("check", q=[["acme", "admin", "admin", "reports.view"]])["allow"] == [False]   # nothing was logged
    c.close()
    c = mp.Conn(("127.0.0.1", port))
    assert c.call("hello", version=1, token="wrong-token-0123456789")["rights"] == ["lookup"]
    assert c.call("submit", cmds=[TENANT]).get("error") == "E_DENIED"
    c.close()
    rc, out, err = ctl("--connect", "127.0.0.1:%d" % port, "--token-file", tok, "submit", stdin=(mp_json(TENANT) + "\n").encode())
    assert rc == 0 and '"seq":1' in out, (rc, out, err)
    rc, out, err = ctl("--connect", "127.0.0.1:%d" % port, "submit", stdin=(mp_json(ext(1)) + "\n").encode())
    assert rc == 2 and out == "", (rc, out, err)
    long_tok, short_tok = os.path.join(d, "long"), os.path.join(d, "short")
    open(long_tok, "w").write("s3cret-token-0123456789" + "x" * 300 + "\n")   # its 255-byte prefix is no credential
    open(short_tok, "w").write("s3cret\n")
    for bad, why in ((long_tok, "longer than"), (short_tok, "shorter than")):
        rc, out, err = ctl("--connect", "127.0.0.1:%d" % port, "--token-file", bad, "submit",
                           stdin=(mp_json(ext(1)) + "\n").encode())
        assert rc == 2 and out == "" and why in err, (bad, rc, out, err)
    assert stop(p) == 0

@case
def test_sigterm_finishes_and_exits_zero_and_embedded_is_refused_meanwhile(d):
    p, data = start(d)
    rc, out, err = ctl("--data", data, "submit", stdin=(mp_json(TENANT) + "\n").encode())
    assert rc == 2 and "held by pid %d" % p.pid in err and "--connect" in err, (rc, err)
    rc, out, err = ctl("--connect", os.path.join(data, "tmsd.sock"), "submit",
                       stdin="".join(mp_json(x) + "\n" for x in [TENANT] + [ext(i) for i in range(100)]).encode())
    assert rc == 0 and out.count("accepted") == 101, (rc, out[-300:], err)
    assert stop(p) == 0
    log = open(os.path.join(d, "tmsd.log")).read()
    assert "msg=stopped last_seq=101" in log, log[-400:]
    rc, out, _ = ctl("--data", data, "check", "acme", "admin", "admin", "reports.view")
    assert rc == 0 and out.strip() == "allow"
    rc, out, _ = ctl("--data", data, "show", "acme", "extension", "x99")
    assert rc == 0, rc
    audit = os.path.join(BIN, "tms-audit")
    if os.path.exists(audit):   # what tmsd built equals a fresh replay of its log, request ids included
        r = subprocess.run([audit, "verify", "--data", data], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and '"ok":true' in r.stdout, (r.returncode, r.stdout, r.stderr)

@case
def test_metrics_and_embedded_readers_while_tmsd_writes(d):
    port = 40000 + os.getpid() % 20000
    p, data = start(d, "--metrics", "127.0.0.1:%d" % port)
    sock = os.path.join(data, "tmsd.sock")
    c = mp.Conn(sock)
    c.call("submit", cmds=[TENANT, ext(0)])
    stop_flag = []
    def writer():
        i = 1
        while not stop_flag:
            c.call("submit", cmds=[ext(i), {"cmd": "SetPermissions", "tenant": "acme", "actor": "admin",
                                              "kind": "extension", "id": "x%d" % i, "enable": ["reports.view"],
                                              "disable": []}])
            i += 1
    t = threading.Thread(target=writer)
    t.start()
    try:
        # embedded readers (separate processes) read the projection while tmsd commits
        for k in range(30):
            rc, out, err = ctl("--data", data, "check", "acme", "admin", "admin", "reports.view")
            assert rc == 0 and out.strip() == "allow", (rc, out, err)
            rc, out, err = ctl("--data", data, "check", "acme", "extension", "x0", "reports.view")
            assert rc == 1 and out.strip() == "deny", (rc, out, err)
    finally:
        stop_flag.append(1)
        t.join()
    last = c.call("status")["last_seq"]
    rc, out, _ = ctl("--data", data, "check", "acme", "extension", "x%d" % ((last - 2) // 2), "reports.view")
    assert rc == 0 and out.strip() == "allow", (last, rc, out)
    text = http_get("127.0.0.1:%d" % port, "/metrics")
    assert text.split("\r\n")[0] in ("HTTP/1.0 200 OK", "HTTP/1.1 200 OK") and "tmsd_groups_total" in text, text[:300]
    assert "tmsd_group_commit_seconds_bucket" in text and "tmsd_lookup_seconds_count" in text, text[:300]
    groups = int([l for l in text.splitlines() if l.startswith("tmsd_groups_total ")][0].split()[1])
    assert groups > 1, groups
    c.close()
    assert stop(p) == 0

@case
def test_a_full_map_grows_between_groups_while_lookups_go_on(d):
    p, data = start(d, "--map-bytes", "65536")
    sock = os.path.join(data, "tmsd.sock")
    c, r = mp.Conn(sock), mp.Conn(sock)
    c.call("submit", cmds=[TENANT])
    for k in range(30):
        res = c.call("submit", cmds=[ext(k * 100 + i) for i in range(100)])
        assert all(x["verdict"] == "accepted" for x in res["results"]), res
        assert r.call("check", q=[["acme", "admin", "admin", "reports.view"]])["allow"] == [True]
    assert c.call("status")["last_seq"] == 3001
    c.close(); r.close()
    assert stop(p) == 0
    assert "projection map grown" in open(os.path.join(d, "tmsd.log")).read()
    audit = os.path.join(BIN, "tms-audit")
    if os.path.exists(audit):
        v = subprocess.run([audit, "verify", "--data", data], capture_output=True, text=True, timeout=120)
        assert v.returncode == 0, (v.stdout, v.stderr)

@case
def test_half_close_and_shutdown_still_deliver_every_reply(d):
    port = 30000 + os.getpid() % 20000
    p, data = start(d, "--metrics", "127.0.0.1:%d" % port)
    sock = os.path.join(data, "tmsd.sock")
    idle_metrics = socket.create_connection(("127.0.0.1", port), timeout=5)   # says nothing
    c = mp.Conn(sock)
    c.call("submit", cmds=[TENANT])
    # a client that sends a big submit and half-closes still gets every verdict
    c.send_raw(mp.frame({"op": "submit", "req": 77, "cmds": [ext(i) for i in range(3000)]}))
    c.s.shutdown(socket.SHUT_WR)
    r = c.read()
    assert r and r["req"] == 77 and len(r["results"]) == 3000, (r or {}).keys()
    assert all(x["verdict"] == "accepted" for x in r["results"])
    c.close()
    # SIGTERM right after a big submit: the reply arrives whole, then tmsd exits 0
    c2 = mp.Conn(sock)
    c2.send_raw(mp.frame({"op": "submit", "req": 78, "cmds": [ext(10000 + i) for i in range(5000)]}))
    time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    r = c2.read()
    assert r and r["req"] == 78 and len(r["results"]) == 5000, (r or {}).keys()
    t0 = time.monotonic()
    try:   # the silent metrics connection does not hold it up (h2o closes it within 5 s, tmsd cuts it at 6 s)
        code = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError("tmsd still running 30 s after SIGTERM: " + open(os.path.join(d, "tmsd.log")).read()[-1500:])
    assert code == 0, (code, round(time.monotonic() - t0, 1), open(os.path.join(d, "tmsd.log")).read()[-1500:])
    idle_metrics.close()
    c2.close()

@case
def test_idle_connections_time_out(d):
    p, data = start(d, "--idle-timeout", "0.3")
    c = mp.Conn(os.path.join(data, "tmsd.sock"))
    time.sleep(0.8)
    assert c.read() is None, "idle connection should have been closed"
    assert stop(p) == 0

@case
def test_bad_option_values_are_refused_with_exit_2(d):
    data = os.path.join(d, "data")
    long_token = os.path.join(d, "token")
    with open(long_token, "w") as f:
        f.write("t" * 300 + "\n")        # its first 255 bytes must not become a valid token
    cases = [(["--max-connections", "-1"], "--max-connections"), (["--max-connections", "0"], "--max-connections"),
             (["--max-connections", "12x"], "--max-connections"), (["--idle-timeout", "-5"], "--idle-timeout"),
             (["--map-bytes", "1k"], "--map-bytes"), (["--socket", "/tmp/" + "s" * 110], "108 bytes"),
             (["--token-file", long_token, "--listen", "127.0.0.1:0"], "longer than")]
    for extra, word in cases:
        p = subprocess.run([TMSD, "--data", data] + extra, capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and word in p.stderr, (extra, p.returncode, p.stderr)

@case
def test_options_are_whole_names_read_by_the_tools_parser(d):
    """Issue 21, item 5: tmsd reads its options with the tools' parser, not getopt_long: an abbreviation
    ("--dat" for --data) is refused naming the option it looks like, exit 2, before anything starts; a
    repeated option (--witness) is taken every time; every option --help lists is one it takes."""
    data = os.path.join(d, "data")
    def tmsd(*args):
        # --idle-exit: a tmsd that took the abbreviation would start; it stops by itself instead of hanging
        r = subprocess.run([TMSD] + list(args), capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout, r.stderr
    for args, want in ((["--dat", data, "--idle-exit", "0.2"], "unknown option --dat: did you mean --data? (try --help)"),
                       (["--data=" + data, "--idle-exi", "0.2"], "unknown option --idle-exi: did you mean --idle-exit?"),
                       (["--data", data, "--tcp-lookups", "--idle-exit", "0.2"],
                        "unknown option --tcp-lookups: did you mean --tcp-lookups-need-token?"),
                       (["--data", data, "--tcp-lookups-need-token=yes"], "option --tcp-lookups-need-token takes no value"),
                       (["--data", data, "--frobnicate"], "unknown option --frobnicate (try --help)"),
                       (["--data", data, "stray"], "unexpected argument stray (try --help)"),
                       (["--data", data, "--", "--idle-exit"], "unexpected argument --idle-exit"),
                       (["--data"], "option --data needs a value (try --help)"),
                       (["--idle-exit", "0.2"], "--data DIR is required")):
        rc, out, err = tmsd(*args)
        assert rc == 2 and out == "" and err.startswith("tmsd: ") and want in err and err.count("\n") == 1, \
            (args, rc, out, err)
    assert not os.path.exists(data), "a refused command line created the data directory"
    key = os.path.join(d, "none.key")
    wit = ["--witness", "http://a.example", "--witness-key", "k1", "--witness", "http://b.example"]
    rc, out, err = tmsd("--data", data, "--signing-key", key, *wit)   # two URLs, one key: counted, not the last kept
    assert rc == 2 and "--witness URL goes with --witness-key VKEY (one each)" in err, (rc, err)
    many = [x for i in range(8) for x in ("--witness", "http://w%d.example" % i)]
    rc, out, err = tmsd("--data", data, *many)
    assert rc == 2 and "--witness http://w7.example: expected" in err and "at most 7" in err, (rc, err)
    rc, usage, err = tmsd("--help")
    names = sorted(set(re.findall(r"(?<![\w-])--([a-z][a-z-]*[a-z])", usage)))
    assert rc == 0 and len(names) > 40 and "data" in names and "lease-ttl" in names, (rc, names)
    for name in names:   # alone, each option is either missing its value or a flag (then --data is missing)
        rc, out, err = tmsd("--" + name)
        assert rc == (0 if name in ("help", "version") else 2) and "unknown option" not in err and \
            ("needs a value" in err or "--data DIR is required" in err or name in ("help", "version")), (name, rc, err)

def mount_small_projection(d, size):
    """DIR/proj on a tmpfs of `size` (the log elsewhere): (mnt, data), or Skipped."""
    mnt = os.path.join(d, "small")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", mnt], capture_output=True).returncode:
        raise Skipped("cannot mount a small tmpfs here (needs root)")
    data = os.path.join(d, "data")
    os.mkdir(data, 0o750)
    os.mkdir(os.path.join(mnt, "proj"), 0o750)
    os.symlink(os.path.join(mnt, "proj"), os.path.join(data, "proj"))
    return mnt, data

def submit_until_refused(c, per):
    """Submit extensions `per` at a time until a submit is refused: (the refusal, how many were accepted)."""
    n = 0
    while n < 40000:
        r = c.call("submit", cmds=[ext(n + k) for k in range(per)])
        if "error" in r:
            return r, n
        n += per
    return None, n

@case
def test_a_full_disk_hit_by_the_projection_makes_tmsd_read_only_not_dead(d):
    """Issue 8, item 3: the projection on a small file system (the log
    elsewhere), filled by submits: lookups go on, status and metrics say
    read-only, writes are refused with E_NOSPACE; when space is back the
    missed group is written and writes resume; tmsd stops with exit 0."""
    mnt, data = mount_small_projection(d, "512k")
    try:
        metrics = "127.0.0.1:%d" % free_port()
        p, data = start(d, "--metrics", metrics)
        c = mp.Conn(os.path.join(data, "tmsd.sock"))
        c.call("submit", cmds=[TENANT])
        full, n = submit_until_refused(c, 400)
        assert full and full["error"] == "E_NOSPACE", full
        st = c.call("status")
        assert st["read_only"] and "read-only" in st["read_only"], st
        assert "tmsd_read_only 1" in http_get(metrics, "/metrics")
        ready = http_get(metrics, "/readyz")   # issue 19, item 9: not ready while read-only, said why
        assert ready.startswith("HTTP/1.1 503") and '"error":"E_FAILED"' in ready and "read-only" in ready, ready
        assert c.call("check", q=[["acme", "admin", "admin", "reports.view"]])["allow"] == [True]
        assert c.call("show", tenant="acme", kind="extension", id="x0")["found"]
        r = c.call("submit", cmds=[ext(90000)])
        assert r.get("error") == "E_NOSPACE", r                          # still full: refused
        assert p.poll() is None                                        # and alive
        subprocess.run(["mount", "-o", "remount,size=64m", mnt], check=True)   # space is back
        r = c.call("submit", cmds=[ext(90001)])
        assert r["results"][0]["verdict"] == "accepted", r
        assert c.call("status")["read_only"] is False
        assert http_get(metrics, "/readyz").startswith("HTTP/1.1 200"), http_get(metrics, "/readyz")
        # the group refused for lack of space was durable: its retry returns the first verdicts
        r = c.call("submit", cmds=[ext(n + k) for k in range(400)])
        assert all(x["verdict"] == "accepted" for x in r["results"]), r
        assert c.call("show", tenant="acme", kind="extension", id="x%d" % (n + 399))["found"]
        c.close()
        assert stop(p) == 0
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)

@case
def test_a_full_disk_under_the_written_through_map_is_an_error_not_a_signal(d):
    """Issue 22, item 3: the projection is written through a writable map
    (MDB_WRITEMAP) once its whole map is allocated on disk; a page stored
    into a hole of a full file system would be a SIGBUS. Here the map
    (1 MiB, --map-bytes) fits the 3 MiB file system, so it is written
    through; growing it twice does not fit: E_NOSPACE and read-only, alive,
    and writes resume when space is back."""
    mnt, data = mount_small_projection(d, "3m")
    try:
        p, data = start(d, "--map-bytes", str(1 << 20))
        c = mp.Conn(os.path.join(data, "tmsd.sock"))
        c.call("submit", cmds=[TENANT])
        mdb = os.path.join(mnt, "proj", "data.mdb")
        st = os.stat(mdb)
        assert st.st_size == 1 << 20 and st.st_blocks * 512 >= 1 << 20, (st.st_size, st.st_blocks)   # allocated
        full, n = submit_until_refused(c, 200)
        assert full and full["error"] == "E_NOSPACE", full
        assert p.poll() is None, p.returncode                          # no SIGBUS
        assert os.stat(mdb).st_size == 2 << 20, os.stat(mdb).st_size   # grown once, not into a hole
        assert c.call("status")["read_only"]
        assert c.call("check", q=[["acme", "admin", "admin", "reports.view"]])["allow"] == [True]
        subprocess.run(["mount", "-o", "remount,size=64m", mnt], check=True)   # space is back
        r = c.call("submit", cmds=[ext(n + k) for k in range(200)])
        assert all(x["verdict"] == "accepted" for x in r["results"]), r
        assert c.call("show", tenant="acme", kind="extension", id="x%d" % (n + 199))["found"]
        c.close()
        assert stop(p) == 0
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)

@case
def test_a_projection_on_a_file_system_smaller_than_its_map_is_written_page_by_page(d):
    """Issue 22, item 3, from a review: where the whole map (256 MiB) cannot
    be allocated (a 64 MiB ext4), the projection is written page by page as
    before and the attempt leaves the file system as it found it (a failed
    posix_fallocate on ext4 keeps the blocks it took: the disk was left
    full and every write after failed)."""
    img, mnt = os.path.join(d, "fs.img"), os.path.join(d, "mnt")
    os.mkdir(mnt)
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    if subprocess.run(["mkfs.ext4", "-q", "-F", img], capture_output=True).returncode or \
            subprocess.run(["mount", "-o", "loop", img, mnt], capture_output=True).returncode:
        raise Skipped("cannot make and mount a small ext4 here (needs root and mkfs.ext4)")
    try:
        st = os.statvfs(mnt)
        free0 = st.f_bavail * st.f_frsize
        data = os.path.join(mnt, "data")
        cmds = "".join(json.dumps(c) + "\n" for c in [TENANT] + [ext(i) for i in range(5)])
        r = subprocess.run([TMSCTL, "--data", data, "submit"], input=cmds, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout.count('"accepted"') == 6, (r.returncode, r.stdout, r.stderr)
        mdb = os.stat(os.path.join(data, "proj", "data.mdb"))
        assert mdb.st_blocks * 512 < 8 << 20, mdb.st_blocks          # its pages, not a map's worth
        st = os.statvfs(mnt)
        assert st.f_bavail * st.f_frsize > free0 - (16 << 20), (free0, st.f_bavail * st.f_frsize)
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)

@case
def test_an_idle_tmsd_sleeps(d):
    """Issue 22: an idle tmsd with HTTP and metrics listeners is not woken
    by timers (the HTTP tick ran every 5 ms whether or not a request
    waited: ~200 wakeups a second). Counted as the context switches of all
    its threads over two idle seconds, after one request of each kind."""
    metrics, api = "127.0.0.1:%d" % free_port(), "127.0.0.1:%d" % free_port()
    p, data = start(d, "--metrics", metrics, "--http", api)
    c = mp.Conn(os.path.join(data, "tmsd.sock"))
    c.call("submit", cmds=[TENANT])
    assert http_get(metrics, "/metrics").startswith("HTTP/1.1 200")
    assert http_get(api, "/healthz").startswith("HTTP/1.1 200")
    def switches():
        n = 0
        for t in os.listdir("/proc/%d/task" % p.pid):
            with open("/proc/%d/task/%s/status" % (p.pid, t)) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        n += int(line.split()[1])
        return n
    time.sleep(0.5)
    before = switches()
    time.sleep(2)
    woken = switches() - before
    assert woken < 60, woken   # the snapshot and checkpoint ticks, the reaper: a few a second at most
    c.close()
    assert stop(p) == 0

@case
def test_unauthenticated_tcp_clients_cannot_exhaust_tmsd(d):
    """Issue 8, item 4: TCP connections have their own limit (the Unix
    socket stays open to the front end), frames before the token are small,
    a TCP client must say hello in time, a byte now and then is not activity,
    and the input buffered for all connections together is bounded."""
    port = free_port()
    tok = os.path.join(d, "token")
    with open(tok, "w") as f:
        f.write("s3cret-token-0123456789\n")
    p, data = start(d, "--listen", "127.0.0.1:%d" % port, "--token-file", tok, "--max-tcp-connections", "8",
                    "--max-connections", "8", "--hello-timeout", "0.5", "--idle-timeout", "1",
                    "--max-buffered-bytes", "1048576")
    sock = os.path.join(data, "tmsd.sock")

    def conn_from(src):   # a client at its own loopback address: one peer holds a quarter of the slots
        c = mp.Conn.__new__(mp.Conn)
        c.s, c.buf, c.req = socket.socket(), b"", 0
        c.s.settimeout(10)
        c.s.bind((src, 0))
        c.s.connect(("127.0.0.1", port))
        return c
    crowd = [conn_from("127.0.0.%d" % (11 + i)).s for i in range(8)]
    extra = conn_from("127.0.0.19")
    r = extra.read()
    assert r.get("error") == "E_BUSY", r                       # the ninth TCP client is refused...
    u = mp.Conn(sock)
    assert u.call("submit", cmds=[TENANT])["results"][0]["verdict"] == "accepted"   # ...the front end is not
    time.sleep(0.9)                                            # no hello within 0.5 s: the crowd is gone
    for s in crowd:
        s.settimeout(2)
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:
            pass
        s.close()
    big = conn_from("127.0.0.21")
    assert big.call("hello", version=1)["rights"] == ["lookup"]
    big.send_raw(struct.pack(">I", 1 << 20) + b"\x80")         # announces 1 MiB without the token
    r = big.read()
    assert r.get("error") == "E_TOOBIG", r
    ok = conn_from("127.0.0.22")
    assert ok.call("hello", version=1, token="s3cret-token-0123456789")["rights"] == ["lookup", "submit", "admin"]
    r = ok.call("check", q=[["acme", "admin", "admin", "reports.view"]] * 3000)   # > 64 KiB: fine with the token
    assert r["allow"] == [True] * 3000, r
    slow = conn_from("127.0.0.23")
    assert slow.call("hello", version=1)["rights"] == ["lookup"]
    slow.send_raw(struct.pack(">I", 100))
    t0, closed = time.time(), False
    while time.time() - t0 < 4:                                # one byte every 0.2 s: never a whole frame
        try:
            slow.send_raw(b"\x00")
        except OSError:
            closed = True
            break
        time.sleep(0.2)
    assert closed and time.time() - t0 < 3, time.time() - t0
    hogs = [mp.Conn(sock) for _ in range(4)]                   # trusted, but bounded together
    refused = 0
    for h in hogs:
        try:
            h.send_raw(struct.pack(">I", 4 << 20) + b"\x00" * (600 << 10))
            r = h.read()
            refused += r is None or r.get("error") == "E_BUSY"
        except OSError:
            refused += 1
    assert refused >= 1, refused
    u.close()
    u = mp.Conn(sock)                                          # (the first one idled out meanwhile)
    assert u.call("check", q=[["acme", "admin", "admin", "reports.view"]])["allow"] == [True]
    for c in [extra, u, big, ok, slow] + hogs:
        c.close()
    assert stop(p) == 0

@case
def test_principals_scope_rights_and_tenants_and_are_recorded(d):
    """Issue 8, item 10: a credential (the Unix peer's uid, a token) maps to
    a principal with rights and tenants; a PBX node's credential for acme
    cannot read globex; the principal and the peer are in every record,
    beside the claimed actor; a listener other machines reach needs
    credentials."""
    port = free_port()
    toks = {}
    for name in ("ops", "pbx-acme"):
        toks[name] = os.path.join(d, name + ".token")
        with open(toks[name], "w") as f:
            f.write("%s-token-0123456789\n" % name)
    pfile = os.path.join(d, "principals.json")
    with open(pfile, "w") as f:
        json.dump({"principals": [
            {"name": "frontend", "uid": os.getuid(), "rights": ["lookup", "submit"], "tenants": ["acme"]},
            {"name": "ops", "token_file": toks["ops"], "rights": ["lookup", "submit", "admin"], "tenants": ["*"]},
            {"name": "pbx-acme", "token_file": toks["pbx-acme"], "rights": ["lookup"], "tenants": ["acme"]}]}, f)
    p, data = start(d, "--listen", "127.0.0.1:%d" % port, "--principals", pfile, "--hello-timeout", "1.5")
    ops = mp.Conn(("127.0.0.1", port))
    h = ops.call("hello", version=1, token="ops-token-0123456789")
    assert h["principal"] == "ops" and h["rights"] == ["lookup", "submit", "admin"], h
    r = ops.call("submit", cmds=[TENANT, dict(TENANT, tenant="globex")])
    assert [x["verdict"] for x in r["results"]] == ["accepted", "accepted"], r
    front = mp.Conn(os.path.join(data, "tmsd.sock"))          # the front end: by its uid
    assert front.call("hello", version=1)["principal"] == "frontend"
    r = front.call("submit", cmds=[ext(1), dict(ext(2), tenant="globex"), dict(TENANT, tenant="initech")])
    res = r["results"]
    assert res[0]["verdict"] == "accepted", res
    assert res[1]["error"] == "E_DENIED" and res[1]["seq"] is None and "tenant globex" in res[1]["message"], res
    assert res[2]["error"] == "E_DENIED" and "admin" in res[2]["message"], res
    pbx = mp.Conn(("127.0.0.1", port))
    assert pbx.call("hello", version=1, token="pbx-acme-token-0123456789")["rights"] == ["lookup"]
    assert pbx.call("check", q=[["acme", "admin", "admin", "reports.view"]])["allow"] == [True]
    assert pbx.call("check", q=[["globex", "admin", "admin", "reports.view"]]).get("error") == "E_DENIED"
    assert pbx.call("show", tenant="globex", kind="extension", id="x1").get("error") == "E_DENIED"
    assert pbx.call("submit", cmds=[ext(3)]).get("error") == "E_DENIED"
    # watch: a principal of some tenants names one of them; it sees that tenant's records only
    assert pbx.call("watch", **{"from": 1}).get("error") == "E_DENIED"
    assert pbx.call("watch", tenant="globex").get("error") == "E_DENIED"
    w = pbx.call("watch", tenant="acme", **{"from": 1, "until": 3})
    assert w == {"req": w["req"], "seq": 1}, w
    assert [json.loads(pbx.read()["line"])["seq"] for _ in range(2)] == [1, 3] and pbx.read()["end"] is True
    stranger = mp.Conn(("127.0.0.1", port))                    # TCP without a token: nothing
    assert stranger.call("hello", version=1)["rights"] == []
    assert stranger.call("check", q=[["acme", "admin", "admin", "reports.view"]]).get("error") == "E_DENIED"
    time.sleep(2)                                               # a hello that granted nothing: still closed in time
    try:
        assert stranger.call("hello", version=1) is None
    except OSError:
        pass
    for c in (ops, front, pbx, stranger):
        c.close()
    assert stop(p) == 0
    audit = os.path.join(BIN, "tms-audit")
    e = subprocess.run([audit, "export", "--data", data], capture_output=True, text=True, timeout=60)
    by = [json.loads(x)["by"] for x in e.stdout.splitlines()]
    assert len(by) == 3, e.stdout                               # the refused ones never reached the log
    assert by[0]["principal"] == by[1]["principal"] == "ops" and by[0]["peer"].startswith("127.0.0.1:"), by
    assert by[2] == {"principal": "frontend", "peer": "uid:%d" % os.getuid()}, by
    r = subprocess.run([TMSD, "--data", os.path.join(d, "other"), "--listen", "0.0.0.0:%d" % free_port()],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "credentials" in r.stderr, (r.returncode, r.stderr)

@case
def test_crash_kill_9_never_loses_an_acknowledged_command(d):
    random.seed(1234)
    acked, next_id = set(), 0
    for rnd in range(CRASH_ROUNDS):
        p, data = start(d)
        c = mp.Conn(os.path.join(data, "tmsd.sock"))
        if rnd == 0:
            c.call("submit", cmds=[TENANT])
        stop_at = time.time() + random.uniform(0.05, 0.4)
        killer = threading.Timer(stop_at - time.time(), lambda: p.send_signal(signal.SIGKILL))
        killer.start()
        try:
          try:
            while True:
                batch = [ext(next_id + k) for k in range(random.choice([1, 1, 5, 40]))]
                next_id += len(batch)
                r = c.call("submit", cmds=batch)
                if r is None:
                    break
                assert "results" in r, r
                for cmd, res in zip(batch, r["results"]):
                    assert res["verdict"] == "accepted", res
                    acked.add(cmd["id"])
          except (OSError, ConnectionError):
            pass
        finally:
            killer.join()
            p.kill()
            p.wait()
            c.close()
    # restart embedded: recovery replays what the projection missed
    rc, out, err = ctl("--data", data, "submit", stdin=b"")
    assert rc == 0, (rc, err)
    # every acknowledged command, asked of a fresh tmsd over one connection
    # (a tmsctl process per command would cost minutes at today's throughput)
    p, data = start(d)
    c = mp.Conn(os.path.join(data, "tmsd.sock"))
    missing = [i for i in sorted(acked)
               if not c.call("show", tenant="acme", kind="extension", id=i).get("found")]
    c.close()
    assert stop(p) == 0
    assert not missing, "acknowledged but lost: %s" % missing[:10]
    assert ctl("--data", data, "show", "acme", "extension", sorted(acked)[0])[0] == 0   # embedded too
    assert len(acked) > CRASH_ROUNDS, len(acked)
    print("  crash test: %d rounds, %d acknowledged commands, none lost" % (CRASH_ROUNDS, len(acked)))

@case
def test_conformance_scenarios_through_connect(d):
    if not RUNNER or not os.path.exists(RUNNER):
        raise Skipped("no conformance runner given (ctest gives it when ../shared is there)")
    wrap = os.path.join(d, "bin")
    os.mkdir(wrap)
    script = os.path.join(wrap, "tmsctl")
    with open(script, "w") as f:
        f.write('''#!/usr/bin/env python3
import os, subprocess, sys, time
args = sys.argv[1:]
data = args[1]
sock = os.path.join(data, "tmsd.sock")
if not os.path.exists(sock):
    subprocess.Popen([%r, "--data", data, "--idle-exit", "2"], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(500):
        if os.path.exists(sock): break
        time.sleep(0.01)
os.execv(%r, [%r, "--connect", sock] + args[2:])
''' % (TMSD, TMSCTL, TMSCTL))
    os.chmod(script, 0o755)
    for tool in ("tms-history", "tms-audit", "tms-restore"):
        if os.path.exists(os.path.join(BIN, tool)):
            os.symlink(os.path.join(BIN, tool), os.path.join(wrap, tool))
    r = subprocess.run([sys.executable, RUNNER, wrap], capture_output=True, text=True, timeout=600)
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    assert r.returncode == 0 and last.endswith(" 0 failed"), r.stdout[-1500:]
    print("  conformance through tmsd: " + last)

print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed or not passed else 0)
