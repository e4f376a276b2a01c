#!/usr/bin/env python3
"""test_datadir.py -- who may read a data directory (issue 19, items 1 and 2),
set up as the packages have it: the writer (tmsd, or an embedded tmsctl)
runs as one user under the unit's UMask=0027; a PBX process of another uid
in the writer's group reads the projection with the embedded reader
(`tmsctl --data DIR check`, tms_reader_* as examples/embedded/pbx_check.c
uses it). Writer: uid daemon; reader: uid nobody; their group: nogroup (any
system users and groups of the machine would do; nothing is created).

- a reader in the writer's group checks: after an embedded writer, while
  tmsd holds the directory (and sees tmsd's later records), after tmsd
  stopped; the modes are proj 0750, data.mdb 0640, lock.mdb 0660, writer
  0640, under umask 0027 and 0077 alike;
- lock.mdb left 0640 (an earlier version): the reader's error names the
  file, its mode, its owner and "Permission denied"; the next writer makes
  it 0660 and the reader checks;
- a reader outside the group: exit 2 naming Permission denied (never a
  silent deny); tmsd refusing a projection it may not open says why too;
- item 2: a data directory pre-created 0755 (or 2775) is 0750 (2750) after
  a writer's open, and the open's report says so (tmsctl's stderr, tmsd's
  log); a 0700 one stays 0700; one writable by its group or by anyone
  that the writer cannot tighten (root's) is refused, naming it, and left
  as it was.

Runs processes as other users: needs root (skipped otherwise, as a pass
with a note). usage: test_datadir.py BIN_DIR"""
import grp, json, os, pwd, signal, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, finish, run_cases  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
TMSD, TMSCTL = os.path.join(BIN, "tmsd"), os.path.join(BIN, "tmsctl")


def ids():
    group = next(g for g in ("nogroup", "nobody") if _has_group(g))
    other = next(g for g in ("bin", "sys", "adm", "daemon") if _has_group(g) and g != group)
    return pwd.getpwnam("daemon").pw_uid, pwd.getpwnam("nobody").pw_uid, grp.getgrnam(group).gr_gid, \
        grp.getgrnam(other).gr_gid


def _has_group(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


WRITER, READER, GROUP, OTHER = ids() if os.geteuid() == 0 else (0, 0, 0, 0)
CMDS = [{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"},
        {"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "1001"},
        {"cmd": "SetPermissions", "tenant": "acme", "actor": "admin", "kind": "extension", "id": "1001",
         "enable": ["recordings.listen"], "disable": []}]


def as_user(uid, gid, umask=0o027):
    """subprocess arguments running a program as uid:gid with no other group, under umask."""
    return dict(user=uid, group=gid, extra_groups=[], umask=umask)


def run(args, uid=0, gid=0, stdin="", umask=0o027):
    extra = as_user(uid, gid, umask) if uid else {}
    r = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60, **extra)
    return r.returncode, r.stdout, r.stderr


def submit(data, cmds, umask=0o027):
    return run([TMSCTL, "--data", data, "submit"], WRITER, GROUP, "".join(json.dumps(c) + "\n" for c in cmds), umask)


def reader_check(data, gid=None, ext="1001", name="recordings.listen"):
    return run([TMSCTL, "--data", data, "check", "acme", "extension", ext, name], READER,
               GROUP if gid is None else gid)


def mode(path):
    return os.stat(path).st_mode & 0o7777


def shared_dir(d):
    """d traversable by the other users (mkdtemp makes it 0700), and a data directory owned by the writer."""
    os.chmod(d, 0o755)
    data = os.path.join(d, "data")
    os.mkdir(data, 0o750)
    os.chown(data, WRITER, GROUP)
    return data


def test_group_reader_after_an_embedded_writer(d):
    os.chmod(d, 0o755)
    for umask in (0o027, 0o077):
        sub = os.path.join(d, "umask%o" % umask)
        os.mkdir(sub)
        data = shared_dir(sub)
        rc, out, err = submit(data, CMDS, umask)
        check("umask %04o: the writer's submit" % umask, rc == 0 and out.count("accepted") == 3, (rc, out, err))
        proj = os.path.join(data, "proj")
        got = {f: "%04o" % mode(os.path.join(proj, f)) for f in ("data.mdb", "lock.mdb", "writer")}
        got["proj"] = "%04o" % mode(proj)
        check("umask %04o: proj 0750, data.mdb 0640, lock.mdb 0660 (the readers' slots), writer 0640" % umask,
              got == {"proj": "0750", "data.mdb": "0640", "lock.mdb": "0660", "writer": "0640"}, got)
        rc, out, err = reader_check(data)
        check("umask %04o: a reader of another uid in the writer's group: allow" % umask,
              rc == 0 and out.strip() == "allow", (rc, out, err))
        rc, out, err = reader_check(data, name="calls.international")
        check("umask %04o: ... and deny" % umask, rc == 1 and out.strip() == "deny", (rc, out, err))


def test_lock_file_of_an_earlier_writer(d):
    data = shared_dir(d)
    rc, out, err = submit(data, CMDS)
    lock = os.path.join(data, "proj", "lock.mdb")
    os.chmod(lock, 0o640)   # as every earlier version left it
    rc, out, err = reader_check(data)
    check("lock.mdb 0640: the reader fails (exit 2), not a deny", rc == 2, (rc, out, err))
    check("... and says why: Permission denied, the file, its mode and owner, what it needs",
          "Permission denied" in err and lock in err and "0640" in err and "uid %d" % WRITER in err and
          "write" in err, err)
    rc, out, err = submit(data, [{"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "1002"}])
    check("the next writer makes lock.mdb 0660", rc == 0 and mode(lock) == 0o660, (rc, err, oct(mode(lock))))
    rc, out, err = reader_check(data)
    check("... and the reader checks", rc == 0 and out.strip() == "allow", (rc, out, err))


def test_reader_outside_the_group(d):
    data = shared_dir(d)
    submit(data, CMDS)
    rc, out, err = reader_check(data, gid=OTHER)
    check("a reader outside the group: exit 2 with Permission denied and the group it needs (not a silent deny)",
          rc == 2 and "Permission denied" in err and "group" in err, (rc, out, err))


def wait_socket(path, p, tries=500):
    for _ in range(tries):
        if os.path.exists(path) or p.poll() is not None:
            return os.path.exists(path)
        time.sleep(0.02)
    return False


def test_group_reader_beside_tmsd(d):
    data = shared_dir(d)
    submit(data, CMDS[:2])
    log = open(os.path.join(d, "tmsd.log"), "w")
    sock = os.path.join(data, "tmsd.sock")
    p = subprocess.Popen([TMSD, "--data", data], stdout=log, stderr=log, **as_user(WRITER, GROUP))
    try:
        check("tmsd runs as the writer", wait_socket(sock, p), open(os.path.join(d, "tmsd.log")).read())
        rc, out, err = reader_check(data)
        check("while tmsd holds the directory: the group reader checks (deny: not yet enabled)",
              rc == 1 and out.strip() == "deny", (rc, out, err))
        rc, out, err = run([TMSCTL, "--connect", sock, "submit"], stdin=json.dumps(CMDS[2]) + "\n")
        check("a submit through tmsd", rc == 0 and "accepted" in out, (rc, out, err))
        rc, out, err = reader_check(data)
        check("... the group reader sees it at once", rc == 0 and out.strip() == "allow", (rc, out, err))
        check("lock.mdb is 0660 while tmsd runs", mode(os.path.join(data, "proj", "lock.mdb")) == 0o660)
        p.send_signal(signal.SIGTERM)
        check("tmsd stops with 0", p.wait(timeout=30) == 0, open(os.path.join(d, "tmsd.log")).read()[-800:])
        rc, out, err = reader_check(data)
        check("after tmsd stopped: the group reader checks", rc == 0 and out.strip() == "allow", (rc, out, err))
        os.chown(os.path.join(data, "proj", "lock.mdb"), 0, 0)   # a root reader made it, say: tmsd may not write it
        os.chmod(os.path.join(data, "proj", "lock.mdb"), 0o640)
        r = subprocess.run([TMSD, "--data", data], capture_output=True, text=True, timeout=60, **as_user(WRITER, GROUP))
        check("tmsd that may not open its projection: exit 2 naming the file and Permission denied",
              r.returncode == 2 and "Permission denied" in r.stderr and "lock.mdb" in r.stderr, (r.returncode, r.stderr))
    finally:
        if p.poll() is None:
            p.kill()
        log.close()


def test_data_directory_tightened(d):
    os.chmod(d, 0o755)
    for pre, post in ((0o755, 0o750), (0o2775, 0o2750), (0o700, 0o700)):
        data = os.path.join(d, "pre%o" % pre)
        os.mkdir(data)
        os.chmod(data, pre)
        rc, out, err = run([TMSCTL, "--data", data, "submit"], stdin=json.dumps(CMDS[0]) + "\n")
        said = "the data directory %s was %04o: tightened to %04o" % (data, pre, post)
        check("a data directory pre-created %04o is %04o after the open" % (pre, post),
              rc == 0 and mode(data) == post, (rc, err, oct(mode(data))))
        check("... and the open's report says so (or nothing when nothing changed)",
              (said in err) == (pre != post), err)
    data = os.path.join(d, "tmsd")
    os.mkdir(data)
    os.chmod(data, 0o755)
    r = subprocess.Popen([TMSD, "--data", data], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_socket(os.path.join(data, "tmsd.sock"), r)
        r.send_signal(signal.SIGTERM)
        out = r.communicate(timeout=30)[0]
    finally:
        if r.poll() is None:
            r.kill()
    check("tmsd: tightened to 0750, said in its log", mode(data) == 0o750 and
          "tightened to 0750" in out and "level=warn" in out, out)
    # a directory the writer does not own (root's) but may write: through its group, or anyone's
    for pre in (0o775, 0o777):
        data = os.path.join(d, "root%o" % pre)
        os.mkdir(data)
        os.chown(data, 0, GROUP)
        os.chmod(data, pre)
        rc, out, err = submit(data, CMDS[:1])
        check("a directory writable by %s (%04o) the writer cannot tighten: refused, naming it and why" %
              ("anyone" if pre & 2 else "its group", pre),
              rc == 2 and "cannot be tightened" in err and data in err and "Operation not permitted" in err and
              not os.path.exists(os.path.join(data, "log")) and mode(data) == pre, (rc, err))


def main():
    if os.geteuid() != 0:
        print("test_datadir: not root, cannot run processes as other users: skipped")
        check("skipped (not root)", True)
        finish()
    run_cases(test_group_reader_after_an_embedded_writer, test_lock_file_of_an_earlier_writer,
              test_reader_outside_the_group, test_group_reader_beside_tmsd, test_data_directory_tightened,
              prefix="tms-datadir-")
    finish()


if __name__ == "__main__":
    main()
