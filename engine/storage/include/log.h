/* log.h -- the append-only, checksummed, hash-chained command log.
 *
 * The log is the only source of truth. It is a directory of segment files;
 * each holds frames of opaque payloads (msgpack records, see record.h). The log
 * owns framing, sequence numbers, checksums and the hash chain; it does not
 * know what a payload means.
 *
 * On disk: each segment file is a 16-byte header and frames back to back; a
 * frame is a 56-byte header (length, seq, two CRC32Cs, the chain hash) and
 * the payload. engine/storage/log_format.h describes the format,
 * byte by byte; other rooms read a frame's fields through the
 * tms_log_frame_* functions below, never by offset.
 *
 * Durability: tms_log_append only stages a frame in memory; tms_log_sync
 * writes every staged frame and fdatasyncs. Nothing is acknowledged before a
 * sync returns TMS_OK. A failed write is rolled back (the file is cut to the
 * last synced frame) and the log stays usable. A failed fsync puts the log in
 * a failed state (TMS_E_FAILED from then on): the page cache may have dropped
 * the pages, so retrying would be a lie.
 *
 * Recovery on open: every frame of every segment is checked (both CRCs, seq
 * continuity, the chain), or, given a trusted prefix (a snapshot's seq and
 * head, tms_log_options), every frame from the segment holding it on. A torn final record of the last segment (short
 * header, short frame, or a frame cut at a sector boundary with zeros after)
 * is cut off when opened for writing and reported in tms_log_report. Zeros
 * from a frame boundary to the end of the last segment are not a tear: they
 * are space the writer preallocated (log.c, "PREALLOCATION"), the end of the
 * log for every reader. Any other damage refuses to open with TMS_E_CORRUPT
 * and a message naming segment, byte offset and seq. */
#ifndef TMS_LOG_H
#define TMS_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "io.h"
#include "tmsperm.h"
#include "tmsperm_schema.h"

#define TMS_LOG_HASH_LEN 32
#define TMS_LOG_FRAME_HEADER 56
#define TMS_LOG_SEGMENT_HEADER 16
#define TMS_LOG_MAX_PAYLOAD (4u << 20)          /* 4 MiB */
#define TMS_LOG_DEFAULT_SEGMENT_BYTES (64u << 20)

typedef struct tms_log tms_log;
typedef struct tms_log_iter tms_log_iter;

/* The log's system calls go through this table (io.h: every call the
 * writer and the recovery make; NULL members mean the libc call). Its first
 * two members are write and fdatasync, as they always were. */
typedef tms_io tms_log_io;

typedef struct tms_log_options {
    uint64_t segment_bytes;   /* roll to a new segment past this; 0 = default */
    int readonly;             /* never write, never cut a torn tail (tools, live logs) */
    const tms_log_io *io;     /* NULL = libc */
    int defer_cut;            /* keep a torn tail found at open until tms_log_cut_torn (or the first
                                 sync): an open that is then refused has changed nothing */
    uint64_t trust_seq;       /* > 0: records 1..trust_seq were checked before (a snapshot of their state
                                 agrees with them): recovery reads from the segment holding trust_seq on,
                                 when that frame's chain head is trust_head; else it reads everything */
    const uint8_t *trust_head;   /* TMS_LOG_HASH_LEN bytes */
    int check_last_only;      /* with trust_seq 0: recovery reads the last segment only (its first frame's
                                 chain head taken as stored), because the caller reads every record before
                                 it at once, checked (the engine's fold from seq 1: frames, CRCs and the
                                 chain, on a second core); a last segment without a whole frame: everything.
                                 report->trusted says which. */
    uint64_t prealloc_bytes;  /* zeros written ahead of the frames of the segment being appended to, this
                                 many bytes at a time (log.c, "PREALLOCATION"); 0 = 1 MiB */
} tms_log_options;

/* What open found. msg is a human-readable line, empty if nothing to say. */
typedef struct tms_log_report {
    int torn;                 /* a torn final record was found (cut unless readonly) */
    uint64_t torn_bytes;      /* how many bytes it spanned */
    uint64_t torn_offset;     /* its byte offset in torn_segment */
    char torn_segment[256];
    uint64_t bad_seq;         /* on TMS_E_CORRUPT: the seq expected at the bad spot */
    uint64_t bad_offset;      /* ... its byte offset ... */
    char bad_segment[256];    /* ... and its segment file name */
    char msg[512];
    int trusted;              /* open: the segments before trust_seq's were taken as checked */
} tms_log_report;

/* One record as read back. Pointers stay valid until the next call on the
 * iterator (or until the iterator is closed). */
typedef struct tms_log_record {
    uint64_t seq;
    const uint8_t *hash;      /* TMS_LOG_HASH_LEN bytes: the chain head after this record */
    const uint8_t *payload;
    size_t len;
    const char *segment;      /* segment file name (no directory) */
    uint64_t offset;          /* byte offset of the frame in that segment */
} tms_log_record;

/* Open (creating DIR if absent and not readonly) and recover the log.
 * opt may be NULL. rep may be NULL; when given it is always filled.
 * Returns TMS_OK, TMS_E_CORRUPT (rep says where), TMS_E_IO, TMS_E_NOMEM.
 * The caller owns *out and closes it with tms_log_close. */
tms_err tms_log_open(const char *dir, const tms_log_options *opt,
                     tms_log **out, tms_log_report *rep);

/* A log's base: the log of a data directory seeded from a snapshot of seq
 * B (tms-restore seed) holds no records 1..B; its first record is B + 1,
 * chained from the head at B. Readers of such a log start after B: an
 * iterator asked for a seq at or before B refuses (TMS_NOT_FOUND, its
 * report saying so), never skips to B + 1 silently.
 * tms_log_base: TMS_OK with *seq = B and head (TMS_LOG_HASH_LEN bytes), or
 * *seq 0 and zeros for a log that starts at 1 (or no log at dir);
 * TMS_E_CORRUPT (a damaged base: every reader refuses) or TMS_E_IO with why. */
tms_err tms_log_base(const char *dir, uint64_t *seq, uint8_t head[TMS_LOG_HASH_LEN], char *why, size_t whylen);
/* Where the log in dir ends, cheaply: its last segment read header by header (each frame's header CRC, the seq
 * due, its length within the file), and the body CRC of the last frame only (a frame cut short, or whose body was
 * never written, is a tear, as an open says); the other bodies are not read, nor the chain checked (an open or an
 * iterator does that). A bound for a reader that needs only where the log ends, such as the sizes a Merkle proof
 * may cover (proof.h). The base (or 0) for a log without records; a last segment whose header was never written
 * (a crash as it was created) ends at the seq before its first. TMS_OK; TMS_E_IO, TMS_E_CORRUPT (the last
 * segment's header, or the base file) with why. */
tms_err tms_log_end(const char *dir, uint64_t *seq, char *why, size_t whylen);
/* Give the log in dir (created if absent; it must hold no segment and no
 * base) the base seq, head: written, fsynced and renamed into place. An
 * open then finds a log whose last seq is seq and whose head is head.
 * TMS_OK, TMS_E_INVAL (seq 0, or dir already holds a log), TMS_E_IO. */
tms_err tms_log_create_based(const char *dir, uint64_t seq, const uint8_t head[TMS_LOG_HASH_LEN], char *why,
                             size_t whylen);
/* Close the log; staged (unsynced) frames are discarded. NULL is a no-op. */
void tms_log_close(tms_log *log);

/* Seq of the last record (synced or staged); 0 for an empty log. */
uint64_t tms_log_last_seq(const tms_log *log);

/* Chain head after the last record (synced or staged): 32 bytes owned by the
 * log, valid until its next call. All zeros for an empty log. */
const uint8_t *tms_log_head(const tms_log *log);

/* Stage one record: assigns seq = last+1 (returned in *seq if not NULL),
 * computes the hash and advances the head. Copies payload. Not durable.
 * TMS_E_TOOBIG if len > TMS_LOG_MAX_PAYLOAD or len == 0; TMS_E_FAILED after
 * a failed sync; TMS_E_INVAL on a readonly log. */
tms_err tms_log_append(tms_log *log, const void *payload, size_t len, uint64_t *seq);

/* Write every staged frame (rolling segments as needed: a frame never spans
 * two segments; the new segment file and its directory are fsynced) and
 * fdatasync. On TMS_OK all staged records are durable. On a write error
 * (ENOSPC gives TMS_E_NOSPACE, else TMS_E_IO) the file is truncated back to
 * the last synced frame, the staged records are dropped (seq and head go back)
 * and the log stays usable. On an fdatasync error the log enters the failed
 * state and returns TMS_E_FAILED for every later write. */
tms_err tms_log_sync(tms_log *log);

/* Cut the torn tail an open with defer_cut found (no-op when none). TMS_OK or TMS_E_IO. */
tms_err tms_log_cut_torn(tms_log *log);

/* Drop every staged record; seq and head return to the last synced record. */
void tms_log_discard(tms_log *log);

/* Where the first frame of the last successful sync went: 1 with its seq,
 * the first seq of its segment and its byte offset there (a frame locator,
 * for tms_log_read_frame), 0 before any sync. */
int tms_log_synced_at(const tms_log *log, uint64_t *first_seq, uint64_t *seg_first, uint64_t *offset);

/* Read record seq of the log in DIR without reading the log from its start:
 * from the frame at byte offset of the segment starting at seg_first (a
 * locator at or before seq), frame to frame (each header checked), into
 * the next segment when the group went on there. The frame's checksums are
 * checked; the chain is not (the writer checked it; tms-audit verify does).
 * TMS_OK with *payload (malloc'd; the caller frees) and *len, TMS_NOT_FOUND,
 * TMS_E_CORRUPT (not a frame where the locator says), TMS_E_IO, TMS_E_NOMEM. */
tms_err tms_log_read_frame(const char *dir, uint64_t seg_first, uint64_t offset, uint64_t seq, uint8_t **payload,
                           size_t *len);


/* Stage a frame another log wrote (a replication leader's: header and
 * payload, as tms_log_frame_header and the payload give them): it must check
 * (lengths, both checksums, the reserved field), carry seq last + 1, and
 * chain on this log's head (its hash is the one this log computes, so the
 * frame staged is byte for byte the one given). TMS_OK when staged as
 * tms_log_append stages its payload; TMS_E_CORRUPT with why (a line naming
 * the seq) when it does not check, is not the next seq or does not chain,
 * and nothing is staged; else as tms_log_append (why untouched). */
tms_err tms_log_append_frame(tms_log *log, const uint8_t *frame, size_t len, char *why, size_t whylen);

/* Number of records staged and not yet synced. */
size_t tms_log_staged(const tms_log *log);

/* ---- a frame's fields, for other rooms (replication, tools) ----
 * frame is len bytes holding one frame: header then payload, as the log
 * holds it and replication sends it. These read fields as the bytes hold
 * them and check nothing (tms_log_append_frame and the log's readers do);
 * pointers returned point into frame and are valid as long as it is. */

/* The frame header of r exactly as the log holds it (the payload follows
 * it there): what replication sends, so a replica checks what was written. */
void tms_log_frame_header(const tms_log_record *r, uint8_t out[TMS_LOG_FRAME_HEADER]);

/* 1 when frame (len bytes available) starts with a frame header whose
 * checksum over its length and seq fields holds, with the payload length
 * in *plen and the seq in *seq; 0 otherwise. Nothing else is checked (the
 * payload may be cut short): for a scan of damaged segments that slides
 * byte by byte (tms-restore --salvage). */
int tms_log_frame_head_ok(const uint8_t *frame, size_t len, uint32_t *plen, uint64_t *seq);

/* The seq field of frame; 0 when len is shorter than a frame header (no
 * record has seq 0). */
uint64_t tms_log_frame_seq(const uint8_t *frame, size_t len);

/* The frame's chain hash (TMS_LOG_HASH_LEN bytes: the chain head after its
 * record); NULL when len is shorter than a frame header. */
const uint8_t *tms_log_frame_hash(const uint8_t *frame, size_t len);

/* The frame's payload: the bytes after its header, *plen of them (the
 * header's length field is not consulted); NULL with *plen 0 when there
 * are none. */
const uint8_t *tms_log_frame_payload(const uint8_t *frame, size_t len, size_t *plen);

/* Iterate records with seq >= from_seq (1 = from the start) of the log in
 * DIR, independently of any open tms_log (tools read a live log this way).
 * Every frame handed out, and the one before it (whose stored hash the
 * first is chained to), is checked as on open; the frames of its segment
 * before those are passed over by their headers (their bodies' CRCs are not
 * computed when the next frame's header is where their length says). A
 * partial final frame ends the iteration quietly (a writer may be
 * mid-append). rep may be NULL. */
tms_err tms_log_iter_open(const char *dir, uint64_t from_seq,
                          tms_log_iter **out, tms_log_report *rep);

/* How an iterator checks the hash chain (flags of tms_log_iter_open_flags). */
enum {
    TMS_LOG_ITER_CHAIN_ON_THREAD = 1,  /* on a second thread, over the same files: a record is
                                          handed out once its frame, chain included, is verified */
    TMS_LOG_ITER_CHAIN_CHECKED = 2,    /* not at all: the caller verified it (recovery under the
                                          writer's lock); CRCs and seq continuity only */
    TMS_LOG_ITER_CHAIN_SHARED = 4      /* on both threads: the second checks odd frames, the
                                          iterator even ones (when it has little else to do) */
};
/* tms_log_iter_open with flags (0: the chain is checked in line). */
tms_err tms_log_iter_open_flags(const char *dir, uint64_t from_seq, int flags,
                                tms_log_iter **out, tms_log_report *rep);

/* A frame locator: the frame at byte offset of the segment whose first seq
 * is seg_first (a tms_log_record's segment and offset). */
typedef struct tms_log_locator {
    uint64_t seg_first;
    uint64_t offset;
} tms_log_locator;
/* tms_log_iter_open_flags, reading the segment that holds from_seq not from
 * its start but from the frame at *at (NULL: none), when what is there
 * reads as a frame header of this segment (its checksum) of a seq before
 * from_seq; else from the segment's start. That frame's stored hash is
 * taken as the chain's, as a frame passed over is. The caller vouches for
 * *at: a frame boundary this process found reading the log (a
 * tms_log_record's segment and offset), never one from outside it. The
 * iterator cannot tell a frame from a copy of one inside a payload, and
 * copies of a log's frames chain as the frames do: a locator from a file an
 * attacker may write (a receipt) would let it read the copies instead (a
 * review found this: the receipt's locator was removed). */
tms_err tms_log_iter_open_at(const char *dir, uint64_t from_seq, int flags, const tms_log_locator *at,
                             tms_log_iter **out, tms_log_report *rep);

/* Next record: TMS_OK with *has = 1 and *rec filled, or TMS_OK with *has = 0
 * at the end, or TMS_E_CORRUPT / TMS_E_IO with the iterator's report filled
 * (see tms_log_iter_report). */
tms_err tms_log_iter_next(tms_log_iter *it, tms_log_record *rec, int *has);

/* The iterator's report (damage found while iterating). */
const tms_log_report *tms_log_iter_report(const tms_log_iter *it);

/* Bytes of the segment files of the log directory dir (0 when unreadable). */
uint64_t tms_log_dir_bytes(const char *dir);

void tms_log_iter_close(tms_log_iter *it);

/* The chain: out = BLAKE2b-256(prev ++ le64(seq) ++ payload) (the frame's
 * hash field; prev of seq 1 is 32 zero bytes). */
void tms_log_chain_hash(const uint8_t prev[TMS_LOG_HASH_LEN], uint64_t seq, const uint8_t *payload, size_t len,
                        uint8_t out[TMS_LOG_HASH_LEN]);

/* CRC32C (Castagnoli) of buf, continuing from crc (0 to start). */
uint32_t tms_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
