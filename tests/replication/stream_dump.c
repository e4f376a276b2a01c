/* stream_dump.c -- test helper: print every message of a JetStream stream,
 * one line "SEQ HEX(DATA)", from FIRST to the stream's last sequence, so a
 * test compares the stream with the log byte for byte. Exit 0, or 2 with a
 * message when NATS or the stream cannot be read.
 *
 * usage: stream_dump nats://HOST:PORT STREAM [FIRST] */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    int rc = 2;
    if (argc < 3) {
        fprintf(stderr, "usage: stream_dump nats://HOST:PORT STREAM [FIRST]\n");
        return 2;
    }
    unsigned long long first = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
    natsStatus s = natsConnection_ConnectTo(&nc, argv[1]);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&js, nc, NULL);
    if (s == NATS_OK)
        s = js_GetStreamInfo(&si, js, argv[2], NULL, &jerr);
    if (s != NATS_OK) {
        fprintf(stderr, "stream_dump: %s (JetStream error %d)\n", natsStatus_GetText(s), (int)jerr);
        goto out;
    }
    printf("# first %llu last %llu messages %llu\n", (unsigned long long)si->State.FirstSeq,
           (unsigned long long)si->State.LastSeq, (unsigned long long)si->State.Msgs);
    for (unsigned long long seq = first; seq <= si->State.LastSeq; seq++) {
        natsMsg *m = NULL;
        if ((s = js_GetMsg(&m, js, argv[2], seq, NULL, &jerr)) != NATS_OK) {
            printf("%llu -\n", seq);   /* not in the stream */
            continue;
        }
        const unsigned char *d = (const unsigned char *)natsMsg_GetData(m);
        printf("%llu ", seq);
        for (int i = 0; i < natsMsg_GetDataLength(m); i++)
            printf("%02x", d[i]);
        printf("\n");
        natsMsg_Destroy(m);
    }
    rc = 0;
out:
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    nats_Close();
    return rc;
}
