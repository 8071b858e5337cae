/* PostgreSQL backend, tasks: flows and conversations, the task lifecycle
 * (queued, running under a lease, ended), claims of projects by workers;
 * the SQLite side is sqlite_task.c, with the same results. Several nodes
 * share the tables: a start is a conditional update from 'queued' (one
 * node wins), leases, pids and ends are bound to their owner and attempt,
 * reclaims lock expired rows with SKIP LOCKED (each rescued once), and
 * creations take transaction-scoped advisory locks on their origins and
 * flows in key order (a second creation of an origin waits and finds the
 * first). Rows several transactions may write are locked in one order:
 * tasks by id, then conversations by id, then claims by project. */
#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "store/postgres.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/utf8.h"

enum pt_stmt {
	PT_LOCK,
	PT_BY_ORIGIN,
	PT_PARENT,
	PT_FLOW,
	PT_FLOW_INSERT,
	PT_FLOW_SET_CONVERSATION,
	PT_CONVERSATION_INSERT,
	PT_CONVERSATION_COUNT,
	PT_INSERT,
	PT_CANDIDATES,
	PT_LOAD,
	PT_READ,
	PT_START,
	PT_CLAIM,
	PT_SET_PID,
	PT_HEARTBEAT,
	PT_HEARTBEAT_CLAIMS,
	PT_FINISH,
	PT_ATTEMPT,
	PT_METRICS,
	PT_CLAIM_RELEASE,
	PT_ANY_LOST,
	PT_RECLAIM,
	PT_CLAIM_DELETE,
	PT_STATUS,
	PT_CANCEL_QUEUED,
	PT_CANCEL_RUNNING,
	PT_RETRY_PICK,
	PT_RETRY,
	PT_RETRY_METRICS,
	PT_ATTEMPTS,
	PT_BY_TOKEN,
	PT_GET_FLOW,
	PT_FLOW_CONVERSATIONS,
	PT_FLOW_TASKS,
	PT_CHANGED,
	PT_CLAIMS,
	PT_COUNT,
	PT_NEXT_DUE,
	PT_COUNT_STMTS
};

_Static_assert(PG_STMT_TASK_BASE + PT_COUNT_STMTS <= PG_STMT_OUTBOX_BASE,
	       "task statement ids overlap the outbox's");

#define PT_FROM " FROM tasks t LEFT JOIN flows f ON f.id = t.flow_id"
#define PT_CONVERSATION_METRICS                                                                \
	" succeeded = succeeded + ($2 = 'succeeded')::integer,"                                 \
	" failed = failed + ($2 IN ('failed', 'timed_out', 'dead_letter'))::integer,"           \
	" cancelled = cancelled + ($2 = 'cancelled')::integer"

static const char *const pt_sql[PT_COUNT_STMTS] = {
	/* The keys come sorted: every creation takes its locks in one order. */
	[PT_LOCK] = "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k",
	[PT_BY_ORIGIN] = "SELECT id, flow_id, conversation_id FROM tasks WHERE origin = $1",
	[PT_PARENT] = "SELECT flow_id, conversation_id FROM tasks WHERE id = $1::bigint",
	[PT_FLOW] = "SELECT conversation_id FROM flows WHERE id = $1",
	[PT_FLOW_INSERT] = "INSERT INTO flows (id, external_id, conversation_id, created_at,"
			   " updated_at) VALUES ($1, $2, $3, $4::bigint, $4::bigint)",
	[PT_FLOW_SET_CONVERSATION] = "UPDATE flows SET conversation_id = $2, updated_at = $3::bigint"
				     " WHERE id = $1",
	[PT_CONVERSATION_INSERT] = "INSERT INTO conversations (id, flow_id, created_at, updated_at)"
				   " VALUES ($1, $2, $3::bigint, $3::bigint)",
	/* The tasks a transaction created, counted once per conversation,
	 * the rows locked in id order. */
	[PT_CONVERSATION_COUNT] = "WITH n AS (SELECT conversation_id AS id, count(*) AS k FROM tasks"
				  "  WHERE id = ANY($1::bigint[]) GROUP BY conversation_id),"
				  " locked AS (SELECT c.id, n.k FROM conversations c JOIN n"
				  "  ON n.id = c.id ORDER BY c.id FOR UPDATE OF c)"
				  " UPDATE conversations c SET tasks = c.tasks + locked.k,"
				  " updated_at = $2::bigint FROM locked WHERE c.id = locked.id",
	[PT_INSERT] = "INSERT INTO tasks (origin, event_id, parent_id, flow_id, conversation_id,"
		      " route, command, agent, pool, project, title, prompt, metadata, priority,"
		      " max_attempts, next_attempt_at, created_at, updated_at)"
		      " VALUES ($1, $2::bigint, $3::bigint, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
		      " coalesce($13, '{}'), $14::integer, $15::integer, $16::bigint, $16::bigint,"
		      " $16::bigint) ON CONFLICT (origin) DO NOTHING RETURNING id",
	[PT_CANDIDATES] =
		"SELECT t.id, t.agent, t.pool, t.project,"
		/* One claim per project: another node's leaves the task out. */
		" (SELECT c.worker FROM claims c WHERE c.project = t.project"
		"  AND c.expires_at > $1::bigint),"
		" CASE WHEN t.project IS NULL THEN 0 ELSE"
		"  (SELECT count(*) FROM tasks r"
		"   WHERE r.status = 'running' AND r.project = t.project) END"
		" FROM tasks t WHERE t.status = 'queued' AND t.next_attempt_at <= $1::bigint"
		/* Not those that must wait: their project's claim is held by
		 * another running node or by a worker that runs a task, or
		 * (single_queue) their project runs one. */
		"  AND (t.project IS NULL OR NOT EXISTS (SELECT 1 FROM claims c"
		"   WHERE c.project = t.project AND c.expires_at > $1::bigint"
		"   AND (" STORE_CLAIM_ELSEWHERE("$4") " OR EXISTS (SELECT 1 FROM tasks b"
		"    WHERE b.status = 'running' AND b.worker = c.worker"
		"    AND b.lease_owner = c.node))))"
		"  AND (NOT $3::boolean OR t.project IS NULL OR NOT EXISTS (SELECT 1"
		"   FROM tasks r WHERE r.status = 'running' AND r.project = t.project))"
		" ORDER BY t.priority, t.id LIMIT $2::bigint",
	[PT_LOAD] = "SELECT c.worker, count(*) FROM claims c WHERE c.expires_at > $1::bigint"
		    " AND NOT " STORE_CLAIM_ELSEWHERE("$2") " GROUP BY c.worker",
	[PT_READ] = "SELECT " STORE_TASK_ROW_COLUMNS ", t.prompt, t.output" PT_FROM
		    " WHERE t.id = $1::bigint",
	/* From 'queued' only: of nodes starting one task together, the first
	 * writes, the others wait for its row lock and then find it running. */
	[PT_START] = "UPDATE tasks SET status = 'running', attempts = attempts + 1,"
		     " worker = $2, lease_owner = $3, host = $4, lease_expires_at = $6::bigint,"
		     " token_hash = $7, pid = NULL, pid_start = NULL, cancel_requested = false,"
		     " exit_code = NULL, error = NULL, output = NULL, output_bytes = NULL,"
		     " started_at = $5::bigint, finished_at = NULL, updated_at = $5::bigint"
		     " WHERE id = $1::bigint AND status = 'queued' RETURNING project",
	/* The primary key keeps one claim per project: a start takes it
	 * over atomically, whichever node wrote it before. */
	[PT_CLAIM] = "INSERT INTO claims (project, worker, node, expires_at, last_activity, tasks)"
		     " VALUES ($1, $2, $3, $4::bigint, $5::bigint, 1) ON CONFLICT (project) DO UPDATE"
		     " SET tasks = CASE WHEN claims.worker = excluded.worker"
		     "  AND claims.expires_at > $5::bigint THEN claims.tasks + 1 ELSE 1 END,"
		     " worker = excluded.worker, node = excluded.node,"
		     " expires_at = excluded.expires_at, last_activity = excluded.last_activity",
	[PT_SET_PID] = "UPDATE tasks SET pid = $3::bigint, pid_start = $4::bigint"
		       " WHERE id = $1::bigint AND status = 'running' AND lease_owner = $2"
		       " AND attempts = $5::integer",
	[PT_HEARTBEAT] = "WITH held AS (SELECT id FROM tasks WHERE id = ANY($3::bigint[])"
			 "  AND status = 'running' AND lease_owner = $1 ORDER BY id FOR UPDATE)"
			 " UPDATE tasks t SET lease_expires_at = $2::bigint FROM held"
			 " WHERE t.id = held.id RETURNING t.id, t.cancel_requested",
	[PT_HEARTBEAT_CLAIMS] = "WITH mine AS (SELECT c.project FROM claims c WHERE c.node = $1"
				"  AND c.project IN (SELECT project FROM tasks"
				"   WHERE status = 'running' AND lease_owner = $1"
				"   AND worker = c.worker AND id = ANY($3::bigint[]))"
				"  ORDER BY c.project FOR UPDATE OF c)"
				" UPDATE claims SET expires_at = $2::bigint FROM mine"
				" WHERE claims.project = mine.project",
	/* Asked to cancel: it ends cancelled, never queued again. */
	[PT_FINISH] = "UPDATE tasks SET status = CASE WHEN $3 = 'queued' AND cancel_requested"
		      "  THEN 'cancelled' ELSE $3 END,"
		      " attempts = attempts - CASE WHEN $4::boolean AND NOT cancel_requested"
		      "  THEN 1 ELSE 0 END,"
		      " next_attempt_at = CASE WHEN $3 = 'queued' THEN $5::bigint"
		      "  ELSE next_attempt_at END,"
		      " lease_owner = NULL, lease_expires_at = NULL, token_hash = NULL,"
		      " pid = NULL, pid_start = NULL, cancel_requested = false,"
		      " exit_code = $6::integer, error = $7, output = $8, output_bytes = $9::bigint,"
		      " finished_at = CASE WHEN $3 = 'queued' AND NOT cancel_requested THEN NULL"
		      "  ELSE $10::bigint END, updated_at = $10::bigint"
		      " WHERE id = $1::bigint AND status = 'running' AND lease_owner = $2"
		      " AND attempts = $11::integer"
		      " RETURNING conversation_id, project, started_at, status, retry_base",
	[PT_ATTEMPT] = "INSERT INTO task_attempts (task_id, attempt, worker, started_at,"
		       " finished_at, outcome, exit_code, error) VALUES ($1::bigint, $2::integer,"
		       " $3, $4::bigint, $5::bigint, $6, $7::integer, $8)"
		       " ON CONFLICT (task_id, attempt) DO UPDATE SET worker = excluded.worker,"
		       " started_at = excluded.started_at, finished_at = excluded.finished_at,"
		       " outcome = excluded.outcome, exit_code = excluded.exit_code,"
		       " error = excluded.error",
	[PT_METRICS] = "UPDATE conversations SET run_ms = run_ms + $3::bigint,"
		       " updated_at = $4::bigint," PT_CONVERSATION_METRICS " WHERE id = $1",
	[PT_CLAIM_RELEASE] = "UPDATE claims SET expires_at = $3::bigint, last_activity = $4::bigint"
			     " WHERE project = $1 AND worker = $2 AND node = $5",
	[PT_ANY_LOST] = "SELECT id FROM tasks WHERE status = 'running'"
			" AND lease_expires_at <= $1::bigint LIMIT 1",
	/* Several nodes may reclaim at once: each takes the rows no other is
	 * on, and a row another rescued meanwhile no longer matches once
	 * locked. */
	[PT_RECLAIM] = "WITH lost AS (SELECT id, lease_owner FROM tasks WHERE status = 'running'"
		       "  AND lease_expires_at <= $1::bigint AND id <> ALL($2::bigint[])"
		       "  ORDER BY id FOR UPDATE SKIP LOCKED)"
		       " UPDATE tasks t SET status = CASE WHEN t.cancel_requested THEN 'cancelled'"
		       "  WHEN t.attempts - t.retry_base >= t.max_attempts THEN 'failed'"
		       "  ELSE 'queued' END,"
		       " next_attempt_at = $1::bigint, updated_at = $1::bigint,"
		       " finished_at = CASE WHEN t.cancel_requested"
		       "  OR t.attempts - t.retry_base >= t.max_attempts THEN $1::bigint END,"
		       " error = '" STORE_TASK_LOST "',"
		       /* The token's hash stays (no longer valid: not running)
			* so the rescuer can find the attempt's processes by it. */
		       " lease_owner = NULL, lease_expires_at = NULL, cancel_requested = false"
		       " FROM lost WHERE t.id = lost.id"
		       " RETURNING t.id, t.host, t.pid, t.pid_start, t.status, t.conversation_id,"
		       " t.attempts, t.worker, t.started_at, t.project, t.token_hash,"
		       " lost.lease_owner",
	[PT_CLAIM_DELETE] = "DELETE FROM claims WHERE project = $1 AND worker = $2 AND node = $3",
	[PT_STATUS] = "SELECT status FROM tasks WHERE id = $1::bigint",
	[PT_CANCEL_QUEUED] = "UPDATE tasks SET status = 'cancelled', finished_at = $2::bigint,"
			     " updated_at = $2::bigint, error = 'cancelled before it started'"
			     " WHERE id = $1::bigint AND status = 'queued' RETURNING conversation_id",
	[PT_CANCEL_RUNNING] = "UPDATE tasks SET cancel_requested = true, updated_at = $2::bigint"
			      " WHERE id = $1::bigint AND status = 'running'",
	/* The end it leaves, so the conversation's metrics count the task's
	 * final outcome once, not every outcome it ever had. */
	[PT_RETRY_PICK] = "SELECT status, conversation_id FROM tasks WHERE id = $1::bigint"
			  " AND (status = $2 OR ($2 IS NULL AND status IN"
			  " ('failed', 'timed_out', 'cancelled', 'dead_letter'))) FOR UPDATE",
	[PT_RETRY] = "UPDATE tasks SET status = 'queued', retry_base = attempts,"
		     " next_attempt_at = $2::bigint, updated_at = $2::bigint, finished_at = NULL,"
		     " cancel_requested = false WHERE id = $1::bigint",
	[PT_RETRY_METRICS] = "UPDATE conversations SET updated_at = $3::bigint,"
			     " failed = failed - ($2 IN ('failed', 'timed_out', 'dead_letter'))"
			     "::integer, cancelled = cancelled - ($2 = 'cancelled')::integer"
			     " WHERE id = $1",
	[PT_ATTEMPTS] = "SELECT attempt, worker, started_at, finished_at, outcome, exit_code, error"
			" FROM task_attempts WHERE task_id = $1::bigint ORDER BY attempt",
	[PT_BY_TOKEN] = "SELECT id FROM tasks WHERE token_hash = $1 AND status = 'running'",
	[PT_GET_FLOW] = "SELECT id, external_id, conversation_id, created_at, updated_at"
			" FROM flows WHERE id = $1",
	[PT_FLOW_CONVERSATIONS] = "SELECT id, created_at, updated_at, tasks, succeeded, failed,"
				  " cancelled, run_ms FROM conversations WHERE flow_id = $1"
				  " ORDER BY created_at, id",
	[PT_FLOW_TASKS] = "SELECT " STORE_TASK_ROW_COLUMNS PT_FROM
			  " WHERE t.flow_id = $1 ORDER BY t.id LIMIT $2::bigint",
	[PT_CHANGED] = "SELECT " STORE_TASK_ROW_COLUMNS PT_FROM
		       " WHERE t.change_seq > $1::bigint ORDER BY t.change_seq LIMIT $2::bigint",
	[PT_CLAIMS] = "SELECT project, worker, node, expires_at, last_activity, tasks FROM claims"
		      " WHERE expires_at > $1::bigint ORDER BY worker, project",
	[PT_COUNT] = "SELECT status, count(*) FROM tasks GROUP BY status",
	[PT_NEXT_DUE] = "SELECT next_attempt_at FROM tasks WHERE status = 'queued'"
			" ORDER BY next_attempt_at LIMIT 1",
};

static int pt_run(struct pg_conn *c, enum pt_stmt id, const struct pg_args *a, PGresult **ret,
		  const char *what, struct store_error *err)
{
	return pg_run_sql(c, PG_STMT_TASK_BASE + (int)id, pt_sql[id], a, ret, what, err);
}

static int pt_query(struct pg_store *s, enum pt_stmt id, const struct pg_args *a,
		    PGresult **ret, const char *what, struct store_error *err)
{
	return pg_query_sql(s, PG_STMT_TASK_BASE + (int)id, pt_sql[id], a, ret, what, err);
}

/* Runs a write, counting the rows it changed. */
static int pt_write(struct pg_conn *c, enum pt_stmt id, const struct pg_args *a,
		    size_t *changed, const char *what, struct store_error *err)
{
	PGresult *res = NULL;
	int r = pt_run(c, id, a, &res, what, err);
	if (r == 0 && changed)
		*changed = pg_changed(res);
	PQclear(res);
	return r;
}

static void pt_arg_id(struct pg_args *a, int64_t v)
{
	if (v > 0)
		pg_arg_i64(a, v);
	else
		pg_arg_text(a, NULL);
}

/* A boolean column in binary; an integer one also works. */
static bool pt_bool(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return false;
	if (PQgetlength(res, row, col) == 1)
		return PQgetvalue(res, row, col)[0] != 0;
	return pg_int(res, row, col) != 0;
}

static void pt_copy_id(char *dst, size_t size, const PGresult *res, int row, int col)
{
	snprintf(dst, size, "%.*s", PQgetlength(res, row, col), PQgetvalue(res, row, col));
}

/* ids as a PostgreSQL array literal ("{1,2}"), malloc'd. */
static char *pt_id_array(const int64_t *ids, size_t n)
{
	return store_id_list(ids, n, '{', '}');
}

static int pt_id_cmp(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
	return a < b ? -1 : a > b;
}

/* Appends v to a growing array of int64. */
static int pt_push(int64_t **arr, size_t *n, size_t *cap, int64_t v)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		int64_t *na = realloc(*arr, ncap * sizeof(*na));
		if (!na)
			return HQ_E_NOMEM;
		*arr = na;
		*cap = ncap;
	}
	(*arr)[(*n)++] = v;
	return 0;
}

/* Creating tasks */

/* The advisory lock key of a name: 64-bit FNV-1a of kind and name. */
static int64_t pt_lock_key(char kind, const char *name)
{
	uint64_t h = 1469598103934665603ULL;
	h = (h ^ (unsigned char)kind) * 1099511628211ULL;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return (int64_t)h;
}

void pg_task_batch_release(struct pg_task_batch *b)
{
	free(b->keys);
	free(b->created);
	memset(b, 0, sizeof(*b));
}

int pg_task_batch_add(struct pg_conn *c, struct pg_task_batch *b, const struct store_task_in *t,
		      size_t n, struct store_error *err)
{
	for (size_t i = 0; i < n; i++) {
		int r = pt_push(&b->keys, &b->n_keys, &b->cap_keys, pt_lock_key('o', t[i].origin));
		if (r < 0)
			return r;
		if (t[i].parent_id <= 0) {
			if (t[i].flow_id)
				r = pt_push(&b->keys, &b->n_keys, &b->cap_keys,
					    pt_lock_key('f', t[i].flow_id));
			if (r < 0)
				return r;
			continue;
		}
		/* A child goes to its parent's flow, which never changes. */
		struct pg_args a = { 0 };
		pg_arg_i64(&a, t[i].parent_id);
		PGresult *res = NULL;
		if ((r = pt_run(c, PT_PARENT, &a, &res, "reading the parent task", err)) < 0)
			return r;
		char flow[STORE_FLOW_ID_MAX] = "";
		if (PQntuples(res) > 0)
			pt_copy_id(flow, sizeof(flow), res, 0, 0);
		PQclear(res);
		if (*flow && (r = pt_push(&b->keys, &b->n_keys, &b->cap_keys,
					  pt_lock_key('f', flow))) < 0)
			return r;
	}
	return 0;
}

int pg_task_batch_lock(struct pg_conn *c, struct pg_task_batch *b, struct store_error *err)
{
	if (b->n_keys == 0)
		return 0;
	qsort(b->keys, b->n_keys, sizeof(*b->keys), pt_id_cmp);
	size_t n = 1;
	for (size_t i = 1; i < b->n_keys; i++)
		if (b->keys[i] != b->keys[n - 1])
			b->keys[n++] = b->keys[i];
	char *keys = pt_id_array(b->keys, n);
	if (!keys)
		return HQ_E_NOMEM;
	struct pg_args a = { 0 };
	pg_arg_text(&a, keys);
	int r = pt_write(c, PT_LOCK, &a, NULL, "locking the tasks' origins and flows", err);
	free(keys);
	b->n_keys = 0;
	return r;
}

static int pt_new_conversation(struct pg_conn *c, const char *flow_id, int64_t now_ms,
			       char out[STORE_CONVERSATION_ID_MAX], struct store_error *err)
{
	int r = store_conversation_id(out, err);
	if (r < 0)
		return r;
	struct pg_args a = { 0 };
	pg_arg_text(&a, out);
	pg_arg_text(&a, flow_id);
	pg_arg_i64(&a, now_ms);
	return pt_write(c, PT_CONVERSATION_INSERT, &a, NULL, "creating a conversation", err);
}

/* Where a new task goes: its parent's flow and conversation, or its
 * flow's current conversation; a flow or conversation is created as
 * needed. The flow is locked (pg_task_batch_lock). */
static int pt_place(struct pg_conn *c, struct store_task_in *t, int64_t now_ms,
		    struct store_error *err)
{
	char flow[STORE_FLOW_ID_MAX] = "", conv[STORE_CONVERSATION_ID_MAX] = "";
	struct pg_args a = { 0 };
	PGresult *res = NULL;
	int r;
	if (t->parent_id > 0) {
		pg_arg_i64(&a, t->parent_id);
		if ((r = pt_run(c, PT_PARENT, &a, &res, "reading the parent task", err)) < 0)
			return r;
		bool found = PQntuples(res) > 0;
		if (found) {
			pt_copy_id(flow, sizeof(flow), res, 0, 0);
			pt_copy_id(conv, sizeof(conv), res, 0, 1);
		}
		PQclear(res);
		if (!found) {
			store_error_set(err, "no task %lld (the parent)", (long long)t->parent_id);
			return HQ_E_NOTFOUND;
		}
	} else {
		if (!t->flow_id || !t->external_id) {
			store_error_set(err, "a task without a parent needs a flow");
			return HQ_E_INVAL;
		}
		snprintf(flow, sizeof(flow), "%s", t->flow_id);
		pg_arg_text(&a, flow);
		if ((r = pt_run(c, PT_FLOW, &a, &res, "reading the flow", err)) < 0)
			return r;
		bool found = PQntuples(res) > 0;
		if (found)
			pt_copy_id(conv, sizeof(conv), res, 0, 0);
		PQclear(res);
		if (!found) {
			/* A new flow starts with a new conversation. */
			if ((r = pt_new_conversation(c, flow, now_ms, conv, err)) < 0)
				return r;
			struct pg_args b = { 0 };
			pg_arg_text(&b, flow);
			pg_arg_text(&b, t->external_id);
			pg_arg_text(&b, conv);
			pg_arg_i64(&b, now_ms);
			if ((r = pt_write(c, PT_FLOW_INSERT, &b, NULL, "creating a flow", err)) < 0)
				return r;
			t->new_conversation = false;
		}
	}
	if (t->new_conversation) {
		/* The flow goes on in the new conversation: later tasks that
		 * are not children join it. */
		if ((r = pt_new_conversation(c, flow, now_ms, conv, err)) < 0)
			return r;
		struct pg_args b = { 0 };
		pg_arg_text(&b, flow);
		pg_arg_text(&b, conv);
		pg_arg_i64(&b, now_ms);
		if ((r = pt_write(c, PT_FLOW_SET_CONVERSATION, &b, NULL, "updating the flow",
				  err)) < 0)
			return r;
	}
	snprintf(t->ret_flow_id, sizeof(t->ret_flow_id), "%s", flow);
	snprintf(t->ret_conversation_id, sizeof(t->ret_conversation_id), "%s", conv);
	return 0;
}

/* Finds the task of t's origin: *found says whether there is one. */
static int pt_by_origin(struct pg_conn *c, struct store_task_in *t, bool *found,
			struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_text(&a, t->origin);
	PGresult *res = NULL;
	int r = pt_run(c, PT_BY_ORIGIN, &a, &res, "looking up a task", err);
	if (r < 0)
		return r;
	*found = PQntuples(res) > 0;
	if (*found) {
		t->id = pg_int(res, 0, 0);
		t->duplicate = true;
		pt_copy_id(t->ret_flow_id, sizeof(t->ret_flow_id), res, 0, 1);
		pt_copy_id(t->ret_conversation_id, sizeof(t->ret_conversation_id), res, 0, 2);
	}
	PQclear(res);
	return 0;
}

int pg_task_insert(struct pg_conn *c, struct pg_task_batch *b, struct store_task_in *t,
		   int64_t now_ms, struct store_error *err)
{
	bool found = false;
	int r = pt_by_origin(c, t, &found, err);
	if (r < 0 || found)
		return r;
	if ((r = pt_place(c, t, now_ms, err)) < 0)
		return r;
	struct pg_args a = { 0 };
	pg_arg_text(&a, t->origin);
	pt_arg_id(&a, t->event_id);
	pt_arg_id(&a, t->parent_id);
	pg_arg_text(&a, t->ret_flow_id);
	pg_arg_text(&a, t->ret_conversation_id);
	pg_arg_text(&a, t->route);
	pg_arg_text(&a, t->command);
	pg_arg_text(&a, t->agent);
	pg_arg_text(&a, t->pool ? t->pool : "main");
	pg_arg_text(&a, t->project && *t->project ? t->project : NULL);
	pg_arg_text(&a, t->title ? t->title : "");
	pg_arg_text(&a, t->prompt ? t->prompt : "");
	pg_arg_text(&a, t->metadata_json);
	pg_arg_i64(&a, t->priority);
	pg_arg_i64(&a, t->max_attempts > 0 ? t->max_attempts : 1);
	pg_arg_i64(&a, now_ms);
	PGresult *res = NULL;
	if ((r = pt_run(c, PT_INSERT, &a, &res, "creating a task", err)) < 0)
		return r;
	int rows = PQntuples(res);
	if (rows > 0)
		t->id = pg_int(res, 0, 0);
	PQclear(res);
	if (rows == 0) {
		/* Only when the origin lock did not hold it back: the row is
		 * there, and is the answer. */
		if ((r = pt_by_origin(c, t, &found, err)) < 0)
			return r;
		if (!found) {
			store_error_set(err, "creating a task: no row came back");
			return HQ_E_STORE;
		}
		return 0;
	}
	t->duplicate = false;
	if ((r = pt_push(&b->created, &b->n_created, &b->cap_created, t->id)) < 0)
		return r;
	/* The replies its creation causes, in the same transaction. */
	for (size_t i = 0; i < t->n_outbox; i++) {
		char origin[700];
		snprintf(origin, sizeof(origin), "%s:%s", t->origin, t->outbox[i].name);
		if ((r = pg_outbox_insert(c, &t->outbox[i], origin, t->id, now_ms, err)) < 0)
			return r;
	}
	return 0;
}

int pg_task_batch_end(struct pg_conn *c, struct pg_task_batch *b, int64_t now_ms,
		      struct store_error *err)
{
	if (b->n_created == 0)
		return 0;
	char *ids = pt_id_array(b->created, b->n_created);
	if (!ids)
		return HQ_E_NOMEM;
	struct pg_args a = { 0 };
	pg_arg_text(&a, ids);
	pg_arg_i64(&a, now_ms);
	int r = pt_write(c, PT_CONVERSATION_COUNT, &a, NULL, "counting conversations' tasks",
			 err);
	free(ids);
	b->n_created = 0;
	/* Dispatchers on other nodes wake for them. */
	if (r == 0)
		r = pg_notify(c, STORE_CHANGED_TASKS, err);
	return r;
}

struct pt_create {
	struct store_task_in *tasks;
	size_t n;
	int64_t now_ms;
};

static int pt_create_in(struct pg_conn *c, void *arg, struct store_error *err)
{
	struct pt_create *x = arg;
	struct pg_task_batch b = { 0 };
	int r = pg_task_batch_add(c, &b, x->tasks, x->n, err);
	if (r == 0)
		r = pg_task_batch_lock(c, &b, err);
	for (size_t i = 0; r == 0 && i < x->n; i++)
		r = pg_task_insert(c, &b, &x->tasks[i], x->now_ms, err);
	if (r == 0)
		r = pg_task_batch_end(c, &b, x->now_ms, err);
	pg_task_batch_release(&b);
	return r;
}

static int pg_task_create(struct store *base, struct store_task_in *tasks, size_t n,
			  int64_t now_ms, struct store_error *err)
{
	struct pt_create x = { tasks, n, now_ms };
	return pg_txn((struct pg_store *)base, pt_create_in, &x, "creating tasks", err);
}

/* Reading */

/* Runs a read-only transaction on one snapshot. */
static int pt_read_txn(struct pg_store *s, int (*fn)(struct pg_conn *, void *,
						      struct store_error *),
		       void *arg, const char *what, struct store_error *err)
{
	struct pg_conn *c;
	int r = pg_acquire(s, &c, err);
	if (r < 0)
		return r;
	r = pg_exec(c->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", what, err);
	if (r == 0)
		r = fn(c, arg, err);
	if (r == 0)
		r = pg_exec(c->conn, "COMMIT", what, err);
	pg_release(s, c);
	return r;
}

struct pt_candidates {
	const char *owner;
	int64_t now_ms;
	size_t limit;
	bool single_queue;
	struct store_candidates c;
};

static int pt_candidates_in(struct pg_conn *c, void *arg, struct store_error *err)
{
	struct pt_candidates *x = arg;
	struct pg_args a = { 0 };
	pg_arg_i64(&a, x->now_ms);
	pg_arg_i64(&a, x->limit > INT64_MAX ? INT64_MAX : (int64_t)x->limit);
	pg_arg_text(&a, x->single_queue ? "true" : "false");
	pg_arg_text(&a, x->owner);
	PGresult *res = NULL;
	int r = pt_run(c, PT_CANDIDATES, &a, &res, "reading the task queue", err);
	if (r < 0)
		return r;
	size_t n = (size_t)PQntuples(res);
	if (n && !(x->c.tasks = calloc(n, sizeof(*x->c.tasks))))
		r = HQ_E_NOMEM;
	for (int i = 0; r == 0 && i < (int)n; i++) {
		struct store_task_candidate *t = &x->c.tasks[x->c.n++];
		bool nomem = false;
		t->id = pg_int(res, i, 0);
		t->agent = pg_dup(res, i, 1, NULL);
		t->pool = pg_dup(res, i, 2, NULL);
		t->project = pg_dup_opt(res, i, 3, &nomem);
		t->claim_worker = pg_dup_opt(res, i, 4, &nomem);
		t->running_in_project = pg_int(res, i, 5);
		if (nomem || !t->agent || !t->pool)
			r = HQ_E_NOMEM;
	}
	PQclear(res);
	if (r < 0 || n == 0)
		return r;
	struct pg_args b = { 0 };
	pg_arg_i64(&b, x->now_ms);
	pg_arg_text(&b, x->owner);
	if ((r = pt_run(c, PT_LOAD, &b, &res, "reading the claims", err)) < 0)
		return r;
	n = (size_t)PQntuples(res);
	if (n) {
		x->c.load_worker = calloc(n, sizeof(*x->c.load_worker));
		x->c.load = calloc(n, sizeof(*x->c.load));
		if (!x->c.load_worker || !x->c.load)
			r = HQ_E_NOMEM;
	}
	for (int i = 0; r == 0 && i < (int)n; i++) {
		x->c.load[x->c.n_load] = pg_int(res, i, 1);
		if (!(x->c.load_worker[x->c.n_load++] = pg_dup(res, i, 0, NULL)))
			r = HQ_E_NOMEM;
	}
	PQclear(res);
	return r;
}

static int pg_task_candidates(struct store *base, const char *owner, int64_t now_ms,
			      size_t limit, bool single_queue, struct store_candidates *ret,
			      struct store_error *err)
{
	struct pt_candidates x = { owner, now_ms, limit, single_queue, { 0 } };
	int r = pt_read_txn((struct pg_store *)base, pt_candidates_in, &x, "reading the task queue",
			    err);
	if (r < 0) {
		store_candidates_release(&x.c);
		return r;
	}
	*ret = x.c;
	return 0;
}

/* Reads the STORE_TASK_ROW_COLUMNS of row i. */
static int pt_task_row(const PGresult *res, int i, struct store_task *t)
{
	memset(t, 0, sizeof(*t));
	bool nomem = false;
	t->id = pg_int(res, i, 0);
	t->origin = pg_dup(res, i, 1, NULL);
	t->event_id = pg_int(res, i, 2);
	t->parent_id = pg_int(res, i, 3);
	pt_copy_id(t->flow_id, sizeof(t->flow_id), res, i, 4);
	pt_copy_id(t->conversation_id, sizeof(t->conversation_id), res, i, 5);
	t->external_id = pg_dup_opt(res, i, 6, &nomem);
	t->route = pg_dup_opt(res, i, 7, &nomem);
	t->command = pg_dup_opt(res, i, 8, &nomem);
	t->agent = pg_dup(res, i, 9, NULL);
	t->pool = pg_dup(res, i, 10, NULL);
	t->project = pg_dup_opt(res, i, 11, &nomem);
	t->title = pg_dup(res, i, 12, NULL);
	t->metadata_json = pg_dup(res, i, 13, NULL);
	t->status = pg_dup(res, i, 14, NULL);
	t->priority = (int)pg_int(res, i, 15);
	t->attempts = (int)pg_int(res, i, 16);
	t->max_attempts = (int)pg_int(res, i, 17);
	t->retry_base = (int)pg_int(res, i, 18);
	t->worker = pg_dup_opt(res, i, 19, &nomem);
	t->lease_owner = pg_dup_opt(res, i, 20, &nomem);
	t->lease_expires_at_ms = pg_int(res, i, 21);
	t->cancel_requested = pt_bool(res, i, 22);
	t->has_exit_code = !PQgetisnull(res, i, 23);
	t->exit_code = (int)pg_int(res, i, 23);
	t->error = pg_dup_opt(res, i, 24, &nomem);
	t->output_bytes = pg_int(res, i, 25);
	t->created_at_ms = pg_int(res, i, 26);
	t->updated_at_ms = pg_int(res, i, 27);
	t->next_attempt_at_ms = pg_int(res, i, 28);
	t->started_at_ms = pg_int(res, i, 29);
	t->finished_at_ms = pg_int(res, i, 30);
	t->change_seq = pg_int(res, i, 31);
	if (nomem || !t->origin || !t->agent || !t->pool || !t->title || !t->metadata_json ||
	    !t->status)
		return HQ_E_NOMEM;
	return 0;
}

/* One task with its prompt (and output), on c. */
static int pt_read_task(struct pg_conn *c, int64_t id, bool output, struct store_task *ret,
			struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_i64(&a, id);
	PGresult *res = NULL;
	int r = pt_run(c, PT_READ, &a, &res, "reading a task", err);
	if (r < 0)
		return r;
	if (PQntuples(res) == 0) {
		store_error_set(err, "no task %lld", (long long)id);
		r = HQ_E_NOTFOUND;
	} else {
		r = pt_task_row(res, 0, ret);
		bool nomem = false;
		if (r == 0) {
			ret->prompt = pg_dup(res, 0, STORE_TASK_ROW_NCOLS, NULL);
			if (output)
				ret->output = pg_dup_opt(res, 0, STORE_TASK_ROW_NCOLS + 1, &nomem);
			if (!ret->prompt || nomem)
				r = HQ_E_NOMEM;
		}
		if (r < 0)
			store_task_release(ret);
	}
	PQclear(res);
	return r;
}

/* The rows of a task listing: up to limit, more when there was one over. */
static int pt_list_rows(PGresult *res, size_t limit, struct store_task_list *ret)
{
	size_t rows = (size_t)PQntuples(res);
	struct store_task_list l = { NULL, 0, rows > limit };
	if (rows > limit)
		rows = limit;
	int r = 0;
	if (rows && !(l.rows = calloc(rows, sizeof(*l.rows))))
		r = HQ_E_NOMEM;
	for (size_t i = 0; r == 0 && i < rows; i++) {
		r = pt_task_row(res, (int)i, &l.rows[i]);
		l.n++;
	}
	if (r < 0) {
		store_task_list_release(&l);
		return r;
	}
	*ret = l;
	return 0;
}

/* The task lifecycle */

struct pt_start {
	int64_t id;
	const char *worker, *owner, *host;
	const unsigned char *token_hash;
	int64_t now_ms, lease_ms, claim_ttl_ms;
	struct store_task *ret;
};

static int pt_start_in(struct pg_conn *c, void *arg, struct store_error *err)
{
	struct pt_start *x = arg;
	struct pg_args a = { 0 };
	pg_arg_i64(&a, x->id);
	pg_arg_text(&a, x->worker);
	pg_arg_text(&a, x->owner);
	pg_arg_text(&a, x->host);
	pg_arg_i64(&a, x->now_ms);
	pg_arg_i64(&a, x->now_ms + x->lease_ms);
	pg_arg_bytes(&a, x->token_hash, CRYPTO_SHA256_LEN);
	PGresult *res = NULL;
	int r = pt_run(c, PT_START, &a, &res, "starting a task", err);
	if (r < 0)
		return r;
	bool started = PQntuples(res) > 0, nomem = false;
	char *project = started ? pg_dup_opt(res, 0, 0, &nomem) : NULL;
	PQclear(res);
	if (!started) {
		store_error_set(err, "task %lld is not queued", (long long)x->id);
		return HQ_E_CONFLICT;
	}
	if (nomem)
		return HQ_E_NOMEM;
	if (project && x->claim_ttl_ms > 0) {
		struct pg_args b = { 0 };
		pg_arg_text(&b, project);
		pg_arg_text(&b, x->worker);
		pg_arg_text(&b, x->owner);
		pg_arg_i64(&b, x->now_ms + x->lease_ms + x->claim_ttl_ms);
		pg_arg_i64(&b, x->now_ms);
		r = pt_write(c, PT_CLAIM, &b, NULL, "claiming a project", err);
	}
	free(project);
	if (r < 0)
		return r;
	return pt_read_task(c, x->id, false, x->ret, err);
}

static int pg_task_start(struct store *base, int64_t id, const char *worker, const char *owner,
			 const char *host, const unsigned char *token_hash, int64_t now_ms,
			 int64_t lease_ms, int64_t claim_ttl_ms, struct store_task *ret,
			 struct store_error *err)
{
	struct store_task t;
	memset(&t, 0, sizeof(t));
	struct pt_start x = { id, worker, owner, host, token_hash, now_ms, lease_ms, claim_ttl_ms,
			      &t };
	int r = pg_txn((struct pg_store *)base, pt_start_in, &x, "starting a task", err);
	if (r == 0)
		*ret = t;
	return r;
}

static int pg_task_set_pid(struct store *base, int64_t id, const char *owner, int attempt,
			   int64_t pid, int64_t pid_start, struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_i64(&a, id);
	pg_arg_text(&a, owner);
	pg_arg_i64(&a, pid);
	pg_arg_i64(&a, pid_start);
	pg_arg_i64(&a, attempt);
	PGresult *res = NULL;
	int r = pt_query((struct pg_store *)base, PT_SET_PID, &a, &res, "recording a task's pid",
			 err);
	size_t changed = r == 0 ? pg_changed(res) : 0;
	PQclear(res);
	if (r == 0 && changed == 0) {
		store_error_set(err, "task %lld attempt %d is not running under this node",
				(long long)id, attempt);
		r = HQ_E_CONFLICT;
	}
	return r;
}

struct pt_heartbeat {
	const char *ids; /* array literal */
	const char *owner;
	int64_t now_ms, lease_ms, claim_ttl_ms;
	int64_t *cancel;
	size_t n_cancel, cap;
	int64_t *renewed;
	size_t n_renewed, cap_renewed;
};

static int pt_heartbeat_in(struct pg_conn *c, void *arg, struct store_error *err)
{
	struct pt_heartbeat *x = arg;
	x->n_cancel = x->n_renewed = 0; /* a second try starts over */
	struct pg_args a = { 0 };
	pg_arg_text(&a, x->owner);
	pg_arg_i64(&a, x->now_ms + x->lease_ms);
	pg_arg_text(&a, x->ids);
	PGresult *res = NULL;
	int r = pt_run(c, PT_HEARTBEAT, &a, &res, "renewing task leases", err);
	if (r < 0)
		return r;
	for (int i = 0; r == 0 && i < PQntuples(res); i++) {
		r = pt_push(&x->renewed, &x->n_renewed, &x->cap_renewed, pg_int(res, i, 0));
		if (r == 0 && pt_bool(res, i, 1))
			r = pt_push(&x->cancel, &x->n_cancel, &x->cap, pg_int(res, i, 0));
	}
	PQclear(res);
	if (r < 0 || x->claim_ttl_ms == 0)
		return r;
	struct pg_args b = { 0 };
	pg_arg_text(&b, x->owner);
	pg_arg_i64(&b, x->now_ms + x->lease_ms + x->claim_ttl_ms);
	pg_arg_text(&b, x->ids);
	return pt_write(c, PT_HEARTBEAT_CLAIMS, &b, NULL, "renewing claims", err);
}

static int pg_task_heartbeat(struct store *base, const char *owner, const int64_t *held,
			     size_t n, int64_t now_ms, int64_t lease_ms, int64_t claim_ttl_ms,
			     int64_t **cancel, size_t *n_cancel, int64_t **renewed,
			     size_t *n_renewed, struct store_error *err)
{
	char *ids = pt_id_array(held, n);
	if (!ids)
		return HQ_E_NOMEM;
	struct pt_heartbeat x = { ids, owner, now_ms, lease_ms, claim_ttl_ms, NULL, 0, 0,
				  NULL, 0, 0 };
	int r = pg_txn((struct pg_store *)base, pt_heartbeat_in, &x, "renewing task leases", err);
	free(ids);
	if (r < 0) {
		free(x.cancel);
		free(x.renewed);
		return r;
	}
	*cancel = x.cancel;
	*n_cancel = x.n_cancel;
	*renewed = x.renewed;
	*n_renewed = x.n_renewed;
	return 0;
}

/* Adds an ended attempt to a conversation's metrics. */
static int pt_metrics(struct pg_conn *c, const char *conversation, const char *status,
		      int64_t run_ms, int64_t now_ms, struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_text(&a, conversation);
	pg_arg_text(&a, status);
	pg_arg_i64(&a, run_ms > 0 ? run_ms : 0);
	pg_arg_i64(&a, now_ms);
	return pt_write(c, PT_METRICS, &a, NULL, "updating conversation metrics", err);
}

static int pt_attempt_row(struct pg_conn *c, int64_t id, int attempt, const char *worker,
			  int64_t started, int64_t now_ms, const char *outcome,
			  const struct store_task_end *end, struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_i64(&a, id);
	pg_arg_i64(&a, attempt);
	pg_arg_text(&a, worker);
	pt_arg_id(&a, started);
	pg_arg_i64(&a, now_ms);
	pg_arg_text(&a, outcome);
	if (end && end->has_exit_code)
		pg_arg_i64(&a, end->exit_code);
	else
		pg_arg_text(&a, NULL);
	pg_arg_text(&a, end ? end->error : NULL);
	return pt_write(c, PT_ATTEMPT, &a, NULL, "recording an attempt", err);
}

struct pt_finish {
	int64_t id;
	int attempt;
	const char *owner, *worker;
	const struct store_task_end *end;
	int64_t now_ms, claim_ttl_ms;
};

static int pt_finish_in(struct pg_conn *c, void *arg, struct store_error *err)
{
	struct pt_finish *x = arg;
	const struct store_task_end *e = x->end;
	bool queued = strcmp(e->status, "queued") == 0;
	struct pg_args a = { 0 };
	pg_arg_i64(&a, x->id);
	pg_arg_text(&a, x->owner);
	pg_arg_text(&a, e->status);
	pg_arg_text(&a, queued && e->refund ? "true" : "false");
	pg_arg_i64(&a, e->next_attempt_at_ms);
	if (e->has_exit_code)
		pg_arg_i64(&a, e->exit_code);
	else
		pg_arg_text(&a, NULL);
	pg_arg_text(&a, e->error);
	pg_arg_text(&a, e->output);
	pg_arg_i64(&a, e->output_bytes);
	pg_arg_i64(&a, x->now_ms);
	pg_arg_i64(&a, x->attempt);
	PGresult *res = NULL;
	int r = pt_run(c, PT_FINISH, &a, &res, "ending a task", err);
	if (r < 0)
		return r;
	if (PQntuples(res) == 0) {
		PQclear(res);
		store_error_set(err, "task %lld attempt %d is not running under this node",
				(long long)x->id, x->attempt);
		return HQ_E_CONFLICT;
	}
	char conv[STORE_CONVERSATION_ID_MAX], status[16];
	bool nomem = false;
	pt_copy_id(conv, sizeof(conv), res, 0, 0);
	char *project = pg_dup_opt(res, 0, 1, &nomem);
	int64_t started = pg_int(res, 0, 2);
	pt_copy_id(status, sizeof(status), res, 0, 3);
	int retry_base = (int)pg_int(res, 0, 4);
	PQclear(res);
	if (nomem)
		return HQ_E_NOMEM;
	if (queued && strcmp(status, "cancelled") == 0)
		queued = false;
	const char *outcome = queued ? (e->refund ? "interrupted" : "retry") : status;
	r = pt_attempt_row(c, x->id, x->attempt, x->worker, started, x->now_ms, outcome, e, err);
	if (r == 0)
		r = pt_metrics(c, conv, queued ? "queued" : status, e->run_ms, x->now_ms, err);
	/* The replies its end causes, once per run (an operator retry is a
	 * new run: retry_base tells them apart). */
	for (size_t i = 0; r == 0 && !queued && i < e->n_outbox; i++) {
		char origin[128];
		snprintf(origin, sizeof(origin), "task:%lld:%d:%s", (long long)x->id, retry_base,
			 e->outbox[i].name);
		r = pg_outbox_insert(c, &e->outbox[i], origin, x->id, x->now_ms, err);
	}
	if (r == 0 && queued)
		r = pg_notify(c, STORE_CHANGED_TASKS, err);
	if (r == 0 && project && x->claim_ttl_ms > 0) {
		struct pg_args b = { 0 };
		pg_arg_text(&b, project);
		pg_arg_text(&b, x->worker);
		pg_arg_i64(&b, x->now_ms + x->claim_ttl_ms);
		pg_arg_i64(&b, x->now_ms);
		pg_arg_text(&b, x->owner);
		r = pt_write(c, PT_CLAIM_RELEASE, &b, NULL, "updating a claim", err);
	}
	free(project);
	return r;
}

/* A copy of s with U+FFFD for each ill-formed UTF-8 sequence into *ret
 * (NULL for NULL). */
static int pt_utf8(const char *s, char **ret)
{
	size_t n;
	*ret = NULL;
	if (!s)
		return 0;
	*ret = utf8_sanitize(s, strlen(s), &n);
	return *ret ? 0 : HQ_E_NOMEM;
}

/* PostgreSQL's text takes well-formed UTF-8 only, where SQLite keeps any
 * bytes: an agent's output (and an error quoting it) may hold anything, and
 * its tail may start inside a character. They are stored as readers get
 * them from either backend (the API and the CLI write U+FFFD for each
 * ill-formed sequence); refused, the end could never be recorded and the
 * task would be rescued as lost. */
static int pg_task_finish(struct store *base, int64_t id, const char *owner, const char *worker,
			  int attempt, const struct store_task_end *end, int64_t now_ms,
			  int64_t claim_ttl_ms, struct store_error *err)
{
	struct store_task_end clean = *end;
	char *error = NULL, *output = NULL;
	int r;
	if ((r = pt_utf8(end->error, &error)) < 0 || (r = pt_utf8(end->output, &output)) < 0) {
		store_error_set(err, "ending a task: out of memory");
		goto out;
	}
	clean.error = error;
	clean.output = output;
	struct pt_finish x = { id, attempt, owner, worker, &clean, now_ms, claim_ttl_ms };
	r = pg_txn((struct pg_store *)base, pt_finish_in, &x, "ending a task", err);
out:
	free(error);
	free(output);
	return r;
}

static int pt_lost_by_id(const void *pa, const void *pb)
{
	return pt_id_cmp(&((const struct store_lost_row *)pa)->id, &((const struct store_lost_row *)pb)->id);
}

static int pt_lost_by_conv(const void *pa, const void *pb)
{
	return strcmp(((const struct store_lost_row *)pa)->conv, ((const struct store_lost_row *)pb)->conv);
}

static int pt_lost_by_project(const void *pa, const void *pb)
{
	const struct store_lost_row *a = pa, *b = pb;
	int d = strcmp(a->project ? a->project : "", b->project ? b->project : "");
	return d ? d : strcmp(a->worker ? a->worker : "", b->worker ? b->worker : "");
}

struct pt_reclaim {
	int64_t now_ms;
	const char *keep; /* array literal */
	struct store_lost_task *lost;
	size_t n;
};

/* The attempts, the conversations' metrics and the claims of the rescued
 * rows, each kind written in key order. */
static int pt_reclaim_after(struct pg_conn *c, struct store_lost_row *rows, size_t n,
			    int64_t now_ms, struct store_error *err)
{
	static const struct store_task_end lost = { .error = STORE_TASK_LOST };
	int r = 0;
	for (size_t i = 0; r == 0 && i < n; i++)
		r = pt_attempt_row(c, rows[i].id, rows[i].attempt, rows[i].worker, rows[i].started,
				   now_ms, "lost", &lost, err);
	qsort(rows, n, sizeof(*rows), pt_lost_by_conv);
	for (size_t i = 0; r == 0 && i < n; i++) {
		bool ended = strcmp(rows[i].status, "queued") != 0;
		r = pt_metrics(c, rows[i].conv, ended ? rows[i].status : "queued", 0, now_ms, err);
	}
	qsort(rows, n, sizeof(*rows), pt_lost_by_project);
	/* The project is free for any worker. */
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (!rows[i].project || !rows[i].worker || !rows[i].node)
			continue;
		struct pg_args a = { 0 };
		pg_arg_text(&a, rows[i].project);
		pg_arg_text(&a, rows[i].worker);
		pg_arg_text(&a, rows[i].node);
		r = pt_write(c, PT_CLAIM_DELETE, &a, NULL, "releasing a claim", err);
	}
	return r;
}

static int pt_reclaim_in(struct pg_conn *c, void *arg, struct store_error *err)
{
	struct pt_reclaim *x = arg;
	store_lost_tasks_release(x->lost, x->n); /* a second try starts over */
	x->lost = NULL;
	x->n = 0;
	struct pg_args a = { 0 };
	pg_arg_i64(&a, x->now_ms);
	pg_arg_text(&a, x->keep);
	PGresult *res = NULL;
	int r = pt_run(c, PT_RECLAIM, &a, &res, "reclaiming tasks", err);
	if (r < 0)
		return r;
	size_t n = (size_t)PQntuples(res);
	struct store_lost_row *rows = NULL;
	if (n) {
		x->lost = calloc(n, sizeof(*x->lost));
		rows = calloc(n, sizeof(*rows));
		if (!x->lost || !rows)
			r = HQ_E_NOMEM;
	}
	for (int i = 0; r == 0 && i < (int)n; i++) {
		struct store_lost_task *l = &x->lost[x->n++];
		struct store_lost_row *w = &rows[i];
		bool nomem = false;
		l->id = w->id = pg_int(res, i, 0);
		l->host = pg_dup_opt(res, i, 1, &nomem);
		l->pid = pg_int(res, i, 2);
		l->pid_start = pg_int(res, i, 3);
		pt_copy_id(l->status, sizeof(l->status), res, i, 4);
		pt_copy_id(w->status, sizeof(w->status), res, i, 4);
		pt_copy_id(w->conv, sizeof(w->conv), res, i, 5);
		l->attempt = w->attempt = (int)pg_int(res, i, 6);
		w->worker = pg_dup_opt(res, i, 7, &nomem);
		w->started = pg_int(res, i, 8);
		w->project = pg_dup_opt(res, i, 9, &nomem);
		w->node = pg_dup_opt(res, i, 11, &nomem);
		if (PQgetlength(res, i, 10) == (int)sizeof(l->token_hash)) {
			memcpy(l->token_hash, PQgetvalue(res, i, 10), sizeof(l->token_hash));
			l->has_token_hash = true;
		}
		if (nomem)
			r = HQ_E_NOMEM;
	}
	PQclear(res);
	/* The rows come back in no order: the attempts go in by task id. */
	if (r == 0 && n > 0) {
		qsort(rows, n, sizeof(*rows), pt_lost_by_id);
		r = pt_reclaim_after(c, rows, n, x->now_ms, err);
	}
	for (size_t i = 0; rows && i < n; i++) {
		free(rows[i].worker);
		free(rows[i].project);
		free(rows[i].node);
	}
	free(rows);
	return r;
}

static int pg_task_reclaim(struct store *base, int64_t now_ms, const int64_t *keep,
			   size_t n_keep, struct store_lost_task **ret, size_t *n,
			   struct store_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	/* Most calls find nothing: look before writing. */
	struct pg_args a = { 0 };
	pg_arg_i64(&a, now_ms);
	PGresult *res = NULL;
	int r = pt_query(s, PT_ANY_LOST, &a, &res, "looking for lost tasks", err);
	if (r < 0)
		return r;
	bool any = PQntuples(res) > 0;
	PQclear(res);
	if (!any) {
		*ret = NULL;
		*n = 0;
		return 0;
	}
	char *kept = pt_id_array(keep, n_keep);
	if (!kept)
		return HQ_E_NOMEM;
	struct pt_reclaim x = { now_ms, kept, NULL, 0 };
	r = pg_txn(s, pt_reclaim_in, &x, "reclaiming tasks", err);
	free(kept);
	if (r < 0) {
		store_lost_tasks_release(x.lost, x.n);
		return r;
	}
	*ret = x.lost;
	*n = x.n;
	return 0;
}

/* Says whether task id is missing (HQ_E_NOTFOUND) or in another state
 * (HQ_E_CONFLICT, naming it). */
static int pt_why_unchanged(struct pg_store *s, int64_t id, const char *wanted,
			    struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_i64(&a, id);
	PGresult *res = NULL;
	int r = pt_query(s, PT_STATUS, &a, &res, "reading a task", err);
	if (r < 0)
		return r;
	if (PQntuples(res) > 0) {
		store_error_set(err, "task %lld is %.*s, not %s", (long long)id,
				PQgetlength(res, 0, 0), PQgetvalue(res, 0, 0), wanted);
		r = HQ_E_CONFLICT;
	} else {
		store_error_set(err, "no task %lld", (long long)id);
		r = HQ_E_NOTFOUND;
	}
	PQclear(res);
	return r;
}

struct pt_cancel {
	int64_t id, now_ms;
	int changed; /* 1: cancelled while queued, 2: marked while running */
};

static int pt_cancel_in(struct pg_conn *c, void *arg, struct store_error *err)
{
	struct pt_cancel *x = arg;
	x->changed = 0;
	struct pg_args a = { 0 };
	pg_arg_i64(&a, x->id);
	pg_arg_i64(&a, x->now_ms);
	PGresult *res = NULL;
	int r = pt_run(c, PT_CANCEL_QUEUED, &a, &res, "cancelling a task", err);
	if (r < 0)
		return r;
	char conv[STORE_CONVERSATION_ID_MAX] = "";
	if (PQntuples(res) > 0) {
		pt_copy_id(conv, sizeof(conv), res, 0, 0);
		x->changed = 1;
	}
	PQclear(res);
	if (x->changed)
		return pt_metrics(c, conv, "cancelled", 0, x->now_ms, err);
	size_t changed = 0;
	r = pt_write(c, PT_CANCEL_RUNNING, &a, &changed, "cancelling a task", err);
	if (r == 0 && changed > 0) {
		x->changed = 2;
		/* The node running it looks at its cancel marks. */
		r = pg_notify(c, STORE_CHANGED_CANCELS, err);
	}
	return r;
}

static int pg_task_cancel(struct store *base, int64_t id, int64_t now_ms, bool *running,
			  struct store_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	struct pt_cancel x = { id, now_ms, 0 };
	int r = pg_txn(s, pt_cancel_in, &x, "cancelling a task", err);
	if (r < 0)
		return r;
	if (!x.changed)
		return pt_why_unchanged(s, id, "queued or running", err);
	*running = x.changed == 2;
	return 0;
}

struct pt_retry {
	int64_t id, now_ms;
	const char *only;
	bool changed;
};

static int pt_retry_in(struct pg_conn *c, void *arg, struct store_error *err)
{
	struct pt_retry *x = arg;
	x->changed = false;
	struct pg_args a = { 0 };
	pg_arg_i64(&a, x->id);
	pg_arg_text(&a, x->only);
	PGresult *res = NULL;
	int r = pt_run(c, PT_RETRY_PICK, &a, &res, "retrying a task", err);
	if (r < 0)
		return r;
	bool found = PQntuples(res) > 0;
	char status[16] = "", conv[STORE_CONVERSATION_ID_MAX] = "";
	if (found) {
		pt_copy_id(status, sizeof(status), res, 0, 0);
		pt_copy_id(conv, sizeof(conv), res, 0, 1);
	}
	PQclear(res);
	if (!found)
		return 0;
	struct pg_args b = { 0 };
	pg_arg_i64(&b, x->id);
	pg_arg_i64(&b, x->now_ms);
	if ((r = pt_write(c, PT_RETRY, &b, NULL, "retrying a task", err)) < 0)
		return r;
	struct pg_args m = { 0 };
	pg_arg_text(&m, conv);
	pg_arg_text(&m, status);
	pg_arg_i64(&m, x->now_ms);
	if ((r = pt_write(c, PT_RETRY_METRICS, &m, NULL, "updating conversation metrics", err)) <
	    0)
		return r;
	x->changed = true;
	return pg_notify(c, STORE_CHANGED_TASKS, err);
}

static int pg_task_retry(struct store *base, int64_t id, const char *only, int64_t now_ms,
			 struct store_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	struct pt_retry x = { id, now_ms, only, false };
	int r = pg_txn(s, pt_retry_in, &x, "retrying a task", err);
	if (r < 0 || x.changed)
		return r;
	return pt_why_unchanged(s, id, only ? only : "failed, timed_out, cancelled or dead_letter",
				err);
}

/* Listings and reads */

/* A listing's filters vary: it runs unprepared, with only the parameters
 * it uses. */
static int pg_task_list(struct store *base, const struct store_task_filter *f,
			struct store_task_list *ret, struct store_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	size_t limit = f->limit ? f->limit : 50;
	struct pg_args a = { 0 };
	pg_arg_i64(&a, f->before_id > 0 ? f->before_id : INT64_MAX);
	char where[512] = "";
	size_t len = 0;
	const struct {
		const char *column;
		const char *text;
		int64_t id;
	} filters[] = {
		{ "status", f->status, 0 },	{ "flow_id", f->flow_id, 0 },
		{ "agent", f->agent, 0 },	{ "worker", f->worker, 0 },
		{ "event_id", NULL, f->event_id }, { "parent_id", NULL, f->parent_id },
	};
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		if (!filters[i].text && filters[i].id <= 0)
			continue;
		len += (size_t)snprintf(where + len, sizeof(where) - len, " AND t.%s = $%d%s",
					filters[i].column, a.n + 1,
					filters[i].text ? "" : "::bigint");
		if (filters[i].text)
			pg_arg_text(&a, filters[i].text);
		else
			pg_arg_i64(&a, filters[i].id);
	}
	pg_arg_i64(&a, limit >= INT64_MAX ? INT64_MAX : (int64_t)limit + 1);
	char sql[2048];
	int n = snprintf(sql, sizeof(sql),
			 "SELECT " STORE_TASK_ROW_COLUMNS PT_FROM " WHERE t.id < $1::bigint%s"
			 " ORDER BY t.id DESC LIMIT $%d::bigint",
			 where, a.n);
	if (n < 0 || (size_t)n >= sizeof(sql))
		return HQ_E_TOOBIG;
	struct pg_conn *c;
	int r = pg_acquire(s, &c, err);
	if (r < 0)
		return r;
	PGresult *res = PQexecParams(c->conn, sql, a.n, NULL, a.values, a.lengths, a.formats, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		r = pg_fail(c->conn, res, "listing tasks", err);
	else
		r = pt_list_rows(res, limit, ret);
	PQclear(res);
	pg_release(s, c);
	return r;
}

static int pt_attempts(struct pg_conn *c, struct store_task_detail *d, struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_i64(&a, d->task.id);
	PGresult *res = NULL;
	int r = pt_run(c, PT_ATTEMPTS, &a, &res, "reading task attempts", err);
	if (r < 0)
		return r;
	size_t n = (size_t)PQntuples(res);
	if (n && !(d->attempts = calloc(n, sizeof(*d->attempts))))
		r = HQ_E_NOMEM;
	for (int i = 0; r == 0 && i < (int)n; i++) {
		struct store_task_attempt *at = &d->attempts[d->n_attempts++];
		bool nomem = false;
		at->attempt = (int)pg_int(res, i, 0);
		at->worker = pg_dup_opt(res, i, 1, &nomem);
		at->started_at_ms = pg_int(res, i, 2);
		at->finished_at_ms = pg_int(res, i, 3);
		at->outcome = pg_dup(res, i, 4, NULL);
		at->has_exit_code = !PQgetisnull(res, i, 5);
		at->exit_code = (int)pg_int(res, i, 5);
		at->error = pg_dup_opt(res, i, 6, &nomem);
		if (nomem || !at->outcome)
			r = HQ_E_NOMEM;
	}
	PQclear(res);
	return r;
}

struct pt_get {
	int64_t id;
	struct store_task_detail d;
};

static int pt_get_in(struct pg_conn *c, void *arg, struct store_error *err)
{
	struct pt_get *x = arg;
	int r = pt_read_task(c, x->id, true, &x->d.task, err);
	return r < 0 ? r : pt_attempts(c, &x->d, err);
}

static int pg_task_get(struct store *base, int64_t id, struct store_task_detail *ret,
		       struct store_error *err)
{
	struct pt_get x;
	memset(&x, 0, sizeof(x));
	x.id = id;
	int r = pt_read_txn((struct pg_store *)base, pt_get_in, &x, "reading a task", err);
	if (r < 0) {
		store_task_detail_release(&x.d);
		return r;
	}
	*ret = x.d;
	return 0;
}

static int pg_task_by_token(struct store *base, const unsigned char *token_hash, int64_t *id,
			    struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_bytes(&a, token_hash, CRYPTO_SHA256_LEN);
	PGresult *res = NULL;
	int r = pt_query((struct pg_store *)base, PT_BY_TOKEN, &a, &res,
			 "looking up a task token", err);
	if (r < 0)
		return r;
	if (PQntuples(res) > 0) {
		*id = pg_int(res, 0, 0);
	} else {
		store_error_set(err, "no running task has this token");
		r = HQ_E_NOTFOUND;
	}
	PQclear(res);
	return r;
}

struct pt_flow {
	const char *id;
	size_t max_tasks;
	struct store_flow f;
};

static int pt_flow_conversations(struct pg_conn *c, struct store_flow *f,
				 struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_text(&a, f->id);
	PGresult *res = NULL;
	int r = pt_run(c, PT_FLOW_CONVERSATIONS, &a, &res, "reading conversations", err);
	if (r < 0)
		return r;
	size_t n = (size_t)PQntuples(res);
	if (n && !(f->conversations = calloc(n, sizeof(*f->conversations))))
		r = HQ_E_NOMEM;
	for (int i = 0; r == 0 && i < (int)n; i++) {
		struct store_conversation *cv = &f->conversations[f->n_conversations++];
		pt_copy_id(cv->id, sizeof(cv->id), res, i, 0);
		cv->created_at_ms = pg_int(res, i, 1);
		cv->updated_at_ms = pg_int(res, i, 2);
		cv->tasks = pg_int(res, i, 3);
		cv->succeeded = pg_int(res, i, 4);
		cv->failed = pg_int(res, i, 5);
		cv->cancelled = pg_int(res, i, 6);
		cv->run_ms = pg_int(res, i, 7);
	}
	PQclear(res);
	return r;
}

static int pt_flow_in(struct pg_conn *c, void *arg, struct store_error *err)
{
	struct pt_flow *x = arg;
	struct store_flow *f = &x->f;
	struct pg_args a = { 0 };
	pg_arg_text(&a, x->id);
	PGresult *res = NULL;
	int r = pt_run(c, PT_GET_FLOW, &a, &res, "reading the flow", err);
	if (r < 0)
		return r;
	if (PQntuples(res) == 0) {
		store_error_set(err, "no flow '%.64s'", x->id);
		r = HQ_E_NOTFOUND;
	} else {
		pt_copy_id(f->id, sizeof(f->id), res, 0, 0);
		f->external_id = pg_dup(res, 0, 1, NULL);
		pt_copy_id(f->current_conversation, sizeof(f->current_conversation), res, 0, 2);
		f->created_at_ms = pg_int(res, 0, 3);
		f->updated_at_ms = pg_int(res, 0, 4);
		r = f->external_id ? 0 : HQ_E_NOMEM;
	}
	PQclear(res);
	if (r == 0)
		r = pt_flow_conversations(c, f, err);
	if (r < 0)
		return r;
	struct pg_args b = { 0 };
	pg_arg_text(&b, f->id);
	pg_arg_i64(&b, x->max_tasks >= INT64_MAX ? INT64_MAX : (int64_t)x->max_tasks + 1);
	if ((r = pt_run(c, PT_FLOW_TASKS, &b, &res, "reading the flow's tasks", err)) < 0)
		return r;
	struct store_task_list l;
	r = pt_list_rows(res, x->max_tasks, &l);
	PQclear(res);
	if (r == 0) {
		f->tasks = l.rows;
		f->n_tasks = l.n;
		f->more_tasks = l.more;
	}
	return r;
}

static int pg_task_get_flow(struct store *base, const char *flow_id, size_t max_tasks,
			    struct store_flow *ret, struct store_error *err)
{
	struct pt_flow x;
	memset(&x, 0, sizeof(x));
	x.id = flow_id;
	x.max_tasks = max_tasks;
	int r = pt_read_txn((struct pg_store *)base, pt_flow_in, &x, "reading the flow", err);
	if (r < 0) {
		store_flow_release(&x.f);
		return r;
	}
	*ret = x.f;
	return 0;
}

/* The counter row each change bumps stays locked until its transaction
 * commits, so numbers are handed out in commit order: reading by
 * change_seq never skips a change that commits late. */
static int pg_task_changed(struct store *base, int64_t after_seq, size_t limit,
			   struct store_task_list *ret, struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_i64(&a, after_seq);
	pg_arg_i64(&a, limit >= INT64_MAX ? INT64_MAX : (int64_t)limit + 1);
	PGresult *res = NULL;
	int r = pt_query((struct pg_store *)base, PT_CHANGED, &a, &res, "reading changed tasks",
			 err);
	if (r == 0)
		r = pt_list_rows(res, limit, ret);
	PQclear(res);
	return r;
}

static int pg_task_list_claims(struct store *base, int64_t now_ms, struct store_claim_row **ret,
			       size_t *n_ret, struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_i64(&a, now_ms);
	PGresult *res = NULL;
	int r = pt_query((struct pg_store *)base, PT_CLAIMS, &a, &res, "listing claims", err);
	if (r < 0)
		return r;
	size_t n = (size_t)PQntuples(res), count = 0;
	struct store_claim_row *rows = NULL;
	if (n && !(rows = calloc(n, sizeof(*rows))))
		r = HQ_E_NOMEM;
	for (int i = 0; r == 0 && i < (int)n; i++) {
		struct store_claim_row *cl = &rows[count++];
		cl->project = pg_dup(res, i, 0, NULL);
		cl->worker = pg_dup(res, i, 1, NULL);
		cl->node = pg_dup(res, i, 2, NULL);
		cl->expires_at_ms = pg_int(res, i, 3);
		cl->last_activity_ms = pg_int(res, i, 4);
		cl->tasks = pg_int(res, i, 5);
		if (!cl->project || !cl->worker || !cl->node)
			r = HQ_E_NOMEM;
	}
	PQclear(res);
	if (r < 0) {
		store_claims_release(rows, count);
		return r;
	}
	*ret = rows;
	*n_ret = count;
	return 0;
}

static int pg_task_count(struct store *base, struct store_task_counts *ret,
			 struct store_error *err)
{
	PGresult *res = NULL;
	int r = pt_query((struct pg_store *)base, PT_COUNT, NULL, &res, "counting tasks", err);
	if (r < 0)
		return r;
	struct store_task_counts c;
	memset(&c, 0, sizeof(c));
	for (int i = 0; r == 0 && i < PQntuples(res); i++) {
		char *status = pg_dup(res, i, 0, NULL);
		if (!status) {
			r = HQ_E_NOMEM;
			break;
		}
		store_task_counts_set(&c, status, pg_int(res, i, 1));
		free(status);
	}
	PQclear(res);
	if (r == 0)
		*ret = c;
	return r;
}

static int pg_task_next_due(struct store *base, int64_t *ret, struct store_error *err)
{
	PGresult *res = NULL;
	int r = pt_query((struct pg_store *)base, PT_NEXT_DUE, NULL, &res,
			 "reading the next task due", err);
	if (r == 0)
		*ret = PQntuples(res) > 0 ? pg_int(res, 0, 0) : INT64_MAX;
	PQclear(res);
	return r;
}

const struct store_task_ops pg_task_ops = {
	.create_tasks = pg_task_create,
	.candidates = pg_task_candidates,
	.start = pg_task_start,
	.set_pid = pg_task_set_pid,
	.heartbeat = pg_task_heartbeat,
	.finish = pg_task_finish,
	.reclaim = pg_task_reclaim,
	.cancel = pg_task_cancel,
	.retry = pg_task_retry,
	.list = pg_task_list,
	.get = pg_task_get,
	.by_token = pg_task_by_token,
	.get_flow = pg_task_get_flow,
	.changed = pg_task_changed,
	.list_claims = pg_task_list_claims,
	.count = pg_task_count,
	.next_due = pg_task_next_due,
};
