/* reader.c -- the embedded, read-only permission lookup of tmsperm.h.
 * One LMDB read transaction per handle, kept between checks while no writer
 * has committed since (one look at the meta page tells), renewed when one
 * has: a check costs one or two mdb_get, no allocation, and never answers
 * from a snapshot older than the last commit at the time of the call. */
#include "tmsperm.h"
#include "tmsperm_schema.h"
#include "cmd.h"
#include "lookup.h"
#include "history.h"
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* LMDB forbids opening one environment twice in a process (closing either
 * drops the other's locks, and then its readers' slots can be reaped while
 * they read). So every reader of a projection in this process shares one
 * environment, counted; each reader has its own transaction (MDB_NOTLS). */
typedef struct shared_env {
    char path[PATH_MAX];
    tms_store *st;
    int refs;
    int stale;           /* its files were replaced: off the list, closed with its last reader */
    struct shared_env *next;
} shared_env;

static pthread_mutex_t envs_lock = PTHREAD_MUTEX_INITIALIZER;
static shared_env *envs;

struct tms_reader {
    shared_env *env;
    tms_txn *tx;         /* NULL until first use; then kept (reset, renewed) until close */
    int live;            /* tx holds a snapshot (not reset) */
    char dir[PATH_MAX];  /* the data directory, to reopen */
    uint64_t next_look;  /* when to look again whether the files were replaced (ms, coarse clock) */
    char why[512];       /* why the last check or seq failed (tms_reader_message) */
};

#define LOOK_EVERY_MS 100   /* a replaced projection is noticed within this, at one stat(2) per look */

/* The shared environment of DIR/proj, opened when this process has none:
 * TMS_OK, TMS_NOT_FOUND (no projection yet), or an error with why naming
 * what could not be opened and the system's reason. */
static tms_err env_acquire(const char *dir, shared_env **out, char *why, size_t whylen)
{
    char path[PATH_MAX + 8], real[PATH_MAX];
    tms_err err = TMS_OK;
    *out = NULL;
    why[0] = '\0';
    snprintf(path, sizeof path, "%s/proj", dir);
    if (!realpath(path, real)) {
        int e = errno;
        if (e == ENOENT)
            snprintf(why, whylen, "no projection in %s yet (%s: %s)", dir, path, strerror(e));
        else
            snprintf(why, whylen, "cannot reach the projection %s: %s%s", path, strerror(e),
                     e == EACCES ? " (an embedded reader must be in the data directory's group: tmsperm for the "
                                   "packages)" : "");
        return e == ENOENT ? TMS_NOT_FOUND : TMS_E_IO;
    }
    int believable = tms_store_believable_why(real, why, whylen);
    if (believable <= 0)   /* unreadable evidence, or an unclean stop before a reboot: wait for the writer */
        return believable < 0 ? TMS_E_IO : TMS_E_STORE;
    pthread_mutex_lock(&envs_lock);
    shared_env *e = envs;
    while (e && strcmp(e->path, real))
        e = e->next;
    if (!e && (e = calloc(1, sizeof *e)) != NULL) {
        snprintf(e->path, sizeof e->path, "%s", real);
        if ((err = tms_store_open(real, TMS_STORE_READONLY, &e->st, why, whylen)) != TMS_OK) {
            free(e);
            e = NULL;
        } else {
            e->next = envs;
            envs = e;
        }
    } else if (!e) {
        err = TMS_E_NOMEM;
        snprintf(why, whylen, "out of memory");
    }
    if (e)
        e->refs++;
    pthread_mutex_unlock(&envs_lock);
    *out = e;
    return e ? TMS_OK : err;
}

static void env_release(shared_env *e)
{
    pthread_mutex_lock(&envs_lock);
    if (--e->refs == 0) {
        shared_env **pp = &envs;
        while (!e->stale && *pp != e)
            pp = &(*pp)->next;
        if (!e->stale)
            *pp = e->next;
        tms_store_close(e->st);
        free(e);
    }
    pthread_mutex_unlock(&envs_lock);
}

tms_err tms_reader_open_why(const char *dir, tms_reader **out, char *why, size_t whylen)
{
    char local[sizeof ((tms_reader *)0)->why];
    tms_reader *r = calloc(1, sizeof *r);
    if (!why || !whylen) {
        why = local;
        whylen = sizeof local;
    }
    why[0] = '\0';
    *out = NULL;
    if (!r) {
        snprintf(why, whylen, "out of memory");
        return TMS_E_NOMEM;
    }
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    tms_err err = env_acquire(dir, &r->env, why, whylen);
    if (err) {
        if (err == TMS_NOT_FOUND && !why[0])   /* DIR/proj holds no environment */
            snprintf(why, whylen, "no projection in %s yet", dir);
        free(r);
        return err;
    }
    *out = r;
    return TMS_OK;
}

tms_err tms_reader_open(const char *dir, tms_reader **out)
{
    return tms_reader_open_why(dir, out, NULL, 0);
}

const char *tms_reader_message(const tms_reader *r)
{
    return r ? r->why : "";
}

void tms_reader_close(tms_reader *r)
{
    if (!r)
        return;
    tms_txn_abort(r->tx);
    if (r->env)
        env_release(r->env);
    free(r);
}

static uint64_t coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The writer set the projection aside and built a new one: the environment
 * of this process still maps the old file (and its lock file is gone, so
 * "no commit since" would hold forever). Take the new one. */
static tms_err follow_replacement(tms_reader *r)
{
    uint64_t now = coarse_ms();
    if (!r->env) {   /* the last attempt to take the new files failed: try again, at most this often */
        if (now < r->next_look)
            return TMS_E_STORE;
        r->next_look = now + LOOK_EVERY_MS;
        return env_acquire(r->dir, &r->env, r->why, sizeof r->why);
    }
    if (now < r->next_look)
        return TMS_OK;
    r->next_look = now + LOOK_EVERY_MS;
    if (!tms_store_replaced(r->env->st))
        return TMS_OK;
    pthread_mutex_lock(&envs_lock);
    if (!r->env->stale) {   /* off the list: the next acquire opens the new files */
        shared_env **pp = &envs;
        while (*pp != r->env)
            pp = &(*pp)->next;
        *pp = r->env->next;
        r->env->stale = 1;
    }
    pthread_mutex_unlock(&envs_lock);
    tms_txn_abort(r->tx);
    r->tx = NULL;
    r->live = 0;
    env_release(r->env);
    r->env = NULL;
    return env_acquire(r->dir, &r->env, r->why, sizeof r->why);
}

/* A snapshot no older than the last commit: keep the one held if no commit
 * happened since it was taken, else reset and renew (no allocation; a new
 * transaction only the first time, or when renewing failed). */
static tms_err snapshot(tms_reader *r)
{
    tms_err err = follow_replacement(r);
    if (err)
        return err;
    if (r->live) {
        if (tms_txn_is_latest(r->tx))
            return TMS_OK;
        tms_txn_reset(r->tx);
        r->live = 0;
    }
    if (r->tx) {
        if (tms_txn_renew(r->tx) == TMS_OK) {
            r->live = 1;
            return TMS_OK;
        }
        tms_txn_abort(r->tx);
        r->tx = NULL;
    }
    err = tms_txn_begin(r->env->st, 0, &r->tx);
    r->live = err == TMS_OK;
    if (err)
        snprintf(r->why, sizeof r->why, "cannot read the projection in %.300s/proj: %s", r->dir, tms_strerror(err));
    return err;
}

void tms_reader_release(tms_reader *r)
{
    if (r && r->live) {
        tms_txn_reset(r->tx);
        r->live = 0;
    }
}

static tms_err bits_at(tms_txn *tx, uint64_t at, const char *tenant, char kind, const char *id, uint64_t *perms,
                       uint64_t *features)
{
    tms_account_rec a;
    if (at == UINT64_MAX)
        return tms_account_bits(tx, tenant, kind, id, perms, features);
    tms_err err = tms_account_get_at(tx, tenant, kind, id, at, &a, NULL);
    *perms = a.perms;
    *features = a.features;
    return err;
}

static int answer(tms_txn *tx, uint64_t at, const char *tenant, char kind, const char *id, int perm, int feat)
{
    uint64_t perms = 0, features = 0;
    if (kind == 'a') {   /* the PBX Admin holds every permission (not features: it has no extension) */
        tms_tenant_rec t;
        tms_err err = at == UINT64_MAX ? tms_tenant_get(tx, tenant, &t) : tms_tenant_get_at(tx, tenant, at, &t, NULL);
        if (err)
            return err == TMS_NOT_FOUND ? 0 : -(int)err;
        return perm >= 0 && strcmp(t.admin, id) == 0;
    }
    tms_err err = bits_at(tx, at, tenant, kind, id, &perms, &features);
    if (err)
        return err == TMS_NOT_FOUND ? 0 : -(int)err;
    if (perm >= 0)
        return (perms >> perm) & 1;
    return kind == TMS_KIND_EXTENSION && ((features >> feat) & 1);
}

int tms_lookup_check(tms_txn *tx, const char *tenant, const char *kind, const char *id, const char *name)
{
    return tms_lookup_check_at(tx, UINT64_MAX, tenant, kind, id, name);
}

int tms_lookup_check_at(tms_txn *tx, uint64_t at, const char *tenant, const char *kind, const char *id,
                        const char *name)
{
    char k = !strcmp(kind, "extension") ? TMS_KIND_EXTENSION : !strcmp(kind, "manager") ? TMS_KIND_MANAGER
           : !strcmp(kind, "admin") ? 'a' : 0;
    int perm = tms_permission_index(name), feat = perm < 0 ? tms_feature_index(name) : -1;
    if (!k || (perm < 0 && feat < 0) || !tms_is_id(tenant, strlen(tenant)) || !tms_is_id(id, strlen(id)))
        return 0;
    return answer(tx, at, tenant, k, id, perm, feat);
}

int tms_reader_check(tms_reader *r, const char *tenant, const char *kind, const char *id, const char *name)
{
    tms_err err = snapshot(r);
    if (err)
        return -(int)err;
    return tms_lookup_check(r->tx, tenant, kind, id, name);
}

tms_err tms_reader_seq(tms_reader *r, uint64_t *seq)
{
    uint8_t head[TMS_HASH_LEN];
    uint64_t at;
    tms_err err = snapshot(r);
    if (err)
        return err;
    if ((err = tms_meta_get(r->tx, &at, head)))
        return err;
    *seq = at;
    return TMS_OK;
}
