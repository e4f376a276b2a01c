#!/usr/bin/env python3
"""calls.py -- calls per second through Kamailio (examples/kamailio/kamailio.cfg)
three ways in one run (issue 11, item 4):

  tmsd     every international INVITE asks tmsd --http (GET /v1/check, format=text)
  none     the same proxy without the question (WITHOUT_TMS): the limit
  sqlops   the same question asked of PostgreSQL 15 through Kamailio's sqlops
           (WITH_SQLOPS): what an operator would otherwise do

Three Kamailio instances (same config, CHILDREN workers and 512 MB of
shared memory each: tm keeps every transaction 5 s after it ends, and a
measurement is preceded by a 6 s pause so none inherits another's) run side by
side with one sipp gateway; each measurement is one sipp caller placing
CALLS calls (INVITE, 200, ACK, BYE through the proxy, from the proxy's
TRUSTED_PEER: the caller in P-Asserted-Identity, as an SBC sends it) from CALLERS
extensions that all hold calls.international, at most LIMIT at once, as
fast as the proxy lets it. Each round measures the three in a rotating
order; ratios are taken per round. Before the rounds: a caller without the
permission gets 403 through the tmsd and sqlops proxies (the question is
really asked); during them tmsd's tmsd_checks_total must grow by one per
call of the tmsd side. Everything (tmsd, PostgreSQL, kamailio, sipp) is
started and stopped here; loopback only.

usage: benchmarks/kamailio/calls.py   (as root: PostgreSQL runs as user postgres)
environment: BUILD (build-bench)  CALLERS (1000)  CALLS (5000)  LIMIT (100)
  RATE (20000: sipp's ceiling, calls/s)  ROUNDS (5)  CHILDREN (4)  NOBUILD=1  KEEP=1 (keep the logs)
Markdown on stdout, progress on stderr."""
import hashlib, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build-bench"))
CALLERS = int(os.environ.get("CALLERS", "1000"))
CALLS = int(os.environ.get("CALLS", "5000"))
LIMIT = int(os.environ.get("LIMIT", "100"))
RATE = int(os.environ.get("RATE", "20000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
CHILDREN = int(os.environ.get("CHILDREN", "4"))
PGBIN = "/usr/lib/postgresql/15/bin"
EXAMPLE = os.path.join(ROOT, "examples", "kamailio")
SIDES = ("tmsd", "none", "sqlops")


TRUSTED = "127.0.0.2"   # the measured calls' source: the proxies' TRUSTED_PEER


def password(ext):
    """The digest password of a caller (the proxy authenticates every INVITE: examples/kamailio/README.md)."""
    return "bench-%s-password" % ext


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_tcp(port, what, proc=None, tries=300):
    for _ in range(tries):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.05)
    raise SystemExit("calls.py: %s did not come up" % what)


class Bench:
    def __init__(self):
        self.d = tempfile.mkdtemp(prefix="tms-callbench-")
        self.pgdir = tempfile.mkdtemp(prefix="tms-callbench-pg-")
        shutil.chown(self.pgdir, "postgres", "postgres")
        self.procs, self.pg_started = [], False

    def path(self, *p):
        return os.path.join(self.d, *p)

    def spawn(self, cmd, logname, **kw):
        p = subprocess.Popen(cmd, stdout=open(self.path(logname), "ab"), stderr=subprocess.STDOUT,
                             start_new_session=True, **kw)   # own process groups: stop() reaps kamailio's workers
        self.procs.append(p)
        return p

    def data(self):
        """CALLERS extensions 2000.. with calls.international, one 1999 without it."""
        cmds = [{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"},
                {"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "1999"}]
        self.callers = [str(2000 + i) for i in range(CALLERS)]
        for c in self.callers:
            cmds.append({"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": c})
            cmds.append({"cmd": "SetPermissions", "tenant": "acme", "actor": "admin", "kind": "extension", "id": c,
                         "enable": ["calls.international", "reports.view"], "disable": []})
        r = subprocess.run([os.path.join(BUILD, "bin", "tmsctl"), "--data", self.path("tms"), "submit"],
                           input="".join(json.dumps(c) + "\n" for c in cmds), capture_output=True, text=True)
        if r.returncode or r.stdout.count('"accepted"') != len(cmds):
            raise SystemExit("calls.py: loading tmsd failed: " + r.stderr[-300:])
        with open(self.path("callers.csv"), "w") as f:
            f.write("SEQUENTIAL\n" + "".join(c + ";\n" for c in self.callers))
        # The proxy authenticates every caller. sipp answers a digest challenge with one account per process
        # (-au/-ap), so the measured calls come as a trusted SBC sends them (TRUSTED_PEER: the caller in
        # P-Asserted-Identity, no challenge); the refusal of 1999 below goes through digest authentication.
        os.mkdir(self.path("dbtext"))
        shutil.copy(os.path.join(EXAMPLE, "dbtext", "version"), self.path("dbtext", "version"))
        with open(self.path("dbtext", "subscriber"), "w") as f:
            f.write(open(os.path.join(EXAMPLE, "dbtext", "subscriber")).readline())
            f.write("1:1999:acme.example::%s:\n" % hashlib.md5(
                ("1999:acme.example:%s" % password("1999")).encode()).hexdigest())
        with open(os.path.join(EXAMPLE, "sipp", "trusted_call.xml")) as f:
            scenario = f.read().replace("[caller]", "[field0]")
        with open(self.path("call_inf.xml"), "w") as f:
            f.write(scenario)

    def start_tmsd(self):
        self.http = free_port()
        self.tmsd = self.spawn([os.path.join(BUILD, "bin", "tmsd"), "--data", self.path("tms"), "--http",
                                "127.0.0.1:%d" % self.http], "tmsd.log")
        wait_tcp(self.http, "tmsd", self.tmsd)

    def as_pg(self, *cmd, **kw):
        return run(["runuser", "-u", "postgres", "--"] + list(cmd), **kw)

    def start_pg(self):
        self.pgport = free_port()
        self.as_pg(PGBIN + "/initdb", "-D", self.pgdir + "/data", "-A", "trust", "-E", "UTF8", "--locale=C",
                   stdout=subprocess.DEVNULL)
        self.as_pg(PGBIN + "/pg_ctl", "-D", self.pgdir + "/data", "-w", "-t", "60", "-l", self.pgdir + "/pg.log",
                   "-o", "-p %d -k %s -c listen_addresses=127.0.0.1" % (self.pgport, self.pgdir), "start",
                   stdout=subprocess.DEVNULL)
        self.pg_started = True
        rows = "".join("acme\t%s\t%s\n" % (c, n) for c in self.callers for n in ("calls.international", "reports.view"))
        sql = ("CREATE DATABASE tms;\n\\c tms\nCREATE TABLE permissions (tenant text, extension text, name text, "
               "PRIMARY KEY (tenant, extension, name));\nCOPY permissions FROM STDIN;\n" + rows + "\\.\n"
               "VACUUM ANALYZE permissions;\n")
        self.as_pg("psql", "-q", "-h", self.pgdir, "-p", str(self.pgport), "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                   input=sql, text=True, stdout=subprocess.DEVNULL)

    def start_proxies(self):
        self.gw = free_port(socket.SOCK_DGRAM)
        self.spawn(["sipp", "-sf", os.path.join(EXAMPLE, "sipp", "gateway.xml"), "-i", "127.0.0.1", "-p", str(self.gw),
                    "-nostdin"], "gateway.log", stdin=subprocess.DEVNULL)
        self.sip = {}
        for side in SIDES:
            port = free_port(socket.SOCK_DGRAM)
            extra = {"tmsd": ["-A", 'TMS_HTTPCON="tms=>http://127.0.0.1:%d;timeout=1"' % self.http],
                     "none": ["-A", "WITHOUT_TMS"],
                     "sqlops": ["-A", "WITH_SQLOPS", "-A",
                                'SQL_DB="tms=>postgres://postgres:x@127.0.0.1:%d/tms"' % self.pgport]}[side]
            self.spawn(["kamailio", "-DD", "-E", "-f", os.path.join(EXAMPLE, "kamailio.cfg"), "-Y", self.d,
                        "-m", "512", "-A", "LISTEN=udp:127.0.0.1:%d" % port, "-A", "CHILDREN=%d" % CHILDREN,
                        "-A", 'AUTH_DB="text://%s"' % self.path("dbtext"), "-A", 'TRUSTED_PEER="%s"' % TRUSTED,
                        "-A", 'GATEWAY="sip:127.0.0.1:%d"' % self.gw] + extra, "kamailio-%s.log" % side)
            self.sip[side] = port
        time.sleep(2)
        for p in self.procs:
            if p.poll() is not None:
                raise SystemExit("calls.py: a proxy or the gateway exited; see " + self.d)

    def sipp(self, side, calls, scenario, caller=None, limit=LIMIT):
        cmd = ["sipp", "127.0.0.1:%d" % self.sip[side], "-sf", scenario, "-s", "0044201234567",
               "-i", "127.0.0.1" if caller else TRUSTED,
               "-p", str(free_port(socket.SOCK_DGRAM)), "-m", str(calls), "-l", str(limit), "-r", str(RATE),
               "-timeout", "300s", "-timeout_error", "-recv_timeout", "10s", "-nostdin", "-max_socket", "1024", "-trace_err", "-error_file",
               self.path("sipp-%s.err" % side)]
        cmd += ["-key", "caller", caller, "-au", caller, "-ap", password(caller)] if caller else \
            ["-inf", self.path("callers.csv")]
        t0 = time.monotonic()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=400)
        return r.returncode, time.monotonic() - t0

    def failures(self, side):
        """What sipp said about its failed calls (not the late retransmissions it also logs)."""
        text = open(self.path("sipp-%s.err" % side), errors="replace").read()
        lines = [l for l in text.splitlines() if "Aborting" in l or "timeout" in l or "unexpected" in l]
        return "%d failure lines; first: %s" % (len(lines), " | ".join(lines[:3])[:1500])

    def checks_total(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.http, timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("tmsd_checks_total "):
                    return int(line.split()[1])
        return -1

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        if self.pg_started:
            subprocess.run(["runuser", "-u", "postgres", "--", PGBIN + "/pg_ctl", "-D", self.pgdir + "/data", "-m",
                            "fast", "-w", "-t", "30", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if os.environ.get("KEEP") == "1":
            log("calls.py: kept %s %s" % (self.d, self.pgdir))
            return
        shutil.rmtree(self.d, ignore_errors=True)
        shutil.rmtree(self.pgdir, ignore_errors=True)


def kamailio_version():
    out = subprocess.run(["kamailio", "-v"], capture_output=True, text=True).stdout.split()
    return out[2] if len(out) > 2 else "?"


def spread(v):
    return "%.0f / %.0f / %.0f" % (min(v), statistics.median(v), max(v))


def spread2(v):
    return "%.2f / %.2f / %.2f" % (min(v), statistics.median(v), max(v))


def main():
    if os.geteuid() != 0:
        raise SystemExit("calls.py: run as root (PostgreSQL runs as user postgres)")
    if os.environ.get("NOBUILD") != "1":
        run([os.path.join(ROOT, "scripts", "bootstrap"), "kamailio", "kamailio-utils-modules",
             "kamailio-postgres-modules", "sip-tester", "postgresql-15"])
        run(["cmake", "-S", ROOT, "-B", BUILD, "-DCMAKE_BUILD_TYPE=Release"], stdout=subprocess.DEVNULL)
        run(["cmake", "--build", BUILD, "-j2", "--target", "tmsd", "tmsctl"], stdout=sys.stderr)
    b = Bench()
    try:
        b.data()
        b.start_tmsd()
        b.start_pg()
        b.start_proxies()
        call_inf = b.path("call_inf.xml")
        forbidden = os.path.join(EXAMPLE, "sipp", "forbidden.xml")
        for side in ("tmsd", "sqlops"):
            rc, _ = b.sipp(side, 1, forbidden, caller="1999", limit=1)
            if rc:
                raise SystemExit("calls.py: the %s proxy did not refuse 1999 (sipp exit %d)" % (side, rc))
        rc, _ = b.sipp("none", 1, call_inf, limit=1)
        if rc:
            raise SystemExit("calls.py: the proxy without the question refused a call (sipp exit %d)" % rc)
        b.sipp("tmsd", min(CALLS, 500), call_inf)   # warm-up: connections, page cache
        b.sipp("sqlops", min(CALLS, 500), call_inf)
        rates = {s: [] for s in SIDES}
        ratios = {"tmsd/none": [], "sqlops/none": [], "tmsd/sqlops": []}
        for r in range(ROUNDS):
            order = SIDES[r % 3:] + SIDES[:r % 3]
            got = {}
            for side in order:
                time.sleep(6)   # tm's wait timer (5 s) frees the previous run's transactions first
                before = b.checks_total() if side == "tmsd" else 0
                rc, secs = b.sipp(side, CALLS, call_inf)
                if rc:
                    raise SystemExit("calls.py: round %d, %s: sipp exit %d (failed calls): %s" % (
                        r + 1, side, rc, b.failures(side)))
                if side == "tmsd" and b.checks_total() - before != CALLS:
                    raise SystemExit("calls.py: tmsd answered %d checks for %d calls" % (b.checks_total() - before, CALLS))
                got[side] = CALLS / secs
                log("round %d %-6s %6.0f calls/s (%d calls, %.2f s)" % (r + 1, side, got[side], CALLS, secs))
            for s in SIDES:
                rates[s].append(got[s])
            ratios["tmsd/none"].append(got["tmsd"] / got["none"])
            ratios["sqlops/none"].append(got["sqlops"] / got["none"])
            ratios["tmsd/sqlops"].append(got["tmsd"] / got["sqlops"])
        print("| proxy | calls/s min / median / max |\n|---|---|")
        for s, name in (("none", "no question (WITHOUT_TMS): the limit"), ("tmsd", "asks tmsd over HTTP"),
                        ("sqlops", "asks PostgreSQL through sqlops")):
            print("| %s | %s |" % (name, spread(rates[s])))
        print("\n| ratio per round | min / median / max |\n|---|---|")
        for k, v in ratios.items():
            print("| %s | **%s** |" % (k, spread2(v)))
        print("\n%d rounds, %d calls each (INVITE, 200, ACK, BYE through the proxy from its trusted peer; %d callers; at most %d at once; "
              "sipp ceiling %d calls/s), order rotating per round. Kamailio %s, %d workers per proxy; tmsd's "
              "tmsd_checks_total grew by one per call of the tmsd side." % (
                  ROUNDS, CALLS, CALLERS, LIMIT, RATE, kamailio_version(), CHILDREN))
    finally:
        b.stop()


if __name__ == "__main__":
    main()
