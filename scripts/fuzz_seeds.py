#!/usr/bin/env python3
"""fuzz_seeds.py -- seed corpora for scripts/fuzz, from the conformance
scenarios (commands; submit frames of them; whole scenarios for the rules)
and a real log directory (record payloads; frames; whole segment files);
and for the tlog targets (note, proof) from Go's sumdb/note test vector,
checkpoints, and RFC 9162 proofs of small trees computed here; and for the
trust targets (proof_json, witness, checkpoint, receipt) from proofs, witness request
bodies and checkpoint notes made here (signed by the targets' fixed keys with
an Ed25519 of RFC 8032 written here) and, given a bin directory holding
tmsctl and tms-audit, by the tools from a real log of DEMO_JSONL.
usage: fuzz_seeds.py SCENARIO_DIR OUR_SCENARIO_DIR DEMO_JSONL LOG_DIR OUT_DIR
       fuzz_seeds.py --tlog OUT_DIR      (the note and proof corpora only)
       fuzz_seeds.py --trust OUT_DIR [BIN_DIR DEMO_JSONL]   (proof_json, witness, checkpoint, receipt)"""
import base64, glob, hashlib, json, os, shutil, struct, subprocess, sys, tempfile

# ---- tlog: fuzz_note and fuzz_proof (input layouts: see tests/fuzz/fuzz_note.c, fuzz_proof.c) ----

GO_VKEY = b"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = b"PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
           "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n").encode()


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n):   # the largest power of two < n
    k = 1
    while 2 * k < n:
        k *= 2
    return k


def mth(ls):   # RFC 9162 2.1.1
    if len(ls) == 1:
        return ls[0]
    k = split(len(ls))
    return node_hash(mth(ls[:k]), mth(ls[k:]))


def audit_path(m, ls):   # RFC 9162 2.1.3.1 PATH, leaf side first
    if len(ls) == 1:
        return []
    k = split(len(ls))
    if m < k:
        return audit_path(m, ls[:k]) + [mth(ls[k:])]
    return audit_path(m - k, ls[k:]) + [mth(ls[:k])]


def subproof(m, ls, b):   # RFC 9162 2.1.4.1
    if m == len(ls):
        return [] if b else [mth(ls)]
    k = split(len(ls))
    if m <= k:
        return subproof(m, ls[:k], b) + [mth(ls[k:])]
    return subproof(m - k, ls[k:], False) + [mth(ls[:k])]


def tlog_seeds(out):
    for t in ("note", "proof"):
        os.makedirs(os.path.join(out, t), exist_ok=True)

    def put_t(kind, name, data):
        with open(os.path.join(out, kind, name), "wb") as f:
            f.write(data)

    # fuzz_note: flags byte, aux byte, then the bytes (see fuzz_note.c)
    root = hashlib.sha256(b"fuzz checkpoint root").digest()
    b64root = base64.b64encode(root)
    cp = b"example.com/log\n20852163\n" + b64root + b"\n"
    other = "\u2014 other.example/log ".encode() + base64.b64encode(b"\x12\x34\x56\x78" + bytes(64)) + b"\n"
    notes = {
        "go_note": b"\x00\x00" + GO_NOTE,                         # opens, verified by PeterNeumann
        "go_note_nokeys": b"\x10\x00" + GO_NOTE,                  # opens, nothing known
        "go_note_more": b"\x00\x00" + GO_NOTE + other,             # and an unknown signer
        "go_vkey": b"\x00\x00" + GO_VKEY,
        "go_vkey_nl": b"\x00\x00" + GO_VKEY + b"\n",
        "go_skey": b"\x00\x00" + GO_SKEY,
        "go_text": b"\x01\x00" + GO_TEXT.encode(),                # signed by the log key
        "cp_raw": b"\x00\x00" + cp,                               # a checkpoint body, parsed directly
        "cp_log": b"\x01\x00" + cp,
        "cp_both": b"\x03\x00" + cp,                              # log and witness (time 0)
        "cp_both_t": b"\x23\x00" + cp,                            # witness at 1679315147
        "cp_both_max": b"\x43\x00" + cp,                          # witness at 2^63 - 1
        "cp_ext": b"\x03\x00" + cp + b"extension line\n",
        "cp_tail": b"\x03\x00" + cp + b"\x00" + other,            # our lines, then an unknown one
        "cp_tail_first": b"\x07\x00" + cp + b"\x00" + other,
        "cp_bad": b"\x0b\x29" + cp,                               # the log's signature damaged
        "cp_zero": b"\x01\x00" + b"o\n0\n" + base64.b64encode(hashlib.sha256(b"").digest()) + b"\n",
        "b64_root": b"\x04\x00" + b64root,                         # flags % 3 == 1: decodes to 32 bytes
        "name": b"\x00\x00" + "example.com/\u00e9\u4e2d\U0001f600".encode(),
    }
    for name, data in notes.items():
        put_t("note", name, data)

    # fuzz_proof: u64 index, u64 size, u64 old, leaf, root, old root, proof hashes
    def proof_seed(index, size, old, leaf, rt, old_root, proof):
        return struct.pack("<QQQ", index, size, old) + leaf + rt + old_root + b"".join(proof)

    leaves = [leaf_hash(b"seed %d" % i) for i in range(64)]
    z = bytes(32)
    i = 0
    for size in (1, 2, 3, 7, 8, 13, 33, 64):
        ls = leaves[:size]
        rt = mth(ls)
        for n in sorted({0, size // 2, size - 1}):
            put_t("proof", "incl%03d" % i, proof_seed(n, size, 0, ls[n], rt, z, audit_path(n, ls)))
            i += 1
        for m in sorted({1, size // 2 or 1, size - 1 or 1, size}):
            put_t("proof", "cons%03d" % i, proof_seed(0, size, m, z, rt, mth(ls[:m]), subproof(m, ls, True)))
            i += 1
    big = 2**64 - 1
    put_t("proof", "max", proof_seed(big - 1, big, big - 1, z, z, z, [z] * 64))
    put_t("proof", "pow63", proof_seed(2**62, 2**63, 2**62, z, z, z, [z] * 63))
    put_t("proof", "long", proof_seed(5, 9, 4, z, z, z, [bytes([j]) * 32 for j in range(70)]))
    return {t: len(os.listdir(os.path.join(out, t))) for t in ("note", "proof")}


# ---- trust: fuzz_proof_json, fuzz_witness, fuzz_checkpoint (layouts: see their comments) ----

# Ed25519 (RFC 8032 section 6), enough to sign with the targets' fixed keys (tests/fuzz/fuzz_trust.h).
ED_P = 2**255 - 19
ED_Q = 2**252 + 27742317777372353535851937790883648493
ED_D = -121665 * pow(121666, ED_P - 2, ED_P) % ED_P


def _ed_add(a, b):
    x = (a[1] - a[0]) * (b[1] - b[0]) % ED_P
    y = (a[1] + a[0]) * (b[1] + b[0]) % ED_P
    c = 2 * a[3] * b[3] * ED_D % ED_P
    d = 2 * a[2] * b[2] % ED_P
    e, f, g, h = y - x, d - c, d + c, y + x
    return (e * f % ED_P, g * h % ED_P, f * g % ED_P, e * h % ED_P)


def _ed_mul(s, pt):
    r = (0, 1, 1, 0)
    while s:
        if s & 1:
            r = _ed_add(r, pt)
        pt = _ed_add(pt, pt)
        s >>= 1
    return r


def _ed_base():
    y = 4 * pow(5, ED_P - 2, ED_P) % ED_P
    x2 = (y * y - 1) * pow(ED_D * y * y + 1, ED_P - 2, ED_P) % ED_P
    x = pow(x2, (ED_P + 3) // 8, ED_P)
    if (x * x - x2) % ED_P:
        x = x * pow(2, (ED_P - 1) // 4, ED_P) % ED_P
    if x & 1:
        x = ED_P - x
    return (x, y, 1, x * y % ED_P)


ED_G = _ed_base()


def _ed_enc(pt):
    zi = pow(pt[2], ED_P - 2, ED_P)
    x, y = pt[0] * zi % ED_P, pt[1] * zi % ED_P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _ed_expand(seed):
    h = hashlib.sha512(seed).digest()
    return int.from_bytes(h[:32], "little") & ((1 << 254) - 8) | 1 << 254, h[32:]


def ed25519_public(seed):
    return _ed_enc(_ed_mul(_ed_expand(seed)[0], ED_G))


def ed25519_sign(seed, msg):
    a, prefix = _ed_expand(seed)
    pk = _ed_enc(_ed_mul(a, ED_G))
    r = int.from_bytes(hashlib.sha512(prefix + msg).digest(), "little") % ED_Q
    rb = _ed_enc(_ed_mul(r, ED_G))
    k = int.from_bytes(hashlib.sha512(rb + pk + msg).digest(), "little") % ED_Q
    return rb + ((r + k * a) % ED_Q).to_bytes(32, "little")


class NoteKey:
    """A C2SP note key from a label (seed = SHA-256(label)), as fuzz_trust.h's make_key."""

    def __init__(self, name, ktype, label):
        self.name, self.type = name.encode(), ktype
        self.seed = hashlib.sha256(label.encode()).digest()
        self.pk = ed25519_public(self.seed)
        self.id = hashlib.sha256(self.name + b"\n" + bytes([ktype]) + self.pk).digest()[:4]
        self.vkey = self.name + b"+" + self.id.hex().encode() + b"+" + base64.b64encode(bytes([ktype]) + self.pk)
        self.skey = (b"PRIVATE+KEY+" + self.name + b"+" + self.id.hex().encode() + b"+" +
                     base64.b64encode(bytes([ktype]) + self.seed))

    def line(self, text, time=0):   # "— NAME BASE64\n" over a note text
        if self.type == 1:
            raw = self.id + ed25519_sign(self.seed, text)
        else:
            t = struct.pack(">Q", time)
            raw = self.id + t + ed25519_sign(self.seed, b"cosignature/v1\ntime %d\n" % time + text)
        return "\u2014 ".encode() + self.name + b" " + base64.b64encode(raw) + b"\n"


LOG_VKEY = b"example.com/log+031d78d3+AbYAgcdJXK5onk5tcfB5YbqUbDIaaex0etfEk8HroNKr"   # fuzz_trust.h's


def b64(b):
    return base64.b64encode(b)


def cp_text(origin, size, rt, ext=b""):
    return origin + b"\n" + str(size).encode() + b"\n" + b64(rt) + b"\n" + ext


def trust_seeds(out, bindir=None, demo=None):
    kinds = ("proof_json", "witness", "checkpoint", "receipt")
    for t in kinds:
        os.makedirs(os.path.join(out, t), exist_ok=True)

    def put(kind, name, data):
        with open(os.path.join(out, kind, name), "wb") as f:
            f.write(data)

    log = NoteKey("example.com/log", 1, "tmsperm fuzz_note log seed")
    wit = NoteKey("witness.example/w1", 4, "tmsperm fuzz_note witness seed")
    other = NoteKey("other.example/log", 1, "tmsperm fuzz_seeds other log")
    assert log.vkey == LOG_VKEY, (log.vkey, LOG_VKEY)   # our Ed25519 and the targets' libsodium agree

    payloads = [b"record %d " % i + bytes(range(i % 7)) for i in range(40)]
    leaves = [leaf_hash(p) for p in payloads]

    # fuzz_proof_json: the JSON text, both parsers
    def incl(seq, size, leaf, proof):
        return json.dumps({"seq": seq, "size": size, "leaf": b64(leaf).decode(),
                           "proof": [b64(h).decode() for h in proof]}, separators=(",", ":")).encode()

    def cons(a, b, proof):
        return json.dumps({"from": a, "to": b, "proof": [b64(h).decode() for h in proof]},
                          separators=(",", ":")).encode()

    i = 0
    for size in (1, 2, 3, 7, 8, 13, 33, 40):
        ls = leaves[:size]
        for n in sorted({0, size // 2, size - 1}):
            put("proof_json", "incl%03d" % i, incl(n + 1, size, payloads[n], audit_path(n, ls)))
            i += 1
        for m in sorted({1, size // 2 or 1, size}):
            put("proof_json", "cons%03d" % i, cons(m, size, subproof(m, ls, True)))
            i += 1
    h = [hashlib.sha256(b"%d" % j).digest() for j in range(66)]
    odd = {
        "incl_spaces": b' { "proof" : [ ] , "leaf" : "QQ==" , "size" : 3 , "seq" : 3 }\n',
        "incl_max": incl(2**63 - 1, 2**63 - 1, b"x", h[:63]),
        "incl_64": incl(1, 2**63 - 1, b"xy", h[:64]),
        "incl_65": incl(1, 2, b"xyz", h[:65]),
        "incl_seq0": incl(0, 2, b"x", []),
        "incl_seq_gt": incl(3, 2, b"x", []),
        "incl_float": b'{"seq":1.0,"size":2,"leaf":"QQ==","proof":[]}',
        "incl_neg": b'{"seq":-1,"size":2,"leaf":"QQ==","proof":[]}',
        "incl_big": b'{"seq":1,"size":18446744073709551616,"leaf":"QQ==","proof":[]}',
        "incl_dup": b'{"seq":1,"seq":1,"size":2,"leaf":"QQ==","proof":[]}',
        "incl_extra": b'{"seq":1,"size":2,"leaf":"QQ==","proof":[],"x":0}',
        "incl_nopad": b'{"seq":1,"size":2,"leaf":"QQ","proof":[]}',
        "incl_bits": b'{"seq":1,"size":2,"leaf":"QR==","proof":[]}',
        "incl_empty": b'{"seq":1,"size":2,"leaf":"","proof":[]}',
        "incl_high": '{"seq":1,"size":2,"leaf":"Q\u00c1==","proof":[]}'.encode(),
        "incl_esc": b'{"seq":1,"size":2,"leaf":"QQ\\u003d=","proof":["' + b64(h[0]) + b'"]}',
        "incl_nul": b'{"seq":1,"size":2,"leaf":"QQ==\\u0000","proof":[]}',
        "incl_hash31": incl(1, 2, b"x", [h[0][:31]]),
        "incl_hash33": incl(1, 2, b"x", [h[0] + b"!"]),
        "incl_hashnum": b'{"seq":1,"size":2,"leaf":"QQ==","proof":[1]}',
        "incl_obj": b'{"seq":1,"size":2,"leaf":"QQ==","proof":{}}',
        "cons_eq": cons(5, 5, []),
        "cons_max": cons(1, 2**63 - 1, h[:64]),
        "cons_65": cons(1, 9, h[:65]),
        "cons_rev": cons(9, 1, []),
        "cons_incl_keys": b'{"from":1,"to":2,"leaf":"QQ==","proof":[]}',
        "array": b"[1,2,3]",
        "trailing": cons(1, 2, h[:1]) + b" x",
    }
    for name, data in odd.items():
        put("proof_json", name, data)

    # fuzz_checkpoint: a mode byte, then the note (0), its base64 (1), a text to sign (2), size||root seed (3)
    def note(text, *lines):
        return text + b"\n" + b"".join(lines)

    notes = {}
    for size in (1, 7, 40):
        t = cp_text(b"example.com/log", size, mth(leaves[:size]))
        notes["log%d" % size] = note(t, log.line(t))
        notes["log%d_wit" % size] = note(t, log.line(t), wit.line(t, 1679315147))
    t = cp_text(b"example.com/log", 40, mth(leaves), "extension one\nanother \u00e9\n".encode())
    notes["ext"] = note(t, log.line(t))
    notes["other_first"] = note(t, other.line(t), log.line(t), wit.line(t, 2**63 - 1))
    t0 = cp_text(b"example.com/log", 0, hashlib.sha256(b"").digest())
    notes["size0"] = note(t0, log.line(t0))
    to = cp_text(b"other.example/log", 7, mth(leaves[:7]))
    notes["origin_other"] = note(to, log.line(to), other.line(to))
    notes["wit_only"] = note(to, wit.line(to, 1))
    t7 = cp_text(b"example.com/log", 7, mth(leaves[:7]))
    sig = bytearray(base64.b64decode(log.line(t7).split(b" ")[-1]))
    sig[20] ^= 1
    notes["bad_sig"] = note(t7, "\u2014 example.com/log ".encode() + b64(bytes(sig)) + b"\n")
    notes["go_note"] = GO_NOTE
    for name, data in notes.items():
        put("checkpoint", "n_" + name, b"\x00" + data)
        put("checkpoint", "h_" + name, b"\x01" + b64(data))
    put("checkpoint", "t_log", b"\x02" + cp_text(b"example.com/log", 40, mth(leaves)))
    put("checkpoint", "t_tail", b"\x02" + cp_text(b"example.com/log", 7, mth(leaves[:7])) + b"\x00" + wit.line(b"x\n"))
    put("checkpoint", "t_bad", b"\x1a" + cp_text(b"example.com/log", 7, mth(leaves[:7])))
    put("checkpoint", "c_small", b"\x03" + struct.pack("<Q", 40) + b"root")
    put("checkpoint", "c_max", b"\x03" + struct.pack("<Q", 2**63 - 1))
    put("checkpoint", "c_over", b"\x03" + struct.pack("<Q", 2**63))
    put("checkpoint", "c_other", b"\x07" + struct.pack("<Q", 5))

    # fuzz_witness: a body ("o...": "old N\n" proof lines "\n" note), or flags, N and old selectors and R
    body = body_of
    for size, m in ((7, 3), (13, 8), (40, 1), (40, 33), (33, 32)):
        t = cp_text(b"example.com/log", size, mth(leaves[:size]))
        put("witness", "b%d_%d" % (m, size), body(m, subproof(m, leaves[:size], True), note(t, log.line(t))))
    t = cp_text(b"example.com/log", 40, mth(leaves))
    nt = note(t, log.line(t))
    put("witness", "first", body(0, [], nt))
    put("witness", "cosigned", body(40, [], note(t, log.line(t), wit.line(t, 1679315147))))
    put("witness", "lines63", body(1, h[:63], nt))
    put("witness", "lines64", body(1, h[:64], nt))
    put("witness", "max", body(2**64 - 1, [], nt))
    put("witness", "nonote", body(5, h[:2], b""))
    put("witness", "noblank", b"old 5\n" + b64(h[0]) + b"\n")
    put("witness", "zero", b"old 05\n\n" + nt)
    put("witness", "shortline", b"old 5\n" + b64(h[0])[:-4] + b"\n\n" + nt)
    put("witness", "crlf", b"old 5\r\n\r\n" + nt)
    for name, sel in {"k_plain": b"\x00\x27\x10", "k_cosig": b"\x01\x0c\x05", "k_ext": b"\x02\x21\x03ext line",
                      "k_origin": b"\x04\x05\x02", "k_bad": b"\x08\x11\x07", "k_pad": b"\x10\x03\x47",
                      "k_first": b"\x20\x45\x00", "k_all": b"\x33\x2a\x3fext \xc3\xa9 x"}.items():
        put("witness", name, sel)

    receipt_seeds(put, log, leaves, note, h)
    if bindir and demo:
        tool_seeds(put, bindir, demo, log, wit)
    return {t: len(os.listdir(os.path.join(out, t))) for t in kinds}


def receipt_seeds(put, log, leaves, note, h):
    """fuzz_receipt: receipts as tms-audit verify --receipt writes them (tools/tool_receipt.h), over the tree of
    the 40 leaves, with the log key's checkpoint of 7 and RFC 9162 PROOF(7, D[40]); and some that are refused."""
    t = cp_text(b"example.com/log", 7, mth(leaves[:7]))
    base = {"format": "tmsperm-verify-receipt/1", "proves": "records 1..40", "tmsperm": "0.12.0", "data": "/d",
            "verified_at": "2026-12-04T22:09:00.541349936Z", "since": None, "size": 40,
            "time": "2026-12-04T22:09:00.530836392Z", "head": h[1].hex(), "root": b64(mth(leaves)).decode(),
            "state_digest": h[2].hex(), "signatures": "example.com/log", "key": LOG_VKEY.decode(),
            "checkpoint": {"size": 7, "note": note(t, log.line(t)).decode(),
                           "consistency": [b64(x).decode() for x in subproof(7, leaves, True)]}}
    empty = dict(base, size=0, time=None, head="00" * 32, root=b64(hashlib.sha256(b"").digest()).decode(),
                 signatures="unchecked", key=None, checkpoint=None)
    variants = {
        "full": base, "since": dict(base, since=33), "nokey": dict(base, signatures="unchecked", key=None),
        "noproof": dict(base, checkpoint=dict(base["checkpoint"], consistency=None)), "empty": empty,
        "nocp": dict(base, checkpoint=None), "short_proof": dict(base, checkpoint=dict(
            base["checkpoint"], consistency=base["checkpoint"]["consistency"][:-1])),
        "big_size": dict(base, size=2**63 - 1, checkpoint=None), "neg": dict(base, size=-1),
        "upper": dict(base, head=h[1].hex().upper()), "since_gt": dict(base, since=41),
    }
    for name, obj in variants.items():
        put("receipt", name, json.dumps(obj, indent=1).encode())
    put("receipt", "dup", json.dumps(base)[:-1].encode() + b', "size": 39}')


def tool_seeds(put, bindir, demo, log, wit):
    """Real ones: a log of DEMO_JSONL, checkpoints signed by tmsctl with the fixed log key, proofs by tms-audit
    prove, a witness body of them; a checkpoint by a key tms-audit keygen made (opens with no key only)."""
    tmsctl, audit = os.path.join(bindir, "tmsctl"), os.path.join(bindir, "tms-audit")
    if not (os.access(tmsctl, os.X_OK) and os.access(audit, os.X_OK)):
        print("fuzz_seeds: no tmsctl/tms-audit in %s: no seeds from the tools" % bindir, file=sys.stderr)
        return
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    tmp = tempfile.mkdtemp()
    try:
        def run(*args, stdin=None):
            r = subprocess.run(args, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
            return r.stdout if r.returncode == 0 else None

        data, key = os.path.join(tmp, "d"), os.path.join(tmp, "log.key")
        with open(key, "wb") as f:
            f.write(log.skey + b"\n")
        os.chmod(key, 0o600)
        lines = open(demo, "rb").read().splitlines(keepends=True)
        half = len(lines) // 2
        run(tmsctl, "--data", data, "submit", stdin=b"".join(lines[:half]))
        old = run(tmsctl, "--data", data, "checkpoint", "--signing-key", key)
        run(tmsctl, "--data", data, "submit", stdin=b"".join(lines[half:]))
        new = run(tmsctl, "--data", data, "checkpoint", "--signing-key", key)
        if not old or not new:
            print("fuzz_seeds: tmsctl checkpoint failed: no seeds from the tools", file=sys.stderr)
            return
        a, b = int(old.split(b"\n")[1]), int(new.split(b"\n")[1])
        receipt = os.path.join(tmp, "r.json")
        if run(audit, "verify", "--data", data, "--key", log.vkey.decode(), "--receipt", receipt) is not None:
            put("receipt", "tool_receipt", open(receipt, "rb").read())   # before another key signs one
        for name, nt in (("old", old), ("new", new)):
            put("checkpoint", "tool_n_" + name, b"\x00" + nt)
            put("checkpoint", "tool_h_" + name, b"\x01" + b64(nt))
        c = run(audit, "prove", "--data", data, "--from", str(a), "--to", str(b))
        if c:
            put("proof_json", "tool_cons", c.strip())
            proof = [base64.b64decode(x) for x in json.loads(c)["proof"]]
            put("witness", "tool_body", body_of(a, proof, new))
            put("witness", "tool_first", body_of(0, [], old))
        for seq in sorted({1, a, b}):
            p = run(audit, "prove", "--data", data, "--seq", str(seq), "--size", str(b))
            if p:
                put("proof_json", "tool_incl%d" % seq, p.strip())
        wkey = os.path.join(tmp, "w.key")
        vk = run(audit, "keygen", "--name", "example.com/log", "--out", wkey)   # the same name, another key
        if vk:
            other = run(tmsctl, "--data", data, "checkpoint", "--signing-key", wkey)
            if other:
                put("checkpoint", "tool_n_otherkey", b"\x00" + other)
                put("witness", "tool_otherkey", body_of(0, [], other))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def body_of(old, proof, nt):
    return b"old %d\n" % old + b"".join(b64(x) + b"\n" for x in proof) + b"\n" + nt


if len(sys.argv) in (3, 5) and sys.argv[1] == "--trust":
    print("seeds:", trust_seeds(sys.argv[2], *sys.argv[3:5]))
    sys.exit(0)


if len(sys.argv) == 3 and sys.argv[1] == "--tlog":
    print("seeds:", tlog_seeds(sys.argv[2]))
    sys.exit(0)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "daemon"))
import mp  # noqa: E402  (the tests' msgpack encoder)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
from crc32c import crc32c  # noqa: E402

scen, ours, demo, logdir, out = sys.argv[1:6]
for t in ("cmd", "record", "frames", "submit", "segment", "rules", "base"):
    os.makedirs(os.path.join(out, t), exist_ok=True)

def put(kind, name, data):
    with open(os.path.join(out, kind, name), "wb") as f:
        f.write(data)

cmds = []
for path in sorted(glob.glob(os.path.join(scen, "*.jsonl")) + glob.glob(os.path.join(ours, "*.jsonl"))):
    lines = []
    for line in open(path):
        o = json.loads(line)
        if "submit" in o:
            c = o["submit"]
            text = c if isinstance(c, str) else json.dumps(c)
            lines.append(text)
            cmds.append(c)
    put("rules", os.path.basename(path), ("\n".join(lines) + "\n").encode())
for line in open(demo):
    cmds.append(json.loads(line))
for i, c in enumerate(cmds):
    text = c if isinstance(c, str) else json.dumps(c)
    put("cmd", "c%04d" % i, text.encode())
for i in range(0, len(cmds), 7):
    batch = [c for c in cmds[i:i + 7] if isinstance(c, dict)]
    put("submit", "s%04d" % i, mp.pack({"op": "submit", "req": i, "cmds": batch}))
segs = sorted(glob.glob(os.path.join(logdir, "*.tmslog")))
for s in segs[:1]:
    data = open(s, "rb").read()
    put("segment", "whole", data[:65536])
    off, n = 16, 0
    while off + 56 <= len(data) and n < 400:
        length = struct.unpack_from("<I", data, off)[0]
        payload = data[off + 56: off + 56 + length]
        put("record", "r%04d" % n, payload)
        put("frames", "f%04d" % n, struct.pack(">I", len(payload)) + payload)
        if n < 40:
            cut = data[:off + 56 + length]
            put("segment", "upto%04d" % n, cut)
        off += 56 + length
        n += 1



# fuzz_base: a base file (seq B, the chain head at B) then the segment of records B+1.. of the real log
for s in segs[:1]:
    data = open(s, "rb").read()
    off, n, frames = 16, 0, []
    while off + 56 <= len(data) and n < 60:
        length, seq = struct.unpack_from("<I", data, off)[0], struct.unpack_from("<Q", data, off + 8)[0]
        frames.append((seq, off, 56 + length, data[off + 24: off + 56]))
        off += 56 + length
        n += 1
    for b in (1, 2, 7, 30):
        if b >= len(frames):
            continue
        seq, _, _, head = frames[b - 1]
        base = b"TMSBASE1" + struct.pack("<Q", seq) + head
        base += struct.pack("<I", crc32c(base))
        body = b"".join(data[o:o + ln] for _, o, ln, _ in frames[b:b + 12])
        put("base", "b%02d" % b, base + b"TMSLOG1\n" + struct.pack("<Q", seq + 1) + body)
        put("base", "b%02d-empty" % b, base)

seeds = {t: len(os.listdir(os.path.join(out, t)))
         for t in ("cmd", "record", "frames", "submit", "segment", "rules", "base")}
seeds.update(tlog_seeds(out))
print("seeds:", seeds)
