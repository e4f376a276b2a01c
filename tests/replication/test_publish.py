#!/usr/bin/env python3
"""test_publish.py -- tmsd --publish (SPEC section 8, issue 10 item 1) with a
real nats-server (-js) started and stopped here on loopback ports in a temp
dir: the stream holds the log byte for byte (every frame, in order, stream
seq = log seq, no gap, no duplicate); NATS killed while tmsd accepts: the
acknowledgements go on and the stream catches up when NATS is back; records
written while tmsd was down are published at its next start; a stream that
holds another log's records stops publishing, loudly, and tmsd goes on.

usage: test_publish.py BIN_DIR"""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import mp
import tooltest as tt

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
TMSD, TMSCTL, DUMP = (os.path.join(BIN, p) for p in ("tmsd", "tmsctl", "stream_dump"))
passed = failed = 0


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (what, str(detail)[:800]))
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    return cond()


class Nats:
    def __init__(self, d):
        self.dir, self.port, self.p = os.path.join(d, "js"), free_port(), None
        self.url = "nats://127.0.0.1:%d" % self.port

    def start(self):
        self.p = subprocess.Popen(["nats-server", "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", self.dir],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ok = wait_for(lambda: self._open(), 10)
        assert ok, "nats-server did not come up"

    def _open(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=10)


def start_tmsd(d, data, *extra, sock=None):
    log = open(os.path.join(d, "tmsd.log"), "ab")
    p = subprocess.Popen([TMSD, "--data", data] + list(extra) + (["--socket", sock] if sock else []), stdout=log,
                         stderr=log)
    sock = sock or os.path.join(data, "tmsd.sock")
    assert wait_for(lambda: os.path.exists(sock) and p.poll() is None, 20), open(os.path.join(d, "tmsd.log")).read()[-800:]
    time.sleep(0.1)
    return p, mp.Conn(sock)


def stop_tmsd(p):
    p.send_signal(signal.SIGTERM)
    return p.wait(timeout=30)


def ext(i, tenant="acme"):
    return {"cmd": "CreateExtension", "tenant": tenant, "actor": "admin", "id": "x%d" % i}


def log_frames(data):
    out = {}
    for seg in tt.segments(data):
        for fr in tt.read_frames(seg)[1]:
            out[fr.seq] = fr.encode().hex()
    return out


def dump(nats, stream="tms"):
    r = subprocess.run([DUMP, nats.url, stream], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    head = lines[0].split()
    msgs = {int(l.split()[0]): l.split()[1] for l in lines[1:]}
    return {"first": int(head[2]), "last": int(head[4]), "count": int(head[6])}, msgs


def published(c):
    return c.call("status")["publish"]


def stream_is_log(what, nats, data):
    info, msgs = dump(nats)
    frames = log_frames(data)
    check(what + ": the stream holds every record once, stream seq = log seq",
          info["first"] == 1 and info["last"] == len(frames) == info["count"], (info, len(frames)))
    check(what + ": byte for byte the log's frames", msgs == frames,
          [s for s in frames if msgs.get(s) != frames[s]][:5])


def test_publish(d):
    nats = Nats(d)
    nats.start()
    data = os.path.join(d, "data")
    try:
        p, c = start_tmsd(d, data, "--publish", nats.url)
        c.call("submit", cmds=[{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
        for b in range(5):
            r = c.call("submit", cmds=[ext(b * 40 + k) for k in range(40)])
            check("submit accepted", all(x["verdict"] == "accepted" for x in r["results"]), r)
        last = c.call("status")["last_seq"]
        check("published up to the last seq", wait_for(lambda: published(c)["published"] == last), published(c))
        stream_is_log("live", nats, data)
        # NATS dies while tmsd accepts: acknowledgements go on, the stream catches up when NATS is back
        nats.kill()
        t0 = time.monotonic()
        for b in range(5):
            r = c.call("submit", cmds=[ext(1000 + b * 20 + k) for k in range(20)])
            check("submit accepted with NATS down", all(x["verdict"] == "accepted" for x in r["results"]), r)
        check("acknowledgements never wait for NATS", time.monotonic() - t0 < 5, time.monotonic() - t0)
        st = c.call("status")
        check("status: not connected, behind", wait_for(lambda: not published(c)["connected"], 10) and
              published(c)["published"] < st["last_seq"], published(c))
        nats.start()
        check("caught up after NATS came back", wait_for(lambda: published(c)["published"] == st["last_seq"], 30),
              published(c))
        stream_is_log("after NATS was down", nats, data)
        c.close()
        check("tmsd stops with exit 0", stop_tmsd(p) == 0)
        # records written while tmsd was down (embedded) are published at its next start
        text = "".join(json.dumps(ext(2000 + k)) + "\n" for k in range(15))
        r = subprocess.run([TMSCTL, "--data", data, "submit"], input=text, capture_output=True, text=True)
        check("embedded submit", r.returncode == 0, r.stderr)
        p, c = start_tmsd(d, data, "--publish", nats.url)
        last = c.call("status")["last_seq"]
        check("a restart catches the stream up", wait_for(lambda: published(c)["published"] == last, 30), published(c))
        stream_is_log("after a tmsd restart", nats, data)
        # another log publishing into the same stream: refused, loudly; that tmsd goes on accepting
        other = os.path.join(d, "other")
        p2, c2 = start_tmsd(d, other, "--publish", nats.url, sock=os.path.join(d, "o.sock"))
        c2.call("submit", cmds=[{"cmd": "CreateTenant", "tenant": "beta", "actor": "system", "admin": "root"}])
        st2 = wait_for(lambda: published(c2)["stopped"] and published(c2), 20)
        check("another chain: publishing stopped, the seq named", st2 and "seq %d" % last in st2["error"], published(c2))
        r = c2.call("submit", cmds=[{"cmd": "CreateExtension", "tenant": "beta", "actor": "root", "id": "9001"}])
        check("... and that tmsd still accepts", r["results"][0]["verdict"] == "accepted", r)
        stream_is_log("the other log changed nothing", nats, data)
        c2.close()
        stop_tmsd(p2)
        c.close()
        check("tmsd stops with exit 0 (publishing)", stop_tmsd(p) == 0)
    finally:
        nats.kill()


def test_log_lines(d):
    """The replication threads log through tmsd's logger (issue 19, item 10): ts= first, level=, msg quoted."""
    nats = Nats(d)
    nats.start()
    try:
        p, c = start_tmsd(d, os.path.join(d, "data"), "--publish", nats.url)
        logf = os.path.join(d, "tmsd.log")
        lines = lambda: [l for l in open(logf, errors="replace").read().splitlines() if "publish:" in l]
        found = wait_for(lambda: [l for l in lines() if "publish: stream created" in l], 20)
        check("the publisher's stream line: ts= first, level=info, msg quoted, stream=tms",
              found and found[0].startswith("ts=") and ' level=info msg="publish: stream created" stream=tms ' in found[0],
              lines())
        c.close()
        stop_tmsd(p)
        rlog = open(os.path.join(d, "replica.log"), "wb")
        r = subprocess.Popen([TMSD, "--data", os.path.join(d, "replica"), "--replica-of", nats.url, "--stream",
                              "absent"], stdout=rlog, stderr=rlog)
        rlines = lambda: [l for l in open(os.path.join(d, "replica.log"), errors="replace").read().splitlines()
                          if "replica:" in l]
        found = wait_for(lambda: [l for l in rlines() if "no stream absent" in l], 20)
        check("the follower's warning: ts= first, level=warn, msg quoted",
              found and found[0].startswith("ts=") and ' level=warn msg="replica: no stream absent' in found[0], rlines())
        r.send_signal(signal.SIGTERM)
        r.wait(timeout=30)
    finally:
        nats.kill()


def test_options(d):
    for args, what in ((["--stream", "x"], "--stream without --publish"), (["--publish", "http://x:1"], "a URL not nats://"),
                       (["--publish", "nats://127.0.0.1:1", "--stream", "a.b"], "a stream name with a dot")):
        r = subprocess.run([TMSD, "--data", os.path.join(d, "opt")] + args, capture_output=True, text=True, timeout=20)
        check("tmsd %s: exit 2 with a message" % what, r.returncode == 2 and r.stderr.strip(), (r.returncode, r.stderr))


def main():
    if not shutil.which("nats-server"):
        print("FAIL nats-server is not installed (scripts/bootstrap installs it)")
        sys.exit(1)
    for t in (test_publish, test_log_lines, test_options):
        d = tempfile.mkdtemp(prefix="tms-publish-")
        try:
            t(d)
        except Exception as e:
            import traceback
            check(t.__name__, False, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=-3)))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(0 if failed == 0 and passed > 0 else 1)


if __name__ == "__main__":
    main()
