/* processor: turns stored events into processed ones. Worker threads
 * claim due pending events in batches under a lease, hand each to the
 * handler, and record the batch's outcomes in one transaction: completed;
 * a transient failure goes back to pending after a jittered exponential
 * backoff, or to dead letter when its attempts are used up; a permanent
 * failure goes to dead letter at once. Workers are woken by new commits
 * and poll as a fallback; expired leases are reclaimed and completed
 * events past retention purged in the background. */
#ifndef HOOKQ_ENGINE_PROCESSOR_H
#define HOOKQ_ENGINE_PROCESSOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/backoff.h"
#include "core/event.h"
#include "store/store.h"
#include "util/histogram.h"

struct processor;

/* Returns 0 (done, info filled), HQ_E_RETRY (transient) or any other
 * negative code (permanent); why holds the reason of a failure. */
typedef int (*processor_handle_fn)(void *ctx, const struct store_claimed *ev,
				   struct event_info *info, char *why, size_t why_size);

struct processor_options {
	const char *owner; /* lease owner: this node */
	size_t batch_max;
	unsigned concurrency; /* worker threads */
	uint64_t lease_ms;
	uint64_t poll_ms;
	struct backoff backoff;
	uint64_t retention_ms; /* 0: keep completed events */
	size_t max_body;       /* largest body handed to the handler */
	processor_handle_fn handle;
	void *handle_ctx;
	/* Called after a batch that created tasks is committed (the
	 * dispatcher's wake-up); NULL: none. */
	void (*tasks_created)(void *ctx);
	void *tasks_ctx;
};

struct processor_stats {
	uint64_t completed;
	uint64_t retried;
	uint64_t dead;
	uint64_t reclaimed;
	uint64_t purged;
	uint64_t store_errors;
	uint64_t tasks_created;
};

int processor_start(struct store *store, const struct processor_options *opt,
		    struct processor **ret);
/* Wakes the workers at once (new events were committed). Safe from any
 * thread, also as an ingest commit hook. */
void processor_wake(struct processor *p);
/* Lets each worker finish its batch, then stops them and frees p; the
 * final counts go to *stats when it is not NULL. */
void processor_stop(struct processor *p, struct processor_stats *stats);
void processor_get_stats(struct processor *p, struct processor_stats *ret);
/* Seconds from receipt to completion of the events this node completed. */
const struct histogram *processor_latency(struct processor *p);

#endif
