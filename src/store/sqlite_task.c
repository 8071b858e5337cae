/* SQLite backend, tasks: flows and conversations, the task lifecycle
 * (queued, running under a lease, ended), claims of projects by workers.
 * Writes go through the writer at bookkeeping durability like event
 * outcomes (no fsync per task start: a start lost to a power cut leaves
 * the task queued, and it runs again); reads use the reader. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite.h"
#include "util/crypto.h"
#include "util/error.h"

enum task_stmt {
	TS_BY_ORIGIN,
	TS_PARENT,
	TS_FLOW,
	TS_FLOW_INSERT,
	TS_FLOW_SET_CONVERSATION,
	TS_CONVERSATION_INSERT,
	TS_CONVERSATION_COUNT,
	TS_INSERT,
	TS_START,
	TS_CLAIM,
	TS_FINISH,
	TS_ATTEMPT,
	TS_METRICS,
	TS_CLAIM_RELEASE,
	TS_HEARTBEAT,
	TS_HEARTBEAT_CLAIMS,
};

_Static_assert(TS_HEARTBEAT_CLAIMS < SQLITE_TASK_STMTS, "raise SQLITE_TASK_STMTS");

#define TASK_COLUMNS STORE_TASK_ROW_COLUMNS
#define TASK_NCOLS STORE_TASK_ROW_NCOLS
#define TASK_FROM " FROM tasks t LEFT JOIN flows f ON f.id = t.flow_id"
/* The same, walking one index of tasks. */
#define TASK_FROM_INDEXED(index) \
	" FROM tasks t INDEXED BY " index " LEFT JOIN flows f ON f.id = t.flow_id"

void sqlite_task_finalize(struct sqlite_store *s)
{
	for (size_t i = 0; i < SQLITE_TASK_STMTS; i++) {
		sqlite3_finalize(s->task_stmt[i]);
		s->task_stmt[i] = NULL;
	}
}

static int stmt(struct sqlite_store *s, enum task_stmt which, const char *sql,
		sqlite3_stmt **ret, struct store_error *err)
{
	int r = sqlite_cached(s, &s->task_stmt[which], sql, err);
	if (r == 0)
		*ret = s->task_stmt[which];
	return r;
}

static void copy_id(char *dst, size_t size, const unsigned char *src)
{
	snprintf(dst, size, "%s", src ? (const char *)src : "");
}

/* Steps a cached write statement to its end; *changed counts the rows. */
static int step_done(struct sqlite_store *s, sqlite3_stmt *st, const char *what,
		     struct store_error *err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sqlite_fail(s->writer, rc, what, err);
}

static int new_conversation(struct sqlite_store *s, const char *flow_id, int64_t now_ms,
			    char out[STORE_CONVERSATION_ID_MAX], struct store_error *err)
{
	int r = store_conversation_id(out, err);
	if (r < 0)
		return r;
	sqlite3_stmt *st = NULL;
	r = stmt(s, TS_CONVERSATION_INSERT,
		     "INSERT INTO conversations (id, flow_id, created_at, updated_at)"
		     " VALUES (?1, ?2, ?3, ?3)",
		     &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, out, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, flow_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms);
	return step_done(s, st, "creating a conversation", err);
}

/* Where a new task goes: its parent's flow and conversation, or its
 * flow's current conversation; a flow or conversation is created as
 * needed. */
static int place(struct sqlite_store *s, struct store_task_in *t, int64_t now_ms,
		 struct store_error *err)
{
	sqlite3_stmt *st = NULL;
	int r, rc;
	char flow[STORE_FLOW_ID_MAX] = "", conv[STORE_CONVERSATION_ID_MAX] = "";
	if (t->parent_id > 0) {
		if ((r = stmt(s, TS_PARENT,
			      "SELECT flow_id, conversation_id FROM tasks WHERE id = ?1", &st,
			      err)) < 0)
			return r;
		sqlite3_bind_int64(st, 1, t->parent_id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			copy_id(flow, sizeof(flow), sqlite3_column_text(st, 0));
			copy_id(conv, sizeof(conv), sqlite3_column_text(st, 1));
		}
		sqlite3_reset(st);
		if (rc == SQLITE_DONE) {
			store_error_set(err, "no task %lld (the parent)", (long long)t->parent_id);
			return HQ_E_NOTFOUND;
		}
		if (rc != SQLITE_ROW)
			return sqlite_fail(s->writer, rc, "reading the parent task", err);
	} else {
		if (!t->flow_id || !t->external_id) {
			store_error_set(err, "a task without a parent needs a flow");
			return HQ_E_INVAL;
		}
		snprintf(flow, sizeof(flow), "%s", t->flow_id);
		if ((r = stmt(s, TS_FLOW, "SELECT conversation_id FROM flows WHERE id = ?1", &st,
			      err)) < 0)
			return r;
		sqlite3_bind_text(st, 1, flow, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			copy_id(conv, sizeof(conv), sqlite3_column_text(st, 0));
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return sqlite_fail(s->writer, rc, "reading the flow", err);
		if (rc == SQLITE_DONE) {
			/* A new flow starts with a new conversation. */
			if ((r = new_conversation(s, flow, now_ms, conv, err)) < 0)
				return r;
			if ((r = stmt(s, TS_FLOW_INSERT,
				      "INSERT INTO flows (id, external_id, conversation_id,"
				      " created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
				      &st, err)) < 0)
				return r;
			sqlite3_bind_text(st, 1, flow, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, t->external_id, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, conv, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 4, now_ms);
			if ((r = step_done(s, st, "creating a flow", err)) < 0)
				return r;
			t->new_conversation = false;
		}
	}
	if (t->new_conversation) {
		/* The flow goes on in the new conversation: later tasks that
		 * are not children join it. */
		if ((r = new_conversation(s, flow, now_ms, conv, err)) < 0)
			return r;
		if ((r = stmt(s, TS_FLOW_SET_CONVERSATION,
			      "UPDATE flows SET conversation_id = ?2, updated_at = ?3 WHERE id = ?1",
			      &st, err)) < 0)
			return r;
		sqlite3_bind_text(st, 1, flow, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, conv, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now_ms);
		if ((r = step_done(s, st, "updating the flow", err)) < 0)
			return r;
	}
	snprintf(t->ret_flow_id, sizeof(t->ret_flow_id), "%s", flow);
	snprintf(t->ret_conversation_id, sizeof(t->ret_conversation_id), "%s", conv);
	return 0;
}

int sqlite_task_insert(struct sqlite_store *s, struct store_task_in *t, int64_t now_ms,
		       struct store_error *err)
{
	sqlite3_stmt *st = NULL;
	int r = stmt(s, TS_BY_ORIGIN,
		     "SELECT id, flow_id, conversation_id FROM tasks WHERE origin = ?1", &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, t->origin, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		t->id = sqlite3_column_int64(st, 0);
		t->duplicate = true;
		copy_id(t->ret_flow_id, sizeof(t->ret_flow_id), sqlite3_column_text(st, 1));
		copy_id(t->ret_conversation_id, sizeof(t->ret_conversation_id),
			sqlite3_column_text(st, 2));
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return sqlite_fail(s->writer, rc, "looking up a task", err);

	if ((r = place(s, t, now_ms, err)) < 0)
		return r;
	if ((r = stmt(s, TS_INSERT,
		      "INSERT INTO tasks (origin, event_id, parent_id, flow_id, conversation_id,"
		      " route, command, agent, pool, project, title, prompt, metadata, priority,"
		      " max_attempts, next_attempt_at, created_at, updated_at)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
		      " coalesce(?13, '{}'), ?14, ?15, ?16, ?16, ?16) RETURNING id",
		      &st, err)) < 0)
		return r;
	sqlite3_bind_text(st, 1, t->origin, -1, SQLITE_STATIC);
	if (t->event_id > 0)
		sqlite3_bind_int64(st, 2, t->event_id);
	if (t->parent_id > 0)
		sqlite3_bind_int64(st, 3, t->parent_id);
	sqlite3_bind_text(st, 4, t->ret_flow_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, t->ret_conversation_id, -1, SQLITE_STATIC);
	bind_opt(st, 6, t->route);
	bind_opt(st, 7, t->command);
	sqlite3_bind_text(st, 8, t->agent, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, t->pool ? t->pool : "main", -1, SQLITE_STATIC);
	bind_opt(st, 10, t->project && *t->project ? t->project : NULL);
	sqlite3_bind_text(st, 11, t->title ? t->title : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, t->prompt ? t->prompt : "", -1, SQLITE_STATIC);
	bind_opt(st, 13, t->metadata_json);
	sqlite3_bind_int(st, 14, t->priority);
	sqlite3_bind_int(st, 15, t->max_attempts > 0 ? t->max_attempts : 1);
	sqlite3_bind_int64(st, 16, now_ms);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		t->id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return sqlite_fail(s->writer, rc, "creating a task", err);
	t->duplicate = false;
	/* The replies its creation causes, in the same transaction. */
	for (size_t i = 0; i < t->n_outbox; i++) {
		char origin[700];
		snprintf(origin, sizeof(origin), "%s:%s", t->origin, t->outbox[i].name);
		if ((r = sqlite_outbox_insert(s, &t->outbox[i], origin, t->id, now_ms, err)) < 0)
			return r;
	}
	if ((r = stmt(s, TS_CONVERSATION_COUNT,
		      "UPDATE conversations SET tasks = tasks + 1, updated_at = ?2 WHERE id = ?1",
		      &st, err)) < 0)
		return r;
	sqlite3_bind_text(st, 1, t->ret_conversation_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ms);
	return step_done(s, st, "counting a conversation's task", err);
}

/* Runs fn inside one write transaction at bookkeeping durability. */
static int in_write(struct sqlite_store *s, int (*fn)(struct sqlite_store *, void *,
						       struct store_error *),
		    void *ctx, struct store_error *err)
{
	sqlite_background_lock(s);
	int r = sqlite_exec(s->writer, "BEGIN IMMEDIATE", err);
	if (r == 0)
		r = fn(s, ctx, err);
	if (r == 0)
		r = sqlite_exec(s->writer, "COMMIT", err);
	if (r < 0)
		sqlite3_exec(s->writer, "ROLLBACK", NULL, NULL, NULL);
	sqlite_background_unlock(s);
	return r;
}

struct create_ctx {
	struct store_task_in *tasks;
	size_t n;
	int64_t now_ms;
};

static int create_in(struct sqlite_store *s, void *ctx, struct store_error *err)
{
	struct create_ctx *c = ctx;
	for (size_t i = 0; i < c->n; i++) {
		int r = sqlite_task_insert(s, &c->tasks[i], c->now_ms, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int sqlite_create_tasks(struct store *base, struct store_task_in *tasks, size_t n,
			       int64_t now_ms, struct store_error *err)
{
	struct create_ctx c = { tasks, n, now_ms };
	return in_write((struct sqlite_store *)base, create_in, &c, err);
}

/* Reads rows on the reader; row() copies one. */
static int read_rows(struct sqlite_store *s, sqlite3_stmt *st,
		     int (*row)(sqlite3_stmt *, void *), void *ctx, const char *what,
		     struct store_error *err)
{
	int rc, r = 0;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = row(st, ctx);
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_fail(s->reader, rc, what, err);
	return r;
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
	memset((char *)na + *cap * size, 0, (ncap - *cap) * size);
	*arr = na;
	*cap = ncap;
	return 0;
}

struct candidates_ctx {
	struct store_candidates c;
	size_t cap, cap_load;
};

static int candidate_row(sqlite3_stmt *st, void *ctx)
{
	struct candidates_ctx *x = ctx;
	if (grow((void **)&x->c.tasks, &x->cap, x->c.n, sizeof(*x->c.tasks)) < 0)
		return HQ_E_NOMEM;
	struct store_task_candidate *t = &x->c.tasks[x->c.n++];
	bool nomem = false;
	t->id = sqlite3_column_int64(st, 0);
	t->agent = column_dup(st, 1);
	t->pool = column_dup(st, 2);
	t->project = column_dup_opt(st, 3, &nomem);
	t->claim_worker = column_dup_opt(st, 4, &nomem);
	t->running_in_project = sqlite3_column_int64(st, 5);
	return nomem || !t->agent || !t->pool ? HQ_E_NOMEM : 0;
}

static int load_row(sqlite3_stmt *st, void *ctx)
{
	struct candidates_ctx *x = ctx;
	size_t cap = x->cap_load;
	if (grow((void **)&x->c.load_worker, &cap, x->c.n_load, sizeof(char *)) < 0)
		return HQ_E_NOMEM;
	size_t cap2 = x->cap_load;
	if (grow((void **)&x->c.load, &cap2, x->c.n_load, sizeof(int64_t)) < 0)
		return HQ_E_NOMEM;
	x->cap_load = cap;
	x->c.load_worker[x->c.n_load] = column_dup(st, 0);
	x->c.load[x->c.n_load] = sqlite3_column_int64(st, 1);
	return x->c.load_worker[x->c.n_load++] ? 0 : HQ_E_NOMEM;
}

static int sqlite_task_candidates(struct store *base, const char *owner, int64_t now_ms,
				  size_t limit, bool single_queue, struct store_candidates *ret,
				  struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct candidates_ctx x;
	memset(&x, 0, sizeof(x));
	pthread_mutex_lock(&s->read_lock);
	int r = sqlite_exec(s->reader, "BEGIN", err);
	sqlite3_stmt *st = NULL;
	if (r == 0) {
		int rc = sqlite3_prepare_v2(
			s->reader,
			"SELECT t.id, t.agent, t.pool, t.project,"
			/* One claim per project: another node's leaves the
			 * task out. */
			" (SELECT c.worker FROM claims c WHERE c.project = t.project"
			"  AND c.expires_at > ?1),"
			" CASE WHEN t.project IS NULL THEN 0 ELSE"
			"  (SELECT count(*) FROM tasks r INDEXED BY tasks_running_project"
			"   WHERE r.status = 'running' AND r.project = t.project) END"
			" FROM tasks t INDEXED BY tasks_queue"
			" WHERE t.status = 'queued' AND t.next_attempt_at <= ?1"
			/* Not those that must wait: their project's claim is
			 * held by another running node or by a worker that
			 * runs a task, or (single_queue) their project runs
			 * one. */
			"  AND (t.project IS NULL OR NOT EXISTS (SELECT 1 FROM claims c"
			"   WHERE c.project = t.project AND c.expires_at > ?1"
			"   AND (" STORE_CLAIM_ELSEWHERE("?4") " OR EXISTS (SELECT 1"
			"    FROM tasks b INDEXED BY tasks_leases WHERE b.status = 'running'"
			"    AND b.worker = c.worker AND b.lease_owner = c.node))))"
			"  AND (?3 = 0 OR t.project IS NULL OR NOT EXISTS (SELECT 1"
			"   FROM tasks r INDEXED BY tasks_running_project"
			"   WHERE r.status = 'running' AND r.project = t.project))"
			" ORDER BY t.priority, t.id LIMIT ?2",
			-1, &st, NULL);
		if (rc != SQLITE_OK) {
			r = sqlite_fail(s->reader, rc, "preparing the task queue", err);
		} else {
			sqlite3_bind_int64(st, 1, now_ms);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
			sqlite3_bind_int(st, 3, single_queue ? 1 : 0);
			sqlite3_bind_text(st, 4, owner, -1, SQLITE_STATIC);
			r = read_rows(s, st, candidate_row, &x, "reading the task queue", err);
		}
		sqlite3_finalize(st);
		st = NULL;
		if (r == 0 && x.c.n > 0) {
			rc = sqlite3_prepare_v2(s->reader,
						"SELECT c.worker, count(*) FROM claims c"
						" WHERE c.expires_at > ?1 AND NOT "
						STORE_CLAIM_ELSEWHERE("?2") " GROUP BY c.worker",
						-1, &st, NULL);
			if (rc != SQLITE_OK) {
				r = sqlite_fail(s->reader, rc, "preparing the claims", err);
			} else {
				sqlite3_bind_int64(st, 1, now_ms);
				sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
				r = read_rows(s, st, load_row, &x, "reading the claims", err);
			}
			sqlite3_finalize(st);
		}
		if (sqlite3_exec(s->reader, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			sqlite3_exec(s->reader, "ROLLBACK", NULL, NULL, NULL);
	}
	pthread_mutex_unlock(&s->read_lock);
	if (r < 0) {
		store_candidates_release(&x.c);
		return r;
	}
	*ret = x.c;
	return 0;
}

static int task_row(sqlite3_stmt *st, struct store_task *t)
{
	memset(t, 0, sizeof(*t));
	bool nomem = false;
	t->id = sqlite3_column_int64(st, 0);
	t->origin = column_dup(st, 1);
	t->event_id = sqlite3_column_int64(st, 2);
	t->parent_id = sqlite3_column_int64(st, 3);
	copy_id(t->flow_id, sizeof(t->flow_id), sqlite3_column_text(st, 4));
	copy_id(t->conversation_id, sizeof(t->conversation_id), sqlite3_column_text(st, 5));
	t->external_id = column_dup_opt(st, 6, &nomem);
	t->route = column_dup_opt(st, 7, &nomem);
	t->command = column_dup_opt(st, 8, &nomem);
	t->agent = column_dup(st, 9);
	t->pool = column_dup(st, 10);
	t->project = column_dup_opt(st, 11, &nomem);
	t->title = column_dup(st, 12);
	t->metadata_json = column_dup(st, 13);
	t->status = column_dup(st, 14);
	t->priority = sqlite3_column_int(st, 15);
	t->attempts = sqlite3_column_int(st, 16);
	t->max_attempts = sqlite3_column_int(st, 17);
	t->retry_base = sqlite3_column_int(st, 18);
	t->worker = column_dup_opt(st, 19, &nomem);
	t->lease_owner = column_dup_opt(st, 20, &nomem);
	t->lease_expires_at_ms = sqlite3_column_int64(st, 21);
	t->cancel_requested = sqlite3_column_int(st, 22) != 0;
	t->has_exit_code = sqlite3_column_type(st, 23) != SQLITE_NULL;
	t->exit_code = sqlite3_column_int(st, 23);
	t->error = column_dup_opt(st, 24, &nomem);
	t->output_bytes = sqlite3_column_int64(st, 25);
	t->created_at_ms = sqlite3_column_int64(st, 26);
	t->updated_at_ms = sqlite3_column_int64(st, 27);
	t->next_attempt_at_ms = sqlite3_column_int64(st, 28);
	t->started_at_ms = sqlite3_column_int64(st, 29);
	t->finished_at_ms = sqlite3_column_int64(st, 30);
	t->change_seq = sqlite3_column_int64(st, 31);
	if (nomem || !t->origin || !t->agent || !t->pool || !t->title || !t->metadata_json ||
	    !t->status)
		return HQ_E_NOMEM;
	return 0;
}

/* One task with its prompt (and output), on db. */
static int read_task(sqlite3 *db, int64_t id, bool output, struct store_task *ret,
		     struct store_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT " TASK_COLUMNS ", t.prompt, t.output" TASK_FROM
				    " WHERE t.id = ?1",
				    -1, &st, NULL);
	int r = 0;
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		rc = sqlite3_step(st);
	}
	if (rc == SQLITE_ROW) {
		r = task_row(st, ret);
		bool nomem = false;
		if (r == 0) {
			ret->prompt = column_dup(st, TASK_NCOLS);
			if (output)
				ret->output = column_dup_opt(st, TASK_NCOLS + 1, &nomem);
			if (!ret->prompt || nomem)
				r = HQ_E_NOMEM;
		}
		if (r < 0)
			store_task_release(ret);
	} else if (rc == SQLITE_DONE) {
		store_error_set(err, "no task %lld", (long long)id);
		r = HQ_E_NOTFOUND;
	} else {
		r = sqlite_fail(db, rc, "reading a task", err);
	}
	sqlite3_finalize(st);
	return r;
}

struct start_ctx {
	int64_t id;
	const char *worker, *owner, *host;
	const unsigned char *token_hash;
	int64_t now_ms, lease_ms, claim_ttl_ms;
	struct store_task *ret;
};

static int start_in(struct sqlite_store *s, void *ctx, struct store_error *err)
{
	struct start_ctx *c = ctx;
	sqlite3_stmt *st = NULL;
	int r = stmt(s, TS_START,
		     "UPDATE tasks SET status = 'running', attempts = attempts + 1,"
		     " worker = ?2, lease_owner = ?3, host = ?4, lease_expires_at = ?6,"
		     " token_hash = ?7, pid = NULL, pid_start = NULL, cancel_requested = 0,"
		     " exit_code = NULL, error = NULL, output = NULL, output_bytes = NULL,"
		     " started_at = ?5, finished_at = NULL, updated_at = ?5"
		     " WHERE id = ?1 AND status = 'queued' RETURNING project",
		     &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, c->id);
	sqlite3_bind_text(st, 2, c->worker, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->host, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, c->now_ms);
	sqlite3_bind_int64(st, 6, c->now_ms + c->lease_ms);
	sqlite3_bind_blob(st, 7, c->token_hash, CRYPTO_SHA256_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	char *project = NULL;
	bool has_project = false;
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		project = column_dup(st, 0);
		has_project = true;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		store_error_set(err, "task %lld is not queued", (long long)c->id);
		return HQ_E_CONFLICT;
	}
	if (rc != SQLITE_ROW)
		return sqlite_fail(s->writer, rc, "starting a task", err);
	if (has_project && !project)
		return HQ_E_NOMEM;
	if (project && c->claim_ttl_ms > 0) {
		r = stmt(s, TS_CLAIM,
			 "INSERT INTO claims (project, worker, node, expires_at, last_activity, tasks)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, 1) ON CONFLICT (project) DO UPDATE SET"
			 " tasks = CASE WHEN claims.worker = excluded.worker"
			 "  AND claims.expires_at > ?5 THEN claims.tasks + 1 ELSE 1 END,"
			 " worker = excluded.worker, node = excluded.node,"
			 " expires_at = excluded.expires_at, last_activity = excluded.last_activity",
			 &st, err);
		if (r == 0) {
			sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, c->worker, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, c->owner, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 4, c->now_ms + c->lease_ms + c->claim_ttl_ms);
			sqlite3_bind_int64(st, 5, c->now_ms);
			r = step_done(s, st, "claiming a project", err);
		}
	}
	free(project);
	if (r < 0)
		return r;
	return read_task(s->writer, c->id, false, c->ret, err);
}

static int sqlite_task_start(struct store *base, int64_t id, const char *worker,
			     const char *owner, const char *host, const unsigned char *token_hash,
			     int64_t now_ms, int64_t lease_ms, int64_t claim_ttl_ms,
			     struct store_task *ret, struct store_error *err)
{
	struct store_task t;
	struct start_ctx c = { id,     worker,	 owner,	       host, token_hash,
			       now_ms, lease_ms, claim_ttl_ms, &t };
	int r = in_write((struct sqlite_store *)base, start_in, &c, err);
	if (r == 0)
		*ret = t;
	return r;
}

static int sqlite_task_set_pid(struct store *base, int64_t id, const char *owner, int attempt,
			       int64_t pid, int64_t pid_start, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite_background_lock(s);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->writer,
				    "UPDATE tasks SET pid = ?3, pid_start = ?4"
				    " WHERE id = ?1 AND status = 'running' AND lease_owner = ?2"
				    " AND attempts = ?5",
				    -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, pid);
		sqlite3_bind_int64(st, 4, pid_start);
		sqlite3_bind_int(st, 5, attempt);
		rc = sqlite3_step(st);
	}
	int r = rc == SQLITE_DONE ? 0 : sqlite_fail(s->writer, rc, "recording a task's pid", err);
	if (r == 0 && sqlite3_changes(s->writer) == 0) {
		store_error_set(err, "task %lld attempt %d is not running under this node",
				(long long)id, attempt);
		r = HQ_E_CONFLICT;
	}
	sqlite3_finalize(st);
	sqlite_background_unlock(s);
	return r;
}

struct heartbeat_ctx {
	const char *ids; /* JSON array */
	const char *owner;
	int64_t now_ms, lease_ms, claim_ttl_ms;
	int64_t *cancel;
	size_t n_cancel, cap;
	int64_t *renewed;
	size_t n_renewed, cap_renewed;
};

static int heartbeat_in(struct sqlite_store *s, void *ctx, struct store_error *err)
{
	struct heartbeat_ctx *c = ctx;
	sqlite3_stmt *st = NULL;
	int r = stmt(s, TS_HEARTBEAT,
		     "UPDATE tasks SET lease_expires_at = ?2"
		     " WHERE status = 'running' AND lease_owner = ?1"
		     " AND id IN (SELECT value FROM json_each(?3))"
		     " RETURNING id, cancel_requested",
		     &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, c->owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->now_ms + c->lease_ms);
	sqlite3_bind_text(st, 3, c->ids, -1, SQLITE_STATIC);
	int rc;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = grow((void **)&c->renewed, &c->cap_renewed, c->n_renewed, sizeof(int64_t));
		if (r == 0)
			c->renewed[c->n_renewed++] = sqlite3_column_int64(st, 0);
		if (r < 0 || !sqlite3_column_int(st, 1))
			continue;
		r = grow((void **)&c->cancel, &c->cap, c->n_cancel, sizeof(int64_t));
		if (r == 0)
			c->cancel[c->n_cancel++] = sqlite3_column_int64(st, 0);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_fail(s->writer, rc, "renewing task leases", err);
	sqlite3_reset(st);
	if (r < 0 || c->claim_ttl_ms == 0)
		return r;
	r = stmt(s, TS_HEARTBEAT_CLAIMS,
		 "UPDATE claims SET expires_at = ?2 WHERE node = ?1 AND project IN"
		 " (SELECT project FROM tasks INDEXED BY tasks_running_project"
		 "  WHERE status = 'running' AND lease_owner = ?1 AND worker = claims.worker"
		 "  AND id IN (SELECT value FROM json_each(?3)))",
		 &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, c->owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->now_ms + c->lease_ms + c->claim_ttl_ms);
	sqlite3_bind_text(st, 3, c->ids, -1, SQLITE_STATIC);
	return step_done(s, st, "renewing claims", err);
}

static int sqlite_task_heartbeat(struct store *base, const char *owner, const int64_t *held,
				 size_t n, int64_t now_ms, int64_t lease_ms, int64_t claim_ttl_ms,
				 int64_t **cancel, size_t *n_cancel, int64_t **renewed,
				 size_t *n_renewed, struct store_error *err)
{
	char *ids = store_id_list(held, n, '[', ']');
	if (!ids)
		return HQ_E_NOMEM;
	struct heartbeat_ctx c = { ids, owner, now_ms, lease_ms, claim_ttl_ms, NULL, 0, 0,
				   NULL, 0, 0 };
	int r = in_write((struct sqlite_store *)base, heartbeat_in, &c, err);
	free(ids);
	if (r < 0) {
		free(c.cancel);
		free(c.renewed);
		return r;
	}
	*cancel = c.cancel;
	*n_cancel = c.n_cancel;
	*renewed = c.renewed;
	*n_renewed = c.n_renewed;
	return 0;
}

/* Adds an ended attempt to a conversation's metrics. */
static int metrics(struct sqlite_store *s, const char *conversation, const char *status,
		   int64_t run_ms, int64_t now_ms, struct store_error *err)
{
	sqlite3_stmt *st = NULL;
	int r = stmt(s, TS_METRICS,
		     "UPDATE conversations SET run_ms = run_ms + ?3, updated_at = ?4,"
		     " succeeded = succeeded + (?2 = 'succeeded'),"
		     " failed = failed + (?2 IN ('failed', 'timed_out', 'dead_letter')),"
		     " cancelled = cancelled + (?2 = 'cancelled') WHERE id = ?1",
		     &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, conversation, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, run_ms > 0 ? run_ms : 0);
	sqlite3_bind_int64(st, 4, now_ms);
	return step_done(s, st, "updating conversation metrics", err);
}

static int attempt_row(struct sqlite_store *s, int64_t id, int attempt, const char *worker,
		       int64_t started, int64_t now_ms, const char *outcome,
		       const struct store_task_end *end, struct store_error *err)
{
	sqlite3_stmt *st = NULL;
	int r = stmt(s, TS_ATTEMPT,
		     "INSERT OR REPLACE INTO task_attempts (task_id, attempt, worker, started_at,"
		     " finished_at, outcome, exit_code, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
		     &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, attempt);
	bind_opt(st, 3, worker);
	if (started)
		sqlite3_bind_int64(st, 4, started);
	sqlite3_bind_int64(st, 5, now_ms);
	sqlite3_bind_text(st, 6, outcome, -1, SQLITE_STATIC);
	if (end && end->has_exit_code)
		sqlite3_bind_int(st, 7, end->exit_code);
	bind_opt(st, 8, end ? end->error : NULL);
	return step_done(s, st, "recording an attempt", err);
}

struct finish_ctx {
	int64_t id;
	int attempt;
	const char *owner, *worker;
	const struct store_task_end *end;
	int64_t now_ms, claim_ttl_ms;
};

static int finish_in(struct sqlite_store *s, void *ctx, struct store_error *err)
{
	struct finish_ctx *c = ctx;
	const struct store_task_end *e = c->end;
	bool queued = strcmp(e->status, "queued") == 0;
	sqlite3_stmt *st = NULL;
	int r = stmt(s, TS_FINISH,
		     /* Asked to cancel: it ends cancelled, never queued again. */
		     "UPDATE tasks SET status = CASE WHEN ?3 = 'queued' AND cancel_requested"
		     "  THEN 'cancelled' ELSE ?3 END,"
		     " attempts = attempts - (?4 AND NOT cancel_requested),"
		     " next_attempt_at = CASE WHEN ?3 = 'queued' THEN ?5 ELSE next_attempt_at END,"
		     " lease_owner = NULL, lease_expires_at = NULL, token_hash = NULL,"
		     " pid = NULL, pid_start = NULL, cancel_requested = 0,"
		     " exit_code = ?6, error = ?7, output = ?8, output_bytes = ?9,"
		     " finished_at = CASE WHEN ?3 = 'queued' AND NOT cancel_requested THEN NULL"
		     "  ELSE ?10 END, updated_at = ?10"
		     " WHERE id = ?1 AND status = 'running' AND lease_owner = ?2 AND attempts = ?11"
		     " RETURNING conversation_id, project, ?11, started_at, status, retry_base",
		     &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, c->id);
	sqlite3_bind_text(st, 2, c->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, e->status, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, queued && e->refund ? 1 : 0);
	sqlite3_bind_int64(st, 5, e->next_attempt_at_ms);
	if (e->has_exit_code)
		sqlite3_bind_int(st, 6, e->exit_code);
	bind_opt(st, 7, e->error);
	bind_opt(st, 8, e->output);
	sqlite3_bind_int64(st, 9, e->output_bytes);
	sqlite3_bind_int64(st, 10, c->now_ms);
	sqlite3_bind_int(st, 11, c->attempt);
	int rc = sqlite3_step(st);
	char conv[STORE_CONVERSATION_ID_MAX] = "", status[16] = "";
	char *project = NULL;
	bool nomem = false;
	int attempt = 0, retry_base = 0;
	int64_t started = 0;
	if (rc == SQLITE_ROW) {
		copy_id(conv, sizeof(conv), sqlite3_column_text(st, 0));
		project = column_dup_opt(st, 1, &nomem);
		attempt = sqlite3_column_int(st, 2);
		started = sqlite3_column_int64(st, 3);
		copy_id(status, sizeof(status), sqlite3_column_text(st, 4));
		retry_base = sqlite3_column_int(st, 5);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		store_error_set(err, "task %lld attempt %d is not running under this node",
				(long long)c->id, c->attempt);
		return HQ_E_CONFLICT;
	}
	if (rc != SQLITE_ROW)
		return sqlite_fail(s->writer, rc, "ending a task", err);
	if (nomem)
		return HQ_E_NOMEM;
	if (queued && strcmp(status, "cancelled") == 0)
		queued = false;
	const char *outcome = queued ? (e->refund ? "interrupted" : "retry") : status;
	r = attempt_row(s, c->id, attempt, c->worker, started, c->now_ms, outcome, e, err);
	if (r == 0)
		r = metrics(s, conv, queued ? "queued" : status, e->run_ms, c->now_ms, err);
	/* The replies its end causes, once per run (an operator retry is a
	 * new run: retry_base tells them apart). */
	for (size_t i = 0; r == 0 && !queued && i < e->n_outbox; i++) {
		char origin[128];
		snprintf(origin, sizeof(origin), "task:%lld:%d:%s", (long long)c->id, retry_base,
			 e->outbox[i].name);
		r = sqlite_outbox_insert(s, &e->outbox[i], origin, c->id, c->now_ms, err);
	}
	if (r == 0 && project && c->claim_ttl_ms > 0) {
		r = stmt(s, TS_CLAIM_RELEASE,
			 "UPDATE claims SET expires_at = ?3, last_activity = ?4"
			 " WHERE project = ?1 AND worker = ?2 AND node = ?5",
			 &st, err);
		if (r == 0) {
			sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, c->worker, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, c->now_ms + c->claim_ttl_ms);
			sqlite3_bind_int64(st, 4, c->now_ms);
			sqlite3_bind_text(st, 5, c->owner, -1, SQLITE_STATIC);
			r = step_done(s, st, "updating a claim", err);
		}
	}
	free(project);
	return r;
}

static int sqlite_task_finish(struct store *base, int64_t id, const char *owner,
			      const char *worker, int attempt, const struct store_task_end *end,
			      int64_t now_ms, int64_t claim_ttl_ms, struct store_error *err)
{
	struct finish_ctx c = { id, attempt, owner, worker, end, now_ms, claim_ttl_ms };
	return in_write((struct sqlite_store *)base, finish_in, &c, err);
}

struct reclaim_ctx {
	int64_t now_ms;
	const char *keep; /* JSON array of ids */
	struct store_lost_task *lost;
	size_t n, cap;
};

static int reclaim_in(struct sqlite_store *s, void *ctx, struct store_error *err)
{
	struct reclaim_ctx *c = ctx;
	sqlite3_stmt *st = NULL;
	/* The project is free for any worker: the claims the lost tasks'
	 * workers hold go first, while their lease owners (the nodes) are
	 * still on the rows (RETURNING gives only the new values). */
	int rc = sqlite3_prepare_v2(
		s->writer,
		"DELETE FROM claims WHERE (project, worker, node) IN (SELECT project, worker,"
		" lease_owner FROM tasks INDEXED BY tasks_leases WHERE status = 'running'"
		"  AND lease_expires_at <= ?1 AND id NOT IN (SELECT value FROM json_each(?2)))",
		-1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, c->now_ms);
		sqlite3_bind_text(st, 2, c->keep, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	int r = rc == SQLITE_DONE ? 0 : sqlite_fail(s->writer, rc, "releasing claims", err);
	sqlite3_finalize(st);
	st = NULL;
	if (r < 0)
		return r;
	rc = sqlite3_prepare_v2(
		s->writer,
		"UPDATE tasks SET status = CASE WHEN cancel_requested THEN 'cancelled'"
		"  WHEN attempts - retry_base >= max_attempts THEN 'failed' ELSE 'queued' END,"
		" next_attempt_at = ?1, updated_at = ?1,"
		" finished_at = CASE WHEN cancel_requested OR attempts - retry_base >= max_attempts"
		"  THEN ?1 END,"
		" error = '" STORE_TASK_LOST "',"
		/* The token's hash stays (no longer valid: not running) so the
		 * rescuer can find the attempt's processes by it. */
		" lease_owner = NULL, lease_expires_at = NULL, cancel_requested = 0"
		" WHERE id IN (SELECT id FROM tasks INDEXED BY tasks_leases"
		"  WHERE status = 'running' AND lease_expires_at <= ?1"
		"  AND id NOT IN (SELECT value FROM json_each(?2)))"
		" RETURNING id, host, pid, pid_start, status, conversation_id, attempts, worker,"
		" started_at, token_hash",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_fail(s->writer, rc, "preparing the reclaim", err);
	sqlite3_bind_int64(st, 1, c->now_ms);
	sqlite3_bind_text(st, 2, c->keep, -1, SQLITE_STATIC);
	/* RETURNING rows are all computed before the first is returned, so
	 * other statements may run between steps. */
	struct store_lost_row *rows = NULL;
	size_t nrows = 0, cap = 0;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = grow((void **)&c->lost, &c->cap, c->n, sizeof(*c->lost))) < 0 ||
		    (r = grow((void **)&rows, &cap, nrows, sizeof(*rows))) < 0)
			break;
		struct store_lost_task *l = &c->lost[c->n++];
		bool nomem = false;
		l->id = sqlite3_column_int64(st, 0);
		l->host = column_dup_opt(st, 1, &nomem);
		l->pid = sqlite3_column_int64(st, 2);
		l->pid_start = sqlite3_column_int64(st, 3);
		struct store_lost_row *w = &rows[nrows++];
		w->id = l->id;
		copy_id(w->status, sizeof(w->status), sqlite3_column_text(st, 4));
		copy_id(w->conv, sizeof(w->conv), sqlite3_column_text(st, 5));
		w->attempt = sqlite3_column_int(st, 6);
		l->attempt = w->attempt;
		copy_id(l->status, sizeof(l->status), sqlite3_column_text(st, 4));
		w->worker = column_dup_opt(st, 7, &nomem);
		w->started = sqlite3_column_int64(st, 8);
		if (sqlite3_column_bytes(st, 9) == (int)sizeof(l->token_hash)) {
			memcpy(l->token_hash, sqlite3_column_blob(st, 9), sizeof(l->token_hash));
			l->has_token_hash = true;
		}
		if (nomem)
			r = HQ_E_NOMEM;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_fail(s->writer, rc, "reclaiming tasks", err);
	sqlite3_finalize(st);
	static const struct store_task_end lost = { .error = STORE_TASK_LOST };
	for (size_t i = 0; i < nrows; i++) {
		bool ended = strcmp(rows[i].status, "queued") != 0;
		if (r == 0)
			r = attempt_row(s, rows[i].id, rows[i].attempt, rows[i].worker,
					rows[i].started, c->now_ms, "lost", &lost, err);
		if (r == 0)
			r = metrics(s, rows[i].conv, ended ? rows[i].status : "queued", 0,
				    c->now_ms, err);
		free(rows[i].worker);
	}
	free(rows);
	return r;
}

static int sqlite_task_reclaim(struct store *base, int64_t now_ms, const int64_t *keep,
			       size_t n_keep, struct store_lost_task **ret, size_t *n,
			       struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	/* Most calls find nothing: look on the reader before writing. */
	int64_t any = INT64_MAX;
	char sql[160];
	snprintf(sql, sizeof(sql),
		 "SELECT id FROM tasks INDEXED BY tasks_leases WHERE status = 'running'"
		 " AND lease_expires_at <= %lld LIMIT 1",
		 (long long)now_ms);
	int r = sqlite_read_one(s, sql, "looking for lost tasks", &any, err);
	if (r < 0)
		return r;
	if (any == INT64_MAX) {
		*ret = NULL;
		*n = 0;
		return 0;
	}
	char *kept = store_id_list(keep, n_keep, '[', ']');
	if (!kept)
		return HQ_E_NOMEM;
	struct reclaim_ctx c = { now_ms, kept, NULL, 0, 0 };
	r = in_write(s, reclaim_in, &c, err);
	free(kept);
	if (r < 0) {
		store_lost_tasks_release(c.lost, c.n);
		return r;
	}
	*ret = c.lost;
	*n = c.n;
	return 0;
}

/* Says whether task id is missing (HQ_E_NOTFOUND) or in another state
 * (HQ_E_CONFLICT, naming it). */
static int why_unchanged(struct sqlite_store *s, int64_t id, const char *wanted,
			 struct store_error *err)
{
	pthread_mutex_lock(&s->read_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader, "SELECT status FROM tasks WHERE id = ?1", -1, &st,
				    NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		rc = sqlite3_step(st);
	}
	int r;
	if (rc == SQLITE_ROW) {
		store_error_set(err, "task %lld is %s, not %s", (long long)id,
				(const char *)sqlite3_column_text(st, 0), wanted);
		r = HQ_E_CONFLICT;
	} else if (rc == SQLITE_DONE) {
		store_error_set(err, "no task %lld", (long long)id);
		r = HQ_E_NOTFOUND;
	} else {
		r = sqlite_fail(s->reader, rc, "reading a task", err);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->read_lock);
	return r;
}

struct cancel_ctx {
	int64_t id, now_ms;
	int changed; /* 1: cancelled while queued, 2: marked while running */
};

static int cancel_in(struct sqlite_store *s, void *ctx, struct store_error *err)
{
	struct cancel_ctx *c = ctx;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->writer,
				    "UPDATE tasks SET status = 'cancelled', finished_at = ?2,"
				    " updated_at = ?2, error = 'cancelled before it started'"
				    " WHERE id = ?1 AND status = 'queued' RETURNING conversation_id",
				    -1, &st, NULL);
	char conv[STORE_CONVERSATION_ID_MAX] = "";
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, c->id);
		sqlite3_bind_int64(st, 2, c->now_ms);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			copy_id(conv, sizeof(conv), sqlite3_column_text(st, 0));
			c->changed = 1;
			rc = sqlite3_step(st);
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sqlite_fail(s->writer, rc, "cancelling a task", err);
	if (c->changed)
		return metrics(s, conv, "cancelled", 0, c->now_ms, err);
	rc = sqlite3_prepare_v2(s->writer,
				"UPDATE tasks SET cancel_requested = 1, updated_at = ?2"
				" WHERE id = ?1 AND status = 'running'",
				-1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, c->id);
		sqlite3_bind_int64(st, 2, c->now_ms);
		rc = sqlite3_step(st);
	}
	if (rc == SQLITE_DONE && sqlite3_changes(s->writer) > 0)
		c->changed = 2;
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sqlite_fail(s->writer, rc, "cancelling a task", err);
}

static int sqlite_task_cancel(struct store *base, int64_t id, int64_t now_ms, bool *running,
			      struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct cancel_ctx c = { id, now_ms, 0 };
	int r = in_write(s, cancel_in, &c, err);
	if (r < 0)
		return r;
	if (!c.changed)
		return why_unchanged(s, id, "queued or running", err);
	*running = c.changed == 2;
	return 0;
}

struct retry_ctx {
	int64_t id, now_ms;
	const char *only;
	bool changed;
};

static int retry_in(struct sqlite_store *s, void *ctx, struct store_error *err)
{
	struct retry_ctx *c = ctx;
	sqlite3_stmt *st = NULL;
	/* The end it leaves, so the conversation's metrics count the task's
	 * final outcome once, not every outcome it ever had. */
	int rc = sqlite3_prepare_v2(
		s->writer,
		"SELECT status, conversation_id FROM tasks WHERE id = ?1 AND (status = ?2 OR"
		" (?2 IS NULL AND status IN ('failed', 'timed_out', 'cancelled', 'dead_letter')))",
		-1, &st, NULL);
	char status[16] = "", conv[STORE_CONVERSATION_ID_MAX] = "";
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, c->id);
		bind_opt(st, 2, c->only);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			copy_id(status, sizeof(status), sqlite3_column_text(st, 0));
			copy_id(conv, sizeof(conv), sqlite3_column_text(st, 1));
		}
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return sqlite_fail(s->writer, rc, "retrying a task", err);
	rc = sqlite3_prepare_v2(s->writer,
				"UPDATE tasks SET status = 'queued', retry_base = attempts,"
				" next_attempt_at = ?2, updated_at = ?2, finished_at = NULL,"
				" cancel_requested = 0 WHERE id = ?1",
				-1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, c->id);
		sqlite3_bind_int64(st, 2, c->now_ms);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sqlite_fail(s->writer, rc, "retrying a task", err);
	rc = sqlite3_prepare_v2(s->writer,
				"UPDATE conversations SET updated_at = ?3,"
				" failed = failed - (?2 IN ('failed', 'timed_out', 'dead_letter')),"
				" cancelled = cancelled - (?2 = 'cancelled') WHERE id = ?1",
				-1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, conv, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, c->now_ms);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sqlite_fail(s->writer, rc, "updating conversation metrics", err);
	c->changed = true;
	return 0;
}

static int sqlite_task_retry(struct store *base, int64_t id, const char *only, int64_t now_ms,
			     struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct retry_ctx c = { id, now_ms, only, false };
	int r = in_write(s, retry_in, &c, err);
	if (r < 0 || c.changed)
		return r;
	return why_unchanged(s, id, only ? only : "failed, timed_out, cancelled or dead_letter",
			     err);
}

struct list_ctx {
	struct store_task_list l;
	size_t cap, limit;
};

static int list_row(sqlite3_stmt *st, void *ctx)
{
	struct list_ctx *x = ctx;
	if (x->l.n == x->limit) {
		x->l.more = true;
		return 0;
	}
	if (grow((void **)&x->l.rows, &x->cap, x->l.n, sizeof(*x->l.rows)) < 0)
		return HQ_E_NOMEM;
	int r = task_row(st, &x->l.rows[x->l.n]);
	x->l.n++;
	return r;
}

/* Runs a prepared task listing on the reader. */
static int list_run(struct sqlite_store *s, sqlite3_stmt *st, size_t limit,
		    struct store_task_list *ret, const char *what, struct store_error *err)
{
	struct list_ctx x;
	memset(&x, 0, sizeof(x));
	x.limit = limit;
	int r = read_rows(s, st, list_row, &x, what, err);
	if (r < 0) {
		store_task_list_release(&x.l);
		return r;
	}
	*ret = x.l;
	return 0;
}

static int sqlite_list_tasks(struct store *base, const struct store_task_filter *f,
			     struct store_task_list *ret, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	size_t limit = f->limit ? f->limit : 50;
	char sql[1024];
	int n = snprintf(sql, sizeof(sql),
			 "SELECT " TASK_COLUMNS TASK_FROM " WHERE t.id < ?1%s%s%s%s%s%s"
			 " ORDER BY t.id DESC LIMIT ?8",
			 f->status ? " AND t.status = ?2" : "",
			 f->flow_id ? " AND t.flow_id = ?3" : "",
			 f->agent ? " AND t.agent = ?4" : "", f->worker ? " AND t.worker = ?5" : "",
			 f->event_id > 0 ? " AND t.event_id = ?6" : "",
			 f->parent_id > 0 ? " AND t.parent_id = ?7" : "");
	if (n < 0 || (size_t)n >= sizeof(sql))
		return HQ_E_TOOBIG;
	pthread_mutex_lock(&s->read_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader, sql, -1, &st, NULL);
	int r;
	if (rc != SQLITE_OK) {
		r = sqlite_fail(s->reader, rc, "preparing the task list", err);
	} else {
		sqlite3_bind_int64(st, 1, f->before_id > 0 ? f->before_id : INT64_MAX);
		bind_opt(st, 2, f->status);
		bind_opt(st, 3, f->flow_id);
		bind_opt(st, 4, f->agent);
		bind_opt(st, 5, f->worker);
		sqlite3_bind_int64(st, 6, f->event_id);
		sqlite3_bind_int64(st, 7, f->parent_id);
		sqlite3_bind_int64(st, 8, (sqlite3_int64)limit + 1);
		r = list_run(s, st, limit, ret, "listing tasks", err);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->read_lock);
	return r;
}

static int task_attempts(struct sqlite_store *s, struct store_task_detail *d,
			 struct store_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader,
				    "SELECT attempt, worker, started_at, finished_at, outcome,"
				    " exit_code, error FROM task_attempts WHERE task_id = ?1"
				    " ORDER BY attempt",
				    -1, &st, NULL);
	int r = 0;
	size_t cap = 0;
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, d->task.id);
		while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			if ((r = grow((void **)&d->attempts, &cap, d->n_attempts,
				      sizeof(*d->attempts))) < 0)
				break;
			struct store_task_attempt *a = &d->attempts[d->n_attempts++];
			bool nomem = false;
			a->attempt = sqlite3_column_int(st, 0);
			a->worker = column_dup_opt(st, 1, &nomem);
			a->started_at_ms = sqlite3_column_int64(st, 2);
			a->finished_at_ms = sqlite3_column_int64(st, 3);
			a->outcome = column_dup(st, 4);
			a->has_exit_code = sqlite3_column_type(st, 5) != SQLITE_NULL;
			a->exit_code = sqlite3_column_int(st, 5);
			a->error = column_dup_opt(st, 6, &nomem);
			if (nomem || !a->outcome)
				r = HQ_E_NOMEM;
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_fail(s->reader, rc, "reading task attempts", err);
	sqlite3_finalize(st);
	return r;
}

static int sqlite_get_task(struct store *base, int64_t id, struct store_task_detail *ret,
			   struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct store_task_detail d;
	memset(&d, 0, sizeof(d));
	pthread_mutex_lock(&s->read_lock);
	int r = sqlite_exec(s->reader, "BEGIN", err);
	if (r == 0) {
		r = read_task(s->reader, id, true, &d.task, err);
		if (r == 0)
			r = task_attempts(s, &d, err);
		if (sqlite3_exec(s->reader, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			sqlite3_exec(s->reader, "ROLLBACK", NULL, NULL, NULL);
	}
	pthread_mutex_unlock(&s->read_lock);
	if (r < 0) {
		store_task_detail_release(&d);
		return r;
	}
	*ret = d;
	return 0;
}

static int sqlite_task_by_token(struct store *base, const unsigned char *token_hash,
				int64_t *id, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->read_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader,
				    "SELECT id FROM tasks INDEXED BY tasks_token"
				    " WHERE token_hash = ?1 AND status = 'running'",
				    -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_blob(st, 1, token_hash, CRYPTO_SHA256_LEN, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	int r;
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		r = 0;
	} else if (rc == SQLITE_DONE) {
		store_error_set(err, "no running task has this token");
		r = HQ_E_NOTFOUND;
	} else {
		r = sqlite_fail(s->reader, rc, "looking up a task token", err);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->read_lock);
	return r;
}

static int flow_conversations(struct sqlite_store *s, struct store_flow *f,
			      struct store_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader,
				    "SELECT id, created_at, updated_at, tasks, succeeded, failed,"
				    " cancelled, run_ms FROM conversations INDEXED BY"
				    " conversations_flow WHERE flow_id = ?1 ORDER BY created_at, id",
				    -1, &st, NULL);
	int r = 0;
	size_t cap = 0;
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, f->id, -1, SQLITE_STATIC);
		while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			if ((r = grow((void **)&f->conversations, &cap, f->n_conversations,
				      sizeof(*f->conversations))) < 0)
				break;
			struct store_conversation *c = &f->conversations[f->n_conversations++];
			copy_id(c->id, sizeof(c->id), sqlite3_column_text(st, 0));
			c->created_at_ms = sqlite3_column_int64(st, 1);
			c->updated_at_ms = sqlite3_column_int64(st, 2);
			c->tasks = sqlite3_column_int64(st, 3);
			c->succeeded = sqlite3_column_int64(st, 4);
			c->failed = sqlite3_column_int64(st, 5);
			c->cancelled = sqlite3_column_int64(st, 6);
			c->run_ms = sqlite3_column_int64(st, 7);
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_fail(s->reader, rc, "reading conversations", err);
	sqlite3_finalize(st);
	return r;
}

static int flow_tasks(struct sqlite_store *s, struct store_flow *f, size_t max,
		      struct store_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader,
				    "SELECT " TASK_COLUMNS TASK_FROM_INDEXED("tasks_flow")
				    " WHERE t.flow_id = ?1 ORDER BY t.id LIMIT ?2",
				    -1, &st, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(st);
		return sqlite_fail(s->reader, rc, "preparing the flow's tasks", err);
	}
	sqlite3_bind_text(st, 1, f->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max + 1);
	struct store_task_list l;
	int r = list_run(s, st, max, &l, "reading the flow's tasks", err);
	sqlite3_finalize(st);
	if (r == 0) {
		f->tasks = l.rows;
		f->n_tasks = l.n;
		f->more_tasks = l.more;
	}
	return r;
}

static int sqlite_get_flow(struct store *base, const char *flow_id, size_t max_tasks,
			   struct store_flow *ret, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct store_flow f;
	memset(&f, 0, sizeof(f));
	pthread_mutex_lock(&s->read_lock);
	int r = sqlite_exec(s->reader, "BEGIN", err);
	if (r == 0) {
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(s->reader,
					    "SELECT id, external_id, conversation_id, created_at,"
					    " updated_at FROM flows WHERE id = ?1",
					    -1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, flow_id, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
		}
		if (rc == SQLITE_ROW) {
			copy_id(f.id, sizeof(f.id), sqlite3_column_text(st, 0));
			f.external_id = column_dup(st, 1);
			copy_id(f.current_conversation, sizeof(f.current_conversation),
				sqlite3_column_text(st, 2));
			f.created_at_ms = sqlite3_column_int64(st, 3);
			f.updated_at_ms = sqlite3_column_int64(st, 4);
			r = f.external_id ? 0 : HQ_E_NOMEM;
		} else if (rc == SQLITE_DONE) {
			store_error_set(err, "no flow '%.64s'", flow_id);
			r = HQ_E_NOTFOUND;
		} else {
			r = sqlite_fail(s->reader, rc, "reading the flow", err);
		}
		sqlite3_finalize(st);
		if (r == 0)
			r = flow_conversations(s, &f, err);
		if (r == 0)
			r = flow_tasks(s, &f, max_tasks, err);
		if (sqlite3_exec(s->reader, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			sqlite3_exec(s->reader, "ROLLBACK", NULL, NULL, NULL);
	}
	pthread_mutex_unlock(&s->read_lock);
	if (r < 0) {
		store_flow_release(&f);
		return r;
	}
	*ret = f;
	return 0;
}

static int sqlite_tasks_changed(struct store *base, int64_t after_seq, size_t limit,
				struct store_task_list *ret, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->read_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader,
				    "SELECT " TASK_COLUMNS TASK_FROM_INDEXED("tasks_changes")
				    " WHERE t.change_seq > ?1 ORDER BY t.change_seq LIMIT ?2",
				    -1, &st, NULL);
	int r;
	if (rc != SQLITE_OK) {
		r = sqlite_fail(s->reader, rc, "preparing the changed tasks", err);
	} else {
		sqlite3_bind_int64(st, 1, after_seq);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)limit + 1);
		r = list_run(s, st, limit, ret, "reading changed tasks", err);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->read_lock);
	return r;
}

static int sqlite_list_claims(struct store *base, int64_t now_ms, struct store_claim_row **ret,
			      size_t *n, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->read_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader,
				    "SELECT project, worker, node, expires_at, last_activity, tasks"
				    " FROM claims WHERE expires_at > ?1 ORDER BY worker, project",
				    -1, &st, NULL);
	struct store_claim_row *rows = NULL;
	size_t count = 0, cap = 0;
	int r = 0;
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, now_ms);
		while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			if ((r = grow((void **)&rows, &cap, count, sizeof(*rows))) < 0)
				break;
			struct store_claim_row *c = &rows[count++];
			c->project = column_dup(st, 0);
			c->worker = column_dup(st, 1);
			c->node = column_dup(st, 2);
			c->expires_at_ms = sqlite3_column_int64(st, 3);
			c->last_activity_ms = sqlite3_column_int64(st, 4);
			c->tasks = sqlite3_column_int64(st, 5);
			if (!c->project || !c->worker || !c->node)
				r = HQ_E_NOMEM;
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_fail(s->reader, rc, "listing claims", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->read_lock);
	if (r < 0) {
		store_claims_release(rows, count);
		return r;
	}
	*ret = rows;
	*n = count;
	return 0;
}

static int sqlite_count_tasks(struct store *base, struct store_task_counts *ret,
			      struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct store_task_counts c;
	memset(&c, 0, sizeof(c));
	pthread_mutex_lock(&s->read_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader,
				    "SELECT status, count(*) FROM tasks INDEXED BY tasks_status"
				    " GROUP BY status",
				    -1, &st, NULL);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		store_task_counts_set(&c, (const char *)sqlite3_column_text(st, 0),
				      sqlite3_column_int64(st, 1));
	}
	int r = rc == SQLITE_DONE ? 0 : sqlite_fail(s->reader, rc, "counting tasks", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->read_lock);
	if (r == 0)
		*ret = c;
	return r;
}

static int sqlite_task_next_due(struct store *base, int64_t *ret, struct store_error *err)
{
	return sqlite_read_one((struct sqlite_store *)base,
			       "SELECT min(next_attempt_at) FROM tasks INDEXED BY tasks_queue"
			       " WHERE status = 'queued' HAVING count(*) > 0",
			       "reading the next task due", ret, err);
}

const struct store_task_ops sqlite_task_ops = {
	.create_tasks = sqlite_create_tasks,
	.candidates = sqlite_task_candidates,
	.start = sqlite_task_start,
	.set_pid = sqlite_task_set_pid,
	.heartbeat = sqlite_task_heartbeat,
	.finish = sqlite_task_finish,
	.reclaim = sqlite_task_reclaim,
	.cancel = sqlite_task_cancel,
	.retry = sqlite_task_retry,
	.list = sqlite_list_tasks,
	.get = sqlite_get_task,
	.by_token = sqlite_task_by_token,
	.get_flow = sqlite_get_flow,
	.changed = sqlite_tasks_changed,
	.list_claims = sqlite_list_claims,
	.count = sqlite_count_tasks,
	.next_due = sqlite_task_next_due,
};
