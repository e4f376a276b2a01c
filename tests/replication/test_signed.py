#!/usr/bin/env python3
"""test_signed.py -- signed replication (SPEC section 11, "Replicas"; issue 17
item 6) and NATS credentials and TLS, with a real nats-server (-js) started
and stopped here on loopback:

- a leader with --signing-key puts a checkpoint (Tms-Checkpoint header: a
  C2SP signed note of the tree up to that seq) on the last message of each
  batch: checked here with nothing but the vkey (Python's cryptography) and
  a reference Merkle tree; published again, the same header;
- a replica with --leader-key (a vkey, or a file holding one) follows, and
  status says verified_seq = the leader's last seq; its log verifies
  (tms-audit verify --key) and it keeps the leader's checkpoint;
- a FORGED record, built as an attacker would (a copy of the log, a
  SetPermissions granting calls.international appended to it: it checks and
  chains), published as the next seq: without a checkpoint, with one signed
  by another key (of the same name), with the leader's header of the
  previous size replayed, with a genuine leader checkpoint of that size but
  another history's root: never applied nor served (the check keeps
  answering deny), replication stopped loudly naming the seq; a replica
  without --leader-key applies it (the forgery is real);
- nats-server with users and permissions (docs/replication.md's): tmsd
  without --nats-user/--nats-password-file is refused, with them it works;
  the replica's user cannot publish to the stream; an unreadable password
  file is a start error (exit 2); a token file and an NKey seed work too;
- nats-server with TLS and client certificates (openssl makes them here):
  tmsd with --nats-ca/--nats-cert/--nats-key works, without the client
  certificate it is refused.

usage: test_signed.py BIN_DIR"""
import base64, json, os, shutil, signal, struct, subprocess, sys, tempfile, time, traceback
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, os.path.join(HERE, "..", "trust"))
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
import reftree
import tooltest as tt
import test_publish as tp
from test_publish import check, free_port, wait_for, ext, BIN, TMSD, TMSCTL
from test_replica import Node, verify, tp_ctl

AUDIT, FORGE = os.path.join(BIN, "tms-audit"), os.path.join(BIN, "stream_forge")
NAME = "pbx.example.com/tms"
GRANT = ('{"cmd":"SetPermissions","tenant":"acme","actor":"admin","kind":"extension","id":"x0",'
         '"enable":["calls.international"],"disable":[]}')


# ---- keys and notes, from the public formats only (Go's sumdb/note, C2SP) ----

def keygen(d, fname, name=NAME):
    out = os.path.join(d, fname)
    r = subprocess.run([AUDIT, "keygen", "--name", name, "--out", out], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return out, r.stdout.strip()


def sign_note(skey_path, size, root):
    """What an attacker with that private key publishes: base64 of a signed checkpoint."""
    _, _, name, keyid, b = open(skey_path).read().strip().split("+", 4)   # base64 may hold '+' 
    text = "%s\n%d\n%s\n" % (name, size, base64.b64encode(root).decode())
    sig = Ed25519PrivateKey.from_private_bytes(base64.b64decode(b)[1:]).sign(text.encode())
    note = text + "\n" + "\u2014 %s %s\n" % (name, base64.b64encode(bytes.fromhex(keyid) + sig).decode())
    return base64.b64encode(note.encode()).decode()


def open_header(value, vkey):
    """(origin, size, root) of a Tms-Checkpoint header signed by vkey; AssertionError otherwise."""
    note = base64.b64decode(value, validate=True).decode()
    text, sigs = note.split("\n\n", 1)
    text += "\n"
    name, keyid, b = vkey.split("+", 2)
    pk = Ed25519PublicKey.from_public_bytes(base64.b64decode(b)[1:])
    ok = False
    for line in sigs.splitlines():
        who, raw = line[2:].rsplit(" ", 1)
        raw = base64.b64decode(raw)
        if line.startswith("\u2014 ") and who == name and raw[:4] == bytes.fromhex(keyid):
            pk.verify(raw[4:], text.encode())   # raises when it does not verify
            ok = True
    assert ok, "no signature by %s in %r" % (name, note)
    origin, size, root = text.splitlines()
    return origin, int(size), base64.b64decode(root)


def payloads(data):
    out = {}
    for seg in tt.segments(data):
        for fr in tt.read_frames(seg)[1]:
            out[fr.seq] = fr
    return [out[s].payload for s in sorted(out)], out


def header_of(url, stream, seq):
    r = subprocess.run([FORGE, "header", url, stream, str(seq)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return None if r.stdout.strip() == "-" else r.stdout.strip()


def forge_pub(url, stream, frame, header=None):
    r = subprocess.run([FORGE, "pub", url, stream + ".log", frame.hex()] + ([header] if header else []),
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout.strip(), r.stderr


def node(d, name, nats, role, *extra):
    n = Node(d, name, nats, role)
    n.start_extra = list(extra)
    return n


def grant_says(n):
    rc, out, err = tp_ctl("--connect", n.sock, "check", "acme", "extension", "x0", "calls.international")
    return out.strip() or err.strip()


def fill(leader, n=100, batch=20):
    c = leader.conn()
    c.call("submit", cmds=[{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
    for b in range(0, n, batch):
        c.call("submit", cmds=[ext(i) for i in range(b, b + batch)])
    c.close()
    last = leader.status()["last_seq"]
    check("the leader publishes every record", wait_for(lambda: leader.status()["publish"]["published"] == last, 30),
          leader.status())
    return last


def republish(leader, stream, skey, last):
    """The leader, restarted on another stream, publishes its log there (one batch)."""
    leader.start_extra = ["--stream", stream, "--signing-key", skey]
    leader.start()
    check("published to %s" % stream, wait_for(lambda: leader.status()["publish"]["published"] == last, 30),
          leader.status())
    check("leader stops", leader.stop() == 0)


def verified(rep, seq):
    return wait_for(lambda: rep.status().get("verified_seq") == seq and rep.status()["last_seq"] == seq, 30)


def stopped_at(what, rep, d, seq, words, last):
    st = wait_for(lambda: rep.status()["replica"]["stopped"] and rep.status()["replica"], 20)
    check("%s: replication stops naming seq %d" % (what, seq), st and "seq %d" % seq in st["error"] and
          words in st["error"], rep.status())
    s = rep.status()
    check("%s: nothing applied, verified_seq stays" % what, s["last_seq"] == last and s["verified_seq"] == last, s)
    check("%s: the forged grant is not served" % what, grant_says(rep) == "deny", grant_says(rep))
    log = open(os.path.join(d, rep.name + ".log")).read()
    check("%s: an error line names the seq" % what, "replication stopped" in log and "seq %d" % seq in log, log[-600:])
    rc, out, err = tp_ctl("--connect", rep.sock, "show", "acme", "extension", "x1")
    check("%s: lookups go on" % what, rc == 0 and '"x1"' in out, (rc, out, err))


def test_signed_replication(d):
    nats = tp.Nats(d)
    nats.start()
    skey, vkey = keygen(d, "leader.key")
    askey, _ = keygen(d, "attacker.key")   # another key of the same name
    vkey_file = os.path.join(d, "leader.vkey")
    with open(vkey_file, "w") as f:
        f.write(vkey + "\n")
    leader = node(d, "leader", nats, "--publish", "--stream", "s1", "--signing-key", skey).start()
    reps = []
    try:
        last = fill(leader)
        h = header_of(nats.url, "s1", last)
        pl, _ = payloads(leader.data)
        origin, size, root = open_header(h, vkey)
        check("the last message carries the leader's checkpoint of the log up to it",
              origin == NAME and size == last and root == reftree.mth(pl), (origin, size, last))
        with_header = [s for s in range(1, last + 1) if header_of(nats.url, "s1", s)]
        check("a checkpoint per batch, on its last message", 2 <= len(with_header) <= last and
              all(open_header(header_of(nats.url, "s1", s), vkey)[1] == s for s in with_header), with_header)
        r1 = node(d, "r1", nats, "--replica-of", "--stream", "s1", "--leader-key", vkey).start()
        r0 = node(d, "r0", nats, "--replica-of", "--stream", "s1").start()
        reps += [r1, r0]
        check("a replica with --leader-key follows: verified_seq = the leader's last seq", verified(r1, last),
              r1.status())
        check("... status names the leader key", r1.status().get("leader_key") == NAME, r1.status())
        check("a replica without --leader-key follows as before", wait_for(lambda: r0.status()["last_seq"] == last)
              and "verified_seq" not in r0.status(), r0.status())
        check("leader stops", leader.stop() == 0)
        for s in ("s2", "s3", "s4"):
            republish(leader, s, skey, last)
        check("published again (one batch), the same header for the same size",
              all(header_of(nats.url, s, last) == h for s in ("s2", "s3", "s4")))
        # the attacker: a copy of the log, a grant appended to it (it checks, it chains)
        atk = os.path.join(d, "atk")
        shutil.copytree(leader.data, atk, ignore=shutil.ignore_patterns("*.sock"))
        r = subprocess.run([TMSCTL, "--data", atk, "submit"], input=GRANT + "\n" + json_ext("evil") + "\n",
                           capture_output=True, text=True, timeout=60)
        check("the attacker's copy accepts the grant", r.returncode == 0 and r.stdout.count("accepted") == 2,
              (r.stdout, r.stderr))
        apl, afr = payloads(atk)
        f1, f2 = afr[last + 1].encode(), afr[last + 2].encode()
        root1, root2 = reftree.mth(apl[:last + 1]), reftree.mth(apl[:last + 2])
        check("the forged record chains to the leader's log",
              afr[last + 1].hash == tt.chain_hash(afr[last].hash, last + 1, afr[last + 1].payload))
        # 1. no checkpoint: it waits, unapplied; the replica without a key applies it
        rc, out, err = forge_pub(nats.url, "s1", f1)
        check("the forged record is in the stream as seq %d" % (last + 1), rc == 0 and out == str(last + 1), err)
        check("a replica without --leader-key applies the forgery and serves the grant",
              wait_for(lambda: grant_says(r0) == "allow", 20), (grant_says(r0), r0.status()))
        check("... the replica with --leader-key received it", wait_for(
            lambda: r1.status()["replica"]["received"] == last + 1, 20), r1.status())
        time.sleep(1)
        s = r1.status()
        check("... and applies nothing a checkpoint does not cover", s["last_seq"] == last and
              s["verified_seq"] == last and not s["replica"]["stopped"], s)
        check("... the forged grant is not served", grant_says(r1) == "deny", grant_says(r1))
        # 2. then a checkpoint of the forged tree signed by another key (of the same name)
        rc, out, err = forge_pub(nats.url, "s1", f2, sign_note(askey, last + 2, root2))
        check("forged seq %d published" % (last + 2), rc == 0, err)
        stopped_at("another key", r1, d, last + 2, "does not verify with the leader key", last)
        # 3. the leader's header of the previous size, replayed on the forged record
        r2 = node(d, "r2", nats, "--replica-of", "--stream", "s2", "--leader-key", vkey_file).start()
        reps.append(r2)
        check("a replica with --leader-key FILE follows", verified(r2, last), r2.status())
        rc, out, err = forge_pub(nats.url, "s2", f1, h)
        stopped_at("an old header replayed", r2, d, last + 1, "of size %d" % last, last)
        # 4. a genuine checkpoint of size last + 1, of the leader's own next record: another root
        r3 = node(d, "r3", nats, "--replica-of", "--stream", "s3", "--leader-key", vkey).start()
        reps.append(r3)
        check("r3 follows", verified(r3, last), r3.status())
        leader.start_extra = ["--stream", "s4", "--signing-key", skey]
        leader.start()
        c = leader.conn()
        c.call("submit", cmds=[ext(500)])
        c.close()
        check("the leader's next record published", wait_for(
            lambda: leader.status()["publish"]["published"] == last + 1, 30), leader.status())
        genuine = header_of(nats.url, "s4", last + 1)
        check("... with its checkpoint", genuine and open_header(genuine, vkey)[1] == last + 1)
        rc, out, err = forge_pub(nats.url, "s3", f1, genuine)
        stopped_at("a genuine checkpoint of another root", r3, d, last + 1, "root", last)
        # 5. records that never get a checkpoint: held up to the bound (65536), then a loud stop
        leader.stop()
        r4 = node(d, "r4", nats, "--replica-of", "--stream", "s4", "--leader-key", vkey).start()
        reps.append(r4)
        check("r4 follows s4", verified(r4, last + 1), r4.status())
        junk = f1[:8] + bytes(8) + f1[16:]   # seq 0: the follower queues it (the engine would refuse it)
        r = subprocess.run([FORGE, "flood", nats.url, "s4.log", junk.hex(), "65536"], capture_output=True,
                           text=True, timeout=120)
        check("65536 records without a checkpoint published", r.returncode == 0, r.stderr)
        st = wait_for(lambda: r4.status()["replica"]["stopped"] and r4.status()["replica"], 60)
        check("past the bound, replication stops naming the seqs", st and "seqs %d to %d" % (last + 2, last + 65537)
              in st["error"] and "no checkpoint" in st["error"], r4.status())
        check("... having applied none of them", r4.status()["last_seq"] == last + 1, r4.status())
        check("r4 stops with 0", r4.stop() == 0)
        leader.start()
        # the replicas' logs are the leader's, and they keep the leader's checkpoint
        lead_v = verify(leader.data)
        check("leader stops", leader.stop() == 0)
        for rep in (r1, r2, r3):
            check("%s stops with 0" % rep.name, rep.stop() == 0)
            r = subprocess.run([AUDIT, "verify", "--data", rep.data, "--key", vkey], capture_output=True, text=True,
                               timeout=120)
            check("%s: tms-audit verify --key passes" % rep.name, r.returncode == 0 and '"records":%d' % last in r.stdout,
                  (r.stdout, r.stderr))
            r = subprocess.run([AUDIT, "checkpoint", "--data", rep.data], capture_output=True, text=True, timeout=30)
            check("%s keeps the leader's checkpoint" % rep.name, r.returncode == 0 and
                  open_header(base64.b64encode(r.stdout.encode()).decode(), vkey)[1] == last, (r.stdout, r.stderr))
        check("r0 stops", r0.stop() == 0)
        rv = verify(r0.data)
        check("the forgery is well-formed: r0's log (with it) verifies by its chain alone",
              rv[0] == 0 and rv[1]["records"] == last + 2, rv)
    finally:
        for n in [leader] + reps:
            n.kill()
        nats.kill()


def json_ext(i):
    return '{"cmd":"CreateExtension","tenant":"acme","actor":"admin","id":"%s"}' % i


# ---- NATS credentials and TLS ---------------------------------------------------------------

# docs/replication.md's permissions: only the leader publishes to the stream's subject
PERMS_LEADER = ('permissions: { publish: { allow: ["tms.log", "$JS.API.INFO", "$JS.API.STREAM.INFO.tms", '
                '"$JS.API.STREAM.CREATE.tms", "$JS.API.STREAM.MSG.GET.tms"] }, subscribe: { allow: ["_INBOX.>"] } }')
PERMS_REPLICA = ('permissions: { publish: { allow: ["$JS.API.INFO", "$JS.API.STREAM.INFO.tms", '
                 '"$JS.API.CONSUMER.CREATE.tms", "$JS.API.CONSUMER.CREATE.tms.>", "$JS.API.CONSUMER.DELETE.tms.>", '
                 '"$JS.FC.tms.>"] }, subscribe: { allow: ["_INBOX.>"] } }')


class ConfNats(tp.Nats):
    """nats-server -js with a configuration file (authorization, tls)."""

    def __init__(self, d, body, scheme="nats"):
        super().__init__(d)
        self.conf = os.path.join(d, "nats.conf")
        with open(self.conf, "w") as f:
            f.write('listen: "127.0.0.1:%d"\njetstream { store_dir: "%s" }\n%s\n' % (self.port, self.dir, body))
        self.log = os.path.join(d, "nats.log")

    def start(self):
        self.p = subprocess.Popen(["nats-server", "-c", self.conf], stdout=open(self.log, "ab"),
                                  stderr=subprocess.STDOUT)
        assert wait_for(lambda: self._open(), 10), open(self.log).read()[-800:]


def secret(d, name, value):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(value + "\n")
    os.chmod(p, 0o600)
    return p


def refused(n, key):
    """tmsd runs but NATS does not let it in: not connected, an error said, nothing moved."""
    st = wait_for(lambda: (n.status()[key]["error"] and not n.status()[key]["connected"]) and n.status()[key], 15)
    return st


def start_fails(d, *args):
    r = subprocess.run([TMSD, "--data", os.path.join(d, "bad"), "--socket", ""] + list(args), capture_output=True,
                       text=True, timeout=30)
    return r.returncode, r.stderr


def test_user_and_password(d):
    users = ('authorization { users = [\n { user: leader, password: "lead-pw-1", %s }\n'
             ' { user: replica, password: "repl-pw-2", %s }\n] }' % (PERMS_LEADER, PERMS_REPLICA))
    nats = ConfNats(d, users)
    nats.start()
    skey, vkey = keygen(d, "leader.key")
    lpw, rpw = secret(d, "leader.pw", "lead-pw-1"), secret(d, "replica.pw", "repl-pw-2")
    leader = node(d, "leader", nats, "--publish", "--signing-key", skey).start()
    nodes = [leader]
    try:
        c = leader.conn()
        c.call("submit", cmds=[{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}])
        c.close()
        st = refused(leader, "publish")
        check("without --nats-user the leader is refused (and keeps accepting)", st and st["published"] == 0, st)
        check("leader stops", leader.stop() == 0)
        leader.start_extra += ["--nats-user", "leader", "--nats-password-file", lpw]
        leader.start()
        last = fill(leader, 40)
        rep = node(d, "rep", nats, "--replica-of", "--leader-key", vkey, "--nats-user", "replica",
                   "--nats-password-file", rpw).start()
        nodes.append(rep)
        check("a replica with its user follows, verified", verified(rep, last), rep.status())
        anon = node(d, "anon", nats, "--replica-of").start()
        nodes.append(anon)
        st = refused(anon, "replica")
        check("a replica without credentials is refused", st and anon.status()["last_seq"] == 0, st)
        rc, out, err = forge_pub("nats://replica:repl-pw-2@127.0.0.1:%d" % nats.port, "tms", b"\0" * 80)
        check("the replica's user may not publish to the stream", rc != 0, (rc, out, err))
        check("... the stream is the leader's", rep.status()["last_seq"] == last and
              not rep.status()["replica"]["stopped"], rep.status())
        nats.kill()   # reconnecting and subscribing again need nothing more than those permissions
        c = leader.conn()
        c.call("submit", cmds=[ext(i) for i in range(100, 110)])
        c.close()
        nats.start()
        last = leader.status()["last_seq"]
        check("after NATS restarts, published and followed again", wait_for(
            lambda: leader.status()["publish"]["published"] == last, 30) and verified(rep, last), rep.status())
        violations = [l for l in open(nats.log).read().splitlines() if "Violation" in l]
        check("the documented permissions are enough: the only violation is the replica's publish",
              len(violations) == 1 and 'User "replica", Subject "tms.log"' in violations[0], violations)
        rc, err = start_fails(d, "--publish", nats.url, "--nats-user", "leader", "--nats-password-file",
                              os.path.join(d, "no-such.pw"))
        check("an unreadable password file is a start error (exit 2) naming it", rc == 2 and "no-such.pw" in err,
              (rc, err))
        rc, err = start_fails(d, "--replica-of", nats.url, "--leader-key", "not-a-key")
        check("a --leader-key that is neither a key nor a file is a start error", rc == 2 and "--leader-key" in err,
              (rc, err))
        for n in nodes:
            check("%s stops with 0" % n.name, n.stop() == 0)
    finally:
        for n in nodes:
            n.kill()
        nats.kill()


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def nkey_user():
    """A user NKey (github.com/nats-io/nkeys): its seed (SU...) and public key (U...)."""
    seed = os.urandom(32)
    pk = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def enc(raw):
        return base64.b32encode(raw + struct.pack("<H", crc16(raw))).decode().rstrip("=")
    return enc(bytes([18 << 3 | (20 << 3) >> 5, ((20 << 3) & 31) << 3]) + seed), enc(bytes([20 << 3]) + pk)


def test_token_and_nkey(d):
    seed, pub = nkey_user()
    for what, body, args in (
            ("a token file", 'authorization { token: "tok-3-secret" }',
             ["--nats-token-file", secret(d, "tok", "tok-3-secret")]),
            ("an NKey seed", 'authorization { users = [ { nkey: %s } ] }' % pub,
             ["--nats-nkey", secret(d, "user.nk", seed)])):
        sub = os.path.join(d, what.replace(" ", "-"))
        os.mkdir(sub)
        nats = ConfNats(sub, body)
        nats.start()
        leader = node(sub, "leader", nats, "--publish").start()
        try:
            st = refused(leader, "publish")
            check("%s: refused without it" % what, st, leader.status())
            check("leader stops", leader.stop() == 0)
            leader.start_extra = args
            leader.start()
            fill(leader, 10)
            check("leader stops", leader.stop() == 0)
        finally:
            leader.kill()
            nats.kill()


def openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (args, r.stderr)


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, with openssl."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=tms test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for who, ext_ in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        with open(os.path.join(d, who + ".ext"), "w") as f:
            f.write(ext_)
        openssl("req", *ec, "-keyout", who + ".key", "-out", who + ".csr", "-subj", "/CN=tms " + who, cwd=d)
        openssl("x509", "-req", "-in", who + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", who + ".pem", "-days", "2", "-extfile", who + ".ext", cwd=d)
    return {k: os.path.join(d, k) for k in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


def test_tls(d):
    if not shutil.which("openssl"):
        check("openssl is installed (apt-get install -y openssl) for the TLS test", False)
        return
    c = make_certs(d)
    nats = ConfNats(d, 'tls { cert_file: "%s", key_file: "%s", ca_file: "%s", verify: true, timeout: 2 }' %
                    (c["server.pem"], c["server.key"], c["ca.pem"]))
    nats.start()
    skey, vkey = keygen(d, "leader.key")
    leader = node(d, "leader", nats, "--publish", "--signing-key", skey, "--nats-ca", c["ca.pem"]).start()
    nodes = [leader]
    try:
        st = refused(leader, "publish")
        check("TLS without the client certificate: refused", st, leader.status())
        check("leader stops", leader.stop() == 0)
        leader.start_extra += ["--nats-cert", c["client.pem"], "--nats-key", c["client.key"]]
        leader.start()
        last = fill(leader, 30)
        rep = node(d, "rep", nats, "--replica-of", "--leader-key", vkey, "--nats-ca", c["ca.pem"], "--nats-cert",
                   c["client.pem"], "--nats-key", c["client.key"]).start()
        nodes.append(rep)
        check("over mutual TLS a replica follows, verified", verified(rep, last), rep.status())
        plain = node(d, "plain", nats, "--replica-of", "--nats-cert", c["client.pem"], "--nats-key",
                     c["client.key"]).start()   # TLS, but the server's CA is not trusted
        nodes.append(plain)
        check("a server certificate no trusted CA signed: refused", refused(plain, "replica"), plain.status())
        rc, err = start_fails(d, "--publish", nats.url, "--nats-ca", os.path.join(d, "none.pem"))
        check("an unreadable CA file is a start error (exit 2)", rc == 2 and "none.pem" in err, (rc, err))
        for n in nodes:
            check("%s stops with 0" % n.name, n.stop() == 0)
    finally:
        for n in nodes:
            n.kill()
        nats.kill()


def test_leader_never_forks(d):
    """A leader whose log was cut below a checkpoint its key signed (a loss accepted) must not sign batch
    headers for the new history (found by a review: the publisher signed without the consistency check
    tmsd's checkpointer makes)."""
    nats = tp.Nats(d)
    nats.start()
    skey, vkey = keygen(d, "leader.key")
    data = os.path.join(d, "leader")
    ctl = os.path.join(BIN, "tmsctl")
    cmds = [{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"}] + [ext(i) for i in range(30)]
    subprocess.run([ctl, "--data", data, "submit"], input="".join(json.dumps(c) + "\n" for c in cmds), text=True,
                   capture_output=True, timeout=60)
    subprocess.run([ctl, "--data", data, "checkpoint", "--signing-key", skey], capture_output=True, timeout=60)
    seg = os.path.join(data, "log", sorted(os.listdir(os.path.join(data, "log")))[-1])
    os.truncate(seg, os.path.getsize(seg) - 600)
    subprocess.run([ctl, "--data", data, "accept-loss", "--reason", "test"], capture_output=True, timeout=60)
    leader = node(d, "leader", nats, "--publish", "--stream", "fk", "--signing-key", skey).start()
    try:
        c = leader.conn()
        c.call("submit", cmds=[ext(i) for i in range(100, 105)])
        c.close()
        err = ""
        for _ in range(100):
            err = (leader.status().get("publish") or {}).get("error") or ""
            if "not signing" in err:
                break
            time.sleep(0.05)
        check("a leader cut below its signed checkpoint signs no batch header (publish.error says why)",
              "not signing" in err, leader.status().get("publish"))
        last = leader.status()["last_seq"]

        def signed_at(s):
            try:
                return header_of(nats.url, "fk", s)
            except AssertionError:   # not in the stream: nothing was published
                return None
        check("... and nothing signed reached the stream", not any(signed_at(s) for s in range(1, last + 1)))
    finally:
        leader.stop()
        nats.kill()


def main():
    if not shutil.which("nats-server"):
        print("FAIL nats-server is not installed (scripts/bootstrap installs it)")
        sys.exit(1)
    for t in (test_signed_replication, test_user_and_password, test_token_and_nkey, test_tls,
              test_leader_never_forks):
        d = tempfile.mkdtemp(prefix="tms-signed-")
        try:
            t(d)
        except Exception as e:
            check(t.__name__, False, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=-3)))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    print("%d passed, %d failed" % (tp.passed, tp.failed))
    sys.exit(0 if tp.failed == 0 and tp.passed > 0 else 1)


if __name__ == "__main__":
    main()
