/* postgres: what the PostgreSQL backend's files share (postgres.c:
 * connections, events, webhooks; postgres_task.c; postgres_outbox.c).
 * Private to src/store/. */
#ifndef HOOKQ_STORE_POSTGRES_H
#define HOOKQ_STORE_POSTGRES_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/backend.h"

/* Connections per node. Ingest batches, claims, outcomes and reads each
 * hold one for a transaction; four keep them from queueing behind one
 * another without costing the server much (each is a process there). */
#define PG_POOL_SIZE 4
/* Parameters of the largest statement. */
#define PG_MAX_ARGS 16
/* Statement ids, prepared once per connection ("hq<id>"): postgres.c
 * numbers its own from 0, the task operations from PG_STMT_TASK_BASE,
 * the outbox's from PG_STMT_OUTBOX_BASE, the nodes' from
 * PG_STMT_NODE_BASE. */
#define PG_STMT_TASK_BASE 40
#define PG_STMT_OUTBOX_BASE 100
#define PG_STMT_NODE_BASE 128
#define PG_STMT_MAX 140

struct pg_conn {
	PGconn *conn; /* NULL until first used, or after it was lost */
	bool in_use;
	bool fresh;	/* connected by the acquire that handed it out */
	uint64_t epoch; /* the pool's epoch when it connected */
	bool prepared[PG_STMT_MAX];
};

struct pg_store {
	struct store base;
	char *url; /* holds the password: wiped on close */
	char redacted[256];
	struct store_options opt;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Bumped when a connection is found lost: one lost connection
	 * suggests its older siblings are lost too (a server restart ends
	 * them all), so they reconnect on their next use instead of each
	 * failing a caller first. */
	uint64_t epoch;
	struct pg_conn pool[PG_POOL_SIZE];
	/* After a failed connect, none is tried again before down_until_ms
	 * (monotonic); meanwhile the failure is answered (down_error). */
	int64_t down_backoff_ms, down_until_ms;
	struct store_error down_error;

	/* The listener (postgres_node.c): a thread with a connection of its
	 * own, woken through a pipe to stop. */
	pthread_t listener;
	bool listening;
	int listen_pipe[2];
	void (*listen_fn)(void *ctx, unsigned what);
	void *listen_ctx;
};

/* Parameters of one statement: text, binary bytes, or NULL. */
struct pg_args {
	int n;
	const char *values[PG_MAX_ARGS];
	int lengths[PG_MAX_ARGS];
	int formats[PG_MAX_ARGS];
	char nums[PG_MAX_ARGS][24];
};

/* Parameters: text, binary bytes, a number (as text, cast in the
 * statement), or NULL (a NULL text). */
void pg_arg_text(struct pg_args *a, const char *v);
void pg_arg_i64(struct pg_args *a, int64_t v);
void pg_arg_bytes(struct pg_args *a, const void *p, size_t len);

/* The channel of wake-ups between nodes: the store_change bits are the
 * payload (PostgreSQL folds identical notifications of a transaction into
 * one, delivered at its commit, never for a rollback). */
#define PG_CHANNEL "hookq_work"

/* Connects c with the node's settings (lock timeout, durability). */
int pg_connect(struct pg_store *s, struct pg_conn *c, struct store_error *err);
/* Tells the nodes listening (store_listen) that this transaction made
 * work of kinds `what` (store_change bits), at its commit. */
int pg_notify(struct pg_conn *c, unsigned what, struct store_error *err);
/* Stops the listener, if one runs (pg_close). */
void pg_listen_stop(struct pg_store *s);

/* Connections: pg_acquire waits up to the busy timeout for a free one and
 * (re)connects it; pg_release rolls back a transaction left open and
 * closes a broken connection. */
int pg_acquire(struct pg_store *s, struct pg_conn **ret, struct store_error *err);
void pg_release(struct pg_store *s, struct pg_conn *c);

/* Runs sql (statement id, see above) on c, prepared on first use; *ret
 * gets the result with binary columns when asked for. */
int pg_run_sql(struct pg_conn *c, int id, const char *sql, const struct pg_args *a,
	       PGresult **ret, const char *what, struct store_error *err);
/* The same on a pooled connection, as a statement of its own. */
int pg_query_sql(struct pg_store *s, int id, const char *sql, const struct pg_args *a,
		 PGresult **ret, const char *what, struct store_error *err);
/* A write on a pooled connection, as a statement of its own; *changed
 * counts the rows it changed (0 on failure). */
int pg_write_sql(struct pg_store *s, int id, const char *sql, const struct pg_args *a,
		 const char *what, size_t *changed, struct store_error *err);
/* A one-column, at-most-one-row query on a pooled connection: *ret is
 * INT64_MAX when there is no row. */
int pg_read_one_sql(struct pg_store *s, int id, const char *sql, const struct pg_args *a,
		    const char *what, int64_t *ret, struct store_error *err);
/* A statement without parameters (BEGIN, COMMIT). */
int pg_exec(PGconn *conn, const char *sql, const char *what, struct store_error *err);
void pg_rollback(PGconn *conn);
/* Sets err to "what: <server message>" and returns the store code. */
int pg_fail(PGconn *conn, const PGresult *res, const char *what, struct store_error *err);

/* Runs fn(c, arg, err) in one transaction on a pooled connection and
 * commits. A connection the pool kept that turns out dead before COMMIT
 * was sent (a server restart) gets one more try on a new connection:
 * nothing of the first try was stored. fn must be safe to run twice. */
int pg_txn(struct pg_store *s, int (*fn)(struct pg_conn *c, void *arg, struct store_error *err),
	   void *arg, const char *what, struct store_error *err);

/* Results (binary): an integer or boolean column (0 when NULL); a copy
 * of a text or bytea column with a NUL ("" for NULL); a copy that keeps
 * NULL as NULL (a failed copy sets *nomem); the rows a statement
 * changed. */
int64_t pg_int(const PGresult *res, int row, int col);
char *pg_dup(const PGresult *res, int row, int col, size_t *len);
char *pg_dup_opt(const PGresult *res, int row, int col, bool *nomem);
size_t pg_changed(PGresult *res);

/* Writes one reply into the outbox on c, inside the caller's transaction
 * (the change that causes it); a second write of the same origin is a
 * no-op. task_id 0: no task. (postgres_outbox.c) */
int pg_outbox_insert(struct pg_conn *c, const struct store_outbox_in *in, const char *origin,
		     int64_t task_id, int64_t now_ms, struct store_error *err);

/* Creating tasks inside a caller's transaction (create_tasks, and
 * finish_events for the tasks routing asked for), in three steps:
 * pg_task_batch_add for every task the transaction may create (it notes
 * the keys their creation touches: origins, flows), pg_task_batch_lock
 * once (advisory locks on those keys in key order, so transactions
 * creating the same origins or in the same flows wait for one another
 * instead of deadlocking, and a second creation of an origin finds the
 * first), pg_task_insert per task (a known origin yields the existing
 * task), pg_task_batch_end (the conversations' task counts, in key
 * order). (postgres_task.c) */
struct pg_task_batch {
	int64_t *keys;
	size_t n_keys, cap_keys;
	int64_t *created;
	size_t n_created, cap_created;
};
int pg_task_batch_add(struct pg_conn *c, struct pg_task_batch *b, const struct store_task_in *t,
		      size_t n, struct store_error *err);
int pg_task_batch_lock(struct pg_conn *c, struct pg_task_batch *b, struct store_error *err);
int pg_task_insert(struct pg_conn *c, struct pg_task_batch *b, struct store_task_in *t,
		   int64_t now_ms, struct store_error *err);
int pg_task_batch_end(struct pg_conn *c, struct pg_task_batch *b, int64_t now_ms,
		      struct store_error *err);
void pg_task_batch_release(struct pg_task_batch *b);

extern const struct store_task_ops pg_task_ops;
extern const struct store_outbox_ops pg_outbox_ops;
extern const struct store_node_ops pg_node_ops;

#endif
