/* SQLite backend: one writer connection (all writes go through it, under a
 * mutex, so batches from the group committer never contend), one reader
 * connection, and a checkpointer thread with its own connection so that
 * WAL checkpoints never run inside a webhook's commit. */
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/backend.h"
#include "store/sqlite.h"
#include "store/migration.h"
#include "util/clock.h"
#include "util/error.h"

/* Checkpoint when the WAL holds this many pages (4 MiB at 4 KiB pages),
 * and at least every CHECKPOINT_INTERVAL_MS. Small, frequent checkpoints
 * keep each one's fsync of the database file short, so it delays the
 * committer's WAL fsync less: with wrk -c64 on 14 KB webhooks, p99 was
 * 6.4-6.9 ms at 1024 pages against 9-21 ms at 4096 and 23-25 ms at 16384
 * (same machine, same session; no checkpoints at all: 6.1 ms). */
#define CHECKPOINT_PAGES 1024
#define CHECKPOINT_INTERVAL_MS 1000
#define WAL_SIZE_LIMIT (64 * 1024 * 1024)
/* Background work waits at most this long for webhook batches to pass. */
#define BACKGROUND_YIELD_MAX_MS 50
/* Outcomes are recorded this many per transaction, so a webhook batch
 * never waits for a long one. */
#define FINISH_CHUNK 32
/* Reads through a memory map instead of pread(): the processor reads
 * every row it claims, and copying each page out of the kernel was its
 * largest cost after JSON parsing (4.0k -> 6.9k events/s burning down a
 * 36k backlog of 14 KB webhooks). Writes still go through the WAL. */
#define STORE_MMAP_SIZE "268435456"

/* PRAGMA synchronous for each enum store_sync. */
static const char *const sync_sql[] = {
	[STORE_SYNC_OFF] = "PRAGMA synchronous=OFF",
	[STORE_SYNC_NORMAL] = "PRAGMA synchronous=NORMAL",
	[STORE_SYNC_FULL] = "PRAGMA synchronous=FULL",
	[STORE_SYNC_EXTRA] = "PRAGMA synchronous=EXTRA",
};


static int sqlite_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return HQ_E_BUSY;
	case SQLITE_NOMEM:
		return HQ_E_NOMEM;
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
		return HQ_E_IO;
	default:
		return HQ_E_STORE;
	}
}

int sqlite_fail(sqlite3 *db, int rc, const char *what, struct store_error *err)
{
	store_error_set(err, "%s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	/* Called on failures only: a stray ROW/DONE must not read as success. */
	int code = sqlite_code(rc);
	return code < 0 ? code : HQ_E_STORE;
}

int sqlite_exec(sqlite3 *db, const char *sql, struct store_error *err)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		store_error_set(err, "%s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return sqlite_code(rc);
	}
	return 0;
}

static int sqlite_connect(const char *path, const struct store_options *opt,
			  sqlite3 **ret, struct store_error *err)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					 SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
				 NULL);
	if (rc != SQLITE_OK) {
		store_error_set(err, "cannot open database '%s': %s", path,
				db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return sqlite_code(rc);
	}
	sqlite3_busy_timeout(db, (int)(opt->busy_timeout_ms > 600000 ? 600000 :
							      opt->busy_timeout_ms));
	char sql[128];
	snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%d", WAL_SIZE_LIMIT);
	int r;
	if ((r = sqlite_exec(db, "PRAGMA foreign_keys=ON", err)) < 0 ||
	    (r = sqlite_exec(db, sync_sql[opt->synchronous], err)) < 0 ||
	    (r = sqlite_exec(db, sql, err)) < 0 ||
	    (r = sqlite_exec(db, "PRAGMA temp_store=MEMORY", err)) < 0 ||
	    (r = sqlite_exec(db, "PRAGMA mmap_size=" STORE_MMAP_SIZE, err)) < 0) {
		sqlite3_close(db);
		return r;
	}
	*ret = db;
	return 0;
}

static int sqlite_wal_mode(sqlite3 *db, const char *path, struct store_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_fail(db, rc, "journal_mode", err);
	rc = sqlite3_step(st);
	const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	int r = 0;
	if (!mode || strcmp(mode, "wal") != 0) {
		store_error_set(err, "database '%s': cannot switch to WAL mode (%s)", path,
				mode ? mode : sqlite3_errmsg(db));
		r = HQ_E_STORE;
	}
	sqlite3_finalize(st);
	return r;
}

static int sqlite_migrate(sqlite3 *db, struct store_error *err)
{
	int r = sqlite_exec(db,
			    "CREATE TABLE IF NOT EXISTS schema_migrations ("
			    " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
			    " applied_at INTEGER NOT NULL)",
			    err);
	if (r < 0)
		return r;
	if ((r = sqlite_exec(db, "BEGIN IMMEDIATE", err)) < 0)
		return r;

	sqlite3_stmt *st = NULL;
	int current = 0;
	int rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_migrations",
				    -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		current = sqlite3_column_int(st, 0);
	else {
		r = sqlite_fail(db, rc, "reading schema version", err);
		goto out_rollback;
	}
	sqlite3_finalize(st);
	st = NULL;

	int latest = 0;
	for (const struct migration *m = store_sqlite_migrations; m->version; m++)
		latest = m->version;
	if (current > latest) {
		store_error_set(err,
				"database schema version %d is newer than this hookq knows (%d)",
				current, latest);
		r = HQ_E_STORE;
		goto out_rollback;
	}
	for (const struct migration *m = store_sqlite_migrations; m->version; m++) {
		if (m->version <= current)
			continue;
		struct store_error e2;
		if ((r = sqlite_exec(db, m->sql, &e2)) < 0) {
			store_error_set(err, "migration %s: %s", m->name, e2.msg);
			goto out_rollback;
		}
		rc = sqlite3_prepare_v2(db,
					"INSERT INTO schema_migrations(version, name, applied_at)"
					" VALUES(?1, ?2, ?3)",
					-1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int(st, 1, m->version);
			sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, clock_now_ms());
			rc = sqlite3_step(st);
		}
		sqlite3_finalize(st);
		st = NULL;
		if (rc != SQLITE_DONE) {
			r = sqlite_fail(db, rc, "recording migration", err);
			goto out_rollback;
		}
	}
	return sqlite_exec(db, "COMMIT", err);

out_rollback:
	sqlite3_finalize(st);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/* Runs on the writer's thread after each commit: asks the checkpointer to
 * work when the WAL has grown, instead of checkpointing inline. */
static int sqlite_wal_hook(void *ctx, sqlite3 *db, const char *name, int pages)
{
	(void)db;
	(void)name;
	struct sqlite_store *s = ctx;
	if (pages >= CHECKPOINT_PAGES) {
		pthread_mutex_lock(&s->checkpoint_lock);
		s->checkpoint_wanted = true;
		pthread_cond_signal(&s->checkpoint_cond);
		pthread_mutex_unlock(&s->checkpoint_lock);
	}
	return SQLITE_OK;
}

static void *sqlite_checkpoint_main(void *arg)
{
	struct sqlite_store *s = arg;
	pthread_setname_np(pthread_self(), "hq-checkpoint");
	pthread_mutex_lock(&s->checkpoint_lock);
	while (!s->stopping) {
		if (!s->checkpoint_wanted) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += (long)CHECKPOINT_INTERVAL_MS * 1000000L;
			until.tv_sec += until.tv_nsec / 1000000000L;
			until.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&s->checkpoint_cond, &s->checkpoint_lock, &until);
			if (s->stopping)
				break;
		}
		s->checkpoint_wanted = false;
		pthread_mutex_unlock(&s->checkpoint_lock);
		/* PASSIVE never blocks the writer; a busy or partial
		 * checkpoint is simply tried again next time. */
		sqlite3_wal_checkpoint_v2(s->checkpointer, NULL, SQLITE_CHECKPOINT_PASSIVE,
					  NULL, NULL);
		pthread_mutex_lock(&s->checkpoint_lock);
	}
	pthread_mutex_unlock(&s->checkpoint_lock);
	return NULL;
}

static void sqlite_close(struct store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	if (!s)
		return;
	if (s->checkpoint_running) {
		pthread_mutex_lock(&s->checkpoint_lock);
		s->stopping = true;
		pthread_cond_signal(&s->checkpoint_cond);
		pthread_mutex_unlock(&s->checkpoint_lock);
		pthread_join(s->checkpoint_thread, NULL);
	}
	sqlite3_finalize(s->insert);
	sqlite3_finalize(s->insert_body);
	sqlite3_finalize(s->claim_body);
	sqlite3_finalize(s->claim);
	sqlite3_finalize(s->finish_done);
	sqlite3_finalize(s->finish_retry);
	sqlite3_finalize(s->finish_dead);
	sqlite3_finalize(s->reclaim);
	sqlite3_finalize(s->purge);
	sqlite3_finalize(s->purge_dead);
	sqlite_task_finalize(s);
	sqlite_outbox_finalize(s);
	sqlite3_close(s->checkpointer);
	sqlite3_close(s->reader);
	/* Closing the last connection checkpoints and removes the WAL. */
	sqlite3_close(s->writer);
	pthread_mutex_destroy(&s->write_lock);
	pthread_mutex_destroy(&s->read_lock);
	pthread_mutex_destroy(&s->checkpoint_lock);
	pthread_cond_destroy(&s->checkpoint_cond);
	free(s->path);
	free(s);
}

/* Inserts one event with the prepared upsert, and a new event's headers
 * and body beside it (event_bodies); the caller holds the transaction. */
static int sqlite_insert_one(struct sqlite_store *s, struct store_event_in *ev,
			     struct store_error *err)
{
	sqlite3_stmt *st = s->insert;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, ev->provider, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ev->route, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ev->delivery_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ev->event_type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, ev->received_at_ms);
	sqlite3_bind_int(st, 6, ev->max_attempts > 0 ? ev->max_attempts : 5);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		int r = sqlite_fail(s->writer, rc, "storing event", err);
		sqlite3_reset(st);
		return r;
	}
	ev->id = sqlite3_column_int64(st, 0);
	ev->duplicate = sqlite3_column_int64(st, 1) > 0;
	ev->result = 0;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sqlite_fail(s->writer, rc, "storing event", err);
	if (ev->duplicate)
		return 0; /* the first delivery's body stays */
	st = s->insert_body;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, ev->id);
	sqlite3_bind_text(st, 2, ev->headers_json, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(st, 3, ev->body ? ev->body : "", ev->body_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ev->body_encoding ? ev->body_encoding : "identity", -1,
			  SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sqlite_fail(s->writer, rc, "storing event body", err);
	return 0;
}

static int sqlite_insert_batch(struct sqlite_store *s, struct store_event_in *evs,
			       size_t n, struct store_error *err)
{
	int r = sqlite_exec(s->writer, "BEGIN IMMEDIATE", err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		r = sqlite_insert_one(s, &evs[i], err);
		if (r < 0)
			goto out_rollback;
	}
	r = sqlite_exec(s->writer, "COMMIT", err);
	if (r < 0)
		goto out_rollback;
	return 0;

out_rollback:
	sqlite3_exec(s->writer, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static int sqlite_insert_events(struct store *base, struct store_event_in *evs, size_t n,
				struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	if (n == 0)
		return 0;
	atomic_fetch_add(&s->webhooks_waiting, 1);
	pthread_mutex_lock(&s->write_lock);
	atomic_fetch_sub(&s->webhooks_waiting, 1);
	int r = sqlite_insert_batch(s, evs, n, err);
	if (r < 0 && n > 1 && r != HQ_E_BUSY && r != HQ_E_IO) {
		/* One event spoiled the batch: store the others one by one so a
		 * single bad row refuses only itself. */
		r = 0;
		for (size_t i = 0; i < n; i++) {
			struct store_error e1;
			evs[i].result = sqlite_insert_batch(s, &evs[i], 1, &e1);
			if (evs[i].result < 0) {
				r = evs[i].result;
				*err = e1;
			}
		}
	} else {
		for (size_t i = 0; i < n; i++)
			evs[i].result = r;
	}
	pthread_mutex_unlock(&s->write_lock);
	return r;
}

static int sqlite_count_events(struct store *base, struct store_event_counts *ret,
			       struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct store_event_counts c;
	memset(&c, 0, sizeof(c));
	pthread_mutex_lock(&s->read_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader,
				    "SELECT status, count(*), sum(duplicates) FROM events"
				    " GROUP BY status",
				    -1, &st, NULL);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		if ((rc = sqlite3_step(st)) != SQLITE_ROW)
			break;
		store_counts_add(&c, (const char *)sqlite3_column_text(st, 0),
				 sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2));
	}
	int r = rc == SQLITE_DONE ? 0 : sqlite_fail(s->reader, rc, "counting events", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->read_lock);
	if (r == 0)
		*ret = c;
	return r;
}

static int sqlite_schema_version(struct store *base, int *ret, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->read_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader,
				    "SELECT coalesce(max(version), 0) FROM schema_migrations",
				    -1, &st, NULL);
	int r;
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*ret = sqlite3_column_int(st, 0);
		r = 0;
	} else {
		r = sqlite_fail(s->reader, rc, "reading schema version", err);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->read_lock);
	return r;
}

/* Prepares sql into *slot on first use; the writer lock is held. */
/* Processing bookkeeping (claims, outcomes, reclaims, purges) commits
 * without its own fsync: the next webhook commit's fsync makes it durable,
 * and losing it in a power cut only means an event is processed again
 * (its lease expires). That keeps the committer, which webhooks wait for,
 * from queueing behind the processor's fsyncs. Called under write_lock. */
static void sqlite_bookkeeping(struct sqlite_store *s, bool on)
{
	if (s->sync <= STORE_SYNC_NORMAL)
		return;
	sqlite3_exec(s->writer, sync_sql[on ? STORE_SYNC_NORMAL : s->sync], NULL, NULL, NULL);
}

/* Takes write_lock for background work, after any webhook batch that is
 * waiting for it (for at most BACKGROUND_YIELD_MAX_MS: background work is
 * never starved for good), and switches to bookkeeping durability. */
void sqlite_background_lock(struct sqlite_store *s)
{
	for (int i = 0; i < BACKGROUND_YIELD_MAX_MS * 10 && atomic_load(&s->webhooks_waiting) > 0;
	     i++) {
		struct timespec pause = { 0, 100 * 1000 };
		nanosleep(&pause, NULL);
	}
	pthread_mutex_lock(&s->write_lock);
	sqlite_bookkeeping(s, true);
}

void sqlite_background_unlock(struct sqlite_store *s)
{
	sqlite_bookkeeping(s, false);
	pthread_mutex_unlock(&s->write_lock);
}

int sqlite_cached(struct sqlite_store *s, sqlite3_stmt **slot, const char *sql,
			 struct store_error *err)
{
	if (*slot) {
		sqlite3_reset(*slot);
		sqlite3_clear_bindings(*slot);
		return 0;
	}
	int rc = sqlite3_prepare_v3(s->writer, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
	return rc == SQLITE_OK ? 0 : sqlite_fail(s->writer, rc, "preparing statement", err);
}

char *column_dup(sqlite3_stmt *st, int col)
{
	const char *v = (const char *)sqlite3_column_text(st, col);
	return strdup(v ? v : "");
}

/* Copies a blob column as a NUL-terminated string (bodies are text to
 * every caller, and a terminator costs nothing). */
static int column_blob_dup(sqlite3_stmt *st, int col, char **ret, size_t *len)
{
	const void *blob = sqlite3_column_blob(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);
	char *p = malloc(n + 1);
	if (!p)
		return HQ_E_NOMEM;
	if (n)
		memcpy(p, blob, n);
	p[n] = '\0';
	*ret = p;
	*len = n;
	return 0;
}

/* Copies one claimed row as stored. */
static int sqlite_claimed_row(sqlite3_stmt *st, struct store_claimed *e)
{
	memset(e, 0, sizeof(*e));
	e->id = sqlite3_column_int64(st, 0);
	e->provider = column_dup(st, 1);
	e->route = column_dup(st, 2);
	e->delivery_id = column_dup(st, 3);
	e->event_type = column_dup(st, 4);
	e->attempts = sqlite3_column_int(st, 5);
	e->max_attempts = sqlite3_column_int(st, 6);
	e->received_at_ms = sqlite3_column_int64(st, 7);
	if (!e->provider || !e->route || !e->delivery_id || !e->event_type)
		return HQ_E_NOMEM;
	return 0;
}

/* Reads a claimed event's headers and body as stored; *zstd says whether
 * the body still needs decoding (done after the write lock is released). */
static int sqlite_claimed_body(struct sqlite_store *s, struct store_claimed *e, bool *zstd,
			       struct store_error *err)
{
	int r = sqlite_cached(s, &s->claim_body,
			      "SELECT headers, body, body_encoding FROM event_bodies WHERE event_id = ?1",
			      err);
	if (r < 0)
		return r;
	sqlite3_stmt *st = s->claim_body;
	sqlite3_bind_int64(st, 1, e->id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *enc = (const char *)sqlite3_column_text(st, 2);
		*zstd = enc && strcmp(enc, "zstd") == 0;
		e->headers_json = column_dup(st, 0);
		r = e->headers_json ? column_blob_dup(st, 1, &e->body, &e->body_len) : HQ_E_NOMEM;
	} else if (rc == SQLITE_DONE) {
		/* Never written so: processed as an empty body, it fails there
		 * instead of failing every claim of its batch. */
		*zstd = false;
		e->headers_json = strdup("{}");
		e->body = calloc(1, 1);
		e->body_len = 0;
		r = e->headers_json && e->body ? 0 : HQ_E_NOMEM;
	} else {
		r = sqlite_fail(s->writer, rc, "reading a claimed event's body", err);
	}
	sqlite3_reset(st);
	return r;
}

static int sqlite_claim_events(struct store *base, const char *owner, int64_t now_ms,
			       int64_t lease_ms, size_t max, size_t max_body,
			       struct store_claim *ret, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct store_claim c = { NULL, 0 };
	if (max == 0) {
		*ret = c;
		return 0;
	}
	c.events = calloc(max, sizeof(*c.events));
	bool *zstd = calloc(max, sizeof(*zstd));
	if (!c.events || !zstd) {
		free(c.events);
		free(zstd);
		return HQ_E_NOMEM;
	}
	/* Under the write lock only the UPDATE and the copies: decoding
	 * happens after, so acknowledgements never wait for it. */
	sqlite_background_lock(s);
	int r = sqlite_cached(s, &s->claim,
			      "UPDATE events SET status = 'processing', lease_owner = ?1,"
			      " lease_expires_at = ?2 + ?3, attempts = attempts + 1, updated_at = ?2"
			      /* INDEXED BY: left to itself the planner takes
			       * events_status and sorts every pending event on
			       * each claim, quadratic in the backlog. */
			      " WHERE id IN (SELECT id FROM events INDEXED BY events_due"
			      "  WHERE status = 'pending' AND next_attempt_at <= ?2"
			      "  ORDER BY next_attempt_at, id LIMIT ?4)"
			      " RETURNING id, provider, route, delivery_id, event_type, attempts,"
			      "  max_attempts, received_at",
			      err);
	if (r == 0) {
		sqlite3_stmt *st = s->claim;
		sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now_ms);
		sqlite3_bind_int64(st, 3, lease_ms);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)max);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && c.n < max) {
			r = sqlite_claimed_row(st, &c.events[c.n]);
			c.n++;
			if (r < 0)
				break;
		}
		if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
			r = sqlite_fail(s->writer, rc, "claiming events", err);
		sqlite3_reset(st);
		for (size_t i = 0; r == 0 && i < c.n; i++)
			r = sqlite_claimed_body(s, &c.events[i], &zstd[i], err);
	}
	sqlite_background_unlock(s);
	if (r < 0 || c.n == 0) {
		/* Claimed rows left behind stay leased; the lease expires and
		 * they are reclaimed, so nothing is lost. */
		free(zstd);
		store_claim_release(&c);
		if (r == 0)
			*ret = c;
		return r;
	}
	for (size_t i = 0; i < c.n; i++)
		(void)store_body_decode(&c.events[i].body, &c.events[i].body_len, zstd[i],
					 max_body);
	free(zstd);
	*ret = c;
	return 0;
}

static int sqlite_finish_one(struct sqlite_store *s, const char *owner,
			     const struct store_outcome *o, int64_t now_ms, int *changed,
			     struct store_error *err)
{
	sqlite3_stmt **slot;
	const char *sql;
	switch (o->kind) {
	case STORE_OUTCOME_DONE:
		slot = &s->finish_done;
		sql = "UPDATE events SET status = 'completed', completed_at = ?3, updated_at = ?3,"
		      " lease_owner = NULL, lease_expires_at = NULL,"
		      " action = coalesce(?4, action), repository = coalesce(?5, repository),"
		      " sender = coalesce(?6, sender), routing = ?7"
		      " WHERE id = ?1 AND status = 'processing' AND lease_owner = ?2";
		break;
	case STORE_OUTCOME_RETRY:
		slot = &s->finish_retry;
		sql = "UPDATE events SET status = CASE WHEN attempts >= max_attempts"
		      "  THEN 'dead_letter' ELSE 'pending' END,"
		      " next_attempt_at = ?4, last_error = ?5, updated_at = ?3,"
		      " lease_owner = NULL, lease_expires_at = NULL"
		      " WHERE id = ?1 AND status = 'processing' AND lease_owner = ?2";
		break;
	default:
		slot = &s->finish_dead;
		sql = "UPDATE events SET status = 'dead_letter', last_error = ?4, updated_at = ?3,"
		      " lease_owner = NULL, lease_expires_at = NULL"
		      " WHERE id = ?1 AND status = 'processing' AND lease_owner = ?2";
		break;
	}
	int r = sqlite_cached(s, slot, sql, err);
	if (r < 0)
		return r;
	sqlite3_stmt *st = *slot;
	sqlite3_bind_int64(st, 1, o->id);
	sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms);
	if (o->kind == STORE_OUTCOME_DONE) {
		sqlite3_bind_text(st, 4, o->action, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, o->repository, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, o->sender, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, o->routing, -1, SQLITE_STATIC);
	} else if (o->kind == STORE_OUTCOME_RETRY) {
		sqlite3_bind_int64(st, 4, o->next_attempt_at_ms);
		sqlite3_bind_text(st, 5, o->error ? o->error : "", -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_text(st, 4, o->error ? o->error : "", -1, SQLITE_STATIC);
	}
	int rc = sqlite3_step(st);
	*changed = sqlite3_changes(s->writer);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sqlite_fail(s->writer, rc, "recording an outcome", err);
	/* The tasks routing asked for, in the completion's transaction: a
	 * crash either keeps both or neither, and the origins make a second
	 * processing of the event find them. */
	for (size_t i = 0; *changed && o->kind == STORE_OUTCOME_DONE && i < o->n_tasks; i++) {
		int r2 = sqlite_task_insert(s, &o->tasks[i], now_ms, err);
		if (r2 < 0)
			return r2;
	}
	return 0;
}

static int sqlite_finish_events(struct store *base, const char *owner,
				const struct store_outcome *o, size_t n, int64_t now_ms,
				size_t *applied, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	size_t count = 0;
	int r = 0;
	/* Each outcome stands alone, so chunks may commit separately; a
	 * failure leaves the rest leased, to be reclaimed. */
	for (size_t start = 0; r == 0 && start < n; start += FINISH_CHUNK) {
		size_t end = start + FINISH_CHUNK < n ? start + FINISH_CHUNK : n;
		sqlite_background_lock(s);
		r = sqlite_exec(s->writer, "BEGIN IMMEDIATE", err);
		size_t chunk = 0;
		for (size_t i = start; r == 0 && i < end; i++) {
			int changed = 0;
			r = sqlite_finish_one(s, owner, &o[i], now_ms, &changed, err);
			chunk += (size_t)changed;
		}
		if (r == 0)
			r = sqlite_exec(s->writer, "COMMIT", err);
		if (r < 0)
			sqlite3_exec(s->writer, "ROLLBACK", NULL, NULL, NULL);
		else
			count += chunk;
		sqlite_background_unlock(s);
	}
	if (r == 0 && applied)
		*applied = count;
	return r;
}

/* Runs one cached statement binding ?1 (and ?2 when it has one) as
 * integers, counting the rows it changed. */
static int sqlite_run_counted(struct sqlite_store *s, sqlite3_stmt **slot, const char *sql,
			      int64_t a, int64_t b, const char *what, size_t *changed,
			      struct store_error *err)
{
	sqlite_background_lock(s);
	int r = sqlite_cached(s, slot, sql, err);
	if (r == 0) {
		sqlite3_bind_int64(*slot, 1, a);
		if (sqlite3_bind_parameter_count(*slot) >= 2)
			sqlite3_bind_int64(*slot, 2, b);
		int rc = sqlite3_step(*slot);
		if (rc == SQLITE_DONE) {
			if (changed)
				*changed = (size_t)sqlite3_changes(s->writer);
		} else {
			r = sqlite_fail(s->writer, rc, what, err);
		}
		sqlite3_reset(*slot);
	}
	sqlite_background_unlock(s);
	return r;
}

static int sqlite_reclaim_expired(struct store *base, int64_t now_ms, size_t *reclaimed,
				  struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	return sqlite_run_counted(
		s, &s->reclaim,
		"UPDATE events SET status = CASE WHEN attempts >= max_attempts"
		"  THEN 'dead_letter' ELSE 'pending' END,"
		" next_attempt_at = ?1, updated_at = ?1, lease_owner = NULL,"
		" lease_expires_at = NULL,"
		" last_error = '" STORE_LEASE_EXPIRED "'"
		" WHERE id IN (SELECT id FROM events INDEXED BY events_leases"
		"  WHERE status = 'processing' AND lease_expires_at <= ?1)",
		now_ms, 0, "reclaiming expired leases", reclaimed, err);
}

/* Runs a one-column, at-most-one-row query on the reader: INT64_MAX when
 * there is no row. */
int sqlite_read_one(struct sqlite_store *s, const char *sql, const char *what,
			   int64_t *ret, struct store_error *err)
{
	pthread_mutex_lock(&s->read_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader, sql, -1, &st, NULL);
	int r;
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*ret = sqlite3_column_int64(st, 0);
		r = 0;
	} else if (rc == SQLITE_DONE) {
		*ret = INT64_MAX;
		r = 0;
	} else {
		r = sqlite_fail(s->reader, rc, what, err);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->read_lock);
	return r;
}

static int sqlite_next_due(struct store *base, int64_t *ret, struct store_error *err)
{
	return sqlite_read_one((struct sqlite_store *)base,
			       "SELECT next_attempt_at FROM events INDEXED BY events_due"
			       " WHERE status = 'pending' ORDER BY next_attempt_at LIMIT 1",
			       "reading the next due time", ret, err);
}

static int sqlite_oldest_pending(struct store *base, int64_t *ret, struct store_error *err)
{
	/* Ids grow with arrival, so the lowest pending id is the oldest:
	 * one step down events_status instead of a scan of every row. */
	return sqlite_read_one((struct sqlite_store *)base,
			       "SELECT received_at FROM events INDEXED BY events_status"
			       " WHERE status = 'pending' ORDER BY id LIMIT 1",
			       "reading the oldest pending event", ret, err);
}

static int sqlite_purge_events(struct store *base, const char *status, int64_t before_ms,
			       size_t limit, size_t *purged, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	if (strcmp(status, "completed") == 0)
		return sqlite_run_counted(
			s, &s->purge,
			"DELETE FROM events WHERE id IN (SELECT id FROM events"
			" INDEXED BY events_completed"
			" WHERE status = 'completed' AND completed_at < ?1 LIMIT ?2)",
			before_ms, (int64_t)limit, "purging completed events", purged, err);
	/* A dead letter's updated_at is when it became one: nothing else
	 * changes it until an operator replays it. */
	return sqlite_run_counted(s, &s->purge_dead,
				  "DELETE FROM events WHERE id IN (SELECT id FROM events"
				  " INDEXED BY events_dead"
				  " WHERE status = 'dead_letter' AND updated_at < ?1 LIMIT ?2)",
				  before_ms, (int64_t)limit, "purging dead letters", purged, err);
}


/* A nullable text column: NULL stays NULL; a failed copy sets *nomem. */
char *column_dup_opt(sqlite3_stmt *st, int col, bool *nomem)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return NULL;
	char *v = column_dup(st, col);
	if (!v)
		*nomem = true;
	return v;
}

static int sqlite_event_row(sqlite3_stmt *st, struct store_event_row *r)
{
	memset(r, 0, sizeof(*r));
	bool nomem = false;
	r->id = sqlite3_column_int64(st, 0);
	r->provider = column_dup(st, 1);
	r->route = column_dup(st, 2);
	r->delivery_id = column_dup(st, 3);
	r->event_type = column_dup(st, 4);
	r->action = column_dup_opt(st, 5, &nomem);
	r->repository = column_dup_opt(st, 6, &nomem);
	r->sender = column_dup_opt(st, 7, &nomem);
	r->status = column_dup(st, 8);
	r->attempts = sqlite3_column_int(st, 9);
	r->max_attempts = sqlite3_column_int(st, 10);
	r->received_at_ms = sqlite3_column_int64(st, 11);
	r->updated_at_ms = sqlite3_column_int64(st, 12);
	r->next_attempt_at_ms = sqlite3_column_int64(st, 13);
	r->completed_at_ms = sqlite3_column_int64(st, 14);
	r->lease_owner = column_dup_opt(st, 15, &nomem);
	r->lease_expires_at_ms = sqlite3_column_int64(st, 16);
	r->last_error = column_dup_opt(st, 17, &nomem);
	r->duplicates = sqlite3_column_int64(st, 18);
	r->body_bytes = sqlite3_column_int64(st, 19);
	r->routing = column_dup_opt(st, 20, &nomem);
	if (!r->provider || !r->route || !r->delivery_id || !r->event_type || !r->status)
		nomem = true;
	return nomem ? HQ_E_NOMEM : 0;
}

static int sqlite_list_events(struct store *base, const struct store_event_filter *f,
			      struct store_event_list *ret, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct store_event_list l = { NULL, 0, false };
	size_t limit = f->limit ? f->limit : 50;
	l.rows = calloc(limit, sizeof(*l.rows));
	if (!l.rows)
		return HQ_E_NOMEM;
	/* Newest first, keyset-paged on id: a page costs the same however
	 * deep into the table it is. With a status, events_status (status,
	 * id) serves both the filter and the order. */
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "SELECT " STORE_EVENT_ROW_COLUMNS_SIZED(
			 "(SELECT length(body) FROM event_bodies WHERE event_id = events.id)")
		 " FROM events WHERE id < ?1%s%s"
		 " ORDER BY id DESC LIMIT ?4",
		 f->status ? " AND status = ?2" : "", f->provider ? " AND provider = ?3" : "");
	pthread_mutex_lock(&s->read_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader, sql, -1, &st, NULL);
	int r = 0;
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, f->before_id > 0 ? f->before_id : INT64_MAX);
		if (f->status)
			sqlite3_bind_text(st, 2, f->status, -1, SQLITE_STATIC);
		if (f->provider)
			sqlite3_bind_text(st, 3, f->provider, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)limit + 1);
		while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (l.n == limit) {
				l.more = true;
				continue;
			}
			r = sqlite_event_row(st, &l.rows[l.n]);
			l.n++;
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_fail(s->reader, rc, "listing events", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->read_lock);
	if (r < 0) {
		store_event_list_release(&l);
		return r;
	}
	*ret = l;
	return 0;
}

static int sqlite_event_attempts(struct sqlite_store *s, struct store_event_detail *d,
				 struct store_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader,
				    "SELECT attempt, started_at, finished_at, worker, outcome, error"
				    " FROM event_attempts WHERE event_id = ?1 ORDER BY attempt",
				    -1, &st, NULL);
	int r = 0;
	size_t cap = 0;
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, d->row.id);
		while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (d->n_attempts == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				struct store_attempt *na =
					realloc(d->attempts, ncap * sizeof(*na));
				if (!na) {
					r = HQ_E_NOMEM;
					break;
				}
				d->attempts = na;
				cap = ncap;
			}
			struct store_attempt *a = &d->attempts[d->n_attempts++];
			a->attempt = sqlite3_column_int(st, 0);
			a->started_at_ms = sqlite3_column_int64(st, 1);
			a->finished_at_ms = sqlite3_column_int64(st, 2);
			bool nomem = false;
			a->worker = column_dup_opt(st, 3, &nomem);
			a->outcome = column_dup(st, 4);
			a->error = column_dup_opt(st, 5, &nomem);
			if (nomem || !a->outcome)
				r = HQ_E_NOMEM;
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_fail(s->reader, rc, "reading attempts", err);
	sqlite3_finalize(st);
	return r;
}

static int sqlite_get_event(struct store *base, int64_t id, size_t max_body,
			    struct store_event_detail *ret, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct store_event_detail d;
	memset(&d, 0, sizeof(d));
	bool zstd = false;
	pthread_mutex_lock(&s->read_lock);
	/* One read transaction: the event and its attempts as of one moment. */
	int r = sqlite_exec(s->reader, "BEGIN", err);
	sqlite3_stmt *st = NULL;
	if (r == 0) {
		int rc = sqlite3_prepare_v2(s->reader,
					    "SELECT " STORE_EVENT_ROW_COLUMNS ", b.headers, b.body, b.body_encoding"
					    " FROM events LEFT JOIN event_bodies b ON b.event_id = events.id"
					    " WHERE events.id = ?1",
					    -1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, id);
			rc = sqlite3_step(st);
		}
		if (rc == SQLITE_ROW) {
			r = sqlite_event_row(st, &d.row);
			d.headers_json = column_dup(st, STORE_EVENT_ROW_NCOLS);
			const char *enc = (const char *)sqlite3_column_text(st, STORE_EVENT_ROW_NCOLS + 2);
			zstd = enc && strcmp(enc, "zstd") == 0;
			if (r == 0 && !d.headers_json)
				r = HQ_E_NOMEM;
			if (r == 0)
				r = column_blob_dup(st, STORE_EVENT_ROW_NCOLS + 1, &d.body, &d.body_len);
		} else if (rc == SQLITE_DONE) {
			store_error_set(err, "no event %lld", (long long)id);
			r = HQ_E_NOTFOUND;
		} else {
			r = sqlite_fail(s->reader, rc, "reading the event", err);
		}
		sqlite3_finalize(st);
		if (r == 0)
			r = sqlite_event_attempts(s, &d, err);
		/* A reader left inside its transaction would pin the WAL and
		 * fail every later BEGIN. */
		if (sqlite3_exec(s->reader, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			sqlite3_exec(s->reader, "ROLLBACK", NULL, NULL, NULL);
	}
	pthread_mutex_unlock(&s->read_lock);
	/* Decoded outside the lock, like claims. */
	return store_event_detail_done(&d, r, zstd, max_body, ret);
}

/* A replay grants the event its full number of attempts again, while
 * attempts keeps counting every attempt the event ever had. */
#define RETRY_SET                                                                      \
	"UPDATE events SET status = 'pending', max_attempts = attempts + max_attempts," \
	" next_attempt_at = ?2, updated_at = ?2, completed_at = NULL, lease_owner = NULL,"  \
	" lease_expires_at = NULL"

/* Operator actions are rare and must be durable at once: they run at the
 * configured synchronous level, on the writer, like webhooks. */
static int sqlite_retry_event(struct store *base, int64_t id, const char *only, int64_t now_ms,
			      struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->write_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->writer,
				    RETRY_SET " WHERE id = ?1 AND status IN (?3, ?4)"
				    " RETURNING id",
				    -1, &st, NULL);
	bool changed = false;
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now_ms);
		sqlite3_bind_text(st, 3, only ? only : "dead_letter", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, only ? only : "completed", -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			changed = true;
	}
	int r = rc == SQLITE_DONE ? 0 : sqlite_fail(s->writer, rc, "retrying an event", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->write_lock);
	if (r < 0 || changed)
		return r;
	/* Nothing changed: say whether the event is missing or in the
	 * wrong state. */
	char sql[96];
	snprintf(sql, sizeof(sql), "SELECT id FROM events WHERE id = %lld", (long long)id);
	int64_t exists = INT64_MAX;
	r = sqlite_read_one(s, sql, "looking up the event", &exists, err);
	if (r < 0)
		return r;
	return store_retry_refused(id, only, exists != INT64_MAX, err);
}

static int sqlite_retry_events(struct store *base, const char *status, int64_t now_ms,
			       int64_t after_id, size_t limit, size_t *count, int64_t *last_id,
			       struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->write_lock);
	sqlite3_stmt *st = NULL;
	/* Keyset over ids, lowest first: each call moves past the last one,
	 * so an event processed again meanwhile is not replayed twice. */
	int rc = sqlite3_prepare_v2(s->writer,
				    RETRY_SET " WHERE id IN (SELECT id FROM events"
				    " INDEXED BY events_status WHERE status = ?1 AND id > ?3"
				    " ORDER BY id LIMIT ?4) RETURNING id",
				    -1, &st, NULL);
	size_t n = 0;
	int64_t last = after_id;
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now_ms);
		sqlite3_bind_int64(st, 3, after_id);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)limit);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(st, 0);
			if (id > last)
				last = id;
			n++;
		}
	}
	int r = rc == SQLITE_DONE ? 0 : sqlite_fail(s->writer, rc, "retrying events", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->write_lock);
	if (r == 0) {
		*count = n;
		*last_id = last;
	}
	return r;
}

/* Dynamic routes: operator writes, rare, durable at the configured level
 * like webhooks. */

/* Runs one write statement on the writer; *changed counts the rows. */
static int sqlite_admin_write(struct sqlite_store *s, sqlite3_stmt *st, const char *what,
			      int *changed, struct store_error *err)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : sqlite_fail(s->writer, rc, what, err);
	if (r == 0 && changed)
		*changed = sqlite3_changes(s->writer);
	sqlite3_finalize(st);
	return r;
}

void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static int sqlite_webhook_create(struct store *base, const struct store_webhook *w,
				 int64_t now_ms, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->write_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->writer,
				    "INSERT INTO webhooks (id, provider, name, secret, enabled,"
				    " created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
				    -1, &st, NULL);
	int r;
	if (rc != SQLITE_OK) {
		r = sqlite_fail(s->writer, rc, "preparing a webhook", err);
	} else {
		sqlite3_bind_text(st, 1, w->id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, w->provider, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, w->name, -1, SQLITE_TRANSIENT);
		bind_opt(st, 4, w->secret);
		sqlite3_bind_int(st, 5, w->enabled ? 1 : 0);
		sqlite3_bind_int64(st, 6, now_ms);
		r = sqlite_admin_write(s, st, "creating a webhook", NULL, err);
	}
	pthread_mutex_unlock(&s->write_lock);
	return r;
}

static int sqlite_webhook_update(struct store *base, const char *id, const char *name,
				 const char *secret, int enabled, int64_t now_ms,
				 struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->write_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->writer,
				    "UPDATE webhooks SET name = coalesce(?2, name),"
				    " secret = CASE WHEN ?3 IS NULL THEN secret ELSE ?3 END,"
				    " enabled = CASE WHEN ?4 < 0 THEN enabled ELSE ?4 END,"
				    " updated_at = ?5 WHERE id = ?1",
				    -1, &st, NULL);
	int r, changed = 0;
	if (rc != SQLITE_OK) {
		r = sqlite_fail(s->writer, rc, "preparing a webhook update", err);
	} else {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		bind_opt(st, 2, name);
		bind_opt(st, 3, secret);
		sqlite3_bind_int(st, 4, enabled);
		sqlite3_bind_int64(st, 5, now_ms);
		r = sqlite_admin_write(s, st, "updating a webhook", &changed, err);
	}
	pthread_mutex_unlock(&s->write_lock);
	if (r == 0 && changed == 0) {
		store_error_set(err, "no webhook '%s'", id);
		return HQ_E_NOTFOUND;
	}
	return r;
}

static int sqlite_webhook_delete(struct store *base, const char *id, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->write_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->writer, "DELETE FROM webhooks WHERE id = ?1", -1, &st, NULL);
	int r, changed = 0;
	if (rc != SQLITE_OK) {
		r = sqlite_fail(s->writer, rc, "preparing a webhook delete", err);
	} else {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		r = sqlite_admin_write(s, st, "deleting a webhook", &changed, err);
	}
	pthread_mutex_unlock(&s->write_lock);
	if (r == 0 && changed == 0) {
		store_error_set(err, "no webhook '%s'", id);
		return HQ_E_NOTFOUND;
	}
	return r;
}

/* The ack path's lookup: one row by primary key, no transaction, no
 * commands. */
static int sqlite_webhook_peek(struct store *base, const char *id, char *provider,
			       size_t provider_size, bool *enabled, char *secret,
			       size_t secret_size, bool *has_secret, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->read_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader,
				    "SELECT provider, enabled, secret FROM webhooks WHERE id = ?1", -1,
				    &st, NULL);
	int r = 0;
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	if (rc == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 0);
		const char *sec = (const char *)sqlite3_column_text(st, 2);
		*enabled = sqlite3_column_int(st, 1) != 0;
		*has_secret = sec != NULL;
		if (snprintf(provider, provider_size, "%s", p ? p : "") >= (int)provider_size ||
		    snprintf(secret, secret_size, "%s", sec ? sec : "") >= (int)secret_size)
			r = HQ_E_TOOBIG;
	} else if (rc == SQLITE_DONE) {
		store_error_set(err, "no webhook '%s'", id);
		r = HQ_E_NOTFOUND;
	} else {
		r = sqlite_fail(s->reader, rc, "looking up a webhook", err);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->read_lock);
	return r;
}

static int sqlite_webhook_commands(struct sqlite_store *s, struct store_webhook *w,
				   struct store_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader,
				    "SELECT id, trigger, action, agent, template, conditions, priority,"
				    " created_at, updated_at FROM webhook_commands"
				    " WHERE webhook_id = ?1 ORDER BY priority, created_at, id",
				    -1, &st, NULL);
	int r = 0;
	size_t cap = 0;
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, w->id, -1, SQLITE_STATIC);
		while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (w->n_commands == cap) {
				size_t ncap = cap ? cap * 2 : 4;
				struct store_webhook_command *nc =
					realloc(w->commands, ncap * sizeof(*nc));
				if (!nc) {
					r = HQ_E_NOMEM;
					break;
				}
				w->commands = nc;
				cap = ncap;
			}
			struct store_webhook_command *c = &w->commands[w->n_commands++];
			memset(c, 0, sizeof(*c));
			bool nomem = false;
			snprintf(c->id, sizeof(c->id), "%s", (const char *)sqlite3_column_text(st, 0));
			c->trigger = column_dup(st, 1);
			c->action = column_dup(st, 2);
			c->agent = column_dup_opt(st, 3, &nomem);
			c->template_text = column_dup_opt(st, 4, &nomem);
			c->conditions_json = column_dup_opt(st, 5, &nomem);
			c->priority = sqlite3_column_int64(st, 6);
			c->created_at_ms = sqlite3_column_int64(st, 7);
			c->updated_at_ms = sqlite3_column_int64(st, 8);
			if (nomem || !c->trigger || !c->action)
				r = HQ_E_NOMEM;
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_fail(s->reader, rc, "reading webhook commands", err);
	sqlite3_finalize(st);
	return r;
}

static int sqlite_webhook_list(struct store *base, const char *id, struct store_webhook **ret,
			       size_t *n_ret, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct store_webhook *list = NULL;
	size_t n = 0, cap = 0;
	pthread_mutex_lock(&s->read_lock);
	int r = sqlite_exec(s->reader, "BEGIN", err);
	sqlite3_stmt *st = NULL;
	if (r == 0) {
		int rc = sqlite3_prepare_v2(s->reader,
					    id ? "SELECT id, provider, name, secret, enabled, created_at,"
						 " updated_at FROM webhooks WHERE id = ?1" :
						 "SELECT id, provider, name, secret, enabled, created_at,"
						 " updated_at FROM webhooks ORDER BY created_at, id",
					    -1, &st, NULL);
		if (rc == SQLITE_OK && id)
			sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		while (r == 0 && rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				struct store_webhook *nl = realloc(list, ncap * sizeof(*nl));
				if (!nl) {
					r = HQ_E_NOMEM;
					break;
				}
				list = nl;
				cap = ncap;
			}
			struct store_webhook *w = &list[n++];
			memset(w, 0, sizeof(*w));
			bool nomem = false;
			snprintf(w->id, sizeof(w->id), "%s", (const char *)sqlite3_column_text(st, 0));
			w->provider = column_dup(st, 1);
			w->name = column_dup(st, 2);
			w->secret = column_dup_opt(st, 3, &nomem);
			w->enabled = sqlite3_column_int(st, 4) != 0;
			w->created_at_ms = sqlite3_column_int64(st, 5);
			w->updated_at_ms = sqlite3_column_int64(st, 6);
			if (nomem || !w->provider || !w->name)
				r = HQ_E_NOMEM;
			rc = SQLITE_OK;
		}
		if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_OK)
			r = sqlite_fail(s->reader, rc, "reading webhooks", err);
		sqlite3_finalize(st);
		for (size_t i = 0; r == 0 && i < n; i++)
			r = sqlite_webhook_commands(s, &list[i], err);
		if (sqlite3_exec(s->reader, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			sqlite3_exec(s->reader, "ROLLBACK", NULL, NULL, NULL);
	}
	pthread_mutex_unlock(&s->read_lock);
	if (r < 0) {
		store_webhook_list_release(list, n);
		return r;
	}
	*ret = list;
	*n_ret = n;
	return 0;
}

static int sqlite_webhook_command_put(struct store *base, const char *webhook_id,
				      const struct store_webhook_command *c, bool create,
				      int64_t now_ms, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->write_lock);
	sqlite3_stmt *st = NULL;
	/* The webhook must exist: the insert selects from it. */
	const char *sql =
		create ? "INSERT INTO webhook_commands (id, webhook_id, trigger, action, agent,"
			 " template, conditions, priority, created_at, updated_at)"
			 " SELECT ?1, id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9 FROM webhooks WHERE id = ?2" :
			 "UPDATE webhook_commands SET trigger = ?3, action = ?4, agent = ?5,"
			 " template = ?6, conditions = ?7, priority = ?8, updated_at = ?9"
			 " WHERE id = ?1 AND webhook_id = ?2";
	int rc = sqlite3_prepare_v2(s->writer, sql, -1, &st, NULL);
	int r, changed = 0;
	if (rc != SQLITE_OK) {
		r = sqlite_fail(s->writer, rc, "preparing a webhook command", err);
	} else {
		sqlite3_bind_text(st, 1, c->id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, webhook_id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, c->trigger, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, c->action, -1, SQLITE_TRANSIENT);
		bind_opt(st, 5, c->agent);
		bind_opt(st, 6, c->template_text);
		bind_opt(st, 7, c->conditions_json);
		sqlite3_bind_int64(st, 8, c->priority);
		sqlite3_bind_int64(st, 9, now_ms);
		r = sqlite_admin_write(s, st, "storing a webhook command", &changed, err);
	}
	pthread_mutex_unlock(&s->write_lock);
	if (r == 0 && changed == 0) {
		store_error_set(err, create ? "no webhook '%s'" : "no command '%s' in that webhook",
				create ? webhook_id : c->id);
		return HQ_E_NOTFOUND;
	}
	return r;
}

static int sqlite_webhook_command_delete(struct store *base, const char *webhook_id,
					 const char *id, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->write_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->writer,
				    "DELETE FROM webhook_commands WHERE id = ?1 AND webhook_id = ?2", -1,
				    &st, NULL);
	int r, changed = 0;
	if (rc != SQLITE_OK) {
		r = sqlite_fail(s->writer, rc, "preparing a command delete", err);
	} else {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, webhook_id, -1, SQLITE_TRANSIENT);
		r = sqlite_admin_write(s, st, "deleting a webhook command", &changed, err);
	}
	pthread_mutex_unlock(&s->write_lock);
	if (r == 0 && changed == 0) {
		store_error_set(err, "no command '%s' in webhook '%s'", id, webhook_id);
		return HQ_E_NOTFOUND;
	}
	return r;
}

static const struct store_ops sqlite_ops = {
	.close = sqlite_close,
	.insert_events = sqlite_insert_events,
	.count_events = sqlite_count_events,
	.schema_version = sqlite_schema_version,
	.claim_events = sqlite_claim_events,
	.finish_events = sqlite_finish_events,
	.reclaim_expired = sqlite_reclaim_expired,
	.next_due = sqlite_next_due,
	.oldest_pending = sqlite_oldest_pending,
	.retry_event = sqlite_retry_event,
	.retry_events = sqlite_retry_events,
	.purge_events = sqlite_purge_events,
	.list_events = sqlite_list_events,
	.get_event = sqlite_get_event,
	.webhook_create = sqlite_webhook_create,
	.webhook_update = sqlite_webhook_update,
	.webhook_delete = sqlite_webhook_delete,
	.webhook_peek = sqlite_webhook_peek,
	.webhook_list = sqlite_webhook_list,
	.webhook_command_put = sqlite_webhook_command_put,
	.webhook_command_delete = sqlite_webhook_command_delete,
};

int store_sqlite_open(const char *path, const struct store_options *opt,
		      struct store **ret, struct store_error *err)
{
	struct sqlite_store *s = calloc(1, sizeof(*s));
	if (!s)
		return HQ_E_NOMEM;
	s->base.ops = &sqlite_ops;
	s->base.task_ops = &sqlite_task_ops;
	s->base.outbox_ops = &sqlite_outbox_ops;
	s->base.node_ops = &sqlite_node_ops;
	s->sync = opt->synchronous;
	atomic_init(&s->webhooks_waiting, 0);
	pthread_mutex_init(&s->write_lock, NULL);
	pthread_mutex_init(&s->read_lock, NULL);
	pthread_mutex_init(&s->checkpoint_lock, NULL);
	pthread_cond_init(&s->checkpoint_cond, NULL);
	int r = HQ_E_NOMEM;
	s->path = strdup(path);
	if (!s->path)
		goto out_close;

	if ((r = sqlite_connect(path, opt, &s->writer, err)) < 0)
		goto out_close;
	if ((r = sqlite_wal_mode(s->writer, path, err)) < 0)
		goto out_close;
	if ((r = sqlite_migrate(s->writer, err)) < 0)
		goto out_close;
	/* Checkpoints run on their own thread, not in the committing one. */
	if ((r = sqlite_exec(s->writer, "PRAGMA wal_autocheckpoint=0", err)) < 0)
		goto out_close;
	sqlite3_wal_hook(s->writer, sqlite_wal_hook, s);

	int rc = sqlite3_prepare_v3(
		s->writer,
		"INSERT INTO events (provider, route, delivery_id, event_type,"
		" received_at, max_attempts, next_attempt_at, updated_at)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5, ?5)"
		" ON CONFLICT (provider, route, delivery_id)"
		" DO UPDATE SET duplicates = duplicates + 1"
		" RETURNING id, duplicates",
		-1, SQLITE_PREPARE_PERSISTENT, &s->insert, NULL);
	if (rc != SQLITE_OK) {
		r = sqlite_fail(s->writer, rc, "preparing insert", err);
		goto out_close;
	}
	/* OR REPLACE: an id SQLite reuses after the newest event was purged
	 * gets its own body even if a stale one were left. */
	rc = sqlite3_prepare_v3(s->writer,
				"INSERT OR REPLACE INTO event_bodies (event_id, headers, body, body_encoding)"
				" VALUES (?1, ?2, ?3, ?4)",
				-1, SQLITE_PREPARE_PERSISTENT, &s->insert_body, NULL);
	if (rc != SQLITE_OK) {
		r = sqlite_fail(s->writer, rc, "preparing insert", err);
		goto out_close;
	}
	if ((r = sqlite_connect(path, opt, &s->reader, err)) < 0)
		goto out_close;
	if ((r = sqlite_connect(path, opt, &s->checkpointer, err)) < 0)
		goto out_close;
	if (pthread_create(&s->checkpoint_thread, NULL, sqlite_checkpoint_main, s) != 0) {
		store_error_set(err, "cannot start the checkpoint thread");
		r = HQ_E_SYSTEM;
		goto out_close;
	}
	s->checkpoint_running = true;
	*ret = &s->base;
	return 0;

out_close:
	sqlite_close(&s->base);
	return r;
}
