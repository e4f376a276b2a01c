#!/usr/bin/env python3
"""test_completion.py -- the bash completion of the five programs
(packaging/bash-completion/tmsperm, issue 19, item 11): it parses (bash -n);
completing a prefix in a bash subprocess lists the expected words
(commands, options, formats, kinds, permission names from `tmsctl names`,
directories for --data); and it cannot drift from the programs: every
option it offers is one the program's (or the command's) --help names, and
every option of every usage line is offered.

usage: test_completion.py BIN_DIR SCRIPT"""
import os, re, shutil, subprocess, sys, tempfile

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
SCRIPT = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "packaging/bash-completion/tmsperm")
FUNCS = {"tmsctl": "_tmsctl", "tms-audit": "_tms_audit", "tms-history": "_tms_history",
         "tms-restore": "_tms_restore", "tmsd": "_tmsd"}
COMMANDS = {"tmsctl": ["submit", "status", "checkpoint", "names", "check", "show", "visible", "watch", "accept-loss"],
            "tms-audit": ["verify", "who-can", "report", "export", "keygen", "checkpoint", "prove", "verify-proof",
                          "witness"],
            "tms-history": ["custom", "account"], "tms-restore": ["backup"], "tmsd": []}
passed = failed = 0


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (what, str(detail)[:600]))


def complete(line, cwd=None):
    """The words bash offers for line (completed at its end), as a sorted list; COMP_WORDS split as bash
    does (at blanks, and '=' a word of its own)."""
    words = re.findall(r"=|[^\s=]+", line)
    if line.endswith(" "):
        words.append("")
    prog = words[0]
    script = 'source "$1"; COMP_WORDS=("${@:3}"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); ' \
             'COMP_LINE="$2"; COMP_POINT=${#COMP_LINE}; %s; printf "%%s\\n" "${COMPREPLY[@]}"' % FUNCS[prog]
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    r = subprocess.run(["bash", "-c", script, "bash", SCRIPT, line] + words, capture_output=True, text=True,
                       timeout=30, cwd=cwd, env=env)
    if r.returncode != 0 or r.stderr:
        return ["<error %d: %s>" % (r.returncode, r.stderr.strip())]
    return sorted(w for w in r.stdout.split("\n") if w)


def helptext(*args):
    r = subprocess.run([os.path.join(BIN, args[0])] + list(args[1:]) + ["--help"], capture_output=True, text=True,
                       timeout=30)
    return r.stdout


def options(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*[a-z])", text))


def synopsis(prog, cmd, text):
    """The options of the usage lines of prog (cmd)."""
    if prog == "tmsctl" and cmd:   # the command's line in tmsctl's list; POINT and FRESH are spelt out below it
        line = re.search(r"^  %s( .*)?$" % re.escape(cmd), text, re.M).group(0)
        line = line.replace("POINT", "--seq --at").replace("FRESH", "--min-seq --wait")
        return options(line)
    head = text.split("\n\n")[0]
    if prog in ("tms-audit", "tms-history") and not cmd:   # "PROG COMMAND --data DIR": the commands' options
        return set()
    if prog == "tmsctl":
        return options(head)
    if prog == "tms-restore" and not cmd:   # the default command's lines, not backup's
        head = "\n".join(l for l in head.splitlines() if " backup " not in l)
    return options(head)


def drift():
    for prog, cmds in COMMANDS.items():
        for cmd in [None] + cmds:
            text = helptext(prog, cmd) if cmd else helptext(prog)
            line = "%s %s--" % (prog, cmd + " " if cmd else "")
            offered = set(w for w in complete(line)) - {"--help", "--version"}
            named = options(text)
            check("%s: every option offered is one --help names" % line, offered <= named, sorted(offered - named))
            want = synopsis(prog, cmd, text) - {"--help", "--version"}
            if prog == "tms-audit" and cmd == "witness":
                want -= {"--from", "--to", "--witness"}   # named in the help, options of prove and keygen
            check("%s: every option of the usage is offered" % line, want <= offered, sorted(want - offered))


def prefixes(d):
    os.mkdir(os.path.join(d, "datadir"))
    open(os.path.join(d, "datafile"), "w").close()
    cases = [
        ("tmsctl ", COMMANDS["tmsctl"] + []),
        ("tmsctl --co", ["--connect"]),
        ("tmsctl --data /tmp ch", ["check", "checkpoint"]),
        ("tmsctl --data=/tmp check --", ["--at", "--explain", "--help", "--min-seq", "--seq", "--wait"]),
        ("tmsctl --connect /run/x.sock check acme ", ["admin", "extension", "manager"]),
        ("tmsctl check acme extension 1001 recordings.l", ["recordings.listen"]),
        ("tmsctl submit --f", ["--fail-on-reject"]),
        ("tmsctl watch --", ["--from", "--help", "--tenant", "--until"]),
        ("tms-audit v", ["verify", "verify-proof"]),
        ("tms-audit report --format ", ["html", "json", "text"]),
        ("tms-audit report --format=h", ["html"]),
        ("tms-audit who-can --permission calls.intern", ["calls.international"]),
        ("tms-audit verify --data data", ["datadir"]),
        ("tms-history ", ["account", "custom"]),
        ("tms-history custom --format c", ["csv"]),
        ("tms-history account --data /tmp acme ", ["campaign", "extension", "manager", "queue"]),
        ("tms-restore b", ["backup"]),
        ("tms-restore --sa", ["--salvage"]),
        ("tms-restore backup --", ["--data", "--help", "--to"]),
        ("tmsd --rep", ["--replica-of"]),
        ("tmsd --data ", ["datadir"]),
    ]
    for line, want in cases:
        got = complete(line, cwd=d)
        check("completing '%s'" % line, got == sorted(want), (got, sorted(want)))


def main():
    if not shutil.which("bash"):
        print("FAIL bash is not installed")
        sys.exit(1)
    r = subprocess.run(["bash", "-n", SCRIPT], capture_output=True, text=True)
    check("bash -n %s" % SCRIPT, r.returncode == 0 and not r.stderr, r.stderr)
    r = subprocess.run(["bash", "-c", 'source "$1" && complete -p tmsctl tms-audit tms-history tms-restore tmsd',
                        "bash", SCRIPT], capture_output=True, text=True)
    check("sourcing it registers all five programs", r.returncode == 0 and r.stdout.count("complete -F") == 5,
          r.stdout + r.stderr)
    d = tempfile.mkdtemp(prefix="tms-completion-")
    try:
        prefixes(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    drift()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(0 if failed == 0 and passed > 0 else 1)


if __name__ == "__main__":
    main()
