/* dispatcher: runs queued tasks on a pool of named workers, one task per
 * worker at a time. A dispatcher thread renews the leases of this node's
 * running tasks, rescues those whose node died (ending the process groups
 * they left), and assigns due tasks: to the worker holding a live claim on
 * the task's project, else to the least loaded idle worker (fewest live
 * claims, ties in pool order). Each worker thread starts its agent through
 * engine/runner and records how it ended; failures are retried by the
 * agent's policy. */
#ifndef HOOKQ_ENGINE_DISPATCHER_H
#define HOOKQ_ENGINE_DISPATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/agent.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/histogram.h"

struct dispatcher;
struct taskfiles;
struct workspace_options;
struct replies_options;

struct dispatcher_options {
	const char *owner; /* this node: the lease owner of its tasks */
	const char *host;  /* where its processes run, for recovery */
	const char *const *workers;    /* the main pool, NULL-terminated, non-empty */
	const char *const *ci_workers; /* test tasks; NULL or empty: the main pool */
	const struct agent_table *agents;
	uint64_t lease_ms;
	uint64_t claim_ttl_ms; /* 0: no claims */
	bool single_queue;     /* at most one running task per project */
	uint64_t poll_ms;
	uint64_t shutdown_grace_ms;
	size_t max_event_bytes; /* largest event written to HOOKQ_EVENT_FILE */
	const char *run_dir;	/* event files go here (created 0700) */
	const char *api_url;	/* HOOKQ_API_URL for agents; NULL: not set */
	/* Task files for Claude Code (NULL: none); synced by the dispatcher
	 * thread, which owns it. */
	struct taskfiles *taskfiles;
	/* Checkouts for agents with workspace: true (NULL: such tasks
	 * dead-letter, saying why). */
	const struct workspace_options *workspace;
	/* What a task's end says back; NULL: nothing. */
	const struct replies_options *replies;
	/* Called after an end wrote replies (the outbox's wake-up). */
	void (*wrote_replies)(void *ctx);
	void *replies_ctx;
};

struct dispatcher_stats {
	uint64_t started, succeeded, failed, timed_out, cancelled, retried, interrupted;
	uint64_t dead, lost, store_errors;
};

int dispatcher_start(struct store *store, const struct dispatcher_options *opt,
		     struct dispatcher **ret, char *err, size_t err_size);
/* New tasks may be due: assign at once. Safe from any thread. */
void dispatcher_wake(struct dispatcher *d);
/* Looks for lost tasks at once (another node was found dead), instead of
 * at the next periodic look. Safe from any thread; d may be NULL. */
void dispatcher_rescue_now(struct dispatcher *d);
/* A running task's cancellation was asked for on another node: renews
 * the leases at once, which reads the cancel marks of the tasks held here.
 * Safe from any thread; d may be NULL. */
void dispatcher_check_cancels(struct dispatcher *d);
/* Ends task id if it runs on this node (true), as a cancellation. */
bool dispatcher_cancel(struct dispatcher *d, int64_t id);
/* Stops assigning, lets running agents finish for shutdown_grace (leases
 * still renewed), then ends them and queues their tasks again without
 * counting the attempt; its threads are joined. The dispatcher stays
 * usable (wake, cancel, stats answer) until dispatcher_free. */
void dispatcher_stop(struct dispatcher *d, struct dispatcher_stats *stats);
void dispatcher_free(struct dispatcher *d);
void dispatcher_get_stats(struct dispatcher *d, struct dispatcher_stats *ret);
/* Queued-to-started latency of the tasks this node started. */
const struct histogram *dispatcher_latency(struct dispatcher *d);

/* The workers as JSON text: name, pools, state, current task and since
 * when, and the live claims each holds. */
int dispatcher_workers_json(struct dispatcher *d, int64_t now_ms, char **ret);
/* Idle and busy worker counts. */
void dispatcher_load(struct dispatcher *d, size_t *busy, size_t *total);

#endif
