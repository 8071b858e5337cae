/* store: the only door to persistence. Callers see plain structs; which
 * backend holds the rows (SQLite today) is chosen by the database URL and
 * never leaks out of src/store/. Functions are safe to call from several
 * threads; writes are serialized inside the backend. */
#ifndef HOOKQ_STORE_STORE_H
#define HOOKQ_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

enum store_sync { STORE_SYNC_OFF, STORE_SYNC_NORMAL, STORE_SYNC_FULL, STORE_SYNC_EXTRA };

struct store_options {
	enum store_sync synchronous;
	uint64_t busy_timeout_ms;
};

/* The longest a backend waits before it tries to reach its database
 * again after a failure (PostgreSQL's reconnect backoff cap). After an
 * outage another node may need that long, plus its own retry interval
 * (STORE_RETRY_AFTER_FAILURE_MS at most), before it is heard from again. */
#define STORE_RECONNECT_MAX_MS 5000
#define STORE_RETRY_AFTER_FAILURE_MS 1000
/* How much longer than a timeout a node waits after a failure before it
 * takes anyone's silence for death. */
#define STORE_RECOVERY_SLACK_MS (STORE_RECONNECT_MAX_MS + STORE_RETRY_AFTER_FAILURE_MS)

#define STORE_ERROR_MAX 256
struct store_error {
	char msg[STORE_ERROR_MAX];
};

/* One webhook to store. The result fields are written by
 * store_insert_events(): id of the row, and whether it already existed. */
struct store_event_in {
	const char *provider;
	const char *route;
	const char *delivery_id;
	const char *event_type;
	const char *headers_json;
	const void *body;
	size_t body_len;
	const char *body_encoding; /* "zstd", or NULL for the bytes as received */
	int64_t received_at_ms;
	int max_attempts;

	int64_t id;
	bool duplicate;
	int result; /* 0, or the error that kept this one event out */
};

struct store_event_counts {
	int64_t pending, processing, completed, dead_letter;
	int64_t duplicates;
};

/* An event claimed for processing, body decoded to the bytes received. */
struct store_claimed {
	int64_t id;
	char *provider;
	char *route;
	char *delivery_id;
	char *event_type;
	char *headers_json;
	char *body;
	size_t body_len;
	int attempts; /* including this one */
	int max_attempts;
	int64_t received_at_ms;
};

struct store_claim {
	struct store_claimed *events;
	size_t n;
};

void store_claim_release(struct store_claim *c);

struct store_task_in;

/* A reply to send through the outbox, written with the change that
 * causes it. Attached to a task, name makes it unique within the task's
 * run ("eyes", "comment"): a second write of the same reply finds the
 * first. */
struct store_outbox_in {
	const char *name;
	const char *kind; /* reaction, comment, slack_reply, jira_comment, output_message */
	const char *target_json, *body_json;
	int max_attempts;
};

enum store_outcome_kind {
	STORE_OUTCOME_DONE,  /* completed */
	STORE_OUTCOME_RETRY, /* pending again at next_attempt_at, or dead
				letter when its attempts are used up */
	STORE_OUTCOME_DEAD,  /* dead letter now: retrying cannot help */
};

struct store_outcome {
	int64_t id;
	enum store_outcome_kind kind;
	int64_t next_attempt_at_ms; /* RETRY */
	const char *error;	    /* RETRY, DEAD: the reason, kept in last_error */
	/* DONE: what processing learned; NULL leaves a field as it was */
	const char *action;
	const char *repository;
	const char *sender;
	const char *routing; /* JSON: what routing decided */
	/* DONE: the tasks routing asked for, created in the same
	 * transaction (once: their origins are unique). */
	struct store_task_in *tasks;
	size_t n_tasks;
	/* Storage the caller keeps for the tasks' replies (freed with it). */
	struct store_outbox_in *replies;
};

/* Writes url to out with any password replaced by "***"
 * ("postgres://app:***@db/hookq"); paths come out unchanged. */
void store_url_redact(const char *url, char *out, size_t size);

/* Opens (creating if needed) the database named by url and applies the
 * pending migrations. */
int store_open(const char *url, const struct store_options *opt, struct store **ret,
	       struct store_error *err);
void store_close(struct store *s);

/* Stores n events in one transaction (one fsync): a redelivery of a known
 * (provider, route, delivery_id) marks the event duplicate, counts it, and
 * yields the original id. When the transaction as a whole cannot commit,
 * every event gets the error; when one event is refused, the others still
 * commit. Returns 0 when every event was stored or found. */
int store_insert_events(struct store *s, struct store_event_in *evs, size_t n,
			struct store_error *err);

int store_count_events(struct store *s, struct store_event_counts *ret,
		       struct store_error *err);

/* Claims up to max pending events that are due at now_ms, oldest due
 * first: each becomes 'processing' under a lease held by owner until
 * now_ms + lease_ms, with its attempt counted. Bodies larger than
 * max_body once decoded are not returned decoded: such an event is
 * returned with body NULL (the caller dead-letters it). */
int store_claim_events(struct store *s, const char *owner, int64_t now_ms,
		       int64_t lease_ms, size_t max, size_t max_body, struct store_claim *ret,
		       struct store_error *err);

/* Records n outcomes in one transaction. Only events still leased by
 * owner change: an event whose lease expired and went to someone else is
 * left alone (*applied counts the ones that changed). */
int store_finish_events(struct store *s, const char *owner, const struct store_outcome *o,
			size_t n, int64_t now_ms, size_t *applied, struct store_error *err);

/* Events whose lease expired by now_ms (their processor died or stalled)
 * go back to pending, due at once, or to dead letter when their attempts
 * are used up. */
int store_reclaim_expired(struct store *s, int64_t now_ms, size_t *reclaimed,
			  struct store_error *err);

/* Puts an event back to pending, due at now_ms, with its full number of
 * attempts granted again (attempts keeps counting, last_error and the
 * history are kept). Only a dead letter or a completed event, or with only
 * set, only an event in that state. HQ_E_NOTFOUND when there is no such
 * event, HQ_E_CONFLICT when it is in another state. */
int store_retry_event(struct store *s, int64_t id, const char *only, int64_t now_ms,
		      struct store_error *err);
/* The same for up to limit events in status ("dead_letter" or
 * "completed") with ids above after_id, lowest first. *count says how many,
 * *last_id the highest: call again with after_id = *last_id until *count <
 * limit. Keyset, so an event processed again meanwhile is not replayed
 * twice, and each call is one short transaction. */
int store_retry_events(struct store *s, const char *status, int64_t now_ms, int64_t after_id,
		       size_t limit, size_t *count, int64_t *last_id, struct store_error *err);

/* When the oldest pending event was received (INT64_MAX when none is). */
int store_oldest_pending(struct store *s, int64_t *ret, struct store_error *err);

/* When the earliest pending event is due (INT64_MAX when none is). */
int store_next_due(struct store *s, int64_t *ret, struct store_error *err);

/* Deletes up to limit events in status ("completed" or "dead_letter")
 * that reached it before before_ms, with their attempts. HQ_E_INVAL for
 * any other status: pending and processing events are never purged. */
int store_purge_events(struct store *s, const char *status, int64_t before_ms, size_t limit,
		       size_t *purged, struct store_error *err);

/* One event as operators see it: everything but headers and body. Times
 * are ms since the epoch, 0 when not set. */
struct store_event_row {
	int64_t id;
	char *provider, *route, *delivery_id, *event_type;
	char *action, *repository, *sender; /* NULL until processing learns them */
	char *status;
	int attempts, max_attempts;
	int64_t received_at_ms, updated_at_ms, next_attempt_at_ms, completed_at_ms;
	char *lease_owner; /* processing only */
	int64_t lease_expires_at_ms;
	char *last_error; /* NULL when none */
	int64_t duplicates;
	int64_t body_bytes; /* as stored (compressed or not) */
	char *routing;	    /* JSON of the routing decision, or NULL */
};

/* Which events to list, newest first. NULL fields match anything. */
struct store_event_filter {
	const char *status;
	const char *provider;
	int64_t before_id; /* keyset cursor: only ids below it; 0 from the newest */
	size_t limit;
};

struct store_event_list {
	struct store_event_row *rows;
	size_t n;
	bool more; /* a further page exists: ask again with before_id = last id */
};

int store_list_events(struct store *s, const struct store_event_filter *f,
		      struct store_event_list *ret, struct store_error *err);
void store_event_list_release(struct store_event_list *l);

/* One attempt that did not complete its event. */
struct store_attempt {
	int attempt;
	int64_t started_at_ms, finished_at_ms;
	char *worker;  /* the lease owner that held it */
	char *outcome; /* "pending" (to be retried) or "dead_letter" */
	char *error;
};

struct store_event_detail {
	struct store_event_row row;
	char *headers_json;
	/* The body as received, or NULL when it is over the max_body asked
	 * for or cannot be decoded (body_error says which). */
	char *body;
	size_t body_len;
	const char *body_error;
	struct store_attempt *attempts; /* oldest first */
	size_t n_attempts;
};

/* One event with its headers, decoded body and failed attempts.
 * HQ_E_NOTFOUND when there is no such event. */
int store_get_event(struct store *s, int64_t id, size_t max_body,
		    struct store_event_detail *ret, struct store_error *err);
void store_event_detail_release(struct store_event_detail *d);

/* Dynamic routes. Ids are chosen by the caller ("wh_...", "cmd_..."). */
#define STORE_WEBHOOK_ID_MAX 64

struct store_webhook_command {
	char id[STORE_WEBHOOK_ID_MAX];
	char *trigger;
	char *action; /* create_task, comment, ignore */
	char *agent, *template_text, *conditions_json; /* NULL when not set */
	int64_t priority;
	int64_t created_at_ms, updated_at_ms;
};

struct store_webhook {
	char id[STORE_WEBHOOK_ID_MAX];
	char *provider, *name;
	char *secret; /* NULL: none (unsigned deliveries, dev mode only) */
	bool enabled;
	int64_t created_at_ms, updated_at_ms;
	struct store_webhook_command *commands; /* by priority, then creation */
	size_t n_commands;
};

int store_webhook_create(struct store *s, const struct store_webhook *w, int64_t now_ms,
			 struct store_error *err);
/* Changes what is given (NULL / enabled < 0 keep the value). HQ_E_NOTFOUND. */
int store_webhook_update(struct store *s, const char *id, const char *name, const char *secret,
			 int enabled, int64_t now_ms, struct store_error *err);
int store_webhook_delete(struct store *s, const char *id, struct store_error *err);
/* One webhook with its commands. HQ_E_NOTFOUND. */
int store_webhook_get(struct store *s, const char *id, struct store_webhook *ret,
		      struct store_error *err);
/* What a delivery needs of a webhook, without its commands: provider,
 * whether it is enabled, and its secret (copied into secret, "" when it
 * has none; *has_secret tells). HQ_E_NOTFOUND, HQ_E_TOOBIG when the
 * secret does not fit. */
int store_webhook_peek(struct store *s, const char *id, char *provider, size_t provider_size,
		       bool *enabled, char *secret, size_t secret_size, bool *has_secret,
		       struct store_error *err);
/* Every webhook, with its commands, oldest first. */
int store_webhook_list(struct store *s, struct store_webhook **ret, size_t *n,
		       struct store_error *err);
void store_webhook_release(struct store_webhook *w);
void store_webhook_list_release(struct store_webhook *list, size_t n);
/* Adds (create) or replaces a command. HQ_E_NOTFOUND when the webhook (or,
 * replacing, the command) does not exist. */
int store_webhook_command_put(struct store *s, const char *webhook_id,
			      const struct store_webhook_command *c, bool create, int64_t now_ms,
			      struct store_error *err);
int store_webhook_command_delete(struct store *s, const char *webhook_id, const char *id,
				 struct store_error *err);

/* Tasks: agent runs made from routed events or over the API. */
#define STORE_FLOW_ID_MAX 24	     /* "flow-" + 12 hex, NUL */
#define STORE_CONVERSATION_ID_MAX 24 /* "conv-" + 16 hex, NUL */

/* A task to create. flow_id/external_id place it (a parent's flow and
 * conversation win when parent_id is set); new_conversation starts a
 * conversation in its flow. The result fields are written on success. */
struct store_task_in {
	const char *origin; /* unique; a second create with it finds the first */
	int64_t event_id;   /* 0: none */
	int64_t parent_id;  /* 0: none */
	const char *flow_id, *external_id;
	bool new_conversation;
	const char *route, *command; /* NULL when not routed */
	const char *agent;
	const char *pool;    /* "main" or "ci" */
	const char *project; /* NULL: none */
	const char *title, *prompt;
	const char *metadata_json; /* NULL: {} */
	int priority;
	int max_attempts;
	/* Replies the creation causes (a reaction on the comment that asked):
	 * made only when the task is new. */
	const struct store_outbox_in *outbox;
	size_t n_outbox;

	int64_t id;
	bool duplicate;
	char ret_flow_id[STORE_FLOW_ID_MAX];
	char ret_conversation_id[STORE_CONVERSATION_ID_MAX];
};

/* Creates n tasks in one transaction. HQ_E_NOTFOUND when a parent does
 * not exist (nothing is created). */
int store_create_tasks(struct store *s, struct store_task_in *tasks, size_t n, int64_t now_ms,
		       struct store_error *err);

/* A queued task the dispatcher may start, with what assignment needs. */
struct store_task_candidate {
	int64_t id;
	char *agent, *pool, *project; /* project NULL: none */
	/* The worker of the asking node (or of a stopped node) whose live
	 * claim holds its project, or NULL. */
	char *claim_worker;
	int64_t running_in_project;   /* tasks of its project running now */
};

struct store_candidates {
	struct store_task_candidate *tasks;
	size_t n;
	/* Live claims per worker (the pool's load) of the asking node (and
	 * of stopped nodes): names and counts. */
	char **load_worker;
	int64_t *load;
	size_t n_load;
};

/* Up to limit queued tasks due at now_ms that node owner could start now,
 * by priority then age. A claim belongs to a node and a worker (names
 * repeat across nodes). Left out: those whose project's live claim is
 * held by another node that still runs (that node runs them; a dead
 * node's claims go with the nodes rescue), or by a worker running a task,
 * and with single_queue those whose project has a task running (so
 * blocked tasks never fill the window). A stopped node's live claims
 * count as owner's, by worker name: a restarted node has a new id. */
int store_task_candidates(struct store *s, const char *owner, int64_t now_ms, size_t limit,
			  bool single_queue, struct store_candidates *ret, struct store_error *err);
void store_candidates_release(struct store_candidates *c);

/* One task as operators and agents see it. */
struct store_task {
	int64_t id, event_id, parent_id; /* 0: none */
	char *origin;
	char flow_id[STORE_FLOW_ID_MAX];
	char conversation_id[STORE_CONVERSATION_ID_MAX];
	char *external_id;
	char *route, *command; /* NULL when none */
	char *agent, *pool, *project, *title, *prompt, *metadata_json;
	char *status;
	int priority, attempts, max_attempts, retry_base;
	char *worker, *lease_owner; /* NULL when none */
	int64_t lease_expires_at_ms;
	bool cancel_requested;
	bool has_exit_code;
	int exit_code;
	char *error, *output; /* NULL when none */
	int64_t output_bytes;
	int64_t created_at_ms, updated_at_ms, next_attempt_at_ms, started_at_ms, finished_at_ms;
	int64_t change_seq; /* grows with every change followers see */
};
void store_task_release(struct store_task *t);

/* Starts queued task id on worker for node owner: running under a lease
 * until now_ms + lease_ms, its attempt counted, token_hash (32 bytes)
 * recorded, its project claimed for worker until the lease ends plus
 * claim_ttl_ms (no claim when claim_ttl_ms is 0). Fills ret.
 * HQ_E_CONFLICT when the task is no longer queued (another node took it,
 * or it was cancelled). */
int store_task_start(struct store *s, int64_t id, const char *worker, const char *owner,
		     const char *host, const unsigned char *token_hash, int64_t now_ms,
		     int64_t lease_ms, int64_t claim_ttl_ms, struct store_task *ret,
		     struct store_error *err);

/* Records the process group of attempt `attempt` of a running task (for
 * recovery after a crash): pid and its leader's start time.
 * HQ_E_CONFLICT when owner no longer runs that attempt. */
int store_task_set_pid(struct store *s, int64_t id, const char *owner, int attempt,
		       int64_t pid, int64_t pid_start, struct store_error *err);

/* Extends the leases of the n tasks of held that owner runs (and their
 * claims) to now_ms + lease_ms (+ claim_ttl_ms): a task no worker holds any
 * more is left to expire and be rescued. Fills *cancel with the ids among
 * them to end here (malloc'd; *n_cancel of them): those whose cancellation
 * was asked for, and those owner no longer runs (its lease ended and the
 * task was rescued, by another node that found this one dead). */
int store_task_heartbeat(struct store *s, const char *owner, const int64_t *held, size_t n,
			 int64_t now_ms, int64_t lease_ms, int64_t claim_ttl_ms, int64_t **cancel,
			 size_t *n_cancel, struct store_error *err);

/* How an attempt ended. requeue: the task waits again at
 * next_attempt_at_ms (a retry, or refund: an interrupted attempt that is
 * not counted). */
struct store_task_end {
	const char *status; /* succeeded, failed, timed_out, cancelled, dead_letter, queued */
	bool refund;	    /* queued: the attempt does not count */
	int64_t next_attempt_at_ms;
	bool has_exit_code;
	int exit_code;
	const char *error;  /* NULL: none */
	const char *output; /* the tail; NULL: none */
	int64_t output_bytes;
	int64_t run_ms;
	/* Replies the end causes (a result comment, a reaction), when the
	 * task ends for good (not when it is queued again). */
	const struct store_outbox_in *outbox;
	size_t n_outbox;
};

/* Ends attempt `attempt` of task id run by owner; the project's claim
 * (when owner's worker still holds it) lives claim_ttl_ms from now. A
 * task whose cancellation was asked for ends cancelled instead of being
 * queued again.
 * Conversation metrics follow. HQ_E_CONFLICT when owner no longer runs
 * that attempt (it was rescued, and perhaps started again). */
int store_task_finish(struct store *s, int64_t id, const char *owner, const char *worker,
		      int attempt, const struct store_task_end *end, int64_t now_ms,
		      int64_t claim_ttl_ms, struct store_error *err);

/* A running task whose lease expired: where its process was. */
struct store_lost_task {
	int64_t id;
	int attempt;
	char *host;		/* NULL when not recorded */
	int64_t pid, pid_start; /* 0 when not recorded */
	/* The SHA-256 of the attempt's HOOKQ_TASK_TOKEN: in the environment of
	 * its processes, it finds them when no pid was recorded. */
	unsigned char token_hash[32];
	bool has_token_hash;
	char status[16]; /* where it went: queued, failed or cancelled */
};

/* Running tasks whose lease expired by now_ms (their node died or
 * stalled), except the n of keep (tasks this node's workers hold), go back
 * to queued when attempts remain, else to failed (cancelled when that was
 * asked for); their project's claim is released when their node's worker
 * still holds it. The lost processes are returned so the caller can end
 * leftovers. */
int store_task_reclaim(struct store *s, int64_t now_ms, const int64_t *keep, size_t n_keep,
		       struct store_lost_task **ret, size_t *n, struct store_error *err);
void store_lost_tasks_release(struct store_lost_task *l, size_t n);

/* Cancels task id: a queued one at once (*running false), a running one
 * is marked for its node to end (*running true). HQ_E_NOTFOUND,
 * HQ_E_CONFLICT when it already ended. */
int store_task_cancel(struct store *s, int64_t id, int64_t now_ms, bool *running,
		      struct store_error *err);

/* Queues an ended task (failed, timed_out, cancelled, dead_letter; or
 * only that status) again with its full attempts. HQ_E_NOTFOUND,
 * HQ_E_CONFLICT. */
int store_task_retry(struct store *s, int64_t id, const char *only, int64_t now_ms,
		     struct store_error *err);

struct store_task_filter {
	const char *status, *flow_id, *agent, *worker;
	int64_t event_id, parent_id; /* 0: any */
	int64_t before_id;	     /* keyset: ids below it; 0 from the newest */
	size_t limit;
};

struct store_task_list {
	struct store_task *rows; /* prompt and output left NULL */
	size_t n;
	bool more;
};

int store_list_tasks(struct store *s, const struct store_task_filter *f,
		     struct store_task_list *ret, struct store_error *err);
void store_task_list_release(struct store_task_list *l);

struct store_task_attempt {
	int attempt;
	char *worker, *outcome, *error;
	bool has_exit_code;
	int exit_code;
	int64_t started_at_ms, finished_at_ms;
};

struct store_task_detail {
	struct store_task task;
	struct store_task_attempt *attempts; /* ended attempts, oldest first */
	size_t n_attempts;
};

/* HQ_E_NOTFOUND. */
int store_get_task(struct store *s, int64_t id, struct store_task_detail *ret,
		   struct store_error *err);
void store_task_detail_release(struct store_task_detail *d);

/* The running task whose token hashes to token_hash. HQ_E_NOTFOUND. */
int store_task_by_token(struct store *s, const unsigned char *token_hash, int64_t *id,
			struct store_error *err);

struct store_conversation {
	char id[STORE_CONVERSATION_ID_MAX];
	int64_t created_at_ms, updated_at_ms;
	int64_t tasks, succeeded, failed, cancelled, run_ms;
};

struct store_flow {
	char id[STORE_FLOW_ID_MAX];
	char *external_id;
	char current_conversation[STORE_CONVERSATION_ID_MAX];
	int64_t created_at_ms, updated_at_ms;
	struct store_conversation *conversations; /* oldest first */
	size_t n_conversations;
	struct store_task *tasks; /* oldest first, prompt and output NULL */
	size_t n_tasks;
	bool more_tasks; /* more than the limit asked for */
};

/* One flow with its conversations and up to max_tasks tasks. */
int store_get_flow(struct store *s, const char *flow_id, size_t max_tasks,
		   struct store_flow *ret, struct store_error *err);
void store_flow_release(struct store_flow *f);

/* Tasks changed after change_seq after_seq, in commit order (rows carry
 * their change_seq), for syncing task files: up to limit. */
int store_tasks_changed(struct store *s, int64_t after_seq, size_t limit,
			struct store_task_list *ret, struct store_error *err);

struct store_claim_row {
	char *project, *worker, *node;
	int64_t expires_at_ms, last_activity_ms, tasks;
};

/* Claims that live at now_ms, by worker. */
int store_list_claims(struct store *s, int64_t now_ms, struct store_claim_row **ret, size_t *n,
		      struct store_error *err);
void store_claims_release(struct store_claim_row *c, size_t n);

struct store_task_counts {
	int64_t queued, running, succeeded, failed, timed_out, cancelled, dead_letter;
};
int store_count_tasks(struct store *s, struct store_task_counts *ret, struct store_error *err);

/* When the earliest queued task is due (INT64_MAX when none is). */
int store_task_next_due(struct store *s, int64_t *ret, struct store_error *err);

/* The outbox. */
struct store_outbox_item {
	int64_t id, task_id; /* task_id 0: none */
	char *origin, *kind, *target_json, *body_json, *status;
	char *last_error, *result; /* NULL when none */
	int attempts, max_attempts;
	bool uncertain; /* an earlier attempt may have been received */
	int64_t next_attempt_at_ms, lease_expires_at_ms, created_at_ms, updated_at_ms, sent_at_ms;
};
void store_outbox_items_release(struct store_outbox_item *items, size_t n);

/* Claims up to max due pending replies for owner until now_ms + lease_ms,
 * counting the attempt. */
int store_outbox_claim(struct store *s, const char *owner, int64_t now_ms, int64_t lease_ms,
		       size_t max, struct store_outbox_item **ret, size_t *n,
		       struct store_error *err);

enum store_outbox_outcome { STORE_OUTBOX_SENT, STORE_OUTBOX_RETRY, STORE_OUTBOX_DEAD };

struct store_outbox_end {
	enum store_outbox_outcome outcome;
	int64_t next_attempt_at_ms; /* RETRY */
	bool uncertain;		    /* RETRY: this attempt may have been received */
	const char *error;	    /* RETRY, DEAD */
	const char *result;	    /* SENT: what the receiver made, or NULL */
};

/* Records how the claimed attempt at reply id ended; a RETRY whose
 * attempts are used up becomes dead. HQ_E_CONFLICT when owner no longer
 * holds it. */
int store_outbox_finish(struct store *s, int64_t id, const char *owner,
			const struct store_outbox_end *end, int64_t now_ms, struct store_error *err);

/* Replies whose sender's lease expired go back to pending, uncertain
 * (their attempt may have been received), or dead when attempts are used
 * up. */
int store_outbox_reclaim(struct store *s, int64_t now_ms, size_t *n, struct store_error *err);

struct store_outbox_filter {
	const char *status; /* NULL: any */
	int64_t task_id;    /* 0: any */
	int64_t before_id;
	size_t limit;
};

struct store_outbox_list {
	struct store_outbox_item *items;
	size_t n;
	bool more;
};

int store_outbox_list(struct store *s, const struct store_outbox_filter *f,
		      struct store_outbox_list *ret, struct store_error *err);
void store_outbox_list_release(struct store_outbox_list *l);

/* A dead reply goes back to pending, due at now_ms, with its attempts
 * counted from zero again. HQ_E_NOTFOUND, HQ_E_CONFLICT when it is not
 * dead. */
int store_outbox_retry(struct store *s, int64_t id, int64_t now_ms, struct store_error *err);

struct store_outbox_counts {
	int64_t pending, sending, sent, dead;
};
int store_outbox_count(struct store *s, struct store_outbox_counts *ret, struct store_error *err);

/* Writes the replies of run `run` of task task_id that no task end wrote
 * (a task rescued into its end): origins "task:<id>:<run>:<name>", like
 * store_task_finish's, so nothing is written twice. */
int store_outbox_write(struct store *s, int64_t task_id, int run,
		       const struct store_outbox_in *in, size_t n, int64_t now_ms,
		       struct store_error *err);

/* Deletes up to limit replies sent or dead before before_ms (retention). */
int store_outbox_purge(struct store *s, int64_t before_ms, size_t limit, size_t *purged,
		       struct store_error *err);

/* When the earliest pending reply is due (INT64_MAX when none is). */
int store_outbox_next_due(struct store *s, int64_t *ret, struct store_error *err);

/* Whether status names a state replies can be in. */
bool store_outbox_status_valid(const char *status);

/* Whether status names a state tasks can be in. */
bool store_task_status_valid(const char *status);

/* Whether status names a state events can be in. */
bool store_status_valid(const char *status);

/* Nodes: the hookq processes sharing the database (several only on
 * PostgreSQL). Each beats its heart every few seconds; one silent for
 * longer than the node timeout is dead, and the others rescue its work. */
struct store_node {
	char *id, *host, *version;
	int64_t pid, started_at_ms, heartbeat_at_ms;
	int64_t ended_at_ms; /* 0 while it runs */
	char *ended_by;	     /* NULL while it runs; its own id: stopped cleanly;
			      * another node's id: found dead and rescued */
};

/* Records node n (id, host, pid, version) alive at now_ms; the first beat
 * registers it as started. *was_rescued: another node had found it dead
 * and ended its leases meanwhile (it stalled for longer than the node
 * timeout): its events, tasks and replies in flight were taken from it. */
int store_node_beat(struct store *s, const struct store_node *n, int64_t now_ms,
		    bool *was_rescued, struct store_error *err);

/* Records node id stopped cleanly at now_ms. */
int store_node_stop(struct store *s, const char *id, int64_t now_ms, struct store_error *err);

/* Finds the nodes other than `by` silent since before now_ms - timeout_ms,
 * and for each, in one transaction: its event, task and reply leases
 * expire at now_ms (the usual reclaims then take the work up), its project
 * claims are dropped, and it is marked ended by `by`. Several nodes may
 * rescue at once: each dead node is rescued once. *ids (may be NULL) gets
 * the rescued ids, *n their number. Rows of nodes ended more than a day
 * before now_ms are removed. */
int store_nodes_rescue(struct store *s, const char *by, int64_t now_ms, int64_t timeout_ms,
		       char ***ids, size_t *n, struct store_error *err);
void store_strings_release(char **v, size_t n);

/* What other nodes committed (store_listen). */
enum store_change {
	STORE_CHANGED_EVENTS = 1, /* new events to process */
	STORE_CHANGED_TASKS = 2,  /* tasks queued */
	STORE_CHANGED_OUTBOX = 4, /* replies to send */
	STORE_CHANGED_CANCELS = 8, /* a running task's cancellation asked for */
};

/* Calls fn(ctx, what) (store_change bits) when a node sharing the store
 * committed new work, so that a node wakes at once for work another one
 * received instead of at its next poll. PostgreSQL: LISTEN/NOTIFY on a
 * connection of its own, reconnected with backoff when lost (every kind
 * is reported after a reconnect: notifications may have been missed in
 * between); polling stays the fallback. SQLite: one node, nothing to
 * listen for. fn runs on a thread of the store's; store_close() stops it.
 * Call once. */
int store_listen(struct store *s, void (*fn)(void *ctx, unsigned what), void *ctx,
		 struct store_error *err);

/* Every node known, oldest first. */
int store_nodes_list(struct store *s, struct store_node **ret, size_t *n,
		     struct store_error *err);
void store_nodes_release(struct store_node *n, size_t count);

/* The schema version the database is at. */
int store_schema_version(struct store *s, int *ret, struct store_error *err);

#endif
