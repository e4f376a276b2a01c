"""benchutil.py -- what the Python benchmarks share: percentiles, waiting for a
tmsd's socket, a free loopback port."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "daemon"))
import mp  # noqa: E402


def pct(v, p):
    """The p-th percentile of v (nearest rank)."""
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def wait_sock(sock, p, tries=12000):
    """Until tmsd (process p) accepts on its Unix socket sock; SystemExit when it exits or never does."""
    for _ in range(tries):
        if p.poll() is not None:
            raise SystemExit("tmsd exited %d" % p.returncode)
        try:
            mp.Conn(sock, timeout=2).close()
            return
        except OSError:
            time.sleep(0.01)
    raise SystemExit("tmsd did not come up")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
