/* SQLite backend, outbox: replies written with the change that causes
 * them, claimed by senders under a lease, finished as sent, retried or
 * dead. Bookkeeping durability like task changes (the write that creates a
 * reply is the task's or event's own transaction). */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite.h"
#include "util/error.h"

enum outbox_stmt { OS_INSERT, OS_FINISH };

void sqlite_outbox_finalize(struct sqlite_store *s)
{
	for (size_t i = 0; i < SQLITE_OUTBOX_STMTS; i++) {
		sqlite3_finalize(s->outbox_stmt[i]);
		s->outbox_stmt[i] = NULL;
	}
}

static int item_row(sqlite3_stmt *st, struct store_outbox_item *it)
{
	memset(it, 0, sizeof(*it));
	bool nomem = false;
	it->id = sqlite3_column_int64(st, 0);
	it->task_id = sqlite3_column_int64(st, 1);
	it->origin = column_dup(st, 2);
	it->kind = column_dup(st, 3);
	it->target_json = column_dup(st, 4);
	it->body_json = column_dup(st, 5);
	it->status = column_dup(st, 6);
	it->last_error = column_dup_opt(st, 7, &nomem);
	it->result = column_dup_opt(st, 8, &nomem);
	it->attempts = sqlite3_column_int(st, 9);
	it->max_attempts = sqlite3_column_int(st, 10);
	it->uncertain = sqlite3_column_int(st, 11) != 0;
	it->next_attempt_at_ms = sqlite3_column_int64(st, 12);
	it->lease_expires_at_ms = sqlite3_column_int64(st, 13);
	it->created_at_ms = sqlite3_column_int64(st, 14);
	it->updated_at_ms = sqlite3_column_int64(st, 15);
	it->sent_at_ms = sqlite3_column_int64(st, 16);
	if (nomem || !it->origin || !it->kind || !it->target_json || !it->body_json ||
	    !it->status)
		return HQ_E_NOMEM;
	return 0;
}

int sqlite_outbox_insert(struct sqlite_store *s, const struct store_outbox_in *in,
			 const char *origin, int64_t task_id, int64_t now_ms,
			 struct store_error *err)
{
	int r = sqlite_cached(s, &s->outbox_stmt[OS_INSERT],
			      "INSERT INTO outbox (origin, kind, task_id, target, body, max_attempts,"
			      " next_attempt_at, created_at, updated_at)"
			      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7)"
			      " ON CONFLICT (origin) DO NOTHING",
			      err);
	if (r < 0)
		return r;
	sqlite3_stmt *st = s->outbox_stmt[OS_INSERT];
	sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, in->kind, -1, SQLITE_STATIC);
	if (task_id > 0)
		sqlite3_bind_int64(st, 3, task_id);
	sqlite3_bind_text(st, 4, in->target_json, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, in->body_json, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, in->max_attempts > 0 ? in->max_attempts : 10);
	sqlite3_bind_int64(st, 7, now_ms);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sqlite_fail(s->writer, rc, "writing a reply", err);
}

/* Grows an array to hold one more element. */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 8;
	void *na = realloc(*arr, ncap * size);
	if (!na)
		return HQ_E_NOMEM;
	*arr = na;
	*cap = ncap;
	return 0;
}

/* Reads every row of st into items. */
static int read_items(sqlite3 *db, sqlite3_stmt *st, size_t limit, struct store_outbox_item **ret,
		      size_t *n, bool *more, const char *what, struct store_error *err)
{
	struct store_outbox_item *items = NULL;
	size_t count = 0, cap = 0;
	int rc, r = 0;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == limit) {
			if (more)
				*more = true;
			continue;
		}
		if ((r = grow((void **)&items, &cap, count, sizeof(*items))) < 0)
			break;
		r = item_row(st, &items[count]);
		count++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_fail(db, rc, what, err);
	if (r < 0) {
		store_outbox_items_release(items, count);
		return r;
	}
	*ret = items;
	*n = count;
	return 0;
}

static int sqlite_outbox_claim(struct store *base, const char *owner, int64_t now_ms,
			       int64_t lease_ms, size_t max, struct store_outbox_item **ret,
			       size_t *n, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	*ret = NULL;
	*n = 0;
	/* Most polls find nothing: look on the reader first. */
	char sql[200];
	snprintf(sql, sizeof(sql),
		 "SELECT id FROM outbox INDEXED BY outbox_due WHERE status = 'pending'"
		 " AND next_attempt_at <= %lld LIMIT 1",
		 (long long)now_ms);
	int64_t any = INT64_MAX;
	int r = sqlite_read_one(s, sql, "looking for due replies", &any, err);
	if (r < 0 || any == INT64_MAX)
		return r;
	sqlite_background_lock(s);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(
		s->writer,
		"UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_owner = ?1,"
		" lease_expires_at = ?3, updated_at = ?2"
		" WHERE id IN (SELECT id FROM outbox INDEXED BY outbox_due"
		"  WHERE status = 'pending' AND next_attempt_at <= ?2"
		"  ORDER BY next_attempt_at, id LIMIT ?4)"
		" RETURNING " STORE_OUTBOX_ITEM_COLUMNS,
		-1, &st, NULL);
	if (rc != SQLITE_OK) {
		r = sqlite_fail(s->writer, rc, "preparing the outbox claim", err);
	} else {
		sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now_ms);
		sqlite3_bind_int64(st, 3, now_ms + lease_ms);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)max);
		r = read_items(s->writer, st, max, ret, n, NULL, "claiming replies", err);
	}
	sqlite3_finalize(st);
	sqlite_background_unlock(s);
	return r;
}

static int sqlite_outbox_finish(struct store *base, int64_t id, const char *owner,
				const struct store_outbox_end *e, int64_t now_ms,
				struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite_background_lock(s);
	int r = sqlite_cached(
		s, &s->outbox_stmt[OS_FINISH],
		"UPDATE outbox SET status = CASE ?3 WHEN 'sent' THEN 'sent' WHEN 'dead' THEN 'dead'"
		"  ELSE CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END END,"
		" next_attempt_at = CASE WHEN ?3 = 'retry' THEN ?4 ELSE next_attempt_at END,"
		" uncertain = CASE WHEN ?3 = 'sent' THEN 0 ELSE uncertain OR ?5 END,"
		" last_error = CASE WHEN ?3 = 'sent' THEN last_error ELSE ?6 END,"
		" result = coalesce(?7, result),"
		" sent_at = CASE WHEN ?3 = 'sent' THEN ?8 END,"
		" lease_owner = NULL, lease_expires_at = NULL, updated_at = ?8"
		" WHERE id = ?1 AND status = 'sending' AND lease_owner = ?2",
		err);
	if (r == 0) {
		sqlite3_stmt *st = s->outbox_stmt[OS_FINISH];
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, store_outbox_outcome_names[e->outcome], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, e->next_attempt_at_ms);
		sqlite3_bind_int(st, 5, e->uncertain ? 1 : 0);
		bind_opt(st, 6, e->error);
		bind_opt(st, 7, e->result);
		sqlite3_bind_int64(st, 8, now_ms);
		int rc = sqlite3_step(st);
		int changed = sqlite3_changes(s->writer);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			r = sqlite_fail(s->writer, rc, "recording a reply", err);
		} else if (changed == 0) {
			r = store_outbox_not_owner(id, err);
		}
	}
	sqlite_background_unlock(s);
	return r;
}

static int sqlite_outbox_reclaim(struct store *base, int64_t now_ms, size_t *n,
				 struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	*n = 0;
	sqlite_background_lock(s);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(
		s->writer,
		"UPDATE outbox SET status = CASE WHEN attempts >= max_attempts THEN 'dead'"
		"  ELSE 'pending' END, uncertain = 1, next_attempt_at = ?1, updated_at = ?1,"
		" last_error = '" STORE_OUTBOX_LEASE_EXPIRED "',"
		" lease_owner = NULL, lease_expires_at = NULL"
		" WHERE id IN (SELECT id FROM outbox INDEXED BY outbox_leases"
		"  WHERE status = 'sending' AND lease_expires_at <= ?1)",
		-1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, now_ms);
		rc = sqlite3_step(st);
	}
	int r = rc == SQLITE_DONE ? 0 : sqlite_fail(s->writer, rc, "reclaiming replies", err);
	if (r == 0)
		*n = (size_t)sqlite3_changes(s->writer);
	sqlite3_finalize(st);
	sqlite_background_unlock(s);
	return r;
}

static int sqlite_outbox_list(struct store *base, const struct store_outbox_filter *f,
			      struct store_outbox_list *ret, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	size_t limit = f->limit ? f->limit : 50;
	char sql[512];
	int sn = snprintf(sql, sizeof(sql),
			  "SELECT " STORE_OUTBOX_ITEM_COLUMNS
			  " FROM outbox WHERE id < ?1%s%s ORDER BY id DESC LIMIT ?4",
			  f->status ? " AND status = ?2" : "",
			  f->task_id > 0 ? " AND task_id = ?3" : "");
	if (sn < 0 || (size_t)sn >= sizeof(sql))
		return HQ_E_TOOBIG;
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&s->read_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader, sql, -1, &st, NULL);
	int r;
	if (rc != SQLITE_OK) {
		r = sqlite_fail(s->reader, rc, "preparing the outbox list", err);
	} else {
		sqlite3_bind_int64(st, 1, f->before_id > 0 ? f->before_id : INT64_MAX);
		bind_opt(st, 2, f->status);
		sqlite3_bind_int64(st, 3, f->task_id);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)limit + 1);
		r = read_items(s->reader, st, limit, &ret->items, &ret->n, &ret->more,
			       "listing replies", err);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->read_lock);
	return r;
}

static int sqlite_outbox_retry(struct store *base, int64_t id, int64_t now_ms,
			       struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite_background_lock(s);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->writer,
				    /* Its full attempts again (not more each time). */
				    "UPDATE outbox SET status = 'pending', next_attempt_at = ?2,"
				    " attempts = 0, updated_at = ?2"
				    " WHERE id = ?1 AND status = 'dead'",
				    -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now_ms);
		rc = sqlite3_step(st);
	}
	bool changed = rc == SQLITE_DONE && sqlite3_changes(s->writer) > 0;
	int r = rc == SQLITE_DONE ? 0 : sqlite_fail(s->writer, rc, "retrying a reply", err);
	sqlite3_finalize(st);
	sqlite_background_unlock(s);
	if (r < 0 || changed)
		return r;
	char sql[96];
	snprintf(sql, sizeof(sql), "SELECT id FROM outbox WHERE id = %lld", (long long)id);
	int64_t exists = INT64_MAX;
	if ((r = sqlite_read_one(s, sql, "looking up a reply", &exists, err)) < 0)
		return r;
	return store_outbox_retry_refused(id, exists != INT64_MAX, err);
}

static int sqlite_outbox_count(struct store *base, struct store_outbox_counts *ret,
			       struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct store_outbox_counts c;
	memset(&c, 0, sizeof(c));
	pthread_mutex_lock(&s->read_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader,
				    "SELECT status, count(*) FROM outbox INDEXED BY outbox_status"
				    " GROUP BY status",
				    -1, &st, NULL);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		store_outbox_counts_add(&c, (const char *)sqlite3_column_text(st, 0),
					sqlite3_column_int64(st, 1));
	}
	int r = rc == SQLITE_DONE ? 0 : sqlite_fail(s->reader, rc, "counting replies", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->read_lock);
	if (r == 0)
		*ret = c;
	return r;
}

static int sqlite_outbox_next_due(struct store *base, int64_t *ret, struct store_error *err)
{
	return sqlite_read_one((struct sqlite_store *)base,
			       "SELECT next_attempt_at FROM outbox INDEXED BY outbox_due"
			       " WHERE status = 'pending' ORDER BY next_attempt_at LIMIT 1",
			       "reading the next reply due", ret, err);
}

static int sqlite_outbox_purge(struct store *base, int64_t before_ms, size_t limit,
			       size_t *purged, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	*purged = 0;
	sqlite_background_lock(s);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->writer,
				    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox"
				    " INDEXED BY outbox_status WHERE status IN ('sent', 'dead')"
				    " AND updated_at < ?1 LIMIT ?2)",
				    -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, before_ms);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
		rc = sqlite3_step(st);
	}
	int r = rc == SQLITE_DONE ? 0 : sqlite_fail(s->writer, rc, "purging replies", err);
	if (r == 0)
		*purged = (size_t)sqlite3_changes(s->writer);
	sqlite3_finalize(st);
	sqlite_background_unlock(s);
	return r;
}

static int sqlite_outbox_write(struct store *base, int64_t task_id, int run,
			       const struct store_outbox_in *in, size_t n, int64_t now_ms,
			       struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite_background_lock(s);
	int r = sqlite_exec(s->writer, "BEGIN IMMEDIATE", err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		char origin[128];
		r = store_outbox_task_origin(origin, sizeof(origin), task_id, run, in[i].name, err);
		if (r == 0)
			r = sqlite_outbox_insert(s, &in[i], origin, task_id, now_ms, err);
	}
	if (r == 0)
		r = sqlite_exec(s->writer, "COMMIT", err);
	if (r < 0)
		sqlite3_exec(s->writer, "ROLLBACK", NULL, NULL, NULL);
	sqlite_background_unlock(s);
	return r;
}

const struct store_outbox_ops sqlite_outbox_ops = {
	.write = sqlite_outbox_write,
	.purge = sqlite_outbox_purge,
	.claim = sqlite_outbox_claim,
	.finish = sqlite_outbox_finish,
	.reclaim = sqlite_outbox_reclaim,
	.list = sqlite_outbox_list,
	.retry = sqlite_outbox_retry,
	.count = sqlite_outbox_count,
	.next_due = sqlite_outbox_next_due,
};
