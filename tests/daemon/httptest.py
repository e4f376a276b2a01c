"""httptest.py -- what test_http_api.py and test_openapi.py share: a data
directory with two tenants, tmsd started and stopped, and HTTP requests
made the way the tests need them (http.client for ordinary ones, a raw
socket for answers h2o sends before it has read the whole request)."""
import http.client, json, os, select, signal, socket, subprocess, threading, time
from checks import check, wait_tcp

TOKENS = {"admin": "admin-token-0123456789abcdef", "reader": "reader-token-0123456789abcdef",
          "writer": "writer-token-0123456789abcdef"}


class Tmsd:
    def __init__(self, bindir, d, name="tmsd"):
        self.bin, self.d, self.name = bindir, d, name
        self.data = os.path.join(d, name)
        self.p = None

    def ctl(self, *args, stdin=None):
        r = subprocess.run([os.path.join(self.bin, "tmsctl")] + list(args), input=stdin, capture_output=True,
                           text=True, timeout=60)
        return r.returncode, r.stdout, r.stderr

    def seed(self, tenants=("acme", "globex")):
        cmds = [{"cmd": "CreateTenant", "tenant": t, "actor": "system", "admin": "admin"} for t in tenants]
        cmds += [{"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "1001"},
                 {"cmd": "SetPermissions", "tenant": "acme", "actor": "admin", "kind": "extension", "id": "1001",
                  "enable": ["calls.international"], "disable": []},
                 {"cmd": "AddManager", "tenant": "acme", "actor": "admin", "id": "lead", "new_login": {"id": "l-lead"}},
                 {"cmd": "Distribute", "tenant": "acme", "actor": "admin", "kind": "extension", "id": "1001",
                  "manager": "lead"}]
        rc, out, err = self.ctl("--data", self.data, "submit", stdin="".join(json.dumps(c) + "\n" for c in cmds))
        check("%s: seeded" % self.name, rc == 0 and out.count("accepted") == len(cmds), (out, err))
        return len(cmds)

    def principals(self):
        """--principals: admin (every right), reader (lookups, tenant acme), writer (submit only)."""
        rights = {"admin": ["lookup", "submit", "admin"], "reader": ["lookup"], "writer": ["submit"]}
        ps = []
        for who, tok in TOKENS.items():
            path = os.path.join(self.d, "%s.token" % who)
            with open(path, "w") as f:
                f.write(tok + "\n")
            ps.append({"name": who, "token_file": path, "rights": rights[who],
                       "tenants": ["acme"] if who == "reader" else ["*"]})
        path = os.path.join(self.d, "principals.json")
        with open(path, "w") as f:
            json.dump({"principals": ps}, f)
        return path

    def start(self, *extra):
        self.log = os.path.join(self.d, self.name + ".log")
        self.p = subprocess.Popen([os.path.join(self.bin, "tmsd"), "--data", self.data] + list(extra),
                                  stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        for i, a in enumerate(extra):
            if a in ("--http", "--metrics"):
                wait_tcp(int(extra[i + 1].rsplit(":", 1)[1]), self.p, self.name)
        return self

    def term(self):
        """SIGTERM, once (a second one while it stops kills it)."""
        if self.p and self.p.poll() is None and not getattr(self, "termed", False):
            self.termed = True
            self.p.send_signal(signal.SIGTERM)

    def stop(self):
        if self.p and self.p.poll() is None:
            self.term()
            try:
                return self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
        return self.p.wait() if self.p else 0

    def log_text(self):
        return open(self.log, errors="replace").read()


def request(port, path, method="GET", body=None, token=None, headers=None):
    """(status, {header: value} lowercased names, body bytes) over a new connection."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    c.close()
    return out


def raw(port, head, body=b"", timeout=5):
    """Send head and body on a raw socket (from a thread: the server may answer and stop reading before
    all is sent), return what came back until a whole answer, close or timeout: (status, {header: value},
    body bytes); status 0 when nothing parseable came."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def send():
        try:
            s.sendall(head + body)
        except OSError:
            pass
    th = threading.Thread(target=send, daemon=True)
    th.start()
    out, end = b"", time.monotonic() + timeout
    while time.monotonic() < end and not (b"\r\n\r\n" in out and complete(out)):
        if not select.select([s], [], [], 0.2)[0]:
            continue
        try:
            b = s.recv(65536)
        except OSError:
            break
        if not b:
            break
        out += b
    s.close()
    th.join(5)
    return parse(out)


def read_answer(s, timeout=5):
    """One whole answer with a Content-Length from socket s (keep-alive): (status, headers, body)."""
    s.settimeout(timeout)
    out = b""
    while b"\r\n\r\n" not in out or not complete(out):
        b = s.recv(65536)
        if not b:
            break
        out += b
    return parse(out)


def complete(out):
    head, _, body = out.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(body) >= int(v)
    return False


def parse(out):
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return 0, {}, out
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def is_error(status, hdrs, body, code=None):
    """An error answer of the one vocabulary: JSON {"error","message"} (and the code, when given)."""
    try:
        b = json.loads(body)
    except ValueError:
        return False
    return (hdrs.get("content-type", "").startswith("application/json") and isinstance(b, dict) and
            set(b) == {"error", "message"} and isinstance(b["message"], str) and (code is None or b["error"] == code))
