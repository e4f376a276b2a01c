#!/usr/bin/env python3
"""test_man.py -- the man pages (help2man, packaging/man/) cover every
command and every option the programs take (issue 19, item 14): for each
program, every command its --help lists, and every --option that the
program's or a command's --help names, appears in its man page; and no
user-facing text (--help of every program and command, the man pages)
cites "SPEC section N" (issue 19, item 13: that is for developers).

usage: test_man.py BIN_DIR   (the man pages are BIN_DIR/../man)"""
import os, re, subprocess, sys

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
MAN = os.path.join(os.path.dirname(BIN), "man")
PAGES = {"tmsctl": "tmsctl.1", "tms-audit": "tms-audit.1", "tms-history": "tms-history.1",
         "tms-restore": "tms-restore.1", "tmsd": "tmsd.8"}
passed = failed = 0


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (what, str(detail)[:600]))


def helptext(*args):
    r = subprocess.run([os.path.join(BIN, args[0])] + list(args[1:]) + ["--help"], capture_output=True, text=True,
                       timeout=30)
    return r.stdout if r.returncode == 0 else ""


def plain(roff):
    """The words of a man page's source, roff escapes undone."""
    t = roff.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "").replace("\\,", "").replace("\\/", "")
    return re.sub(r"\\f[BIRP]|\\f\(..|\\\(..", "", t)


def commands(prog, text):
    """The commands a program's --help lists."""
    if prog == "tms-restore":   # a default command, and "backup" named in the usage
        return re.findall(r"^\s+tms-restore ([a-z][a-z-]+) --data", text, re.M)
    if prog == "tmsd":
        return []
    return [m for m in re.findall(r"^  ([a-z][a-z-]+)(?: |$)", text, re.M)]


def options(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*[a-z])", text))


def main():
    for prog, page in PAGES.items():
        path = os.path.join(MAN, page)
        if not os.path.exists(path):
            check("%s exists (help2man installed?)" % path, False)
            continue
        man = plain(open(path).read())
        top = helptext(prog)
        check("%s --help" % prog, top)
        cmds = commands(prog, top)
        check("%s: its commands are found in its --help" % prog, prog == "tmsd" or cmds, top[:300])
        texts = [("--help", top)] + [("%s --help" % c, helptext(prog, c)) for c in cmds]
        for c in cmds:
            check("%s(%s) names the command %s" % (prog, page[-1], c), re.search(r"\b%s\b" % re.escape(c), man), c)
        for where, text in texts:
            check("%s %s answers" % (prog, where), text.strip())
            missing = sorted(o for o in options(text) if o not in man)
            check("%s(%s) has every option of %s %s" % (prog, page[-1], prog, where), not missing, missing)
            check("%s %s cites no SPEC section" % (prog, where), "SPEC section" not in text,
                  [l for l in text.splitlines() if "SPEC section" in l])
        check("%s(%s) cites no SPEC section" % (prog, page[-1]), "SPEC section" not in man,
              [l for l in man.splitlines() if "SPEC section" in l])
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(0 if failed == 0 and passed > 0 else 1)


if __name__ == "__main__":
    main()
