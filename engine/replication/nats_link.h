/* nats_link.h -- what publish.c and follow.c share (private to the
 * replication room): the stream's name and subject, and one way to connect
 * to NATS (reconnecting forever: the local log keeps what NATS misses),
 * with the deployment's credentials and TLS (nats_options.h). */
#ifndef TMS_NATS_LINK_H
#define TMS_NATS_LINK_H

#include <nats/nats.h>
#include <stddef.h>
#include "nats_options.h"

#define TMS__STREAM_DEFAULT "tms"
#define TMS__STREAM_MAX 48
/* The header a leader with a signing key puts on the last message of each
 * batch: base64 (RFC 4648, padded) of a signed checkpoint (C2SP signed note
 * of a tlog-checkpoint) of the log up to that message's seq. */
#define TMS__CHECKPOINT_HEADER "Tms-Checkpoint"

/* Fill stream and subject (NAME.log) from name (NULL = the default): 0, or
 * -1 with why when the name is not 1 to 48 letters, digits, '_' or '-'. */
int tms__stream_names(const char *name, char stream[TMS__STREAM_MAX + 1], char subject[TMS__STREAM_MAX + 8],
                      char *why, size_t whylen);

/* The options every connection to url uses: reconnecting forever, a 2 s
 * connect timeout, no's credentials and TLS (no may be NULL; TLS when it
 * names a CA or a certificate, or url is tls://). Built once, at start: the
 * secret files are read now. 0 with *out (the caller destroys it), or -1
 * with why: a file that cannot be read, a seed that is not a user NKey
 * seed, a certificate or key nats.c refuses. */
int tms__nats_options(const char *url, const tms_nats_options *no, natsOptions **out, char *why, size_t whylen);

/* What hears one connection's disconnections and reconnections:
 * fn(closure, 0 or 1). Owned by the connection's owner (the publisher, the
 * follower, the lease: one each), and it must outlive the connection:
 * nats.c keeps a pointer to it and calls through it on its own threads. */
typedef struct tms__nats_link {
    void (*fn)(void *closure, int up);
    void *closure;
} tms__nats_link;

/* Connect with o and take a JetStream context with jo (may be NULL); link
 * (may be NULL) hears this connection's disconnections and reconnections.
 * NATS_OK with *nc and *js, else both NULL. */
natsStatus tms__nats_connect(natsOptions *o, jsOptions *jo, tms__nats_link *link, natsConnection **nc, jsCtx **js);

/* One log line through fn (nats_options.h), or, when fn is NULL, on stderr
 * as level=L msg="..." key=value, every value quoted and escaped. */
void tms__repl_log(tms_repl_log_fn fn, const char *level, const char *msg, const char *const *kv);

#endif
