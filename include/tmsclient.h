/* tmsclient.h -- a blocking client for tmsd, for PBX nodes and tools: connect
 * over a Unix socket or TCP, check (one or a batch), submit, show, visible.
 * The protocol is described in schemas/tmsperm.json ("wire") and
 * docs/protocol.md.
 *
 * A tms_client is one connection; use it from one thread at a time. Every
 * function returns a tms_err unless it says otherwise; on a transport error
 * (TMS_E_IO, TMS_E_PROTOCOL) the connection is unusable: close it. */
#ifndef TMSCLIENT_H
#define TMSCLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "tmsperm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tms_client tms_client;

/* Connect to addr: a path (contains '/') for a Unix socket, else HOST:PORT.
 * token may be NULL; over TCP it grants the submit right (and lookups when
 * the server requires it). On failure why gets a one-line reason and *out is
 * NULL. The caller closes *out with tms_client_close. */
tms_err tms_client_connect(const char *addr, const char *token, tms_client **out, char *why, size_t whylen);

/* Close the connection and free the client. NULL is a no-op. */
void tms_client_close(tms_client *c);

/* 1 allow, 0 deny, or a negative tms_err. Fails closed like tms_reader_check. */
int tms_client_check(tms_client *c, const char *tenant, const char *kind, const char *id, const char *name);

/* n checks in one round trip: q[i] = {tenant, kind, id, name}; allow[i] gets
 * 1 or 0. Strings are copied into the request; nothing is retained. */
tms_err tms_client_check_batch(tms_client *c, const char *const (*q)[4], size_t n, uint8_t *allow);

/* The outcome of one submitted command. */
typedef struct tms_client_result {
    int has_seq;              /* 0 for INVALID_COMMAND (not logged) */
    uint64_t seq;
    tms_err verdict;          /* TMS_OK = accepted */
    char message[320];
} tms_client_result;

/* Submit n commands as JSON texts (lines[i] of lens[i] bytes) in one frame;
 * results[i] is filled for each. Returns when the group commit holding them
 * is durable, or an engine error (the outcome is then unknown: retry with
 * request_id) with the server's message in results[0].message. */
tms_err tms_client_submit_json(tms_client *c, const char *const *lines, const size_t *lens, size_t n,
                               tms_client_result *results);

/* What tmsd says about itself (the status op): *json gets a malloc'd JSON
 * object text the caller frees -- version, role, last_seq, head, read_only,
 * connections, disk (log, map, free bytes), counters, publish / replica --,
 * exactly what tmsctl status prints. */
tms_err tms_client_status(tms_client *c, char **json);
/* Ask tmsd (which needs --signing-key; the admin right) to sign a checkpoint
 * now when records were added since its last, and return the latest signed
 * checkpoint, a C2SP signed note (*note malloc'd, the caller frees). */
tms_err tms_client_checkpoint(tms_client *c, char **note);

/* show / visible: *json gets a malloc'd NUL-terminated JSON text the caller
 * frees, exactly what tmsctl prints. show returns TMS_NOT_FOUND (and *json
 * NULL) when the account or object does not exist. */
tms_err tms_client_show(tms_client *c, const char *tenant, const char *kind, const char *id, char **json);
tms_err tms_client_visible(tms_client *c, const char *tenant, const char *manager, char **json);

/* Freshness for the lookups that follow (check, check_batch, show,
 * visible): the server answers once its projection has applied record
 * min_seq (a seq a submit returned), waiting at most wait_ms without holding
 * up other clients; if it has not by then, the lookup returns TMS_E_STALE
 * and tms_client_message names the seq it is at. 0: any (the default). */
void tms_client_set_min_seq(tms_client *c, uint64_t min_seq, uint32_t wait_ms);

/* The point of the log the lookups that follow answer for (SPEC section
 * 7): TMS_CLIENT_LATEST (the default), TMS_CLIENT_SEQ (the state after
 * records 1..seq) or TMS_CLIENT_TIME (after every record stamped at or
 * before time_ns, ns since the epoch). A point beyond the log makes the
 * lookup return TMS_E_INVAL, tms_client_message naming the last seq. */
enum { TMS_CLIENT_LATEST = 0, TMS_CLIENT_SEQ = 1, TMS_CLIENT_TIME = 2 };
void tms_client_set_point(tms_client *c, int kind, uint64_t seq, int64_t time_ns);

/* check with its reason, at the point set: *json gets a malloc'd JSON text
 * ({"decision","reason","via","role","changed"}, SPEC section 7) the
 * caller frees. 1 allow, 0 deny, or a negative tms_err. */
int tms_client_explain(tms_client *c, const char *tenant, const char *kind, const char *id, const char *name,
                       char **json);

/* Watch (SPEC section 7): from now on this connection carries the records
 * from seq from (0: the next one to come) of tenant (NULL: all) up to seq
 * until (0: no end), one JSON line each, oldest first, with no gap and no
 * duplicate. No other request may be sent on it afterwards. */
tms_err tms_client_watch(tms_client *c, uint64_t from, const char *tenant, uint64_t until);
/* The next line: TMS_OK with *line (malloc'd, NUL-terminated, no newline;
 * the caller frees), TMS_NOT_FOUND once until is passed, or an error (the
 * server's message in tms_client_message: a watcher cut off names its seq). */
tms_err tms_client_watch_next(tms_client *c, char **line);

/* The seq the last lookup reply reflects: every record up to it, and none
 * after it, is in the answer (0 before any lookup). */
uint64_t tms_client_seq(const tms_client *c);

/* The server's last error message on this connection ("" if none). */
const char *tms_client_message(const tms_client *c);

#ifdef __cplusplus
}
#endif
#endif
