#!/usr/bin/env python3
"""Independent verifier for tmsperm's transparency log (SPEC.md section 11).

Written only from public texts, never from the project's C code:
  C2SP signed-note, tlog-checkpoint, tlog-cosignature (v1, Ed25519),
  RFC 9162 2.1.3.2 / 2.1.4.2 (proof verification), and Go's
  golang.org/x/mod/sumdb/note key formats (vkey, PRIVATE+KEY+...).

Exit status: 0 the thing holds, 1 it does not (one line on stderr saying why),
2 usage or I/O error.  Run with -h for the commands.
"""

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey, Ed25519PublicKey)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

TYPE_ED25519 = 0x01        # signed-note "Signature types": Ed25519
TYPE_COSIG_V1 = 0x04       # signed-note / tlog-cosignature: timestamped Ed25519
EM_DASH_PREFIX = "\u2014 "  # signed-note "Format": em dash, space
MAX_SIGNATURES = 100       # signed-note: verifiers SHOULD limit, MUST accept 16
MAX_U64 = (1 << 64) - 1
MAX_TIMESTAMP = (1 << 63) - 1  # tlog-cosignature: MUST NOT exceed 2^63 - 1
HASH_SIZE = 32


class VerifyError(Exception):
    """The thing does not hold (exit 1)."""


class UsageError(Exception):
    """Bad arguments or unreadable files (exit 2)."""


# ---------------------------------------------------------------- encodings

def b64decode_strict(s, what):
    """Standard base64 (RFC 4648 section 4), as all C2SP texts specify.

    Strict: only the standard alphabet, correct '=' padding, and canonical
    (re-encoding gives the same string, so unused bits must be zero)."""
    if not isinstance(s, str) or not s.isascii():
        raise VerifyError("%s: not ASCII base64" % what)
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, ValueError):
        raise VerifyError("%s: malformed base64" % what) from None
    if base64.b64encode(raw).decode("ascii") != s:
        raise VerifyError("%s: non-canonical base64" % what)
    return raw


def utf8(data, what):
    try:
        return data.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise VerifyError("%s: not valid UTF-8" % what) from None


def b64(raw):
    return base64.b64encode(raw).decode("ascii")


def valid_key_name(name):
    """signed-note "Format": key names MUST be non-empty and MUST NOT contain
    Unicode spaces or '+'."""
    return (name != "" and "+" not in name
            and not any(c.isspace() for c in name)
            and all(ord(c) >= 0x20 for c in name))


def key_id(name, sig_type, public_key):
    """signed-note "Signatures": key ID = SHA-256(name || 0x0A || type || key)[:4],
    as a big-endian uint32."""
    h = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key)
    return int.from_bytes(h.digest()[:4], "big")


class Key:
    def __init__(self, name, kid, sig_type, public_key):
        self.name, self.kid, self.type, self.public_key = name, kid, sig_type, public_key

    def vkey(self):
        return "%s+%08x+%s" % (self.name, self.kid, b64(bytes([self.type]) + self.public_key))


def _split_key_fields(s, what):
    """NAME+KEYID+BASE64: split at the first two '+' (base64 may hold '+')."""
    parts = s.split("+", 2)
    if len(parts) != 3:
        raise VerifyError("%s: not NAME+KEYID+BASE64" % what)
    name, hex_id, key64 = parts
    if not valid_key_name(name):
        raise VerifyError("%s: invalid key name %r" % (what, name))
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise VerifyError("%s: key ID must be 8 lowercase hex digits" % what)
    raw = b64decode_strict(key64, what)
    if len(raw) != 33 or raw[0] not in (TYPE_ED25519, TYPE_COSIG_V1):
        raise VerifyError("%s: key must be type 0x01 or 0x04 followed by 32 bytes" % what)
    return name, int(hex_id, 16), raw[0], raw[1:]


def parse_vkey(s):
    """C2SP vkey `NAME+KEYID+BASE64(type || public key)` (SPEC 11 "Keys";
    signed-note; tlog-cosignature allows type 0x04 vkeys).  The key ID must be
    the recommended hash (SPEC 11 makes it mandatory)."""
    name, kid, sig_type, pub = _split_key_fields(s, "vkey")
    if key_id(name, sig_type, pub) != kid:
        raise VerifyError("vkey: key ID %08x is not SHA-256(name||0x0A||type||key)[:4]" % kid)
    return Key(name, kid, sig_type, pub)


def parse_private_key(text):
    """`PRIVATE+KEY+NAME+KEYID+BASE64(type || 32-byte seed)` (SPEC 11 "Keys",
    Go's sumdb/note format).  One line; a single final newline is allowed.
    Returns (Key with the derived public key, seed)."""
    if text.endswith("\n"):
        text = text[:-1]
    if not text.startswith("PRIVATE+KEY+"):
        raise VerifyError("private key: does not start with PRIVATE+KEY+")
    name, kid, sig_type, seed = _split_key_fields(text[len("PRIVATE+KEY+"):], "private key")
    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)
    if key_id(name, sig_type, pub) != kid:
        raise VerifyError("private key: key ID %08x does not match the derived public key" % kid)
    return Key(name, kid, sig_type, pub), seed


def ed25519_verify(public_key, signature, message):
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        return True
    except Exception:  # InvalidSignature, or a key that is not a point
        return False


# ---------------------------------------------------------------- signed note

def parse_note(data):
    """Split a C2SP signed note into (text, [(name, key ID, signature bytes)]).

    signed-note "Format": valid UTF-8, no control characters below U+0020 but
    newline; text ends in newline and is separated from the signatures by the
    last blank line; each signature line is em dash, space, key name, space,
    base64(4-byte big-endian key ID || signature), newline."""
    s = utf8(data, "note")
    for c in s:
        if ord(c) < 0x20 and c != "\n":
            raise VerifyError("note: control character U+%04X" % ord(c))
    split = s.rfind("\n\n")
    if split < 0:
        raise VerifyError("note: no blank line before the signatures")
    text, block = s[:split + 1], s[split + 2:]
    if block == "" or not block.endswith("\n"):
        raise VerifyError("note: signature block missing or not newline-terminated")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise VerifyError("note: more than %d signatures" % MAX_SIGNATURES)
    sigs = []
    for line in lines:
        if not line.startswith(EM_DASH_PREFIX):
            raise VerifyError("note: signature line does not start with em dash and space")
        fields = line[len(EM_DASH_PREFIX):].split(" ")
        if len(fields) != 2 or not valid_key_name(fields[0]):
            raise VerifyError("note: malformed signature line")
        raw = b64decode_strict(fields[1], "note signature")
        if len(raw) < 5:
            raise VerifyError("note: signature shorter than key ID plus one byte")
        sigs.append((fields[0], int.from_bytes(raw[:4], "big"), raw[4:]))
    return text, sigs


def cosigned_message(text, timestamp):
    """tlog-cosignature "Ed25519 signed message"."""
    return ("cosignature/v1\ntime %d\n" % timestamp).encode("ascii") + text.encode("utf-8")


def verify_signature_by(key, text, sig):
    """Verify one signature by a known key; for type 0x04 return its timestamp."""
    if key.type == TYPE_ED25519:  # signed-note "Ed25519 signatures"
        if len(sig) != 64 or not ed25519_verify(key.public_key, sig, text.encode("utf-8")):
            raise VerifyError("signature by %s+%08x does not verify" % (key.name, key.kid))
        return None
    # tlog-cosignature: timestamped_signature = u64 timestamp || ed25519 sig[64]
    if len(sig) != 8 + 64:
        raise VerifyError("cosignature by %s+%08x is not 8+64 bytes" % (key.name, key.kid))
    t = int.from_bytes(sig[:8], "big")
    if t > MAX_TIMESTAMP:
        raise VerifyError("cosignature timestamp exceeds 2^63-1")
    if not ed25519_verify(key.public_key, sig[8:], cosigned_message(text, t)):
        raise VerifyError("cosignature by %s+%08x does not verify" % (key.name, key.kid))
    return t


def open_note(data, key):
    """signed-note "Signatures": ignore signatures of unknown keys (name and ID
    must both match to be known), reject if one by the known key fails, and if
    none by it verifies.  Returns (text, [timestamps or None])."""
    text, sigs = parse_note(data)
    results = []
    for name, kid, sig in sigs:
        if name == key.name and kid == key.kid:
            results.append(verify_signature_by(key, text, sig))
    if not results:
        raise VerifyError("note has no signature by %s+%08x" % (key.name, key.kid))
    return text, results


# ---------------------------------------------------------------- checkpoint

def parse_checkpoint_body(text, expect_origin=None):
    """tlog-checkpoint "Note text": at least three non-empty lines: origin,
    size (decimal, no leading zeros), base64 root; then optional non-empty
    extension lines.  SPEC 11: the log's key name is the origin."""
    if not text.endswith("\n"):
        raise VerifyError("checkpoint: text does not end in newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(line == "" for line in lines):
        raise VerifyError("checkpoint: needs at least three lines, none empty")
    origin, size_s, root_s = lines[0], lines[1], lines[2]
    if expect_origin is not None and origin != expect_origin:
        raise VerifyError("checkpoint: origin %r is not the key name %r" % (origin, expect_origin))
    if not re.fullmatch(r"0|[1-9][0-9]*", size_s) or int(size_s) > MAX_U64:
        raise VerifyError("checkpoint: size %r is not a decimal without leading zeros" % size_s)
    root = b64decode_strict(root_s, "checkpoint root")
    if len(root) != HASH_SIZE:
        raise VerifyError("checkpoint: root hash is %d bytes, not 32" % len(root))
    size = int(size_s)
    if size == 0 and root != hashlib.sha256(b"").digest():
        # RFC 9162 2.1.1: MTH({}) = HASH() -- the only root an empty tree has.
        raise VerifyError("checkpoint: size 0 with a root other than SHA-256 of nothing")
    return origin, size, root


def verify_checkpoint(data, key):
    """A log checkpoint: signed note by a type 0x01 key whose name is the origin."""
    if key.type != TYPE_ED25519:
        raise VerifyError("log key must be an Ed25519 (type 0x01) vkey")
    text, _ = open_note(data, key)
    return parse_checkpoint_body(text, key.name)


def verify_cosignature(data, witness):
    """tlog-cosignature/v1 by the witness key over a checkpoint note; returns T."""
    if witness.type != TYPE_COSIG_V1:
        raise VerifyError("witness key must be a cosignature/v1 (type 0x04) vkey")
    text, times = open_note(data, witness)
    parse_checkpoint_body(text)  # the cosigned thing must be a checkpoint
    return times[0]


# ---------------------------------------------------------------- proofs

def _node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf_hash, index, size, proof, root):
    """RFC 9162 2.1.3.2, step by step.  True iff `proof` proves `leaf_hash` is
    leaf `index` of the tree of `size` leaves whose head is `root`."""
    if not (0 <= index < size):                     # step 1
        return False
    fn, sn = index, size - 1                        # step 2
    r = leaf_hash                                   # step 3
    for p in proof:                                 # step 4
        if sn == 0:                                 # 4a
            return False
        if fn & 1 or fn == sn:                      # 4b
            r = _node(p, r)
            while not fn & 1 and fn != 0:           # (only if LSB(fn) unset)
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _node(r, p)
        fn, sn = fn >> 1, sn >> 1                   # 4c
    return sn == 0 and r == root                    # step 5


def verify_consistency(first, second, first_hash, second_hash, proof):
    """RFC 9162 2.1.4.2, step by step, with the degenerate cases: first ==
    second needs an empty proof and equal roots; first == 0 (the empty tree,
    extended by every tree) needs an empty proof and the empty root."""
    if not (0 <= first <= second):
        return False
    if first == second:
        return len(proof) == 0 and first_hash == second_hash
    if first == 0:
        return len(proof) == 0 and first_hash == hashlib.sha256(b"").digest()
    if len(proof) == 0:                             # step 1
        return False
    path = list(proof)
    if first & (first - 1) == 0:                    # step 2: first is 2^k
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1                  # step 3
    while fn & 1:                                   # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]                               # step 5
    for c in path[1:]:                              # step 6
        if sn == 0:                                 # 6a
            return False
        if fn & 1 or fn == sn:                      # 6b
            fr = _node(c, fr)
            sr = _node(c, sr)
            while not fn & 1 and fn != 0:           # (only if LSB(fn) unset)
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node(sr, c)
        fn, sn = fn >> 1, sn >> 1                   # 6c
    return fr == first_hash and sr == second_hash and sn == 0   # step 7


def _reject(what):
    raise VerifyError("proof JSON: %s is not allowed" % what)


def _no_duplicates(pairs):
    if len(set(k for k, _ in pairs)) != len(pairs):
        _reject("a duplicate key")
    return dict(pairs)


def load_proof_json(data, keys):
    """One JSON object with exactly `keys` (SPEC 11 "Proofs"), strictly."""
    s = utf8(data, "proof JSON")
    try:
        obj = json.loads(s, object_pairs_hook=_no_duplicates, parse_constant=_reject,
                         parse_float=lambda x: _reject("a fraction " + x))
    except ValueError as e:
        raise VerifyError("proof JSON: %s" % str(e).splitlines()[0]) from None
    if not isinstance(obj, dict) or set(obj) != set(keys):
        raise VerifyError("proof JSON: must be an object with exactly the keys %s"
                          % ",".join(sorted(keys)))
    for k in set(keys) & {"seq", "size", "from", "to"}:
        if type(obj[k]) is not int or not 0 <= obj[k] <= MAX_U64:
            raise VerifyError("proof JSON: %s must be an unsigned integer" % k)
    if type(obj["proof"]) is not list:
        raise VerifyError("proof JSON: proof must be a list")
    hashes = []
    for i, h in enumerate(obj["proof"]):
        if type(h) is not str:
            raise VerifyError("proof JSON: proof[%d] is not a string" % i)
        raw = b64decode_strict(h, "proof[%d]" % i)
        if len(raw) != HASH_SIZE:
            raise VerifyError("proof JSON: proof[%d] is %d bytes, not 32" % (i, len(raw)))
        hashes.append(raw)
    obj["proof"] = hashes
    return obj


def check_inclusion(cp_data, proof_data, key):
    """SPEC 11: {"seq":N,"size":M,"leaf":B64,"proof":[...]}; leaf N-1 of the
    checkpoint's tree, leaf hash SHA-256(0x00 || payload)."""
    _, size, root = verify_checkpoint(cp_data, key)
    p = load_proof_json(proof_data, ("seq", "size", "leaf", "proof"))
    if type(p["leaf"]) is not str:
        raise VerifyError("proof JSON: leaf must be a base64 string")
    payload = b64decode_strict(p["leaf"], "leaf")
    if p["size"] != size:
        raise VerifyError("inclusion proof is for size %d, checkpoint is size %d" % (p["size"], size))
    if not 1 <= p["seq"] <= size:
        raise VerifyError("seq %d is not within 1..%d" % (p["seq"], size))
    lh = hashlib.sha256(b"\x00" + payload).digest()
    if not verify_inclusion(lh, p["seq"] - 1, size, p["proof"], root):
        raise VerifyError("inclusion proof of seq %d does not lead to the checkpoint root" % p["seq"])
    return {"seq": p["seq"], "size": size, "leaf": p["leaf"]}


def check_consistency(old_data, new_data, proof_data, key):
    """SPEC 11: {"from":A,"to":B,"proof":[...]} between two checkpoints."""
    _, a, root_a = verify_checkpoint(old_data, key)
    _, b, root_b = verify_checkpoint(new_data, key)
    p = load_proof_json(proof_data, ("from", "to", "proof"))
    if p["from"] != a or p["to"] != b:
        raise VerifyError("consistency proof is %d->%d, checkpoints are %d->%d"
                          % (p["from"], p["to"], a, b))
    if a > b:
        raise VerifyError("old checkpoint (size %d) is larger than new (size %d)" % (a, b))
    if not verify_consistency(a, b, root_a, root_b, p["proof"]):
        raise VerifyError("consistency proof %d->%d does not verify" % (a, b))
    return {"from": a, "to": b}


# ---------------------------------------------------------------- command line

class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise UsageError("cannot read %s: %s" % (path, e.strerror or e)) from None


# Each command's arguments: "--x" required option, "?--x" optional, else positional.
COMMANDS = {
    "vkey": ["vkey"],
    "private-key": ["file", "vkey"],
    "checkpoint": ["--vkey", "file"],
    "cosignature": ["--witness-vkey", "?--vkey", "file"],
    "inclusion": ["--vkey", "--checkpoint", "--proof"],
    "consistency": ["--vkey", "--old", "--new", "--proof"],
}


def build_parser():
    ap = _Parser(prog="outside_verifier.py", allow_abbrev=False,
                 description="Independent verifier of C2SP notes/checkpoints and RFC 9162 proofs.")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    for cmd, args in COMMANDS.items():
        s = sub.add_parser(cmd, allow_abbrev=False)
        for arg in args:
            if arg.startswith("?"):
                s.add_argument(arg[1:], required=False)
            elif arg.startswith("--"):
                s.add_argument(arg, required=True)
            else:
                s.add_argument(arg)
    return ap


def describe(k):
    return {"name": k.name, "keyid": "%08x" % k.kid, "type": k.type,
            "public_key_hex": k.public_key.hex()}


def run(argv):
    """Returns the JSON-able result; raises VerifyError / UsageError."""
    a = build_parser().parse_args(argv)
    if a.cmd == "vkey":
        return describe(parse_vkey(a.vkey))
    if a.cmd == "private-key":
        data = _read(a.file)
        k = parse_vkey(a.vkey)
        pk, _ = parse_private_key(utf8(data, "private key"))
        for what, x, y in (("name", pk.name, k.name), ("key ID", pk.kid, k.kid),
                           ("type", pk.type, k.type), ("public key", pk.public_key, k.public_key)):
            if x != y:
                raise VerifyError("private key and vkey disagree on the %s" % what)
        return describe(pk)
    if a.cmd == "checkpoint":
        origin, size, root = verify_checkpoint(_read(a.file), parse_vkey(a.vkey))
        return {"origin": origin, "size": size, "root_b64": b64(root)}
    if a.cmd == "cosignature":
        data = _read(a.file)
        w = parse_vkey(a.witness_vkey)
        if a.vkey is not None:
            verify_checkpoint(data, parse_vkey(a.vkey))
        return {"time": verify_cosignature(data, w)}
    if a.cmd == "inclusion":
        return check_inclusion(_read(a.checkpoint), _read(a.proof), parse_vkey(a.vkey))
    if a.cmd == "consistency":
        return check_consistency(_read(a.old), _read(a.new), _read(a.proof), parse_vkey(a.vkey))
    raise UsageError("unknown command")


def main(argv=None):
    try:
        result = run(sys.argv[1:] if argv is None else argv)
    except UsageError as e:
        print("usage error: %s" % e, file=sys.stderr)
        return 2
    except VerifyError as e:
        print("FAIL: %s" % " ".join(str(e).split()), file=sys.stderr)
        return 1
    except Exception as e:  # never a traceback: an unexpected input is a failure
        why = " ".join(str(e).split())
        print("FAIL: unexpected %s: %s" % (type(e).__name__, why), file=sys.stderr)
        return 1
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
