#!/usr/bin/env python3
"""test_docs.py -- what a user reads agrees with what is packaged (issue 19,
item 13): README's paths are the package's (the data directory, the socket
and the configuration directory of packaging/tmsd.service.in and
debian/tmsperm.default), its install section says what the packages' scripts
do and a source install must do by hand (ldconfig, systemd-sysusers, systemctl
daemon-reload), and no user-facing text (README, docs/tools.md, the examples'
READMEs) cites "SPEC section N" (docs/design.md and docs/protocol.md may: they
are for developers).

usage: test_docs.py SOURCE_DIR"""
import os, re, sys

SRC = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
passed = failed = 0


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (what, str(detail)[:800]))


def read(*path):
    return open(os.path.join(SRC, *path)).read()


def main():
    unit = read("packaging", "tmsd.service.in")
    state = "/var/lib/" + re.search(r"^StateDirectory=(\S+)", unit, re.M).group(1)
    run = "/run/" + re.search(r"^RuntimeDirectory=(\S+)", unit, re.M).group(1)
    data = re.search(r"--data (\S+)", unit).group(1)
    check("the unit's --data is its StateDirectory", data == state, (data, state))
    default = read("debian", "tmsperm.default")
    etc = sorted(set(re.findall(r"(/etc/[a-z]+)/", default)) - {"/etc/default"})
    check("debian/tmsperm.default names the configuration directory", etc == ["/etc/tmsperm"], etc)
    readme = read("README.md")
    paths = set(re.findall(r"(?<![\w.])/(?:var/lib|run|etc)/[\w./-]*", readme))
    wrong = sorted(p for p in paths if not re.match(r"(%s|%s|%s|/etc/default/tmsperm)(/|$|-[a-z]+$)" % (
        re.escape(state), re.escape(run), re.escape(etc[0] if etc else "-")), p))
    check("README's paths under /var/lib, /run and /etc are the package's (%s, %s, %s)" % (state, run, etc),
          paths and not wrong, wrong)
    check("README names the packaged socket", run + "/tmsd.sock" in readme)   # (a copy beside the data: DIR-restored)
    install = readme[readme.index("## Installing"):]
    install = install[:install.index("\n## ", 4)]
    for word in ("ldconfig", "systemd-sysusers", "daemon-reload"):
        check("README's install section says %s" % word, word in install, install[:400])
    check("README's install section says a plain build needs no cmocka", "cmocka" in install and "TMS_TESTS" in install)
    for path in (("README.md",), ("docs", "tools.md"), ("examples", "kamailio", "README.md")):
        text = read(*path)
        hits = [l for l in text.splitlines() if re.search(r"SPEC sections? \d", l)]
        check("%s cites no SPEC section" % os.path.join(*path), not hits, hits)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(0 if failed == 0 and passed > 0 else 1)


if __name__ == "__main__":
    main()
