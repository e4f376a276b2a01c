#!/usr/bin/env python3
"""test_http_api.py -- one HTTP API (issue 19, item 8), against a running
tmsd --http and --metrics:

- one error vocabulary: every error body is {"error","message"} with a SPEC
  code. An unknown path is 404 NOT_FOUND (not E_INVAL), on both listeners; a
  known path with another method is 405 E_PROTOCOL with Allow naming the
  methods it takes; the 413 before credentials (64 KiB) and h2o's own 413
  (4 MiB), the 503 of the shared input budget and h2o's 400 for a broken
  chunked body, all plain text from h2o before, are JSON (E_TOOBIG, E_BUSY,
  E_PROTOCOL); an error answer keeps a keep-alive connection open;
- HTTP lookups (check, a batch, show, visible) are counted in
  tmsd_lookup_seconds as socket lookups are; other routes are not;
- tmsd_http_requests_total{route,code} counts every answer by route and
  status, unknown paths under the one label "other";
- process_* metrics (Prometheus's process collector: CPU, memory, file
  descriptors, start time) from /proc/self, agreeing with what /proc says;
- /metrics is valid text exposition: parsed by prometheus_client's parser
  (Debian's python3-prometheus-client), every family's HELP and TYPE once.

usage: test_http_api.py BIN_DIR (run by Debian's python3: scripts/bootstrap installs its packages)"""
import json, os, socket, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from checks import check, finish, free_port, run_cases  # noqa: E402
from httptest import TOKENS, Tmsd, is_error, raw, read_answer, request  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
ROUTES = {"/v1/check", "/v1/show", "/v1/visible", "/v1/submit", "/v1/status", "/v1/watch", "/v1/checkpoint",
          "/v1/proof/inclusion", "/v1/proof/consistency", "/metrics", "/healthz", "/readyz", "/v1/openapi.yaml"}
CHECK = "/v1/check?tenant=acme&kind=extension&id=1001&name=calls.international"


def post_head(path, length, token=None, extra=""):
    auth = "Authorization: Bearer %s\r\n" % token if token else ""
    return ("POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n%s%s\r\n" % (path, length, auth, extra)).encode()


def metrics(mport):
    st, h, b = request(mport, "/metrics")
    check("GET /metrics on the metrics listener: 200", st == 200, (st, b[:200]))
    return b.decode()


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(text, name, **labels):
    """The value of one sample (0 when absent)."""
    for f in text_string_to_metric_families(text):
        for s in f.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0


def server(d, *extra):
    t = Tmsd(BIN, d)
    t.seed()
    port, mport = free_port(), free_port()
    t.start("--http", "127.0.0.1:%d" % port, "--metrics", "127.0.0.1:%d" % mport, *extra)
    return t, port, mport


def test_error_vocabulary(d):
    t, port, mport = server(d, "--principals", Tmsd(BIN, d).principals(), "--max-buffered-bytes", str(1 << 20))
    reader, admin = TOKENS["reader"], TOKENS["admin"]
    try:
        for path in ("/v1/nope", "/", "/v1/check/more", "/V1/CHECK", "/v1/checkpoints"):
            st, h, b = request(port, path, token=reader)
            check("unknown path %s: 404 NOT_FOUND {error,message}" % path, st == 404 and is_error(st, h, b, "NOT_FOUND"),
                  (st, h, b))
        st, h, b = request(mport, "/v1/check")
        check("the metrics listener: an API path is 404 NOT_FOUND", st == 404 and is_error(st, h, b, "NOT_FOUND"), (st, b))
        for port_, method, path, allow in ((port, "DELETE", "/v1/check", "GET, POST"), (port, "POST", "/v1/status", "GET"),
                                           (port, "GET", "/v1/submit", "POST"), (port, "PUT", "/healthz", "GET"),
                                           (port, "POST", "/v1/openapi.yaml", "GET"), (mport, "POST", "/metrics", "GET"),
                                           (mport, "DELETE", "/readyz", "GET")):
            st, h, b = request(port_, path, method, token=reader)
            check("%s %s: 405 E_PROTOCOL, Allow: %s" % (method, path, allow),
                  st == 405 and is_error(st, h, b, "E_PROTOCOL") and h.get("allow") == allow, (st, h, b))
        st, h, b = raw(port, post_head("/v1/check", 70000), b"x" * 70000)
        check("413 before credentials (64 KiB): JSON E_TOOBIG, WWW-Authenticate", st == 413 and
              is_error(st, h, b, "E_TOOBIG") and "64 KiB" in json.loads(b)["message"] and
              h.get("www-authenticate", "").startswith("Bearer"), (st, h, b[:300]))
        st, h, b = raw(port, post_head("/v1/submit", 5 << 20, admin))
        check("h2o's own 413 (over 4 MiB, with credentials): JSON E_TOOBIG", st == 413 and
              is_error(st, h, b, "E_TOOBIG") and "4 MiB" in json.loads(b)["message"], (st, h, b[:300]))
        st, h, b = raw(port, post_head("/v1/submit", 3 << 20, admin), b"[" + b" " * (2 << 20))
        check("the input budget's 503 (--max-buffered-bytes): JSON E_BUSY", st == 503 and is_error(st, h, b, "E_BUSY"),
              (st, h, b[:300]))
        st, h, b = raw(port, b"POST /v1/check HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        check("h2o's 400 for a broken chunked body: JSON E_PROTOCOL", st == 400 and is_error(st, h, b, "E_PROTOCOL"),
              (st, h, b[:300]))
        st, h, b = request(port, CHECK)
        check("no credentials where a right is needed: 401 E_DENIED", st == 401 and is_error(st, h, b, "E_DENIED"), (st, b))
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /v1/nope HTTP/1.1\r\nHost: t\r\n\r\n")
        first = read_answer(s)
        s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n\r\n" % (CHECK, reader)).encode())
        second = read_answer(s)
        s.close()
        check("an error answer keeps the connection (Content-Length, keep-alive): the next request is served",
              first[0] == 404 and first[1].get("connection") == "keep-alive" and second[0] == 200 and
              json.loads(second[2])["allow"] is True, (first, second))
    finally:
        check("tmsd exits 0", t.stop() == 0, t.log_text()[-800:])


def test_lookups_counted(d):
    t, port, mport = server(d)
    try:
        before = metrics(mport)
        n0, s0 = sample(before, "tmsd_lookup_seconds_count"), sample(before, "tmsd_lookup_seconds_sum")
        asked = [(CHECK, "GET", None), (CHECK + "&format=text", "GET", None), (CHECK + "&explain=1", "GET", None),
                 ("/v1/check", "POST", json.dumps({"checks": [{"tenant": "acme", "kind": "extension", "id": "1001",
                                                               "name": "calls.international"}] * 3})),
                 ("/v1/show?tenant=acme&kind=extension&id=1001", "GET", None),
                 ("/v1/visible?tenant=acme&manager=lead", "GET", None)]
        for path, method, body in asked:
            st, h, b = request(port, path, method, body)
            check("%s %s: 200" % (method, path[:40]), st == 200, (st, b))
        for path in ("/v1/status", "/healthz", "/readyz", "/v1/watch?from=1&until=1", "/v1/nope"):
            request(port, path)
        after = metrics(mport)
        n1, s1 = sample(after, "tmsd_lookup_seconds_count"), sample(after, "tmsd_lookup_seconds_sum")
        check("the %d HTTP lookups are counted in tmsd_lookup_seconds (other routes are not): %d -> %d" %
              (len(asked), n0, n1), n1 - n0 == len(asked) and s1 > s0, (n0, n1, s0, s1))
        h = [s for s in families(after)["tmsd_lookup_seconds"].samples if s.name.endswith("_bucket")]
        check("... in its buckets too (+Inf = count)", [s.value for s in h if s.labels["le"] == "+Inf"] == [n1], h[-1:])
    finally:
        check("tmsd exits 0", t.stop() == 0, t.log_text()[-800:])


def test_request_counters(d):
    tok = os.path.join(d, "token")
    with open(tok, "w") as f:
        f.write(TOKENS["admin"] + "\n")
    t, port, mport = server(d, "--token-file", tok)
    try:
        for _ in range(3):
            request(port, CHECK)
        request(port, "/v1/check?tenant=acme")   # 400
        for path in ("/nope", "/v1/nope", "/v1/check/x", "/.env", "/wp-login.php"):
            request(port, path)
        request(port, "/v1/check", "DELETE")
        raw(port, post_head("/v1/submit", 70000), b"x" * 70000)   # 413 before credentials
        request(port, "/v1/submit", "POST", "{}\n")               # 401: submit needs the token
        request(port, "/healthz")
        text = metrics(mport)
        fam = families(text).get("tmsd_http_requests", families(text).get("tmsd_http_requests_total"))
        if not check("tmsd_http_requests_total is exposed", fam is not None, text[-400:]):
            return
        got = {(s.labels["route"], s.labels["code"]): s.value for s in fam.samples if s.name.endswith("_total")}
        want = {("/v1/check", "200"): 3, ("/v1/check", "400"): 1, ("other", "404"): 5, ("/v1/check", "405"): 1,
                ("/v1/submit", "413"): 1, ("/v1/submit", "401"): 1, ("/healthz", "200"): 1}
        check("tmsd_http_requests_total{route,code}: each answer by route and status",
              all(got.get(k) == v for k, v in want.items()), (want, got))
        check("... a bounded label set: the route table's paths and other",
              {r for r, _ in got} <= ROUTES | {"other"} and all(c.isdigit() and len(c) == 3 for _, c in got), got)
        text = metrics(mport)
        got2 = sample(text, "tmsd_http_requests_total", route="/metrics", code="200")
        check("... the metrics listener's answers too", got2 >= 1, got2)
    finally:
        check("tmsd exits 0", t.stop() == 0, t.log_text()[-800:])


def test_exposition_and_process(d):
    t, port, mport = server(d)
    try:
        request(port, CHECK)
        request(port, "/v1/nope")
        text = metrics(mport)
        try:
            fams = list(text_string_to_metric_families(text))
            parsed = True
        except Exception as e:  # noqa: BLE001 -- any parser error is the failure
            fams, parsed = [], e
        check("/metrics parses as Prometheus text exposition (prometheus_client)", parsed is True, parsed)
        names = [f.name for f in fams]
        check("... each family once (its samples together)", len(names) == len(set(names)) and len(names) > 20, names)
        lines = text.splitlines()
        for kind in ("HELP", "TYPE"):
            seen = [ln.split()[2] for ln in lines if ln.startswith("# %s " % kind)]
            check("... every %s line once per metric" % kind, len(seen) == len(set(seen)),
                  sorted(n for n in seen if seen.count(n) > 1))
        check("... every sample's metric has a TYPE before it", all(
            any(ln2.startswith("# TYPE ") and ln.split("{")[0].split()[0].startswith(ln2.split()[2])
                for ln2 in lines[:i]) for i, ln in enumerate(lines) if ln and not ln.startswith("#")))
        f = {x.name: x for x in fams}
        want = {"process_cpu_seconds": "counter", "process_resident_memory_bytes": "gauge",
                "process_virtual_memory_bytes": "gauge", "process_open_fds": "gauge", "process_max_fds": "gauge",
                "process_start_time_seconds": "gauge"}
        check("process_* metrics, the standard collector's names and types",
              all(n in f and f[n].type == ty for n, ty in want.items()), {n: f[n].type for n in f if "process" in n})
        v = {n: f[n].samples[0].value for n in want if n in f}
        fds = len(os.listdir("/proc/%d/fd" % t.p.pid))
        rss = int([ln.split()[1] for ln in open("/proc/%d/status" % t.p.pid) if ln.startswith("VmRSS:")][0]) * 1024
        check("... agreeing with /proc: open fds %s (~%d), resident %s (~%d), start time, cpu" %
              (v.get("process_open_fds"), fds, v.get("process_resident_memory_bytes"), rss),
              v and abs(v["process_open_fds"] - fds) <= 4 and v["process_open_fds"] < v["process_max_fds"] and
              0.5 * rss < v["process_resident_memory_bytes"] < 2 * rss and
              v["process_virtual_memory_bytes"] >= v["process_resident_memory_bytes"] and
              time.time() - 300 < v["process_start_time_seconds"] <= time.time() + 2 and
              0 <= v["process_cpu_seconds"] < 60, v)
    finally:
        check("tmsd exits 0", t.stop() == 0, t.log_text()[-800:])


if __name__ == "__main__":
    run_cases(test_error_vocabulary, test_lookups_counted, test_request_counters, test_exposition_and_process,
              prefix="tms-http-api-")
    finish()
