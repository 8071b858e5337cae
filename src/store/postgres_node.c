/* PostgreSQL backend, nodes: heartbeats and the rescue of a dead node's
 * work by the others. Several nodes rescue at once without doing a node
 * twice: each locks the dead node's row (SKIP LOCKED) and ends it in the
 * transaction that expires its leases. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/postgres.h"
#include "util/error.h"

enum pg_node_stmt {
	PN_BEAT_FIND = PG_STMT_NODE_BASE,
	PN_BEAT,
	PN_STOP,
	PN_DEAD,
	PN_RESCUE_EVENTS,
	PN_RESCUE_TASKS,
	PN_RESCUE_OUTBOX,
	PN_RESCUE_CLAIMS,
	PN_RESCUE_END,
	PN_FORGET,
	PN_LIST,
	PN_NOTIFY,
	PN_END
};

_Static_assert(PN_END <= PG_STMT_NODE_BASE + 12, "node statement ids overlap");

struct beat {
	const struct store_node *n;
	int64_t now_ms;
	bool *was_rescued;
};

static int beat_txn(struct pg_conn *c, void *arg, struct store_error *err)
{
	struct beat *b = arg;
	struct pg_args a = { 0 };
	pg_arg_text(&a, b->n->id);
	PGresult *res = NULL;
	/* Locked: a rescue of this node in progress is waited for and seen
	 * (else the upsert would wipe its mark unseen). */
	int r = pg_run_sql(c, PN_BEAT_FIND, "SELECT ended_by FROM nodes WHERE id = $1 FOR UPDATE",
			   &a, &res, "reading this node", err);
	if (r < 0)
		return r;
	*b->was_rescued = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
			  strcmp(PQgetvalue(res, 0, 0), b->n->id) != 0;
	PQclear(res);
	pg_arg_text(&a, b->n->host);
	pg_arg_text(&a, b->n->version);
	pg_arg_i64(&a, b->n->pid);
	pg_arg_i64(&a, b->now_ms);
	return pg_run_sql(c, PN_BEAT,
			  "INSERT INTO nodes (id, host, version, pid, started_at, heartbeat_at)"
			  " VALUES ($1, $2, $3, $4::bigint, $5::bigint, $5::bigint)"
			  " ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,"
			  " ended_at = NULL, ended_by = NULL",
			  &a, NULL, "recording this node's heartbeat", err);
}

static int pg_node_beat(struct store *base, const struct store_node *n, int64_t now_ms,
			bool *was_rescued, struct store_error *err)
{
	struct beat b = { n, now_ms, was_rescued };
	return pg_txn((struct pg_store *)base, beat_txn, &b, "recording this node's heartbeat",
		      err);
}

static int pg_node_stop(struct store *base, const char *id, int64_t now_ms,
			struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_text(&a, id);
	pg_arg_i64(&a, now_ms);
	return pg_query_sql((struct pg_store *)base, PN_STOP,
			    "UPDATE nodes SET ended_at = $2::bigint, ended_by = $1 WHERE id = $1", &a,
			    NULL, "recording this node's stop", err);
}

/* The statements of one node's rescue: $1 the dead node, $2 now, $3
 * `by`; each takes the first nargs. */
static const struct {
	const char *sql;
	int nargs;
} rescue_sql[] = {
	{ "UPDATE events SET lease_expires_at = $2::bigint WHERE status = 'processing'"
	  " AND lease_expires_at > $2::bigint AND " STORE_RESCUE_OWNED("$1::text"),
	  2 },
	/* Tasks are locked by id, as everywhere else: a heartbeat of the
	 * node being rescued cannot deadlock with it. */
	{ "WITH mine AS (SELECT id FROM tasks WHERE status = 'running' AND lease_owner = $1"
	  "  AND lease_expires_at > $2::bigint ORDER BY id FOR UPDATE)"
	  " UPDATE tasks t SET lease_expires_at = $2::bigint FROM mine WHERE t.id = mine.id",
	  2 },
	{ "UPDATE outbox SET lease_expires_at = $2::bigint WHERE status = 'sending'"
	  " AND lease_expires_at > $2::bigint AND " STORE_RESCUE_OWNED("$1::text"),
	  2 },
	{ "DELETE FROM claims WHERE node = $1", 1 },
	{ "UPDATE nodes SET ended_at = $2::bigint, ended_by = $3 WHERE id = $1", 3 },
};

struct rescue {
	const char *by;
	int64_t now_ms, timeout_ms;
	char **dead;
	size_t n_dead;
};

static int rescue_txn(struct pg_conn *c, void *arg, struct store_error *err)
{
	struct rescue *x = arg;
	store_strings_release(x->dead, x->n_dead);
	x->dead = NULL;
	x->n_dead = 0;
	struct pg_args a = { 0 };
	pg_arg_i64(&a, x->now_ms - x->timeout_ms);
	pg_arg_text(&a, x->by);
	PGresult *res = NULL;
	/* Locked until the commit: a node rescuing at the same time skips
	 * these and finds them ended once it looks again. */
	int r = pg_run_sql(c, PN_DEAD,
			   "SELECT id FROM nodes WHERE ended_at IS NULL AND heartbeat_at < $1::bigint"
			   " AND id <> $2 ORDER BY id FOR UPDATE SKIP LOCKED",
			   &a, &res, "finding dead nodes", err);
	if (r < 0)
		return r;
	int rows = PQntuples(res);
	x->dead = rows ? calloc((size_t)rows, sizeof(*x->dead)) : NULL;
	if (rows && !x->dead)
		r = HQ_E_NOMEM;
	for (int i = 0; r == 0 && i < rows; i++) {
		if (!(x->dead[i] = pg_dup(res, i, 0, NULL)))
			r = HQ_E_NOMEM;
		else
			x->n_dead++;
	}
	PQclear(res);
	for (size_t i = 0; r == 0 && i < x->n_dead; i++) {
		struct pg_args b = { 0 };
		pg_arg_text(&b, x->dead[i]);
		pg_arg_i64(&b, x->now_ms);
		pg_arg_text(&b, x->by);
		for (size_t j = 0; r == 0 && j < sizeof(rescue_sql) / sizeof(*rescue_sql); j++) {
			b.n = rescue_sql[j].nargs;
			r = pg_run_sql(c, PN_RESCUE_EVENTS + (int)j, rescue_sql[j].sql, &b, NULL,
				       "rescuing a dead node's work", err);
		}
	}
	if (r == 0) {
		struct pg_args f = { 0 };
		pg_arg_i64(&f, x->now_ms - STORE_NODE_RETENTION_MS);
		r = pg_run_sql(c, PN_FORGET, "DELETE FROM nodes WHERE ended_at < $1::bigint", &f,
			       NULL, "forgetting old nodes", err);
	}
	return r;
}

static int pg_nodes_rescue(struct store *base, const char *by, int64_t now_ms,
			   int64_t timeout_ms, char ***ids, size_t *n, struct store_error *err)
{
	struct rescue x = { by, now_ms, timeout_ms, NULL, 0 };
	int r = pg_txn((struct pg_store *)base, rescue_txn, &x, "rescuing dead nodes", err);
	if (r < 0 || !ids) {
		store_strings_release(x.dead, x.n_dead);
		*n = r < 0 ? 0 : x.n_dead;
		return r;
	}
	*ids = x.dead;
	*n = x.n_dead;
	return 0;
}

static int pg_nodes_list(struct store *base, struct store_node **ret, size_t *n,
			 struct store_error *err)
{
	PGresult *res = NULL;
	int r = pg_query_sql((struct pg_store *)base, PN_LIST,
			     "SELECT " STORE_NODE_COLUMNS " FROM nodes ORDER BY started_at, id", NULL,
			     &res, "listing nodes", err);
	if (r < 0)
		return r;
	int rows = PQntuples(res);
	struct store_node *v = rows ? calloc((size_t)rows, sizeof(*v)) : NULL;
	if (rows && !v)
		r = HQ_E_NOMEM;
	for (int i = 0; r == 0 && i < rows; i++) {
		struct store_node *x = &v[i];
		bool nomem = false;
		x->id = pg_dup(res, i, 0, NULL);
		x->host = pg_dup(res, i, 1, NULL);
		x->version = pg_dup(res, i, 2, NULL);
		x->pid = pg_int(res, i, 3);
		x->started_at_ms = pg_int(res, i, 4);
		x->heartbeat_at_ms = pg_int(res, i, 5);
		x->ended_at_ms = pg_int(res, i, 6);
		x->ended_by = pg_dup_opt(res, i, 7, &nomem);
		if (nomem || !x->id || !x->host || !x->version)
			r = HQ_E_NOMEM;
	}
	PQclear(res);
	if (r < 0) {
		store_nodes_release(v, (size_t)rows);
		return r;
	}
	*ret = v;
	*n = (size_t)rows;
	return 0;
}


/* Wake-ups between nodes: one channel, the store_change bits as the
 * payload (PostgreSQL folds identical notifications of a transaction
 * into one, delivered at its commit, never for a rollback). */

int pg_notify(struct pg_conn *c, unsigned what, struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_i64(&a, what);
	return pg_run_sql(c, PN_NOTIFY, "SELECT pg_notify('" PG_CHANNEL "', $1)", &a, NULL,
			  "waking the other nodes", err);
}

/* Waits up to ms for the stop pipe; true when it says stop. */
static bool listen_wait(struct pg_store *s, int ms)
{
	struct pollfd p = { s->listen_pipe[0], POLLIN, 0 };
	return poll(&p, 1, ms) > 0;
}

static PGconn *listen_connect(struct pg_store *s)
{
	struct pg_conn c = { 0 };
	struct store_error err;
	if (pg_connect(s, &c, &err) < 0)
		return NULL;
	PGresult *res = PQexec(c.conn, "LISTEN " PG_CHANNEL);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok) {
		PQfinish(c.conn);
		return NULL;
	}
	return c.conn;
}

static void *listen_main(void *arg)
{
	struct pg_store *s = arg;
	pthread_setname_np(pthread_self(), "hq-pg-listen");
	PGconn *conn = NULL;
	int backoff_ms = 100;
	for (;;) {
		if (!conn) {
			if (!(conn = listen_connect(s))) {
				/* The pool's users see the outage; polling goes on. */
				if (listen_wait(s, backoff_ms))
					break;
				backoff_ms = backoff_ms < 2500 ? backoff_ms * 2 : 5000;
				continue;
			}
			backoff_ms = 100;
			/* What was committed while no one listened. */
			s->listen_fn(s->listen_ctx, STORE_CHANGED_EVENTS | STORE_CHANGED_TASKS |
							    STORE_CHANGED_OUTBOX | STORE_CHANGED_CANCELS);
		}
		struct pollfd p[2] = { { s->listen_pipe[0], POLLIN, 0 },
				       { PQsocket(conn), POLLIN, 0 } };
		if (poll(p, 2, -1) < 0) {
			if (errno != EINTR && listen_wait(s, 1000))
				break;
			continue;
		}
		if (p[0].revents)
			break;
		if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK) {
			PQfinish(conn);
			conn = NULL;
			continue;
		}
		unsigned what = 0;
		PGnotify *n;
		while ((n = PQnotifies(conn))) {
			what |= (unsigned)strtoul(n->extra, NULL, 10);
			PQfreemem(n);
		}
		if (what)
			s->listen_fn(s->listen_ctx, what);
	}
	PQfinish(conn);
	return NULL;
}

static int pg_listen(struct store *base, void (*fn)(void *ctx, unsigned what), void *ctx,
		     struct store_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	if (s->listening) {
		store_error_set(err, "the store is listened to already");
		return HQ_E_INVAL;
	}
	if (pipe2(s->listen_pipe, O_CLOEXEC) < 0) {
		store_error_set(err, "cannot listen for other nodes: %s", strerror(errno));
		return HQ_E_IO;
	}
	s->listen_fn = fn;
	s->listen_ctx = ctx;
	if (pthread_create(&s->listener, NULL, listen_main, s) != 0) {
		close(s->listen_pipe[0]);
		close(s->listen_pipe[1]);
		store_error_set(err, "cannot start the listener thread");
		return HQ_E_NOMEM;
	}
	s->listening = true;
	return 0;
}

void pg_listen_stop(struct pg_store *s)
{
	if (!s->listening)
		return;
	ssize_t w;
	do
		w = write(s->listen_pipe[1], "x", 1);
	while (w < 0 && errno == EINTR);
	pthread_join(s->listener, NULL);
	close(s->listen_pipe[0]);
	close(s->listen_pipe[1]);
	s->listening = false;
}

const struct store_node_ops pg_node_ops = {
	.beat = pg_node_beat,
	.stop = pg_node_stop,
	.rescue = pg_nodes_rescue,
	.list = pg_nodes_list,
	.listen = pg_listen,
};
