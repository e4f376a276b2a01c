/* tmsclient.h -- a blocking client for tmsd, for PBX nodes and tools: connect
 * over a Unix socket or TCP, check (one or a batch), submit, show, visible.
 * The protocol is described in schemas/tmsperm.json ("wire") and
 * docs/protocol.md.
 *
 * A tms_client is one connection at a time to one of the addresses it was
 * given; use it from one thread at a time. Every function returns a tms_err
 * unless it says otherwise. On a transport error (TMS_E_IO, TMS_E_PROTOCOL)
 * the connection is closed; the next submit or lookup connects again (see
 * failover below), a watch does not: close the client. */
#ifndef TMSCLIENT_H
#define TMSCLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "tmsperm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tms_client tms_client;

/* Connect to addr: ADDR[,ADDR...], one address or a list of the nodes of a
 * cluster, each a path (contains '/') for a Unix socket, else HOST:PORT
 * ([::1]:7070 for IPv6); an address cannot contain a comma. The addresses
 * are tried in turn: the first that accepts the connection and the hello
 * (with the token) is used. With more than one address, an attempt that
 * has not connected in 2 s goes on to the next. The client keeps the list
 * and the token for failing over (below).
 * token may be NULL; over TCP it grants the submit right (and lookups when
 * the server requires it). On failure why gets a one-line reason naming
 * each address and what went wrong there ("; " between them), *out is NULL,
 * and the error is TMS_E_IO when no server answered, else the error a
 * server answered the hello with (TMS_E_DENIED, TMS_E_BUSY...); a list with
 * an empty address is TMS_E_INVAL. The caller closes *out with
 * tms_client_close. */
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
 * request_id) with the server's message in results[0].message.
 *
 * Failover. A node of a cluster that is not the leader answers
 * TMS_E_NOT_LEADER, having applied nothing, and names the leader when it
 * knows one. The submit then follows it: connects to the leader named (with
 * the same token) and sends the same commands again, at most
 * TMS_CLIENT_REDIRECTS times per call. When no leader is named (an election
 * under way) or an address cannot be connected to, it tries the addresses of
 * the list in turn from the one after the last tried, pausing
 * TMS_CLIENT_ROUND_PAUSE_MS after each round, for at most
 * TMS_CLIENT_FAILOVER_MS in all; then it returns TMS_E_NOT_LEADER with the
 * last node's message (in results[0].message and tms_client_message), or
 * TMS_E_IO when no node could be reached. tms_client_address says where the
 * submit went.
 *
 * A connection lost after the submit was sent, while it waited for its
 * reply, is NOT sent again: the commands may or may not have been applied.
 * The call returns TMS_E_IO (or TMS_E_PROTOCOL) with results[0].message
 * saying so -- unless every command carries a "request_id" (a top-level
 * member with a string value): then sending it again is idempotent (the
 * server answers a repeated request_id with its first verdict), and the
 * submit goes on to the next address as above. A connection that failed
 * before the whole submit was sent is always tried elsewhere (a server acts
 * on whole frames only). The same holds for a TMS_E_NOT_LEADER whose message
 * says "not acknowledged": a leader that lost its lease after logging the
 * submit answers so, and its commands may yet be applied. */
#define TMS_CLIENT_REDIRECTS 3          /* leaders named followed per submit */
#define TMS_CLIENT_FAILOVER_MS 5000     /* at most this long looking for a leader, per submit */
#define TMS_CLIENT_ROUND_PAUSE_MS 200   /* between two rounds of the address list */
tms_err tms_client_submit_json(tms_client *c, const char *const *lines, const size_t *lens, size_t n,
                               tms_client_result *results);

/* The lookups (check, check_batch, explain, show, visible, status) change
 * nothing: when the connection is lost they are sent again on the next
 * addresses of the list, each tried once (with one address, that address
 * again). A node that is not the leader answers them as the leader would
 * (for the records it has: ask min_seq for a seq a submit returned). */

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

/* Return the address c is connected to now: an address of the list given
 * to tms_client_connect, or a leader a node named to a submit. After a lost
 * connection it is that connection's address until the client connects
 * again; "" after an attempt to connect elsewhere failed.
 * The string belongs to c: do not free or alter it. The pointer stays valid
 * until tms_client_close(c), but the text changes whenever a call on c
 * connects again (a submit following the leader, a lookup after a lost
 * connection): copy it to keep it. Never NULL. */
const char *tms_client_address(const tms_client *c);

#ifdef __cplusplus
}
#endif
#endif
