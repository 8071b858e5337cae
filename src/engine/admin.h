/* admin: the operator's API over events (list, show, replay, purge) as
 * method + path + parameters in, status + JSON document out. The HTTP
 * source serves it under /api/ and the CLI calls it directly on a
 * database (--db), so both give the same documents and the same errors. */
#ifndef HOOKQ_ENGINE_ADMIN_H
#define HOOKQ_ENGINE_ADMIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/agent.h"
#include "store/store.h"

#define ADMIN_LIST_DEFAULT 50
#define ADMIN_LIST_MAX 1000
/* Purges and bulk replays change this many events per transaction, so
 * webhooks waiting to commit never wait for a long one. */
#define ADMIN_BATCH 1000
#define ADMIN_MESSAGE_MAX 256

struct admin {
	struct store *store;
	size_t max_body; /* the largest payload GET /api/events/{id} decodes */
	/* Called after events were queued again (a running processor
	 * claims them at once instead of at its next poll); may be NULL. */
	void (*wake)(void *ctx);
	void *wake_ctx;
	/* When set and true, purges and bulk replays stop between batches
	 * (shutdown) and say how far they got; may be NULL. */
	const atomic_bool *cancel;
	/* The providers a dynamic webhook may name (NULL-terminated). */
	const char *const *providers;

	/* Tasks. The agents tasks may name (NULL: any name is taken) and the
	 * one used when a request names none. */
	const struct agent_table *agents;
	const char *default_agent;
	/* A running server's dispatcher, NULL on a bare database (the CLI's
	 * --db): wakes it for new or requeued tasks, ends a task running on
	 * this node at once, and describes the workers. */
	void (*wake_tasks)(void *ctx);
	bool (*cancel_task)(void *ctx, int64_t id);
	int (*workers_json)(void *ctx, int64_t now_ms, char **ret);
	void *tasks_ctx;
};

/* One admin API request. */
struct admin_request {
	const char *method, *path;
	const struct admin_param *params;
	size_t n_params;
	const char *body; /* JSON for the endpoints that take one, or NULL */
	size_t body_len;
	/* A running task's HOOKQ_TASK_TOKEN (Authorization: Bearer), which
	 * authorizes POST /api/tasks only; NULL for an operator. */
	const char *task_token;
};

/* One query parameter, as received (already percent-decoded). */
struct admin_param {
	const char *name;
	const char *value;
};

struct admin_reply {
	unsigned status; /* HTTP status */
	char *body;	 /* 2xx: the JSON document (malloc'd) */
	/* Otherwise: the error code and a message naming the problem, and
	 * for 405 the methods allowed. */
	const char *code;
	const char *allow;
	char message[ADMIN_MESSAGE_MAX];
	/* For the log only, never for the client: why the store failed. */
	char detail[STORE_ERROR_MAX + 64];
};

/* Answers GET /api/events, GET /api/events/{id},
 * POST /api/events/{id}/retry, POST /api/events/retry,
 * POST /api/events/purge, the dynamic webhooks under /api/webhooks, and
 * tasks, flows, workers and test events (admin_task.c), and the outbox
 * (admin_outbox.c). Returns 0 when
 * out holds an answer (a success
 * or an error to send), < 0 only when none could be made (out of
 * memory). Release out with admin_reply_release(). */
int admin_handle(const struct admin *a, const struct admin_request *req, int64_t now_ms,
		 struct admin_reply *out);
void admin_reply_release(struct admin_reply *r);

/* The task endpoints: /api/tasks..., /api/flows/..., /api/workers,
 * /api/test. Returns 1 when path is none of them. */
int admin_task_handle(const struct admin *a, const struct admin_request *req, int64_t now_ms,
		      struct admin_reply *out);

/* The outbox endpoints (admin_outbox.c): GET /api/outbox,
 * GET /api/outbox/{id}, POST /api/outbox/{id}/retry. Returns 1 when path
 * is none of them. */
int admin_outbox_handle(const struct admin *a, const struct admin_request *req, int64_t now_ms,
			struct admin_reply *out);

/* The tokens the API takes in paths and filters (flow ids, cursors,
 * provider names): 1..64 of [a-z0-9_-]. Public so that the CLI checks an
 * argument the way the API will. */
bool admin_token_valid(const char *s);

#endif
