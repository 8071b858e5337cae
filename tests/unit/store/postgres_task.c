/* The PostgreSQL store's task operations against a real server
 * (tests/pg/with-pg.sh starts one and exports HOOKQ_TEST_PG_URL): the
 * contract's tests (contract_task.c), then what only several nodes on one
 * database can show: two store handles ("nodes") with two threads each
 * racing to start, rescue and create the same tasks. One database serves
 * every test, emptied before each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>

#include "store/backend.h"
#include "store/store.h"
#include "contract_task.h"
#include "util/crypto.h"
#include "util/error.h"

#define LEASE 30000
#define CLAIM_TTL 60000
/* Tasks each race runs over. */
#define RACE_TASKS 200
#define NODES 2
#define THREADS_PER_NODE 2
#define RACERS (NODES * THREADS_PER_NODE)

static const struct store_options opts = { STORE_SYNC_FULL, 5000 };

/* The test database's URL, and a connection to it past the store. */
static char db_url[512];
static PGconn *db;

struct nodes {
	struct store *node[NODES];
};

static void db_exec(const char *sql)
{
	PGresult *res = PQexec(db, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(db));
	PQclear(res);
}

static struct store *open_node(void)
{
	struct store *s = NULL;
	struct store_error err;
	if (store_postgres_open(db_url, &opts, &s, &err) < 0)
		fail_msg("store_postgres_open: %s", err.msg);
	return s;
}

/* contract_task.h: the store (migrated once opened) with every table
 * emptied and the change counter back at 0. */
int contract_task_setup(void **state)
{
	struct nodes *n = calloc(1, sizeof(*n));
	if (!n)
		return -1;
	for (int i = 0; i < NODES; i++)
		n->node[i] = open_node();
	PGresult *res = PQexec(db, "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables"
				   " WHERE schemaname = 'public'"
				   " AND tablename NOT IN ('schema_migrations', 'task_changes')");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	char sql[1024];
	snprintf(sql, sizeof(sql), "TRUNCATE %s RESTART IDENTITY", PQgetvalue(res, 0, 0));
	PQclear(res);
	db_exec(sql);
	db_exec("UPDATE task_changes SET seq = 0");
	*state = n;
	return 0;
}

int contract_task_teardown(void **state)
{
	struct nodes *n = *state;
	for (int i = 0; i < NODES; i++)
		store_close(n->node[i]);
	free(n);
	return 0;
}

struct store *contract_task_store(void **state)
{
	return ((struct nodes *)*state)->node[0];
}

void contract_task_query(void **state, const char *sql, char *out, size_t size)
{
	(void)state;
	PGresult *res = PQexec(db, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(db));
	assert_int_equal(PQntuples(res), 1);
	snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
}

static int64_t query_int(void **state, const char *sql)
{
	char out[32];
	contract_task_query(state, sql, out, sizeof(out));
	return strtoll(out, NULL, 10);
}

/* RACE_TASKS queued tasks without a project, ids 1 to RACE_TASKS. */
static void create_race_tasks(struct store *s, int64_t now_ms)
{
	static char origins[RACE_TASKS][16];
	struct store_task_in *t = calloc(RACE_TASKS, sizeof(*t));
	assert_non_null(t);
	for (int i = 0; i < RACE_TASKS; i++) {
		snprintf(origins[i], sizeof(origins[i]), "api:%d", i);
		t[i].origin = origins[i];
		t[i].flow_id = "flow-936d345a2ddc";
		t[i].external_id = "github:o/r#12";
		t[i].agent = "claude";
		t[i].title = "race";
		t[i].prompt = "race";
		t[i].max_attempts = 3;
	}
	struct store_error err;
	int r = store_create_tasks(s, t, RACE_TASKS, now_ms, &err);
	int64_t last = t[RACE_TASKS - 1].id;
	free(t);
	if (r < 0)
		fail_msg("creating the tasks: %s", err.msg);
	assert_int_equal(last, RACE_TASKS);
}

struct racer {
	struct store *s;
	pthread_barrier_t *go;
	char owner[16], worker[16];
	_Atomic int *hits; /* per task id */
	int failures;
	struct store_error err;
};

static void *starter_main(void *arg)
{
	struct racer *x = arg;
	unsigned char hash[CRYPTO_SHA256_LEN];
	memset(hash, 0x5a, sizeof(hash));
	pthread_barrier_wait(x->go);
	for (;;) {
		struct store_candidates c;
		if (store_task_candidates(x->s, x->owner, 2000, 8, false, &c, &x->err) < 0) {
			x->failures++;
			break;
		}
		size_t n = c.n;
		for (size_t i = 0; i < n; i++) {
			struct store_task t;
			struct store_error err;
			int r = store_task_start(x->s, c.tasks[i].id, x->worker, x->owner, "host", hash,
						 2000, LEASE, CLAIM_TTL, &t, &err);
			if (r == 0) {
				if (c.tasks[i].id >= 1 && c.tasks[i].id <= RACE_TASKS)
					x->hits[c.tasks[i].id]++;
				store_task_release(&t);
			} else if (r != HQ_E_CONFLICT) {
				x->err = err;
				x->failures++;
			}
		}
		store_candidates_release(&c);
		if (n == 0)
			break;
	}
	return NULL;
}

/* Runs fn on two threads of each node at once. */
static void race(struct nodes *n, void *(*fn)(void *), _Atomic int *hits)
{
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, RACERS);
	struct racer x[RACERS];
	pthread_t th[RACERS];
	memset(x, 0, sizeof(x));
	for (int i = 0; i < RACERS; i++) {
		x[i].s = n->node[i / THREADS_PER_NODE];
		x[i].go = &go;
		x[i].hits = hits;
		snprintf(x[i].owner, sizeof(x[i].owner), "node-%d", i / THREADS_PER_NODE + 1);
		snprintf(x[i].worker, sizeof(x[i].worker), "w%d", i + 1);
		assert_int_equal(pthread_create(&th[i], NULL, fn, &x[i]), 0);
	}
	for (int i = 0; i < RACERS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < RACERS; i++)
		if (x[i].failures)
			fail_msg("%s/%s: %d failures, the last: %s", x[i].owner, x[i].worker,
				 x[i].failures, x[i].err.msg);
}

static void hits_clear(_Atomic int *hits)
{
	for (int id = 0; id <= RACE_TASKS; id++)
		atomic_store(&hits[id], 0);
}

static void assert_each_hit_once(const _Atomic int *hits)
{
	for (int id = 1; id <= RACE_TASKS; id++)
		if (hits[id] != 1)
			fail_msg("task %d: %d times, not once", id, (int)hits[id]);
}

static void two_nodes_starting_together_start_each_task_once(void **state)
{
	struct nodes *n = *state;
	create_race_tasks(n->node[0], 1000);
	static _Atomic int started[RACE_TASKS + 1];
	hits_clear(started);
	race(n, starter_main, started);
	assert_each_hit_once(started);
	assert_int_equal(query_int(state, "SELECT count(*) FROM tasks WHERE status = 'running'"
					  " AND attempts = 1"),
			 RACE_TASKS);
	/* Every start a change of its own, numbered once. */
	assert_int_equal(query_int(state, "SELECT count(DISTINCT change_seq) FROM tasks"),
			 RACE_TASKS);
}

static void *reclaimer_main(void *arg)
{
	struct racer *x = arg;
	pthread_barrier_wait(x->go);
	for (int round = 0; round < 3; round++) {
		struct store_lost_task *lost = NULL;
		size_t n = 0;
		if (store_task_reclaim(x->s, 1000 + LEASE, NULL, 0, &lost, &n, &x->err) < 0) {
			x->failures++;
			break;
		}
		for (size_t i = 0; i < n; i++)
			if (lost[i].id >= 1 && lost[i].id <= RACE_TASKS)
				x->hits[lost[i].id]++;
		store_lost_tasks_release(lost, n);
	}
	return NULL;
}

static void two_nodes_reclaiming_together_rescue_each_task_once(void **state)
{
	struct nodes *n = *state;
	create_race_tasks(n->node[0], 1000);
	unsigned char hash[CRYPTO_SHA256_LEN];
	memset(hash, 0x5a, sizeof(hash));
	for (int64_t id = 1; id <= RACE_TASKS; id++) {
		struct store_task t;
		struct store_error err;
		if (store_task_start(n->node[0], id, "w0", "node-dead", "host", hash, 1000, LEASE,
				     CLAIM_TTL, &t, &err) < 0)
			fail_msg("starting %lld: %s", (long long)id, err.msg);
		store_task_release(&t);
	}
	static _Atomic int rescued[RACE_TASKS + 1];
	hits_clear(rescued);
	race(n, reclaimer_main, rescued);
	assert_each_hit_once(rescued);
	assert_int_equal(query_int(state, "SELECT count(*) FROM tasks WHERE status = 'queued'"
					  " AND attempts = 1"),
			 RACE_TASKS);
	assert_int_equal(query_int(state, "SELECT count(*) FROM task_attempts"
					  " WHERE outcome = 'lost'"),
			 RACE_TASKS);
}

/* The same origins, created by every racer in batches of 4 in an order of
 * its own, in 5 flows. */
#define ORIGINS 40

static void *creator_main(void *arg)
{
	struct racer *x = arg;
	int offset = (x->worker[1] - '1') * 12;
	pthread_barrier_wait(x->go);
	for (int b = 0; b < ORIGINS / 4; b++) {
		struct store_task_in t[4];
		char origin[4][16], flow[4][24], ext[4][16];
		memset(t, 0, sizeof(t));
		for (int k = 0; k < 4; k++) {
			int i = (offset + b * 4 + (x->worker[1] % 2 ? k : 3 - k)) % ORIGINS;
			snprintf(origin[k], sizeof(origin[k]), "api:%d", i);
			snprintf(flow[k], sizeof(flow[k]), "flow-00000000000%d", i % 5);
			snprintf(ext[k], sizeof(ext[k]), "ext:%d", i % 5);
			t[k].origin = origin[k];
			t[k].flow_id = flow[k];
			t[k].external_id = ext[k];
			t[k].agent = "claude";
			t[k].title = "race";
			t[k].prompt = "race";
		}
		if (store_create_tasks(x->s, t, 4, 1000, &x->err) < 0) {
			x->failures++;
			continue;
		}
		for (int k = 0; k < 4; k++)
			if (!t[k].duplicate && t[k].id >= 1 && t[k].id <= RACE_TASKS)
				x->hits[t[k].id]++;
	}
	return NULL;
}

static void concurrent_creations_of_the_same_origins_make_one_task_each(void **state)
{
	struct nodes *n = *state;
	static _Atomic int created[RACE_TASKS + 1];
	hits_clear(created);
	race(n, creator_main, created);
	assert_int_equal(query_int(state, "SELECT count(*) FROM tasks"), ORIGINS);
	assert_int_equal(query_int(state, "SELECT count(DISTINCT origin) FROM tasks"), ORIGINS);
	assert_int_equal(query_int(state, "SELECT count(*) FROM flows"), 5);
	assert_int_equal(query_int(state, "SELECT count(*) FROM conversations"), 5);
	assert_int_equal(query_int(state, "SELECT sum(tasks) FROM conversations"), ORIGINS);
	/* Each task reported new exactly once, to whichever racer made it. */
	int64_t max_id = query_int(state, "SELECT max(id) FROM tasks");
	assert_true(max_id <= RACE_TASKS);
	int news = 0;
	for (int64_t id = 1; id <= max_id; id++) {
		assert_true(created[id] <= 1);
		news += created[id];
	}
	assert_int_equal(news, ORIGINS);
}

/* Every operation at once on both nodes: creations in shared flows,
 * starts on shared projects, heartbeats, ends, cancels and rescues that
 * take one another's tasks. Any error but a lost race (a conflict) fails,
 * so a deadlock between nodes (HQ_E_BUSY) does too. */
#define LIFE_ROUNDS 40

static bool lost_race(int r)
{
	return r == 0 || r == HQ_E_CONFLICT || r == HQ_E_NOTFOUND;
}

static void *life_main(void *arg)
{
	struct racer *x = arg;
	unsigned char hash[CRYPTO_SHA256_LEN];
	memset(hash, 0x5a, sizeof(hash));
	int me = x->worker[1] - '0';
	pthread_barrier_wait(x->go);
	for (int round = 0; round < LIFE_ROUNDS; round++) {
		int64_t now = 1000 + round * 1000;
		struct store_task_in t[3];
		char origin[3][24], flow[3][24], ext[3][16], project[3][8];
		memset(t, 0, sizeof(t));
		for (int k = 0; k < 3; k++) {
			int i = (round + k * 7 + me) % 9;
			snprintf(origin[k], sizeof(origin[k]), "api:%d:%d", round, i);
			snprintf(flow[k], sizeof(flow[k]), "flow-00000000000%d", i % 3);
			snprintf(ext[k], sizeof(ext[k]), "ext:%d", i % 3);
			snprintf(project[k], sizeof(project[k]), "p%d", i % 4);
			t[k] = (struct store_task_in){ .origin = origin[k], .flow_id = flow[k],
						       .external_id = ext[k], .agent = "claude",
						       .title = "t", .prompt = "p", .max_attempts = 2,
						       .project = project[k],
						       .new_conversation = round % 5 == me };
		}
		struct store_error err;
		int r = store_create_tasks(x->s, t, 3, now, &err);
		struct store_candidates c = { 0 };
		if (r == 0)
			r = store_task_candidates(x->s, x->owner, now, 4, false, &c, &err);
		int64_t held[4];
		int attempts[4];
		size_t n_held = 0;
		for (size_t i = 0; r == 0 && i < c.n; i++) {
			struct store_task st;
			int r2 = store_task_start(x->s, c.tasks[i].id, x->worker, x->owner, "h", hash,
						  now, LEASE, CLAIM_TTL, &st, &err);
			if (r2 == 0) {
				held[n_held] = st.id;
				attempts[n_held++] = st.attempts;
				store_task_release(&st);
			} else if (!lost_race(r2)) {
				r = r2;
			}
		}
		store_candidates_release(&c);
		int64_t *cancel = NULL;
		size_t n_cancel = 0;
		if (r == 0)
			r = store_task_heartbeat(x->s, x->owner, held, n_held, now + 10, LEASE,
						 CLAIM_TTL, &cancel, &n_cancel, &err);
		free(cancel);
		bool running;
		if (r == 0 && n_held > 1) {
			int r2 = store_task_cancel(x->s, held[1], now + 20, &running, &err);
			r = lost_race(r2) ? 0 : r2;
		}
		/* Rescues from the future: other nodes' running tasks too. */
		if (r == 0 && round % 4 == me % 4) {
			struct store_lost_task *lost = NULL;
			size_t n_lost = 0;
			r = store_task_reclaim(x->s, now + 2 * LEASE, held, n_held, &lost, &n_lost,
					       &err);
			store_lost_tasks_release(lost, n_lost);
		}
		for (size_t i = 0; r == 0 && i < n_held; i++) {
			static const struct store_task_end done = { .status = "succeeded",
								    .run_ms = 5 };
			int r2 = store_task_finish(x->s, held[i], x->owner, x->worker, attempts[i],
						   &done, now + 30, CLAIM_TTL, &err);
			if (!lost_race(r2))
				r = r2;
		}
		if (r < 0) {
			x->err = err;
			x->failures++;
			break;
		}
	}
	return NULL;
}

/* Follows the changes as a task-file sync does, while the nodes write:
 * what it last saw of each task, by change number. */
struct follower {
	struct store *s;
	atomic_bool *stop;
	int64_t seen[LIFE_ROUNDS * RACERS * 3 + 1];
	int failures;
	struct store_error err;
};

static void *follower_main(void *arg)
{
	struct follower *x = arg;
	int64_t cursor = 0;
	for (;;) {
		bool last = atomic_load(x->stop);
		struct store_task_list l;
		if (store_tasks_changed(x->s, cursor, 50, &l, &x->err) < 0) {
			x->failures++;
			return NULL;
		}
		for (size_t i = 0; i < l.n; i++) {
			int64_t id = l.rows[i].id;
			if (id >= 1 && id < (int64_t)(sizeof(x->seen) / sizeof(x->seen[0])))
				x->seen[id] = l.rows[i].change_seq;
			cursor = l.rows[i].change_seq;
		}
		bool more = l.more;
		store_task_list_release(&l);
		if (last && !more)
			return NULL;
	}
}

static void nodes_running_every_operation_together_neither_deadlock_nor_skip_changes(
	void **state)
{
	struct nodes *n = *state;
	static _Atomic int unused[RACE_TASKS + 1];
	atomic_bool stop = false;
	struct follower *fw = calloc(1, sizeof(*fw));
	assert_non_null(fw);
	fw->s = n->node[1];
	fw->stop = &stop;
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, follower_main, fw), 0);
	race(n, life_main, unused);
	atomic_store(&stop, true);
	pthread_join(th, NULL);
	int failures = fw->failures;
	char msg[STORE_ERROR_MAX];
	snprintf(msg, sizeof(msg), "%s", fw->err.msg);
	int64_t seen[sizeof(fw->seen) / sizeof(fw->seen[0])];
	memcpy(seen, fw->seen, sizeof(seen));
	free(fw);
	if (failures)
		fail_msg("following changes: %s", msg);
	/* Every task's last change reached the follower: numbers are handed
	 * out in commit order, so none committed behind its cursor. */
	int64_t tasks = query_int(state, "SELECT count(*) FROM tasks");
	assert_true(tasks > 0 && tasks < (int64_t)(sizeof(seen) / sizeof(seen[0])));
	for (int64_t id = 1; id <= tasks; id++) {
		char sql[96];
		snprintf(sql, sizeof(sql), "SELECT change_seq FROM tasks WHERE id = %lld",
			 (long long)id);
		if (query_int(state, sql) != seen[id])
			fail_msg("task %lld: the follower missed its last change", (long long)id);
	}
	assert_int_equal(query_int(state, "SELECT sum(tasks) FROM conversations"), tasks);
	assert_int_equal(query_int(state, "SELECT count(*) FROM tasks WHERE status = 'running'"),
			 0);
	/* One claim per project, held by a worker that ran one of its tasks. */
	assert_int_equal(query_int(state, "SELECT count(*) FROM claims c WHERE NOT EXISTS"
					  " (SELECT 1 FROM tasks t WHERE t.project = c.project"
					  "  AND t.worker = c.worker)"),
			 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, contract_task_setup, contract_task_teardown)

int main(void)
{
	const char *server_url = getenv("HOOKQ_TEST_PG_URL");
	if (!server_url || !*server_url) {
		fprintf(stderr, "store/postgres_task: HOOKQ_TEST_PG_URL is not set: run this test"
				" through tests/pg/with-pg.sh (meson test does), which starts a"
				" PostgreSQL server\n");
		return 1;
	}
	/* A database of its own on the server (another test may share it). */
	PGconn *admin = PQconnectdb(server_url);
	if (PQstatus(admin) != CONNECTION_OK) {
		fprintf(stderr, "store/postgres_task: cannot connect to the test server: %s",
			PQerrorMessage(admin));
		PQfinish(admin);
		return 1;
	}
	PQclear(PQexec(admin, "SET client_min_messages = warning"));
	PQclear(PQexec(admin, "DROP DATABASE IF EXISTS hq_task_test WITH (FORCE)"));
	PGresult *res = PQexec(admin, "CREATE DATABASE hq_task_test");
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	const char *slash = strrchr(server_url, '/');
	if (!ok || !slash) {
		fprintf(stderr, "store/postgres_task: cannot create the test database: %s",
			PQerrorMessage(admin));
		PQfinish(admin);
		return 1;
	}
	snprintf(db_url, sizeof(db_url), "%.*s/hq_task_test", (int)(slash - server_url),
		 server_url);
	/* The store migrates the database; the tests' own connection comes
	 * after. */
	struct store *first = NULL;
	struct store_error err;
	if (store_postgres_open(db_url, &opts, &first, &err) < 0) {
		fprintf(stderr, "store/postgres_task: store_postgres_open: %s\n", err.msg);
		PQfinish(admin);
		return 1;
	}
	store_close(first);
	db = PQconnectdb(db_url);
	PQclear(PQexec(db, "SET client_min_messages = warning"));
	const struct CMUnitTest tests[] = {
		T(two_nodes_starting_together_start_each_task_once),
		T(two_nodes_reclaiming_together_rescue_each_task_once),
		T(concurrent_creations_of_the_same_origins_make_one_task_each),
		T(nodes_running_every_operation_together_neither_deadlock_nor_skip_changes),
	};
	int failed = cmocka_run_group_tests_name("store postgres tasks", tests, NULL, NULL);
	failed += contract_task_run();
	PQfinish(db);
	PQclear(PQexec(admin, "DROP DATABASE IF EXISTS hq_task_test WITH (FORCE)"));
	PQfinish(admin);
	return failed;
}
