/* PostgreSQL backend, outbox (the SQLite side is sqlite_outbox.c): replies
 * written with the change that causes them, claimed by senders under a
 * lease, finished as sent, retried or dead, with SQLite's semantics. Several
 * nodes share the table: claims, reclaims and purges take rows with FOR
 * UPDATE SKIP LOCKED, so no two nodes take the same reply and none waits for
 * another's batch; a finish counts only from the lease's owner. */
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "store/postgres.h"
#include "util/error.h"

/* Statement ids: PG_STMT_OUTBOX_BASE and up (see postgres.h). */
enum pg_outbox_stmt {
	PO_INSERT = PG_STMT_OUTBOX_BASE,
	PO_CLAIM,
	PO_FINISH,
	PO_RECLAIM,
	/* The four shapes of a list: by nothing, status, task, both. */
	PO_LIST,
	PO_LIST_STATUS,
	PO_LIST_TASK,
	PO_LIST_BOTH,
	PO_RETRY,
	PO_EXISTS,
	PO_COUNT,
	PO_NEXT_DUE,
	PO_PURGE,
	PO_STMT_END
};

_Static_assert(PO_STMT_END <= PG_STMT_MAX, "outbox statement ids overflow");

/* Newest first, keyset-paged on id. */
#define PO_LIST_SQL(where, limit)                                                             \
	"SELECT " STORE_OUTBOX_ITEM_COLUMNS " FROM outbox WHERE id < $1::bigint" where         \
	" ORDER BY id DESC LIMIT " limit "::bigint"

static const char *const po_sql[PO_STMT_END - PG_STMT_OUTBOX_BASE] = {
#define S(id) [(id) - PG_STMT_OUTBOX_BASE]
	/* The CTE locks the due rows once and skips the ones another node is
	 * claiming: two nodes claiming together never get the same reply. */
	S(PO_CLAIM) = "WITH due AS (SELECT id FROM outbox"
		      "  WHERE status = 'pending' AND next_attempt_at <= $2::bigint"
		      "  ORDER BY next_attempt_at, id LIMIT $4::bigint FOR UPDATE SKIP LOCKED),"
		      " claimed AS (UPDATE outbox SET status = 'sending', attempts = attempts + 1,"
		      "  lease_owner = $1, lease_expires_at = $2::bigint + $3::bigint,"
		      "  updated_at = $2::bigint WHERE id IN (SELECT id FROM due)"
		      "  RETURNING " STORE_OUTBOX_ITEM_COLUMNS ")"
		      " SELECT * FROM claimed ORDER BY next_attempt_at, id",
	/* Only the lease's owner, and only while it holds the lease: a
	 * reclaim or another node's claim since then wins. */
	S(PO_FINISH) =
		"UPDATE outbox SET status = CASE $3 WHEN 'sent' THEN 'sent' WHEN 'dead' THEN 'dead'"
		"  ELSE CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END END,"
		" next_attempt_at = CASE WHEN $3 = 'retry' THEN $4::bigint ELSE next_attempt_at END,"
		" uncertain = CASE WHEN $3 = 'sent' THEN false ELSE uncertain OR $5::boolean END,"
		" last_error = CASE WHEN $3 = 'sent' THEN last_error ELSE $6 END,"
		" result = coalesce($7, result),"
		" sent_at = CASE WHEN $3 = 'sent' THEN $8::bigint END,"
		" lease_owner = NULL, lease_expires_at = NULL, updated_at = $8::bigint"
		" WHERE id = $1::bigint AND status = 'sending' AND lease_owner = $2",
	/* Several nodes may reclaim at once: each takes the rows no other is
	 * on, so each reply comes back once. */
	S(PO_RECLAIM) = "WITH expired AS (SELECT id FROM outbox"
			"  WHERE status = 'sending' AND lease_expires_at <= $1::bigint"
			"  FOR UPDATE SKIP LOCKED)"
			" UPDATE outbox SET status = CASE WHEN attempts >= max_attempts THEN 'dead'"
			"  ELSE 'pending' END, uncertain = true, next_attempt_at = $1::bigint,"
			" updated_at = $1::bigint,"
			" last_error = '" STORE_OUTBOX_LEASE_EXPIRED "',"
			" lease_owner = NULL, lease_expires_at = NULL"
			" WHERE id IN (SELECT id FROM expired)",
	S(PO_LIST) = PO_LIST_SQL("", "$2"),
	S(PO_LIST_STATUS) = PO_LIST_SQL(" AND status = $2", "$3"),
	S(PO_LIST_TASK) = PO_LIST_SQL(" AND task_id = $2::bigint", "$3"),
	S(PO_LIST_BOTH) = PO_LIST_SQL(" AND status = $2 AND task_id = $3::bigint", "$4"),
	/* Its full attempts again (not more each time). */
	S(PO_RETRY) = "UPDATE outbox SET status = 'pending', next_attempt_at = $2::bigint,"
		      " attempts = 0, updated_at = $2::bigint"
		      " WHERE id = $1::bigint AND status = 'dead'",
	S(PO_EXISTS) = "SELECT id FROM outbox WHERE id = $1::bigint",
	S(PO_COUNT) = "SELECT status, count(*) FROM outbox GROUP BY status",
	S(PO_NEXT_DUE) = "SELECT next_attempt_at FROM outbox WHERE status = 'pending'"
			 " ORDER BY next_attempt_at LIMIT 1",
	/* Several nodes may purge at once: each deletes rows no other is on. */
	S(PO_PURGE) = "WITH doomed AS (SELECT id FROM outbox WHERE status IN ('sent', 'dead')"
		      "  AND updated_at < $1::bigint LIMIT $2::bigint FOR UPDATE SKIP LOCKED)"
		      " DELETE FROM outbox o USING doomed WHERE o.id = doomed.id",
#undef S
};

static const char *po_text(enum pg_outbox_stmt id)
{
	return po_sql[id - PG_STMT_OUTBOX_BASE];
}

static int po_query(struct pg_store *s, enum pg_outbox_stmt id, const struct pg_args *a,
		    PGresult **ret, const char *what, struct store_error *err)
{
	return pg_query_sql(s, (int)id, po_text(id), a, ret, what, err);
}

static int po_write(struct pg_store *s, enum pg_outbox_stmt id, const struct pg_args *a,
		    const char *what, size_t *changed, struct store_error *err)
{
	return pg_write_sql(s, (int)id, po_text(id), a, what, changed, err);
}

static int64_t po_limit(size_t n)
{
	return n > INT64_MAX ? INT64_MAX : (int64_t)n;
}

int pg_outbox_insert(struct pg_conn *c, const struct store_outbox_in *in, const char *origin,
		     int64_t task_id, int64_t now_ms, struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_text(&a, origin);
	pg_arg_text(&a, in->kind);
	if (task_id > 0)
		pg_arg_i64(&a, task_id);
	else
		pg_arg_text(&a, NULL);
	pg_arg_text(&a, in->target_json);
	pg_arg_text(&a, in->body_json);
	pg_arg_i64(&a, in->max_attempts > 0 ? in->max_attempts : 10);
	pg_arg_i64(&a, now_ms);
	int r = pg_notify(c, STORE_CHANGED_OUTBOX, err);
	if (r < 0)
		return r;
	return pg_run_sql(c, PO_INSERT,
			  "INSERT INTO outbox (origin, kind, task_id, target, body, max_attempts,"
			  " next_attempt_at, created_at, updated_at)"
			  " VALUES ($1, $2, $3::bigint, $4, $5, $6::integer,"
			  "  $7::bigint, $7::bigint, $7::bigint)"
			  " ON CONFLICT (origin) DO NOTHING",
			  &a, NULL, "writing a reply", err);
}

/* Reads the STORE_OUTBOX_ITEM_COLUMNS of row i. */
static int pg_outbox_row(const PGresult *res, int i, struct store_outbox_item *it)
{
	memset(it, 0, sizeof(*it));
	bool nomem = false;
	it->id = pg_int(res, i, 0);
	it->task_id = pg_int(res, i, 1);
	it->origin = pg_dup(res, i, 2, NULL);
	it->kind = pg_dup(res, i, 3, NULL);
	it->target_json = pg_dup(res, i, 4, NULL);
	it->body_json = pg_dup(res, i, 5, NULL);
	it->status = pg_dup(res, i, 6, NULL);
	it->last_error = pg_dup_opt(res, i, 7, &nomem);
	it->result = pg_dup_opt(res, i, 8, &nomem);
	it->attempts = (int)pg_int(res, i, 9);
	it->max_attempts = (int)pg_int(res, i, 10);
	it->uncertain = pg_int(res, i, 11) != 0;
	it->next_attempt_at_ms = pg_int(res, i, 12);
	it->lease_expires_at_ms = pg_int(res, i, 13);
	it->created_at_ms = pg_int(res, i, 14);
	it->updated_at_ms = pg_int(res, i, 15);
	it->sent_at_ms = pg_int(res, i, 16);
	if (nomem || !it->origin || !it->kind || !it->target_json || !it->body_json ||
	    !it->status)
		return HQ_E_NOMEM;
	return 0;
}

/* Copies up to limit rows of res into *ret (*n of them); clears res. */
static int pg_outbox_rows(PGresult *res, size_t limit, struct store_outbox_item **ret,
			  size_t *n)
{
	size_t rows = (size_t)PQntuples(res), count = 0;
	if (rows > limit)
		rows = limit;
	struct store_outbox_item *items = NULL;
	int r = 0;
	if (rows && !(items = calloc(rows, sizeof(*items))))
		r = HQ_E_NOMEM;
	for (size_t i = 0; r == 0 && i < rows; i++) {
		r = pg_outbox_row(res, (int)i, &items[i]);
		count++;
	}
	PQclear(res);
	if (r < 0) {
		store_outbox_items_release(items, count);
		return r;
	}
	*ret = items;
	*n = count;
	return 0;
}

static int pg_outbox_claim(struct store *base, const char *owner, int64_t now_ms,
			   int64_t lease_ms, size_t max, struct store_outbox_item **ret, size_t *n,
			   struct store_error *err)
{
	*ret = NULL;
	*n = 0;
	if (max == 0)
		return 0;
	struct pg_args a = { 0 };
	pg_arg_text(&a, owner);
	pg_arg_i64(&a, now_ms);
	pg_arg_i64(&a, lease_ms);
	pg_arg_i64(&a, po_limit(max));
	PGresult *res = NULL;
	int r = po_query((struct pg_store *)base, PO_CLAIM, &a, &res, "claiming replies", err);
	if (r < 0)
		return r;
	/* A failed copy leaves the rows leased: they are reclaimed when the
	 * lease expires, so nothing is lost. */
	return pg_outbox_rows(res, max, ret, n);
}

static int pg_outbox_finish(struct store *base, int64_t id, const char *owner,
			    const struct store_outbox_end *e, int64_t now_ms,
			    struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_i64(&a, id);
	pg_arg_text(&a, owner);
	pg_arg_text(&a, store_outbox_outcome_names[e->outcome]);
	pg_arg_i64(&a, e->next_attempt_at_ms);
	pg_arg_text(&a, e->uncertain ? "true" : "false");
	pg_arg_text(&a, e->error);
	pg_arg_text(&a, e->result);
	pg_arg_i64(&a, now_ms);
	size_t changed;
	int r = po_write((struct pg_store *)base, PO_FINISH, &a, "recording a reply", &changed,
			 err);
	if (r == 0 && changed == 0)
		return store_outbox_not_owner(id, err);
	return r;
}

static int pg_outbox_reclaim(struct store *base, int64_t now_ms, size_t *n,
			     struct store_error *err)
{
	*n = 0;
	struct pg_args a = { 0 };
	pg_arg_i64(&a, now_ms);
	return po_write((struct pg_store *)base, PO_RECLAIM, &a, "reclaiming replies", n, err);
}

static int pg_outbox_list(struct store *base, const struct store_outbox_filter *f,
			  struct store_outbox_list *ret, struct store_error *err)
{
	size_t limit = f->limit ? f->limit : 50;
	struct pg_args a = { 0 };
	pg_arg_i64(&a, f->before_id > 0 ? f->before_id : INT64_MAX);
	if (f->status)
		pg_arg_text(&a, f->status);
	if (f->task_id > 0)
		pg_arg_i64(&a, f->task_id);
	pg_arg_i64(&a, limit >= INT64_MAX ? INT64_MAX : (int64_t)limit + 1);
	enum pg_outbox_stmt id = PO_LIST + (f->status ? 1 : 0) + (f->task_id > 0 ? 2 : 0);
	memset(ret, 0, sizeof(*ret));
	PGresult *res = NULL;
	int r = po_query((struct pg_store *)base, id, &a, &res, "listing replies", err);
	if (r < 0)
		return r;
	bool more = (size_t)PQntuples(res) > limit;
	if ((r = pg_outbox_rows(res, limit, &ret->items, &ret->n)) == 0)
		ret->more = more;
	return r;
}

static int pg_outbox_retry(struct store *base, int64_t id, int64_t now_ms,
			   struct store_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	struct pg_args a = { 0 };
	pg_arg_i64(&a, id);
	pg_arg_i64(&a, now_ms);
	size_t changed;
	int r = po_write(s, PO_RETRY, &a, "retrying a reply", &changed, err);
	if (r < 0 || changed)
		return r;
	/* Nothing changed: say whether it is missing or not dead. */
	struct pg_args b = { 0 };
	pg_arg_i64(&b, id);
	int64_t exists = INT64_MAX;
	r = pg_read_one_sql(s, PO_EXISTS, po_text(PO_EXISTS), &b,
			    "looking up a reply", &exists, err);
	if (r < 0)
		return r;
	return store_outbox_retry_refused(id, exists != INT64_MAX, err);
}

static int pg_outbox_count(struct store *base, struct store_outbox_counts *ret,
			   struct store_error *err)
{
	PGresult *res = NULL;
	int r = po_query((struct pg_store *)base, PO_COUNT, NULL, &res, "counting replies", err);
	if (r < 0)
		return r;
	struct store_outbox_counts c;
	memset(&c, 0, sizeof(c));
	for (int i = 0; r == 0 && i < PQntuples(res); i++) {
		char *status = pg_dup(res, i, 0, NULL);
		if (!status)
			r = HQ_E_NOMEM;
		store_outbox_counts_add(&c, status, pg_int(res, i, 1));
		free(status);
	}
	PQclear(res);
	if (r == 0)
		*ret = c;
	return r;
}

static int pg_outbox_next_due(struct store *base, int64_t *ret, struct store_error *err)
{
	return pg_read_one_sql((struct pg_store *)base, PO_NEXT_DUE,
			       po_text(PO_NEXT_DUE), NULL,
			       "reading the next reply due", ret, err);
}

static int pg_outbox_purge(struct store *base, int64_t before_ms, size_t limit, size_t *purged,
			   struct store_error *err)
{
	*purged = 0;
	struct pg_args a = { 0 };
	pg_arg_i64(&a, before_ms);
	pg_arg_i64(&a, po_limit(limit));
	return po_write((struct pg_store *)base, PO_PURGE, &a, "purging replies", purged, err);
}

struct pg_outbox_batch {
	int64_t task_id;
	int run;
	const struct store_outbox_in *in;
	size_t n;
	int64_t now_ms;
};

/* Safe to run twice (pg_txn's retry): a reply already there is kept. */
static int pg_outbox_write_txn(struct pg_conn *c, void *arg, struct store_error *err)
{
	const struct pg_outbox_batch *b = arg;
	int r = 0;
	for (size_t i = 0; r == 0 && i < b->n; i++) {
		char origin[128];
		r = store_outbox_task_origin(origin, sizeof(origin), b->task_id, b->run,
					     b->in[i].name, err);
		if (r == 0)
			r = pg_outbox_insert(c, &b->in[i], origin, b->task_id, b->now_ms, err);
	}
	return r;
}

static int pg_outbox_write(struct store *base, int64_t task_id, int run,
			   const struct store_outbox_in *in, size_t n, int64_t now_ms,
			   struct store_error *err)
{
	struct pg_outbox_batch b = { task_id, run, in, n, now_ms };
	return pg_txn((struct pg_store *)base, pg_outbox_write_txn, &b, "writing replies", err);
}

const struct store_outbox_ops pg_outbox_ops = {
	.claim = pg_outbox_claim,
	.finish = pg_outbox_finish,
	.reclaim = pg_outbox_reclaim,
	.list = pg_outbox_list,
	.retry = pg_outbox_retry,
	.count = pg_outbox_count,
	.next_due = pg_outbox_next_due,
	.purge = pg_outbox_purge,
	.write = pg_outbox_write,
};
