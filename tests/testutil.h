/* testutil.h -- helpers shared by the cmocka tests: scratch directories,
 * file surgery for fault injection. */
#ifndef TMS_TESTUTIL_H
#define TMS_TESTUTIL_H
#include <stddef.h>
#include <stdint.h>

/* Make a fresh empty directory under $TMPDIR (or /tmp); returns a malloc'd
 * path the caller frees after tu_rmtree. Aborts the test run on failure. */
char *tu_mkdtemp(void);
/* Remove a directory tree (like rm -rf). */
void tu_rmtree(const char *path);
/* Read a whole file into a malloc'd buffer; *len gets its size. NULL if absent. */
uint8_t *tu_read_file(const char *path, size_t *len);
/* Replace a file's contents (creates it). Returns 0 on success. */
int tu_write_file(const char *path, const void *data, size_t len);
/* Size of a file, or -1. */
long long tu_file_size(const char *path);

/* ---- engine fixtures ------------------------------------------------------ */
#include "engine.h"

/* A scratch data directory with an open engine. */
typedef struct tu_env {
    char *dir;
    tms_engine *eng;
    tms_verdict last;       /* verdict of the last tu_submit */
    uint64_t last_seq;
} tu_env;

/* Open an engine on a fresh directory (asserts on failure). */
tu_env *tu_env_new(void);
/* A snapshot of env's running writer, written by its child (tms_engine_snapshot_fork; asserts it exited 0):
 * its seq. */
uint64_t tu_fork_snapshot(tu_env *env);
/* Close and reopen the engine on the same directory. */
void tu_env_reopen(tu_env *env);
/* The engine's state (every tenant: tms_engine_state) is a fold of the whole log's: projection digests
 * compared. */
void tu_assert_state_is_the_logs(tu_env *env);
void tu_env_free(tu_env *env);

/* Submit one JSON command, written with ' for " to spare the escapes:
 * tu_submit(env, "{'cmd':'CreateTenant','tenant':'acme','actor':'system','admin':'admin'}").
 * Returns the verdict code (TMS_OK = accepted); INVALID_COMMAND for input that
 * does not parse. Asserts that the engine itself did not fail. */
tms_err tu_submit(tu_env *env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Account state straight from the projection; asserts it exists. */
tms_account_rec tu_account(tu_env *env, char kind, const char *id);
/* 1 if the account (kind letter) exists. */
int tu_exists(tu_env *env, char kind, const char *id);
/* Mask of permission names: tu_perms("recordings.listen,reports.view"). */
uint64_t tu_perms(const char *names);
/* The embedded lookup (tmsperm.h) on env's directory: 1 allow, 0 deny. */
int tu_check(tu_env *env, const char *tenant, const char *kind, const char *id, const char *name);
/* 1 if the object (kind letter) is distributed to manager. */
int tu_distributed(tu_env *env, char kind, const char *id, const char *manager);
/* Digest of env's projection: everything, or the domain state only
 * (without meta and request ids: "did this rejected command change nothing?"). */
void tu_digest(tu_env *env, uint8_t out[32]);
void tu_state_digest(tu_env *env, uint8_t out[32]);
/* The projection of env's directory (its engine closed) written behind the engine's back: extension 1001
 * of tenant `from` put under tenant `to`, its permissions changed when flip (flip 0 and another tenant: an
 * entry of a tenant the state may not have). LMDB keeps no checksums: only a digest tells. */
void tu_damage_1001(tu_env *env, const char *from, const char *to, int flip);

/* Standard tenant: acme with admin 'admin'; managers top > mid > low and
 * 'other' (reports to the Admin); extensions 1001 1002 1003. top holds every
 * manager permission but billing.manage; mid holds the tms_users.* set,
 * recordings.listen and reports.view; low holds tms_users.distribution and
 * tms_users.permissions; other holds tms_users.distribution. */
void tu_standard_tenant(tu_env *env);

/* Assert a submit's verdict, printing the engine's message when it differs.
 * Both expect a tu_env *env in scope. */
#define ACC(...) do { tms_err e_ = tu_submit(env, __VA_ARGS__); \
    if (e_ != TMS_OK) fail_msg("expected accepted, got %s: %s", tms_err_name(e_), env->last.message); } while (0)
#define REJ(code, ...) do { tms_err e_ = tu_submit(env, __VA_ARGS__); \
    if (e_ != (code)) fail_msg("expected %s, got %s: %s", tms_err_name(code), tms_err_name(e_), env->last.message); } while (0)

/* cmocka setup/teardown: *state = a tu_env with (or without) the standard tenant. */
int tu_setup_standard(void **state);
int tu_setup_empty(void **state);
int tu_teardown(void **state);

#endif
