#!/usr/bin/env python3
"""test_http.py -- tmsd --http (SPEC section 9, issue 11, first step) with
Python's http.client over one keep-alive connection: check (JSON, text,
explain, points, a batch; from C with examples/http/check.c), show, visible,
status, metrics; 404 for unknown
paths and absent accounts, 400 for malformed requests, 503 for a min_seq
not reached in time; a lookup waiting for min_seq is answered by the submit
that reaches it; answers equal tmsctl's; SIGTERM with a connection open
still exits 0.

usage: test_http.py BIN_DIR"""
import http.client, json, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, finish, free_port, run_cases, wait_tcp  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
TMSD, TMSCTL = os.path.join(BIN, "tmsd"), os.path.join(BIN, "tmsctl")




def ctl(*args, stdin=None):
    r = subprocess.run([TMSCTL] + list(args), input=stdin, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def control_chars(get, q):
    """issue 19, item 6: a control character in a query value is 400, never a cut value (id=1001%00junk
    was answered for 1001)."""
    for bad, param in (("id=1001%00junk", "id"), ("id=1001%00", "id"), ("tenant=ac%0ame", "tenant"),
                       ("name=calls.international%7f", "name"), ("kind=extension%1F", "kind"),
                       ("id=1001%1b", "id")):
        key = bad.split("=")[0]
        path = "/v1/check?" + "&".join(x for x in q.split("&") if not x.startswith(key + "=")) + "&" + bad
        st, ct, body, _ = get(path)
        check("GET /v1/check with %s: 400 naming %s" % (bad, param),
              st == 400 and json.loads(body)["error"] == "E_INVAL" and json.loads(body)["message"].startswith(param),
              (st, body))
        st, ct, body, _ = get(path + "&format=text")
        check("... also with format=text (never allow or deny)", st == 400, (st, body))
    for path in ("/v1/show?tenant=acme&kind=extension&id=1001%00x", "/v1/visible?tenant=acme&manager=lead%00",
                 "/v1/watch?from=1%00&until=1", "/v1/proof/inclusion?seq=1%00", "/v1/status?x=%00",
                 "/v1/check?tenant=acme&kind=extension&id=1001&name=calls.international&seq=5%00"):
        st, ct, body, _ = get(path)
        check("%s: 400" % path, st == 400 and json.loads(body)["error"] == "E_INVAL", (st, body))
    st, ct, body, _ = get("/v1/check?" + q.replace("1001", "1001%20x") + "&format=text")
    check("other escapes are decoded as before (an id with a space: deny)", st == 200 and body == "deny", (st, body))
    st, ct, body, _ = get("/v1/check", "POST", json.dumps({"checks": [
        {"tenant": "acme", "kind": "extension", "id": "1001", "name": "calls.international"}]}).replace(
        '"1001"', '"1001\\u0000junk"'))
    check("POST /v1/check with a \\u0000 in an id: 400", st == 400, (st, body))


def malformed_batches(get):
    """issue 19, item 6: a batch with a malformed entry is 400 as a whole, naming the first (docs/protocol.md),
    never false for it."""
    good = {"tenant": "acme", "kind": "extension", "id": "1001", "name": "calls.international"}
    for entries, index, what in (([42, {"tenant": "acme"}], 0, "expected an object"),
                                 ([good, {"tenant": "acme"}], 1, "kind is missing"),
                                 ([good, dict(good, id=1001)], 1, "id: expected a string"),
                                 ([dict(good, nmae="x")], 0, 'unknown field "nmae"'),
                                 ([good, dict(good, tenant="ac\u0001me")], 1, "tenant: a control character"),
                                 ([good, ["acme", "extension", "1001", "calls.international"]], 1,
                                  "expected an object"),
                                 ([good, None], 1, "expected an object")):
        st, ct, body, _ = get("/v1/check", "POST", json.dumps({"checks": entries}))
        b = json.loads(body)
        check("a batch with %s: 400 naming checks[%d]" % (json.dumps(entries)[:60], index),
              st == 400 and b["error"] == "E_INVAL" and b["message"].startswith("checks[%d]: %s" % (index, what)),
              (st, body))
    st, ct, body, _ = get("/v1/check", "POST", json.dumps({"checks": [dict(good, id="x" * 300), good]}))
    check("a too long id is well formed: a deny", st == 200 and json.loads(body)["allow"] == [False, True],
          (st, body))
    st, ct, body, _ = get("/v1/check", "POST", json.dumps({"checks": []}))
    check("an empty batch: 200 []", st == 200 and json.loads(body)["allow"] == [], (st, body))


def main():
    d = tempfile.mkdtemp(prefix="tms-http-")
    data, port = os.path.join(d, "data"), free_port()
    cmds = [{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"},
            {"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "1001"},
            {"cmd": "SetPermissions", "tenant": "acme", "actor": "admin", "kind": "extension", "id": "1001",
             "enable": ["calls.international"], "disable": []},
            {"cmd": "AddManager", "tenant": "acme", "actor": "admin", "id": "lead", "new_login": {"id": "l-lead"}},
            {"cmd": "Distribute", "tenant": "acme", "actor": "admin", "kind": "extension", "id": "1001",
             "manager": "lead"}]
    rc, out, err = ctl("--data", data, "submit", stdin="".join(json.dumps(c) + "\n" for c in cmds))
    check("setup", rc == 0 and out.count("accepted") == 5, (out, err))
    bad = subprocess.run([TMSD, "--data", data, "--http", "10.1.2.3:80"], capture_output=True, text=True, timeout=20)
    check("--http on a non-loopback address without credentials: exit 2", bad.returncode == 2 and
          "loopback" in bad.stderr and "credentials" in bad.stderr, bad.stderr)
    log = open(os.path.join(d, "tmsd.log"), "ab")
    p = subprocess.Popen([TMSD, "--data", data, "--http", "127.0.0.1:%d" % port], stdout=log, stderr=log)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.02)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

        def get(path, method="GET", body=None):
            c.request(method, path, body=body)
            r = c.getresponse()
            return r.status, r.getheader("content-type"), r.read().decode(), r

        q = "tenant=acme&kind=extension&id=1001&name=calls.international"
        st, ct, body, _ = get("/v1/check?" + q)
        check("GET /v1/check: 200 JSON allow and seq", st == 200 and "json" in ct and json.loads(body) ==
              {"allow": True, "seq": 5}, (st, ct, body))
        st, ct, body, _ = get("/v1/check?" + q.replace("calls.international", "reports.view"))
        check("a deny is a 200", st == 200 and json.loads(body)["allow"] is False, body)
        st, ct, body, _ = get("/v1/check?tenant=acme&kind=extension&id=1001&name=calls%2Einternational&format=text")
        check("query values are percent-decoded", body == "allow", body)
        st, ct, body, _ = get("/v1/check?tenant=acme&kind=extension&id=1001&name=calls.internationa%6&format=text")
        check("a cut escape is not decoded (and fails closed)", st == 200 and body == "deny", (st, body))
        st, ct, body, _ = get("/v1/check?" + q + "&format=text")
        check("format=text: allow", st == 200 and body == "allow" and ct.startswith("text/plain"), (st, ct, body))
        st, ct, body, r = get("/v1/check?tenant=nope&kind=extension&id=1001&name=calls.international&format=text&explain=1")
        check("format=text: an unknown tenant is deny, the reason in a header",
              body == "deny" and r.getheader("x-tms-reason") == "unknown_tenant", (body, r.getheaders()))
        st, ct, body, _ = get("/v1/check?" + q + "&explain=1&seq=2")
        e = json.loads(body)
        rc, out, err = ctl("--data", data, "check", "--explain", "--seq", "2", "acme", "extension", "1001",
                           "calls.international")
        want = json.loads(out)
        check("explain at a seq: the fields of check --explain", e["allow"] is False and e["seq"] == 2 and
              all(e[k] == want[k] for k in want), (e, want))
        st, ct, body, _ = get("/v1/check?" + q + "&at=2000-01-01")
        check("at a time before the log: deny at seq 0", json.loads(body) == {"allow": False, "seq": 0}, body)
        st, ct, body, _ = get("/v1/check?" + q + "&seq=99")
        check("a seq beyond the log: 400 naming the last seq", st == 400 and "last seq is 5" in body, (st, body))
        st, ct, body, _ = get("/v1/check", "POST", json.dumps({"checks": [
            {"tenant": "acme", "kind": "extension", "id": "1001", "name": "calls.international"},
            {"tenant": "acme", "kind": "admin", "id": "admin", "name": "reports.view"},
            {"tenant": "acme", "kind": "extension", "id": "1001", "name": "recordings.listen"}]}))
        check("POST /v1/check: a batch", st == 200 and json.loads(body) == {"allow": [True, True, False], "seq": 5},
              (st, body))
        st, ct, body, _ = get("/v1/check", "POST", "not json")
        check("POST /v1/check with bad JSON: 400", st == 400 and json.loads(body)["error"], (st, body))
        control_chars(get, q)
        malformed_batches(get)
        # from C: examples/http/check.c (libcurl), as a PBX module would ask
        hc = os.path.join(BIN, "tms-http-check")
        if check("tms-http-check is built (libcurl4-openssl-dev)", os.path.exists(hc)):
            r = subprocess.run([hc, "http://127.0.0.1:%d" % port, "acme", "extension", "1001", "calls.international",
                                "recordings.listen", "no.such"], capture_output=True, text=True, timeout=30)
            check("from C: allow, deny, deny (unknown name: fail closed)", r.returncode == 0 and
                  r.stdout.split() == ["allow", "deny", "deny"], (r.returncode, r.stdout, r.stderr))
            r = subprocess.run([hc, "http://127.0.0.1:%d" % free_port(), "acme", "extension", "1001",
                                "calls.international"], capture_output=True, text=True, timeout=30)
            check("from C, no tmsd: deny and exit 1", r.returncode == 1 and r.stdout.split() == ["deny"],
                  (r.returncode, r.stdout, r.stderr))
        st, ct, body, r = get("/v1/show?tenant=acme&kind=extension&id=1001")
        check("show equals tmsctl show", st == 200 and json.loads(body) == json.loads(
            ctl("--data", data, "show", "acme", "extension", "1001")[1]) and r.getheader("x-tms-seq") == "5", body)
        st, ct, body, _ = get("/v1/show?tenant=acme&kind=extension&id=1001&seq=2")
        check("show at a seq", st == 200 and json.loads(body)["permissions"] == [], body)
        st, ct, body, _ = get("/v1/show?tenant=acme&kind=extension&id=9999")
        check("show of an absent account: 404", st == 404, (st, body))
        st, ct, body, _ = get("/v1/visible?tenant=acme&manager=lead")
        check("visible", st == 200 and json.loads(body) == [{"kind": "extension", "id": "1001"}], body)
        st, ct, body, _ = get("/v1/status")
        s = json.loads(body)
        check("status: last_seq, head, role", st == 200 and s["last_seq"] == 5 and len(s["head"]) == 64 and
              s["role"] == "leader", body)
        st, ct, body, _ = get("/metrics")
        check("metrics", st == 200 and "tmsd_checks_total" in body, body[:200])
        st, ct, body, _ = get("/v1/nope")
        check("an unknown path: 404 with error and message", st == 404 and set(json.loads(body)) == {"error", "message"},
              (st, body))
        st, ct, body, _ = get("/v1/check?tenant=acme")
        check("missing fields: 400", st == 400, (st, body))
        t0 = time.monotonic()
        st, ct, body, _ = get("/v1/check?" + q + "&min_seq=9&wait_ms=150")
        check("min_seq not reached in time: 503", st == 503 and "at seq 5" in body and time.monotonic() - t0 >= 0.15,
              (st, body))
        # a lookup waiting for min_seq is answered by the submit that reaches it
        res = {}

        def waiter():
            c2 = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c2.request("GET", "/v1/check?tenant=acme&kind=extension&id=1002&name=reports.view&min_seq=6&wait_ms=5000")
            r = c2.getresponse()
            res["status"], res["body"] = r.status, r.read().decode()
            c2.close()
        th = threading.Thread(target=waiter)
        th.start()
        time.sleep(0.2)
        rc, out, err = ctl("--connect", os.path.join(data, "tmsd.sock"), "submit", stdin=json.dumps(
            {"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "1002"}) + "\n")
        th.join(10)
        check("min_seq: answered once the record is applied", res.get("status") == 200 and
              json.loads(res["body"]) == {"allow": False, "seq": 6}, res)
        # SIGTERM with this keep-alive connection still open: exit 0
        p.send_signal(signal.SIGTERM)
        code = p.wait(timeout=30)
        check("SIGTERM with a keep-alive connection open: exit 0", code == 0,
              (code, open(os.path.join(d, "tmsd.log")).read()[-600:]))
        c.close()
    finally:
        if p.poll() is None:
            p.kill()
        shutil.rmtree(d, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
