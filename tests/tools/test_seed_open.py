#!/usr/bin/env python3
"""test_seed_open.py -- a seeded data directory (tms-restore seed; issue 18,
item 5) keeps opening where a whole log would be folded again, embedded, no
NATS (found by an independent review; each check failed before its fix):

1. after an unclean stop and a reboot (the projection's writer evidence
   names another boot, the projection is set aside): the open starts from
   the base snapshot and rebuilds the projection (it folded from seq 1,
   which a seeded log refuses: the directory never opened again);
2. after a tmsperm upgrade (its snapshots written by another build): a
   seeded directory takes a snapshot of the same schema from any build
   (there was no other start: never opened again);
3. the base snapshot is never pruned: tms-audit verify --key of a seeded
   directory that wrote two newer snapshots still starts from it;
4. the snapshot's time is in its signed note: a source that rewrites it
   (CRC recomputed) is refused (the seeded directory stamped its records
   with the forged time, year 2100);
5. a seed killed half-way leaves its mark (NEWDIR/.seeding): the open
   refuses the directory, and the next seed clears it and seeds.
usage: test_seed_open.py BIN_DIR"""
import json, os, shutil, struct, subprocess, sys, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from crc32c import crc32c  # noqa: E402
from seedtest import *  # noqa: E402,F401,F403


def rewrite_header(path, off, raw):
    f = bytearray(open(path, "rb").read())
    f[off:off + len(raw)] = raw
    struct.pack_into("<I", f, 184, crc32c(bytes(f[:184]) + bytes(f[188:])))   # over all after the header
    open(path, "wb").write(f)


def snaps(data):
    return sorted(n for n in os.listdir(os.path.join(data, "snapshots")) if n.endswith(".snap"))


def main():
    d = tempfile.mkdtemp(prefix="tms-seed-open-")
    try:
        src, vkey = leader(d, tenant("acme"), *[ext(i) for i in range(20)])
        # 1. unclean stop, then a reboot
        s, base = seeded(d, src, vkey, "s1")
        with open(os.path.join(s, "proj", "writer"), "w") as f:
            f.write("tmsperm-projection-writer 1\nboot 00000000-0000-0000-0000-000000000000\nstate open\n")
        r = submit(s, ext(100))
        check("1. a seeded directory opens after an unclean stop and a reboot", r.returncode == 0, r.stderr)
        # 2. a tmsperm upgrade: its snapshots were written by another build
        s, base = seeded(d, src, vkey, "s2")
        for n in snaps(s):
            rewrite_header(os.path.join(s, "snapshots", n), 128, b"0.11.9".ljust(16, b"\0"))
        r = submit(s, ext(100))
        check("2. a seeded directory opens after a tmsperm upgrade", r.returncode == 0, r.stderr)
        # 3. the base snapshot pruned
        s, base = seeded(d, src, vkey, "s3")
        for i in range(3):
            submit(s, ext(200 + i))
        r = run(AUDIT, "verify", "--data", s, "--key", vkey)
        check("3. tms-audit verify --key of a seeded directory after it wrote two snapshots (base %d, kept %s)"
              % (base, snaps(s)), r.returncode == 0, r.stderr)
        # 4. an unsigned time in the source's snapshot
        src4 = os.path.join(d, "src4")
        shutil.copytree(src, src4, ignore=shutil.ignore_patterns("lock"))
        for n in snaps(src4):
            rewrite_header(os.path.join(src4, "snapshots", n), 88, struct.pack("<q", 4102444800 * 10**9))
        to = os.path.join(d, "s4")
        r = run(RESTORE, "seed", "--from", src4, "--key", vkey, "--to", to)
        if r.returncode == 0:
            base = json.loads(r.stdout)["seeded_from"]
            submit(to, ext(300))
            w = run(CTL, "--data", to, "watch", "--from", str(base + 1), "--until", str(base + 1))
            t = json.loads(w.stdout.splitlines()[0])["time"] if w.stdout.strip() else w.stderr
            check("4. a snapshot time the key did not sign is not taken (the next record is not stamped %s)" % t,
                  not str(t).startswith("2100"), t)
        else:
            check("4. a snapshot time the key did not sign is refused: exit 1, nothing left",
                  r.returncode == 1 and not os.path.exists(os.path.join(to, "log")), (r.returncode, r.stderr))
        # 5. a seed killed half-way (its mark left, the projection not written yet)
        s, base = seeded(d, src, vkey, "s5")
        open(os.path.join(s, ".seeding"), "w").close()
        shutil.rmtree(os.path.join(s, "proj"))
        r = submit(s, ext(400))
        check("5. a directory whose seed was interrupted is refused by the open (not opened half-built)",
              r.returncode != 0 and "seed again" in r.stderr, (r.returncode, r.stderr))
        r = run(RESTORE, "seed", "--from", src, "--key", vkey, "--to", s)
        check("... and seeding it again clears it and seeds", r.returncode == 0 and "interrupted" in r.stderr and
              not os.path.exists(os.path.join(s, ".seeding")) and submit(s, ext(401)).returncode == 0,
              (r.returncode, r.stderr))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(report())


if __name__ == "__main__":
    main()
