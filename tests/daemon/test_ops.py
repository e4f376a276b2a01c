#!/usr/bin/env python3
"""test_ops.py -- tmsd as systemd and an operator see it (issue 12, item 3):

- sd_notify (Type=notify): with NOTIFY_SOCKET set, tmsd sends READY=1 (with
  STATUS and MAINPID) once its listeners are open -- a client connects at
  once --, RELOADING=1 then READY=1 around a SIGHUP, STOPPING=1 at SIGTERM;
  without NOTIFY_SOCKET it runs as before. This is how systemd's notify
  protocol is honoured where systemd itself is absent (a test container).
- a malformed socket check entry is E_PROTOCOL, not a deny (issue 19, item 6).
- SIGHUP reloads --token-file and --principals: the new token works at once,
  the old one no longer does; a broken file is refused and the old
  credentials stay; tmsd never dies of SIGHUP and keeps its socket file.
- the socket file appears only once tmsd accepts on it: with listen(2) held
  back 300 ms (an LD_PRELOAD shim), a client that connects the moment the
  file exists is not refused (CI: a test that waited for the file was);
  a SIGTERM sent in that window (after the open, before the loop's signal
  handlers) stops tmsd with 0 (it was recorded and never acted on: tmsd ran
  on for ever).

usage: test_ops.py BIN_DIR [SLOW_LISTEN_SO]"""
import http.client, json, os, shutil, signal, socket, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, finish, free_port, run_cases, wait_tcp  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
TMSD, TMSCTL = os.path.join(BIN, "tmsd"), os.path.join(BIN, "tmsctl")
SLOW_LISTEN = sys.argv[2] if len(sys.argv) > 2 else None




def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def messages(sock, until, timeout=15):
    """Datagrams from tmsd until one contains `until`; the list of them."""
    got, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        sock.settimeout(max(0.05, end - time.monotonic()))
        try:
            m = sock.recv(4096).decode()
        except socket.timeout:
            break
        got.append(m)
        if until in m:
            break
    return got


def submit(port, token, ext):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("POST", "/v1/submit", json.dumps({"cmd": "CreateExtension", "tenant": "acme", "actor": "admin",
                                                "id": ext}) + "\n", {"Authorization": "Bearer " + token})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def test_notify_and_reload(d):
    data, port = os.path.join(d, "data"), free_port()
    tok, pf = os.path.join(d, "token"), os.path.join(d, "principals.json")
    ctl = subprocess.run([TMSCTL, "--data", data, "submit"], capture_output=True, text=True,
                         input=json.dumps({"cmd": "CreateTenant", "tenant": "acme", "actor": "system",
                                           "admin": "admin"}) + "\n")
    check("setup", ctl.returncode == 0, ctl.stderr)
    write(tok, "first-token-0123456789\n")
    notify_path = os.path.join(d, "notify")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(notify_path)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    log = open(os.path.join(d, "tmsd.log"), "ab")
    p = subprocess.Popen([TMSD, "--data", data, "--http", "127.0.0.1:%d" % port, "--token-file", tok], env=env,
                         stdout=log, stderr=log)
    try:
        got = messages(ns, "READY=1")
        ready = [m for m in got if "READY=1" in m]
        check("READY=1 with STATUS and MAINPID", ready and "STATUS=serving" in ready[0] and
              ("MAINPID=%d" % p.pid) in ready[0], got)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            u.connect(os.path.join(data, "tmsd.sock"))
            u.close()
            listening = True
        except OSError as e:
            listening = e
        check("once READY=1 is sent, the listeners accept", listening is True, listening)
        check("the first token submits", submit(port, "first-token-0123456789", "1") == 200)
        write(tok, "second-token-0123456789\n")
        p.send_signal(signal.SIGHUP)
        got = messages(ns, "READY=1")
        check("SIGHUP: RELOADING=1 then READY=1", len(got) >= 2 and "RELOADING=1" in got[0] and "READY=1" in got[-1], got)
        check("after SIGHUP the new token submits", submit(port, "second-token-0123456789", "2") == 200)
        check("... and the old one is refused (401)", submit(port, "first-token-0123456789", "3") == 401)
        write(tok, "short\n")   # not a valid token: refused, the current one stays
        p.send_signal(signal.SIGHUP)
        messages(ns, "READY=1")
        check("a broken token file is refused: the current token still submits",
              submit(port, "second-token-0123456789", "4") == 200)
        check("... and the log says why", "credentials not reloaded" in open(os.path.join(d, "tmsd.log")).read())
        check("tmsd is alive after three SIGHUPs, its socket file in place",
              p.poll() is None and os.path.exists(os.path.join(data, "tmsd.sock")))
        p.send_signal(signal.SIGTERM)
        got = messages(ns, "STOPPING=1")
        check("SIGTERM: STOPPING=1", any("STOPPING=1" in m for m in got), got)
        check("exit 0", p.wait(timeout=30) == 0, open(os.path.join(d, "tmsd.log")).read()[-500:])
    finally:
        if p.poll() is None:
            p.kill()
    # principals: a reload widens a principal's tenants
    write(os.path.join(d, "pbx.token"), "pbx-token-0123456789\n")
    principals = {"principals": [{"name": "pbx", "token_file": os.path.join(d, "pbx.token"), "rights": ["lookup"],
                                  "tenants": ["acme"]}]}
    write(pf, json.dumps(principals))
    p = subprocess.Popen([TMSD, "--data", data, "--http", "127.0.0.1:%d" % port, "--principals", pf],
                         stdout=log, stderr=log)
    try:
        wait_tcp(port, p, "tmsd")

        def status(tenant):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            c.request("GET", "/v1/check?tenant=%s&kind=admin&id=admin&name=reports.view" % tenant,
                      headers={"Authorization": "Bearer pbx-token-0123456789"})
            r = c.getresponse()
            r.read()
            c.close()
            return r.status
        check("before: the pbx principal may not read tenant beta", status("beta") == 403)
        principals["principals"][0]["tenants"] = ["acme", "beta"]
        write(pf, json.dumps(principals))
        p.send_signal(signal.SIGHUP)
        ok = False
        for _ in range(100):
            if status("beta") == 200:
                ok = True
                break
            time.sleep(0.05)
        check("after SIGHUP: it may", ok)
        write(pf, "{not json")
        p.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        check("a broken principals file is refused: the loaded ones stay", status("beta") == 200 and p.poll() is None)
        # a revocation reaches a connection already open: the same principal loses the right on it
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import mp
        write(os.path.join(d, "front.token"), "front-token-0123456789\n")
        principals["principals"].append({"name": "front", "token_file": os.path.join(d, "front.token"),
                                         "rights": ["lookup", "submit"], "tenants": ["acme"]})
        write(pf, json.dumps(principals))
        p.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        conn = mp.Conn(os.path.join(data, "tmsd.sock"))
        hello = conn.call("hello", version=1, token="front-token-0123456789")
        r1 = conn.call("submit", cmds=[json.dumps({"cmd": "CreateExtension", "tenant": "acme", "actor": "admin",
                                                   "id": "rv1"})])
        principals["principals"][1]["rights"] = ["lookup"]
        write(pf, json.dumps(principals))
        p.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        r2 = conn.call("submit", cmds=[json.dumps({"cmd": "CreateExtension", "tenant": "acme", "actor": "admin",
                                                   "id": "rv2"})])
        conn.close()
        check("the refused submit is logged at info", 'msg="submit refused" code=E_DENIED principal="front"' in
              open(os.path.join(d, "tmsd.log")).read())
        check("SIGHUP revokes on an open connection: submit accepted before, E_DENIED after",
              hello.get("principal") == "front" and r1.get("results", [{}])[0].get("verdict") == "accepted" and
              r2.get("error") == "E_DENIED", (hello, r1, r2))
        p.send_signal(signal.SIGTERM)
        check("exit 0 (LeakSanitizer: the retired lists are freed)", p.wait(timeout=30) == 0,
              open(os.path.join(d, "tmsd.log")).read()[-800:])
    finally:
        if p.poll() is None:
            p.kill()


def test_metrics_and_logs(d):
    """What an SRE reads: the new metrics, every rejected submit logged at
    info with its code, values with spaces quoted."""
    data, port = os.path.join(d, "data dir"), free_port()   # a space, for the quoting
    tok = os.path.join(d, "token")
    write(tok, "metrics-token-0123456789\n")
    pf = os.path.join(d, "principals.json")
    write(os.path.join(d, "acme.token"), "acme-token-0123456789\n")
    write(pf, json.dumps({"principals": [
        {"name": "front", "token_file": tok, "rights": ["lookup", "submit", "admin"], "tenants": ["*"]},
        {"name": "acme-only", "token_file": os.path.join(d, "acme.token"), "rights": ["lookup", "submit"],
         "tenants": ["acme"]}]}))
    log = os.path.join(d, "tmsd.log")
    p = subprocess.Popen([TMSD, "--data", data, "--http", "127.0.0.1:%d" % port, "--principals", pf],
                         stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    try:
        wait_tcp(port, p, "tmsd")

        def post(token, cmds):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            c.request("POST", "/v1/submit", json.dumps(cmds), {"Authorization": "Bearer " + token})
            r = c.getresponse()
            out = json.loads(r.read())
            c.close()
            return out
        v = post("metrics-token-0123456789", [
            {"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"},
            {"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "1001"},
            {"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "1001"},   # ALREADY_EXISTS
            {"cmd": "Nope"}])                                                            # INVALID_COMMAND
        v2 = post("acme-token-0123456789", [{"cmd": "CreateExtension", "tenant": "beta", "actor": "admin", "id": "7"}])
        check("setup verdicts", [x["verdict"] for x in v] == ["accepted", "accepted", "rejected", "rejected"] and
              v2[0]["error"] == "E_DENIED", (v, v2))
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        c.request("GET", "/metrics", headers={"Authorization": "Bearer metrics-token-0123456789"})
        m = c.getresponse().read().decode()
        c.close()
        want = ['tmsd_build_info{version="', "tmsd_last_seq 3\n", "tmsd_group_commit_seconds_sum ",
                "tmsd_lookup_seconds_sum ", "tmsd_group_size_sum ", "tmsd_map_bytes ", "tmsd_map_used_bytes ",
                "tmsd_http_connections 1\n"]
        check("metrics: build info, last seq, histogram sums, map, HTTP connections",
              all(w in m for w in want), [w for w in want if w not in m])
        logb = [l for l in m.splitlines() if l.startswith("tmsd_log_bytes ")]
        check("metrics: the log's size", logb and int(logb[0].split()[1]) > 0, logb)
        ver = subprocess.run([TMSD, "--version"], capture_output=True, text=True).stdout.split()[-1]
        check("tmsd_build_info names this version", 'version="%s"' % ver in m, ver)
    finally:
        p.send_signal(signal.SIGTERM)
        check("exit 0", p.wait(timeout=30) == 0)
    text = open(log).read()
    rej = [l for l in text.splitlines() if 'msg="submit rejected"' in l]
    check("three rejected submits logged at info", len(rej) == 3 and all("level=info" in l for l in rej), rej)
    check("... with their codes and who sent them",
          any("seq=3 code=ALREADY_EXISTS cmd=CreateExtension" in l and 'principal="front"' in l for l in rej) and
          any("seq=- code=INVALID_COMMAND" in l for l in rej) and
          any("code=E_DENIED" in l and 'tenant="beta"' in l and 'principal="acme-only"' in l for l in rej), rej)
    started = [l for l in text.splitlines() if "msg=started" in l]
    check("a value with a space is quoted", started and ('data="%s"' % data) in started[0], started)


def test_sigterm_during_a_group(d):
    """SIGTERM while a group commit is in flight, with --http and --metrics:
    h2o must not be disposed before its listeners are closed (tmsd then
    waited forever with a listener open)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import mp
    data = os.path.join(d, "data")
    for rnd in range(3):
        p = subprocess.Popen([TMSD, "--data", data, "--http", "127.0.0.1:%d" % free_port(), "--metrics",
                              "127.0.0.1:%d" % free_port()], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sock = os.path.join(data, "tmsd.sock")
        for _ in range(300):
            if os.path.exists(sock) and p.poll() is None:
                try:
                    mp.Conn(sock).close()
                    break
                except OSError:
                    pass
            time.sleep(0.02)
        c = mp.Conn(sock)
        if rnd == 0:
            c.call("submit", cmds=[{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
        c.send_raw(mp.frame({"op": "submit", "req": 9, "cmds": [
            {"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "r%d-%d" % (rnd, i)} for i in range(3000)]}))
        time.sleep(0.002 * rnd)
        p.send_signal(signal.SIGTERM)
        r = c.read()
        try:
            code = p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            code = "still running 20 s after SIGTERM"
        check("round %d: SIGTERM during a group with --http: every verdict, exit 0" % rnd,
              r and len(r.get("results", [])) == 3000 and code == 0, code)
        c.close()


def test_no_notify_socket(d):
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    data = os.path.join(d, "data")
    p = subprocess.Popen([TMSD, "--data", data], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = False
    for _ in range(300):
        if os.path.exists(os.path.join(data, "tmsd.sock")):
            ok = True
            break
        time.sleep(0.02)
    check("without NOTIFY_SOCKET tmsd starts as before", ok and p.poll() is None)
    p.send_signal(signal.SIGTERM)
    check("and stops with 0", p.wait(timeout=30) == 0)


def test_socket_appears_listening(d):
    if not SLOW_LISTEN:
        check("slow_listen shim given (test_ops.py BIN_DIR SLOW_LISTEN_SO)", False)
        return
    env = dict(os.environ, LD_PRELOAD=SLOW_LISTEN,
               ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
    data = os.path.join(d, "data")
    sock = os.path.join(data, "tmsd.sock")
    p = subprocess.Popen([TMSD, "--data", data], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end, seen = time.monotonic() + 30, False
        while time.monotonic() < end and p.poll() is None and not seen:
            seen = os.path.exists(sock)
            if not seen:
                time.sleep(0.001)
        err = None
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(sock)
        except OSError as e:
            err = e
        s.close()
        check("the socket file exists only once tmsd accepts on it (listen held back 300 ms)", seen and err is None,
              err)
        check("no temporary socket name is left beside it",
              sorted(n for n in os.listdir(data) if "sock" in n) == ["tmsd.sock"], os.listdir(data))
    finally:
        p.send_signal(signal.SIGTERM)
        check("exit 0", p.wait(timeout=30) == 0)
        check("and the socket file is gone", not os.path.exists(sock))
    # SIGTERM while listen(2) is held back: the open is over, the loop's handlers not yet there
    data = os.path.join(d, "data2")
    p = subprocess.Popen([TMSD, "--data", data], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end, bound = time.monotonic() + 30, False
    while time.monotonic() < end and p.poll() is None and not bound:
        bound = os.path.isdir(data) and any(n.startswith("tmsd.sock.") for n in os.listdir(data))
        if not bound:
            time.sleep(0.001)
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = "still running 30 s later"
    check("a SIGTERM between the open and the loop's handlers stops tmsd with 0", bound and rc == 0, (bound, rc))
    check("... and leaves no socket file", os.path.isdir(data) and not any("sock" in n for n in os.listdir(data)),
          os.listdir(data) if os.path.isdir(data) else None)


def test_malformed_check_entries(d):
    """issue 19, item 6: a socket check entry that is not [tenant, kind, id, name] (four strings without a
    control character) is E_PROTOCOL for the whole request, naming it -- never a deny. The connection stays
    open (the frame itself was well formed)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import mp
    data = os.path.join(d, "data")
    p = subprocess.Popen([TMSD, "--data", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sock = os.path.join(data, "tmsd.sock")
    try:
        for _ in range(300):
            if os.path.exists(sock):
                break
            time.sleep(0.02)
        c = mp.Conn(sock)
        r = c.call("submit", cmds=[{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
        check("setup", r.get("results", [{}])[0].get("verdict") == "accepted", r)
        good = ["acme", "admin", "admin", "reports.view"]
        r = c.call("check", q=[good])
        check("a well formed check: allow", r.get("allow") == [True], r)
        for q, index, what in (([good, ["acme", "admin", "admin"]], 1, "expected [tenant, kind, id, name]"),
                               ([["acme", "admin", "admin", "reports.view", "x"]], 0, "expected"),
                               ([42], 0, "expected"), ([good, None], 1, "expected"),
                               ([["acme", "admin", 7, "reports.view"]], 0, "id: expected a string"),
                               ([["acme", "admin", "adm\x00in", "reports.view"]], 0, "id: a control character"),
                               ([good, ["ac\nme", "admin", "admin", "reports.view"]], 1, "tenant: a control character")):
            for explain in (False, True):
                r = c.call("check", q=q, explain=explain)
                check("check %s%s: E_PROTOCOL naming q[%d]" % (json.dumps(q)[:50], " explain" if explain else "", index),
                      r and r.get("error") == "E_PROTOCOL" and "allow" not in r and
                      r.get("message", "").startswith("q[%d]: %s" % (index, what)), r)
        r = c.call("check", q=[good, ["acme", "admin", "x" * 200, "reports.view"]])
        check("... and the connection goes on; an id too long to be one is a deny", r.get("allow") == [True, False], r)
        c.close()
    finally:
        p.send_signal(signal.SIGTERM)
        check("exit 0", p.wait(timeout=30) == 0)


def main():
    run_cases(test_notify_and_reload, test_metrics_and_logs, test_sigterm_during_a_group, test_no_notify_socket,
              test_socket_appears_listening, test_malformed_check_entries, prefix="tms-ops-")
    finish()


if __name__ == "__main__":
    main()
