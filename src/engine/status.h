/* status: what GET /status reports, gathered from the running parts and
 * the store: counts by state, the oldest pending event's age, duplicates,
 * the processor's and the committer's counters, tasks and outbox replies
 * by state, the worker pool's counters, uptime and version. */
#ifndef HOOKQ_ENGINE_STATUS_H
#define HOOKQ_ENGINE_STATUS_H

#include <stdint.h>

#include "engine/dispatcher.h"
#include "engine/ingest.h"
#include "engine/processor.h"
#include "store/store.h"
#include "util/buf.h"

struct status_sources {
	struct store *store;
	struct ingest *ingest;	     /* NULL outside a running server */
	struct processor *processor; /* NULL when processing is off */
	/* The worker pool's counters and load, HQ_E_UNSUPPORTED when none
	 * runs; and its latency histogram rendered into out (nothing when
	 * none runs). NULL: no pool. */
	int (*pool)(void *ctx, struct dispatcher_stats *stats, size_t *busy, size_t *total);
	int (*pool_latency)(void *ctx, struct buf *out);
	const char *version;
	int64_t started_ms; /* 0 outside a running server */
};

/* Renders the status document (a malloc'd JSON string) into *ret.
 * HQ_E_STORE when the store cannot be read, with the reason in err. */
int status_render(const struct status_sources *src, int64_t now_ms, char **ret,
		  struct store_error *err);

/* Appends the store's and the processor's metrics in the Prometheus text
 * format to out. */
int status_metrics(const struct status_sources *src, int64_t now_ms, struct buf *out,
		   struct store_error *err);

#endif
