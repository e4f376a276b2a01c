/* nats_options.h -- how a publisher (publish.h) or a follower (follow.h)
 * proves who it is to NATS, and over what: credentials and TLS, as
 * nats-server's authorization and tls blocks ask for them (docs/replication.md
 * says which permissions each side needs).
 *
 * Secrets are named by files, never given as values (argv is world-readable
 * in /proc): a password or token file holds it on its first line. Every
 * file is read (or, for a .creds file, checked readable) when the publisher
 * or follower starts, so a missing or unreadable one is a start error, not
 * a retry loop. At most one of creds, nkey_seed, user, token_file. */
#ifndef TMS_NATS_OPTIONS_H
#define TMS_NATS_OPTIONS_H

/* Where a publisher's or a follower's thread says what it does (its log
 * lines): level "info", "warn" or "error", a free-text msg, and kv, NULL or
 * a NULL-terminated list of key, value pairs (values as they are: quoting is
 * the logger's). Set by the owner, so that these lines go through its
 * logger (tmsd's: timestamp, level, quoting); NULL: a plain line on stderr.
 * Called from the replication thread, one line per call. */
typedef void (*tms_repl_log_fn)(const char *level, const char *msg, const char *const *kv);

typedef struct tms_nats_options {
    const char *creds;          /* a .creds file (user JWT and NKey seed); nats.c reads it at each connect */
    const char *nkey_seed;      /* a file holding a user NKey seed (SU...): its public key is derived */
    const char *user;           /* a user name, with password_file */
    const char *password_file;
    const char *token_file;     /* a file holding the server's authorization token */
    const char *ca;             /* TLS: the CA certificates (PEM) that sign the server's certificate */
    const char *cert, *key;     /* TLS: a client certificate chain and its key (mutual TLS) */
    tms_repl_log_fn log;        /* the thread's log lines (above); NULL: stderr */
} tms_nats_options;

#endif
