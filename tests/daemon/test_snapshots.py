#!/usr/bin/env python3
"""test_snapshots.py -- tmsd's running snapshots (issue 18): written by a
child process every --snapshot-interval once --snapshot-records records were
added; a restart after kill -9 starts from the newest and folds only the
records after it, with the same answers as a fold of the whole log; status
and metrics say how far they go; the options are checked.

usage: test_snapshots.py BIN_DIR"""
import http.client, json, os, re, shutil, signal, subprocess, sys, threading, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from checks import check, finish, free_port, run_cases, wait_tcp  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
TMSD, TMSCTL, AUDIT = (os.path.join(BIN, p) for p in ("tmsd", "tmsctl", "tms-audit"))


def run(*args, stdin=None):
    r = subprocess.run([str(a) for a in args], input=stdin, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def commands(tenant, n):
    cmds = [{"cmd": "CreateTenant", "tenant": tenant, "actor": "system", "admin": "admin"}]
    cmds += [{"cmd": "CreateExtension", "tenant": tenant, "actor": "admin", "id": str(1000 + i)} for i in range(n)]
    cmds += [{"cmd": "GrantPermission", "tenant": tenant, "actor": "admin", "kind": "extension", "id": str(1000 + i),
              "permission": "calls.international"} for i in range(0, n, 3)]
    return "".join(json.dumps(c) + "\n" for c in cmds)


def started_lines(d):
    path = os.path.join(d, "tmsd.log")
    return open(path).read().count("msg=started") if os.path.exists(path) else 0


def start(d, data, *extra):
    port = free_port()
    before = started_lines(d)
    log = open(os.path.join(d, "tmsd.log"), "ab")
    p = subprocess.Popen([TMSD, "--data", data, "--http", "127.0.0.1:%d" % port] + [str(x) for x in extra],
                         stdout=log, stderr=log)
    wait_tcp(port, p, "tmsd")
    deadline = time.time() + 20   # the HTTP listener opens before the others: its "started" line comes after
    while started_lines(d) == before and time.time() < deadline and p.poll() is None:
        time.sleep(0.02)
    return p, port


def status(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/v1/status")
    return json.loads(c.getresponse().read())


def metrics(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    return c.getresponse().read().decode()


def snaps(data):
    p = os.path.join(data, "snapshots")
    return sorted(f for f in os.listdir(p) if f.endswith(".snap")) if os.path.isdir(p) else []


def answers(data, tenants):
    """Who may call internationally, per tenant, through tms-audit on DIR."""
    return [run(AUDIT, "who-can", "--data", data, "--tenant", t, "--permission", "calls.international")
            for t in tenants]


def started_from(d):
    lines = [l for l in open(os.path.join(d, "tmsd.log")).read().splitlines() if "msg=started" in l]
    m = re.search(r"from_snapshot=(\d+)", lines[-1]) if lines else None
    return int(m.group(1)) if m else -1


def case_running_snapshots_and_kill9(d):
    data = os.path.join(d, "data")
    p, port = start(d, data, "--snapshot-interval", "0.1", "--snapshot-records", "20")
    sock = os.path.join(data, "tmsd.sock")
    try:
        rc, _, err = run(TMSCTL, "--connect", sock, "submit", stdin=commands("acme", 40))
        check("submits through tmsd", rc == 0, err)
        deadline, st = time.time() + 15, {}
        while time.time() < deadline:
            st = status(port).get("snapshots") or {}
            if st.get("written", 0) >= 1 and not st.get("running"):
                break
            time.sleep(0.05)
        last = status(port)["last_seq"]
        check("a snapshot is written while tmsd runs (status: seq, written, no error)",
              st.get("written", 0) >= 1 and st.get("seq") == last and st.get("error") is None, st)
        check("... its file is in DIR/snapshots", "%020d.snap" % last in snaps(data), snaps(data))
        check("... and /metrics says its seq", "tmsd_snapshot_seq %d" % last in metrics(port), "")
        snap_seq = last
        # fewer records than --snapshot-records: no new snapshot, a tail for the next start
        run(TMSCTL, "--connect", sock, "submit", stdin=commands("globex", 5))
        time.sleep(0.4)
        last2 = status(port)["last_seq"]
        check("fewer records than --snapshot-records: no snapshot yet", (status(port)["snapshots"]["seq"] ==
              snap_seq) and last2 > snap_seq, status(port)["snapshots"])
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    check("kill -9 writes no snapshot of the end", "%020d.snap" % last2 not in snaps(data), snaps(data))
    ref = os.path.join(d, "ref")
    shutil.copytree(data, ref, ignore=shutil.ignore_patterns("*.sock"))
    shutil.rmtree(os.path.join(ref, "snapshots"))
    p, port = start(d, data, "--snapshot-interval", "0.1", "--snapshot-records", "20")
    try:
        check("the restart starts from the newest snapshot (the log folded after it only)",
              started_from(d) == snap_seq, started_from(d))
        check("... and has every acknowledged record", status(port)["last_seq"] == last2, status(port))
    finally:
        p.send_signal(signal.SIGTERM)
        check("a clean stop exits 0", p.wait(timeout=30) == 0)
    check("the clean stop writes the snapshot of the end", "%020d.snap" % last2 in snaps(data), snaps(data))
    check("answers equal those of the directory folded whole",
          answers(data, ["acme", "globex"]) == answers(ref, ["acme", "globex"]))
    rc, out, err = run(AUDIT, "verify", "--data", data)
    check("verify holds, and checks the kept snapshots", rc == 0 and json.loads(out).get("snapshots", 0) >= 1,
          out + err)


def case_submits_go_on_while_a_snapshot_is_written(d):
    """Snapshots forked under a stream of submits: every submit is acknowledged, none fails, several snapshots
    are written, and the directory verifies."""
    data = os.path.join(d, "data")
    p, port = start(d, data, "--snapshot-interval", "0.05", "--snapshot-records", "10")
    sock = os.path.join(data, "tmsd.sock")
    fails = []
    try:
        for i in range(30):
            rc, _, err = run(TMSCTL, "--connect", sock, "submit", stdin=commands("t%d" % i, 6))
            if rc != 0:
                fails.append(err)
            time.sleep(0.02)
        time.sleep(0.3)
        st = status(port)["snapshots"]
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    check("every submit acknowledged while snapshots were written", not fails, fails[:2])
    check("several snapshots written, none failed", st["written"] >= 3 and st["failed"] == 0, st)
    check("only the newest two are kept", len(snaps(data)) <= 2, snaps(data))
    rc, out, err = run(AUDIT, "verify", "--data", data)
    check("the directory verifies", rc == 0, out + err)


def case_options(d):
    data = os.path.join(d, "data")
    for args, want in ((["--snapshot-interval", "-1"], "--snapshot-interval"),
                       (["--snapshot-interval", "x"], "--snapshot-interval"),
                       (["--snapshot-records", "0"], "--snapshot-records")):
        rc, out, err = run(TMSD, "--data", data, *args)
        check("tmsd %s: exit 2 naming the option" % " ".join(args), rc == 2 and want in err, err)
    p, port = start(d, data, "--snapshot-interval", "0")
    try:
        run(TMSCTL, "--connect", os.path.join(data, "tmsd.sock"), "submit", stdin=commands("acme", 30))
        time.sleep(0.3)
        st = status(port)
        check("--snapshot-interval 0: none while running (no status section)", "snapshots" not in st and
              snaps(data) == [], (st.get("snapshots"), snaps(data)))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    check("... and one at the clean stop", len(snaps(data)) == 1, snaps(data))
    shutil.rmtree(os.path.join(data, "snapshots"))   # the next open folds the whole log
    p, port = start(d, data, "--snapshot-interval", "0")
    try:
        check("a whole fold: tmsd takes no snapshot at its open (\"started\" first)", snaps(data) == [],
              snaps(data))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    check("... its clean stop does", len(snaps(data)) == 1, snaps(data))


def case_open_progress(d):
    """A long open tells systemd (Type=notify) how far it is and asks for more start time (EXTEND_TIMEOUT_USEC)
    before READY=1, at each phase: the screen, the fold (from a snapshot or not), the tree. A projection level
    with the log and a snapshot to start from: the tail's fold comes after READY=1 (fold=after), before the
    first write (docs/trust.md); without a snapshot the fold is before it, as ever."""
    import socket
    data = os.path.join(d, "data")
    run(TMSCTL, "--data", data, "submit", stdin=commands("acme", 50))
    first = snaps(data)
    run(TMSCTL, "--data", data, "submit", stdin=commands("globex", 5))
    for f in snaps(data):   # the first snapshot the newest, with a tail after it (globex's) to fold
        if f not in first:
            os.unlink(os.path.join(data, "snapshots", f))
    check("a snapshot with a tail after it", len(first) == 1 and snaps(data) == first, (first, snaps(data)))
    for rnd, (fold, phases_want) in enumerate([("after", ["screen", "tree"]), ("done", ["screen", "fold", "tree"])]):
        said = "screen=after fold=after" if rnd == 0 else "screen=done fold=done"   # (no snapshot: screened first)
        if rnd:
            shutil.rmtree(os.path.join(data, "snapshots"))   # the next open folds the whole log first
        notify = os.path.join(d, "notify%d" % rnd)
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(notify)
        ns.settimeout(10)
        logname = os.path.join(d, "tmsd%d.log" % rnd)
        log = open(logname, "ab")
        p = subprocess.Popen([TMSD, "--data", data, "--socket", os.path.join(d, "s.sock")], stdout=log, stderr=log,
                             env=dict(os.environ, NOTIFY_SOCKET=notify))
        got = []
        try:
            while not any("READY=1" in m for m in got):
                got.append(ns.recv(4096).decode())
            one = json.dumps({"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "9%03d" % rnd})
            rc, out, err = run(TMSCTL, "--connect", os.path.join(d, "s.sock"), "submit", stdin=one + "\n")
            check("fold=%s: the first write after READY=1 is accepted" % fold,
                  rc == 0 and '"verdict":"accepted"' in out, out + err)
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
        before = got[:-1]
        phases = [m.split("STATUS=opening: ")[1].split()[0] for m in before if "EXTEND_TIMEOUT_USEC=60000000" in m]
        check("fold=%s: before READY=1, EXTEND_TIMEOUT_USEC with the phase: %s" % (fold, phases_want),
              phases == phases_want, got)
        text = open(logname).read()
        check("... the started line says %s" % said, said in text and
              ("from_snapshot=%d" % int(first[0].split(".")[0]) in text if rnd == 0 else True), text[-600:])
        check("... a quick open logs none of it (the log says a phase once the open has taken 2 s)",
              "msg=opening" not in text, text[-600:])


def case_stop_during_the_open(d):
    """SIGTERM while tmsd still opens (a projection rebuilt from a 90k-record log): a stop asked for, exit 0,
    said in the log; the next start opens the same directory, which verifies."""
    gen = os.path.join(BIN, "..", "benchmarks", "gen_log")
    data = os.path.join(d, "data")
    r = subprocess.run([gen, "--tenants", "3", "--extensions", "20000", "--seed", "3", "--data", data],
                       capture_output=True, text=True, timeout=300)
    check("a gen_log directory", r.returncode == 0, r.stderr[-300:])
    shutil.rmtree(os.path.join(data, "proj"))
    shutil.rmtree(os.path.join(data, "snapshots"), ignore_errors=True)
    import socket
    notify = os.path.join(d, "notify2")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(notify)
    ns.settimeout(30)
    log = os.path.join(d, "tmsd.log")
    p = subprocess.Popen([TMSD, "--data", data, "--socket", os.path.join(d, "s.sock")], stdout=open(log, "ab"),
                         stderr=subprocess.STDOUT, env=dict(os.environ, NOTIFY_SOCKET=notify))
    while "STATUS=opening: fold" not in ns.recv(4096).decode():
        pass   # the fold of the whole log has begun (the projection is rebuilt after it)
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=60)
    text = open(log).read()
    check("SIGTERM during the open: exit 0, said in the log", rc == 0 and "stopped during the open" in text,
          (rc, text[-500:]))
    p, port = start(d, data)
    try:
        check("the next start opens it", status(port)["last_seq"] > 50000, status(port)["last_seq"])
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
    rc, out, err = run(AUDIT, "verify", "--data", data)
    check("... and it verifies", rc == 0, out + err)


def children_of(pid):
    """The live pids whose parent is pid (from /proc)."""
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open("/proc/%s/stat" % e) as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == pid and fields[0] != "Z":   # a zombie (ended, not yet reaped) is no child at work
                out.append(int(e))
    return out


def open_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def catch_a_child(p, sock):
    """Submit until a snapshot's child of tmsd p is caught, stopped (SIGSTOP), after it let go of what the
    writer holds (no descriptor beyond 0-2); one caught earlier is let go on (SIGCONT) and another awaited.
    Its pid, or None after 20 s."""
    deadline, n = time.time() + 20, 0
    while time.time() < deadline:
        n += 1
        run(TMSCTL, "--connect", sock, "submit", stdin=commands("t%d" % n, 25))
        end = time.time() + 0.5
        while time.time() < end:
            for kid in children_of(p.pid):
                try:
                    os.kill(kid, signal.SIGSTOP)
                except ProcessLookupError:
                    continue
                if 0 <= open_fds(kid) <= 3:
                    return kid
                os.kill(kid, signal.SIGCONT)   # too early (or it holds the writer's descriptors): not this one
    return None


def case_kill9_while_a_child_writes(d):
    """kill -9 of tmsd while its snapshot's child is still writing (the child runs under SCHED_IDLE: on a busy
    machine it may wait long for a CPU; here it is stopped, SIGSTOP, to make that moment last): the child holds
    none of tmsd's descriptors and dies with it, so the restart opens at once. (Before: the child kept the data
    directory's lock, "is held by pid N" until it ended, and the listening socket, a client connecting to the
    dead tmsd's socket through it hung.)"""
    data = os.path.join(d, "data")
    sock = os.path.join(d, "c.sock")
    p, port = start(d, data, "--socket", sock, "--snapshot-interval", "0.1", "--snapshot-records", "20")
    try:
        child = catch_a_child(p, sock)
        check("a snapshot's child, caught while it writes, holds no descriptor of tmsd's (0-2 only)",
              child is not None)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    if child is None:
        return
    gone, end = False, time.time() + 10
    while time.time() < end and not gone:
        try:
            with open("/proc/%d/stat" % child) as f:
                gone = f.read().split(") ")[1][0] == "Z"   # a zombie (re-parented, not yet reaped) is gone too
        except OSError:
            gone = True
        time.sleep(0.05)
    check("the child died with tmsd (PR_SET_PDEATHSIG)", gone)
    log = os.path.join(d, "tmsd.log")
    before = open(log).read().count("msg=started")
    try:
        p, port = start(d, data, "--socket", sock)
    except Exception as e:   # it exited: the lock still held
        check("the restart after kill -9 opens at once", False, "%s %s" % (e, open(log).read()[-400:]))
        p = None
    finally:
        if not gone:
            os.kill(child, signal.SIGKILL)
    if p is None:
        return
    try:
        text = open(log).read()
        check("the restart after kill -9 opens at once (not 'held by pid')", text.count("msg=started") > before and
              "is held by pid" not in text, text[-600:])
        check("... and answers", status(port)["last_seq"] > 0)
    finally:
        p.send_signal(signal.SIGTERM)
        check("... and stops cleanly", p.wait(timeout=30) == 0)


def damage_an_account(proj):
    """One account's value in the projection changed behind tmsd's back (mdb_dump / mdb_load, lmdb-utils): LMDB
    keeps no checksums, so it still reads; only its digest tells."""
    out = subprocess.run(["mdb_dump", "-s", "accounts", proj], capture_output=True, text=True, check=True).stdout
    lines = [l for l in out.splitlines() if not l.startswith("db_pagesize=")]   # (mdb_load takes no such key)
    end = lines.index("HEADER=END")
    key, val = lines[end + 1], lines[end + 2]
    val = val[:-1] + ("0" if val[-1] != "0" else "1")   # the value's last nibble
    dump = os.path.join(os.path.dirname(proj), "one.dump")
    with open(dump, "w") as f:
        f.write("\n".join(lines[:end + 1] + [key, val, "DATA=END"]) + "\n")
    subprocess.run(["mdb_load", "-s", "accounts", "-f", dump, proj], check=True)
    os.unlink(dump)


def serve_and_submit(d, data, tenant, what, screen):
    """tmsd started on data: its started line says screen=<screen>; once status says the projection's screen
    held, a submit for tenant goes through; a clean stop exits 0. The log's text."""
    p, port = start(d, data, "--snapshot-interval", "0")
    try:
        text = open(os.path.join(d, "tmsd.log")).read()
        started = [l for l in text.splitlines() if "msg=started" in l]
        check(what, started and "screen=%s" % screen in started[-1], started[-1:])
        deadline = time.time() + 20
        while status(port).get("projection_screen") != "held" and time.time() < deadline:
            time.sleep(0.05)
        check("... judged held (status projection_screen)", status(port).get("projection_screen") == "held",
              status(port))
        rc, _, err = run(TMSCTL, "--connect", os.path.join(data, "tmsd.sock"), "submit", stdin=commands(tenant, 2))
        check("... and writes go on", rc == 0, err)
    finally:
        p.send_signal(signal.SIGTERM)
        check("a clean stop exits 0", p.wait(timeout=30) == 0)
    return open(os.path.join(d, "tmsd.log")).read()


def case_damage_found_after_the_open(d):
    """docs/trust.md, "The projection's screen after the open": tmsd opens a level projection without reading
    it (screen=after in its started line; status projection_screen pending, then held), and judges it after.
    Damage the open did not read is found then: tmsd logs why and exits 1, DIR/proj/unscreened left; the
    restart screens first (screen=done), sets the snapshot aside, folds the log, rebuilds the projection, and
    answers as the undamaged directory."""
    data = os.path.join(d, "data")
    p, port = start(d, data, "--snapshot-interval", "0")
    try:
        rc, _, err = run(TMSCTL, "--connect", os.path.join(data, "tmsd.sock"), "submit",
                         stdin=commands("acme", 40) + commands("globex", 40))
        check("submits through tmsd", rc == 0, err)
    finally:
        p.send_signal(signal.SIGTERM)
        check("a clean stop exits 0", p.wait(timeout=30) == 0)
    ref = os.path.join(d, "ref")
    serve_and_submit(d, data, "initech", "undamaged: the screen put off after the open (screen=after)", "after")
    check("... the mark removed", not os.path.exists(os.path.join(data, "proj", "unscreened")))
    shutil.copytree(data, ref, ignore=shutil.ignore_patterns("*.sock"))
    snap = snaps(data)[-1]
    damage_an_account(os.path.join(data, "proj"))
    log = open(os.path.join(d, "tmsd.log"), "ab")
    before = len(open(os.path.join(d, "tmsd.log")).read())
    p = subprocess.Popen([TMSD, "--data", data, "--socket", os.path.join(d, "s.sock"), "--snapshot-interval", "0"],
                         stdout=log, stderr=log)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    text = open(os.path.join(d, "tmsd.log")).read()[before:]
    check("damage found after the open: tmsd exits 1", rc == 1, text[-800:])
    check("... saying why in its log", "screen=after" in text and "is not the log's state at seq" in text, text[-800:])
    check("... nothing set aside yet, the mark left", snaps(data)[-1] == snap and
          os.path.exists(os.path.join(data, "proj", "unscreened")), os.listdir(os.path.join(data, "snapshots")))
    text = serve_and_submit(d, data, "hooli", "the restart screens first (screen=done)", "done")[before:]
    check("... sets aside the snapshot it started from, and rebuilds", "projection rebuilt" in text and
          os.path.exists(os.path.join(data, "snapshots", snap + ".bad")), text[-800:])
    check("answers equal those of the undamaged directory",
          answers(data, ["acme", "globex", "initech"]) == answers(ref, ["acme", "globex", "initech"]))
    rc, out, err = run(AUDIT, "verify", "--data", data)
    check("the directory verifies", rc == 0, out + err)


run_cases(case_running_snapshots_and_kill9, case_submits_go_on_while_a_snapshot_is_written, case_options,
          case_open_progress, case_stop_during_the_open, case_kill9_while_a_child_writes,
          case_damage_found_after_the_open)
finish()
