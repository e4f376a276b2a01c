#!/usr/bin/env python3
"""test_interleave.py -- a deposed leader's held-back, pipelined publishes
racing the new leader's (issue 20; found by an independent review of the
failover code): under load, the leader's link to NATS freezes (a proxy
holds its bytes), another node takes the lease and commits a little, then
the link thaws and the old leader's messages reach the stream in the middle
of the new leader's pipeline. With a fence by sequence alone, JetStream
refused one of the new leader's messages and stored the next on top of the
old leader's record (a mixed chain): the new leader acknowledged records the
stream had replaced and every follower stopped. Now every message but the
first after a check names its predecessor's id (Nats-Expected-Last-Msg-Id).
Each round checks, at the end: every node converges (the same last seq and
head), no node's replication stopped, every acknowledged command is at its
seq on every node, and a leader exists.
usage: test_interleave.py BIN_DIR [ROUNDS]"""
import os, random, shutil, sys, tempfile, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_failover as T  # noqa: E402  (BIN and the helpers; it reads argv[1])
from natscluster import NatsCluster  # noqa: E402
from tcpproxy import Proxy  # noqa: E402

ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 6


def main():
    random.seed(int(os.environ.get("SEED", "1")))
    d = tempfile.mkdtemp(prefix="tms-interleave-")
    cluster = NatsCluster(os.path.join(d, "nats"), bin_dir=T.BIN)
    nodes, proxies, load = [], [], None
    try:
        cluster.start()
        proxies = [Proxy("127.0.0.1", int(cluster.url(i).rsplit(":", 1)[1])) for i in range(3)]
        urls = {n: proxies[k].url for k, n in enumerate(("a", "b", "c"))}
        nodes = T.setup(d, cluster, urls=urls)
        for k, n in enumerate(nodes):
            n.proxy = proxies[k]
        T.bootstrap(nodes)
        load = T.Load(nodes, threads=int(os.environ.get("THREADS", "16")))
        load.start()
        for rnd in range(ROUNDS):
            ldr = T.leader_of(nodes)
            T.check("round %d: a leader" % rnd, ldr is not None, [n.tail(400) for n in nodes])
            if not ldr:
                break
            time.sleep(1.0)
            ldr.proxy.freeze()
            others = [n for n in nodes if n is not ldr]
            new = T.leader_of(others, 20)
            T.check("round %d: the lease passes on" % rnd, new is not None, [n.tail(400) for n in others])
            if not new:
                ldr.proxy.thaw()
                break
            base = new.status().get("last_seq")
            want = base + random.choice([1, 1, 10, 30])
            T.wait_for(lambda: new.status(timeout=1).get("last_seq") >= want, 5, 0.002)
            ldr.proxy.thaw()
            time.sleep(3)
        load.halt()
        ok = T.wait_for(lambda: T.converged(nodes), 60)
        T.check("every node converges", ok, [(n.name, n.status().get("last_seq")) for n in nodes])
        st = [n.status() for n in nodes]
        T.check("no node's replication stopped", not any(s.get("replica", {}).get("stopped") for s in st),
                [s.get("replica") for s in st])
        T.check("a leader at the end", T.leader_of(nodes, 20) is not None, [n.tail(400) for n in nodes])
        for n in nodes:
            recs, out = T.export(n)
            missing = [(rid, seq) for rid, (seq, i) in load.acked.items()
                       if recs.get(seq, {}).get("cmd", {}).get("request_id") != rid]
            T.check("node %s holds every acknowledged command (%d) at its seq" % (n.name, len(load.acked)),
                    not missing and out.returncode == 0, missing[:5])
    finally:
        if load:
            load.stop = True
        for n in nodes:
            n.kill()
        for p in proxies:
            p.close()
        cluster.close()
        if T.failed == 0:
            shutil.rmtree(d, ignore_errors=True)
        else:
            print("kept", d)
    print("%d passed, %d failed" % (T.passed, T.failed))
    sys.exit(0 if T.failed == 0 and T.passed > 0 else 1)


if __name__ == "__main__":
    main()
