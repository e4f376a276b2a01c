#!/usr/bin/env python3
"""fuzz_seeds.py -- seed corpora for scripts/fuzz, from the conformance
scenarios (commands; submit frames of them; whole scenarios for the rules)
and a real log directory (record payloads; frames; whole segment files).
usage: fuzz_seeds.py SCENARIO_DIR OUR_SCENARIO_DIR DEMO_JSONL LOG_DIR OUT_DIR"""
import glob, json, os, struct, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "daemon"))
import mp  # noqa: E402  (the tests' msgpack encoder)

scen, ours, demo, logdir, out = sys.argv[1:6]
for t in ("cmd", "record", "frames", "submit", "segment", "rules"):
    os.makedirs(os.path.join(out, t), exist_ok=True)

def put(kind, name, data):
    with open(os.path.join(out, kind, name), "wb") as f:
        f.write(data)

cmds = []
for path in sorted(glob.glob(os.path.join(scen, "*.jsonl")) + glob.glob(os.path.join(ours, "*.jsonl"))):
    lines = []
    for line in open(path):
        o = json.loads(line)
        if "submit" in o:
            c = o["submit"]
            text = c if isinstance(c, str) else json.dumps(c)
            lines.append(text)
            cmds.append(c)
    put("rules", os.path.basename(path), ("\n".join(lines) + "\n").encode())
for line in open(demo):
    cmds.append(json.loads(line))
for i, c in enumerate(cmds):
    text = c if isinstance(c, str) else json.dumps(c)
    put("cmd", "c%04d" % i, text.encode())
for i in range(0, len(cmds), 7):
    batch = [c for c in cmds[i:i + 7] if isinstance(c, dict)]
    put("submit", "s%04d" % i, mp.pack({"op": "submit", "req": i, "cmds": batch}))
segs = sorted(glob.glob(os.path.join(logdir, "*.tmslog")))
for s in segs[:1]:
    data = open(s, "rb").read()
    put("segment", "whole", data[:65536])
    off, n = 16, 0
    while off + 56 <= len(data) and n < 400:
        length = struct.unpack_from("<I", data, off)[0]
        payload = data[off + 56: off + 56 + length]
        put("record", "r%04d" % n, payload)
        put("frames", "f%04d" % n, struct.pack(">I", len(payload)) + payload)
        if n < 40:
            cut = data[:off + 56 + length]
            put("segment", "upto%04d" % n, cut)
        off += 56 + length
        n += 1
print("seeds:", {t: len(os.listdir(os.path.join(out, t))) for t in ("cmd", "record", "frames", "submit", "segment", "rules")})
