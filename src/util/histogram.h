/* histogram: a latency histogram with fixed buckets, safe to observe from
 * any thread without a lock, rendered in the Prometheus text format. */
#ifndef HOOKQ_UTIL_HISTOGRAM_H
#define HOOKQ_UTIL_HISTOGRAM_H

#include <stdatomic.h>
#include <stdint.h>

#include "util/buf.h"

/* Upper bounds in seconds: 1 ms to 60 s. */
#define HISTOGRAM_BUCKETS 14

struct histogram {
	atomic_uint_fast64_t counts[HISTOGRAM_BUCKETS + 1]; /* the last is +Inf */
	atomic_uint_fast64_t sum_us;
};

void histogram_init(struct histogram *h);
void histogram_observe_us(struct histogram *h, uint64_t us);
/* Appends "# HELP", "# TYPE" and the series for name. */
int histogram_render(const struct histogram *h, const char *name, const char *help,
		     struct buf *out);

#endif
