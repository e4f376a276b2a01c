#!/usr/bin/env python3
"""test_openapi.py -- docs/openapi.yaml against the running tmsd (issue 19,
item 9):

- the document is valid OpenAPI 3.0: the OpenAPI Initiative's JSON Schema
  for 3.0 (Debian's openapi-specification) applied by jsonschema (Debian's
  python3-jsonschema), then what that schema cannot say (every $ref
  resolves, operationIds are unique, security schemes exist, path templates
  are declared), and openapi-spec-validator as well where this machine has
  it; its ErrorCode enum is schemas/tmsperm.json's error list;
- every route of daemon_http.c's table is documented, and every documented
  operation is in the table (both listeners);
- GET /v1/openapi.yaml serves the file byte for byte (built in at build
  time), without credentials;
- every documented route, method, status and media type is exercised here
  against tmsd (a leader with --principals and --signing-key, a replica,
  replicas of a real nats-server that lag and that stopped), and every
  answer, documented or `default`, is validated against its documented
  schema (nullable as OpenAPI 3.0 means it); a method a path does not
  document is 405 with an Allow header naming exactly the documented ones,
  an unknown path 404 NOT_FOUND;
- GET /healthz and GET /readyz need no credentials: /readyz is 503 E_BUSY
  while tmsd stops, E_STALE for a replica further behind its stream than
  --ready-max-lag, E_FAILED when replication stopped (read-only:
  test_tmsd.py's full-disk case).

usage: test_openapi.py BIN_DIR (Debian's python3: python3-yaml, python3-jsonschema, openapi-specification)"""
import copy, json, os, re, shutil, socket, subprocess, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from checks import check, finish, free_port, run_cases  # noqa: E402
from httptest import TOKENS, Tmsd, raw, read_answer, request  # noqa: E402
import jsonschema  # noqa: E402
import yaml  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
DOC_PATH = os.path.join(SRC, "docs", "openapi.yaml")
OAS30 = "/usr/share/openapi-specification/schemas/v3.0/schema.json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DOC = yaml.safe_load(open(DOC_PATH))
CHECK = "/v1/check?tenant=acme&kind=extension&id=1001&name=calls.international"
BATCH = json.dumps({"checks": [{"tenant": "acme", "kind": "extension", "id": "1001", "name": "calls.international"},
                               {"tenant": "acme", "kind": "manager", "id": "lead", "name": "reports.view"}]})
covered = set()


# ---- the document itself ---------------------------------------------------------------------

def refs(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                out.append(v)
            else:
                refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)
    return out


def pointer(doc, ref):
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def operations(doc):
    for path, item in doc["paths"].items():
        for m in METHODS:
            if m in item:
                yield path, m, item[m]


def test_document(d):
    if not check("the OpenAPI 3.0 JSON Schema is installed (Debian's openapi-specification)", os.path.exists(OAS30)):
        return
    errs = sorted(jsonschema.Draft4Validator(json.load(open(OAS30))).iter_errors(DOC), key=lambda e: list(e.path))
    check("docs/openapi.yaml is valid against the OpenAPI 3.0 JSON Schema", not errs,
          ["%s: %s" % (list(e.path), e.message[:200]) for e in errs[:5]])
    bad = []
    for r in refs(DOC, []):
        try:
            check_ref = r.startswith("#/") and pointer(DOC, r) is not None
        except (KeyError, TypeError):
            check_ref = False
        if not check_ref:
            bad.append(r)
    check("every $ref resolves", not bad, bad)
    ids = [op["operationId"] for _, _, op in operations(DOC)]
    check("operationIds are unique and given", len(ids) == len(set(ids)) == len(list(operations(DOC))), ids)
    schemes = set(DOC["components"]["securitySchemes"])
    used = {name for _, _, op in operations(DOC) for req in op.get("security", DOC["security"]) for name in req}
    check("every security requirement names a scheme (bearer)", used <= schemes and schemes == {"bearer"}, used)
    check("the bearer scheme is HTTP bearer", DOC["components"]["securitySchemes"]["bearer"] ==
          {**DOC["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"})
    for path, m, op in operations(DOC):
        params = [pointer(DOC, p["$ref"]) if "$ref" in p else p for p in op.get("parameters", [])]
        names = {p["name"] for p in params if p["in"] == "path"}
        check("%s %s: path templates declared" % (m.upper(), path), set(re.findall(r"{(\w+)}", path)) == names)
        check("%s %s: documents its answers (a 2xx and the error default)" % (m.upper(), path),
              any(s.startswith("2") for s in op["responses"]) and "default" in op["responses"])
    schema = json.load(open(os.path.join(SRC, "schemas", "tmsperm.json")))
    check("ErrorCode is the schema's error list, in order", DOC["components"]["schemas"]["ErrorCode"]["enum"] ==
          [e["code"] for e in schema["errors"]])
    # openapi-spec-validator (PyPI) where a python3 of this machine has it: a second, independent opinion
    for py in [sys.executable] + [p for p in (shutil.which("python3"),) if p and p != sys.executable]:
        probe = subprocess.run([py, "-c", "import openapi_spec_validator"], capture_output=True)
        if probe.returncode == 0:
            r = subprocess.run([py, "-m", "openapi_spec_validator", DOC_PATH], capture_output=True, text=True,
                               timeout=120)
            check("openapi-spec-validator (%s) accepts it" % py, r.returncode == 0, r.stdout + r.stderr)
            break
    else:
        print("note: no python3 here has openapi-spec-validator (PyPI): the OpenAPI JSON Schema check stands alone")


def test_routes_are_documented(d):
    code = open(os.path.join(SRC, "engine", "server", "daemon_http.c")).read()
    tables = {}
    for name in ("routes", "metrics_routes"):
        body = re.search(r"\b%s\[\] = \{(.*?)\n\};" % name, code, re.S)
        tables[name] = set(re.findall(r'\{"([A-Z]+)", "(/[^"]*)", TMS_RIGHT_\w+, \d, \w+\}', body.group(1))) if body \
            else set()
    check("daemon_http.c's route tables found", len(tables["routes"]) > 10 and tables["metrics_routes"], tables)
    documented = {(m.upper(), path) for path, m, _ in operations(DOC)}
    check("every route tmsd has is documented", tables["routes"] <= documented, tables["routes"] - documented)
    check("every documented route is one tmsd has", documented <= tables["routes"], documented - tables["routes"])
    check("the metrics listener's routes are API routes", tables["metrics_routes"] <= tables["routes"])


# ---- answers as documented --------------------------------------------------------------------

def nullable(node):
    """OpenAPI 3.0 schema -> JSON Schema: {nullable: true, ...} admits null too."""
    if isinstance(node, list):
        return [nullable(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: nullable(v) for k, v in node.items() if k != "nullable"}
    return {"anyOf": [out, {"type": "null"}]} if node.get("nullable") else out


JSDOC = nullable(copy.deepcopy(DOC))


def conforms(method, route, status, hdrs, body):
    """Check one answer against the document; record what it covered."""
    what = "%s %s -> %d" % (method, route, status)
    op = DOC["paths"].get(route, {}).get(method.lower())
    if not check("%s: a documented operation" % what, op is not None):
        return
    resp = op["responses"].get(str(status)) or op["responses"].get("default")
    if not check("%s: a documented status (or default)" % what, resp is not None, sorted(op["responses"])):
        return
    resp = pointer(DOC, resp["$ref"]) if "$ref" in resp else resp
    ctype = hdrs.get("content-type", "").split(";")[0].strip()
    media = resp.get("content", {}).get(ctype)
    if not check("%s: a documented media type (%s)" % (what, ctype), media is not None, list(resp.get("content", {}))):
        return
    if ctype == "application/json":
        try:
            instance = json.loads(body)
        except ValueError as e:
            check("%s: JSON" % what, False, (e, body[:200]))
            return
    elif ctype == "application/octet-stream":   # format binary: bytes, as many as announced
        check("%s: binary, Content-Length bytes" % what, len(body) > 0 and
              hdrs.get("content-length", str(len(body))) == str(len(body)), (len(body), hdrs))
        covered.add((route, method.lower(), str(status), ctype))
        return
    else:
        instance = body.decode()
    schema = nullable(media["schema"])
    errs = list(jsonschema.Draft4Validator(schema, resolver=jsonschema.RefResolver("", JSDOC)).iter_errors(instance))
    check("%s: the body is the documented schema" % what, not errs, ([e.message[:300] for e in errs[:3]], body[:300]))
    for name, h in resp.get("headers", {}).items():
        if name.lower() in hdrs and h["schema"].get("type") == "integer":
            check("%s: header %s an integer" % (what, name), hdrs[name.lower()].isdigit(), hdrs[name.lower()])
    if status == 401:
        check("%s: WWW-Authenticate: Bearer" % what, hdrs.get("www-authenticate", "").startswith("Bearer"), hdrs)
    if str(status) in op["responses"]:
        covered.add((route, method.lower(), str(status), ctype))


def call(port, method, path, expect, body=None, token=None):
    """One request: its status must be expect, its answer as documented."""
    st, h, b = request(port, path, method, body, token)
    check("%s %s: %d" % (method, path[:70], expect), st == expect, (st, b[:300]))
    conforms(method, path.split("?")[0], st, h, b)
    return st, h, b


def call_raw(port, method, path, expect, length, token=None, send=0):
    auth = "Authorization: Bearer %s\r\n" % token if token else ""
    head = ("%s %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n%s\r\n" % (method, path, length, auth)).encode()
    st, h, b = raw(port, head, b" " * send)
    check("%s %s (%d bytes announced): %d" % (method, path, length, expect), st == expect, (st, h, b[:300]))
    conforms(method, path.split("?")[0], st, h, b)


def wait_for(cond, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    return cond()


def lookups(port, reader, writer):
    g = "/v1/check?tenant=globex&kind=extension&id=1001&name=calls.international"
    stale = "&min_seq=999999&wait_ms=10"
    for path, bad in ((CHECK, "/v1/check?tenant=acme"), ("/v1/show?tenant=acme&kind=extension&id=1001",
                                                         "/v1/show?tenant=acme&kind=extension"),
                      ("/v1/visible?tenant=acme&manager=lead", "/v1/visible?tenant=acme")):
        call(port, "GET", path, 200, token=reader)
        call(port, "GET", bad, 400, token=reader)
        call(port, "GET", path, 401)
        call(port, "GET", path.replace("acme", "globex"), 403, token=reader)
        call(port, "GET", path + stale, 503, token=reader)
    st, h, b = call(port, "GET", CHECK + "&format=text", 200, token=reader)
    check("format=text: allow", b == b"allow", b)
    call(port, "GET", "/v1/check?tenant=acme&kind=extension&id=1001&name=calls.international&explain=1", 200,
         token=reader)
    call(port, "GET", g, 403, token=reader)
    call(port, "GET", "/v1/show?tenant=acme&kind=extension&id=9999", 404, token=reader)
    call(port, "POST", "/v1/check", 200, BATCH, reader)
    call(port, "POST", "/v1/check", 400, "not json", reader)
    call(port, "POST", "/v1/check", 401, BATCH)
    call(port, "POST", "/v1/check", 403, BATCH.replace("acme", "globex"), reader)
    call(port, "POST", "/v1/check?min_seq=999999&wait_ms=10", 503, BATCH, reader)
    call_raw(port, "POST", "/v1/check", 413, 70000, send=70000)
    call(port, "GET", "/v1/status", 200, token=reader)
    call(port, "GET", "/v1/status", 401)
    call(port, "GET", "/v1/status", 403, token=writer)
    call(port, "GET", "/metrics", 200, token=reader)
    call(port, "GET", "/metrics", 401)


def writes(port, admin, reader):
    cmds = [{"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "2%03d" % i} for i in range(3)]
    st, h, b = call(port, "POST", "/v1/submit", 200, "".join(json.dumps(c) + "\n" for c in cmds) + "not json\n", admin)
    check("submit: verdicts in order, a malformed line INVALID_COMMAND", st == 200 and
          [v["verdict"] for v in json.loads(b)] == ["accepted"] * 3 + ["rejected"], b)
    call(port, "POST", "/v1/submit", 200, json.dumps([{"cmd": "CreateExtension", "tenant": "acme", "actor": "admin",
                                                       "id": "3000"}]), admin)
    call(port, "POST", "/v1/submit", 400, "", admin)
    call(port, "POST", "/v1/submit", 400, "[1,", admin)
    call(port, "POST", "/v1/submit", 401, json.dumps(cmds))
    call(port, "POST", "/v1/submit", 403, json.dumps(cmds), reader)
    call_raw(port, "POST", "/v1/submit", 413, 70000, send=70000)
    call_raw(port, "POST", "/v1/submit", 413, 5 << 20, token=admin)
    call_raw(port, "POST", "/v1/submit", 503, 3 << 20, token=admin, send=2 << 20)   # --max-buffered-bytes 1 MiB


def feeds(port, admin, reader):
    st, h, b = call(port, "GET", "/v1/watch?from=1&until=3", 200, token=admin)
    lines = [json.loads(x) for x in b.decode().splitlines() if x]
    errs = [e.message for x in lines for e in jsonschema.Draft4Validator(
        {"$ref": "#/components/schemas/WatchLine"}, resolver=jsonschema.RefResolver("", JSDOC)).iter_errors(x)]
    check("watch: each line a WatchLine, seqs 1..3", [x["seq"] for x in lines] == [1, 2, 3] and not errs, (errs, b))
    call(port, "GET", "/v1/watch?from=x", 400, token=admin)
    call(port, "GET", "/v1/watch?from=1&until=1", 401)
    call(port, "GET", "/v1/watch?from=1&until=1", 403, token=reader)
    check("a checkpoint is signed (--checkpoint-interval)",
          wait_for(lambda: request(port, "/v1/checkpoint", token=reader)[0] == 200))
    call(port, "GET", "/v1/checkpoint", 200, token=reader)
    call(port, "GET", "/v1/checkpoint", 401)
    call(port, "GET", "/v1/proof/inclusion?seq=1&size=3", 200, token=reader)
    call(port, "GET", "/v1/proof/inclusion?seq=1", 200, token=reader)
    call(port, "GET", "/v1/proof/inclusion?seq=x", 400, token=reader)
    call(port, "GET", "/v1/proof/inclusion?seq=1&size=3", 401)
    call(port, "GET", "/v1/proof/consistency?from=1&to=3", 200, token=reader)
    call(port, "GET", "/v1/proof/consistency?from=3&to=1", 400, token=reader)
    call(port, "GET", "/v1/proof/consistency?from=1&to=3", 401)
    check("the snapshot of the seed's close is signed (its note)",
          wait_for(lambda: request(port, "/v1/seed", token=admin)[0] == 200))
    st, h, b = call(port, "GET", "/v1/seed", 200, token=admin)
    seq = json.loads(b)["seq"]
    st, h, b = call(port, "GET", "/v1/seed/snapshot?seq=%d" % seq, 200, token=admin)
    check("the seed's snapshot is its file, of the size GET /v1/seed said", b[:8] == b"TMSSNAP1" and
          len(b) == json.loads(request(port, "/v1/seed", token=admin)[2])["bytes"], (len(b), b[:8]))
    st, h, b = call(port, "GET", "/v1/seed/tree", 200, token=admin)
    check("the seed's tree is the tree file", b[:8] == b"TMSTREE1", b[:16])
    for path in ("/v1/seed", "/v1/seed/snapshot?seq=%d" % seq, "/v1/seed/tree"):
        call(port, "GET", path, 401)
        call(port, "GET", path, 403, token=reader)
    call(port, "GET", "/v1/seed/snapshot", 400, token=admin)
    call(port, "GET", "/v1/seed/snapshot?seq=99999", 404, token=admin)


def methods_and_paths(port, token):
    for path, item in DOC["paths"].items():
        allowed = {m.upper() for m in METHODS if m in item}
        for other in ("PATCH", "DELETE", "PUT", "POST" if "POST" not in allowed else "GET" if "GET" not in allowed
                      else "OPTIONS"):
            if other in allowed:
                continue
            st, h, b = request(port, path, other, token=token)
            check("%s %s: 405, Allow names the documented methods (%s)" % (other, path, ", ".join(sorted(allowed))),
                  st == 405 and {x.strip() for x in h.get("allow", "").split(",")} == allowed and
                  json.loads(b)["error"] == "E_PROTOCOL", (st, h, b))
    for path in ("/v2/check", "/v1/Check", "/favicon.ico"):
        st, h, b = request(port, path, token=token)
        errs = list(jsonschema.Draft4Validator({"$ref": "#/components/schemas/Error"},
                                               resolver=jsonschema.RefResolver("", JSDOC)).iter_errors(json.loads(b)))
        check("%s: 404 NOT_FOUND, an Error" % path, st == 404 and not errs and json.loads(b)["error"] == "NOT_FOUND",
              (st, b))


def probes(port):
    call(port, "GET", "/healthz", 200)
    st, h, b = call(port, "GET", "/readyz", 200)
    check("readyz: a leader", json.loads(b)["role"] == "leader", b)
    st, h, b = call(port, "GET", "/v1/openapi.yaml", 200)
    check("GET /v1/openapi.yaml is docs/openapi.yaml byte for byte (built in), no credentials needed",
          b == open(DOC_PATH, "rb").read() and h.get("content-type") == "application/yaml", (len(b), h))
    check("... and it parses as YAML to the same document", yaml.safe_load(b) == DOC)


def test_leader(d):
    t = Tmsd(BIN, d, "leader")
    t.seed()
    key = os.path.join(d, "leader.key")
    r = subprocess.run([os.path.join(BIN, "tms-audit"), "keygen", "--name", "pbx.example.com/tms", "--out", key],
                       capture_output=True, text=True, timeout=30)
    check("keygen", r.returncode == 0, r.stderr)
    port = free_port()
    t.start("--http", "127.0.0.1:%d" % port, "--principals", t.principals(), "--signing-key", key,
            "--checkpoint-interval", "0.2", "--max-buffered-bytes", str(1 << 20))
    admin, reader, writer = TOKENS["admin"], TOKENS["reader"], TOKENS["writer"]
    try:
        probes(port)
        lookups(port, reader, writer)
        writes(port, admin, reader)
        feeds(port, admin, reader)
        methods_and_paths(port, reader)
        s = socket.create_connection(("127.0.0.1", port), timeout=10)   # keep-alive, then SIGTERM
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        first = read_answer(s)
        t.term()
        time.sleep(0.3)
        s.sendall(b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n")
        st, h, b = read_answer(s)
        s.close()
        check("while it stops, on an open connection: /healthz was 200, /readyz 503 E_BUSY",
              first[0] == 200 and st == 503 and json.loads(b)["error"] == "E_BUSY", (first, st, b))
        conforms("GET", "/readyz", st, h, b)
    finally:
        code = t.stop()
        check("leader exits 0", code == 0, (code, t.log_text()[-800:]))


def test_replica(d):
    """A replica without NATS: submits are 421, no checkpoint yet is 404; it is ready (nothing heard of)."""
    t = Tmsd(BIN, d, "replica")
    port = free_port()
    tok = os.path.join(d, "token")
    with open(tok, "w") as f:
        f.write(TOKENS["admin"] + "\n")
    t.start("--http", "127.0.0.1:%d" % port, "--token-file", tok, "--replica-of", "nats://127.0.0.1:%d" % free_port())
    try:
        call(port, "POST", "/v1/submit", 421, "{}\n", TOKENS["admin"])
        call(port, "GET", "/v1/checkpoint", 404)
        call(port, "GET", "/v1/proof/inclusion?seq=1", 404)
        call(port, "GET", "/v1/seed", 404, token=TOKENS["admin"])
        st, h, b = call(port, "GET", "/readyz", 200)
        check("readyz: a replica that heard of nothing is ready, behind 0",
              json.loads(b)["role"] == "replica" and json.loads(b)["behind"] == 0, b)
    finally:
        check("replica exits 0", t.stop() == 0, t.log_text()[-800:])


class Nats:
    def __init__(self, d):
        self.port, self.dir = free_port(), os.path.join(d, "js")
        self.url = "nats://127.0.0.1:%d" % self.port
        self.p = subprocess.Popen(["nats-server", "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", self.dir],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        check("nats-server is up", wait_for(self.up, 10))

    def up(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self):
        self.p.kill()
        self.p.wait(timeout=10)


def keygen(d, name):
    r = subprocess.run([os.path.join(BIN, "tms-audit"), "keygen", "--name", "pbx.example.com/tms", "--out",
                        os.path.join(d, name)], capture_output=True, text=True, timeout=30)
    return os.path.join(d, name), r.stdout.strip()


def readyz(port):
    st, h, b = request(port, "/readyz")
    conforms("GET", "/readyz", st, h, b)
    return st, json.loads(b)


def test_readiness_of_replicas(d):
    """With nats-server: a replica whose records wait for a checkpoint that never comes lags (E_STALE past
    --ready-max-lag); one whose leader signs with another key stops (E_FAILED)."""
    if not check("nats-server is installed (scripts/bootstrap)", shutil.which("nats-server")):
        return
    nats = Nats(d)
    key1, vkey1 = keygen(d, "k1")
    key2, vkey2 = keygen(d, "k2")   # the same name, another key
    nodes = []
    try:
        l1 = Tmsd(BIN, d, "l1").start("--publish", nats.url, "--stream", "s1")
        l2 = Tmsd(BIN, d, "l2").start("--publish", nats.url, "--stream", "s2", "--signing-key", key1)
        nodes += [l1, l2]
        p1, p2 = free_port(), free_port()
        r1 = Tmsd(BIN, d, "r1").start("--replica-of", nats.url, "--stream", "s1", "--leader-key", vkey1,
                                      "--ready-max-lag", "5", "--metrics", "127.0.0.1:%d" % p1)
        r2 = Tmsd(BIN, d, "r2").start("--replica-of", nats.url, "--stream", "s2", "--leader-key", vkey2,
                                      "--metrics", "127.0.0.1:%d" % p2)
        nodes += [r1, r2]
        st, b = readyz(p1)
        check("a replica caught up: ready (on the metrics listener, no credentials)", st == 200 and b["behind"] == 0,
              b)
        for node in (l1, l2):
            seeded = wait_for(lambda: os.path.exists(os.path.join(node.data, "tmsd.sock")))
            rc, out, err = node.ctl("--connect", os.path.join(node.data, "tmsd.sock"), "submit",
                                    stdin="".join(json.dumps({"cmd": "CreateTenant", "tenant": "t%d" % i,
                                                              "actor": "system", "admin": "admin"}) + "\n"
                                                  for i in range(10)))
            check("%s: 10 records submitted" % node.name, seeded and rc == 0 and out.count("accepted") == 10,
                  (out, err))
        lag = wait_for(lambda: readyz(p1)[0] == 503 and readyz(p1)[1], 20)
        check("a replica 10 records behind (none covered by a checkpoint), --ready-max-lag 5: 503 E_STALE",
              lag and lag["error"] == "E_STALE" and "10 records behind" in lag["message"], lag)
        st, h, b = request(p1, "/metrics")
        check("... tmsd_replica_behind says 10", "tmsd_replica_behind 10\n" in b.decode(), b[-600:])
        stopped = wait_for(lambda: readyz(p2)[0] == 503 and readyz(p2)[1], 20)
        check("a replica whose leader's checkpoint does not verify: 503 E_FAILED, replication stopped",
              stopped and stopped["error"] == "E_FAILED" and "replication stopped" in stopped["message"], stopped)
        st, h, b = request(p2, "/healthz")
        check("... and alive", st == 200, (st, b))
    finally:
        for n in nodes:
            n.stop()
        nats.stop()


def test_everything_documented_was_exercised(d):
    want = {(path, m, status, ctype) for path, m, op in operations(DOC) for status, resp in op["responses"].items()
            if status != "default"
            for ctype in (pointer(DOC, resp["$ref"]) if "$ref" in resp else resp).get("content", {"-": None})}
    missing = sorted(want - covered)
    check("every documented route, method, status and media type was exercised (%d)" % len(want), not missing,
          missing)


if __name__ == "__main__":
    run_cases(test_document, test_routes_are_documented, test_leader, test_replica, test_readiness_of_replicas,
              test_everything_documented_was_exercised, prefix="tms-openapi-")
    finish()
