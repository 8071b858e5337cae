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

/* Whether status names a state events can be in. */
bool store_status_valid(const char *status);

/* The schema version the database is at. */
int store_schema_version(struct store *s, int *ret, struct store_error *err);

#endif
