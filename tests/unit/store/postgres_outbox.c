/* store: the outbox (PostgreSQL backend) against a real server:
 * tests/pg/with-pg.sh starts one and exports HOOKQ_TEST_PG_URL; without
 * it this test fails. The contract's tests (contract_outbox.c) with this
 * backend's hooks, and what only a shared database has: several nodes
 * claiming, reclaiming and finishing at once. Every test starts from the
 * server's database migrated and its outbox and tasks emptied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>

#include "store/backend.h"
#include "store/postgres.h"
#include "contract_outbox.h"
#include "util/error.h"

static const struct store_options opts = { STORE_SYNC_NORMAL, 5000 };
static const char *server_url;
/* A connection of the test's own, past the store. */
static PGconn *direct;

/* One value as text ("" for NULL), read past the store. */
static void direct_value(const char *sql, char *out, size_t size)
{
	PGresult *res = PQexec(direct, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(direct));
	if (out)
		snprintf(out, size, "%s", st == PGRES_TUPLES_OK ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
}

static void assert_direct(const char *sql, const char *want)
{
	char got[256];
	direct_value(sql, got, sizeof(got));
	assert_string_equal(got, want);
}

int contract_outbox_setup(void **state)
{
	struct store *s = NULL;
	struct store_error err;
	if (store_postgres_open(server_url, &opts, &s, &err) < 0) {
		fprintf(stderr, "store_postgres_open: %s\n", err.msg);
		return -1;
	}
	direct_value("TRUNCATE outbox, tasks, flows, conversations RESTART IDENTITY", NULL, 0);
	*state = s;
	return 0;
}

int contract_outbox_teardown(void **state)
{
	store_close(*state);
	return 0;
}

struct store *contract_outbox_store(void **state)
{
	return *state;
}

struct new_task {
	const char *origin;
	const struct store_outbox_in *reply;
	int64_t now_ms;
	int64_t id;
};

/* The task's row by SQL (the PostgreSQL task operations are not built
 * yet), its reply by the backend's own pg_outbox_insert, as task creation
 * will call it: in one transaction, the reply only with a new task. */
static int new_task_txn(struct pg_conn *c, void *arg, struct store_error *err)
{
	struct new_task *t = arg;
	char now[24];
	snprintf(now, sizeof(now), "%lld", (long long)t->now_ms);
	const char *params[] = { t->origin, now };
	PGresult *res = PQexecParams(
		c->conn,
		"INSERT INTO tasks (origin, flow_id, conversation_id, agent, title, prompt,"
		" next_attempt_at, created_at, updated_at)"
		" VALUES ($1, 'flow-000000000001', 'conv-0000000000000001', 'a', 't', 'p',"
		"  $2::bigint, $2::bigint, $2::bigint)"
		" ON CONFLICT (origin) DO NOTHING RETURNING id",
		2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		int r = pg_fail(c->conn, res, "making a task", err);
		PQclear(res);
		return r;
	}
	bool created = PQntuples(res) == 1;
	PQclear(res);
	res = PQexecParams(c->conn, "SELECT id FROM tasks WHERE origin = $1", 1, NULL, params,
			   NULL, NULL, 0);
	t->id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	if (!created)
		return 0;
	char origin[128];
	snprintf(origin, sizeof(origin), "%s:%s", t->origin, t->reply->name);
	return pg_outbox_insert(c, t->reply, origin, t->id, t->now_ms, err);
}

int64_t contract_outbox_task(void **state, const char *origin,
			     const struct store_outbox_in *reply, int64_t now_ms)
{
	struct new_task t = { origin, reply, now_ms, 0 };
	struct store_error err;
	if (pg_txn(*state, new_task_txn, &t, "making a task", &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(t.id > 0);
	return t.id;
}

/* Several nodes: store handles of their own on one database, each with
 * threads of its own. */
enum { NODES = 2, THREADS = 2, REPLIES = 300 };

struct worker {
	struct store *store;
	char owner[16];
	pthread_barrier_t *start;
	int64_t now_ms;
	/* What it got. */
	int64_t ids[REPLIES];
	size_t n;
	int result;
	struct store_error err;
};

/* Opens NODES stores; worker i runs on node i / THREADS. */
static void nodes_open(struct store *nodes[NODES], struct worker *w, pthread_barrier_t *start,
		       int64_t now_ms)
{
	for (int i = 0; i < NODES; i++) {
		struct store_error err;
		if (store_postgres_open(server_url, &opts, &nodes[i], &err) < 0)
			fail_msg("node %d: %s", i, err.msg);
	}
	pthread_barrier_init(start, NULL, NODES * THREADS);
	for (int i = 0; i < NODES * THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].store = nodes[i / THREADS];
		snprintf(w[i].owner, sizeof(w[i].owner), "node%d", i / THREADS);
		w[i].start = start;
		w[i].now_ms = now_ms;
	}
}

static void nodes_run(struct worker *w, void *(*fn)(void *), pthread_barrier_t *start)
{
	pthread_t t[NODES * THREADS];
	for (int i = 0; i < NODES * THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, fn, &w[i]), 0);
	for (int i = 0; i < NODES * THREADS; i++) {
		pthread_join(t[i], NULL);
		if (w[i].result < 0)
			fail_msg("worker %d: %s", i, w[i].err.msg);
	}
	pthread_barrier_destroy(start);
}

static void nodes_close(struct store *nodes[NODES])
{
	for (int i = 0; i < NODES; i++)
		store_close(nodes[i]);
}

/* Writes REPLIES pending replies, due at 1000. */
static void write_replies(struct store *s)
{
	static struct store_outbox_in in[REPLIES];
	static char names[REPLIES][8];
	for (int i = 0; i < REPLIES; i++) {
		snprintf(names[i], sizeof(names[i]), "r%d", i);
		in[i] = (struct store_outbox_in){ names[i], "comment", "{}", "{}", 0 };
	}
	struct store_error err;
	assert_int_equal(store_outbox_write(s, 1, 0, in, REPLIES, 1000, &err), 0);
}

/* Claims a few at a time until nothing is left, sending each. */
static void *claimer_main(void *arg)
{
	struct worker *w = arg;
	pthread_barrier_wait(w->start);
	for (;;) {
		struct store_outbox_item *it;
		size_t n;
		w->result = store_outbox_claim(w->store, w->owner, w->now_ms, 60000, 5, &it, &n,
					       &w->err);
		if (w->result < 0 || n == 0)
			return NULL;
		for (size_t i = 0; i < n && w->result == 0; i++) {
			w->ids[w->n++] = it[i].id;
			struct store_outbox_end sent = { .outcome = STORE_OUTBOX_SENT };
			w->result = store_outbox_finish(w->store, it[i].id, w->owner, &sent,
							w->now_ms, &w->err);
		}
		store_outbox_items_release(it, n);
		if (w->result < 0)
			return NULL;
	}
}

static void two_nodes_claiming_together_never_take_the_same_reply(void **state)
{
	write_replies(*state);
	struct store *nodes[NODES];
	struct worker w[NODES * THREADS];
	pthread_barrier_t start;
	nodes_open(nodes, w, &start, 2000);
	nodes_run(w, claimer_main, &start);
	static int seen[REPLIES + 1];
	memset(seen, 0, sizeof(seen));
	size_t total = 0;
	int busy = 0;
	for (int i = 0; i < NODES * THREADS; i++) {
		total += w[i].n;
		busy += w[i].n > 0;
		for (size_t j = 0; j < w[i].n; j++) {
			assert_in_range(w[i].ids[j], 1, REPLIES);
			if (++seen[w[i].ids[j]] > 1)
				fail_msg("reply %lld was claimed twice", (long long)w[i].ids[j]);
		}
	}
	assert_int_equal(total, REPLIES);
	if (busy < 2)
		fail_msg("one worker claimed everything: the test raced nobody");
	nodes_close(nodes);
	assert_direct("SELECT count(*) FROM outbox WHERE status = 'sent' AND attempts = 1", "300");
}

static void *reclaimer_main(void *arg)
{
	struct worker *w = arg;
	pthread_barrier_wait(w->start);
	w->result = store_outbox_reclaim(w->store, w->now_ms, &w->n, &w->err);
	return NULL;
}

static void two_nodes_reclaiming_together_bring_each_reply_back_once(void **state)
{
	struct store *s = *state;
	write_replies(s);
	enum { ROUNDS = 3 };
	for (int round = 0; round < ROUNDS; round++) {
		/* A node claims them all and dies: its leases run out at t + 1000. */
		int64_t t = 1000 + round * 10000;
		struct store_outbox_item *it;
		size_t n;
		struct store_error err;
		assert_int_equal(store_outbox_claim(s, "dead", t, 1000, REPLIES, &it, &n, &err), 0);
		assert_int_equal(n, REPLIES);
		store_outbox_items_release(it, n);
		struct store *nodes[NODES];
		struct worker w[NODES * THREADS];
		pthread_barrier_t start;
		nodes_open(nodes, w, &start, t + 1000);
		nodes_run(w, reclaimer_main, &start);
		size_t total = 0;
		for (int i = 0; i < NODES * THREADS; i++)
			total += w[i].n;
		nodes_close(nodes);
		assert_int_equal(total, REPLIES);
	}
	char want[64];
	snprintf(want, sizeof(want), "%d", REPLIES);
	assert_direct("SELECT count(*) FROM outbox WHERE status = 'pending' AND uncertain"
		      " AND attempts = 3 AND lease_owner IS NULL",
		      want);
}

static void a_finish_by_another_node_changes_nothing(void **state)
{
	struct store *s = *state;
	contract_outbox_task(state, "api:x", &contract_outbox_eyes, 1000);
	struct store_outbox_item *it;
	size_t n;
	struct store_error err;
	assert_int_equal(store_outbox_claim(s, "node0", 1000, 5000, 1, &it, &n, &err), 0);
	assert_int_equal(n, 1);
	int64_t id = it[0].id;
	store_outbox_items_release(it, n);
	struct store *other;
	assert_int_equal(store_postgres_open(server_url, &opts, &other, &err), 0);
	struct store_outbox_end ends[] = {
		{ .outcome = STORE_OUTBOX_SENT, .result = "77" },
		{ .outcome = STORE_OUTBOX_RETRY, .next_attempt_at_ms = 9, .error = "e",
		  .uncertain = true },
		{ .outcome = STORE_OUTBOX_DEAD, .error = "e" },
	};
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		assert_int_equal(store_outbox_finish(other, id, "node1", &ends[i], 2000, &err),
				 HQ_E_CONFLICT);
		assert_string_equal(err.msg, "reply 1 is not being sent by this node");
	}
	store_close(other);
	assert_direct("SELECT concat_ws(' ', status, lease_owner, lease_expires_at, attempts,"
		      " uncertain, coalesce(result, '-'), coalesce(last_error, '-'), updated_at,"
		      " next_attempt_at) FROM outbox",
		      "sending node0 6000 1 f - - 1000 1000");
	/* The owner still can. */
	struct store_outbox_end sent = { .outcome = STORE_OUTBOX_SENT, .result = "77" };
	assert_int_equal(store_outbox_finish(s, id, "node0", &sent, 2000, &err), 0);
}

int main(void)
{
	server_url = getenv("HOOKQ_TEST_PG_URL");
	if (!server_url || !*server_url) {
		fprintf(stderr, "store/postgres_outbox: HOOKQ_TEST_PG_URL is not set: run this test"
				" through tests/pg/with-pg.sh (meson test does)\n");
		return 1;
	}
	direct = PQconnectdb(server_url);
	if (PQstatus(direct) != CONNECTION_OK) {
		fprintf(stderr, "store/postgres_outbox: cannot connect to the test server: %s",
			PQerrorMessage(direct));
		PQfinish(direct);
		return 1;
	}
	PQclear(PQexec(direct, "SET client_min_messages = warning"));
#define T(name) cmocka_unit_test_setup_teardown(name, contract_outbox_setup, contract_outbox_teardown)
	const struct CMUnitTest tests[] = {
		T(two_nodes_claiming_together_never_take_the_same_reply),
		T(two_nodes_reclaiming_together_bring_each_reply_back_once),
		T(a_finish_by_another_node_changes_nothing),
	};
#undef T
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	failed += contract_outbox_run();
	PQfinish(direct);
	return failed;
}
