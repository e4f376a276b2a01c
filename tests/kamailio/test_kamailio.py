#!/usr/bin/env python3
"""test_kamailio.py -- a real Kamailio (Debian's 5.6, http_client, auth_db on
db_text) routing calls by tmsperm's answers about the authenticated caller
(issue 11, item 3; issue 19, item 15), with SIP calls from sipp answering
the proxy's digest challenges, all on loopback and all started and stopped
here:

  sipp caller --INVITE--> kamailio (examples/kamailio/kamailio.cfg) --> sipp gateway
              <--407----      |  auth_check against examples/kamailio/dbtext
              --INVITE+auth-> |  GET /v1/check?...&id=<authenticated user>&format=text
                              v
                       tmsd --http

- an extension holding calls.international calls 0044... with its
  credentials: answered (407, then 200, ACK, BYE through the proxy);
- one without it, and one tmsperm does not know: 403; the "answered"
  scenario fails for them (so the scenarios can fail);
- toll fraud: an INVITE claiming 1001 without credentials gets only a 407;
  1001 with a wrong password, 1002's credentials with From 1001, and a From
  domain that is not the tenant's: 403; a P-Asserted-Identity is taken only
  from the trusted peer (TRUSTED_PEER, an SBC that authenticated the caller);
- a national call of the denied one is routed without a lookup;
- revoking the permission through POST /v1/submit flips the next call to
  403, granting it again flips it back;
- fail closed: tmsd frozen (SIGSTOP: the HTTP request times out after 1 s)
  and tmsd gone (connection refused): 403.

usage: test_kamailio.py BIN_DIR   (needs kamailio, kamailio-utils-modules
and sip-tester: scripts/test installs them)"""
import http.client, json, os, shutil, signal, socket, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, finish, free_port, run_cases, wait_tcp  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "kamailio")
TOKEN = "kamailio-test-token-0123456789"
PASSWORD = {u: "test-%s-password" % u for u in ("1001", "1002", "1003")}   # examples/kamailio/dbtext's test users
TRUSTED = "127.0.0.2"   # the SBC whose P-Asserted-Identity the proxy takes (kamailio.cfg's TRUSTED_PEER)





class Rig:
    def __init__(self, d):
        self.d, self.procs = d, []
        self.data = os.path.join(d, "data")
        self.http, self.sip, self.gw = free_port(), free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
        self.tok = os.path.join(d, "token")
        with open(self.tok, "w") as f:
            f.write(TOKEN + "\n")
        self.calls = 0

    def log(self, name):
        return open(os.path.join(self.d, name), "ab")

    def start_tmsd(self):
        self.tmsd = subprocess.Popen([os.path.join(BIN, "tmsd"), "--data", self.data, "--http",
                                      "127.0.0.1:%d" % self.http, "--token-file", self.tok],
                                     stdout=self.log("tmsd.log"), stderr=subprocess.STDOUT)
        wait_tcp(self.http, self.tmsd, "tmsd")

    def start(self):
        self.start_tmsd()
        dbtext = os.path.join(self.d, "dbtext")   # a copy: db_text may write its tables back
        shutil.copytree(os.path.join(EXAMPLE, "dbtext"), dbtext)
        self.kam = subprocess.Popen(
            ["kamailio", "-DD", "-E", "-f", os.path.join(EXAMPLE, "kamailio.cfg"), "-Y", self.d, "-m", "64",
             "-A", "LISTEN=udp:127.0.0.1:%d" % self.sip, "-A", "CHILDREN=2", "-A", 'AUTH_DB="text://%s"' % dbtext,
             "-A", 'TRUSTED_PEER="%s"' % TRUSTED,
             "-A", 'TMS_HTTPCON="tms=>http://127.0.0.1:%d;timeout=1"' % self.http,
             "-A", 'GATEWAY="sip:127.0.0.1:%d"' % self.gw], stdout=self.log("kamailio.log"), stderr=subprocess.STDOUT,
            start_new_session=True)   # its own process group: stop() can reap every worker
        self.procs.append(self.kam)
        self.gateway = subprocess.Popen(["sipp", "-sf", os.path.join(EXAMPLE, "sipp", "gateway.xml"), "-i", "127.0.0.1",
                                         "-p", str(self.gw), "-nostdin", "-trace_err", "-error_file",
                                         os.path.join(self.d, "gateway.err")],
                                        stdout=subprocess.DEVNULL, stderr=self.log("gateway.log"))
        self.procs.append(self.gateway)
        time.sleep(1.0)   # kamailio's children and the gateway bind their UDP sockets
        for p, what in ((self.kam, "kamailio"), (self.gateway, "the sipp gateway")):
            if p.poll() is not None:
                raise AssertionError("%s exited %d: %s" % (what, p.returncode, self.tail("kamailio.log")))

    def tail(self, name, n=1500):
        try:
            return open(os.path.join(self.d, name), errors="replace").read()[-n:]
        except OSError:
            return ""

    def call(self, caller, number, scenario, user=None, password=None, sf=None, ip="127.0.0.1"):
        """One call from extension caller to number with sipp, answering the digest challenge as user
        (default: the caller) with password (default: user's); True when the scenario (call.xml:
        answered; forbidden.xml: 403; unauthenticated.xml: 407 and nothing else) held."""
        self.calls += 1
        err = os.path.join(self.d, "uac%d.err" % self.calls)
        user = user or caller
        password = password or PASSWORD.get(user, "no-password")
        r = subprocess.run(["sipp", "127.0.0.1:%d" % self.sip, "-sf", sf or os.path.join(EXAMPLE, "sipp", scenario),
                            "-key", "caller", caller, "-au", user, "-ap", password, "-s", number, "-i", ip,
                            "-p", str(free_port(socket.SOCK_DGRAM)),
                            "-m", "1", "-timeout", "15s", "-timeout_error", "-nostdin", "-trace_err", "-error_file", err],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        self.last_err = r.stderr.decode(errors="replace") + self.tail(os.path.basename(err), 800)
        return r.returncode == 0

    def submit(self, cmds):
        c = http.client.HTTPConnection("127.0.0.1", self.http, timeout=20)
        c.request("POST", "/v1/submit", "".join(json.dumps(x) + "\n" for x in cmds),
                  {"Authorization": "Bearer " + TOKEN})
        r = c.getresponse()
        out = json.loads(r.read())
        c.close()
        return out

    def stop(self):
        for p in self.procs + [getattr(self, "tmsd", None)]:
            if p and p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                except OSError:
                    pass
                p.send_signal(signal.SIGTERM)
        for p in self.procs + [getattr(self, "tmsd", None)]:
            if p:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if hasattr(self, "kam"):   # a worker its main process could not stop must not outlive the test
            try:
                os.killpg(self.kam.pid, signal.SIGKILL)
            except OSError:
                pass


def permissions(ext, enable, disable):
    return {"cmd": "SetPermissions", "tenant": "acme", "actor": "admin", "kind": "extension", "id": ext,
            "enable": enable, "disable": disable}


def main():
    for tool in ("kamailio", "sipp"):
        if not shutil.which(tool):
            print("FAIL %s is not installed (scripts/bootstrap kamailio kamailio-utils-modules sip-tester)" % tool)
            sys.exit(1)
    d = tempfile.mkdtemp(prefix="tms-kamailio-")
    rig = Rig(d)
    try:
        setup = [{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"},
                 {"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "1001"},
                 {"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "1002"},
                 permissions("1001", ["calls.international"], [])]
        r = subprocess.run([os.path.join(BIN, "tmsctl"), "--data", rig.data, "submit"],
                           input="".join(json.dumps(c) + "\n" for c in setup), capture_output=True, text=True)
        check("setup", r.returncode == 0 and r.stdout.count("accepted") == 4, r.stdout + r.stderr)
        rig.start()
        intl = "0044201234567"
        check("1001 (holds calls.international) calls abroad: answered", rig.call("1001", intl, "call.xml"),
              rig.last_err + rig.tail("kamailio.log"))
        check("1002 (does not) calls abroad: 403", rig.call("1002", intl, "forbidden.xml"), rig.last_err)
        check("... and the answered-call scenario fails for it", not rig.call("1002", intl, "call.xml"))
        check("an extension tmsperm does not know (1003, a SIP user) calls abroad: 403",
              rig.call("1003", "+44201234567", "forbidden.xml"), rig.last_err)
        # toll fraud: claiming an extension that may call abroad without being it
        check("an INVITE claiming 1001 without credentials: only a 407 (nothing routed)",
              rig.call("1001", intl, "unauthenticated.xml"), rig.last_err)
        check("... and the answered-call scenario with a wrong password fails", not rig.call(
            "1001", intl, "call.xml", password="guessed-password"))
        check("1001 with a wrong password: 403", rig.call("1001", intl, "forbidden.xml", password="guessed-password"),
              rig.last_err)
        check("1002's own credentials with From 1001: 403", rig.call("1001", intl, "forbidden.xml", user="1002"),
              rig.last_err)
        spoofed = os.path.join(rig.d, "other-domain.xml")   # refused before any challenge
        with open(os.path.join(EXAMPLE, "sipp", "unauthenticated.xml")) as f:
            open(spoofed, "w").write(f.read().replace("@acme.example", "@evil.example").replace('"407"', '"403"'))
        check("a From domain that is not the tenant's: 403", rig.call("1001", intl, None, sf=spoofed), rig.last_err)
        # a trusted SBC asserts the caller it authenticated; nobody else may
        check("the trusted peer's call asserting 1001: answered, no challenge",
              rig.call("1001", intl, "trusted_call.xml", ip=TRUSTED), rig.last_err)
        check("... asserting 1002: refused (the answered scenario fails)",
              not rig.call("1002", intl, "trusted_call.xml", ip=TRUSTED))
        asserted = os.path.join(rig.d, "asserted.xml")   # an untrusted caller asserting 1001: ignored, challenged
        with open(os.path.join(EXAMPLE, "sipp", "unauthenticated.xml")) as f:
            open(asserted, "w").write(f.read().replace("      Max-Forwards: 70\n",
                                                      "      P-Asserted-Identity: <sip:1001@acme.example>\n"
                                                      "      Max-Forwards: 70\n", 1))
        check("a P-Asserted-Identity from anyone else is ignored: 407", rig.call("1001", intl, None, sf=asserted),
              rig.last_err)
        check("1002 calls a national number: routed without a lookup", rig.call("1002", "0201234567", "call.xml"),
              rig.last_err)
        v = rig.submit([permissions("1001", [], ["calls.international"])])
        check("revoke through POST /v1/submit", v and v[0]["verdict"] == "accepted", v)
        check("revoked: 1001's next call abroad gets 403", rig.call("1001", intl, "forbidden.xml"), rig.last_err)
        v = rig.submit([permissions("1001", ["calls.international"], [])])
        check("granted again: 1001 calls abroad", v[0]["verdict"] == "accepted" and rig.call("1001", intl, "call.xml"),
              (v, rig.last_err))
        os.kill(rig.tmsd.pid, signal.SIGSTOP)   # tmsd accepts (the kernel) but never answers: a timeout
        t0 = time.monotonic()
        ok = rig.call("1001", intl, "forbidden.xml")
        check("tmsd not answering (1 s timeout): 403, fail closed", ok and time.monotonic() - t0 >= 1.0,
              (time.monotonic() - t0, rig.last_err))
        os.kill(rig.tmsd.pid, signal.SIGCONT)
        rig.tmsd.send_signal(signal.SIGTERM)
        check("tmsd stops: exit 0", rig.tmsd.wait(timeout=30) == 0, rig.tail("tmsd.log"))
        check("tmsd gone: 403, fail closed", rig.call("1001", intl, "forbidden.xml"), rig.last_err)
        notices = [l for l in rig.tail("kamailio.log", 200000).splitlines() if "tmsperm:" in l]
        check("kamailio logged each refusal with its reason", len(notices) >= 6 and
              any("answer 'deny'" in l for l in notices), notices[-8:])
        check("... and each failed authentication", sum("failed authentication" in l for l in notices) >= 3,
              notices[-8:])
        for doc in ("kamailio.cfg", "README.md"):
            check("examples/kamailio/%s says why asking about an unauthenticated From user is toll fraud" % doc,
                  "toll fraud" in open(os.path.join(EXAMPLE, doc)).read())
    except Exception as e:
        import traceback
        check("kamailio rig", False, "%s: %s\n%s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=-3),
                                                       rig.tail("kamailio.log")))
    finally:
        rig.stop()
        shutil.rmtree(d, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
