"""test_checkpoints -- SPEC section 11 from the command line, embedded:
tms-audit keygen, tmsctl checkpoint, tms-audit checkpoint / prove /
verify-proof / verify --key; every proof also checked by the outside
verifier (tests/trust/outside_verifier.py, written from the C2SP and RFC
9162 texts alone). Hostile cases: a forged leaf, a wrong size, a bad or
foreign signature, a rewritten log (its checkpoint, its consistency proof,
verify --key). Usage: test_checkpoints.py BIN_DIR"""
import base64
import json
import os
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tooltest import Run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUTSIDE = os.path.join(HERE, "..", "trust", "outside_verifier.py")
DEMO = os.path.join(HERE, "..", "..", "examples", "demo.jsonl")

r = Run()


def outside(*args):
    p = subprocess.run([sys.executable, OUTSIDE] + [str(a) for a in args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def write(name, text):
    path = r.path(name)
    with open(path, "w") as f:
        f.write(text)
    return path


def commands(tenant, n, ext0=2000):
    cmds = [{"cmd": "CreateTenant", "tenant": tenant, "actor": "system", "admin": "admin"}]
    for i in range(n):
        cmds.append({"cmd": "CreateExtension", "tenant": tenant, "actor": "admin", "id": str(ext0 + i)})
    return cmds


# ---- keys ---------------------------------------------------------------------------------
key, wkey = r.path("log.key"), r.path("w.key")
rc, vkey, err = r.run("tms-audit", "keygen", "--name", "pbx.example.com/tms", "--out", key)
vkey = vkey.strip()
r.check("keygen exits 0 and prints a vkey", rc == 0 and vkey.startswith("pbx.example.com/tms+"), err)
r.check("the private key file is 0600", stat.S_IMODE(os.stat(key).st_mode) == 0o600)
r.check("the private key is one PRIVATE+KEY+ line", open(key).read().startswith("PRIVATE+KEY+pbx.example.com/tms+"))
rc, out, err = outside("vkey", vkey)
r.check("outside: the vkey's key ID is SHA-256(name||0x0A||type||key)[:4]", rc == 0 and json.loads(out)["type"] == 1,
        out + err)
rc, out, err = outside("private-key", key, vkey)
r.check("outside: the private key's seed gives the vkey's public key", rc == 0, out + err)
rc, _, err = r.run("tms-audit", "keygen", "--name", "pbx.example.com/tms", "--out", key)
r.check("keygen never overwrites a key (exit 2)", rc == 2 and "exists" in err, err)
rc, _, err = r.run("tms-audit", "keygen", "--name", "bad name", "--out", r.path("x.key"))
r.check("keygen refuses a name with a space", rc == 2 and not os.path.exists(r.path("x.key")), err)
rc, wvkey, err = r.run("tms-audit", "keygen", "--name", "witness.example/w1", "--out", wkey, "--witness")
rc2, out, _ = outside("vkey", wvkey.strip())
r.check("keygen --witness: a type 0x04 key", rc == 0 and rc2 == 0 and json.loads(out)["type"] == 4, err)
rc, other_vkey, _ = r.run("tms-audit", "keygen", "--name", "pbx.example.com/tms", "--out", r.path("other.key"))
other_vkey = other_vkey.strip()

# ---- checkpoints --------------------------------------------------------------------------
d = r.path("d")
rc, _, err = r.run("tmsctl", "--data", d, "submit", DEMO)
rc, cp1, err = r.run("tmsctl", "--data", d, "checkpoint", "--signing-key", key)
r.check("tmsctl checkpoint signs one (embedded)", rc == 0 and cp1.count("\n") >= 5, err)
cp1_path = write("cp1", cp1)
rc, out, err = outside("checkpoint", "--vkey", vkey, cp1_path)
size1 = json.loads(out)["size"] if rc == 0 else 0
r.check("outside: the checkpoint is a C2SP signed tlog-checkpoint by the log key", rc == 0 and size1 > 30, out + err)
rc, out, _ = r.run("tms-audit", "checkpoint", "--data", d)
r.check("tms-audit checkpoint prints it exactly as signed", rc == 0 and out == cp1)
rc, again, _ = r.run("tmsctl", "--data", d, "checkpoint", "--signing-key", key)
r.check("a second checkpoint at the same size is the same one (not signed twice)", rc == 0 and again == cp1)
rc, _, err = r.run("tmsctl", "--data", d, "checkpoint", "--signing-key", wkey)
r.check("tmsctl checkpoint refuses a witness key", rc == 2, err)
rc, _, err = r.run("tms-audit", "checkpoint", "--data", r.path("none"))
r.check("tms-audit checkpoint with none: exit 1", rc == 1, err)

# ---- inclusion proofs: every record ----------------------------------------------------------
ok_ours = ok_outside = 0
for seq in range(1, size1 + 1):
    rc, proof, err = r.run("tms-audit", "prove", "--data", d, "--seq", seq)
    pf = write("incl", proof)
    rc1, line, _ = r.run("tms-audit", "verify-proof", "--key", vkey, "--checkpoint", cp1_path, "--inclusion", pf)
    rc2, _, _ = outside("inclusion", "--vkey", vkey, "--checkpoint", cp1_path, "--proof", pf)
    ok_ours += rc1 == 0 and json.loads(line)["seq"] == seq
    ok_outside += rc2 == 0
r.check("verify-proof accepts the proof of every record, printing it", ok_ours == size1, "%d/%d" % (ok_ours, size1))
r.check("the outside verifier accepts every inclusion proof", ok_outside == size1, "%d/%d" % (ok_outside, size1))

rc, proof, _ = r.run("tms-audit", "prove", "--data", d, "--seq", 5)
p = json.loads(proof)
rec = json.loads(r.run("tms-audit", "verify-proof", "--key", vkey, "--checkpoint", cp1_path, "--inclusion",
                       write("p5", proof))[1])
r.check("the proven record is the log's record 5", rec["seq"] == 5 and rec["cmd"]["cmd"] == "CreateExtension", rec)


def refused(what, proof_obj, cp=cp1_path, key_=vkey):
    pf = write("bad", json.dumps(proof_obj))
    rc1, out1, err1 = r.run("tms-audit", "verify-proof", "--key", key_, "--checkpoint", cp, "--inclusion", pf)
    rc2, _, _ = outside("inclusion", "--vkey", key_, "--checkpoint", cp, "--proof", pf)
    r.check("refused (exit 1, by us and the outside verifier): " + what, rc1 == 1 and rc2 == 1 and out1 == "",
            "ours %d outside %d %s" % (rc1, rc2, err1))


leaf = bytearray(base64.b64decode(p["leaf"]))
leaf[-3] ^= 1
refused("a forged leaf", dict(p, leaf=base64.b64encode(bytes(leaf)).decode()))
forged = json.loads(r.run("tms-audit", "prove", "--data", d, "--seq", 6)[1])
refused("another record's leaf under seq 5", dict(p, leaf=forged["leaf"]))
refused("another seq", dict(p, seq=6))
refused("a wrong size", dict(p, size=size1 - 1))
refused("a proof one hash short", dict(p, proof=p["proof"][:-1]))
refused("a proof with a hash flipped", dict(p, proof=[p["proof"][0][:-4] + ("AAA=" if p["proof"][0][-4:] != "AAA=" else "AQA=")] + p["proof"][1:]))
refused("a proof with an extra key", dict(p, extra=1))
bad_cp = cp1.replace("\u2014 pbx.example.com/tms ", "\u2014 pbx.example.com/tms A", 1)
refused("a checkpoint whose signature is damaged", p, cp=write("badsig", bad_cp))
refused("a key that did not sign it", p, key_=other_vkey)
lines = cp1.split("\n")
lines[1] = str(size1 - 1)
refused("a checkpoint with its size changed", dict(p, size=size1 - 1), cp=write("badsize", "\n".join(lines)))

# ---- consistency, and a rewritten log ----------------------------------------------------------
r.submit(d, commands("globex", 40))
rc, cp2, err = r.run("tmsctl", "--data", d, "checkpoint", "--signing-key", key)
cp2_path = write("cp2", cp2)
size2 = int(cp2.split("\n")[1])
rc, cons, err = r.run("tms-audit", "prove", "--data", d, "--from", size1, "--to", size2)
cf = write("cons", cons)
rc1, out, err1 = r.run("tms-audit", "verify-proof", "--key", vkey, "--old-checkpoint", cp1_path, "--checkpoint", cp2_path,
                       "--consistency", cf)
rc2, _, err2 = outside("consistency", "--vkey", vkey, "--old", cp1_path, "--new", cp2_path, "--proof", cf)
r.check("the second checkpoint extends the first (us and outside)", rc1 == 0 and rc2 == 0, err1 + err2)
allpairs = 0
for a in range(1, size2 + 1, 7):
    pr = json.loads(r.run("tms-audit", "prove", "--data", d, "--from", a, "--to", size2)[1])
    allpairs += pr["from"] == a and len(pr["proof"]) <= 64
r.check("consistency proofs from sampled sizes", allpairs == len(range(1, size2 + 1, 7)))
rc, out, err = r.run("tms-audit", "verify", "--data", d, "--key", vkey)
v = json.loads(out) if rc == 0 else {}
r.check("verify --key: the tree and both checkpoints hold", rc == 0 and v.get("checkpoints") == 2 and
        v.get("tree") == "match" and v.get("signatures") == "pbx.example.com/tms", out + err)
rc, out, err = r.run("tms-audit", "verify", "--data", d, "--key", other_vkey)
r.check("verify --key with a key that did not sign them: exit 1", rc == 1 and '"check":"checkpoint"' in out, out + err)

# the operator rewrites history: the same commands but record 10 changed, and re-signs with the log key
e = r.path("e")
cmds = [json.loads(l) for l in open(DEMO) if l.strip()]
cmds[9] = {"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "6666"}
r.run("tmsctl", "--data", e, "submit", stdin="".join(json.dumps(c) + "\n" for c in cmds))
r.submit(e, commands("globex", 40))
rc, cpe, _ = r.run("tmsctl", "--data", e, "checkpoint", "--signing-key", key)
rc, cons, _ = r.run("tms-audit", "prove", "--data", e, "--from", size1, "--to", int(cpe.split("\n")[1]))
rc1, _, _ = r.run("tms-audit", "verify-proof", "--key", vkey, "--old-checkpoint", cp1_path, "--checkpoint",
                  write("cpe", cpe), "--consistency", write("conse", cons))
rc2, _, _ = outside("consistency", "--vkey", vkey, "--old", cp1_path, "--new", r.path("cpe"), "--proof", r.path("conse"))
r.check("a rewritten log's checkpoint does not extend the old one (us and outside)", rc1 == 1 and rc2 == 1)
# and its log put in place of the real one: verify --key finds the stored checkpoints do not match
import shutil  # noqa: E402
for part in ("log", "tree", "proj", "snapshots"):   # and what derives from it: the operator rebuilds them too
    shutil.rmtree(os.path.join(d, part), ignore_errors=True)
    if os.path.exists(os.path.join(e, part)):
        shutil.copytree(os.path.join(e, part), os.path.join(d, part))
rc, out, err = r.run("tms-audit", "verify", "--data", d, "--key", vkey)
r.check("verify --key on a rewritten log: exit 1 on a checkpoint", rc == 1 and '"check":"checkpoint"' in out,
        out + err)

# ---- the tree file: damage is found, and the next writer rebuilds it ------------------------------
f = r.path("f")
r.submit(f, commands("tree", 50))
hashes = os.path.join(f, "tree", "hashes")
with open(hashes, "r+b") as h:
    h.seek(16 + 32 * 20 + 5)
    b = h.read(1)
    h.seek(16 + 32 * 20 + 5)
    h.write(bytes([b[0] ^ 0x40]))
rc, out, err = r.run("tms-audit", "verify", "--data", f)
r.check("verify finds a damaged tree file", rc == 1 and '"check":"tree"' in out, out + err)
rc, out, err = r.run("tms-audit", "prove", "--data", f, "--seq", 3, "--size", 51)
r.check("prove --size without a checkpoint", rc == 0 and json.loads(out)["size"] == 51, err)
rc, _, err = r.run("tms-audit", "prove", "--data", f, "--seq", 3)
r.check("prove without a checkpoint or --size: exit 2", rc == 2 and "checkpoint" in err, err)
rc, _, err = r.run("tms-audit", "prove", "--data", f, "--seq", 60, "--size", 51)
r.check("prove a seq beyond the size: exit 2", rc == 2, err)
rc, _, err = r.run("tms-audit", "prove", "--data", f, "--from", 3, "--to", 999)
r.check("prove to a size beyond the log: exit 2", rc == 2, err)
with open(os.path.join(f, "tree", "hashes"), "r+b") as fh:   # the tree's file past the log's end: a crash can
    fh.truncate(os.path.getsize(os.path.join(f, "tree", "hashes")) + 4096 * 32)   # leave one, or a forger
for args in (("--from", 3, "--to", 999), ("--seq", 3, "--size", 999)):
    rc, _, err = r.run("tms-audit", "prove", "--data", f, *args)
    r.check("prove past the log's end, the tree's file longer: exit 2 (%s)" % (args,), rc == 2 and "log" in err, err)
rc, out, err = r.run("tms-audit", "prove", "--data", f, "--seq", 3, "--size", 51)
r.check("prove --size within the log, the tree's file longer", rc == 0 and json.loads(out)["size"] == 51, err)

# ---- never two inconsistent checkpoints (from an independent review) ---------------------------------
g = r.path("g")
r.submit(g, commands("fork", 15))
rc, cpg1, _ = r.run("tmsctl", "--data", g, "checkpoint", "--signing-key", key)
with open(os.path.join(g, "tree", "hashes"), "r+b") as h:   # a middle hash of the tree damaged on disk
    h.seek(16 + 30 * 32 + 3)
    b = h.read(1)
    h.seek(16 + 30 * 32 + 3)
    h.write(bytes([b[0] ^ 1]))
r.submit(g, commands("fork2", 20))   # the next writer's open compares the tree with the latest checkpoint
rc, cpg2, err = r.run("tmsctl", "--data", g, "checkpoint", "--signing-key", key)
rc2, cons, _ = r.run("tms-audit", "prove", "--data", g, "--from", 16, "--to", int(cpg2.split("\n")[1]))
rc3, _, err3 = r.run("tms-audit", "verify-proof", "--key", vkey, "--old-checkpoint", write("g1", cpg1), "--checkpoint",
                     write("g2", cpg2), "--consistency", write("gc", cons))
r.check("a damaged tree is rebuilt at open: the next checkpoint extends the last", rc == 0 and rc3 == 0, err + err3)
rc, out, err = r.run("tms-audit", "verify", "--data", g, "--key", vkey)
r.check("... and verify --key holds", rc == 0, out + err)
# the log cut below a signed size, the loss accepted: nothing is signed again
seg = sorted(os.listdir(os.path.join(g, "log")))[-1]
segpath = os.path.join(g, "log", seg)
os.truncate(segpath, os.path.getsize(segpath) - 300)
rc, _, err = r.run("tmsctl", "--data", g, "accept-loss", "--reason", "test: a cut below a signed checkpoint")
r.submit(g, commands("after", 1))
rc, out, err = r.run("tmsctl", "--data", g, "checkpoint", "--signing-key", key)
r.check("a log cut below its latest signed checkpoint: tmsctl checkpoint refuses (exit 2), signs nothing",
        rc == 2 and "refused" in err and out == "", out + err)
r.check("... the latest kept checkpoint is still the last signed one",
        r.run("tms-audit", "checkpoint", "--data", g)[1] == cpg2)

# ---- the checkpoints file: a zero-filled torn tail is a tail, not damage ---------------------------------
with open(os.path.join(d, "checkpoints"), "ab") as f:
    f.write(b"\0" * 8)
rc, out, err = r.run("tms-audit", "checkpoint", "--data", d)
r.check("a zero-filled torn tail: the latest whole checkpoint is printed", rc == 0 and out.count("\n") >= 5, err)
os.truncate(os.path.join(d, "checkpoints"), os.path.getsize(os.path.join(d, "checkpoints")) - 8)
with open(os.path.join(d, "checkpoints"), "ab") as f:   # an append cut short: its length says more than is there
    f.write(b"\x05\0\0\0junk")
rc, out, err = r.run("tms-audit", "checkpoint", "--data", d)
r.check("a torn final entry: still the latest whole one", rc == 0, err)

# ---- a witness's key is never a log's key ---------------------------------------------------------------------
rc, _, err = r.run("tms-audit", "verify-proof", "--key", wvkey.strip(), "--checkpoint", cp1_path, "--inclusion",
                   r.path("p5"))
r.check("verify-proof --key with a witness's key: exit 2", rc == 2 and "witness" in err, err)
rc, _, err = r.run("tms-audit", "verify", "--data", f, "--key", wvkey.strip())
r.check("verify --key with a witness's key: exit 2", rc == 2, err)

r.finish()
