#!/usr/bin/env python3
"""test_seed_cluster.py -- a directory seeded from a cluster node's snapshot
(tms-restore seed; issue 18, item 5), started as a --cluster node, follows
the stream past its base: its log is compared with the stream at the base
by the chain head the base holds (follow.c alike_base). Found by an
independent review: it compared a frame the seeded log does not hold,
"could not tell", and retried for ever without a word.
usage: test_seed_cluster.py BIN_DIR"""
import os, shutil, subprocess, sys, tempfile, time, json
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.argv = sys.argv[:2]
import test_failover as tf   # noqa: E402
from natscluster import NatsCluster  # noqa: E402


def main():
    d = tempfile.mkdtemp(prefix="tms-seed-cluster-")
    cluster = NatsCluster(os.path.join(d, "nats"), bin_dir=tf.BIN)
    nodes = []
    try:
        cluster.start()
        key = os.path.join(d, "log.key")
        vk = subprocess.run([os.path.join(tf.BIN, "tms-audit"), "keygen", "--name", "log.test", "--out", key],
                            check=True, capture_output=True, text=True).stdout.strip()
        nodes = tf.setup(d, cluster, names=("a", "b"))
        ldr = tf.bootstrap(nodes)
        for b in range(0, 40, 10):
            r = ldr.submit([tf.ext(i, "r%d" % i) for i in range(b, b + 10)])
        other = [n for n in nodes if n is not ldr][0]
        tf.wait_for(lambda: other.status()["last_seq"] == ldr.status()["last_seq"], 30)
        tf.check("follower %s stops cleanly" % other.name, other.stop() == 0, other.tail())
        r = subprocess.run([os.path.join(tf.BIN, "tmsctl"), "--data", other.data, "checkpoint", "--signing-key", key],
                           capture_output=True, text=True)
        tf.check("embedded checkpoint (and snapshot notes) on the stopped follower", r.returncode == 0, r.stderr)
        c = tf.Node(d, "c", cluster.urls, key)
        r = subprocess.run([os.path.join(tf.BIN, "tms-restore"), "seed", "--from", other.data, "--key", vk,
                            "--to", c.data], capture_output=True, text=True)
        tf.check("seed node c from %s's directory" % other.name, r.returncode == 0, r.stderr)
        base = json.loads(r.stdout)["seeded_from"]
        other.start()
        c.start()
        nodes.append(c)
        ldr = tf.leader_of(nodes[:2]) or ldr
        ldr.submit([tf.ext(i, "r%d" % i) for i in range(100, 110)])
        want = ldr.status()["last_seq"]
        ok = tf.wait_for(lambda: c.status()["last_seq"] == want, 20)
        st = c.status()
        tf.check("the seeded cluster node follows the stream past its base %d (leader at %d)" % (base, want), ok,
                 json.dumps(st)[:800])
    finally:
        for n in nodes:
            n.kill()
        cluster.close()
        shutil.rmtree(d, ignore_errors=True)
    print("%d passed, %d failed" % (tf.passed, tf.failed))
    sys.exit(0 if tf.failed == 0 else 1)


if __name__ == "__main__":
    main()
