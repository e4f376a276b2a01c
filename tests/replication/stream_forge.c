/* stream_forge.c -- test helper: what an attacker with publish access to
 * NATS does, and how a test reads what the leader put in the stream.
 *
 *   stream_forge pub URL SUBJECT HEX [CHECKPOINT]
 *       publish the bytes HEX to SUBJECT through JetStream (no expected
 *       sequence: the stream takes it as its next message), with the header
 *       Tms-Checkpoint: CHECKPOINT when given; prints the stream's sequence.
 *   stream_forge pubid URL SUBJECT HEX MSGID
 *       the same with the message id MSGID (Nats-Msg-Id): what a leader
 *       that named its messages by seq alone put in the stream.
 *   stream_forge flood URL SUBJECT HEX N
 *       publish N copies of HEX (no header) as fast as JetStream takes them.
 *   stream_forge header URL STREAM SEQ
 *       print the Tms-Checkpoint header of message SEQ ("-" when it has none).
 *
 * URL may carry credentials (nats://USER:PASSWORD@HOST:PORT). Exit 0, or 2
 * with a message (NATS refused, no such message). */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unhex(const char *hex, char **out, int *len)
{
    size_t n = strlen(hex);
    if (n % 2 || !(*out = malloc(n / 2 + 1)))
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        (*out)[i] = (char)v;
    }
    *len = (int)(n / 2);
    return 0;
}

static natsStatus pub(jsCtx *js, int argc, char **argv)
{
    char *data = NULL;
    int len = 0;
    natsMsg *m = NULL;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    if (unhex(argv[4], &data, &len)) {
        fprintf(stderr, "stream_forge: HEX is not hex\n");
        free(data);
        return NATS_INVALID_ARG;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    natsStatus s = natsMsg_Create(&m, argv[3], NULL, data, len);
    if (s == NATS_OK && argc > 5 && !strcmp(argv[1], "pubid"))
        po.MsgId = argv[5];
    else if (s == NATS_OK && argc > 5)
        s = natsMsgHeader_Set(m, "Tms-Checkpoint", argv[5]);
    if (s == NATS_OK)
        s = js_PublishMsg(&pa, js, m, &po, &jerr);
    if (s == NATS_OK)
        printf("%llu\n", (unsigned long long)pa->Sequence);
    else
        fprintf(stderr, "stream_forge: publish: %s (%s, JetStream error %d)\n", natsStatus_GetText(s),
                nats_GetLastError(NULL), (int)jerr);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
    free(data);
    return s;
}

static natsStatus flood(jsCtx *js, char **argv)
{
    char *data = NULL;
    int len = 0;
    long n = strtol(argv[5], NULL, 10);
    natsStatus s = unhex(argv[4], &data, &len) ? NATS_INVALID_ARG : NATS_OK;
    for (long i = 0; s == NATS_OK && i < n; i++)
        s = js_PublishAsync(js, argv[3], data, len, NULL);
    if (s == NATS_OK)
        s = js_PublishAsyncComplete(js, NULL);
    if (s != NATS_OK)
        fprintf(stderr, "stream_forge: flood: %s (%s)\n", natsStatus_GetText(s), nats_GetLastError(NULL));
    free(data);
    return s;
}

static natsStatus header(jsCtx *js, char **argv)
{
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    const char *v = NULL;
    natsStatus s = js_GetMsg(&m, js, argv[3], strtoull(argv[4], NULL, 10), NULL, &jerr);
    if (s != NATS_OK)
        fprintf(stderr, "stream_forge: message %s: %s (JetStream error %d)\n", argv[4], natsStatus_GetText(s),
                (int)jerr);
    else
        printf("%s\n", natsMsgHeader_Get(m, "Tms-Checkpoint", &v) == NATS_OK ? v : "-");
    natsMsg_Destroy(m);
    return s;
}

int main(int argc, char **argv)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    const char *cmd = argc > 1 ? argv[1] : "";
    int is_pub = !strcmp(cmd, "pub") || !strcmp(cmd, "pubid"), is_flood = !strcmp(cmd, "flood"), is_header = !strcmp(cmd, "header");
    if ((!is_pub || argc < 5 || argc > 6 || (!strcmp(cmd, "pubid") && argc != 6)) && (!is_flood || argc != 6) && (!is_header || argc != 5)) {
        fprintf(stderr, "usage: stream_forge pub URL SUBJECT HEX [CHECKPOINT] | pubid URL SUBJECT HEX MSGID | flood URL SUBJECT HEX N | "
                "header URL STREAM SEQ\n");
        return 2;
    }
    natsStatus s = natsConnection_ConnectTo(&nc, argv[2]);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&js, nc, NULL);
    if (s != NATS_OK)
        fprintf(stderr, "stream_forge: %s: %s\n", argv[2], natsStatus_GetText(s));
    else
        s = is_pub ? pub(js, argc, argv) : is_flood ? flood(js, argv) : header(js, argv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    nats_Close();
    return s == NATS_OK ? 0 : 2;
}
