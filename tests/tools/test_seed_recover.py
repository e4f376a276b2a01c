#!/usr/bin/env python3
"""test_seed_recover.py -- a seeded data directory (tms-restore seed) where a
whole log would be folded again, embedded (from a second independent
review; each check failed before its fix):

1. no snapshot replays the records after it (the base snapshot's state
   altered, digest and CRC recomputed; in the field: an upgrade whose rules
   give another verdict): the open fails and says so, nothing set aside (it
   looped for ever holding the data directory's lock, setting every
   snapshot aside);
2. a projection rebuilt on a seeded directory (an unclean stop and a
   reboot) is folded from the base's snapshot with its as-of index seeded
   there and written record by record: watch answers as the leader's (it
   said the last record changed every account and the others nothing);
3. records cut from a seeded directory's log: accept-loss works (it said
   "seed it again");
4. a second seed into a NEWDIR another seed is laying down (its mark
   locked, as a running seed holds it) is refused and touches nothing (it
   took the first one's files for a killed seed's, removed them and seeded
   again, both writing); once the lock is gone (the first seed killed) the
   next seed clears the half-built directory and seeds.
usage: test_seed_recover.py BIN_DIR"""
import fcntl, glob, hashlib, json, os, shutil, struct, subprocess, sys, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from seedtest import *  # noqa: E402,F401,F403
from tooltest import reseal_snapshot, state_digest  # noqa: E402


def alter_snapshot(path, old, new):
    f = bytearray(open(path, "rb").read())
    plen = struct.unpack_from("<Q", f, 144)[0]
    pay = bytes(f[188:188 + plen])
    assert pay.count(old) == 1, pay.count(old)
    pay = pay.replace(old, new)
    f[188:188 + plen] = pay
    f[96:128] = state_digest(pay)   # the state digest: its content's (by tenant)
    open(path, "wb").write(reseal_snapshot(f))   # its parts table and CRC: its content's


def case_loop(d):
    src, vkey = leader(d, tenant("acme"), *[ext(i) for i in range(20)])
    s, base = seeded(d, src, vkey, "s1")
    r = submit(s, ext("x1z"))   # record base + 1: accepted on the real state
    assert r.returncode == 0, r.stderr
    snaps = os.path.join(s, "snapshots")
    for n in os.listdir(snaps):   # only the base snapshot left ...
        if not n.startswith("%020d." % base):
            os.unlink(os.path.join(snaps, n))
    # ... and in its state x19 is x1z (order kept): record base + 1 no longer replays on it
    alter_snapshot(os.path.join(snaps, "%020d.snap" % base), b"x19", b"x1z")
    try:
        r = submit(s, ext(30), timeout=30)
        check("1. no snapshot replays the log: the open fails and says so", r.returncode != 0 and "seed" in r.stderr,
              (r.returncode, r.stderr))
    except subprocess.TimeoutExpired:
        check("1. no snapshot replays the log: the open fails and says so", False,
              "the open did not end in 30 s (load_state loops on restart_based); snapshots now: %s"
              % sorted(os.listdir(snaps)))


def watch(data, a, b):
    w = run(CTL, "--data", data, "watch", "--from", str(a), "--until", str(b))
    return [(json.loads(x)["seq"], json.loads(x)["changed"]) for x in w.stdout.splitlines()] or w.stderr


def case_watch(d):
    src, vkey = leader(d, tenant("acme"), tenant("beta"), *[ext(i) for i in range(5)],
                       *[ext("y%d" % i, "beta") for i in range(5)])
    s, base = seeded(d, src, vkey, "s2")
    for data in (src, s):
        submit(data, ext("n1"), ext("n2"), ext("m1", "beta"))
    last = base + 3
    before = watch(s, base + 1, last)
    with open(os.path.join(s, "proj", "writer"), "w") as f:   # an unclean stop, then a reboot
        f.write("tmsperm-projection-writer 1\nboot 00000000-0000-0000-0000-000000000000\nstate open\n")
    r = submit(s, ext("m2", "beta"))
    assert r.returncode == 0 and "rebuilt" in r.stderr, r.stderr
    want, got = watch(src, base + 1, last), watch(s, base + 1, last)
    check("2. watch of a seeded directory after its projection was rebuilt answers as the leader's",
          got == want, "leader %s; seeded before the rebuild %s; after %s" % (want, before, got))


def case_accept_loss(d):
    src, vkey = leader(d, tenant("acme"), *[ext(i) for i in range(5)])
    s, base = seeded(d, src, vkey, "s3")
    r = submit(s, ext(100), ext(101))
    assert r.returncode == 0, r.stderr
    seg = sorted(glob.glob(os.path.join(s, "log", "*.tmslog")))[-1]
    with open(seg, "r+b") as f:   # record base + 2 was acknowledged: cut, a loss
        f.truncate(os.path.getsize(seg) - 7)
    r = submit(s, ext(102))
    assert r.returncode != 0 and "accept-loss" in r.stderr, r.stderr
    r = run(CTL, "--data", s, "accept-loss", "--reason", "disk replaced")
    check("3. accept-loss on a seeded directory (the open's refusal says to run it)", r.returncode == 0,
          (r.returncode, r.stderr))


def case_concurrent(d):
    src, vkey = leader(d, tenant("acme"), *[ext(i) for i in range(5)])
    to = os.path.join(d, "s4")
    os.makedirs(os.path.join(to, "log"))
    work = os.path.join(to, "log", "00000000000000000001.tmslog")   # the running seed's work so far
    open(work, "wb").write(b"half a segment")
    mark = open(os.path.join(to, ".seeding"), "w")
    mark.write("424242\n")
    mark.flush()
    fcntl.flock(mark, fcntl.LOCK_EX)   # held as a running seed holds it
    r = run(RESTORE, "seed", "--from", src, "--key", vkey, "--to", to)
    check("4. a second seed into a NEWDIR being seeded is refused, naming the first",
          r.returncode != 0 and "being seeded" in r.stderr and "424242" in r.stderr, (r.returncode, r.stderr))
    check("4. ... and touches nothing of the first one's", os.path.exists(work) and
          os.path.exists(os.path.join(to, ".seeding")), sorted(os.listdir(to)))
    mark.close()   # the first seed killed: its lock goes with it
    r = run(RESTORE, "seed", "--from", src, "--key", vkey, "--to", to)
    check("4. then the next seed clears the half-built directory and seeds", r.returncode == 0 and
          "interrupted" in r.stderr and not os.path.exists(os.path.join(to, ".seeding")), (r.returncode, r.stderr))


def main():
    d = tempfile.mkdtemp(prefix="tms-seed-recover-")
    try:
        for c in (case_loop, case_watch, case_accept_loss, case_concurrent):
            os.mkdir(os.path.join(d, c.__name__))
            c(os.path.join(d, c.__name__))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(report())


if __name__ == "__main__":
    main()
