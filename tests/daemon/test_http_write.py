#!/usr/bin/env python3
"""test_http_write.py -- tmsd's HTTP routes that write or stream, its
credentials and the metrics listener (SPEC section 9, issue 11):

- POST /v1/submit: needs a bearer token (401 without one or with an unknown
  one, 403 with a lookup-only one); JSON Lines and a JSON array give the
  verdicts `tmsctl submit` prints for the same commands on a copy of the log
  (compared line by line, malformed commands included); records say who sent
  them; curl sends the same;
- principals (--principals): a tenant-limited one gets 403 on another
  tenant's lookups and E_DENIED verdicts for its commands;
  --tcp-lookups-need-token makes anonymous lookups 401;
- GET /v1/watch: a chunked stream equal to `tmsctl watch` (embedded) for a
  range, live records arrive, a tenant filter, a client that goes away, and
  SIGTERM ends the stream with a line naming the seq to resume from;
- --metrics HOST:PORT answers GET /metrics only (404 elsewhere, 405 for
  another method) and no longer answers any path.

usage: test_http_write.py BIN_DIR"""
import http.client, json, os, shutil, signal, socket, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, finish, free_port, run_cases, wait_tcp  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
TMSD, TMSCTL = os.path.join(BIN, "tmsd"), os.path.join(BIN, "tmsctl")
TOKEN = "s3cret-http-token-0123456789"




def ctl(*args, stdin=None):
    r = subprocess.run([TMSCTL] + list(args), input=stdin, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def start(d, data, *extra):
    """tmsd with --http on a free port; returns (process, port)."""
    port = free_port()
    log = open(os.path.join(d, "tmsd.log"), "ab")
    p = subprocess.Popen([TMSD, "--data", data, "--http", "127.0.0.1:%d" % port] + list(extra), stdout=log, stderr=log)
    try:
        wait_tcp(port, p, "tmsd")
    except AssertionError as e:
        raise AssertionError("%s: %s" % (e, open(os.path.join(d, "tmsd.log")).read()[-500:]))
    return p, port


def request(port, method, path, body=None, token=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    out = r.status, r.read().decode(), r
    c.close()
    return out


def cmd(name, **f):
    o = {"cmd": name, "tenant": "acme", "actor": "admin"}
    o.update(f)
    return o


SETUP = [{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"},
         {"cmd": "CreateTenant", "tenant": "beta", "actor": "system", "admin": "badmin"},
         cmd("CreateExtension", id="1001")]
BATCH = [cmd("CreateExtension", id="1002"),
         cmd("SetPermissions", kind="extension", id="1001", enable=["calls.international"], disable=[]),
         cmd("CreateExtension", id="1002"),                       # rejected: exists
         {"cmd": "NoSuchCommand", "tenant": "acme"},              # INVALID_COMMAND, seq null
         cmd("SetPermissions", kind="extension", id="1002", enable=["no.such"], disable=[])]


def test_submit(d):
    data, twin = os.path.join(d, "data"), os.path.join(d, "twin")
    tok = os.path.join(d, "token")
    with open(tok, "w") as f:
        f.write(TOKEN + "\n")
    setup = "".join(json.dumps(c) + "\n" for c in SETUP)
    for where in (data, twin):
        rc, out, err = ctl("--data", where, "submit", stdin=setup)
        check("setup", rc == 0 and out.count("accepted") == 3, (out, err))
    lines = "".join(json.dumps(c) + "\n" for c in BATCH) + "{not json\n"
    rc, want, err = ctl("--data", twin, "submit", stdin=lines)
    want = [json.loads(x) for x in want.splitlines()]
    p, port = start(d, data, "--token-file", tok)
    try:
        st, body, r = request(port, "POST", "/v1/submit", lines)
        check("submit without a token: 401 with WWW-Authenticate",
              st == 401 and json.loads(body)["error"] == "E_DENIED" and "Bearer" in (r.getheader("www-authenticate") or ""),
              (st, body))
        st, body, r = request(port, "POST", "/v1/submit", lines, token="wrong-token")
        check("submit with an unknown token: 401", st == 401, (st, body))
        st, body, r = request(port, "POST", "/v1/submit", lines, headers={"Authorization": "Basic " + TOKEN})
        check("not a bearer token: 401", st == 401, (st, body))
        check("nothing was written by the refused submits", json.loads(request(port, "GET", "/v1/status")[1])
              ["last_seq"] == 3)
        st, body, r = request(port, "POST", "/v1/submit", lines, token=TOKEN)
        got = json.loads(body) if st == 200 else None
        check("JSON Lines: the verdicts tmsctl submit prints, in order", got == want, (st, body, want))
        # the same commands as a JSON array, on a fresh copy of the setup: same verdicts (seqs shifted)
        arr = json.dumps([cmd("CreateExtension", id="2001"), {"cmd": "NoSuchCommand"}, cmd("CreateExtension", id="2001")])
        st, body, r = request(port, "POST", "/v1/submit", arr, token=TOKEN)
        got = json.loads(body)
        check("a JSON array: one verdict per element", st == 200 and [v["verdict"] for v in got] ==
              ["accepted", "rejected", "rejected"] and got[1]["seq"] is None and got[1]["error"] == "INVALID_COMMAND"
              and got[2]["error"] == "ALREADY_EXISTS", body)
        st, body, r = request(port, "POST", "/v1/submit", "[1, 2", token=TOKEN)
        check("a broken JSON array: 400 naming the line", st == 400 and "line" in json.loads(body)["message"], body)
        st, body, r = request(port, "POST", "/v1/submit", "\n\n", token=TOKEN)
        check("no commands: 400", st == 400, (st, body))
        st, body, r = request(port, "POST", "/v1/submit", "".join(json.dumps(cmd("CreateExtension", id="x%d" % i)) + "\n"
                                                                 for i in range(10001)), token=TOKEN)
        check("more than 10000 commands: 400", st == 400 and "10000" in body, (st, body))
        st, body, r = request(port, "GET", "/v1/submit", token=TOKEN)
        check("GET on the submit path: 405", st == 405, (st, body))
        # curl, as an operator would
        cf = os.path.join(d, "cmds.jsonl")
        with open(cf, "w") as f:
            f.write(json.dumps(cmd("CreateExtension", id="3001")) + "\n")
        r = subprocess.run(["curl", "-sS", "--fail-with-body", "-H", "Authorization: Bearer " + TOKEN,
                            "--data-binary", "@" + cf, "http://127.0.0.1:%d/v1/submit" % port],
                           capture_output=True, text=True, timeout=30)
        check("curl submit", r.returncode == 0 and json.loads(r.stdout)[0]["verdict"] == "accepted", (r.stdout, r.stderr))
        r = subprocess.run(["curl", "-sS", "http://127.0.0.1:%d/v1/check?tenant=acme&kind=extension&id=3001&"
                            "name=calls.international&format=text" % port], capture_output=True, text=True, timeout=30)
        check("curl check: deny", r.returncode == 0 and r.stdout == "deny", (r.stdout, r.stderr))
        # the record says who sent it: the token's principal and the HTTP peer
        rc, out, err = ctl("--connect", os.path.join(data, "tmsd.sock"), "watch", "--from", "4", "--until", "4")
        line = json.loads(out.splitlines()[0])
        check("the record's by names the principal and the HTTP peer", line["by"]["principal"] == "token" and
              line["by"]["peer"].startswith("127.0.0.1:"), line)
    finally:
        p.send_signal(signal.SIGTERM)
        check("tmsd exits 0", p.wait(timeout=30) == 0)


def test_principals(d):
    data = os.path.join(d, "data")
    rc, out, err = ctl("--data", data, "submit", stdin="".join(json.dumps(c) + "\n" for c in SETUP))
    toks = {}
    for name in ("pbx-acme", "front"):
        toks[name] = os.path.join(d, name + ".token")
        with open(toks[name], "w") as f:
            f.write("token-of-%s-0123456789\n" % name)
    pf = os.path.join(d, "principals.json")
    with open(pf, "w") as f:
        json.dump({"principals": [
            {"name": "pbx-acme", "token_file": toks["pbx-acme"], "rights": ["lookup"], "tenants": ["acme"]},
            {"name": "front", "token_file": toks["front"], "rights": ["lookup", "submit"], "tenants": ["acme"]}]}, f)
    p, port = start(d, data, "--principals", pf)
    acme, front = "token-of-pbx-acme-0123456789", "token-of-front-0123456789"
    q = "/v1/check?tenant=%s&kind=extension&id=1001&name=calls.international"
    try:
        st, body, r = request(port, "GET", q % "acme")
        check("with principals, anonymous lookups: 401", st == 401, (st, body))
        st, body, r = request(port, "GET", q % "acme", token=acme)
        check("its tenant: 200", st == 200 and json.loads(body)["allow"] is False, (st, body))
        st, body, r = request(port, "GET", q % "beta", token=acme)
        check("another tenant: 403", st == 403 and json.loads(body)["error"] == "E_DENIED", (st, body))
        st, body, r = request(port, "POST", "/v1/check", json.dumps({"checks": [
            {"tenant": "acme", "kind": "extension", "id": "1001", "name": "x"},
            {"tenant": "beta", "kind": "extension", "id": "1001", "name": "x"}]}), token=acme)
        check("a batch naming another tenant: 403", st == 403, (st, body))
        st, body, r = request(port, "POST", "/v1/submit", json.dumps(cmd("CreateExtension", id="5")) + "\n", token=acme)
        check("a lookup-only principal submitting: 403", st == 403, (st, body))
        st, body, r = request(port, "POST", "/v1/submit", json.dumps([cmd("CreateExtension", id="5"),
                                                                      dict(cmd("CreateExtension", id="6"), tenant="beta")]),
                              token=front)
        got = json.loads(body)
        check("a tenant-limited submitter: its tenant accepted, another E_DENIED without a seq",
              st == 200 and got[0]["verdict"] == "accepted" and got[1]["error"] == "E_DENIED" and got[1]["seq"] is None,
              body)
        st, body, r = request(port, "GET", "/v1/watch?from=1&until=1", token=acme)
        check("a tenant-limited principal may not watch every tenant", st == 403, (st, body))
        st, body, r = request(port, "GET", "/v1/watch?from=1&until=4&tenant=acme", token=acme)
        lines = [json.loads(x) for x in body.splitlines()]
        check("... but its own tenant", st == 200 and [x["seq"] for x in lines] == [1, 3, 4] and
              all(x["tenant"] == "acme" for x in lines), body)
    finally:
        p.send_signal(signal.SIGTERM)
        check("tmsd exits 0", p.wait(timeout=30) == 0)
    p, port = start(d, data, "--tcp-lookups-need-token")
    try:
        st, body, r = request(port, "GET", q % "acme")
        check("--tcp-lookups-need-token: anonymous HTTP lookups 401", st == 401, (st, body))
    finally:
        p.send_signal(signal.SIGTERM)
        check("tmsd exits 0", p.wait(timeout=30) == 0)


def test_watch(d):
    data = os.path.join(d, "data")
    tok = os.path.join(d, "token")
    with open(tok, "w") as f:
        f.write(TOKEN + "\n")
    rc, out, err = ctl("--data", data, "submit", stdin="".join(json.dumps(c) + "\n" for c in SETUP + BATCH))
    rc, want, err = ctl("--data", data, "watch", "--from", "1", "--until", "7")
    p, port = start(d, data, "--token-file", tok)
    try:
        st, body, r = request(port, "GET", "/v1/watch?from=1&until=7")
        check("a range: the lines of tmsctl watch, chunked", st == 200 and body == want and
              r.getheader("transfer-encoding") == "chunked" and r.getheader("x-tms-from") == "1", (st, body, want))
        st, body, r = request(port, "GET", "/v1/watch?from=1&until=7&tenant=beta")
        check("a tenant filter", st == 200 and [json.loads(x)["seq"] for x in body.splitlines()] == [2], body)
        st, body, r = request(port, "GET", "/v1/watch?from=x")
        check("a bad from: 400", st == 400, (st, body))
        # live: a stream from the next seq sees a submit made after it began
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        c.request("GET", "/v1/watch")
        live = c.getresponse()
        nxt = int(live.getheader("x-tms-from"))
        st, body, r = request(port, "POST", "/v1/submit", json.dumps(cmd("CreateExtension", id="4001")) + "\n", token=TOKEN)
        seq = json.loads(body)[0]["seq"]
        first = live.readline()
        check("a live stream begins with a keep-alive line (the headers go with it)", first == b"\n", first)
        line = json.loads(live.readline())
        check("a live record arrives on the stream", seq == nxt and line["seq"] == seq and line["verdict"] == "accepted",
              (nxt, seq, line))
        # a client that goes away mid-stream: tmsd goes on
        gone = socket.create_connection(("127.0.0.1", port))
        gone.sendall(b"GET /v1/watch?from=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        gone.recv(100)
        gone.close()
        for i in range(3):
            request(port, "POST", "/v1/submit", json.dumps(cmd("CreateExtension", id="41%02d" % i)) + "\n", token=TOKEN)
        st, body, r = request(port, "GET", "/v1/status")
        check("tmsd serves on after a watcher went away", st == 200 and json.loads(body)["last_seq"] == seq + 3, body)
        # SIGTERM: the stream ends with a line naming the seq to resume from
        p.send_signal(signal.SIGTERM)
        rest = [x for x in live.read().decode().splitlines() if x]
        last = json.loads(rest[-1]) if rest else {}
        check("SIGTERM ends the stream: the last line names the resume seq",
              last.get("error") == "E_BUSY" and ("from = %d" % (seq + 4)) in last.get("message", "") and
              [json.loads(x)["seq"] for x in rest[:-1]] == [seq + 1, seq + 2, seq + 3], rest)
        check("tmsd exits 0 with a watch open", p.wait(timeout=30) == 0,
              open(os.path.join(d, "tmsd.log")).read()[-600:])
        c.close()
    finally:
        if p.poll() is None:
            p.kill()


def test_metrics_listener(d):
    data = os.path.join(d, "data")
    ctl("--data", data, "submit", stdin=json.dumps(SETUP[0]) + "\n")
    mport = free_port()
    p, port = start(d, data, "--metrics", "127.0.0.1:%d" % mport)
    try:
        st, body, r = request(mport, "GET", "/metrics")
        check("metrics listener: GET /metrics", st == 200 and "tmsd_requests_total" in body and
              r.getheader("content-type").startswith("text/plain"), (st, body[:200]))
        st, body, r = request(mport, "GET", "/v1/check?tenant=acme&kind=admin&id=admin&name=reports.view")
        check("metrics listener: no API (404)", st == 404, (st, body))
        st, body, r = request(mport, "POST", "/metrics", "x")
        check("metrics listener: POST /metrics is 405", st == 405, (st, body))
        st, body, r = request(port, "GET", "/v1/check?tenant=acme&kind=admin&id=admin&name=reports.view")
        check("the API listener still answers", st == 200 and json.loads(body)["allow"] is True, (st, body))
    finally:
        p.send_signal(signal.SIGTERM)
        check("tmsd exits 0", p.wait(timeout=30) == 0)


def test_hostile(d):
    """The review's findings, each once: HTTP/2 refused (a reset stream would
    free a waiting request), a watch that ends in its first pump, seq
    overflow, a client that stops reading at SIGTERM, a start that fails."""
    data = os.path.join(d, "data")
    ctl("--data", data, "submit", stdin="".join(json.dumps(c) + "\n" for c in SETUP))
    p, port = start(d, data)
    try:
        q = "tenant=acme&kind=extension&id=1001&name=x"
        r = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-m", "0.5",
                            "http://127.0.0.1:%d/v1/check?%s&min_seq=99&wait_ms=3000" % (port, q)],
                           capture_output=True, text=True, timeout=30)
        r = subprocess.run(["curl", "-s", "--http2", "-m", "0.5",
                            "http://127.0.0.1:%d/v1/check?%s&min_seq=99&wait_ms=3000" % (port, q)],
                           capture_output=True, text=True, timeout=30)
        time.sleep(3.2)   # past the wait: a waiter left behind would be answered now
        st, body, r = request(port, "GET", "/v1/status")
        check("HTTP/2 attempts (prior knowledge, h2c upgrade) leave tmsd serving", st == 200 and p.poll() is None,
              (st, body))
        st, body, r = request(port, "GET", "/v1/watch?from=3&until=2")
        check("a watch that ends before its first line: 200, empty", st == 200 and body == "", (st, body))
        st, body, r = request(port, "GET", "/v1/watch?from=1&until=3&tenant=nobody")
        check("a watch whose filter matches nothing up to until: 200, empty", st == 200 and body == "", (st, body))
        st, body, r = request(port, "GET", "/v1/check?%s&seq=99999999999999999999999" % q)
        check("a seq beyond 64 bits: 400", st == 400, (st, body))
        st, body, r = request(port, "GET", "/v1/check?%s&min_seq=99999999999999999999999" % q)
        check("a min_seq beyond 64 bits: 400", st == 400, (st, body))
        # a watcher that stops reading, then SIGTERM: tmsd cuts it and exits 0 within the stop deadline
        lines = "".join(json.dumps(cmd("CreateExtension", id="s%05d" % i)) + "\n" for i in range(6000))
        ctl("--connect", os.path.join(data, "tmsd.sock"), "submit", stdin=lines)
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", port))
        stalled.sendall(b"GET /v1/watch?from=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        code = p.wait(timeout=40)
        took = time.monotonic() - t0
        check("SIGTERM with a watcher that stopped reading: exit 0 within ~6 s", code == 0 and took < 15,
              (code, took, open(os.path.join(d, "tmsd.log")).read()[-500:]))
        stalled.close()
    finally:
        if p.poll() is None:
            p.kill()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    r = subprocess.run([TMSD, "--data", data, "--http", "127.0.0.1:%d" % busy.getsockname()[1]],
                       capture_output=True, text=True, timeout=30)
    busy.close()
    check("--http on a port in use: exit 2 with a message (no abort)", r.returncode == 2 and "--http" in r.stderr,
          (r.returncode, r.stderr[-300:]))
    # /metrics on the API listener wants the lookup right; the metrics listener none
    mport = free_port()
    p, port = start(d, data, "--tcp-lookups-need-token", "--metrics", "127.0.0.1:%d" % mport)
    try:
        check("API /metrics without a token under --tcp-lookups-need-token: 401",
              request(port, "GET", "/metrics")[0] == 401)
        check("the metrics listener answers without credentials", request(mport, "GET", "/metrics")[0] == 200)
    finally:
        p.send_signal(signal.SIGTERM)
        check("tmsd exits 0", p.wait(timeout=30) == 0)


def main():
    run_cases(test_submit, test_principals, test_watch, test_metrics_listener, test_hostile, prefix="tms-httpw-")
    finish()


if __name__ == "__main__":
    main()
