"""tooltest -- shared helpers of the tests of tms-history, tms-audit and
tms-restore (tests/tools/test_*.py): running the programs, building data
directories from JSON Lines commands, reading and forging log frames (the
layout of engine/log.h), and the 'N passed, N failed' bookkeeping.
Python 3 standard library only."""
import atexit
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$")
SEG_MAGIC = b"TMSLOG1\n"
SEG_HEADER = 16
FRAME_HEADER = 56


class Run:
    """A test run: BIN_DIR, a scratch area, pass/fail counts."""

    def __init__(self):
        if len(sys.argv) != 2:
            print("usage: %s BIN_DIR" % sys.argv[0])
            sys.exit(2)
        self.bin = os.path.abspath(sys.argv[1])
        self.tmp = tempfile.mkdtemp(prefix="tms-tooltest-")
        atexit.register(shutil.rmtree, self.tmp, True)   # also when a test crashes
        self.passed = self.failed = 0

    def prog(self, name):
        return os.path.join(self.bin, name)

    def run(self, name, *args, stdin=None):
        p = subprocess.run([self.prog(name)] + [str(a) for a in args], input=stdin,
                           capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def check(self, what, cond, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL %s%s" % (what, ("\n     " + str(detail)[:600]) if detail else ""))
        return cond

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def finish(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.exit(0 if self.failed == 0 and self.passed > 0 else 1)

    def submit(self, data, cmds):
        """Submit commands (dicts) in one tmsctl run; returns the verdicts."""
        text = "".join(json.dumps(c) + "\n" for c in cmds)
        rc, out, err = self.run("tmsctl", "--data", data, "submit", stdin=text)
        if rc != 0:
            raise RuntimeError("tmsctl submit exited %d: %s" % (rc, err))
        return [json.loads(l) for l in out.splitlines() if l.strip()]

    def submit_batches(self, data, batches, pause=0.02):
        """Submit each batch in its own tmsctl run (one time per batch), and
        return, for each batch, an RFC 3339 time taken after it was durable:
        every record of the batch is stamped at or before it, every later one after."""
        marks = []
        for b in batches:
            self.submit(data, b)
            time.sleep(pause)
            marks.append(now_rfc3339())
            time.sleep(pause)
        return marks

    def json_lines(self, text):
        return [json.loads(l) for l in text.splitlines() if l.strip()]


def now_rfc3339():
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + ".%09dZ" % (ns % 10**9)


# ---- CRC32C and frames (engine/log.h) ------------------------------------------

def _crc_table():
    tab = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        tab.append(c)
    return tab


_TAB = _crc_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _TAB[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def segments(data):
    d = os.path.join(data, "log")
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".tmslog"))


class Frame:
    def __init__(self, seg, off, raw):
        self.segment, self.offset = seg, off
        self.len, self.head_crc, self.seq, self.body_crc, self.reserved = struct.unpack_from("<IIQII", raw, 0)
        self.hash = raw[24:56]
        self.payload = raw[56:56 + self.len]

    def encode(self, fix_head_crc=True, fix_body_crc=True):
        head = struct.pack("<IIQ", len(self.payload), 0, self.seq)
        hcrc = crc32c(head[0:4] + head[8:16]) if fix_head_crc else self.head_crc
        bcrc = crc32c(self.hash + self.payload) if fix_body_crc else self.body_crc
        return struct.pack("<IIQII", len(self.payload), hcrc, self.seq, bcrc, self.reserved) + self.hash + self.payload


def read_frames(seg):
    with open(seg, "rb") as f:
        raw = f.read()
    frames, off = [], SEG_HEADER
    while off + FRAME_HEADER <= len(raw):
        n = struct.unpack_from("<I", raw, off)[0]
        if n == 0 and not raw[off:off + 16].strip(b"\0"):
            break   # zeros: space a live writer preallocated (log.c), the end of its frames
        frames.append(Frame(seg, off, raw[off:off + FRAME_HEADER + n]))
        off += FRAME_HEADER + n
    return raw[:SEG_HEADER], frames


def write_segment(path, header, frames):
    with open(path, "wb") as f:
        f.write(header)
        for fr in frames:
            f.write(fr.encode())


# ---- the state digest (engine/core/include/snapshot.h), from the spec: an outside oracle ----

def _mp_head(b, off):
    """(header length, body bytes, child objects) of the msgpack object at off."""
    t = b[off]
    if t <= 0x7f or t >= 0xe0 or t in (0xc0, 0xc2, 0xc3):
        return 1, 0, 0
    if 0x80 <= t <= 0x8f:
        return 1, 0, 2 * (t & 15)
    if 0x90 <= t <= 0x9f:
        return 1, 0, t & 15
    if 0xa0 <= t <= 0xbf:
        return 1, t & 31, 0
    fixed = {0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8, 0xca: 4, 0xcb: 8}
    if t in fixed:
        return 1, fixed[t], 0
    w = {0xc4: 1, 0xd9: 1, 0xc5: 2, 0xda: 2, 0xdc: 2, 0xde: 2, 0xc6: 4, 0xdb: 4, 0xdd: 4, 0xdf: 4}[t]
    n = int.from_bytes(b[off + 1:off + 1 + w], "big")
    if t in (0xdc, 0xdd):
        return 1 + w, 0, n
    if t in (0xde, 0xdf):
        return 1 + w, 0, 2 * n
    return 1 + w, n, 0


def mp_skip(b, off):
    owed = 1
    while owed:
        head, body, kids = _mp_head(b, off)
        off += head + body
        owed += kids - 1
    return off


def mp_uint(b, off):
    t = b[off]
    if t <= 0x7f:
        return t, off + 1
    w = {0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8}[t]
    return int.from_bytes(b[off + 1:off + 1 + w], "big"), off + 1 + w


def state_parts(enc):
    """The parts of a state encoding (snapshot.h): (H(the bytes before the tenants), their length, and per
    tenant (id, its part's length, H(its part), perms used, features used)), H being BLAKE2b-256."""
    h = lambda x: hashlib.blake2b(x, digest_size=32).digest()
    off = mp_skip(enc, 0)
    n, off = mp_uint(enc, off)
    for _ in range(n):
        off = mp_skip(enc, off)
    glen, ghash = off, h(enc[:off])
    tenants, off = mp_uint(enc, off)
    parts = []
    for _ in range(tenants):
        start = off
        head, _, _ = _mp_head(enc, off)   # [id, admin, default, R, L, A, K, D, Q]
        off += head
        hl, idlen, _ = _mp_head(enc, off)
        tid = enc[off + hl:off + hl + idlen]
        off = mp_skip(enc, mp_skip(enc, mp_skip(enc, off)))
        counts = []
        for _ in range(6):
            c, off = mp_uint(enc, off)
            counts.append(c)
        masks = [0, 0]
        for _ in range(counts[0]):   # roles [id, kind, perms, creator]
            off += _mp_head(enc, off)[0]
            off = mp_skip(enc, mp_skip(enc, off))
            p, off = mp_uint(enc, off)
            masks[0] |= p
            off = mp_skip(enc, off)
        for _ in range(counts[1]):
            off = mp_skip(enc, off)
        for _ in range(counts[2]):   # accounts [kind, id, perms, features, tag, role, login]
            off += _mp_head(enc, off)[0]
            off = mp_skip(enc, mp_skip(enc, off))
            p, off = mp_uint(enc, off)
            f, off = mp_uint(enc, off)
            masks[0] |= p
            masks[1] |= f
            off = mp_skip(enc, mp_skip(enc, mp_skip(enc, off)))
        for c in counts[3:]:
            for _ in range(c):
                off = mp_skip(enc, off)
        parts.append((tid, off - start, h(enc[start:off]), masks[0], masks[1]))
    return glen, ghash, parts


def state_digest(enc):
    """The digest of a state encoding, by tenant: BLAKE2b-256 of "tmsperm-state-digest/2", H(the bytes before
    the tenants), le64(tenants), then per tenant le64(id length) id H(its part) le64(perms) le64(features)."""
    _, ghash, parts = state_parts(enc)
    out = b"tmsperm-state-digest/2" + ghash + struct.pack("<Q", len(parts))
    for tid, _, ph, perms, features in parts:
        out += struct.pack("<Q", len(tid)) + tid + ph + struct.pack("<QQ", perms, features)
    return hashlib.blake2b(out, digest_size=32).digest()


SNAP_HEADER = 188   # engine/storage/include/snapshots.h: length at 144, CRC32C at 184 (over all the rest)


def parts_table(enc):
    """A snapshot file's parts table for the encoding, with its footer (engine/storage/snapshot_parts.h)."""
    glen, ghash, parts = state_parts(enc)
    t = struct.pack("<Q", glen) + ghash + struct.pack("<Q", len(parts))
    for tid, plen, ph, perms, features in parts:
        t += bytes([len(tid)]) + tid + struct.pack("<Q", plen) + ph + struct.pack("<QQ", perms, features)
    return t + struct.pack("<II", len(t), crc32c(t))


def reseal_snapshot(f):
    """A snapshot file (bytearray) whose header or payload was changed made whole again: its parts table
    rewritten from its payload, its CRC32C recomputed. Returns the new bytes."""
    plen = struct.unpack_from("<Q", f, 144)[0]
    out = bytearray(f[:SNAP_HEADER + plen]) + parts_table(bytes(f[SNAP_HEADER:SNAP_HEADER + plen]))
    struct.pack_into("<I", out, 184, crc32c(bytes(out[SNAP_HEADER:]), crc32c(bytes(out[:184]))))
    return out


def chain_hash(prev, seq, payload):
    return hashlib.blake2b(prev + struct.pack("<Q", seq) + payload, digest_size=32).digest()


def split_segment(data, at_seq):
    """Move the frames from at_seq on into a new segment file (a valid
    two-segment log): <20-digit first seq>.tmslog with its own header."""
    seg = segments(data)[-1]
    header, frames = read_frames(seg)
    keep = [f for f in frames if f.seq < at_seq]
    move = [f for f in frames if f.seq >= at_seq]
    write_segment(seg, header, keep)
    new = os.path.join(os.path.dirname(seg), "%020d.tmslog" % at_seq)
    write_segment(new, SEG_MAGIC + struct.pack("<Q", at_seq), move)
    return seg, new


def copy_data(src, dst):
    shutil.copytree(src, dst)
    return dst


# ---- the fixed scenario the tool tests share ------------------------------------
# Four batches, each submitted by its own tmsctl run (so each has its own
# time). Two tenants; roles, R15 and R17 events, a rejected command, a
# released extension and a deleted one. The comments give the seqs.

def _c(cmd, tenant, actor, **f):
    d = {"cmd": cmd, "tenant": tenant, "actor": actor}
    d.update(f)
    return d


def _perms(tenant, actor, kind, id, enable=(), disable=()):
    return _c("SetPermissions", tenant, actor, kind=kind, id=id, enable=list(enable), disable=list(disable))


SCENARIO = [
    [   # batch 1: seqs 1-16
        _c("CreateTenant", "acme", "system", admin="admin"),                                    # 1
        _c("CreateTenant", "beta", "system", admin="root"),                                     # 2
        _c("AddManager", "acme", "admin", id="lead", new_login={"id": "login-lead"}),           # 3
        _perms("acme", "admin", "manager", "lead",
               ["tms_users.managers", "tms_users.distribution", "tms_users.permissions",
                "tms_users.roles", "reports.view", "recordings.listen", "calls.international"]),  # 4
        _c("AddManager", "acme", "lead", id="sub", new_login={"id": "login-sub"}),              # 5
        _c("CreateExtension", "acme", "admin", id="2001"),                                      # 6
        _c("CreateExtension", "acme", "admin", id="2002"),                                      # 7
        _c("CreateExtension", "acme", "admin", id="2003"),                                      # 8
        _c("Distribute", "acme", "admin", kind="extension", id="2001", manager="lead"),         # 9
        _c("Distribute", "acme", "admin", kind="extension", id="2002", manager="lead"),         # 10
        _c("Distribute", "acme", "admin", kind="extension", id="2003", manager="lead"),         # 11
        _c("TakeOwnership", "acme", "lead", id="2001"),                                         # 12
        _c("TakeOwnership", "acme", "lead", id="2002"),                                         # 13
        _c("TakeOwnership", "acme", "lead", id="2003"),                                         # 14
        _c("CreateRole", "acme", "lead", role="agent", account_type="extension",
           permissions=["reports.view"]),                                                       # 15
        _c("CreateRole", "acme", "lead", role="supervisor", account_type="extension",
           permissions=["reports.view", "recordings.listen"]),                                  # 16
    ],
    [   # batch 2: seqs 17-23
        _c("AssignRole", "acme", "lead", role="agent", ids=["2001", "2002"]),                   # 17
        _c("AssignRole", "acme", "lead", role="supervisor", ids=["2003"]),                      # 18
        _perms("acme", "lead", "extension", "2001", ["recordings.listen"]),                     # 19 R15
        _perms("acme", "sub", "extension", "2002", ["recordings.listen"]),                      # 20 rejected
        _c("CreateExtension", "beta", "root", id="9001"),                                       # 21
        _c("CreateRole", "beta", "root", role="ops", account_type="extension",
           permissions=["recordings.listen"]),                                                  # 22
        _c("AssignRole", "beta", "root", role="ops", ids=["9001"]),                             # 23
    ],
    [   # batch 3: seqs 24-27
        _perms("acme", "lead", "extension", "2003", [], ["recordings.listen"]),                 # 24 R15
        _c("DeleteRole", "acme", "lead", role="agent"),                                         # 25 R17 (2002)
        _perms("beta", "root", "extension", "9001", ["calls.international"]),                   # 26 R15
        _perms("acme", "admin", "manager", "sub", ["recordings.listen"]),                       # 27
    ],
    [   # batch 4: seqs 28-30
        _c("ReleaseOwnership", "acme", "lead", id="2001"),                                      # 28
        _perms("acme", "admin", "manager", "lead", [], ["recordings.listen"]),                  # 29
        _c("DeleteExtension", "acme", "admin", id="2003"),                                      # 30
    ],
]
BATCH_END = [16, 23, 27, 30]     # last seq of each batch


def build_scenario(run, data, snapshots=None):
    """Submit SCENARIO into data; returns the time marks after each batch.
    With snapshots (a list of directories), copy data there after each batch."""
    marks = []
    for i, b in enumerate(SCENARIO):
        marks += run.submit_batches(data, [b])
        if snapshots:
            copy_data(data, snapshots[i])
    return marks


def retime(data, times):
    """Give records new times (times: seq -> ns since the epoch), rewriting
    each payload's "time" (msgpack uint64 after the key) and recomputing the
    chain and both CRCs; the projection no longer matches and is removed.
    Lets a test place records on chosen days without waiting for them."""
    prev = b"\0" * 32
    for seg in segments(data):
        header, frames = read_frames(seg)
        for fr in frames:
            i = fr.payload.find(b"\xa4time\xcf")
            if fr.seq in times and i >= 0:
                fr.payload = fr.payload[:i + 6] + struct.pack(">Q", times[fr.seq]) + fr.payload[i + 14:]
            fr.hash = chain_hash(prev, fr.seq, fr.payload)
            prev = fr.hash
        write_segment(seg, header, frames)
    shutil.rmtree(os.path.join(data, "proj"), ignore_errors=True)
