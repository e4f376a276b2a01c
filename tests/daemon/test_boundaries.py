#!/usr/bin/env python3
"""test_boundaries.py -- tmsd's trust boundaries, second pass (issue 19,
items 3, 4, 5 and 7), as an attacker and an operator meet them. Loopback
only; every wait is bounded.

- Revocation reaches every open session (item 3): a principal removed from
  --principals, then SIGHUP: its socket watch gets an E_DENIED frame and the
  connection closes, its HTTP watch a last {"error":"E_DENIED"} line and the
  connection closes, its idle connection closes; another principal's watch
  goes on. A token rotated in its token_file: a connection that showed the
  old one loses its rights and closes (re-resolution is by the credential,
  not the principal's name); the old token names nobody, the new one does.
- Before credentials are known an HTTP request may send at most 64 KiB
  (item 4): a 4 MiB Content-Length without a token, with a forged token or
  chunked is answered 413 without reading the rest; 56 such uploads do not
  grow tmsd by more than a few MiB; a token-bearing body of 300 KiB is
  served. HTTP input counts in --max-buffered-bytes with the socket's: big
  bodies over it are answered 503, a socket frame that would pass it gets
  E_BUSY, small requests are still served.
- One peer cannot take every HTTP slot (item 5): of a listener's 8
  connections, one address gets 2; another address is still served.
- Every failed authentication and every refusal is logged with peer= and
  the op or route, never the token (item 7).

usage: test_boundaries.py BIN_DIR"""
import http.client, json, os, select, signal, socket, subprocess, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from checks import check, finish, free_port, run_cases, wait_tcp  # noqa: E402
import mp  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
TMSD, TMSCTL = os.path.join(BIN, "tmsd"), os.path.join(BIN, "tmsctl")
TOKEN = "the-real-token-0123456789"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def setup(data):
    cmds = [{"cmd": "CreateTenant", "tenant": t, "actor": "system", "admin": "admin"} for t in ("acme", "beta")]
    r = subprocess.run([TMSCTL, "--data", data, "submit"], input="".join(json.dumps(c) + "\n" for c in cmds),
                       capture_output=True, text=True, timeout=60)
    check("setup", r.returncode == 0, r.stderr)


def start(d, data, *extra):
    """tmsd on data with extra options; waits for its socket (and --http/--listen ports)."""
    log = open(os.path.join(d, "tmsd.log"), "ab")
    p = subprocess.Popen([TMSD, "--data", data] + list(extra), stdout=log, stderr=log)
    for i, a in enumerate(extra):
        if a in ("--http", "--listen"):
            wait_tcp(int(extra[i + 1].rsplit(":", 1)[1]), p, "tmsd")
    for _ in range(500):
        if os.path.exists(os.path.join(data, "tmsd.sock")):
            break
        time.sleep(0.01)
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    return p.wait()


def log_of(d):
    return open(os.path.join(d, "tmsd.log")).read()


def wait_log(d, text, timeout=5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if text in log_of(d):
            return True
        time.sleep(0.02)
    return False


def read(conn, timeout=3):
    """The next frame of an mp.Conn, None when closed, "timeout" when nothing came."""
    conn.s.settimeout(timeout)
    try:
        return conn.read()
    except socket.timeout:
        return "timeout"
    except OSError:
        return None


def call(conn, op, timeout=3, **fields):
    try:
        conn.s.settimeout(timeout)
        return conn.call(op, **fields)
    except socket.timeout:
        return "timeout"
    except OSError:
        return None


def line_of(conn, resp, timeout=3):
    """The next non-empty line of a streamed HTTP answer (b"" at its end, "timeout")."""
    if conn.sock:
        conn.sock.settimeout(timeout)
    try:
        while True:
            ln = resp.readline()
            if ln != b"\n":
                return ln
    except socket.timeout:
        return "timeout"
    except (OSError, http.client.HTTPException):
        return b""


def closed_by_server(s, timeout=3):
    """True when the server closed s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def settle(port, src):
    """Wait (3 s at most) until the only HTTP connection is the one asking (from src): the probes are gone."""
    for _ in range(150):
        st, body = get(port, "/v1/status", src=src)
        if st == 200 and json.loads(body)["http_connections"] == 1:
            return
        time.sleep(0.02)


def get(port, path, token=None, src="127.0.0.1", method="GET", body=None):
    """(status, body) of one request from source address src; (None, why) when refused."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(src, 0))
    try:
        c.request(method, path, body=body, headers={"Authorization": "Bearer " + token} if token else {})
        r = c.getresponse()
        return r.status, r.read().decode()
    except (OSError, http.client.HTTPException) as e:
        return None, repr(e)
    finally:
        c.close()


# ---- item 3: revocation ------------------------------------------------------------------------

def principals(d, entries):
    for e in entries:
        if "token" in e:
            write(os.path.join(d, e["name"] + ".token"), e.pop("token") + "\n")
            e["token_file"] = os.path.join(d, e["name"] + ".token")
    write(os.path.join(d, "principals.json"), json.dumps({"principals": entries}))
    return os.path.join(d, "principals.json")


def ext(i):
    return json.dumps({"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": str(i)})


def test_revoked_watches(d):
    data, lport, hport = os.path.join(d, "data"), free_port(), free_port()
    setup(data)
    W, O = "watcher-token-0123456789", "other-token-0123456789"
    admin = {"name": "admin", "uid": os.getuid(), "rights": ["lookup", "submit", "admin"], "tenants": ["*"]}
    pf = principals(d, [dict(admin), {"name": "watcher", "token": W, "rights": ["lookup"], "tenants": ["acme"]},
                        {"name": "other", "token": O, "rights": ["lookup"], "tenants": ["*"]}])
    p = start(d, data, "--listen", "127.0.0.1:%d" % lport, "--http", "127.0.0.1:%d" % hport, "--principals", pf)
    try:
        sw, idle, ow = (mp.Conn(("127.0.0.1", lport)) for _ in range(3))
        check("the watcher's hello", call(sw, "hello", version=1, token=W).get("principal") == "watcher")
        call(idle, "hello", version=1, token=W)
        call(ow, "hello", version=1, token=O)
        sw.send_raw(mp.frame({"op": "watch", "req": 7, "tenant": "acme"}))
        ow.send_raw(mp.frame({"op": "watch", "req": 8, "tenant": "acme"}))
        first = (read(sw), read(ow))
        hw = http.client.HTTPConnection("127.0.0.1", hport, timeout=10)
        hw.request("GET", "/v1/watch?tenant=acme", headers={"Authorization": "Bearer " + W})
        hr = hw.getresponse()
        check("three watches start", first[0].get("seq") and first[1].get("seq") and hr.status == 200,
              (first, hr.status))
        u = mp.Conn(os.path.join(data, "tmsd.sock"))
        call(u, "submit", cmds=[ext(5001)])
        got = (read(sw), read(ow), line_of(hw, hr))
        check("... and stream a record", "5001" in str(got[0]) and "5001" in str(got[1]) and b"5001" in got[2], got)
        write(pf, json.dumps({"principals": [dict(admin), {"name": "other", "token_file": os.path.join(d, "other.token"),
                                                           "rights": ["lookup"], "tenants": ["*"]}]}))
        p.send_signal(signal.SIGHUP)
        end = read(sw)
        check("the removed principal's socket watch ends: E_DENIED naming its req",
              isinstance(end, dict) and end.get("req") == 7 and end.get("error") == "E_DENIED" and
              "revoked" in end.get("message", ""), end)
        check("... then its connection closes", read(sw) is None)
        check("its idle connection closes too", closed_by_server(idle.s))
        last = line_of(hw, hr)
        check("its HTTP watch: a last line E_DENIED", isinstance(last, bytes) and last and
              json.loads(last).get("error") == "E_DENIED", last)
        check("... then the stream ends and the connection closes", line_of(hw, hr) == b"" and closed_by_server(hw.sock))
        call(u, "submit", cmds=[ext(5002)])
        check("another principal's watch goes on", "5002" in str(read(ow)))
        check("logged: the revocation, with the principal and the peer",
              'msg="credentials revoked: connection closed" principal="watcher" peer="127.0.0.1:' in log_of(d))
        st, body = get(hport, "/v1/watch?tenant=acme&from=1&until=1", token=W)
        check("the removed principal's token: 401", st == 401, (st, body))
        for c in (sw, idle, ow, u):
            c.close()
        hw.close()
    finally:
        check("tmsd exits 0", stop(p) == 0, log_of(d)[-800:])


def test_rotated_token(d):
    """A token rotated in its file: re-resolution by the credential shown."""
    data, lport, hport = os.path.join(d, "data"), free_port(), free_port()
    setup(data)
    OLD, NEW, FORGED = "pbx-token-old-0123456789", "pbx-token-new-0123456789", "forged-token-0123456789"
    pf = principals(d, [{"name": "pbx", "token": OLD, "rights": ["lookup", "submit"], "tenants": ["acme"]}])
    p = start(d, data, "--listen", "127.0.0.1:%d" % lport, "--http", "127.0.0.1:%d" % hport, "--principals", pf)
    q = [["acme", "admin", "admin", "reports.view"]]
    try:
        c1 = mp.Conn(("127.0.0.1", lport))
        check("hello with the token", call(c1, "hello", version=1, token=OLD).get("principal") == "pbx")
        check("... a lookup", call(c1, "check", q=q).get("allow") == [True])
        hw = http.client.HTTPConnection("127.0.0.1", hport, timeout=10)   # one keep-alive session
        hw.request("GET", "/v1/check?tenant=acme&kind=admin&id=admin&name=reports.view",
                   headers={"Authorization": "Bearer " + OLD})
        r = hw.getresponse()
        r.read()
        check("HTTP keep-alive with the token: 200", r.status == 200)
        write(os.path.join(d, "pbx.token"), NEW + "\n")
        p.send_signal(signal.SIGHUP)
        check("reloaded", wait_log(d, "credentials reloaded"))
        r1 = call(c1, "check", q=q)
        check("the connection that showed the rotated-out token lost its rights: closed", r1 is None, r1)
        hw.request("GET", "/v1/check?tenant=acme&kind=admin&id=admin&name=reports.view",
                   headers={"Authorization": "Bearer " + OLD})
        r = hw.getresponse()
        r.read()
        check("the same HTTP keep-alive session with the old token: 401", r.status == 401, r.status)
        hw.close()
        c2, c3, c4 = (mp.Conn(("127.0.0.1", lport)) for _ in range(3))
        h2 = call(c2, "hello", version=1, token=OLD)
        check("a new hello with the old token: nobody, no rights", h2.get("principal") == "anonymous" and
              h2.get("rights") == [], h2)
        check("... with a forged one: the same", call(c3, "hello", version=1, token=FORGED).get("rights") == [])
        check("... with the new one: pbx", call(c4, "hello", version=1, token=NEW).get("principal") == "pbx")
        check("... which looks up", call(c4, "check", q=q).get("allow") == [True])
        for c in (c1, c2, c3, c4):
            c.close()
    finally:
        check("tmsd exits 0", stop(p) == 0, log_of(d)[-800:])
    text = log_of(d)
    fails = [ln for ln in text.splitlines() if 'msg="authentication failed"' in ln and "op=hello" in ln]
    check("both failed hellos logged, with the peer", len(fails) == 2 and
          all('peer="127.0.0.1:' in ln and "over=socket" in ln for ln in fails), fails)
    check("... never the token", OLD not in text and NEW not in text and FORGED not in text)
    check("the revocation is logged as a token's", 'principal="pbx"' in text and "credential=token" in text)


# ---- item 4: bodies before credentials, the shared budget -----------------------------------------

def upload(socks, heads, amount, deadline=6):
    """Send each socket its head then `amount` body bytes (or chunks), concurrently and
    without blocking; stop on a socket the server closed or stopped reading. Returns the
    bytes each sent."""
    sent = [0] * len(socks)
    for s, h in zip(socks, heads):
        s.sendall(h)
        s.setblocking(False)
    piece, end = b"x" * 65536, time.monotonic() + deadline
    live = set(range(len(socks)))
    while live and time.monotonic() < end:
        _, w, _ = select.select([], [socks[i] for i in live], [], 0.2)
        if not w:
            break   # nobody takes more: the server stopped reading
        for s in w:
            i = socks.index(s)
            try:
                sent[i] += s.send(piece[:min(len(piece), amount - sent[i])])
            except OSError:
                live.discard(i)
                continue
            if sent[i] >= amount:
                live.discard(i)
    for s in socks:
        s.setblocking(True)
    return sent


def answer(s, timeout=3):
    """What the server sent on s until it closed or timeout passed."""
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except OSError:
        pass
    return out.decode(errors="replace")


def head(path, extra="", length=4 << 20, chunked=False):
    te = "Transfer-Encoding: chunked\r\n" if chunked else "Content-Length: %d\r\n" % length
    return ("POST %s HTTP/1.1\r\nHost: t\r\n%s%s\r\n" % (path, te, extra)).encode()


def rss_kb(pid):
    for ln in open("/proc/%d/status" % pid):
        if ln.startswith("VmRSS:"):
            return int(ln.split()[1])
    return 0


def test_preauth_bodies(d):
    data, port = os.path.join(d, "data"), free_port()
    setup(data)
    write(os.path.join(d, "token"), TOKEN + "\n")
    p = start(d, data, "--http", "127.0.0.1:%d" % port, "--token-file", os.path.join(d, "token"))
    try:
        cases = [("no token", head("/v1/submit"), False),
                 ("a forged token", head("/v1/submit", "Authorization: Bearer forged-token-0123456789\r\n"), False),
                 ("not a bearer token", head("/v1/submit", "Authorization: Basic Zm9vOmJhcg==\r\n"), False),
                 ("chunked, no token", head("/v1/check", chunked=True), True)]
        for what, h, chunked in cases:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            t0 = time.monotonic()
            sent = upload([s], [h], 256 << 10)[0] if not chunked else None
            if chunked:   # 4 chunks of 64 KiB
                s.sendall(h)
                try:
                    for _ in range(4):
                        s.sendall(b"10000\r\n" + b"x" * 65536 + b"\r\n")
                except OSError:
                    pass
                sent = "chunked"
            a = answer(s)
            s.close()
            check("4 MiB announced, %s: 413 at once, the rest never read" % what,
                  a.startswith("HTTP/1.1 413") and "www-authenticate: bearer" in a.lower() and
                  time.monotonic() - t0 < 5, (sent, a[:300]))
        checks = [["acme", "extension", "e%05d" % i, "calls.international"] for i in range(4000)]
        big = json.dumps({"checks": [dict(zip(("tenant", "kind", "id", "name"), c)) for c in checks]})
        st, body = get(port, "/v1/check", token=TOKEN, method="POST", body=big)
        check("with the token a %d KiB body is served" % (len(big) >> 10),
              st == 200 and len(json.loads(body)["allow"]) == 4000, (st, body[:200]))
        st, body = get(port, "/v1/check", method="POST", body=big)
        check("... without it: 413", st == 413, (st, body[:200]))
        # with the token, a body over the 4 MiB limit, built in memory (no such file in the repository): 413
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        over = (4 << 20) + 1
        sent = upload([s], [head("/v1/submit", "Authorization: Bearer %s\r\n" % TOKEN, length=over)], over)[0]
        a = answer(s)
        s.close()
        check("with the token, a body of 4 MiB + 1 byte: 413", a.startswith("HTTP/1.1 413"), (sent, a[:300]))
        st, body = get(port, "/v1/check", method="POST", body=json.dumps({"checks": [dict(zip(
            ("tenant", "kind", "id", "name"), checks[0]))]}))
        check("a small anonymous batch is still served", st == 200, (st, body))
        # 56 unauthenticated uploads at once (one peer's share is 64): tmsd holds 64 KiB of each at most
        settle(port, "127.0.0.3")
        base = rss_kb(p.pid)
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(56)]
        sent = upload(socks, [head("/v1/submit")] * 56, 2 << 20)
        peak = rss_kb(p.pid)
        for _ in range(20):   # what the kernel buffered reaches tmsd meanwhile
            time.sleep(0.05)
            peak = max(peak, rss_kb(p.pid))
        grew = (peak - base) >> 10
        answers = [answer(s, 2) for s in socks]
        for s in socks:
            s.close()
        check("56 uploads of 4 MiB without credentials (2 MiB sent each): tmsd grew %d MiB (bound: 32)" % grew,
              grew < 32,
              (grew, sent[:5]))
        check("... each answered 413", sum(a.startswith("HTTP/1.1 413") for a in answers) == 56,
              [a[:40] for a in answers[:5]])
        check("tmsd serves on", get(port, "/v1/status")[0] == 200 and p.poll() is None)
    finally:
        check("tmsd exits 0", stop(p) == 0, log_of(d)[-800:])
    refused = [ln for ln in log_of(d).splitlines() if "body over 64 KiB without credentials" in ln]
    check("the refusals are logged with peer and route", refused and all(
        'peer="127.0.0.1:' in ln and 'route="POST /v1/' in ln for ln in refused), refused[:2])


def test_shared_budget(d):
    """--max-buffered-bytes 2 MiB: four token-bearing uploads of 700 KiB cannot all be held."""
    data, port = os.path.join(d, "data"), free_port()
    setup(data)
    write(os.path.join(d, "token"), TOKEN + "\n")
    p = start(d, data, "--http", "127.0.0.1:%d" % port, "--token-file", os.path.join(d, "token"),
              "--max-buffered-bytes", str(2 << 20))
    try:
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4)]
        upload(socks, [head("/v1/submit", "Authorization: Bearer %s\r\n" % TOKEN, 3 << 20)] * 4, 700 << 10)
        st, body = get(port, "/v1/status")
        check("a small request is served while the budget is held", st == 200, (st, body[:200]))
        u = mp.Conn(os.path.join(data, "tmsd.sock"))
        payload = mp.pack({"op": "submit", "req": 1, "cmds": ["x" * (3 << 20)]})
        try:
            u.send_raw(len(payload).to_bytes(4, "big") + payload[:1536 << 10])
        except OSError:
            pass   # refused while it sent
        r = read(u)
        check("a socket frame that would pass the budget HTTP holds: E_BUSY",
              r is None or (isinstance(r, dict) and r.get("error") == "E_BUSY"), r)
        u.close()
        answers = [answer(s, 2) for s in socks]
        busy = sum(a.startswith("HTTP/1.1 503") for a in answers)
        check("uploads over the shared budget: 503", busy >= 1, [a[:60] for a in answers])
        for s in socks:
            s.close()
        time.sleep(0.2)
        u = mp.Conn(os.path.join(data, "tmsd.sock"))
        r = call(u, "status")
        check("once they are gone the socket is served again", isinstance(r, dict) and "last_seq" in r, r)
        u.close()
    finally:
        check("tmsd exits 0", stop(p) == 0, log_of(d)[-800:])
    check("logged", "input buffers over the limit" in log_of(d))


# ---- item 5: one peer, every slot ----------------------------------------------------------------

def test_per_peer(d):
    data, port = os.path.join(d, "data"), free_port()
    setup(data)
    p = start(d, data, "--http", "127.0.0.1:%d" % port, "--max-tcp-connections", "8")
    try:
        settle(port, "127.0.0.3")   # the start-up probe's connection is gone (asked from another peer)
        mine = []
        for _ in range(9):   # more than the listener takes: without a share per peer, every slot
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.connect(("127.0.0.1", port))
            mine.append(s)
        time.sleep(0.3)
        closed = sum(closed_by_server(s, 0.3) for s in mine)
        check("one peer opens 9 (the listener takes 8): 2 kept (a quarter), 7 closed", closed == 7, closed)
        st, body = get(port, "/v1/status", src="127.0.0.2")
        check("another peer is still served", st == 200, (st, body))
        st, body = get(port, "/v1/status")
        check("the first peer's next connection is refused", st is None, (st, body))
        for s in mine:
            s.close()
        time.sleep(0.3)
        check("once it closes them it is served again", get(port, "/v1/status")[0] == 200)
    finally:
        check("tmsd exits 0", stop(p) == 0, log_of(d)[-800:])
    lines = [ln for ln in log_of(d).splitlines() if "too many from one peer" in ln]
    check("logged (a line a second at most) with the peer", lines and 'peer="127.0.0.1"' in lines[0] and
          len(lines) <= 3, lines)


def test_tcp_per_peer(d):
    """The socket protocol's TCP listener (--listen) has the same share: a quarter of --max-tcp-connections per
    peer; the rest are answered E_BUSY and closed; another peer is still served."""
    data, port = os.path.join(d, "data"), free_port()
    setup(data)
    p = start(d, data, "--listen", "127.0.0.1:%d" % port, "--max-tcp-connections", "8")
    try:
        time.sleep(0.3)   # the start-up probe's connection is gone
        mine = []
        for _ in range(5):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.connect(("127.0.0.1", port))
            mine.append(s)
        time.sleep(0.3)
        closed = sum(closed_by_server(s, 0.3) for s in mine)
        check("one peer opens 5 of a listener of 8: 2 kept (a quarter), 3 closed", closed == 3, closed)
        other = socket.socket()
        other.bind(("127.0.0.2", 0))
        other.connect(("127.0.0.1", port))
        check("another peer is still served (its connection stays open)", not closed_by_server(other, 0.5))
        other.close()
        for s in mine:
            s.close()
    finally:
        check("tmsd exits 0", stop(p) == 0, log_of(d)[-800:])
    lines = [ln for ln in log_of(d).splitlines() if "too many from one peer" in ln and "listener=socket" in ln]
    check("logged with the peer", lines and 'peer="127.0.0.1"' in lines[0], lines)


# ---- item 7: failed authentication in the log -------------------------------------------------------

def test_auth_log(d):
    data, lport, hport = os.path.join(d, "data"), free_port(), free_port()
    setup(data)
    write(os.path.join(d, "token"), TOKEN + "\n")
    p = start(d, data, "--listen", "127.0.0.1:%d" % lport, "--http", "127.0.0.1:%d" % hport, "--token-file",
              os.path.join(d, "token"), "--tcp-lookups-need-token")
    q = "/v1/check?tenant=acme&kind=admin&id=admin&name=reports.view"
    try:
        c = mp.Conn(("127.0.0.1", lport))
        call(c, "hello", version=1, token="forged-socket-token-0123")
        check("socket: an anonymous lookup is refused", call(c, "check", q=[["acme", "admin", "admin", "x"]])
              .get("error") == "E_DENIED")
        c.close()
        results = [get(hport, "/v1/submit", token="forged-http-token-0123", method="POST", body="{}\n")[0],
                   get(hport, q)[0], get(hport, "/v1/submit", method="POST", body="{}\n")[0]]
        hc = http.client.HTTPConnection("127.0.0.1", hport, timeout=10)
        hc.request("GET", q, headers={"Authorization": "Basic Zm9vOmJhcg=="})
        results.append(hc.getresponse().status)
        hc.close()
        check("HTTP: refused (401)", results == [401, 401, 401, 401], results)
    finally:
        check("tmsd exits 0", stop(p) == 0, log_of(d)[-800:])
    lines = log_of(d).splitlines()

    def has(*parts):
        return any(all(x in ln for x in parts) for ln in lines)
    check("a hello with an unknown token", has('msg="authentication failed"', 'reason="unknown token"',
                                                'peer="127.0.0.1:', "over=socket op=hello"))
    check("an unknown bearer token", has('msg="authentication failed"', 'reason="unknown token"', 'peer="127.0.0.1:',
                                         'over=http route="POST /v1/submit"'))
    check("not a bearer token", has('msg="authentication failed"', 'reason="not a bearer token"',
                                    'over=http route="GET /v1/check"'))
    check("an anonymous socket lookup", has('msg="lookup refused" code=E_DENIED principal="anonymous"',
                                            'peer="127.0.0.1:', 'over=socket op="check"'))
    check("an anonymous HTTP lookup", has('msg="lookup refused" code=E_DENIED principal="anonymous"',
                                          'peer="127.0.0.1:', 'over=http route="GET /v1/check"'))
    check("an anonymous HTTP submit", has('msg="submit refused" code=E_DENIED principal="anonymous"',
                                          'peer="127.0.0.1:', 'over=http route="POST /v1/submit"'))
    text = "\n".join(lines)
    check("no token is ever logged", "forged-socket-token" not in text and "forged-http-token" not in text and
          TOKEN not in text and "Zm9vOmJhcg" not in text)


def main():
    run_cases(*[globals()[n] for n in os.environ.get("ONLY", "").split(",") if n] or (test_revoked_watches, test_rotated_token, test_preauth_bodies, test_shared_budget, test_per_peer,
              test_tcp_per_peer, test_auth_log), prefix="tms-bound-")
    finish()


if __name__ == "__main__":
    main()
