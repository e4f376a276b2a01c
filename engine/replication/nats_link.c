/* nats_link.c -- see nats_link.h. */
#include "nats_link.h"
#include <stdio.h>
#include <string.h>

int tms__stream_names(const char *name, char stream[TMS__STREAM_MAX + 1], char subject[TMS__STREAM_MAX + 8],
                      char *why, size_t whylen)
{
    name = name ? name : TMS__STREAM_DEFAULT;
    size_t n = strlen(name);
    if (!n || n > TMS__STREAM_MAX ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n) {
        snprintf(why, whylen, "stream name %.60s: 1 to %d letters, digits, '_' or '-'", name, TMS__STREAM_MAX);
        return -1;
    }
    memcpy(stream, name, n + 1);
    snprintf(subject, TMS__STREAM_MAX + 8, "%s.log", name);
    return 0;
}

typedef struct link_cb {
    void (*fn)(void *closure, int up);
    void *closure;
} link_cb;

/* nats.c keeps the closure pointer: one per process is enough (one
 * publisher or one follower), and it must outlive the connection. */
static link_cb the_link;

static void on_disconnected(natsConnection *nc, void *closure)
{
    link_cb *l = closure;
    (void)nc;
    l->fn(l->closure, 0);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    link_cb *l = closure;
    (void)nc;
    l->fn(l->closure, 1);
}

natsStatus tms__nats_connect(const char *url, jsOptions *jo, void (*link)(void *closure, int up), void *closure,
                             natsConnection **nc, jsCtx **js)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    *nc = NULL;
    *js = NULL;
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, url);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);   /* forever: the log keeps what NATS misses */
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, 2000);
    if (s == NATS_OK && link) {
        the_link = (link_cb){link, closure};
        s = natsOptions_SetDisconnectedCB(o, on_disconnected, &the_link);
        if (s == NATS_OK)
            s = natsOptions_SetReconnectedCB(o, on_reconnected, &the_link);
    }
    if (s == NATS_OK)
        s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    if (s == NATS_OK)
        s = natsConnection_JetStream(js, *nc, jo);
    if (s != NATS_OK) {
        natsConnection_Destroy(*nc);
        *nc = NULL;
        *js = NULL;
    }
    return s;
}
