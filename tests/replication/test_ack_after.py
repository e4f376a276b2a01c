#!/usr/bin/env python3
"""test_ack_after.py -- tmsd --publish URL --ack-after stream (SPEC section 12,
issue 20 item 1) with a real nats-server started and stopped here:
- every accepted submit's records are stored by the stream when the answer
  comes (its seq at or below the publisher's `published` at that moment);
- the stream down: a submit is answered E_NOT_STORED after --stream-timeout,
  never `accepted`, while lookups go on; its record is durable here, and once
  the stream is back a retry with the same request_id answers the first seq;
- without --ack-after stream the same outage acknowledges at once (what the
  option changes);
- HTTP submits wait the same way (503 E_NOT_STORED);
- the options are checked.
usage: test_ack_after.py BIN_DIR"""
import http.client, json, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
import mp  # noqa: E402
from test_publish import Nats, check, free_port, wait_for, ext, TMSD  # noqa: E402
import test_publish as tp  # noqa: E402


def start(d, data, nats, *extra):
    port = free_port()
    sock = os.path.join(d, "t.sock")
    log = open(os.path.join(d, "tmsd.log"), "ab")
    p = subprocess.Popen([TMSD, "--data", data, "--socket", sock, "--http", "127.0.0.1:%d" % port, "--publish",
                          nats.url] + list(extra), stdout=log, stderr=log)
    assert wait_for(lambda: os.path.exists(sock) and p.poll() is None, 20), open(os.path.join(d, "tmsd.log")).read()
    return p, sock, port


def status(sock):
    c = mp.Conn(sock, timeout=30)
    try:
        return c.call("status")
    finally:
        c.close()


def submit(sock, cmds, timeout=30):
    c = mp.Conn(sock, timeout=timeout)
    try:
        return c.call("submit", cmds=cmds)
    finally:
        c.close()


def test_stored_before_answered(d):
    nats = Nats(d)
    nats.start()
    data = os.path.join(d, "data")
    tok = os.path.join(d, "token")
    with open(tok, "w") as f:
        f.write("ack-after-token-0123456789\n")
    p, sock, port = start(d, data, nats, "--ack-after", "stream", "--stream-timeout", "2", "--token-file", tok)
    try:
        r = submit(sock, [{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
        check("with the stream up, a submit is accepted", r["results"][0]["verdict"] == "accepted", r)
        late = 0
        for i in range(40):
            r = submit(sock, [ext(i)])
            seq = r["results"][0]["seq"]
            published = status(sock)["publish"]["published"]
            late += published < seq
        check("every answered record was stored by the stream when answered", late == 0, late)
        st = status(sock)
        check("status says ack after stream, nothing held", st.get("ack", {}).get("after") == "stream" and
              st["ack"]["held"] == 0, st.get("ack"))
        # the stream down: no acknowledgement, lookups go on
        nats.kill()
        t0 = time.monotonic()
        box = {}
        th = threading.Thread(target=lambda: box.update(r=submit(sock, [dict(ext(1000), request_id="r-down")])))
        th.start()
        time.sleep(0.3)
        c = mp.Conn(sock, timeout=5)
        t1 = time.monotonic()
        look = c.call("check", q=[["acme", "extension", "x1", "calls.international"]])
        c.close()
        check("while a submit waits for the stream, lookups are answered at once",
              time.monotonic() - t1 < 1.0 and "allow" in look, look)
        th.join(30)
        waited = time.monotonic() - t0
        r = box.get("r", {})
        check("the stream down: E_NOT_STORED after --stream-timeout, never accepted",
              r.get("error") == "E_NOT_STORED" and 1.8 <= waited < 10, (r, waited))
        last = status(sock)["last_seq"]
        check("... its record is durable here all the same", last == 42, last)
        nats.start()
        ok = wait_for(lambda: status(sock)["publish"]["published"] == status(sock)["last_seq"], 30)
        check("the stream back: the publisher stores the rest", ok, status(sock)["publish"])
        r = submit(sock, [dict(ext(1000), request_id="r-down")])
        check("a retry with the same request_id answers the first seq, accepted",
              r["results"][0]["verdict"] == "accepted" and r["results"][0]["seq"] == last, (r, last))
        # HTTP waits the same way
        nats.kill()
        h = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        h.request("POST", "/v1/submit", body=json.dumps([ext(2000)]),
                  headers={"Content-Type": "application/json", "Authorization": "Bearer ack-after-token-0123456789"})
        resp = h.getresponse()
        body = resp.read().decode()
        check("HTTP: 503 E_NOT_STORED while the stream is down", resp.status == 503 and "E_NOT_STORED" in body,
              (resp.status, body))
        nats.start()
        p.send_signal(signal.SIGTERM)
        check("a clean stop", p.wait(timeout=30) == 0)
    finally:
        if p.poll() is None:
            p.kill()
        nats.kill()


def test_dedupe_is_no_acknowledgement(d):
    """JetStream looks a message id up in its duplicate window before it checks
    the expected last sequence, and answers a duplicate with the first
    message's sequence. Another leader's record at seq 2 published with the
    id "2" (what a leader naming its messages by seq alone sends) must not
    make this leader's own seq 2 'stored': the ids carry the chain hash."""
    nats = Nats(d)
    nats.start()
    data = os.path.join(d, "data")
    p, sock, port = start(d, data, nats, "--ack-after", "stream", "--stream-timeout", "3")
    try:
        r = submit(sock, [{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
        check("seq 1 accepted", r["results"][0].get("seq") == 1, r)
        forge = os.path.join(tp.BIN, "stream_forge")
        out = subprocess.run([forge, "pubid", nats.url, "tms.log", "00" * 80, "2"], capture_output=True, text=True,
                             timeout=30)
        check("another leader's record stored at seq 2 with the id '2'", out.stdout.strip() == "2", out)
        r = submit(sock, [ext(1)], timeout=30)
        check("this leader's own seq 2 is not acknowledged (the stream holds another record there)",
              r.get("error") == "E_NOT_STORED" or r["results"][0].get("verdict") != "accepted", r)
    finally:
        p.kill()
        nats.kill()


def test_without_the_option(d):
    """The same outage without --ack-after stream: accepted at once (the log's fdatasync only)."""
    nats = Nats(d)
    nats.start()
    data = os.path.join(d, "data")
    p, sock, port = start(d, data, nats)
    try:
        submit(sock, [{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
        nats.kill()
        t0 = time.monotonic()
        r = submit(sock, [ext(1)])
        check("without --ack-after stream an outage does not hold acknowledgements",
              r["results"][0]["verdict"] == "accepted" and time.monotonic() - t0 < 1.5, r)
    finally:
        p.kill()
        nats.kill()


def test_options(d):
    data = os.path.join(d, "data")
    for args, want in ((["--ack-after", "stream"], "--publish"), (["--ack-after", "sometimes"], "--ack-after"),
                       (["--stream-timeout", "3"], "--ack-after stream"),
                       (["--publish", "nats://127.0.0.1:1", "--ack-after", "stream", "--stream-timeout", "0"],
                        "--stream-timeout")):
        r = subprocess.run([TMSD, "--data", data] + args, capture_output=True, text=True, timeout=30)
        check("tmsd %s: exit 2 naming %s" % (" ".join(args), want), r.returncode == 2 and want in r.stderr, r.stderr)


def main():
    if not shutil.which("nats-server"):
        print("FAIL nats-server is not installed (scripts/bootstrap installs it)")
        sys.exit(1)
    for t in (test_stored_before_answered, test_dedupe_is_no_acknowledgement, test_without_the_option, test_options):
        d = tempfile.mkdtemp(prefix="tms-ackafter-")
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
