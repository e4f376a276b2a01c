#!/usr/bin/env python3
"""Self-test of outside_verifier.py and reftree.py.  Plain python3; prints
`N passed, 0 failed` and exits 0 when all hold, exits 1 otherwise."""

import base64
import functools
import hashlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import outside_verifier as ov  # noqa: E402
import reftree as rt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

PASSED = 0
FAILED = 0


def check(name, ok):
    global PASSED, FAILED
    if ok:
        PASSED += 1
    else:
        FAILED += 1
        if FAILED <= 50:
            print("FAIL:", name)


def raises(fn, *args):
    """True iff fn(*args) rejects with VerifyError (not any other exception)."""
    try:
        fn(*args)
    except ov.VerifyError:
        return True
    return False


def b64(raw):
    return base64.b64encode(raw).decode()


def unhex(s):
    return bytes.fromhex(s)


# ------------------------------------------------ Go sumdb/note vectors
# golang.org/x/mod sumdb/note/note_test.go: TestNewVerifier, TestNewSigner,
# TestSign, TestOpen.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
PETER_SIG = ("\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
             "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
ENOCH_SIG = ("\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ov"
             "TG01oOTGwnWLox33WWd1RvMc+QQ=\n")


def test_go_vectors():
    peter = ov.parse_vkey(PETER_VKEY)
    check("go: peter name/keyid", peter.name == "PeterNeumann" and peter.kid == 0xc74f20a3)
    check("go: peter type", peter.type == 1 and len(peter.public_key) == 32)
    check("go: key_id recomputed", ov.key_id("PeterNeumann", 1, peter.public_key) == 0xc74f20a3)
    check("go: vkey round trip", peter.vkey() == PETER_VKEY)
    enoch = ov.parse_vkey(ENOCH_VKEY)
    check("go: enoch keyid", enoch.kid == 0xaf0cfe78)
    for bad in ("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"):
        check("go: bad vkey %s" % bad, raises(ov.parse_vkey, bad))
    # TestNewVerifier / TestNewSigner manglings: every proper substring and
    # every single byte incremented must be rejected.
    for key, parse in ((PETER_VKEY, ov.parse_vkey), (PETER_SKEY, ov.parse_private_key)):
        n = len(key)
        subs = [key[i:j] for i in range(n + 1) for j in range(i + 1, n + 1) if (i, j) != (0, n)]
        check("go: all %d substrings of %s rejected" % (len(subs), key[:20]),
              all(raises(parse, s) for s in subs))
        bumped = [key[:i] + chr(ord(key[i]) + 1) + key[i + 1:] for i in range(n)]
        check("go: all bumped bytes of %s rejected" % key[:20],
              all(raises(parse, s) for s in bumped))
    pk, seed = ov.parse_private_key(PETER_SKEY)
    check("go: private key -> public key", pk.public_key == peter.public_key)
    check("go: private key keyid/name", (pk.name, pk.kid, pk.type) == ("PeterNeumann", 0xc74f20a3, 1))
    check("go: private key with newline", ov.parse_private_key(PETER_SKEY + "\n")[1] == seed)
    check("go: private key two newlines", raises(ov.parse_private_key, PETER_SKEY + "\n\n"))
    # TestSign: Ed25519 is deterministic, so our signature must be Go's, byte for byte.
    sig = Ed25519PrivateKey.from_private_bytes(seed).sign(GO_TEXT.encode())
    line = "\u2014 PeterNeumann %s\n" % b64((0xc74f20a3).to_bytes(4, "big") + sig)
    check("go: signature line equals Go's", line == PETER_SIG)
    # TestOpen
    note = (GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()
    check("go: open with peter", ov.open_note(note, peter)[0] == GO_TEXT)
    check("go: open with enoch", ov.open_note(note, enoch)[0] == GO_TEXT)
    check("go: only unknown sigs", raises(ov.open_note, (GO_TEXT + "\n" + ENOCH_SIG).encode(), peter))
    bad = GO_TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    check("go: invalid signature", raises(ov.open_note, bad.encode(), peter))
    raw = bytearray(note)
    at = note.index(b"x08go") + 10
    for bit in range(8):
        raw2 = bytearray(raw)
        raw2[at] ^= 1 << bit
        check("go: flipped bit %d" % bit, raises(ov.open_note, bytes(raw2), peter))
    textflip = bytearray(note)
    textflip[3] ^= 1
    check("go: flipped text bit", raises(ov.open_note, bytes(textflip), peter))
    for i, msg in enumerate([GO_TEXT, GO_TEXT + "\n", GO_TEXT + "\n" + PETER_SIG[:-1],
                             "\x01" + GO_TEXT + "\n" + PETER_SIG,
                             "\xff" + GO_TEXT + "\n" + PETER_SIG,
                             GO_TEXT + "\n\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcEl"
                             "ZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
                             GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n"]):
        data = b"\xff" + msg[1:].encode() if msg.startswith("\xff") else msg.encode()
        check("go: bad message %d" % i, raises(ov.open_note, data, peter))
    check("go: hyphen instead of em dash", raises(ov.open_note, (GO_TEXT + "\n-" + PETER_SIG[1:]).encode(), peter))
    nbsp = "\u2014 Peter\u00a0Neumann" + ENOCH_SIG[len("\u2014 EnochRoot"):]
    check("go: U+00A0 in a signer's name", raises(ov.open_note, (GO_TEXT + "\n" + PETER_SIG + nbsp).encode(), peter))
    check("go: U+00A0 in a vkey name", raises(ov.parse_vkey, ov.Key("a\u00a0b", ov.key_id(
        "a\u00a0b", 1, peter.public_key), 1, peter.public_key).vkey()))
    # signed-note: the text may hold blank lines; the *last* one separates the signatures
    poem = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u00e8 subito sera.\n"
    psig = Ed25519PrivateKey.from_private_bytes(seed).sign(poem.encode())
    pnote = poem + "\n\u2014 PeterNeumann %s\n" % b64((0xc74f20a3).to_bytes(4, "big") + psig)
    check("go: text with a blank line", ov.open_note(pnote.encode(), peter)[0] == poem)
    check("go: 101 signatures", raises(ov.open_note, (GO_TEXT + "\n" + PETER_SIG * 101).encode(), peter))
    check("go: 16 signatures", ov.open_note((GO_TEXT + "\n" + PETER_SIG * 16).encode(), peter)[0] == GO_TEXT)


# ------------------------------------------------ RFC 6962 / 9162 trees
# Certificate Transparency reference leaves and heads (as published with
# transparency-dev/merkle testonly), used as data only.
CT_LEAVES = [unhex(h) for h in ("", "00", "10", "2021", "3031", "40414243",
                                "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]
CT_INCLUSION = [(0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
                (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"])]
CT_CONSISTENCY = [(2, 8, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                          "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
                  (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                          "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                          "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"])]


def test_ct_vectors():
    for n in range(9):
        check("ct: root %d" % n, rt.mth(CT_LEAVES[:n]).hex() == CT_ROOTS[n])
    for i, n, want in CT_INCLUSION:
        got = rt.path(i, CT_LEAVES[:n])
        check("ct: path %d/%d" % (i, n), [h.hex() for h in got] == want)
        check("ct: verify path %d/%d" % (i, n), ov.verify_inclusion(
            rt.leaf_hash(CT_LEAVES[i]), i, n, [unhex(h) for h in want], unhex(CT_ROOTS[n])))
    for m, n, want in CT_CONSISTENCY:
        got = rt.proof(m, CT_LEAVES[:n])
        check("ct: proof %d->%d" % (m, n), [h.hex() for h in got] == want)
        check("ct: verify proof %d->%d" % (m, n), ov.verify_consistency(
            m, n, unhex(CT_ROOTS[m]), unhex(CT_ROOTS[n]), [unhex(h) for h in want]))


def flipped(proof, i, byte=7):
    out = list(proof)
    h = bytearray(out[i])
    h[byte % 32] ^= 0x01
    out[i] = bytes(h)
    return out


def shapes(i, n, lo):
    """Claims (i2, n2) near (i, n), lo <= i2 < n2 (or i2 <= n2 for lo=1)."""
    return [(i2, n2) for i2 in range(max(lo, i - 2), i + 3) for n2 in range(max(1, n - 3), n + 4)
            if (i2, n2) != (i, n) and (i2 < n2 if lo == 0 else i2 <= n2)]


def test_exhaustive(max_n=70):
    leaves = [b"record %d" % i * (i % 3) for i in range(max_n + 5)]  # includes empty payloads
    roots = [rt.mth(leaves[:n]) for n in range(max_n + 5)]
    extra = hashlib.sha256(b"extra").digest()
    vi, vc = ov.verify_inclusion, ov.verify_consistency
    path_len = functools.lru_cache(None)(lambda i, n: len(rt.path(i, leaves[:n])))
    proof_len = functools.lru_cache(None)(lambda m, n: len(rt.proof(m, leaves[:n])))
    for n in range(1, max_n + 1):
        D, root = leaves[:n], roots[n]
        for i in range(n):
            lh, p = rt.leaf_hash(D[i]), rt.path(i, D)
            tag = "incl %d/%d" % (i, n)
            check(tag + " accepted", vi(lh, i, n, p, root))
            for j in range(len(p)):
                check(tag + " flip %d" % j, not vi(lh, i, n, flipped(p, j), root))
            if p:
                check(tag + " drop last", not vi(lh, i, n, p[:-1], root))
                check(tag + " drop first", not vi(lh, i, n, p[1:], root))
            check(tag + " add last", not vi(lh, i, n, p + [extra], root))
            check(tag + " add first", not vi(lh, i, n, [extra] + p, root))
            check(tag + " index+1", not vi(lh, i + 1, n, p, root))
            check(tag + " index-1", i == 0 or not vi(lh, i - 1, n, p, root))
            check(tag + " size+1", not vi(lh, i, n + 1, p, roots[n + 1]))
            check(tag + " size-1", i >= n - 1 or not vi(lh, i, n - 1, p, roots[n - 1]))
            check(tag + " wrong leaf", not vi(rt.leaf_hash(D[i] + b"x"), i, n, p, root))
            check(tag + " wrong root", not vi(lh, i, n, p, roots[n - 1]))
            # RFC 9162 2.1.3.2 consumes exactly len(PATH(i2, n2)) hashes for
            # a claim (i2, n2), whatever they are: any other length is rejected.
            for i2, n2 in shapes(i, n, 0):
                if path_len(i2, n2) != len(p):
                    check(tag + " as %d/%d" % (i2, n2), not vi(lh, i2, n2, p, root))
        for m in range(1, n + 1):
            p = rt.proof(m, D)
            tag = "cons %d->%d" % (m, n)
            check(tag + " accepted", vc(m, n, roots[m], root, p))
            for j in range(len(p)):
                check(tag + " flip %d" % j, not vc(m, n, roots[m], root, flipped(p, j, j)))
            if p:
                check(tag + " drop last", not vc(m, n, roots[m], root, p[:-1]))
                check(tag + " drop first", not vc(m, n, roots[m], root, p[1:]))
            check(tag + " add last", not vc(m, n, roots[m], root, p + [extra]))
            check(tag + " add first", not vc(m, n, roots[m], root, [extra] + p))
            check(tag + " from-1", m == 1 or not vc(m - 1, n, roots[m - 1], root, p))
            check(tag + " from+1", m == n or not vc(m + 1, n, roots[m + 1], root, p))
            check(tag + " to+1", not vc(m, n + 1, roots[m], roots[n + 1], p))
            check(tag + " to-1", m == n or not vc(m, n - 1, roots[m], roots[n - 1], p))
            check(tag + " old root", m == n or not vc(m, n, roots[m - 1], root, p))
            check(tag + " new root", not vc(m, n, roots[m], roots[n - 1], p))
            check(tag + " reversed", m == n or not vc(n, m, root, roots[m], p))
            for m2, n2 in shapes(m, n, 1):  # 2.1.4.2 likewise fixes the length
                if m2 < n2 and proof_len(m2, n2) != len(p):
                    check(tag + " as %d->%d" % (m2, n2), not vc(m2, n2, roots[m], root, p))
        check("cons 0->%d empty" % n, vc(0, n, roots[0], root, []))
        check("cons 0->%d nonempty" % n, not vc(0, n, roots[0], root, [extra]))
        check("cons %d->%d extra" % (n, n), not vc(n, n, root, root, [extra]))


# ------------------------------------------------ checkpoints you sign yourself

def new_key(name, sig_type=1):
    priv = Ed25519PrivateKey.generate()
    pub = priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return priv, ov.Key(name, ov.key_id(name, sig_type, pub), sig_type, pub)


def sig_line(priv, key, text):
    return "\u2014 %s %s\n" % (key.name, b64(key.kid.to_bytes(4, "big") + priv.sign(text.encode())))


def cosig_line(priv, key, text, t):
    sig = priv.sign(ov.cosigned_message(text, t))
    return "\u2014 %s %s\n" % (key.name, b64(key.kid.to_bytes(4, "big") + t.to_bytes(8, "big") + sig))


def signed(priv, key, text, extra=""):
    return (text + "\n" + sig_line(priv, key, text) + extra).encode()


LOG = "log.example/tms"


def test_checkpoints():
    priv, key = new_key(LOG)
    root = rt.mth([b"a", b"b", b"c"])
    text = "%s\n3\n%s\n" % (LOG, b64(root))
    good = signed(priv, key, text)
    check("cp: accepted", ov.verify_checkpoint(good, key) == (LOG, 3, root))
    cp = ov.verify_checkpoint
    check("cp: origin changed", raises(cp, good.replace(b"log.example/tms\n3", b"log.example/tmx\n3"), key))
    check("cp: size changed", raises(cp, good.replace(b"\n3\n", b"\n4\n"), key))
    other = b64(rt.mth([b"a", b"b", b"d"]))
    check("cp: root changed", raises(cp, good.replace(b64(root).encode(), other.encode()), key))
    sig_b64 = good.decode().rsplit(" ", 1)[1].strip()
    raw = bytearray(base64.b64decode(sig_b64))
    for pos in (4, 40, 67):
        r2 = bytearray(raw)
        r2[pos] ^= 0x10
        check("cp: signature byte %d flipped" % pos,
              raises(cp, good.replace(sig_b64.encode(), b64(bytes(r2)).encode()), key))
    r2 = bytearray(raw)
    r2[0] ^= 1
    check("cp: key id changed -> only unknown", raises(cp, good.replace(sig_b64.encode(), b64(bytes(r2)).encode()), key))
    priv2, key2 = new_key(LOG)
    check("cp: unknown-only (same name, other key)", raises(cp, signed(priv2, key2, text), key))
    priv3, key3 = new_key("other.example/log")
    check("cp: unknown-only (other name)", raises(cp, signed(priv3, key3, text), key))
    check("cp: plus unknown signature", cp(signed(priv, key, text, sig_line(priv2, key2, text)), key)[1] == 3)
    bad_known = sig_line(priv, key, text.replace("\n3\n", "\n4\n"))
    check("cp: plus a failing known signature", raises(cp, signed(priv, key, text, bad_known), key))
    for c in ("\t", "\r", "\x00", "\x1b", "\x7f"):
        t2 = text + "ext" + c + "line\n"
        ok = c == "\x7f"  # signed-note forbids only controls below U+0020
        check("cp: character %r in text" % c, (cp(signed(priv, key, t2), key)[1] == 3) if ok
              else raises(cp, signed(priv, key, t2), key))
    check("cp: extension line", cp(signed(priv, key, text + "ext\n"), key)[1] == 3)
    check("cp: empty extension line", raises(cp, signed(priv, key, text + "\next\n"), key))
    for label, t2 in (("leading zero", "%s\n03\n%s\n" % (LOG, b64(root))),
                      ("plus sign", "%s\n+3\n%s\n" % (LOG, b64(root))),
                      ("unicode digit", "%s\n\u0663\n%s\n" % (LOG, b64(root))),
                      ("31-byte root", "%s\n3\n%s\n" % (LOG, b64(root[:31]))),
                      ("unpadded root", "%s\n3\n%s\n" % (LOG, b64(root).rstrip("="))),
                      ("non-canonical root", "%s\n3\n%s\n" % (LOG, b64(root)[:-2] + "B=")),
                      ("two lines", "%s\n3\n" % LOG),
                      ("size 0 wrong root", "%s\n0\n%s\n" % (LOG, b64(root))),
                      ("origin is not the key name", "other\n3\n%s\n" % b64(root))):
        check("cp: %s" % label, raises(cp, signed(priv, key, t2), key))
    check("cp: size 0", cp(signed(priv, key, "%s\n0\n%s\n" % (LOG, b64(rt.empty_root()))), key)[1] == 0)
    check("cp: no final newline", raises(cp, good[:-1], key))
    check("cp: trailing garbage", raises(cp, good + b"junk\n", key))
    check("cp: trailing blank line", raises(cp, good + b"\n", key))
    check("cp: no blank line", raises(cp, good.replace(b"\n\n", b"\n"), key))
    check("cp: invalid UTF-8", raises(cp, good.replace(b"log.example", b"log.ex\xffmple"), key))
    check("cp: witness key as log key", raises(cp, good, ov.Key(LOG, key.kid, 4, key.public_key)))
    lpriv4, lkey4 = new_key(LOG, 4)  # a cosignature by a type 0x04 key named like the log
    check("cp: type 0x04 key is no log key", raises(cp, signed(priv, key, text, cosig_line(lpriv4, lkey4, text, 1)), lkey4))
    # tlog-cosignature/v1
    wpriv, wkey = new_key("witness.example/w1", 4)
    for t in (0, 1700000000, (1 << 63) - 1):
        note = signed(priv, key, text, cosig_line(wpriv, wkey, text, t))
        check("cosig: time %d" % t, ov.verify_cosignature(note, wkey) == t)
    check("cosig: log sig still verifies", cp(signed(priv, key, text, cosig_line(wpriv, wkey, text, 5)), key)[1] == 3)
    too_big = signed(priv, key, text, cosig_line(wpriv, wkey, text, 1 << 63))
    check("cosig: time 2^63", raises(ov.verify_cosignature, too_big, wkey))
    name, sig64 = cosig_line(wpriv, wkey, text, 5).split(" ")[1:]
    raw = bytearray(base64.b64decode(sig64))
    raw[11] ^= 3  # the timestamp's last byte: 5 -> 6
    lying = "\u2014 %s %s\n" % (name, b64(bytes(raw)))
    check("cosig: timestamp changed", raises(ov.verify_cosignature, signed(priv, key, text, lying), wkey))
    plain = "\u2014 %s %s\n" % (wkey.name, b64(wkey.kid.to_bytes(4, "big") + wpriv.sign(text.encode())))
    check("cosig: plain Ed25519 instead", raises(ov.verify_cosignature, signed(priv, key, text, plain), wkey))
    check("cosig: none", raises(ov.verify_cosignature, good, wkey))
    check("cosig: other text", raises(ov.verify_cosignature, signed(
        priv, key, text, cosig_line(wpriv, wkey, text + "x\n", 5)), wkey))
    check("cosig: type 0x01 witness key", raises(ov.verify_cosignature, good, key))


# ------------------------------------------------ the command line, end to end

def cli(*args):
    p = subprocess.run([sys.executable, os.path.join(HERE, "outside_verifier.py")] + list(args),
                       capture_output=True, text=True)
    one_line = p.returncode == 0 or len(p.stderr.strip().splitlines()) == 1
    return p.returncode, p.stdout, one_line and "Traceback" not in p.stderr


def test_cli():
    priv, key = new_key(LOG)
    D = [b"payload %d" % i for i in range(13)]
    with tempfile.TemporaryDirectory() as d:
        def put(name, data):
            path = os.path.join(d, name)
            with open(path, "wb") as f:
                f.write(data if isinstance(data, bytes) else data.encode())
            return path
        def cpfile(name, n, root=None):
            return put(name, signed(priv, key, "%s\n%d\n%s\n" % (LOG, n, b64(root or rt.mth(D[:n])))))
        c13, c7, c7b = cpfile("c13", 13), cpfile("c7", 7), cpfile("c7b", 7, rt.mth(D[:6] + [b"x"]))
        vk = key.vkey()
        rc, out, clean = cli("vkey", vk)
        check("cli: vkey", rc == 0 and json.loads(out)["keyid"] == "%08x" % key.kid and clean)
        check("cli: bad vkey", cli("vkey", vk[:-2])[0] == 1)
        sk = put("sk", "PRIVATE+KEY+%s+%08x+%s\n" % (LOG, key.kid, b64(b"\x01" + priv.private_bytes_raw())))
        check("cli: private-key", cli("private-key", sk, vk)[0] == 0)
        check("cli: private-key other vkey", cli("private-key", sk, PETER_VKEY)[0] == 1)
        rc, out, clean = cli("checkpoint", "--vkey", vk, c13)
        check("cli: checkpoint", rc == 0 and json.loads(out) == {"origin": LOG, "size": 13,
                                                                "root_b64": b64(rt.mth(D))})
        check("cli: checkpoint wrong key", cli("checkpoint", "--vkey", PETER_VKEY, c13)[0] == 1)
        wpriv, wkey = new_key("witness.example/w1", 4)
        cs = put("cs", signed(priv, key, "%s\n13\n%s\n" % (LOG, b64(rt.mth(D))),
                              cosig_line(wpriv, wkey, "%s\n13\n%s\n" % (LOG, b64(rt.mth(D))), 42)))
        rc, out, _ = cli("cosignature", "--witness-vkey", wkey.vkey(), cs)
        check("cli: cosignature", rc == 0 and json.loads(out) == {"time": 42})
        check("cli: cosignature + log key", cli("cosignature", "--witness-vkey", wkey.vkey(), "--vkey", vk, cs)[0] == 0)
        check("cli: no cosignature", cli("cosignature", "--witness-vkey", wkey.vkey(), c13)[0] == 1)
        good = {"seq": 5, "size": 13, "leaf": b64(D[4]), "proof": [b64(h) for h in rt.path(4, D)]}
        incl = lambda body: cli("inclusion", "--vkey", vk, "--checkpoint", c13, "--proof", put("p", body))
        rc, out, _ = incl(json.dumps(good))
        check("cli: inclusion", rc == 0 and json.loads(out)["seq"] == 5)
        for label, body in (
                ("size mismatch", dict(good, size=12)), ("seq 0", dict(good, seq=0)),
                ("seq > size", dict(good, seq=14)), ("wrong seq", dict(good, seq=6)),
                ("wrong leaf", dict(good, leaf=b64(D[5]))), ("seq float", json.dumps(good).replace('"seq": 5', '"seq": 5.0')),
                ("seq string", dict(good, seq="5")), ("seq bool", dict(good, seq=True)),
                ("extra key", dict(good, x=1)), ("missing key", {k: good[k] for k in ("seq", "size", "leaf")}),
                ("duplicate key", json.dumps(good)[:-1] + ', "seq": 5}'),
                ("trailing garbage", json.dumps(good) + "x"), ("two objects", json.dumps(good) * 2),
                ("short hash", dict(good, proof=good["proof"][:-1] + [b64(b"\0" * 31)])),
                ("bad base64", dict(good, proof=good["proof"][:-1] + ["!!!!"])),
                ("dropped hash", dict(good, proof=good["proof"][:-1])),
                ("added hash", dict(good, proof=good["proof"] + [b64(b"\0" * 32)])),
                ("not json", "seq=5"), ("array", "[]"), ("NaN", json.dumps(good).replace("13", "NaN"))):
            rc, _, clean = incl(body if isinstance(body, str) else json.dumps(body))
            check("cli: inclusion %s" % label, rc == 1 and clean)
        check("cli: inclusion trailing newline ok", incl(json.dumps(good) + "\n")[0] == 0)
        cons = lambda old, new, body: cli("consistency", "--vkey", vk, "--old", old, "--new", new,
                                          "--proof", put("q", json.dumps(body)))
        p7 = [b64(h) for h in rt.proof(7, D)]
        check("cli: consistency", cons(c7, c13, {"from": 7, "to": 13, "proof": p7})[0] == 0)
        check("cli: consistency forked", cons(c7b, c13, {"from": 7, "to": 13, "proof": p7})[0] == 1)
        check("cli: consistency from mismatch", cons(c7, c13, {"from": 6, "to": 13, "proof": p7})[0] == 1)
        check("cli: consistency swapped", cons(c13, c7, {"from": 13, "to": 7, "proof": p7})[0] == 1)
        check("cli: consistency same", cons(c7, c7, {"from": 7, "to": 7, "proof": []})[0] == 0)
        check("cli: consistency same, other root", cons(c7, c7b, {"from": 7, "to": 7, "proof": []})[0] == 1)
        check("cli: consistency same, non-empty", cons(c7, c7, {"from": 7, "to": 7, "proof": p7[:1]})[0] == 1)
        check("cli: missing file", cli("checkpoint", "--vkey", vk, os.path.join(d, "nope"))[0] == 2)
        check("cli: no command", cli()[0] == 2)
        check("cli: unknown option", cli("checkpoint", "--bogus", c13)[0] == 2)


def main():
    test_go_vectors()
    test_ct_vectors()
    test_exhaustive()
    test_checkpoints()
    test_cli()
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 0 if FAILED == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
