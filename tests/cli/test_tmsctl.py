#!/usr/bin/env python3
"""test_tmsctl.py -- the command-line edge of tmsctl (SPEC section 6) as a
process sees it: exit codes, --help, over-long and binary lines, a held data
directory, a torn log tail reported on stderr, corruption refused.

usage: test_tmsctl.py BIN_DIR     (prints 'N passed, N failed')
"""
import glob, json, os, shutil, subprocess, sys, tempfile, time

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/bin"
TMSCTL = os.path.join(BIN, "tmsctl")
passed = failed = 0

def run(args, stdin=b""):
    p = subprocess.run([TMSCTL] + args, input=stdin, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

def case(fn):
    global passed, failed
    try:
        with tempfile.TemporaryDirectory() as d:
            fn(d)
        passed += 1
    except AssertionError as e:
        failed += 1
        print("FAIL %s: %s" % (fn.__name__, e))

TENANT = b'{"cmd":"CreateTenant","tenant":"acme","actor":"system","admin":"admin"}\n'
EXT = b'{"cmd":"CreateExtension","tenant":"acme","actor":"admin","id":"%d"}\n'

def verdicts(out):
    return [json.loads(l) for l in out.splitlines() if l.strip()]

@case
def test_help_and_usage_exit_codes(d):
    rc, out, _ = run(["--help"])
    assert rc == 0 and "submit" in out and "check" in out, (rc, out)
    rc, _, err = run([])
    assert rc == 2, rc
    rc, _, err = run(["--data", d, "frobnicate"])
    assert rc == 2 and err.startswith("tmsctl:") and len(err.strip().splitlines()) == 1, (rc, err)
    rc, _, err = run(["--data", d, "check", "acme", "extension"])
    assert rc == 2, rc
    rc, _, err = run(["--data", os.path.join(d, "missing"), "check", "acme", "extension", "1", "reports.view"])
    assert rc == 2 and "no data directory" in err, (rc, err)
    rc, _, err = run(["--data", d, "submit", os.path.join(d, "no-such-file")])
    assert rc == 2 and "cannot open" in err, (rc, err)
    for cmd in (["submit"], ["check"], ["show", "acme"], ["visible"], ["accept-loss"], ["check", "-h"]):
        for where in ([], ["--data", d]):   # COMMAND --help: the usage on stdout, exit 0, options or not
            rc, out, err = run(where + cmd + ["--help"])
            assert rc == 0 and out.startswith("usage: tmsctl") and "--min-seq" in out, (where + cmd, rc, out, err)

@case
def test_an_answer_that_cannot_be_written_is_exit_2(d):
    # SPEC section 6: a failure is never exit 0 (or 1, "deny"); /dev/full refuses every write
    with open("/dev/full", "wb") as full:
        for args in (["submit"], ["check", "acme", "admin", "admin", "reports.view"],
                     ["show", "acme", "extension", "1001"], ["visible", "acme", "nobody"]):
            p = subprocess.run([TMSCTL, "--data", d] + args, input=TENANT + EXT % 1001 if args == ["submit"] else b"",
                               stdout=full, stderr=subprocess.PIPE, timeout=60)
            assert p.returncode == 2 and b"cannot write the output" in p.stderr, (args, p.returncode, p.stderr)
    rc, out, _ = run(["--data", d, "show", "acme", "extension", "1001"])   # the submit itself went through
    assert rc == 0 and json.loads(out)["id"] == "1001", (rc, out)

@case
def test_overlong_and_binary_lines_are_invalid_and_the_rest_goes_on(d):
    big = b'{"cmd":"CreateExtension","tenant":"acme","actor":"admin","id":"1","origin":"' + b"x" * (2 << 20) + b'"}\n'
    garbage = bytes(range(256)).replace(b"\n", b"") + b"\n"
    stdin = TENANT + big + garbage + b"\xff\xfe{}\n" + b"\n" + EXT % 1001
    rc, out, err = run(["--data", d, "submit"], stdin)
    v = verdicts(out)
    assert rc == 0, (rc, err)
    assert [x["verdict"] for x in v] == ["accepted", "rejected", "rejected", "rejected", "accepted"], v
    assert v[1]["seq"] is None and v[1]["error"] == "INVALID_COMMAND" and "exceeds" in v[1]["message"], v[1]
    assert v[2]["seq"] is None and v[3]["seq"] is None, v
    assert v[4]["seq"] == 2, v   # invalid input is not logged: seqs stay contiguous

@case
def test_check_show_visible_exit_codes(d):
    run(["--data", d, "submit"], TENANT + EXT % 1001)
    rc, out, _ = run(["--data", d, "check", "acme", "extension", "1001", "reports.view"])
    assert rc == 1 and out.strip() == "deny", (rc, out)
    rc, out, _ = run(["--data", d, "show", "acme", "extension", "1001"])
    assert rc == 0 and json.loads(out)["id"] == "1001", (rc, out)
    rc, out, _ = run(["--data", d, "show", "acme", "extension", "1002"])
    assert rc == 1 and out == "", (rc, out)
    rc, out, _ = run(["--data", d, "show", "acme", "extension", "bad id"])
    assert rc == 1 and out == "", (rc, out)
    rc, out, _ = run(["--data", d, "visible", "acme", "nobody"])
    assert rc == 0 and json.loads(out) == [], (rc, out)

@case
def test_min_seq_answers_when_reached_and_exits_2_naming_the_seq_when_not(d):
    # SPEC section 7, freshness, embedded: the projection is at seq 2
    run(["--data", d, "submit"], TENANT + EXT % 1001)
    for args in (["check", "--min-seq", "2", "acme", "admin", "admin", "reports.view"],
                 ["show", "--min-seq", "1", "acme", "extension", "1001"],
                 ["visible", "--min-seq", "2", "--wait", "0", "acme", "nobody"]):
        rc, out, err = run(["--data", d] + args)
        assert rc == 0 and out.strip(), (args, rc, out, err)
    t0 = time.monotonic()
    rc, out, err = run(["--data", d, "check", "--min-seq", "3", "--wait", "150", "acme", "admin", "admin", "reports.view"])
    waited = time.monotonic() - t0
    assert rc == 2 and out == "" and "at seq 2" in err and "--min-seq 3" in err, (rc, out, err)
    assert waited >= 0.15, waited
    for bad in (["--min-seq", "x"], ["--min-seq", "0"], ["--min-seq", "-1"], ["--wait", "10"],
                ["--min-seq", "1", "--wait", "soon"]):
        rc, out, err = run(["--data", d, "check"] + bad + ["acme", "admin", "admin", "reports.view"])
        assert rc == 2 and out == "" and err, (bad, rc, out, err)
    rc, out, err = run(["--data", d, "show", "--min-seq", "1", "acme", "extension"])
    assert rc == 2 and "show needs" in err, (rc, err)

@case
def test_a_held_data_directory_is_refused_with_the_holder(d):
    run(["--data", d, "submit"], TENANT)
    # hold the writer lock as another writer would (this test process)
    import fcntl
    with open(os.path.join(d, "lock"), "r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.seek(0)
        lock.truncate()
        lock.write("%d\n" % os.getpid())
        lock.flush()
        rc, out, err = run(["--data", d, "submit"], EXT % 1001)
        assert rc == 2 and ("held by pid %d" % os.getpid()) in err and out == "", (rc, out, err)
        # readers are not blocked by a writer
        rc, out, err = run(["--data", d, "check", "acme", "admin", "admin", "reports.view"])
        assert rc == 0 and out.strip() == "allow", (rc, out, err)
    rc, out, _ = run(["--data", d, "submit"], EXT % 1001)
    assert rc == 0 and verdicts(out)[0]["seq"] == 2, (rc, out)

@case
def test_a_torn_tail_is_cut_and_reported_and_corruption_refused(d):
    run(["--data", d, "submit"], TENANT + EXT % 1001 + EXT % 1002)
    seg = sorted(glob.glob(os.path.join(d, "log", "*.tmslog")))[-1]
    size = os.path.getsize(seg)
    with open(seg, "r+b") as f:         # a group whose write was cut by a crash: never acknowledged
        f.seek(size - 60)
        partial = f.read(40)
        f.seek(size)
        f.write(partial[:4] + b"\xff" * 36)
    rc, out, err = run(["--data", d, "submit"], EXT % 1003)
    assert rc == 0 and "torn" in err, (rc, err)
    v = verdicts(out)
    assert v[0]["seq"] == 4 and v[0]["verdict"] == "accepted", v   # the torn bytes were cut, nothing lost
    with open(seg, "r+b") as f:          # now damage a record in the middle
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 0x40]))
    rc, out, err = run(["--data", d, "submit"], EXT % 1004)
    assert rc == 2 and out == "" and "seq" in err and "offset" in err, (rc, out, err)

@case
def test_an_acknowledged_record_cut_from_the_log_refuses_to_open(d):
    run(["--data", d, "submit"], TENANT + EXT % 1001 + EXT % 1002)
    seg = sorted(glob.glob(os.path.join(d, "log", "*.tmslog")))[-1]
    with open(seg, "r+b") as f:          # record 3 was acknowledged: cutting it is a loss, not a tear
        f.truncate(os.path.getsize(seg) - 7)
    size = os.path.getsize(seg)
    rc, out, err = run(["--data", d, "submit"], EXT % 1003)
    assert rc == 2 and out == "" and "records 3..3 are missing" in err and "accept-loss" in err, (rc, out, err)
    assert os.path.getsize(seg) == size, (size, os.path.getsize(seg))   # refused: not even the tail was cut
    rc, out, err = run(["--data", d, "check", "acme", "extension", "1002", "reports.view"])
    assert rc == 1, (rc, err)          # readers still answer from the projection kept as evidence
    rc, out, err = run(["--data", d, "accept-loss"])
    assert rc == 2 and "--reason" in err, (rc, err)
    rc, out, err = run(["--data", d, "accept-loss", "--reason", "x" * 300])
    assert rc == 2 and "256" in err, (rc, err)
    rc, out, err = run(["--data", d, "accept-loss", "--reason", "disk replaced; no backup holds seq 3"])
    assert rc == 0 and json.loads(out) == {"acknowledged": True, "seq": 3}, (rc, out, err)
    rc, out, err = run(["--data", d, "submit"], EXT % 1003)
    assert rc == 0 and verdicts(out)[0]["seq"] == 4 and "missing" not in err, (rc, out, err)
    audit = os.path.join(BIN, "tms-audit")
    v = subprocess.run([audit, "verify", "--data", d], capture_output=True, text=True)
    assert v.returncode == 0, (v.stdout, v.stderr)
    e = subprocess.run([audit, "export", "--data", d], capture_output=True, text=True)
    ack = [json.loads(x) for x in e.stdout.splitlines() if "AcknowledgeLoss" in x]
    assert len(ack) == 1 and ack[0]["seq"] == 3 and \
        ack[0]["cmd"]["evidence"].startswith("log ends at seq 2; projection at seq 3 head ") and \
        ack[0]["cmd"]["reason"] == "disk replaced; no backup holds seq 3", e.stdout
    rc, out, err = run(["--data", d, "accept-loss", "--reason", "again"])
    assert rc == 2 and "nothing to acknowledge" in err, (rc, err)
    rc, out, err = run(["--data", d, "submit"], b'{"cmd":"AcknowledgeLoss","tenant":"system","actor":"system",'
                       b'"reason":"r","evidence":"e"}\n')
    assert rc == 0 and verdicts(out)[0]["error"] == "INVALID_COMMAND" and verdicts(out)[0]["seq"] is None, out

@case
def test_a_deleted_log_refuses_to_open_even_without_the_projection(d):
    run(["--data", d, "submit"], TENANT + EXT % 1001)
    for seg in glob.glob(os.path.join(d, "log", "*.tmslog")):
        os.remove(seg)
    shutil.rmtree(os.path.join(d, "proj"))    # only DIR/witness remembers
    rc, out, err = run(["--data", d, "submit"], TENANT)
    assert rc == 2 and "records 1..2 are missing" in err and "witness" in err, (rc, out, err)

@case
def test_a_damaged_witness_is_refused_not_misread(d):
    run(["--data", d, "submit"], TENANT + EXT % 1001)
    path = os.path.join(d, "witness")
    good = open(path).read()
    seq = [l for l in good.splitlines() if l.startswith("seq ")][0]
    head = [l for l in good.splitlines() if l.startswith("head ")][0]
    assert seq == "seq 2" and len(head) == 5 + 64, good
    for bad in (good.replace(seq, "seq -2"), good.replace(seq, "seq +2"), good.replace(seq, "seq  2"),
                good.replace(head, "head  " + head[5:-1]), good.replace(head, "head +" + head[6:]),
                good.replace(head, head[:-1])):
        open(path, "w").write(bad)
        rc, out, err = run(["--data", d, "submit"], EXT % 1002)
        assert rc == 2 and "witness is damaged" in err, (bad, rc, out, err)
    open(path, "w").write(good)
    rc, out, err = run(["--data", d, "submit"], EXT % 1002)
    assert rc == 0 and verdicts(out)[0]["verdict"] == "accepted", (rc, out, err)

TMSD = os.path.join(BIN, "tmsd")

def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_tmsd(d, *args):
    """tmsd on d/data with args; returns (process, its socket)."""
    sock = os.path.join(d, "data", "tmsd.sock")
    p = subprocess.Popen([TMSD, "--data", os.path.join(d, "data")] + list(args), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    for _ in range(400):
        if os.path.exists(sock):
            break
        time.sleep(0.025)
    time.sleep(0.05)
    return p, sock

def stop_tmsd(p):
    p.terminate()
    p.wait(timeout=30)

def run_env(args, env, stdin=b""):
    full = dict((k, v) for k, v in os.environ.items() if k not in ("TMS_CONNECT", "TMS_TOKEN_FILE"))
    full.update(env)
    p = subprocess.run([TMSCTL] + args, input=stdin, capture_output=True, timeout=60, env=full)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

@case
def test_a_misspelt_global_option_is_named(d):
    # issue 19, item 11: not "--data DIR or --connect ADDR is required", not "unknown command"
    for args, want in ((["--conect", "x", "status"], "did you mean --connect?"),
                       (["--tokenfile", "f", "--data", d, "status"], "did you mean --token-file?"),
                       (["--dat=" + d, "status"], "did you mean --data?"),
                       (["--verison"], "did you mean --version?"),
                       (["--fail-on-reject", "--data", d, "submit"], "a command's options go after it")):
        rc, out, err = run_env(args, {})
        assert rc == 2 and err.startswith("tmsctl: unknown option " + args[0].split("=")[0] + ":") and want in err \
            and "required" not in err and "unknown command" not in err and len(err.splitlines()) == 1, (args, rc, err)
    rc, out, err = run_env(["--data"], {})
    assert rc == 2 and "option --data needs a value" in err, (rc, err)
    rc, out, err = run_env(["--data=" + d, "status"], {})   # --name=VALUE as well as --name VALUE
    assert rc == 0 and json.loads(out)["role"] == "embedded", (rc, out, err)
    rc, out, err = run_env(["--data", d, "frobnicate"], {})
    assert rc == 2 and "unknown command frobnicate" in err, (rc, err)

@case
def test_one_option_parser_whole_names_only_before_and_after_the_command(d):
    # issue 21, item 5: the global options and every command's go through the tools' one parser: an
    # abbreviation is never taken for the option it begins, it is refused naming that option (exit 2)
    rc, out, err = run_env(["--data", d, "submit"], {}, stdin=TENANT)
    assert rc == 0 and '"accepted"' in out, (rc, out, err)
    for args, want in ((["--conn", "X", "status"], "unknown option --conn: did you mean --connect? (try --help)"),
                       (["--token=" + d, "--data", d, "status"], "unknown option --token: did you mean --token-file?"),
                       (["--data", d, "submit", "--fail-on"], "unknown option --fail-on: did you mean --fail-on-reject?"),
                       (["--data", d, "check", "--expl", "acme", "admin", "admin", "reports.view"],
                        "unknown option --expl: did you mean --explain?"),
                       (["--data", d, "show", "--se", "1", "acme", "admin", "admin"], "unknown option --se: did you mean --seq?"),
                       (["--data", d, "submit", "--fail-on-reject=yes"], "option --fail-on-reject takes no value"),
                       (["--data=", "status"], "option --data needs a value"),
                       (["--connect", "", "status"], "option --connect needs a value"),
                       (["--data", d, "accept-loss", "--reason"], "option --reason needs a value"),
                       (["--data", d, "status", "extra"], "unexpected argument extra")):
        rc, out, err = run_env(args, {}, stdin=TENANT)
        assert rc == 2 and out == "" and err.startswith("tmsctl: ") and want in err and len(err.splitlines()) == 1, \
            (args, rc, out, err)
    # "--" ends a command's options: what follows is an argument, even when it begins with '-'
    rc, out, err = run_env(["--data", d, "show", "--", "acme", "manager", "-x"], {})
    assert rc == 1 and out == "", (rc, out, err)
    rc, out, err = run_env(["--data", d, "show", "acme", "manager", "nobody", "--seq=1"], {})   # after the arguments
    assert rc == 1 and out == "" and err == "", (rc, out, err)

@case
def test_environment_names_the_target_and_the_token_flags_win(d):
    tok = os.path.join(d, "token")
    open(tok, "w").write("env-token-0123456789abcdef\n")
    bad = os.path.join(d, "bad")
    open(bad, "w").write("not-the-token-0123456789\n")
    port = free_port()
    p, sock = start_tmsd(d, "--listen", "127.0.0.1:%d" % port, "--token-file", tok)
    try:
        rc, out, err = run_env(["status"], {"TMS_CONNECT": sock})
        assert rc == 0 and json.loads(out)["role"] != "embedded", (rc, out, err)
        other = os.path.join(d, "other")
        rc, out, err = run_env(["--data", other, "submit"], {"TMS_CONNECT": sock}, TENANT)   # the flag wins
        assert rc == 0 and json.loads(out)["seq"] == 1 and os.path.isdir(os.path.join(other, "log")), (rc, out, err)
        rc, out, err = run_env(["status"], {"TMS_CONNECT": os.path.join(d, "nowhere.sock")})
        assert rc == 2 and "TMS_CONNECT" in err, (rc, err)
        tcp = "127.0.0.1:%d" % port
        rc, out, err = run_env(["submit"], {"TMS_CONNECT": tcp}, TENANT)   # TCP submits need the token
        assert rc != 0 or "accepted" not in out, (rc, out, err)
        rc, out, err = run_env(["submit"], {"TMS_CONNECT": tcp, "TMS_TOKEN_FILE": tok}, TENANT)
        assert rc == 0 and verdicts(out)[0]["verdict"] == "accepted", (rc, out, err)
        rc, out, err = run_env(["--token-file", bad, "submit"], {"TMS_CONNECT": tcp, "TMS_TOKEN_FILE": tok}, EXT % 1)
        assert rc == 2 and "accepted" not in out, (rc, out, err)   # --token-file wins over TMS_TOKEN_FILE
        rc, out, err = run_env(["--connect", tcp, "submit"], {"TMS_CONNECT": sock, "TMS_TOKEN_FILE": tok}, EXT % 2)
        assert rc == 0 and verdicts(out)[0]["verdict"] == "accepted", (rc, out, err)
    finally:
        stop_tmsd(p)

@case
def test_the_packaged_socket_is_the_default_when_it_exists(d):
    rc, out, _ = run_env(["--help"], {})
    import re
    m = re.search(r"else at (/\S+) when it exists", out)
    assert rc == 0 and m, out
    default = m.group(1)
    unit = os.path.join(BIN, "..", "tmsd.service")   # the generated unit serves the same socket
    if os.path.exists(unit):
        assert "--socket %s " % default in open(unit).read(), (default, open(unit).read())
    if os.geteuid() != 0 or not shutil.which("unshare") or not default.startswith("/run/"):
        print("  (the packaged socket is not tried: needs root, unshare and a default under /run)")
        return
    # a private mount namespace with an empty /run: no real tmsd is disturbed, none is mistaken for ours
    script = """
set -u
mount -t tmpfs tmpfs /run || exit 77
"$TMSCTL" status 2>&1; echo "rc=$?"
mkdir -p "$(dirname "$SOCK")"
"$TMSD" --data "$DATA" --socket "$SOCK" 2>/dev/null & pid=$!
for _ in $(seq 200); do [ -S "$SOCK" ] && break; sleep 0.025; done
"$TMSCTL" status 2>&1; echo "rc=$?"
TMS_CONNECT=/nowhere.sock "$TMSCTL" status 2>&1; echo "rc=$?"
"$TMSCTL" --data "$DATA" status 2>&1; echo "rc=$?"
kill $pid; wait $pid
"""
    env = dict(os.environ, TMSCTL=os.path.abspath(TMSCTL), TMSD=os.path.abspath(TMSD), SOCK=default,
               DATA=os.path.join(d, "data"))
    env.pop("TMS_CONNECT", None)
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], env=env,
                       capture_output=True, text=True, timeout=60)
    if r.returncode == 77 or "rc=" not in r.stdout:
        print("  (the packaged socket is not tried: no private mount namespace here: %s)" % r.stderr.strip()[:200])
        return
    parts = r.stdout.split("rc=")
    assert parts[0].strip().startswith("tmsctl: --data DIR or --connect ADDR is required") and default in parts[0] \
        and parts[1].startswith("2"), r.stdout
    assert parts[1].split("\n", 1)[1].strip().startswith("{") and '"role":"embedded"' not in parts[1] \
        and parts[2].startswith("0"), r.stdout
    assert "TMS_CONNECT" in parts[2] and parts[3].startswith("2"), r.stdout   # the environment wins over it
    assert '"role":"embedded"' in parts[3] and parts[4].startswith("0"), r.stdout   # and the flag over both

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed or not passed else 0)
