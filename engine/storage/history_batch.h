/* history_batch.h -- reading a batch of the as-of index's operations
 * (history_write.c says the format): private to the storage room, shared
 * by the writer of the index (history_write.c) and its tally
 * (history_tally.c). A batch is the storage room's own output, never
 * untrusted bytes: the reader does no bounds checks. */
#ifndef TMS_HISTORY_BATCH_H
#define TMS_HISTORY_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct tms__batch_reader {
    const uint8_t *p, *end;
} tms__batch_reader;

static inline uint64_t tms__batch_u64(tms__batch_reader *r)
{
    uint64_t v;
    memcpy(&v, r->p, 8);
    r->p += 8;
    return v;
}

/* A string of the batch: wide, a 16-bit length first, else an 8-bit one.
 * Points into the batch; *n its length. */
static inline const char *tms__batch_str(tms__batch_reader *r, size_t *n, int wide)
{
    uint16_t l = *r->p;
    if (wide)
        memcpy(&l, r->p, 2);
    r->p += wide ? 2 : 1;
    const char *s = (const char *)r->p;
    r->p += l;
    *n = l;
    return s;
}

/* One operation of a batch, its strings pointing into the batch. */
typedef struct tms__batch_op {
    int op;                     /* 'T' time index, 'V' version, 'I' interval, 'C' change */
    uint64_t seq, time;         /* the record's seq; 'T': its time */
    int db, open;               /* 'I': the interval's database, opened (1) or closed (0) */
    const char *key, *val, *member;   /* 'V': key, val, member ("": no change to note); 'I': key, member;
                                         'C': member */
    size_t klen, vlen, mlen;
} tms__batch_op;

/* The operation at r into *o, r moved past it: 0, or -1 for a byte that
 * opens no operation (r is then lost). */
static inline int tms__batch_next(tms__batch_reader *r, tms__batch_op *o)
{
    o->op = *r->p++;
    switch (o->op) {
    case 'T':
        o->time = tms__batch_u64(r);
        o->seq = tms__batch_u64(r);
        return 0;
    case 'V':
        o->seq = tms__batch_u64(r);
        o->key = tms__batch_str(r, &o->klen, 1);
        o->val = tms__batch_str(r, &o->vlen, 1);
        o->member = tms__batch_str(r, &o->mlen, 0);
        return 0;
    case 'I':
        o->seq = tms__batch_u64(r);
        o->db = *r->p++;
        o->open = *r->p++;
        o->key = tms__batch_str(r, &o->klen, 1);
        o->member = tms__batch_str(r, &o->mlen, 0);
        return 0;
    case 'C':
        o->seq = tms__batch_u64(r);
        o->member = tms__batch_str(r, &o->mlen, 0);
        return 0;
    }
    return -1;
}

#endif
