/* sqlite: what the SQLite backend's files share (sqlite.c: events,
 * webhooks, connections; sqlite_task.c: tasks, flows, claims). Private
 * to src/store/. */
#ifndef HOOKQ_STORE_SQLITE_H
#define HOOKQ_STORE_SQLITE_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "store/backend.h"

#define SQLITE_TASK_STMTS 16
#define SQLITE_OUTBOX_STMTS 8

struct sqlite_store {
	struct store base;
	char *path;
	enum store_sync sync; /* the configured level, for webhooks */
	/* Webhook batches waiting for write_lock: background work (claims,
	 * outcomes, reclaims, purges) lets them go first. */
	atomic_int webhooks_waiting;
	sqlite3 *writer;
	sqlite3_stmt *insert, *insert_body;
	/* Prepared once on first use, on the writer, under write_lock. */
	sqlite3_stmt *claim, *claim_body, *finish_done, *finish_retry, *finish_dead, *reclaim,
		*purge, *purge_dead;
	pthread_mutex_t write_lock;
	sqlite3 *reader;
	pthread_mutex_t read_lock;

	sqlite3 *checkpointer;
	pthread_t checkpoint_thread;
	bool checkpoint_running;
	bool stopping;
	bool checkpoint_wanted;
	pthread_mutex_t checkpoint_lock;
	pthread_cond_t checkpoint_cond;

	/* Task statements, prepared once on first use (sqlite_task.c). */
	sqlite3_stmt *task_stmt[SQLITE_TASK_STMTS];
	/* Outbox statements (sqlite_outbox.c). */
	sqlite3_stmt *outbox_stmt[SQLITE_OUTBOX_STMTS];
};

int sqlite_fail(sqlite3 *db, int rc, const char *what, struct store_error *err);
int sqlite_exec(sqlite3 *db, const char *sql, struct store_error *err);
/* Takes write_lock for background work (webhook batches go first) at
 * bookkeeping durability; the unlock restores it. */
void sqlite_background_lock(struct sqlite_store *s);
void sqlite_background_unlock(struct sqlite_store *s);
/* Prepares sql on the writer into *slot once, or resets it. */
int sqlite_cached(struct sqlite_store *s, sqlite3_stmt **slot, const char *sql,
		  struct store_error *err);
char *column_dup(sqlite3_stmt *st, int col);
char *column_dup_opt(sqlite3_stmt *st, int col, bool *nomem);
void bind_opt(sqlite3_stmt *st, int i, const char *v);
/* A one-column, at-most-one-row query on the reader (INT64_MAX: no row). */
int sqlite_read_one(struct sqlite_store *s, const char *sql, const char *what, int64_t *ret,
		    struct store_error *err);

/* Creates one task inside the writer's open transaction. */
int sqlite_task_insert(struct sqlite_store *s, struct store_task_in *t, int64_t now_ms,
		       struct store_error *err);
extern const struct store_task_ops sqlite_task_ops;
void sqlite_task_finalize(struct sqlite_store *s);

/* Writes one reply inside the writer's open transaction (nothing when
 * origin exists). */
int sqlite_outbox_insert(struct sqlite_store *s, const struct store_outbox_in *in,
			 const char *origin, int64_t task_id, int64_t now_ms,
			 struct store_error *err);
extern const struct store_outbox_ops sqlite_outbox_ops;
extern const struct store_node_ops sqlite_node_ops;
void sqlite_outbox_finalize(struct sqlite_store *s);

#endif
