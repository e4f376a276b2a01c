/* tool_restore.h -- the pieces of tms-restore: preparing an empty target
 * directory, copying a log through the log API (up to a point, or up to
 * the last good record with --salvage), rebuilding and checking the
 * projection (tool_restore.c); finding how far a damaged log went
 * (tool_salvage.c); the online backup of a live directory (tool_backup.c). */
#ifndef TMS_TOOL_RESTORE_H
#define TMS_TOOL_RESTORE_H

#include <stdint.h>
#include "log.h"
#include "store.h"
#include "tool_common.h"

typedef struct tool_restore {
    const char *src, *dst;
    tool_point to;                   /* unset = the whole log */
    int salvage;                     /* stop at the first damage instead of failing */
    char srclog[4200], dstlog[4200], dstproj[4200];
    int created_dst;                 /* we made NEWDIR (remove it on failure) */
    uint64_t records, last_seq;
    int64_t last_time;
    uint8_t src_head[TMS_LOG_HASH_LEN];
    /* --salvage: where the source broke; lost_from == 0 when it did not */
    uint64_t lost_from;
    char lost_reason[600];
    uint64_t snapshot_seq;           /* backup: the state snapshot copied (0: none) */
} tool_restore;

/* Check the source log and make r->dst an empty directory not inside
 * r->src; fills the paths. 0, or TOOL_ERROR after a message. */
int tool_restore_prepare(tool_restore *r);
/* The target alone (no source log to check: a seed): r->dst made an empty
 * directory not inside r->src, the paths filled. 0, or TOOL_ERROR. */
int tool_restore_target(tool_restore *r);
/* Remove what the restore put into r->dst (it was empty before). */
void tool_restore_undo(tool_restore *r);
/* Copy the source records into r->dstlog. An exit code: TOOL_NEGATIVE
 * when the source is damaged before the point (unless salvaging: then the
 * damage is noted in lost_from / lost_reason and the copy stops there). */
int tool_restore_copy_log(tool_restore *r);
/* Rebuild r->dstproj by replaying r->dstlog; check its seq and head against
 * what was copied; digest it. An exit code. */
int tool_restore_rebuild(tool_restore *r, uint8_t digest[TMS_HASH_LEN]);

/* Best effort, for --salvage: the highest seq held by a frame whose header
 * checksum is intact in any segment of logdir, at or after from; 0 when none
 * is found (how much was lost cannot be told). Reads only. */
uint64_t tool_salvage_last_seq(const char *logdir, uint64_t from);

/* tms-restore backup ARGS...: returns the exit code. */
int tool_backup_main(int argc, char **argv);
/* tms-restore seed ARGS... (tool_seed.c): returns the exit code. */
int tool_seed_main(int argc, char **argv);

#endif
