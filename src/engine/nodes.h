/* nodes: this node's heartbeat in the store, and the rescue of nodes that
 * stopped beating. A thread records the heartbeat every third of the node
 * timeout; each time it also looks for nodes silent for longer than the
 * timeout, ends their leases (events, tasks, replies) and drops their
 * project claims through the store, reclaims the events and replies at
 * once and calls `rescued` so the dispatcher takes the tasks up at once.
 * A node stalled for longer than the timeout learns at its next beat that
 * its work was taken from it, and says so. After a failed beat (most
 * likely the database was out of reach for every node) it finds nobody
 * dead before it has beaten again for a whole timeout plus
 * STORE_RECOVERY_SLACK_MS (the others' reconnect backoff and retry), and
 * it tries a failed beat again after a second. */
#ifndef HOOKQ_ENGINE_NODES_H
#define HOOKQ_ENGINE_NODES_H

#include <stdint.h>

#include "store/store.h"

struct nodes;

struct nodes_options {
	const char *id; /* this node: the lease owner */
	const char *host, *version;
	int64_t pid;
	uint64_t timeout_ms;
	/* Called on the nodes thread after a rescue; may be NULL. */
	void (*rescued)(void *ctx);
	void *rescued_ctx;
};

struct nodes_stats {
	uint64_t beats, rescued, store_errors;
};

/* Records the first heartbeat (an error here is an error to start) and
 * starts the thread. */
int nodes_start(struct store *store, const struct nodes_options *opt, struct nodes **ret,
		struct store_error *err);
/* Stops the thread, records this node stopped cleanly, and frees. */
void nodes_stop(struct nodes *n, struct nodes_stats *stats);

#endif
