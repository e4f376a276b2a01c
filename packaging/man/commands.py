#!/usr/bin/env python3
"""commands.py -- a help2man include file (h2m) whose section COMMANDS holds
each command's own --help, verbatim, so that a program's man page covers
every command's options, not only what its top-level --help lists.

usage: commands.py PROGRAM OUTPUT COMMAND...   (CMake runs it before help2man)"""
import os, subprocess, sys


def roff(text):
    """Text for a no-fill block: backslashes and hyphens escaped, no line read as a request."""
    out = []
    for line in text.rstrip("\n").split("\n"):
        line = line.replace("\\", "\\e").replace("-", "\\-")
        out.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(out)


def main():
    prog, output, commands = sys.argv[1], sys.argv[2], sys.argv[3:]
    name = os.path.basename(prog)
    parts = ["[COMMANDS]", "Each command's options, as \\fB%s\\fR \\fICOMMAND\\fR \\fB\\-\\-help\\fR prints them." % name]
    for cmd in commands:
        r = subprocess.run([prog, cmd, "--help"], capture_output=True, text=True, timeout=30)
        if r.returncode != 0 or not r.stdout.strip():
            sys.exit("commands.py: %s %s --help: exit %d %s" % (name, cmd, r.returncode, r.stderr.strip()))
        parts += ['.SS "%s %s"' % (name, cmd), ".nf", roff(r.stdout), ".fi"]
    with open(output + ".tmp", "w") as f:
        f.write("\n".join(parts) + "\n")
    os.replace(output + ".tmp", output)


if __name__ == "__main__":
    main()
