/* ingest: group commit for accepted webhooks. Sources hand verified events
 * to one committer thread, which stores everything that arrived while the
 * previous transaction was committing in a single transaction (one fsync),
 * then calls each request's done() with its result. */
#ifndef HOOKQ_ENGINE_INGEST_H
#define HOOKQ_ENGINE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct ingest;
struct ingest_req;

typedef void (*ingest_done_fn)(struct ingest_req *req);

struct ingest_req {
	struct store_event_in ev; /* ev.id, ev.duplicate, ev.result on done */
	ingest_done_fn done;	  /* called once, from the committer thread */
	void *ctx;
	struct ingest_req *next;
};

struct ingest_stats {
	uint64_t batches;
	uint64_t events;
	uint64_t failures;
};

/* batch_max: most events per transaction; queue_max: most events waiting
 * (submissions beyond it fail with HQ_E_OVERLOAD). */
int ingest_start(struct store *store, size_t batch_max, size_t queue_max,
		 struct ingest **ret);
/* Queues req; on success done() will be called exactly once. On failure
 * (HQ_E_OVERLOAD, HQ_E_SHUTDOWN) done() is never called. */
int ingest_submit(struct ingest *in, struct ingest_req *req);
/* Stores what is queued, then stops the committer. */
void ingest_stop(struct ingest *in);
void ingest_get_stats(struct ingest *in, struct ingest_stats *ret);

#endif
