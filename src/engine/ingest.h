/* ingest: group commit for accepted webhooks. Sources hand verified events
 * to one committer thread, which stores everything that arrived while the
 * previous transaction was committing in a single transaction (one fsync),
 * then calls each request's done() with its result. */
#ifndef HOOKQ_ENGINE_INGEST_H
#define HOOKQ_ENGINE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/buf.h"

struct ingest;
struct ingest_req;

typedef void (*ingest_done_fn)(struct ingest_req *req);

struct ingest_req {
	struct store_event_in ev; /* ev.id, ev.duplicate, ev.result on done */
	ingest_done_fn done;	  /* called once, from the committer thread */
	void *ctx;
	struct ingest_req *next;
	struct buf packed; /* the compressed body, owned by the request */
};

struct ingest_stats {
	uint64_t batches;
	uint64_t events;
	uint64_t failures;
};

struct ingest_options {
	size_t batch_max; /* most events per transaction */
	size_t queue_max; /* most events waiting; beyond it HQ_E_OVERLOAD */
	int zstd_level;	  /* compress bodies with this zstd level; 0: never */
	int max_attempts; /* for events that do not set their own */
	/* Called on the committer thread after each transaction that stored
	 * new events (the processor's wake-up); may be NULL. */
	void (*on_commit)(void *ctx);
	void *on_commit_ctx;
};

int ingest_start(struct store *store, const struct ingest_options *opt,
		 struct ingest **ret);
/* Compresses the body (in the caller's thread, so HTTP threads share that
 * work) and queues req; on success done() will be called exactly once. On
 * failure (HQ_E_OVERLOAD, HQ_E_SHUTDOWN) done() is never called. Either
 * way the caller releases req with ingest_req_release() when done. */
int ingest_submit(struct ingest *in, struct ingest_req *req);
void ingest_req_release(struct ingest_req *req);
/* Stores what is queued, then stops the committer. */
void ingest_stop(struct ingest *in);
void ingest_get_stats(struct ingest *in, struct ingest_stats *ret);

#endif
