#!/usr/bin/env python3
"""alternate.py -- wall-clock time of shell commands run in turn, round after
round (the order reversed every other round), for a ratio measured in one
run on a noisy machine (benchmarks/RESULTS.md). Each command's output is
discarded; a command that fails stops the run (exit 1).

usage: alternate.py ROUNDS NAME1 'COMMAND1' NAME2 'COMMAND2' [...]
prints min / median / max per name, and the first name's time over each
other's per round (min / median / max)."""
import statistics
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 6 or len(sys.argv) % 2:
        sys.exit(__doc__.split("\n\n")[1])
    rounds = int(sys.argv[1])
    pairs = list(zip(sys.argv[2::2], sys.argv[3::2]))
    times = {name: [] for name, _ in pairs}
    for r in range(rounds):
        for name, cmd in (pairs if r % 2 == 0 else pairs[::-1]):
            t0 = time.monotonic()
            p = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name].append(time.monotonic() - t0)
            if p.returncode:
                print("%s failed (exit %d): %s" % (name, p.returncode, cmd))
                sys.exit(1)
    for name, _ in pairs:
        v = times[name]
        print("%s: min %.3f median %.3f max %.3f s" % (name, min(v), statistics.median(v), max(v)))
    first = pairs[0][0]
    for name, _ in pairs[1:]:
        ratio = [a / b for a, b in zip(times[first], times[name])]
        print("%s / %s per round: min %.3f median %.3f max %.3f" % (first, name, min(ratio), statistics.median(ratio),
                                                                    max(ratio)))


if __name__ == "__main__":
    main()
