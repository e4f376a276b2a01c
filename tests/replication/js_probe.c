/* js_probe.c -- test helper: JetStream administration and a watching client
 * for the clustered-NATS fixture (tests/replication/natscluster.py) and the
 * failover tests. Every call is bounded: connect timeout 1 s, no reconnect
 * (but watch), JetStream requests wait at most WAIT_MS (default 2000).
 *
 *   js_probe ready URL
 *       JetStream answers through URL (account info: needs a meta leader).
 *   js_probe stream-add URL STREAM SUBJECT REPLICAS
 *       create (or find identical) a file stream on SUBJECT with REPLICAS.
 *   js_probe stream-del URL STREAM
 *   js_probe info URL STREAM
 *       one line: "leader NAME msgs N first F last L replicas NAME:current,NAME:offline,..."
 *       (NAME "-" while the stream has no leader; the leader is not in replicas).
 *   js_probe pub URL SUBJECT TEXT [WAIT_MS]
 *       publish TEXT through JetStream; prints the stream's sequence.
 *   js_probe kv-get URL BUCKET KEY
 *       prints "REVISION VALUE"; exit 1 when the key is absent (or deleted).
 *   js_probe watch URL SECONDS
 *       a nats.c client as tmsd holds one (reconnect forever, every 200 ms,
 *       ping every 500 ms, 2 pings out = stale): prints one line per event,
 *       "SECONDS EVENT" (connected, disconnected, reconnected, flush-ok,
 *       flush-fail; flushes every 200 ms, printed when the result changes),
 *       for SECONDS, then "SECONDS end".
 *
 * URL may be a comma-separated list. Exit 0, 1 (absent), or 2 with a message. */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double t0;

static double now(void)
{
    return nats_NowInNanoSeconds() / 1e9;
}

static void event(const char *what)
{
    printf("%.3f %s\n", now() - t0, what);
    fflush(stdout);
}

static void on_disconnected(natsConnection *nc, void *c)
{
    (void)nc, (void)c;
    event("disconnected");
}

static void on_reconnected(natsConnection *nc, void *c)
{
    (void)nc, (void)c;
    event("reconnected");
}

static natsStatus probe_connect(natsConnection **nc, const char *url, int watching)
{
    natsOptions *o = NULL;
    const char *servers[16];
    char buf[2048];
    int n = 0;
    /* natsOptions_SetURL takes one URL: a list goes through natsOptions_SetServers */
    snprintf(buf, sizeof buf, "%s", url);
    for (char *save = NULL, *u = strtok_r(buf, ", ", &save); u && n < 16; u = strtok_r(NULL, ", ", &save))
        servers[n++] = u;
    natsStatus s = n ? natsOptions_Create(&o) : NATS_INVALID_ARG;
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, servers, n);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, 1000);
    if (s == NATS_OK && !watching)
        s = natsOptions_SetAllowReconnect(o, false);
    if (s == NATS_OK && watching) {
        s = natsOptions_SetMaxReconnect(o, -1);
        if (s == NATS_OK)
            s = natsOptions_SetReconnectWait(o, 200);
        if (s == NATS_OK)
            s = natsOptions_SetPingInterval(o, 500);
        if (s == NATS_OK)
            s = natsOptions_SetMaxPingsOut(o, 2);
        if (s == NATS_OK)
            s = natsOptions_SetDisconnectedCB(o, on_disconnected, NULL);
        if (s == NATS_OK)
            s = natsOptions_SetReconnectedCB(o, on_reconnected, NULL);
    }
    if (s == NATS_OK)
        s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    return s;
}

static int fail(const char *what, natsStatus s, jsErrCode jerr)
{
    fprintf(stderr, "js_probe: %s: %s (%s, JetStream error %d)\n", what, natsStatus_GetText(s),
            nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "", (int)jerr);
    return 2;
}

static int watch(const char *url, double seconds)
{
    natsConnection *nc = NULL;
    natsStatus s = probe_connect(&nc, url, 1);
    if (s != NATS_OK)
        return fail("connect", s, 0);
    event("connected");
    int last = -1;
    while (now() - t0 < seconds) {
        int ok = natsConnection_FlushTimeout(nc, 1000) == NATS_OK;
        if (ok != last)
            event(ok ? "flush-ok" : "flush-fail");
        last = ok;
        nats_Sleep(200);
    }
    event("end");
    natsConnection_Destroy(nc);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: js_probe ready URL | stream-add URL STREAM SUBJECT REPLICAS | stream-del URL STREAM | "
                    "info URL STREAM | pub URL SUBJECT TEXT [WAIT_MS] | kv-get URL BUCKET KEY | watch URL SECONDS\n");
    return 2;
}

static int run(jsCtx *js, int argc, char **argv)
{
    const char *cmd = argv[1];
    jsErrCode jerr = 0;
    natsStatus s;
    if (!strcmp(cmd, "ready") && argc == 3) {
        jsAccountInfo *ai = NULL;
        s = js_GetAccountInfo(&ai, js, NULL, &jerr);
        jsAccountInfo_Destroy(ai);
        return s == NATS_OK ? 0 : fail("account info", s, jerr);
    }
    if (!strcmp(cmd, "stream-add") && argc == 6) {
        jsStreamConfig cfg;
        jsStreamInfo *si = NULL;
        const char *subj[1] = {argv[4]};
        jsStreamConfig_Init(&cfg);
        cfg.Name = argv[3];
        cfg.Subjects = subj;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        cfg.Replicas = strtol(argv[5], NULL, 10);
        s = js_AddStream(&si, js, &cfg, NULL, &jerr);
        jsStreamInfo_Destroy(si);
        return s == NATS_OK ? 0 : fail("add stream", s, jerr);
    }
    if (!strcmp(cmd, "stream-del") && argc == 4) {
        s = js_DeleteStream(js, argv[3], NULL, &jerr);
        return s == NATS_OK ? 0 : s == NATS_NOT_FOUND ? 1 : fail("delete stream", s, jerr);
    }
    if (!strcmp(cmd, "info") && argc == 4) {
        jsStreamInfo *si = NULL;
        s = js_GetStreamInfo(&si, js, argv[3], NULL, &jerr);
        if (s == NATS_NOT_FOUND)
            return 1;
        if (s != NATS_OK)
            return fail("stream info", s, jerr);
        jsClusterInfo *ci = si->Cluster;
        printf("leader %s msgs %llu first %llu last %llu replicas", ci && ci->Leader && *ci->Leader ? ci->Leader : "-",
               (unsigned long long)si->State.Msgs, (unsigned long long)si->State.FirstSeq,
               (unsigned long long)si->State.LastSeq);
        for (int i = 0; ci && i < ci->ReplicasLen; i++)
            printf("%s%s:%s", i ? "," : " ", ci->Replicas[i]->Name,
                   ci->Replicas[i]->Offline ? "offline" : ci->Replicas[i]->Current ? "current" : "behind");
        printf("\n");
        jsStreamInfo_Destroy(si);
        return 0;
    }
    if (!strcmp(cmd, "pub") && (argc == 5 || argc == 6)) {
        jsPubOptions po;
        jsPubAck *pa = NULL;
        jsPubOptions_Init(&po);
        po.MaxWait = argc == 6 ? strtol(argv[5], NULL, 10) : 2000;
        s = js_Publish(&pa, js, argv[3], argv[4], (int)strlen(argv[4]), &po, &jerr);
        if (s == NATS_OK)
            printf("%llu\n", (unsigned long long)pa->Sequence);
        jsPubAck_Destroy(pa);
        return s == NATS_OK ? 0 : fail("publish", s, jerr);
    }
    if (!strcmp(cmd, "kv-get") && argc == 5) {
        kvStore *kv = NULL;
        kvEntry *e = NULL;
        s = js_KeyValue(&kv, js, argv[3]);
        if (s == NATS_OK)
            s = kvStore_Get(&e, kv, argv[4]);
        if (s == NATS_OK)
            printf("%llu %.*s\n", (unsigned long long)kvEntry_Revision(e), kvEntry_ValueLen(e),
                   (const char *)kvEntry_Value(e));
        kvEntry_Destroy(e);
        kvStore_Destroy(kv);
        return s == NATS_OK ? 0 : s == NATS_NOT_FOUND ? 1 : fail("kv get", s, 0);
    }
    return usage();
}

int main(int argc, char **argv)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsOptions jo;
    int rc;
    t0 = now();
    if (argc < 3)
        return usage();
    if (!strcmp(argv[1], "watch"))
        rc = argc == 4 ? watch(argv[2], strtod(argv[3], NULL)) : usage();
    else {
        natsStatus s = probe_connect(&nc, argv[2], 0);
        jsOptions_Init(&jo);
        jo.Wait = 2000;
        if (s == NATS_OK)
            s = natsConnection_JetStream(&js, nc, &jo);
        rc = s == NATS_OK ? run(js, argc, argv) : fail(argv[2], s, 0);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    nats_Close();
    return rc;
}
