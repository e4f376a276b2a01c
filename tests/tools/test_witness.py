"""test_witness -- SPEC section 11's witness: tms-audit witness on one
checkpoint file (trust on first use, --proof, every refusal leaving the state
byte for byte as it was and printing nothing), tms-audit witness --listen
through http.client (C2SP tlog-witness POST /add-checkpoint: 200, 409 with
text/x.tlog.size, 400, 403, 404, 405, 413, 422, SIGTERM), and tmsd --witness
collecting cosignatures from it (the 409 round trip after a restart). Every
cosignature is checked by the outside verifier (tests/trust/outside_verifier.py,
written from the C2SP texts alone). Usage: test_witness.py BIN_DIR"""
import base64
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tooltest import Run  # noqa: E402
from checks import free_port, wait_tcp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUTSIDE = os.path.join(HERE, "..", "trust", "outside_verifier.py")
DEMO = os.path.join(HERE, "..", "..", "examples", "demo.jsonl")
ORIGIN = "log.example/tms"

r = Run()


def outside(*args):
    p = subprocess.run([sys.executable, OUTSIDE] + [str(a) for a in args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def write(name, text):
    path = r.path(name)
    with open(path, "w") as f:
        f.write(text)
    return path


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def keygen(name, file, *flags):
    rc, out, err = r.run("tms-audit", "keygen", "--name", name, "--out", r.path(file), *flags)
    if rc != 0:
        raise RuntimeError("keygen: " + err)
    return out.strip()


def extensions(n, ext0, tenant="acme"):
    return [{"cmd": "CreateExtension", "tenant": tenant, "actor": "admin", "id": str(ext0 + i)} for i in range(n)]


def checkpoint(data, key, name):
    rc, out, err = r.run("tmsctl", "--data", data, "checkpoint", "--signing-key", r.path(key))
    if rc != 0:
        raise RuntimeError("tmsctl checkpoint: " + err)
    return write(name, out)


def prove(data, a, b, name):
    rc, out, err = r.run("tms-audit", "prove", "--data", data, "--from", a, "--to", b)
    if rc != 0:
        raise RuntimeError("prove: " + err)
    return write(name, out)


def body_of(cp):
    """(size, root) of a checkpoint file."""
    lines = open(cp).read().split("\n")
    return int(lines[1]), lines[2]


def cosigned_ok(path, wvkey):
    rc, out, err = outside("cosignature", "--witness-vkey", wvkey, "--vkey", log_vkey, path)
    return rc == 0 and abs(json.loads(out)["time"] - time.time()) < 120, out + err


# ---- the logs ------------------------------------------------------------------------------
# d: the honest log (sizes 32, 35, 40 as it grows). f: a fork, the same commands but one
# (seq 2) rewritten, at sizes 32 and 45. Both signed by the same log key: only a witness
# that remembers tells them apart.
log_vkey = keygen(ORIGIN, "log.key")
w_vkey = keygen("witness.example/w1", "w.key", "--witness")
impostor_vkey = keygen(ORIGIN, "impostor.key")            # same origin, another key
stranger_vkey = keygen("other.example/log", "other.key")  # an origin nobody trusts

d, f = r.path("d"), r.path("f")
r.run("tmsctl", "--data", d, "submit", DEMO)
demo = open(DEMO).read().replace("Alice Ames", "Alice Forged")
rc, _, err = r.run("tmsctl", "--data", f, "submit", stdin=demo)
cp32 = checkpoint(d, "log.key", "cp32")
fork32 = checkpoint(f, "log.key", "fork32")
size32, root32 = body_of(cp32)
r.check("the logs: the fork has the honest log's size and another root",
        size32 == 32 and body_of(fork32)[0] == 32 and body_of(fork32)[1] != root32, (body_of(fork32), root32))
r.submit(d, extensions(3, 5000))
cp35 = checkpoint(d, "log.key", "cp35")
r.submit(f, extensions(13, 6000))
fork45 = checkpoint(f, "log.key", "fork45")
r.check("the logs: sizes 35 and 45", body_of(cp35)[0] == 35 and body_of(fork45)[0] == 45)
p32_35 = prove(d, 32, 35, "p32_35")
p33_35 = prove(d, 33, 35, "p33_35")
fork_p32_45 = prove(f, 32, 45, "fork_p32_45")
fork_p35_45 = prove(f, 35, 45, "fork_p35_45")
stranger_d = r.path("stranger")
shutil.copytree(d, stranger_d)
stranger_cp = checkpoint(stranger_d, "other.key", "stranger_cp")
impostor_d = r.path("impostor")
shutil.copytree(d, impostor_d)
impostor_cp = checkpoint(impostor_d, "impostor.key", "impostor_cp")
r.submit(d, extensions(5, 5100))
cp40 = checkpoint(d, "log.key", "cp40")
p32_40 = prove(d, 32, 40, "p32_40")

# ---- tms-audit witness CHECKPOINT ----------------------------------------------------------
state = r.path("state")


def witness(cp, *more, key="w.key", log=None, st=None):
    return r.run("tms-audit", "witness", "--key", r.path(key), "--log-key", log or log_vkey, "--state", st or state,
                 cp, *more)


def refused(what, cp, *more, why=None, **kw):
    """A refusal: exit 1, nothing printed, the state file byte for byte as it was."""
    before = read(kw.get("st") or state)
    rc, out, err = witness(cp, *more, **kw)
    r.check("refused (exit 1, nothing printed, state unchanged): " + what,
            rc == 1 and out == "" and read(kw.get("st") or state) == before and (why is None or why in err),
            "rc=%d out=%r err=%r" % (rc, out, err))


rc, out, err = witness(cp32)
r.check("first checkpoint of an origin: trusted on first use, printed cosigned", rc == 0 and
        out.startswith(open(cp32).read()) and out.count("\n\u2014 witness.example/w1 ") == 1, out + err)
ok, detail = cosigned_ok(write("cp32.cosigned", out), w_vkey)
r.check("outside: its tlog-cosignature/v1 verifies, time = now", ok, detail)
r.check("the state records origin, size, root", read(state) == ("%s 32 %s\n" % (ORIGIN, root32)).encode(), read(state))
rc, out2, err = witness(r.path("cp32.cosigned"))
r.check("the same checkpoint again (already cosigned): one cosignature of this key, not two",
        rc == 0 and out2.count("witness.example/w1") == 1, out2 + err)

refused("same size, another root (the fork at 32)", fork32, why="another root")
refused("a later checkpoint without --proof", cp35, why="--proof")
refused("the fork, larger, with its own consistency proof from 32", fork45, "--proof", fork_p32_45, why="fails")
refused("a proof from another size than the last cosigned", cp35, "--proof", p33_35, why="from size 33")
refused("a proof to another size than the checkpoint's", fork45, "--proof", p32_35, why="to size 35")
bad = json.loads(open(p32_35).read())
h = bytearray(base64.b64decode(bad["proof"][0]))
h[0] ^= 1
bad["proof"][0] = base64.b64encode(bytes(h)).decode()
refused("a consistency proof with one bit changed", cp35, "--proof", write("bad_proof", json.dumps(bad)), why="fails")
refused("a checkpoint signed by another key of the same name", impostor_cp, why="no signature by a trusted key")
refused("a checkpoint of an origin no --log-key names", stranger_cp, why="unknown origin")
text = open(cp35).read()
refused("a checkpoint whose root was changed under the log's signature",
        write("forged35", text.replace(body_of(cp35)[1], root32)), why="bad signature")
sig = text.rstrip("\n").rsplit(" ", 1)
forged = base64.b64decode(sig[1])
forged = forged[:10] + bytes([forged[10] ^ 1]) + forged[11:]
refused("a checkpoint whose log signature has one bit changed",
        write("badsig35", sig[0] + " " + base64.b64encode(forged).decode() + "\n"), why="bad signature")
rc, out, err = witness(cp35, "--proof", p32_35, key="log.key")
r.check("--key must be a witness's key (exit 2, state unchanged)", rc == 2 and "keygen --witness" in err, err)

rc, out, err = witness(cp35, "--proof", p32_35)
r.check("a later checkpoint with a consistency proof from the last cosigned: cosigned", rc == 0 and
        out.startswith(text) and read(state) == ("%s 35 %s\n" % (ORIGIN, body_of(cp35)[1])).encode(), out + err)
ok, detail = cosigned_ok(write("cp35.cosigned", out), w_vkey)
r.check("outside: that cosignature verifies", ok, detail)
refused("a smaller size than the last cosigned (32 after 35)", cp32, why="smaller")
refused("the fork at 45, with its proof from 35 (a log rewritten after the witness saw it)", fork45, "--proof",
        fork_p35_45, why="fails")
rc, out, err = witness(cp35)
r.check("the last cosigned checkpoint again: no proof needed", rc == 0 and "witness.example/w1" in out, err)

# The check and the update are one critical section (the race tlog-witness describes): two
# witnesses at once, both from 32 (to 35 and to 40), can never both be cosigned: one wins and
# the other then finds the state moved. Without the lock both would read 32 and both sign.
race_state = r.path("race_state")
both = []
for i in range(12):
    with open(race_state, "w") as fh:
        fh.write("%s 32 %s\n" % (ORIGIN, root32))
    procs = [subprocess.Popen([r.prog("tms-audit"), "witness", "--key", r.path("w.key"), "--log-key", log_vkey,
                               "--state", race_state, cp, "--proof", pf], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for cp, pf in ((cp35, p32_35), (cp40, p32_40))]
    rcs = [p.wait(timeout=60) for p in procs]
    won = ("%s %d %s\n" % ((ORIGIN,) + body_of(cp35 if rcs[0] == 0 else cp40))).encode()
    if sorted(rcs) != [0, 1] or read(race_state) != won:
        both.append((rcs, read(race_state)))
r.check("racing witnesses: always exactly one cosigned, and the state is the winner's", not both, both)

# Trust on first use, per origin: a second origin in the same state file, the first one's line kept.
other_state = r.path("state2")
rc, _, _ = witness(cp32, st=other_state)
rc2, _, err = witness(stranger_cp, log=stranger_vkey, st=other_state)
lines = sorted(read(other_state).decode().splitlines())
r.check("one line per origin", rc == 0 and rc2 == 0 and len(lines) == 2 and lines[0].startswith("log.example/tms 32 ")
        and lines[1].startswith("other.example/log "), lines)
with open(other_state, "a") as fh:
    fh.write("garbage\n")
rc, out, err = witness(cp35, "--proof", p32_35, st=other_state)
r.check("a damaged state file: exit 2, nothing cosigned", rc == 2 and out == "" and "line 3" in err, err)
rc, _, err = r.run("tms-audit", "witness", "--key", r.path("w.key"), "--state", state, cp32)
r.check("--log-key is required (exit 2)", rc == 2, err)


# ---- tms-audit witness --listen: C2SP tlog-witness ----------------------------------------
def start_witness(st, *logkeys, key="w.key"):
    port = free_port()
    args = [r.prog("tms-audit"), "witness", "--listen", "127.0.0.1:%d" % port, "--key", r.path(key),
            "--state", st]
    for k in logkeys:
        args += ["--log-key", k]
    log = open(st + ".log", "w")
    p = subprocess.Popen(args, stdout=log, stderr=log)
    wait_tcp(port, p, "tms-audit witness --listen")
    return p, port


def add(port, old, cp_text, proof=(), raw=None, method="POST", path="/add-checkpoint"):
    body = raw if raw is not None else ("old %d\n" % old + "".join(h + "\n" for h in proof) + "\n" + cp_text)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body.encode() if isinstance(body, str) else body)
    resp = c.getresponse()
    out = resp.status, resp.getheader("Content-Type"), resp.read().decode("utf-8", "replace")
    c.close()
    return out


def proof_of(path):
    return json.loads(open(path).read())["proof"]


hstate = r.path("hstate")
srv, port = start_witness(hstate, log_vkey, stranger_vkey)
try:
    t32, t35, tf32, tf45 = (open(p).read() for p in (cp32, cp35, fork32, fork45))
    st, ct, body = add(port, 0, t32)
    r.check("POST /add-checkpoint old 0: 200 with a cosignature line", st == 200 and body.startswith("\u2014 ") and
            body.endswith("\n") and body.count("\n") == 1, (st, body))
    ok, detail = cosigned_ok(write("h32.cosigned", t32 + body), w_vkey)
    r.check("outside: the answered line, added to the checkpoint, verifies", ok, detail)
    r.check("persisted before the answer", read(hstate) == ("%s 32 %s\n" % (ORIGIN, root32)).encode(), read(hstate))

    def status(what, want, *args, **kw):
        before = read(hstate)
        st, ct, body = add(port, *args, **kw)
        r.check("%s: %d, state unchanged" % (what, want), st == want and read(hstate) == before, (st, ct, body))
        return st, ct, body

    st, ct, body = status("old 0 after 32 was cosigned", 409, 0, t35)
    r.check("409 says the latest cosigned size, as text/x.tlog.size", ct == "text/x.tlog.size" and body == "32\n",
            (ct, body))
    st, ct, body = status("same size, another root", 409, 32, tf32)
    r.check("... its body the latest size too", ct == "text/x.tlog.size" and body == "32\n", (ct, body))
    status("the fork at 45 with its own proof from 32", 422, 32, tf45, proof_of(fork_p32_45))
    status("no proof where one is needed", 422, 32, t35)
    status("a checkpoint signed by another key of the origin", 403, 32, open(impostor_cp).read())
    status("a root changed under the log's signature", 403, 32, open(r.path("forged35")).read())
    status("an unknown origin", 404, 0, open(r.path("stranger_cp")).read().replace("other.example", "third.example"))
    # the request body of the tlog-witness text's own example: well formed (not 400), of a log this witness does
    # not know (404), as the text says a witness answers it
    spec_body = ("old 20852014\n"
                 "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
                 "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
                 "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
                 "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
                 "\n"
                 "example.com/behind-the-sofa\n"
                 "20852163\n"
                 "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
                 "\n"
                 "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo"
                 "+zyWE+xeMcTOAYQ8=\n"
                 "\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5"
                 "Rovnzv++qbSzm9Q=\n")
    status("the C2SP tlog-witness example request (an origin unknown here)", 404, 0, None, raw=spec_body)
    status("old size above the checkpoint's", 400, 40, t35)
    status("old 0 with proof lines", 400, 0, t35, proof_of(p32_35))
    status("an old line with a leading zero", 400, 0, None, raw="old 032\n\n" + t35)
    status("no old line", 400, 0, None, raw=t35)
    status("a proof line that is not a hash", 400, 0, None, raw="old 32\nnot-base64\n\n" + t35)
    status("more than 63 proof lines", 400, 0, None, raw="old 32\n" + (proof_of(p32_35)[0] + "\n") * 64 + "\n" + t35)
    status("a malformed note", 400, 32, "log.example/tms\n35\n")
    status("a body above 64 KiB", 413, 0, None, raw="old 0\n\n" + "x" * (70 << 10))
    status("GET", 405, 0, None, raw="", method="GET")
    status("another path", 404, 0, t35, path="/add")
    st, ct, body = add(port, 32, t35, proof_of(p32_35))
    r.check("the honest 35 with its proof from 32: 200, recorded",
            st == 200 and read(hstate) == ("%s 35 %s\n" % (ORIGIN, body_of(cp35)[1])).encode(), (st, body))
    status("the fork at 45 with its proof from 35", 422, 35, tf45, proof_of(fork_p35_45))
    st, _, body = add(port, 0, open(stranger_cp).read())
    r.check("a second trusted origin: trusted on first use", st == 200 and len(read(hstate).splitlines()) == 2, body)
    # keep-alive: two requests on one connection
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(2):
        c.request("POST", "/add-checkpoint", body=("old 35\n\n" + t35).encode())
        resp = c.getresponse()
        resp.read()
    c.close()
    r.check("keep-alive: the same checkpoint twice on one connection (200 both)", resp.status == 200, resp.status)
finally:
    srv.send_signal(signal.SIGTERM)
    try:
        rc = srv.wait(timeout=10)
    except subprocess.TimeoutExpired:
        srv.kill()
        rc = -1
r.check("SIGTERM: the witness exits 0", rc == 0, open(hstate + ".log").read()[-1000:])


# ---- tmsd --witness: the client side --------------------------------------------------------
def tmsd_round(data, wport, what, submit_n, ext0, others=()):
    """Start tmsd on data with the witness (after others: (url, vkey) pairs), submit, wait for a checkpoint
    cosigned by it; stop tmsd."""
    sock = os.path.join(data, "tmsd.sock")
    log = open(r.path("tmsd.log"), "a")
    args = [r.prog("tmsd"), "--data", data, "--signing-key", r.path("log.key"), "--checkpoint-interval", "1"]
    for url, vk in list(others) + [("http://127.0.0.1:%d" % wport, w_vkey)]:
        args += ["--witness", url, "--witness-key", vk]
    p = subprocess.Popen(args, stdout=log, stderr=log)
    try:
        for _ in range(300):
            if os.path.exists(sock):
                break
            time.sleep(0.02)
        text = "".join(json.dumps(c) + "\n" for c in extensions(submit_n, ext0))
        rc, out, err = r.run("tmsctl", "--connect", sock, "submit", stdin=text)
        last = max([v["seq"] for v in r.json_lines(out) if v.get("seq")] or [0])
        want = None
        for _ in range(150):   # the checkpointer ticks every second
            rc, out, _ = r.run("tms-audit", "checkpoint", "--data", data, "--size", last)
            if rc == 0 and "witness.example/w1" in out:
                want = out
                break
            time.sleep(0.1)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
    ok, detail = cosigned_ok(write("tmsd.cosigned", want or ""), w_vkey) if want else (False, "no cosigned checkpoint")
    r.check("tmsd --witness: %s: a cosigned checkpoint stored, its cosignature verifies" % what, ok,
            detail + open(r.path("tmsd.log")).read()[-1500:])
    return want


td = r.path("td")
r.run("tmsctl", "--data", td, "submit", DEMO)
wstate = r.path("wstate")
srv, wport = start_witness(wstate, log_vkey)
try:
    first = tmsd_round(td, wport, "first contact (old 0, trusted on first use)", 2, 7000)
    size1 = int(first.split("\n")[1]) if first else 0
    second = tmsd_round(td, wport, "after a restart (old 0 -> 409 -> a proof from the witness's size)", 3, 7100)
    size2 = int(second.split("\n")[1]) if second else 0
    r.check("the witness's state follows the log", size2 > size1 > 0 and
            read(wstate).decode().startswith("%s %d " % (ORIGIN, size2)), (size1, size2, read(wstate)))
    log = open(wstate + ".log").read()
    r.check("the second round went through a 409 and a proof", "409" in log and "200 cosigned (old %d)" % size1 in log,
            log[-1500:])
    # Witnesses that fail never fail the log: one down, one that does not know this log (404);
    # the third still cosigns, and each failure is one warning line.
    w2_vkey = keygen("witness.example/w2", "w2.key", "--witness")
    srv2, port2 = start_witness(r.path("w2state"), stranger_vkey, key="w2.key")
    dead = free_port()
    try:
        open(r.path("tmsd.log"), "w").close()
        third = tmsd_round(td, wport, "with a witness down and one that refuses", 2, 7200,
                           others=[("http://127.0.0.1:%d/" % dead, w2_vkey), ("http://127.0.0.1:%d" % port2, w2_vkey)])
        tlog = open(r.path("tmsd.log")).read()
        r.check("... the cosigned checkpoint holds only the cosignature that verifies",
                third is not None and third.count("\u2014 witness.example/w1 ") == 1 and "\u2014 witness.example/w2 " not in third, third)
        r.check("... each failing witness is one level=warn line naming its URL",
                'level=warn msg="witness http://127.0.0.1:%d/add-checkpoint: ' % dead in tlog and
                'level=warn msg="witness http://127.0.0.1:%d/add-checkpoint: HTTP 404' % port2 in tlog, tlog[-2000:])
    finally:
        srv2.send_signal(signal.SIGTERM)
        srv2.wait(timeout=10)
finally:
    srv.send_signal(signal.SIGTERM)
    srv.wait(timeout=10)

r.finish()
