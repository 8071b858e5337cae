/* PostgreSQL backend (incomplete, see docs/ARCHITECTURE.md): several
 * hookq nodes on one database. Each node keeps a small pool of libpq
 * connections (a mutex and a condition variable hand them out); every
 * statement runs prepared on its connection with parameters, results come
 * back in binary. Claims take rows with FOR UPDATE SKIP LOCKED, so nodes
 * never wait for one another's batches; migrations run once, under a
 * transaction-scoped advisory lock, however many nodes start together.
 * The event and webhook operations are built here, tasks in
 * postgres_task.c, the outbox in postgres_outbox.c, nodes and wake-ups in
 * postgres_node.c. */
#include <endian.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/backend.h"
#include "store/postgres.h"
#include "store/migration.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/error.h"

/* Outcomes are recorded this many per transaction, as on SQLite. */
#define PG_FINISH_CHUNK 32
/* Key of the advisory lock migrations run under ("hookq" in ASCII):
 * advisory locks are per database, so other databases on the server do
 * not share it. */
#define PG_MIGRATION_LOCK "448378203505"

/* The statements, prepared on each connection on first use. Numeric
 * parameters come as text and are cast where they are used. */
enum pg_stmt {
	PG_INSERT,
	PG_NOTIFY_EVENTS,
	PG_COUNT,
	PG_VERSION,
	PG_CLAIM,
	PG_FINISH_DONE,
	PG_FINISH_RETRY,
	PG_FINISH_DEAD,
	PG_RECLAIM,
	PG_NEXT_DUE,
	PG_OLDEST_PENDING,
	PG_PURGE_COMPLETED,
	PG_PURGE_DEAD,
	PG_RETRY_ONE,
	PG_RETRY_MANY,
	PG_EVENT_EXISTS,
	/* The four shapes of a list: by nothing, status, provider, both. */
	PG_LIST,
	PG_LIST_STATUS,
	PG_LIST_PROVIDER,
	PG_LIST_BOTH,
	PG_GET_EVENT,
	PG_GET_ATTEMPTS,
	PG_WEBHOOK_CREATE,
	PG_WEBHOOK_UPDATE,
	PG_WEBHOOK_DELETE,
	PG_WEBHOOK_PEEK,
	PG_WEBHOOK_ONE,
	PG_WEBHOOK_ALL,
	PG_WEBHOOK_COMMANDS,
	PG_COMMAND_CREATE,
	PG_COMMAND_UPDATE,
	PG_COMMAND_DELETE,
	PG_STMT_COUNT
};

_Static_assert(PG_STMT_COUNT <= PG_STMT_TASK_BASE, "statement ids overlap");

#define PG_WEBHOOK_COLUMNS "id, provider, name, secret, enabled::integer, created_at, updated_at"

/* A replay grants the event its full number of attempts again, while
 * attempts keeps counting every attempt the event ever had. */
#define PG_RETRY_SET                                                                          \
	"UPDATE events e SET status = 'pending', max_attempts = e.attempts + e.max_attempts,"  \
	" next_attempt_at = $2::bigint, updated_at = $2::bigint, completed_at = NULL,"         \
	" lease_owner = NULL, lease_expires_at = NULL"

/* Newest first, keyset-paged on id: events_status (status, id) and
 * events_provider (provider, id) serve both the filter and the order. */
#define PG_LIST_SQL(where, limit)                                                             \
	"SELECT " STORE_EVENT_ROW_COLUMNS_SIZED(                                              \
		"(SELECT length(body) FROM event_bodies WHERE event_id = events.id)")           \
	" FROM events WHERE id < $1::bigint" where                                            \
	" ORDER BY id DESC LIMIT " limit "::bigint"

static const char *const pg_sql[PG_STMT_COUNT] = {
	/* A redelivery counts itself on the original and yields its id:
	 * duplicates > 0 after the statement means the row was there. A new
	 * event's headers and body go to event_bodies in the same statement. */
	[PG_INSERT] = "WITH ins AS (INSERT INTO events (provider, route, delivery_id, event_type,"
		      "  received_at, max_attempts, next_attempt_at, updated_at)"
		      "  VALUES ($1, $2, $3, $4, $7::bigint, $8::integer, $7::bigint, $7::bigint)"
		      "  ON CONFLICT (provider, route, delivery_id)"
		      "  DO UPDATE SET duplicates = events.duplicates + 1"
		      "  RETURNING id, duplicates),"
		      " b AS (INSERT INTO event_bodies (event_id, headers, body, body_encoding)"
		      "  SELECT id, $5::text, $6::bytea, $9::text FROM ins WHERE duplicates = 0)"
		      " SELECT id, duplicates FROM ins",
	/* Sent with a batch's inserts; also for a batch of redeliveries
	 * only (a needless wake-up is cheaper than a round trip more). */
	[PG_NOTIFY_EVENTS] = "SELECT pg_notify('" PG_CHANNEL "', '1')",
	[PG_COUNT] = "SELECT status, count(*), coalesce(sum(duplicates), 0)::bigint FROM events"
		     " GROUP BY status",
	[PG_VERSION] = "SELECT coalesce(max(version), 0) FROM schema_migrations",
	/* The CTE locks the due rows once (a CTE with FOR UPDATE is run
	 * exactly once) and skips the ones another node is claiming. */
	[PG_CLAIM] = "WITH due AS (SELECT id FROM events"
		     "  WHERE status = 'pending' AND next_attempt_at <= $2::bigint"
		     "  ORDER BY next_attempt_at, id LIMIT $4::bigint FOR UPDATE SKIP LOCKED),"
		     " claimed AS (UPDATE events e SET status = 'processing', lease_owner = $1,"
		     "  lease_expires_at = $2::bigint + $3::bigint, attempts = e.attempts + 1,"
		     "  updated_at = $2::bigint FROM due WHERE e.id = due.id"
		     "  RETURNING e.id, e.provider, e.route, e.delivery_id, e.event_type,"
		     "  e.attempts, e.max_attempts, e.received_at, e.next_attempt_at)"
		     /* An event without a body (never written so) is processed
		      * as an empty one and fails there, instead of being
		      * claimed again and again. */
		     " SELECT c.id, c.provider, c.route, c.delivery_id, c.event_type,"
		     "  coalesce(b.headers, '{}'), coalesce(b.body, ''::bytea),"
		     "  coalesce(b.body_encoding, 'identity'), c.attempts, c.max_attempts,"
		     "  c.received_at FROM claimed c LEFT JOIN event_bodies b ON b.event_id = c.id"
		     " ORDER BY c.next_attempt_at, c.id",
	[PG_FINISH_DONE] = "UPDATE events SET status = 'completed', completed_at = $3::bigint,"
			   " updated_at = $3::bigint, lease_owner = NULL, lease_expires_at = NULL,"
			   " action = coalesce($4, action), repository = coalesce($5, repository),"
			   " sender = coalesce($6, sender), routing = $7"
			   " WHERE id = $1::bigint AND status = 'processing' AND lease_owner = $2",
	[PG_FINISH_RETRY] = "UPDATE events SET status = CASE WHEN attempts >= max_attempts"
			    "  THEN 'dead_letter' ELSE 'pending' END,"
			    " next_attempt_at = $4::bigint, last_error = $5, updated_at = $3::bigint,"
			    " lease_owner = NULL, lease_expires_at = NULL"
			    " WHERE id = $1::bigint AND status = 'processing' AND lease_owner = $2",
	[PG_FINISH_DEAD] = "UPDATE events SET status = 'dead_letter', last_error = $4,"
			   " updated_at = $3::bigint, lease_owner = NULL, lease_expires_at = NULL"
			   " WHERE id = $1::bigint AND status = 'processing' AND lease_owner = $2",
	/* Several nodes may reclaim at once: each takes the rows no other
	 * is on. */
	[PG_RECLAIM] = "WITH expired AS (SELECT id FROM events"
		       "  WHERE status = 'processing' AND lease_expires_at <= $1::bigint"
		       "  FOR UPDATE SKIP LOCKED)"
		       " UPDATE events e SET status = CASE WHEN e.attempts >= e.max_attempts"
		       "  THEN 'dead_letter' ELSE 'pending' END,"
		       " next_attempt_at = $1::bigint, updated_at = $1::bigint, lease_owner = NULL,"
		       " lease_expires_at = NULL, last_error = '" STORE_LEASE_EXPIRED "'"
		       " FROM expired WHERE e.id = expired.id",
	[PG_NEXT_DUE] = "SELECT next_attempt_at FROM events WHERE status = 'pending'"
			" ORDER BY next_attempt_at LIMIT 1",
	/* Ids grow with arrival (give or take the batches in flight on
	 * other nodes), so the lowest pending id is the oldest: one step
	 * down events_status. */
	[PG_OLDEST_PENDING] = "SELECT received_at FROM events WHERE status = 'pending'"
			      " ORDER BY id LIMIT 1",
	/* Several nodes may purge at once: each deletes rows no other is
	 * on. The delete trigger takes the attempts along. */
	[PG_PURGE_COMPLETED] = "WITH doomed AS (SELECT id FROM events WHERE status = 'completed'"
			       "  AND completed_at < $1::bigint LIMIT $2::bigint"
			       "  FOR UPDATE SKIP LOCKED)"
			       " DELETE FROM events e USING doomed WHERE e.id = doomed.id",
	/* A dead letter's updated_at is when it became one: nothing else
	 * changes it until an operator replays it. */
	[PG_PURGE_DEAD] = "WITH doomed AS (SELECT id FROM events WHERE status = 'dead_letter'"
			  "  AND updated_at < $1::bigint LIMIT $2::bigint FOR UPDATE SKIP LOCKED)"
			  " DELETE FROM events e USING doomed WHERE e.id = doomed.id",
	[PG_RETRY_ONE] = PG_RETRY_SET " WHERE e.id = $1::bigint AND e.status IN ($3, $4)"
				      " RETURNING e.id",
	/* Keyset over ids, lowest first: each call moves past the last one,
	 * so an event processed again meanwhile is not replayed twice. */
	[PG_RETRY_MANY] = "WITH picked AS (SELECT id FROM events WHERE status = $1"
			  "  AND id > $3::bigint ORDER BY id LIMIT $4::bigint FOR UPDATE) "
			  PG_RETRY_SET " FROM picked WHERE e.id = picked.id RETURNING e.id",
	[PG_EVENT_EXISTS] = "SELECT id FROM events WHERE id = $1::bigint",
	[PG_LIST] = PG_LIST_SQL("", "$2"),
	[PG_LIST_STATUS] = PG_LIST_SQL(" AND status = $2", "$3"),
	[PG_LIST_PROVIDER] = PG_LIST_SQL(" AND provider = $2", "$3"),
	[PG_LIST_BOTH] = PG_LIST_SQL(" AND status = $2 AND provider = $3", "$4"),
	[PG_GET_EVENT] = "SELECT " STORE_EVENT_ROW_COLUMNS ", headers, body, body_encoding"
			 " FROM events LEFT JOIN event_bodies ON event_id = id WHERE id = $1::bigint",
	[PG_GET_ATTEMPTS] = "SELECT attempt, started_at, finished_at, worker, outcome, error"
			    " FROM event_attempts WHERE event_id = $1::bigint ORDER BY attempt",
	[PG_WEBHOOK_CREATE] = "INSERT INTO webhooks (id, provider, name, secret, enabled,"
			      " created_at, updated_at)"
			      " VALUES ($1, $2, $3, $4, $5::boolean, $6::bigint, $6::bigint)",
	[PG_WEBHOOK_UPDATE] = "UPDATE webhooks SET name = coalesce($2, name),"
			      " secret = coalesce($3, secret),"
			      " enabled = CASE WHEN $4::integer < 0 THEN enabled"
			      "  ELSE $4::integer <> 0 END,"
			      " updated_at = $5::bigint WHERE id = $1",
	/* The delete trigger takes the commands along. */
	[PG_WEBHOOK_DELETE] = "DELETE FROM webhooks WHERE id = $1",
	[PG_WEBHOOK_PEEK] = "SELECT provider, enabled::integer, secret FROM webhooks WHERE id = $1",
	[PG_WEBHOOK_ONE] = "SELECT " PG_WEBHOOK_COLUMNS " FROM webhooks WHERE id = $1",
	[PG_WEBHOOK_ALL] = "SELECT " PG_WEBHOOK_COLUMNS " FROM webhooks ORDER BY created_at, id",
	[PG_WEBHOOK_COMMANDS] = "SELECT id, trigger, action, agent, template, conditions, priority,"
				" created_at, updated_at FROM webhook_commands"
				" WHERE webhook_id = $1 ORDER BY priority, created_at, id",
	/* The webhook must exist: the insert selects from it. */
	[PG_COMMAND_CREATE] = "INSERT INTO webhook_commands (id, webhook_id, trigger, action, agent,"
			      " template, conditions, priority, created_at, updated_at)"
			      " SELECT $1, id, $3, $4, $5, $6, $7, $8::bigint, $9::bigint, $9::bigint"
			      " FROM webhooks WHERE id = $2",
	[PG_COMMAND_UPDATE] = "UPDATE webhook_commands SET trigger = $3, action = $4, agent = $5,"
			      " template = $6, conditions = $7, priority = $8::bigint,"
			      " updated_at = $9::bigint WHERE id = $1 AND webhook_id = $2",
	[PG_COMMAND_DELETE] = "DELETE FROM webhook_commands WHERE id = $1 AND webhook_id = $2",
};

void pg_arg_text(struct pg_args *a, const char *v)
{
	a->values[a->n] = v;
	a->lengths[a->n] = 0;
	a->formats[a->n] = 0;
	a->n++;
}

void pg_arg_i64(struct pg_args *a, int64_t v)
{
	snprintf(a->nums[a->n], sizeof(a->nums[a->n]), "%lld", (long long)v);
	pg_arg_text(a, a->nums[a->n]);
}

/* len fits an int: the caller checked. */
void pg_arg_bytes(struct pg_args *a, const void *p, size_t len)
{
	a->values[a->n] = p ? p : "";
	a->lengths[a->n] = (int)len;
	a->formats[a->n] = 1;
	a->n++;
}

/* Maps a failure to the store's codes: what a retry or another node can
 * get through (lock and serialization conflicts, deadlocks, too many
 * connections) is busy; a lost or read-only server, a full disk is I/O. */
static int pg_code(PGconn *conn, const PGresult *res)
{
	if (!conn || PQstatus(conn) != CONNECTION_OK)
		return HQ_E_IO;
	if (!res)
		return HQ_E_NOMEM; /* libpq could not allocate the result */
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (!state)
		return HQ_E_STORE;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	    strcmp(state, "55P03") == 0 || strcmp(state, "55006") == 0 ||
	    strcmp(state, "57014") == 0 || strcmp(state, "53300") == 0)
		return HQ_E_BUSY;
	if (strcmp(state, "53200") == 0)
		return HQ_E_NOMEM;
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "58", 2) == 0 ||
	    strncmp(state, "57P", 3) == 0 || strcmp(state, "53100") == 0 ||
	    strcmp(state, "25006") == 0)
		return HQ_E_IO;
	return HQ_E_STORE;
}

/* The first line of a libpq message, without "ERROR:  ". */
static void pg_message(char *out, size_t size, PGconn *conn, const PGresult *res)
{
	const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!m)
		m = conn ? PQerrorMessage(conn) : "out of memory";
	if (!m || !*m)
		m = "unknown error";
	size_t len = strcspn(m, "\n");
	snprintf(out, size, "%.*s", (int)len, m);
}

int pg_fail(PGconn *conn, const PGresult *res, const char *what,
		   struct store_error *err)
{
	char msg[STORE_ERROR_MAX];
	pg_message(msg, sizeof(msg), conn, res);
	store_error_set(err, "%s: %s", what, msg);
	return pg_code(conn, res);
}

static void pg_notice_ignore(void *arg, const PGresult *res)
{
	/* A library layer does not log: notices ("relation exists,
	 * skipping") go nowhere instead of to stderr. */
	(void)arg;
	(void)res;
}

/* Runs a statement without parameters or results (BEGIN, COMMIT, a
 * migration's several statements). */
int pg_exec(PGconn *conn, const char *sql, const char *what, struct store_error *err)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int r = 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		r = pg_fail(conn, res, what, err);
	PQclear(res);
	return r;
}

void pg_rollback(PGconn *conn)
{
	PQclear(PQexec(conn, "ROLLBACK"));
}

/* Runs one of pg_sql on c with args, preparing it first on this
 * connection. *ret gets the result (binary columns) when asked for. */
/* Prepares statement id (sql) on c unless it is already; its name. */
static int pg_prepare(struct pg_conn *c, int id, const char *sql, char name[16],
		      const char *what, struct store_error *err)
{
	snprintf(name, 16, "hq%d", id);
	if (c->prepared[id])
		return 0;
	PGresult *res = PQprepare(c->conn, name, sql, 0, NULL);
	int r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : pg_fail(c->conn, res, what, err);
	PQclear(res);
	if (r == 0)
		c->prepared[id] = true;
	return r;
}

int pg_run_sql(struct pg_conn *c, int id, const char *sql, const struct pg_args *a,
	       PGresult **ret, const char *what, struct store_error *err)
{
	char name[16];
	int r = pg_prepare(c, id, sql, name, what, err);
	if (r < 0)
		return r;
	PGresult *res = PQexecPrepared(c->conn, name, a ? a->n : 0, a ? a->values : NULL,
				       a ? a->lengths : NULL, a ? a->formats : NULL, 1);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		r = pg_fail(c->conn, res, what, err);
		PQclear(res);
		return r;
	}
	if (ret)
		*ret = res;
	else
		PQclear(res);
	return 0;
}

static int pg_run(struct pg_conn *c, enum pg_stmt id, const struct pg_args *a, PGresult **ret,
		  const char *what, struct store_error *err)
{
	return pg_run_sql(c, (int)id, pg_sql[id], a, ret, what, err);
}

/* Runs n statements (ids[i] with args[i]) on c in one round trip, libpq's
 * pipeline mode, inside the caller's transaction: res[i] gets each result
 * (the caller clears them; all NULL after a failure). Returns the first
 * failure (the statements after it are not run); every result is read, so
 * c is usable again after a success (and rolled back by pg_release after a
 * failure). */
static void pg_conn_close(struct pg_conn *c);

static int pg_run_pipeline(struct pg_conn *c, const enum pg_stmt *ids, const struct pg_args *args,
			   size_t n, PGresult **res, const char *what, struct store_error *err)
{
	char name[16];
	for (size_t i = 0; i < n; i++) {
		res[i] = NULL;
		int r = pg_prepare(c, (int)ids[i], pg_sql[ids[i]], name, what, err);
		if (r < 0)
			return r;
	}
	if (!PQenterPipelineMode(c->conn))
		return pg_fail(c->conn, NULL, what, err);
	int r = 0;
	size_t sent = 0;
	for (; sent < n; sent++) {
		const struct pg_args *a = &args[sent];
		snprintf(name, sizeof(name), "hq%d", (int)ids[sent]);
		if (!PQsendQueryPrepared(c->conn, name, a->n, a->values, a->lengths, a->formats, 1)) {
			r = pg_fail(c->conn, NULL, what, err);
			break;
		}
	}
	if (!PQpipelineSync(c->conn)) {
		/* Nothing may reach the server, and waiting for answers could
		 * wait forever: the connection goes (nothing is committed). */
		if (r == 0) {
			pg_fail(c->conn, NULL, what, err);
			r = HQ_E_IO;
		}
		pg_conn_close(c);
		return r;
	}
	for (size_t i = 0; i < sent; i++) {
		PGresult *x = PQgetResult(c->conn);
		if (!x) {
			if (r == 0)
				r = pg_fail(c->conn, NULL, what, err);
			break;
		}
		ExecStatusType st = PQresultStatus(x);
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
			res[i] = x;
		} else {
			if (r == 0 && st != PGRES_PIPELINE_ABORTED)
				r = pg_fail(c->conn, x, what, err);
			PQclear(x);
		}
		PQclear(PQgetResult(c->conn)); /* the NULL that ends each statement's results */
	}
	/* The sync's own result, then back to the usual mode. */
	PGresult *x;
	while ((x = PQgetResult(c->conn)) && PQresultStatus(x) != PGRES_PIPELINE_SYNC)
		PQclear(x);
	PQclear(x);
	if (!PQexitPipelineMode(c->conn) && r == 0)
		r = pg_fail(c->conn, NULL, what, err);
	if (r < 0)
		for (size_t i = 0; i < n; i++) {
			PQclear(res[i]);
			res[i] = NULL;
		}
	return r;
}

/* An integer or boolean column in binary (int2, int4, int8 or bool: 1
 * for true); 0 when NULL. */
int64_t pg_int(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	const char *v = PQgetvalue(res, row, col);
	switch (PQgetlength(res, row, col)) {
	case 8: {
		uint64_t x;
		memcpy(&x, v, 8);
		return (int64_t)be64toh(x);
	}
	case 4: {
		uint32_t x;
		memcpy(&x, v, 4);
		return (int32_t)be32toh(x);
	}
	case 2: {
		uint16_t x;
		memcpy(&x, v, 2);
		return (int16_t)be16toh(x);
	}
	case 1:
		return v[0] != 0;
	default:
		return 0;
	}
}

/* Copies a text or bytea column (binary: the bytes as stored) with a
 * terminating NUL; "" for NULL. */
char *pg_dup(const PGresult *res, int row, int col, size_t *len)
{
	size_t n = (size_t)PQgetlength(res, row, col);
	char *p = malloc(n + 1);
	if (!p)
		return NULL;
	if (n)
		memcpy(p, PQgetvalue(res, row, col), n);
	p[n] = '\0';
	if (len)
		*len = n;
	return p;
}

static void pg_conn_close(struct pg_conn *c)
{
	PQfinish(c->conn);
	c->conn = NULL;
	memset(c->prepared, 0, sizeof(c->prepared));
}

/* Connects c, with the node's settings: lock waits bounded by the busy
 * timeout (then HQ_E_BUSY), and commits as durable as configured. */
int pg_connect(struct pg_store *s, struct pg_conn *c, struct store_error *err)
{
	/* Defaults the URL may override (its parameters come last): a server
	 * that does not answer a connect is an error after 10 s, and a
	 * vanished peer of an idle or waiting connection is noticed by TCP
	 * keepalives in about a minute instead of the kernel's two hours. */
	const char *const keys[] = { "fallback_application_name", "client_encoding",
				     "connect_timeout", "keepalives_idle", "keepalives_interval",
				     "keepalives_count", "tcp_user_timeout", "dbname", NULL };
	/* tcp_user_timeout: data sent and not acknowledged for 30 s (a
	 * network cut mid-statement) ends the connection, where keepalives
	 * do not apply and the kernel would retransmit for 15 minutes. */
	const char *const values[] = { "hookq", "UTF8", "10", "30", "10", "3", "30000", s->url,
				       NULL };
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	if (!conn) {
		store_error_set(err, "cannot connect to '%s': out of memory", s->redacted);
		return HQ_E_NOMEM;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		char msg[STORE_ERROR_MAX];
		pg_message(msg, sizeof(msg), conn, NULL);
		store_error_set(err, "cannot connect to '%s': %s", s->redacted, msg);
		PQfinish(conn);
		return HQ_E_IO;
	}
	PQsetNoticeReceiver(conn, pg_notice_ignore, NULL);
	/* synchronous_commit=off is SQLite's NORMAL in WAL mode: a power cut
	 * may lose the last commits, never corrupt. */
	const char *sync = s->opt.synchronous >= STORE_SYNC_FULL ? "on" : "off";
	char timeout[24];
	/* lock_timeout 0 would wait forever, where a busy timeout of 0 means
	 * not waiting: 1 ms is the nearest. */
	uint64_t ms = s->opt.busy_timeout_ms > INT_MAX ? INT_MAX : s->opt.busy_timeout_ms;
	if (ms == 0)
		ms = 1;
	snprintf(timeout, sizeof(timeout), "%llu", (unsigned long long)ms);
	const char *const params[] = { sync, timeout };
	PGresult *res = PQexecParams(conn,
				     "SELECT set_config('synchronous_commit', $1, false),"
				     " set_config('lock_timeout', $2, false)",
				     2, NULL, params, NULL, NULL, 0);
	int r = PQresultStatus(res) == PGRES_TUPLES_OK ?
			0 :
			pg_fail(conn, res, "configuring the connection", err);
	PQclear(res);
	if (r < 0) {
		PQfinish(conn);
		return r;
	}
	c->conn = conn;
	memset(c->prepared, 0, sizeof(c->prepared));
	return 0;
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connects c unless the server was unreachable a moment ago: then the
 * last failure is answered at once, without another connect (which can
 * take the connect timeout) until a backoff from 100 ms doubling to 5 s
 * has passed. Webhooks get their 503 fast while the database is down,
 * and it is not flooded with connects once it comes back. */
static int pg_connect_backoff(struct pg_store *s, struct pg_conn *c, struct store_error *err)
{
	pthread_mutex_lock(&s->lock);
	bool wait = s->down_backoff_ms && monotonic_ms() < s->down_until_ms;
	if (wait)
		*err = s->down_error;
	pthread_mutex_unlock(&s->lock);
	if (wait)
		return HQ_E_IO;
	int r = pg_connect(s, c, err);
	pthread_mutex_lock(&s->lock);
	if (r == HQ_E_IO) {
		s->down_backoff_ms = s->down_backoff_ms ? s->down_backoff_ms * 2 : 100;
		if (s->down_backoff_ms > STORE_RECONNECT_MAX_MS)
			s->down_backoff_ms = STORE_RECONNECT_MAX_MS;
		s->down_until_ms = monotonic_ms() + s->down_backoff_ms;
		s->down_error = *err;
	} else if (r == 0) {
		s->down_backoff_ms = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Takes a connection from the pool, waiting up to the busy timeout for
 * one, and (re)connects it when it is new or was lost. */
int pg_acquire(struct pg_store *s, struct pg_conn **ret, struct store_error *err)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	uint64_t ms = s->opt.busy_timeout_ms;
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	struct pg_conn *c = NULL;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		/* A connected one first; an empty slot connects. */
		for (size_t i = 0; i < PG_POOL_SIZE && !c; i++)
			if (!s->pool[i].in_use && s->pool[i].conn)
				c = &s->pool[i];
		for (size_t i = 0; i < PG_POOL_SIZE && !c; i++)
			if (!s->pool[i].in_use)
				c = &s->pool[i];
		if (c || pthread_cond_timedwait(&s->cond, &s->lock, &until) != 0)
			break;
	}
	bool stale = false;
	uint64_t epoch = s->epoch;
	if (c) {
		c->in_use = true;
		stale = c->conn && c->epoch < s->epoch;
	}
	pthread_mutex_unlock(&s->lock);
	if (!c) {
		store_error_set(err, "no free database connection within %llu ms",
				(unsigned long long)ms);
		return HQ_E_BUSY;
	}
	if (c->conn && (stale || PQstatus(c->conn) != CONNECTION_OK))
		pg_conn_close(c);
	c->fresh = !c->conn;
	int r = c->conn ? 0 : pg_connect_backoff(s, c, err);
	c->epoch = epoch;
	if (r < 0) {
		pthread_mutex_lock(&s->lock);
		c->in_use = false;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
		return r;
	}
	*ret = c;
	return 0;
}

/* Gives a connection back. One left inside a transaction is rolled back;
 * one that is broken or busy mid-statement is closed (the next user
 * reconnects). */
void pg_release(struct pg_store *s, struct pg_conn *c)
{
	bool lost = false;
	if (c->conn) {
		PGTransactionStatusType t = PQtransactionStatus(c->conn);
		if (t == PQTRANS_INTRANS || t == PQTRANS_INERROR)
			pg_rollback(c->conn);
		lost = PQstatus(c->conn) != CONNECTION_OK;
		if (lost || PQtransactionStatus(c->conn) != PQTRANS_IDLE ||
		    PQpipelineStatus(c->conn) != PQ_PIPELINE_OFF)
			pg_conn_close(c);
	}
	pthread_mutex_lock(&s->lock);
	if (lost && c->epoch == s->epoch)
		s->epoch++;
	c->in_use = false;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* Runs one statement on a connection of the pool, outside any
 * transaction of its own making (one statement commits alone). */
int pg_query_sql(struct pg_store *s, int id, const char *sql, const struct pg_args *a,
		 PGresult **ret, const char *what, struct store_error *err)
{
	struct pg_conn *c;
	int r = pg_acquire(s, &c, err);
	if (r < 0)
		return r;
	r = pg_run_sql(c, id, sql, a, ret, what, err);
	pg_release(s, c);
	return r;
}

int pg_txn(struct pg_store *s, int (*fn)(struct pg_conn *c, void *arg, struct store_error *err),
	   void *arg, const char *what, struct store_error *err)
{
	for (int attempt = 0;; attempt++) {
		struct pg_conn *c;
		int r = pg_acquire(s, &c, err);
		if (r < 0)
			return r;
		bool committing = false;
		r = pg_exec(c->conn, "BEGIN", what, err);
		if (r == 0)
			r = fn(c, arg, err);
		if (r == 0) {
			committing = true;
			r = pg_exec(c->conn, "COMMIT", what, err);
		}
		bool retry = r == HQ_E_IO && !committing && !c->fresh && attempt == 0 &&
			     PQstatus(c->conn) != CONNECTION_OK;
		pg_release(s, c);
		if (!retry)
			return r;
	}
}

static int pg_query(struct pg_store *s, enum pg_stmt id, const struct pg_args *a,
		    PGresult **ret, const char *what, struct store_error *err)
{
	return pg_query_sql(s, (int)id, pg_sql[id], a, ret, what, err);
}

/* The number of rows a statement changed. */
size_t pg_changed(PGresult *res)
{
	return (size_t)strtoull(PQcmdTuples(res), NULL, 10);
}

static void pg_close(struct store *base)
{
	struct pg_store *s = (struct pg_store *)base;
	if (!s)
		return;
	pg_listen_stop(s);
	for (size_t i = 0; i < PG_POOL_SIZE; i++)
		pg_conn_close(&s->pool[i]);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	if (s->url) {
		crypto_cleanse(s->url, strlen(s->url));
		free(s->url);
	}
	free(s);
}

/* Applies the migrations this database lacks, in one transaction, under
 * an advisory lock: nodes starting together wait for the first one and
 * then find nothing left to do. DDL is transactional here, so a failed
 * migration leaves the schema as it was. */
static int pg_migrate(PGconn *conn, struct store_error *err)
{
	int r = pg_exec(conn, "BEGIN", "starting migrations", err);
	if (r < 0)
		return r;
	/* Waiting for another node's migrations is not a busy store:
	 * however long they take, this node needs them. */
	if ((r = pg_exec(conn, "SET LOCAL lock_timeout = 0", "starting migrations", err)) < 0 ||
	    (r = pg_exec(conn, "SELECT pg_advisory_xact_lock(" PG_MIGRATION_LOCK ")",
			 "waiting for the migration lock", err)) < 0 ||
	    (r = pg_exec(conn,
			 "CREATE TABLE IF NOT EXISTS schema_migrations ("
			 " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
			 " applied_at BIGINT NOT NULL)",
			 "creating schema_migrations", err)) < 0)
		goto out_rollback;

	PGresult *res = PQexecParams(conn, pg_sql[PG_VERSION], 0, NULL, NULL, NULL, NULL, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		r = pg_fail(conn, res, "reading schema version", err);
		PQclear(res);
		goto out_rollback;
	}
	int current = (int)pg_int(res, 0, 0);
	PQclear(res);

	int latest = 0;
	for (const struct migration *m = store_postgres_migrations; m->version; m++)
		latest = m->version;
	if (current > latest) {
		store_error_set(err,
				"database schema version %d is newer than this hookq knows (%d)",
				current, latest);
		r = HQ_E_STORE;
		goto out_rollback;
	}
	for (const struct migration *m = store_postgres_migrations; m->version; m++) {
		if (m->version <= current)
			continue;
		struct store_error e2;
		if ((r = pg_exec(conn, m->sql, m->name, &e2)) < 0) {
			store_error_set(err, "migration %s", e2.msg);
			goto out_rollback;
		}
		struct pg_args a = { 0 };
		pg_arg_i64(&a, m->version);
		pg_arg_text(&a, m->name);
		pg_arg_i64(&a, clock_now_ms());
		res = PQexecParams(conn,
				   "INSERT INTO schema_migrations (version, name, applied_at)"
				   " VALUES ($1::integer, $2, $3::bigint)",
				   a.n, NULL, a.values, NULL, NULL, 0);
		r = PQresultStatus(res) == PGRES_COMMAND_OK ?
			    0 :
			    pg_fail(conn, res, "recording migration", err);
		PQclear(res);
		if (r < 0)
			goto out_rollback;
	}
	return pg_exec(conn, "COMMIT", "committing migrations", err);

out_rollback:
	pg_rollback(conn);
	return r;
}

static int pg_schema_version(struct store *base, int *ret, struct store_error *err)
{
	PGresult *res = NULL;
	int r = pg_query((struct pg_store *)base, PG_VERSION, NULL, &res, "reading schema version",
			 err);
	if (r == 0)
		*ret = (int)pg_int(res, 0, 0);
	PQclear(res);
	return r;
}

/* The parameters of ev's insert; HQ_E_TOOBIG for a body libpq cannot
 * send. */
static int pg_insert_args(const struct store_event_in *ev, struct pg_args *a,
			  struct store_error *err)
{
	if (ev->body_len > INT_MAX) {
		store_error_set(err, "storing event: a body of %zu bytes is too large",
				ev->body_len);
		return HQ_E_TOOBIG;
	}
	memset(a, 0, sizeof(*a));
	pg_arg_text(a, ev->provider);
	pg_arg_text(a, ev->route);
	pg_arg_text(a, ev->delivery_id);
	pg_arg_text(a, ev->event_type);
	pg_arg_text(a, ev->headers_json);
	pg_arg_bytes(a, ev->body, ev->body_len);
	pg_arg_i64(a, ev->received_at_ms);
	pg_arg_i64(a, ev->max_attempts > 0 ? ev->max_attempts : 5);
	pg_arg_text(a, ev->body_encoding ? ev->body_encoding : "identity");
	return 0;
}

/* Reads the id an insert gave ev, and whether it was there already. */
static int pg_insert_result(PGresult *res, struct store_event_in *ev, struct store_error *err)
{
	if (PQntuples(res) != 1) {
		store_error_set(err, "storing event: no row came back");
		return HQ_E_STORE;
	}
	ev->id = pg_int(res, 0, 0);
	ev->duplicate = pg_int(res, 0, 1) > 0;
	ev->result = 0;
	return 0;
}

static int event_key_cmp(const void *pa, const void *pb)
{
	const struct store_event_in *a = *(const struct store_event_in *const *)pa;
	const struct store_event_in *b = *(const struct store_event_in *const *)pb;
	const char *ka[] = { a->provider, a->route, a->delivery_id };
	const char *kb[] = { b->provider, b->route, b->delivery_id };
	for (int i = 0; i < 3; i++) {
		int d = strcmp(ka[i] ? ka[i] : "", kb[i] ? kb[i] : "");
		if (d)
			return d;
	}
	return 0;
}

/* Stores evs in one transaction. Rows are written in key order: two
 * nodes storing batches that share deliveries then take the unique
 * index's locks in the same order and cannot deadlock. */
static int pg_insert_batch(struct pg_conn *c, struct store_event_in *evs, size_t n,
			   bool *committing, struct store_error *err)
{
	struct store_event_in *one[1] = { evs };
	struct store_event_in **order = n > 1 ? malloc(n * sizeof(*order)) : one;
	if (!order)
		return HQ_E_NOMEM;
	for (size_t i = 0; n > 1 && i < n; i++)
		order[i] = &evs[i];
	if (n > 1)
		qsort(order, n, sizeof(*order), event_key_cmp);
	/* All the inserts go in one round trip (a pipeline): the server
	 * runs them in order, and an answer per event comes back; last, the
	 * wake-up of the processors on other nodes. */
	_Static_assert(STORE_CHANGED_EVENTS == 1, "PG_NOTIFY_EVENTS says 1");
	struct pg_args *args = calloc(n + 1, sizeof(*args));
	enum pg_stmt *ids = calloc(n + 1, sizeof(*ids));
	PGresult **res = calloc(n + 1, sizeof(*res));
	int r = args && ids && res ? 0 : HQ_E_NOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		ids[i] = PG_INSERT;
		r = pg_insert_args(order[i], &args[i], err);
	}
	if (ids)
		ids[n] = PG_NOTIFY_EVENTS;
	if (r == 0)
		r = pg_exec(c->conn, "BEGIN", "storing events", err);
	if (r == 0)
		r = pg_run_pipeline(c, ids, args, n + 1, res, "storing event", err);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = pg_insert_result(res[i], order[i], err);
	for (size_t i = 0; res && i <= n; i++)
		PQclear(res[i]);
	free(res);
	free(ids);
	free(args);
	*committing = r == 0;
	if (r == 0)
		r = pg_exec(c->conn, "COMMIT", "committing events", err);
	if (r < 0 && PQstatus(c->conn) == CONNECTION_OK)
		pg_rollback(c->conn);
	if (order != one)
		free(order);
	return r;
}

static int pg_insert_events(struct store *base, struct store_event_in *evs, size_t n,
			    struct store_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	if (n == 0)
		return 0;
	struct pg_conn *c;
	int r = pg_acquire(s, &c, err);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			evs[i].result = r;
		return r;
	}
	bool committing = false;
	r = pg_insert_batch(c, evs, n, &committing, err);
	if (r == HQ_E_IO && !committing && !c->fresh && PQstatus(c->conn) != CONNECTION_OK) {
		/* A connection the pool kept died while idle (a server restart,
		 * an idle timeout): the batch never reached COMMIT, so none of
		 * it is stored, and it runs once more on a new connection
		 * rather than failing webhooks the server could take. */
		pg_release(s, c);
		if ((r = pg_acquire(s, &c, err)) < 0) {
			for (size_t i = 0; i < n; i++)
				evs[i].result = r;
			return r;
		}
		r = pg_insert_batch(c, evs, n, &committing, err);
	}
	if (r < 0 && n > 1 && r != HQ_E_BUSY && r != HQ_E_IO) {
		/* One event spoiled the batch: store the others one by one so a
		 * single bad row refuses only itself (as on SQLite). */
		r = 0;
		for (size_t i = 0; i < n; i++) {
			struct store_error e1;
			evs[i].result = pg_insert_batch(c, &evs[i], 1, &committing, &e1);
			if (evs[i].result < 0) {
				r = evs[i].result;
				*err = e1;
			}
		}
	} else {
		for (size_t i = 0; i < n; i++)
			evs[i].result = r;
	}
	pg_release(s, c);
	return r;
}

static int pg_count_events(struct store *base, struct store_event_counts *ret,
			   struct store_error *err)
{
	PGresult *res = NULL;
	int r = pg_query((struct pg_store *)base, PG_COUNT, NULL, &res, "counting events", err);
	if (r < 0)
		return r;
	struct store_event_counts counts;
	memset(&counts, 0, sizeof(counts));
	for (int i = 0; i < PQntuples(res); i++) {
		char *status = pg_dup(res, i, 0, NULL);
		if (!status) {
			PQclear(res);
			return HQ_E_NOMEM;
		}
		store_counts_add(&counts, status, pg_int(res, i, 1), pg_int(res, i, 2));
		free(status);
	}
	PQclear(res);
	*ret = counts;
	return 0;
}

/* Copies claimed row i; *zstd says whether its body needs decoding. */
static int pg_claimed_row(const PGresult *res, int i, struct store_claimed *e, bool *zstd)
{
	memset(e, 0, sizeof(*e));
	e->id = pg_int(res, i, 0);
	e->provider = pg_dup(res, i, 1, NULL);
	e->route = pg_dup(res, i, 2, NULL);
	e->delivery_id = pg_dup(res, i, 3, NULL);
	e->event_type = pg_dup(res, i, 4, NULL);
	e->headers_json = pg_dup(res, i, 5, NULL);
	e->body = pg_dup(res, i, 6, &e->body_len);
	*zstd = PQgetlength(res, i, 7) == 4 && memcmp(PQgetvalue(res, i, 7), "zstd", 4) == 0;
	e->attempts = (int)pg_int(res, i, 8);
	e->max_attempts = (int)pg_int(res, i, 9);
	e->received_at_ms = pg_int(res, i, 10);
	if (!e->provider || !e->route || !e->delivery_id || !e->event_type ||
	    !e->headers_json || !e->body)
		return HQ_E_NOMEM;
	return 0;
}

static int pg_claim_events(struct store *base, const char *owner, int64_t now_ms,
			   int64_t lease_ms, size_t max, size_t max_body, struct store_claim *ret,
			   struct store_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	struct store_claim cl = { NULL, 0 };
	if (max == 0) {
		*ret = cl;
		return 0;
	}
	struct pg_args a = { 0 };
	pg_arg_text(&a, owner);
	pg_arg_i64(&a, now_ms);
	pg_arg_i64(&a, lease_ms);
	pg_arg_i64(&a, max > INT64_MAX ? INT64_MAX : (int64_t)max);
	PGresult *res = NULL;
	int r = pg_query(s, PG_CLAIM, &a, &res, "claiming events", err);
	if (r < 0)
		return r;
	/* From here a failure leaves the rows leased: the lease expires and
	 * they are reclaimed, so nothing is lost. */
	size_t n = (size_t)PQntuples(res);
	bool *zstd = NULL;
	if (n) {
		cl.events = calloc(n, sizeof(*cl.events));
		zstd = calloc(n, sizeof(*zstd));
		if (!cl.events || !zstd)
			r = HQ_E_NOMEM;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = pg_claimed_row(res, (int)i, &cl.events[i], &zstd[i]);
		cl.n++;
	}
	PQclear(res);
	for (size_t i = 0; r == 0 && i < cl.n; i++)
		(void)store_body_decode(&cl.events[i].body, &cl.events[i].body_len, zstd[i],
					max_body);
	free(zstd);
	if (r < 0) {
		store_claim_release(&cl);
		return r;
	}
	*ret = cl;
	return 0;
}

/* The statement and parameters that record outcome o. */
static enum pg_stmt pg_finish_args(const char *owner, const struct store_outcome *o,
				   int64_t now_ms, struct pg_args *a)
{
	memset(a, 0, sizeof(*a));
	pg_arg_i64(a, o->id);
	pg_arg_text(a, owner);
	pg_arg_i64(a, now_ms);
	switch (o->kind) {
	case STORE_OUTCOME_DONE:
		pg_arg_text(a, o->action);
		pg_arg_text(a, o->repository);
		pg_arg_text(a, o->sender);
		pg_arg_text(a, o->routing);
		return PG_FINISH_DONE;
	case STORE_OUTCOME_RETRY:
		pg_arg_i64(a, o->next_attempt_at_ms);
		pg_arg_text(a, o->error ? o->error : "");
		return PG_FINISH_RETRY;
	default:
		pg_arg_text(a, o->error ? o->error : "");
		return PG_FINISH_DEAD;
	}
}

static bool pg_has_tasks(const struct store_outcome *o)
{
	return o->kind == STORE_OUTCOME_DONE && o->n_tasks > 0;
}

/* Records the outcomes of o[start..end) that create no tasks in one round
 * trip; *chunk counts those applied. */
static int pg_finish_plain(struct pg_conn *c, const char *owner, const struct store_outcome *o,
			   size_t start, size_t end, int64_t now_ms, size_t *chunk,
			   struct store_error *err)
{
	struct pg_args args[PG_FINISH_CHUNK];
	enum pg_stmt ids[PG_FINISH_CHUNK];
	PGresult *res[PG_FINISH_CHUNK];
	size_t n = 0;
	for (size_t i = start; i < end; i++)
		if (!pg_has_tasks(&o[i])) {
			ids[n] = pg_finish_args(owner, &o[i], now_ms, &args[n]);
			n++;
		}
	if (n == 0)
		return 0;
	int r = pg_run_pipeline(c, ids, args, n, res, "recording an outcome", err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		*chunk += pg_changed(res[i]);
		PQclear(res[i]);
	}
	return r;
}

/* Records o[start..end) in one transaction on c; *chunk counts the
 * outcomes applied. The tasks routing asked for are created with their
 * event's completion (a crash keeps both or neither; the origins make a
 * second processing of the event find them), the chunk's creation locks
 * taken first, all at once and in key order. */
static int pg_finish_chunk(struct pg_conn *c, const char *owner, const struct store_outcome *o,
			   size_t start, size_t end, int64_t now_ms, size_t *chunk,
			   struct store_error *err)
{
	struct pg_task_batch b = { 0 };
	*chunk = 0;
	int r = pg_exec(c->conn, "BEGIN", "recording outcomes", err);
	for (size_t i = start; r == 0 && i < end; i++)
		if (pg_has_tasks(&o[i]))
			r = pg_task_batch_add(c, &b, o[i].tasks, o[i].n_tasks, err);
	if (r == 0)
		r = pg_task_batch_lock(c, &b, err);
	if (r == 0)
		r = pg_finish_plain(c, owner, o, start, end, now_ms, chunk, err);
	/* An outcome that creates tasks creates them only if it applied. */
	for (size_t i = start; r == 0 && i < end; i++) {
		if (!pg_has_tasks(&o[i]))
			continue;
		struct pg_args a;
		enum pg_stmt id = pg_finish_args(owner, &o[i], now_ms, &a);
		PGresult *res = NULL;
		r = pg_run(c, id, &a, &res, "recording an outcome", err);
		size_t changed = r == 0 ? pg_changed(res) : 0;
		PQclear(res);
		*chunk += changed;
		for (size_t k = 0; r == 0 && changed && k < o[i].n_tasks; k++)
			r = pg_task_insert(c, &b, &o[i].tasks[k], now_ms, err);
	}
	if (r == 0)
		r = pg_task_batch_end(c, &b, now_ms, err);
	if (r == 0)
		r = pg_exec(c->conn, "COMMIT", "committing outcomes", err);
	pg_task_batch_release(&b);
	return r;
}

static int pg_finish_events(struct store *base, const char *owner,
			    const struct store_outcome *o, size_t n, int64_t now_ms,
			    size_t *applied, struct store_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	struct pg_conn *c;
	int r = pg_acquire(s, &c, err);
	if (r < 0)
		return r;
	size_t count = 0;
	/* Each outcome stands alone, so chunks may commit separately; a
	 * failure leaves the rest leased, to be reclaimed. */
	for (size_t start = 0; r == 0 && start < n; start += PG_FINISH_CHUNK) {
		size_t end = start + PG_FINISH_CHUNK < n ? start + PG_FINISH_CHUNK : n;
		size_t chunk = 0;
		r = pg_finish_chunk(c, owner, o, start, end, now_ms, &chunk, err);
		if (r == 0)
			count += chunk;
	}
	pg_release(s, c);
	if (r == 0 && applied)
		*applied = count;
	return r;
}

static int pg_reclaim_expired(struct store *base, int64_t now_ms, size_t *reclaimed,
			      struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_i64(&a, now_ms);
	PGresult *res = NULL;
	int r = pg_query((struct pg_store *)base, PG_RECLAIM, &a, &res,
			 "reclaiming expired leases", err);
	if (r == 0 && reclaimed)
		*reclaimed = pg_changed(res);
	PQclear(res);
	return r;
}

int pg_read_one_sql(struct pg_store *s, int id, const char *sql, const struct pg_args *a,
		    const char *what, int64_t *ret, struct store_error *err)
{
	PGresult *res = NULL;
	int r = pg_query_sql(s, id, sql, a, &res, what, err);
	if (r == 0)
		*ret = PQntuples(res) > 0 ? pg_int(res, 0, 0) : INT64_MAX;
	PQclear(res);
	return r;
}

static int pg_read_one(struct pg_store *s, enum pg_stmt id, const struct pg_args *a,
		       const char *what, int64_t *ret, struct store_error *err)
{
	return pg_read_one_sql(s, (int)id, pg_sql[id], a, what, ret, err);
}

static int pg_next_due(struct store *base, int64_t *ret, struct store_error *err)
{
	return pg_read_one((struct pg_store *)base, PG_NEXT_DUE, NULL,
			   "reading the next due time", ret, err);
}

static int pg_oldest_pending(struct store *base, int64_t *ret, struct store_error *err)
{
	return pg_read_one((struct pg_store *)base, PG_OLDEST_PENDING, NULL,
			   "reading the oldest pending event", ret, err);
}

static int pg_purge_events(struct store *base, const char *status, int64_t before_ms,
			   size_t limit, size_t *purged, struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_i64(&a, before_ms);
	pg_arg_i64(&a, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
	bool completed = strcmp(status, "completed") == 0;
	PGresult *res = NULL;
	int r = pg_query((struct pg_store *)base, completed ? PG_PURGE_COMPLETED : PG_PURGE_DEAD,
			 &a, &res, completed ? "purging completed events" : "purging dead letters",
			 err);
	if (r == 0 && purged)
		*purged = pg_changed(res);
	PQclear(res);
	return r;
}

static int pg_retry_event(struct store *base, int64_t id, const char *only, int64_t now_ms,
			  struct store_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	struct pg_args a = { 0 };
	pg_arg_i64(&a, id);
	pg_arg_i64(&a, now_ms);
	pg_arg_text(&a, only ? only : "dead_letter");
	pg_arg_text(&a, only ? only : "completed");
	PGresult *res = NULL;
	int r = pg_query(s, PG_RETRY_ONE, &a, &res, "retrying an event", err);
	size_t changed = r == 0 ? (size_t)PQntuples(res) : 0;
	PQclear(res);
	if (r < 0 || changed)
		return r;
	/* Nothing changed: say whether the event is missing or in the
	 * wrong state. */
	struct pg_args b = { 0 };
	pg_arg_i64(&b, id);
	int64_t exists = INT64_MAX;
	if ((r = pg_read_one(s, PG_EVENT_EXISTS, &b, "looking up the event", &exists, err)) < 0)
		return r;
	return store_retry_refused(id, only, exists != INT64_MAX, err);
}

static int pg_retry_events(struct store *base, const char *status, int64_t now_ms,
			   int64_t after_id, size_t limit, size_t *count, int64_t *last_id,
			   struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_text(&a, status);
	pg_arg_i64(&a, now_ms);
	pg_arg_i64(&a, after_id);
	pg_arg_i64(&a, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
	PGresult *res = NULL;
	int r = pg_query((struct pg_store *)base, PG_RETRY_MANY, &a, &res, "retrying events", err);
	if (r < 0)
		return r;
	int64_t last = after_id;
	for (int i = 0; i < PQntuples(res); i++) {
		int64_t id = pg_int(res, i, 0);
		if (id > last)
			last = id;
	}
	*count = (size_t)PQntuples(res);
	*last_id = last;
	PQclear(res);
	return 0;
}

/* A nullable text column: NULL stays NULL; a failed copy sets *nomem. */
char *pg_dup_opt(const PGresult *res, int row, int col, bool *nomem)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	char *v = pg_dup(res, row, col, NULL);
	if (!v)
		*nomem = true;
	return v;
}

/* Reads the STORE_EVENT_ROW_COLUMNS of row i. */
static int pg_event_row(const PGresult *res, int i, struct store_event_row *r)
{
	memset(r, 0, sizeof(*r));
	bool nomem = false;
	char **text[] = { &r->provider, &r->route, &r->delivery_id, &r->event_type };
	for (int col = 1; col <= 4; col++)
		if (!(*text[col - 1] = pg_dup(res, i, col, NULL)))
			nomem = true;
	char **opt[] = { &r->action, &r->repository, &r->sender };
	for (int col = 5; col <= 7; col++)
		*opt[col - 5] = pg_dup_opt(res, i, col, &nomem);
	r->id = pg_int(res, i, 0);
	if (!(r->status = pg_dup(res, i, 8, NULL)))
		nomem = true;
	r->attempts = (int)pg_int(res, i, 9);
	r->max_attempts = (int)pg_int(res, i, 10);
	r->received_at_ms = pg_int(res, i, 11);
	r->updated_at_ms = pg_int(res, i, 12);
	r->next_attempt_at_ms = pg_int(res, i, 13);
	r->completed_at_ms = pg_int(res, i, 14);
	r->lease_owner = pg_dup_opt(res, i, 15, &nomem);
	r->lease_expires_at_ms = pg_int(res, i, 16);
	r->last_error = pg_dup_opt(res, i, 17, &nomem);
	r->duplicates = pg_int(res, i, 18);
	r->body_bytes = pg_int(res, i, 19);
	r->routing = pg_dup_opt(res, i, 20, &nomem);
	return nomem ? HQ_E_NOMEM : 0;
}

static int pg_list_events(struct store *base, const struct store_event_filter *f,
			  struct store_event_list *ret, struct store_error *err)
{
	size_t limit = f->limit ? f->limit : 50;
	struct pg_args a = { 0 };
	pg_arg_i64(&a, f->before_id > 0 ? f->before_id : INT64_MAX);
	if (f->status)
		pg_arg_text(&a, f->status);
	if (f->provider)
		pg_arg_text(&a, f->provider);
	pg_arg_i64(&a, limit >= INT64_MAX ? INT64_MAX : (int64_t)limit + 1);
	enum pg_stmt id = PG_LIST + (f->status ? 1 : 0) + (f->provider ? 2 : 0);
	PGresult *res = NULL;
	int r = pg_query((struct pg_store *)base, id, &a, &res, "listing events", err);
	if (r < 0)
		return r;
	size_t rows = (size_t)PQntuples(res);
	struct store_event_list l = { NULL, 0, rows > limit };
	if (rows > limit)
		rows = limit;
	if (rows && !(l.rows = calloc(rows, sizeof(*l.rows))))
		r = HQ_E_NOMEM;
	for (size_t i = 0; r == 0 && i < rows; i++) {
		r = pg_event_row(res, (int)i, &l.rows[i]);
		l.n++;
	}
	PQclear(res);
	if (r < 0) {
		store_event_list_release(&l);
		return r;
	}
	*ret = l;
	return 0;
}

static int pg_event_attempts(struct pg_conn *c, struct store_event_detail *d,
			     struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_i64(&a, d->row.id);
	PGresult *res = NULL;
	int r = pg_run(c, PG_GET_ATTEMPTS, &a, &res, "reading attempts", err);
	if (r < 0)
		return r;
	size_t n = (size_t)PQntuples(res);
	if (n && !(d->attempts = calloc(n, sizeof(*d->attempts))))
		r = HQ_E_NOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct store_attempt *at = &d->attempts[d->n_attempts++];
		bool nomem = false;
		at->attempt = (int)pg_int(res, (int)i, 0);
		at->started_at_ms = pg_int(res, (int)i, 1);
		at->finished_at_ms = pg_int(res, (int)i, 2);
		at->worker = pg_dup_opt(res, (int)i, 3, &nomem);
		at->outcome = pg_dup(res, (int)i, 4, NULL);
		at->error = pg_dup_opt(res, (int)i, 5, &nomem);
		if (nomem || !at->outcome)
			r = HQ_E_NOMEM;
	}
	PQclear(res);
	return r;
}

static int pg_get_event(struct store *base, int64_t id, size_t max_body,
			struct store_event_detail *ret, struct store_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	struct store_event_detail d;
	memset(&d, 0, sizeof(d));
	bool zstd = false;
	struct pg_conn *c;
	int r = pg_acquire(s, &c, err);
	if (r < 0)
		return r;
	/* One snapshot: the event and its attempts as of one moment. */
	r = pg_exec(c->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
		    "reading the event", err);
	PGresult *res = NULL;
	struct pg_args a = { 0 };
	pg_arg_i64(&a, id);
	if (r == 0)
		r = pg_run(c, PG_GET_EVENT, &a, &res, "reading the event", err);
	if (r == 0 && PQntuples(res) == 0) {
		store_error_set(err, "no event %lld", (long long)id);
		r = HQ_E_NOTFOUND;
	} else if (r == 0) {
		int n = STORE_EVENT_ROW_NCOLS;
		r = pg_event_row(res, 0, &d.row);
		d.headers_json = pg_dup(res, 0, n, NULL);
		d.body = pg_dup(res, 0, n + 1, &d.body_len);
		zstd = PQgetlength(res, 0, n + 2) == 4 &&
		       memcmp(PQgetvalue(res, 0, n + 2), "zstd", 4) == 0;
		if (r == 0 && (!d.headers_json || !d.body))
			r = HQ_E_NOMEM;
	}
	PQclear(res);
	if (r == 0)
		r = pg_event_attempts(c, &d, err);
	if (r == 0)
		r = pg_exec(c->conn, "COMMIT", "reading the event", err);
	pg_release(s, c);
	/* Decoded with the connection back in the pool, like claims. */
	return store_event_detail_done(&d, r, zstd, max_body, ret);
}

/* Dynamic routes: operator writes, rare; each statement commits alone at
 * the configured durability. */

int pg_write_sql(struct pg_store *s, int id, const char *sql, const struct pg_args *a,
		 const char *what, size_t *changed, struct store_error *err)
{
	PGresult *res = NULL;
	int r = pg_query_sql(s, id, sql, a, &res, what, err);
	*changed = r == 0 ? pg_changed(res) : 0;
	PQclear(res);
	return r;
}

static int pg_write(struct pg_store *s, enum pg_stmt id, const struct pg_args *a,
		    const char *what, size_t *changed, struct store_error *err)
{
	return pg_write_sql(s, (int)id, pg_sql[id], a, what, changed, err);
}

static int pg_webhook_create(struct store *base, const struct store_webhook *w,
			     int64_t now_ms, struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_text(&a, w->id);
	pg_arg_text(&a, w->provider);
	pg_arg_text(&a, w->name);
	pg_arg_text(&a, w->secret);
	pg_arg_text(&a, w->enabled ? "true" : "false");
	pg_arg_i64(&a, now_ms);
	PGresult *res = NULL;
	int r = pg_query((struct pg_store *)base, PG_WEBHOOK_CREATE, &a, &res, "creating a webhook",
			 err);
	PQclear(res);
	return r;
}

static int pg_webhook_update(struct store *base, const char *id, const char *name,
			     const char *secret, int enabled, int64_t now_ms,
			     struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_text(&a, id);
	pg_arg_text(&a, name);
	pg_arg_text(&a, secret);
	pg_arg_i64(&a, enabled);
	pg_arg_i64(&a, now_ms);
	size_t changed;
	int r = pg_write((struct pg_store *)base, PG_WEBHOOK_UPDATE, &a, "updating a webhook",
			 &changed, err);
	if (r == 0 && changed == 0) {
		store_error_set(err, "no webhook '%s'", id);
		return HQ_E_NOTFOUND;
	}
	return r;
}

static int pg_webhook_delete(struct store *base, const char *id, struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_text(&a, id);
	size_t changed;
	int r = pg_write((struct pg_store *)base, PG_WEBHOOK_DELETE, &a, "deleting a webhook",
			 &changed, err);
	if (r == 0 && changed == 0) {
		store_error_set(err, "no webhook '%s'", id);
		return HQ_E_NOTFOUND;
	}
	return r;
}

/* Wipes the secret column of a result before it is freed: libpq's copy
 * of it would otherwise stay in freed memory. */
static void pg_wipe_column(PGresult *res, int col)
{
	for (int i = 0; i < PQntuples(res); i++)
		crypto_cleanse(PQgetvalue(res, i, col), (size_t)PQgetlength(res, i, col));
}

/* The ack path's lookup: one row by primary key, no commands. */
static int pg_webhook_peek(struct store *base, const char *id, char *provider,
			   size_t provider_size, bool *enabled, char *secret, size_t secret_size,
			   bool *has_secret, struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_text(&a, id);
	PGresult *res = NULL;
	int r = pg_query((struct pg_store *)base, PG_WEBHOOK_PEEK, &a, &res, "looking up a webhook",
			 err);
	if (r < 0)
		return r;
	if (PQntuples(res) == 0) {
		store_error_set(err, "no webhook '%s'", id);
		r = HQ_E_NOTFOUND;
	} else {
		int plen = PQgetlength(res, 0, 0), slen = PQgetlength(res, 0, 2);
		*enabled = pg_int(res, 0, 1) != 0;
		*has_secret = !PQgetisnull(res, 0, 2);
		if ((size_t)plen >= provider_size || (size_t)slen >= secret_size) {
			r = HQ_E_TOOBIG;
		} else {
			snprintf(provider, provider_size, "%.*s", plen, PQgetvalue(res, 0, 0));
			snprintf(secret, secret_size, "%.*s", slen, PQgetvalue(res, 0, 2));
		}
		pg_wipe_column(res, 2);
	}
	PQclear(res);
	return r;
}

static int pg_webhook_commands(struct pg_conn *c, struct store_webhook *w,
			       struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_text(&a, w->id);
	PGresult *res = NULL;
	int r = pg_run(c, PG_WEBHOOK_COMMANDS, &a, &res, "reading webhook commands", err);
	if (r < 0)
		return r;
	size_t n = (size_t)PQntuples(res);
	if (n && !(w->commands = calloc(n, sizeof(*w->commands))))
		r = HQ_E_NOMEM;
	for (int i = 0; r == 0 && i < (int)n; i++) {
		struct store_webhook_command *cmd = &w->commands[w->n_commands++];
		bool nomem = false;
		snprintf(cmd->id, sizeof(cmd->id), "%.*s", PQgetlength(res, i, 0),
			 PQgetvalue(res, i, 0));
		cmd->trigger = pg_dup(res, i, 1, NULL);
		cmd->action = pg_dup(res, i, 2, NULL);
		cmd->agent = pg_dup_opt(res, i, 3, &nomem);
		cmd->template_text = pg_dup_opt(res, i, 4, &nomem);
		cmd->conditions_json = pg_dup_opt(res, i, 5, &nomem);
		cmd->priority = pg_int(res, i, 6);
		cmd->created_at_ms = pg_int(res, i, 7);
		cmd->updated_at_ms = pg_int(res, i, 8);
		if (nomem || !cmd->trigger || !cmd->action)
			r = HQ_E_NOMEM;
	}
	PQclear(res);
	return r;
}

/* One webhook (id) or all, with their commands, from one snapshot. */
static int pg_webhook_list(struct store *base, const char *id, struct store_webhook **ret,
			   size_t *n_ret, struct store_error *err)
{
	struct pg_store *s = (struct pg_store *)base;
	struct store_webhook *list = NULL;
	size_t n = 0;
	struct pg_conn *c;
	int r = pg_acquire(s, &c, err);
	if (r < 0)
		return r;
	r = pg_exec(c->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
		    "reading webhooks", err);
	struct pg_args a = { 0 };
	pg_arg_text(&a, id);
	PGresult *res = NULL;
	if (r == 0)
		r = pg_run(c, id ? PG_WEBHOOK_ONE : PG_WEBHOOK_ALL, id ? &a : NULL, &res,
			   "reading webhooks", err);
	size_t rows = r == 0 ? (size_t)PQntuples(res) : 0;
	if (rows && !(list = calloc(rows, sizeof(*list))))
		r = HQ_E_NOMEM;
	for (int i = 0; r == 0 && i < (int)rows; i++) {
		struct store_webhook *w = &list[n++];
		bool nomem = false;
		snprintf(w->id, sizeof(w->id), "%.*s", PQgetlength(res, i, 0), PQgetvalue(res, i, 0));
		w->provider = pg_dup(res, i, 1, NULL);
		w->name = pg_dup(res, i, 2, NULL);
		w->secret = pg_dup_opt(res, i, 3, &nomem);
		w->enabled = pg_int(res, i, 4) != 0;
		w->created_at_ms = pg_int(res, i, 5);
		w->updated_at_ms = pg_int(res, i, 6);
		if (nomem || !w->provider || !w->name)
			r = HQ_E_NOMEM;
	}
	if (res)
		pg_wipe_column(res, 3);
	PQclear(res);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = pg_webhook_commands(c, &list[i], err);
	if (r == 0)
		r = pg_exec(c->conn, "COMMIT", "reading webhooks", err);
	pg_release(s, c);
	if (r < 0) {
		store_webhook_list_release(list, n);
		return r;
	}
	*ret = list;
	*n_ret = n;
	return 0;
}

static int pg_webhook_command_put(struct store *base, const char *webhook_id,
				  const struct store_webhook_command *c, bool create,
				  int64_t now_ms, struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_text(&a, c->id);
	pg_arg_text(&a, webhook_id);
	pg_arg_text(&a, c->trigger);
	pg_arg_text(&a, c->action);
	pg_arg_text(&a, c->agent);
	pg_arg_text(&a, c->template_text);
	pg_arg_text(&a, c->conditions_json);
	pg_arg_i64(&a, c->priority);
	pg_arg_i64(&a, now_ms);
	size_t changed;
	int r = pg_write((struct pg_store *)base, create ? PG_COMMAND_CREATE : PG_COMMAND_UPDATE,
			 &a, "storing a webhook command", &changed, err);
	if (r == 0 && changed == 0) {
		if (create)
			store_error_set(err, "no webhook '%s'", webhook_id);
		else
			store_error_set(err, "no command '%s' in that webhook", c->id);
		return HQ_E_NOTFOUND;
	}
	return r;
}

static int pg_webhook_command_delete(struct store *base, const char *webhook_id,
				     const char *id, struct store_error *err)
{
	struct pg_args a = { 0 };
	pg_arg_text(&a, id);
	pg_arg_text(&a, webhook_id);
	size_t changed;
	int r = pg_write((struct pg_store *)base, PG_COMMAND_DELETE, &a,
			 "deleting a webhook command", &changed, err);
	if (r == 0 && changed == 0) {
		store_error_set(err, "no command '%s' in webhook '%s'", id, webhook_id);
		return HQ_E_NOTFOUND;
	}
	return r;
}

/* Operations not built yet: each fails, naming itself. */
static const struct store_ops pg_ops = {
	.close = pg_close,
	.insert_events = pg_insert_events,
	.count_events = pg_count_events,
	.schema_version = pg_schema_version,
	.claim_events = pg_claim_events,
	.finish_events = pg_finish_events,
	.reclaim_expired = pg_reclaim_expired,
	.next_due = pg_next_due,
	.oldest_pending = pg_oldest_pending,
	.retry_event = pg_retry_event,
	.retry_events = pg_retry_events,
	.purge_events = pg_purge_events,
	.list_events = pg_list_events,
	.get_event = pg_get_event,
	.webhook_create = pg_webhook_create,
	.webhook_update = pg_webhook_update,
	.webhook_delete = pg_webhook_delete,
	.webhook_peek = pg_webhook_peek,
	.webhook_list = pg_webhook_list,
	.webhook_command_put = pg_webhook_command_put,
	.webhook_command_delete = pg_webhook_command_delete,
};

int store_postgres_open(const char *url, const struct store_options *opt,
			struct store **ret, struct store_error *err)
{
	struct pg_store *s = calloc(1, sizeof(*s));
	if (!s)
		return HQ_E_NOMEM;
	s->base.ops = &pg_ops;
	s->base.task_ops = &pg_task_ops;
	s->base.outbox_ops = &pg_outbox_ops;
	s->base.node_ops = &pg_node_ops;
	s->opt = *opt;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	store_url_redact(url, s->redacted, sizeof(s->redacted));
	int r = HQ_E_NOMEM;
	s->url = strdup(url);
	if (!s->url)
		goto out_close;
	/* The first connection migrates, and stays in the pool. */
	struct pg_conn *c;
	if ((r = pg_acquire(s, &c, err)) < 0)
		goto out_close;
	struct store_error e2;
	r = pg_migrate(c->conn, &e2);
	if (r < 0)
		store_error_set(err, "database '%s': %s", s->redacted, e2.msg);
	pg_release(s, c);
	if (r < 0)
		goto out_close;
	*ret = &s->base;
	return 0;

out_close:
	pg_close(&s->base);
	return r;
}
