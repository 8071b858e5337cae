/* backend: what a store backend implements; store.c dispatches on the
 * database URL. Private to src/store/. */
#ifndef HOOKQ_STORE_BACKEND_H
#define HOOKQ_STORE_BACKEND_H

#include "store/store.h"

struct store_ops {
	void (*close)(struct store *s);
	int (*insert_events)(struct store *s, struct store_event_in *evs, size_t n,
			     struct store_error *err);
	int (*count_events)(struct store *s, struct store_event_counts *ret,
			    struct store_error *err);
	int (*schema_version)(struct store *s, int *ret, struct store_error *err);
	int (*claim_events)(struct store *s, const char *owner, int64_t now_ms, int64_t lease_ms,
			    size_t max, size_t max_body, struct store_claim *ret,
			    struct store_error *err);
	int (*finish_events)(struct store *s, const char *owner, const struct store_outcome *o,
			     size_t n, int64_t now_ms, size_t *applied, struct store_error *err);
	int (*reclaim_expired)(struct store *s, int64_t now_ms, size_t *reclaimed,
			       struct store_error *err);
	int (*next_due)(struct store *s, int64_t *ret, struct store_error *err);
	int (*retry_event)(struct store *s, int64_t id, const char *only, int64_t now_ms,
			   struct store_error *err);
	int (*retry_events)(struct store *s, const char *status, int64_t now_ms, int64_t after_id,
			    size_t limit, size_t *count, int64_t *last_id, struct store_error *err);
	int (*oldest_pending)(struct store *s, int64_t *ret, struct store_error *err);
	int (*purge_events)(struct store *s, const char *status, int64_t before_ms, size_t limit,
			    size_t *purged, struct store_error *err);
	int (*list_events)(struct store *s, const struct store_event_filter *f,
			   struct store_event_list *ret, struct store_error *err);
	int (*get_event)(struct store *s, int64_t id, size_t max_body,
			 struct store_event_detail *ret, struct store_error *err);
	int (*webhook_create)(struct store *s, const struct store_webhook *w, int64_t now_ms,
			      struct store_error *err);
	int (*webhook_update)(struct store *s, const char *id, const char *name,
			      const char *secret, int enabled, int64_t now_ms,
			      struct store_error *err);
	int (*webhook_delete)(struct store *s, const char *id, struct store_error *err);
	int (*webhook_peek)(struct store *s, const char *id, char *provider, size_t provider_size,
			    bool *enabled, char *secret, size_t secret_size, bool *has_secret,
			    struct store_error *err);
	int (*webhook_list)(struct store *s, const char *id, struct store_webhook **ret,
			    size_t *n, struct store_error *err);
	int (*webhook_command_put)(struct store *s, const char *webhook_id,
				   const struct store_webhook_command *c, bool create,
				   int64_t now_ms, struct store_error *err);
	int (*webhook_command_delete)(struct store *s, const char *webhook_id, const char *id,
				      struct store_error *err);
};

/* Tasks, flows, conversations and claims. */
struct store_task_ops {
	int (*create_tasks)(struct store *s, struct store_task_in *tasks, size_t n, int64_t now_ms,
			    struct store_error *err);
	int (*candidates)(struct store *s, const char *owner, int64_t now_ms, size_t limit,
			  bool single_queue, struct store_candidates *ret, struct store_error *err);
	int (*start)(struct store *s, int64_t id, const char *worker, const char *owner,
		     const char *host, const unsigned char *token_hash, int64_t now_ms,
		     int64_t lease_ms, int64_t claim_ttl_ms, struct store_task *ret,
		     struct store_error *err);
	int (*set_pid)(struct store *s, int64_t id, const char *owner, int attempt, int64_t pid,
		       int64_t pid_start, struct store_error *err);
	/* Fills *renewed with the held ids whose lease it renewed and
	 * *cancel with those among them whose cancellation was asked for
	 * (both malloc'd); store.c adds the held ids it did not renew. */
	int (*heartbeat)(struct store *s, const char *owner, const int64_t *held, size_t n,
			 int64_t now_ms, int64_t lease_ms, int64_t claim_ttl_ms, int64_t **cancel,
			 size_t *n_cancel, int64_t **renewed, size_t *n_renewed,
			 struct store_error *err);
	int (*finish)(struct store *s, int64_t id, const char *owner, const char *worker,
		      int attempt, const struct store_task_end *end, int64_t now_ms,
		      int64_t claim_ttl_ms, struct store_error *err);
	int (*reclaim)(struct store *s, int64_t now_ms, const int64_t *keep, size_t n_keep,
		       struct store_lost_task **ret, size_t *n, struct store_error *err);
	int (*cancel)(struct store *s, int64_t id, int64_t now_ms, bool *running,
		      struct store_error *err);
	int (*retry)(struct store *s, int64_t id, const char *only, int64_t now_ms,
		     struct store_error *err);
	int (*list)(struct store *s, const struct store_task_filter *f,
		    struct store_task_list *ret, struct store_error *err);
	int (*get)(struct store *s, int64_t id, struct store_task_detail *ret,
		   struct store_error *err);
	int (*by_token)(struct store *s, const unsigned char *token_hash, int64_t *id,
			struct store_error *err);
	int (*get_flow)(struct store *s, const char *flow_id, size_t max_tasks,
			struct store_flow *ret, struct store_error *err);
	int (*changed)(struct store *s, int64_t after_seq, size_t limit,
		       struct store_task_list *ret, struct store_error *err);
	int (*list_claims)(struct store *s, int64_t now_ms, struct store_claim_row **ret,
			   size_t *n, struct store_error *err);
	int (*count)(struct store *s, struct store_task_counts *ret, struct store_error *err);
	int (*next_due)(struct store *s, int64_t *ret, struct store_error *err);
};

/* The outbox. */
struct store_outbox_ops {
	int (*claim)(struct store *s, const char *owner, int64_t now_ms, int64_t lease_ms,
		     size_t max, struct store_outbox_item **ret, size_t *n,
		     struct store_error *err);
	int (*finish)(struct store *s, int64_t id, const char *owner,
		      const struct store_outbox_end *end, int64_t now_ms, struct store_error *err);
	int (*reclaim)(struct store *s, int64_t now_ms, size_t *n, struct store_error *err);
	int (*list)(struct store *s, const struct store_outbox_filter *f,
		    struct store_outbox_list *ret, struct store_error *err);
	int (*retry)(struct store *s, int64_t id, int64_t now_ms, struct store_error *err);
	int (*count)(struct store *s, struct store_outbox_counts *ret, struct store_error *err);
	int (*next_due)(struct store *s, int64_t *ret, struct store_error *err);
	int (*purge)(struct store *s, int64_t before_ms, size_t limit, size_t *purged,
		     struct store_error *err);
	int (*write)(struct store *s, int64_t task_id, int run, const struct store_outbox_in *in,
		     size_t n, int64_t now_ms, struct store_error *err);
};

/* Nodes (sqlite_node.c, postgres_node.c). */
struct store_node_ops {
	int (*beat)(struct store *s, const struct store_node *n, int64_t now_ms,
		    bool *was_rescued, struct store_error *err);
	int (*stop)(struct store *s, const char *id, int64_t now_ms, struct store_error *err);
	int (*rescue)(struct store *s, const char *by, int64_t now_ms, int64_t timeout_ms,
		      char ***ids, size_t *n, struct store_error *err);
	int (*list)(struct store *s, struct store_node **ret, size_t *n,
		    struct store_error *err);
	/* NULL: nothing to listen for. */
	int (*listen)(struct store *s, void (*fn)(void *ctx, unsigned what), void *ctx,
		      struct store_error *err);
};

/* The rescue's statements, the same on both backends but for their
 * parameters: ?1 / $1 the dead node, ?2 / $2 now. A lease owner is the
 * node id, or the node id, '/' and the worker. */
/* Ended nodes are forgotten after a day. */
#define STORE_NODE_RETENTION_MS (24LL * 3600 * 1000)
#define STORE_NODE_COLUMNS "id, host, version, pid, started_at, heartbeat_at, ended_at, ended_by"
#define STORE_RESCUE_OWNED(p1) "substr(lease_owner, 1, length(" p1 ") + 1) = " p1 " || '/'"

/* A claim (alias c) held by another node that still runs: owner is the
 * parameter holding the asking node's id. A stopped node's claims are
 * nobody's: any node may use them by worker name, so a restarted node
 * keeps the projects its previous life claimed (its id is new). */
#define STORE_CLAIM_ELSEWHERE(owner)                                                     \
	"(c.node <> " owner " AND EXISTS (SELECT 1 FROM nodes n WHERE n.id = c.node"       \
	" AND n.ended_at IS NULL))"

struct store {
	const struct store_ops *ops;
	const struct store_task_ops *task_ops;
	const struct store_outbox_ops *outbox_ops;
	const struct store_node_ops *node_ops;
};

int store_sqlite_open(const char *path, const struct store_options *opt,
		      struct store **ret, struct store_error *err);

/* The PostgreSQL backend: url is a libpq connection URL
 * (postgresql://user@host:port/db); it is never put in an error message
 * with its password. */
int store_postgres_open(const char *url, const struct store_options *opt,
			struct store **ret, struct store_error *err);

/* What both backends share. */

/* The last_error of an event whose lease expired. */
#define STORE_LEASE_EXPIRED "lease expired: the processor stopped or stalled"

/* The columns of a struct store_event_row, in the order both backends
 * read them (length(body) is the stored size on both), for a query that
 * joins events with event_bodies. */
#define STORE_EVENT_ROW_COLUMNS STORE_EVENT_ROW_COLUMNS_SIZED("length(body)")
/* The same with the stored body's size from another expression (a
 * subquery on event_bodies, where the query reads events alone). */
#define STORE_EVENT_ROW_COLUMNS_SIZED(body_size)                                            \
	"id, provider, route, delivery_id, event_type, action, repository, sender, status,"  \
	" attempts, max_attempts, received_at, updated_at, next_attempt_at, completed_at,"    \
	" lease_owner, lease_expires_at, last_error, duplicates, " body_size ", routing"
#define STORE_EVENT_ROW_NCOLS 21

/* The columns of a struct store_task (prompt and output aside), in the
 * order both backends read them, from tasks t joined with flows f. */
#define STORE_TASK_ROW_COLUMNS                                                                  \
	"t.id, t.origin, t.event_id, t.parent_id, t.flow_id, t.conversation_id, f.external_id," \
	" t.route, t.command, t.agent, t.pool, t.project, t.title, t.metadata, t.status,"      \
	" t.priority, t.attempts, t.max_attempts, t.retry_base, t.worker, t.lease_owner,"       \
	" t.lease_expires_at, t.cancel_requested, t.exit_code, t.error, t.output_bytes,"        \
	" t.created_at, t.updated_at, t.next_attempt_at, t.started_at, t.finished_at,"          \
	" t.change_seq"
#define STORE_TASK_ROW_NCOLS 32

/* The error of a running task whose lease expired. */
#define STORE_TASK_LOST "lost: its lease expired (the node running it died or stalled)"

/* A new random conversation id ("conv-" + 16 hex). */
int store_conversation_id(char out[STORE_CONVERSATION_ID_MAX], struct store_error *err);

/* ids as a list between open and close ("[1,2]" for SQLite's json_each,
 * "{1,2}" for a PostgreSQL array), malloc'd; NULL when out of memory. */
char *store_id_list(const int64_t *ids, size_t n, char open, char close);

/* A task a reclaim rescued, as the writes after it need it (its attempt,
 * its conversation's metrics, its claim: project, worker and node; SQLite
 * releases the claims before the rescue and leaves those two unset). */
struct store_lost_row {
	int64_t id;
	char status[16];
	char conv[STORE_CONVERSATION_ID_MAX];
	int attempt;
	char *worker, *project, *node;
	int64_t started;
};

/* Sets the field of c that counts tasks in status to count. */
void store_task_counts_set(struct store_task_counts *c, const char *status, int64_t count);

/* Decodes a body copied out of a row in place (zstd: stored as a
 * Zstandard frame). One that cannot be decoded or is over max_body is
 * dropped (*body NULL); the return value says why. */
int store_body_decode(char **body, size_t *body_len, bool zstd, size_t max_body);

/* Ends a backend's get_event once its connection is free: with r 0,
 * decodes d's body (or says in body_error why it is left out) and hands d
 * to *ret; otherwise releases d. Returns r. */
int store_event_detail_done(struct store_event_detail *d, int r, bool zstd, size_t max_body,
			    struct store_event_detail *ret);

/* Why a replay of event id changed nothing: HQ_E_NOTFOUND when it does
 * not exist, else HQ_E_CONFLICT (it is not in state only, or not a dead
 * letter or completed), with the message. */
int store_retry_refused(int64_t id, const char *only, bool exists, struct store_error *err);

/* Adds one status's row of "count per status" to c. */
void store_counts_add(struct store_event_counts *c, const char *status, int64_t count,
		      int64_t duplicates);

/* The columns of a struct store_outbox_item, in the order both backends
 * read them (item_row() in sqlite_outbox.c, pg_outbox_row() in
 * postgres_outbox.c). */
#define STORE_OUTBOX_ITEM_COLUMNS                                                            \
	"id, task_id, origin, kind, target, body, status, last_error, result, attempts,"   \
	" max_attempts, uncertain, next_attempt_at, lease_expires_at, created_at, updated_at," \
	" sent_at"

/* The last_error of a reply whose sender's lease expired. */
#define STORE_OUTBOX_LEASE_EXPIRED "the sender stopped while sending (it may have been received)"

/* The outcome of a finish as both backends' statements spell it. */
extern const char *const store_outbox_outcome_names[3];

/* The origin of reply name of run `run` of task task_id
 * ("task:<id>:<run>:<name>"). HQ_E_TOOBIG when it does not fit. */
int store_outbox_task_origin(char *out, size_t size, int64_t task_id, int run,
			     const char *name, struct store_error *err);

/* Why an operator retry of reply id changed nothing: HQ_E_NOTFOUND when
 * it does not exist, else HQ_E_CONFLICT (it is not dead), with the
 * message. */
int store_outbox_retry_refused(int64_t id, bool exists, struct store_error *err);

/* Why a finish of reply id changed nothing (HQ_E_CONFLICT). */
int store_outbox_not_owner(int64_t id, struct store_error *err);

/* Adds one status's row of "count per status" to c. */
void store_outbox_counts_add(struct store_outbox_counts *c, const char *status, int64_t count);

void store_error_set(struct store_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
