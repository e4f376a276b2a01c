/* nats_link.h -- what publish.c and follow.c share (private to the
 * replication room): the stream's name and subject, and one way to connect
 * to NATS (reconnecting forever: the local log keeps what NATS misses). */
#ifndef TMS_NATS_LINK_H
#define TMS_NATS_LINK_H

#include <nats/nats.h>
#include <stddef.h>

#define TMS__STREAM_DEFAULT "tms"
#define TMS__STREAM_MAX 48

/* Fill stream and subject (NAME.log) from name (NULL = the default): 0, or
 * -1 with why when the name is not 1 to 48 letters, digits, '_' or '-'. */
int tms__stream_names(const char *name, char stream[TMS__STREAM_MAX + 1], char subject[TMS__STREAM_MAX + 8],
                      char *why, size_t whylen);

/* Connect to url and take a JetStream context with jo (may be NULL);
 * link(closure, 0 or 1) hears every disconnection and reconnection (may be
 * NULL). NATS_OK with *nc and *js, else both NULL. */
natsStatus tms__nats_connect(const char *url, jsOptions *jo, void (*link)(void *closure, int up), void *closure,
                             natsConnection **nc, jsCtx **js);

#endif
