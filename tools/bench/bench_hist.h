/*
 * bench_hist.h — the latency histogram shared by wal-bench and seglog-bench: log-linear buckets
 * (128 linear sub-buckets per power of two, under 1% error), fixed size (about 34 KiB), one per
 * thread, merged at the end. Header-only, so that hist_record() inlines into the measured loops;
 * the rest the tools share is in bench_util.h.
 */
#ifndef SEGLOG_BENCH_HIST_H
#define SEGLOG_BENCH_HIST_H

#include <stdint.h>

/* Histogram geometry: values below 2 * HIST_SUB_COUNT ns are exact; above, each power of two is
 * split into HIST_SUB_COUNT buckets. Values at or above 2^HIST_MAX_MSB+1 ns are clamped. */
#define HIST_SUB_BITS 7u
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS) /* 128 */
#define HIST_MAX_MSB 39u                       /* largest value kept: 2^40 - 1 ns */
#define HIST_BUCKETS (2u * HIST_SUB_COUNT + (HIST_MAX_MSB - HIST_SUB_BITS) * HIST_SUB_COUNT)
_Static_assert(HIST_BUCKETS == 4352u, "histogram geometry changed: check hist_index");

typedef struct hist {
    uint64_t counts[HIST_BUCKETS]; /* appends per bucket */
    uint64_t total;                /* sum of counts */
    uint64_t sum_ns;               /* sum of recorded values, for the mean */
    uint64_t max_ns;               /* largest recorded value (unclamped) */
} hist;

static inline unsigned hist_index(uint64_t v)
{
    if (v >= (1ull << (HIST_MAX_MSB + 1u)))
        v = (1ull << (HIST_MAX_MSB + 1u)) - 1u;
    if (v < 2u * HIST_SUB_COUNT)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - HIST_SUB_BITS;
    unsigned sub = (unsigned)(v >> shift) - HIST_SUB_COUNT;
    return 2u * HIST_SUB_COUNT + (shift - 1u) * HIST_SUB_COUNT + sub;
}

/* The middle of the bucket's value range (the exact value below 2 * HIST_SUB_COUNT). */
static inline double hist_value(unsigned idx)
{
    if (idx < 2u * HIST_SUB_COUNT)
        return (double)idx;
    unsigned rel = idx - 2u * HIST_SUB_COUNT;
    unsigned shift = rel / HIST_SUB_COUNT + 1u;
    uint64_t lo = (uint64_t)(HIST_SUB_COUNT + rel % HIST_SUB_COUNT) << shift;
    return (double)lo + (double)(1ull << shift) / 2.0;
}

static inline void hist_record(hist *h, uint64_t v)
{
    h->counts[hist_index(v)]++;
    h->total++;
    h->sum_ns += v;
    if (v > h->max_ns)
        h->max_ns = v;
}

static inline void hist_merge(hist *into, const hist *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->counts[i] += from->counts[i];
    into->total += from->total;
    into->sum_ns += from->sum_ns;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
}

/* Value (ns) at quantile q in [0, 1]: the bucket holding the ceil(q * total)-th smallest value. */
static inline double hist_quantile(const hist *h, double q)
{
    if (h->total == 0)
        return 0.0;
    uint64_t rank = (uint64_t)(q * (double)h->total + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > h->total)
        rank = h->total;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            return hist_value(i);
    }
    return (double)h->max_ns;
}

#endif /* SEGLOG_BENCH_HIST_H */
