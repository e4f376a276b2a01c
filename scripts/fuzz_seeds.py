#!/usr/bin/env python3
"""fuzz_seeds.py -- seed corpora for scripts/fuzz, from the conformance
scenarios (commands; submit frames of them; whole scenarios for the rules)
and a real log directory (record payloads; frames; whole segment files);
and for the tlog targets (note, proof) from Go's sumdb/note test vector,
checkpoints, and RFC 9162 proofs of small trees computed here.
usage: fuzz_seeds.py SCENARIO_DIR OUR_SCENARIO_DIR DEMO_JSONL LOG_DIR OUT_DIR
       fuzz_seeds.py --tlog OUT_DIR      (the note and proof corpora only)"""
import base64, glob, hashlib, json, os, struct, sys

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


def path(m, ls):   # RFC 9162 2.1.3.1, leaf side first
    if len(ls) == 1:
        return []
    k = split(len(ls))
    if m < k:
        return path(m, ls[:k]) + [mth(ls[k:])]
    return path(m - k, ls[k:]) + [mth(ls[:k])]


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
            put_t("proof", "incl%03d" % i, proof_seed(n, size, 0, ls[n], rt, z, path(n, ls)))
            i += 1
        for m in sorted({1, size // 2 or 1, size - 1 or 1, size}):
            put_t("proof", "cons%03d" % i, proof_seed(0, size, m, z, rt, mth(ls[:m]), subproof(m, ls, True)))
            i += 1
    big = 2**64 - 1
    put_t("proof", "max", proof_seed(big - 1, big, big - 1, z, z, z, [z] * 64))
    put_t("proof", "pow63", proof_seed(2**62, 2**63, 2**62, z, z, z, [z] * 63))
    put_t("proof", "long", proof_seed(5, 9, 4, z, z, z, [bytes([j]) * 32 for j in range(70)]))
    return {t: len(os.listdir(os.path.join(out, t))) for t in ("note", "proof")}


if len(sys.argv) == 3 and sys.argv[1] == "--tlog":
    print("seeds:", tlog_seeds(sys.argv[2]))
    sys.exit(0)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "daemon"))
import mp  # noqa: E402  (the tests' msgpack encoder)

scen, ours, demo, logdir, out = sys.argv[1:6]
for t in ("cmd", "record", "frames", "submit", "segment", "rules"):
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
seeds = {t: len(os.listdir(os.path.join(out, t))) for t in ("cmd", "record", "frames", "submit", "segment", "rules")}
seeds.update(tlog_seeds(out))
print("seeds:", seeds)
