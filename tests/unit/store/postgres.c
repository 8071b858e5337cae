/* The PostgreSQL store against a real server: tests/pg/with-pg.sh starts
 * one and exports HOOKQ_TEST_PG_URL. Without it this test fails: it never
 * passes without having run. Each test gets a database of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>

#include "store/backend.h"
#include "store/migration.h"
#include "store/store.h"
#include "contract.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/zstd.h"

static const struct store_options opts = { STORE_SYNC_FULL, 5000 };

/* The server's URL and a connection to its maintenance database. */
static const char *server_url;
static PGconn *admin;
static int databases;

struct fixture {
	char db[32];
	char url[256];
	struct store *store;
};

/* The server's URL with another database name. */
static void url_for(const char *db, char *out, size_t size)
{
	const char *slash = strrchr(server_url, '/');
	assert_non_null(slash);
	snprintf(out, size, "%.*s/%s", (int)(slash - server_url), server_url, db);
}

static void admin_exec(const char *sql)
{
	PGresult *res = PQexec(admin, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(admin));
	PQclear(res);
}

/* A fresh, empty database (not migrated). */
static void fixture_database(struct fixture *f)
{
	snprintf(f->db, sizeof(f->db), "hq_test_%d", ++databases);
	char sql[96];
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->db);
	admin_exec(sql);
	url_for(f->db, f->url, sizeof(f->url));
}

static int setup_empty(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	fixture_database(f);
	*state = f;
	return 0;
}

/* contract.h: a fresh, migrated store. */
int contract_setup(void **state)
{
	setup_empty(state);
	struct fixture *f = *state;
	struct store_error err;
	if (store_postgres_open(f->url, &opts, &f->store, &err) < 0) {
		fprintf(stderr, "store_postgres_open: %s\n", err.msg);
		return -1;
	}
	return 0;
}

int contract_teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->store);
	char sql[96];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->db);
	admin_exec(sql);
	free(f);
	return 0;
}

/* One value of the test database as text ("" for NULL). */
static void query_text(struct fixture *f, const char *sql, const char *param, char *out,
		       size_t size)
{
	PGconn *conn = PQconnectdb(f->url);
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	const char *params[] = { param };
	PGresult *res = PQexecParams(conn, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(conn));
	assert_int_equal(PQntuples(res), 1);
	snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(conn);
}

/* The other hooks of contract.h. */

struct store *contract_store(void **state)
{
	return ((struct fixture *)*state)->store;
}

void contract_reopen(void **state)
{
	struct fixture *f = *state;
	store_close(f->store);
	f->store = NULL;
	struct store_error err;
	if (store_postgres_open(f->url, &opts, &f->store, &err) < 0)
		fail_msg("reopening: %s", err.msg);
}

int64_t contract_count_rows(void **state, const char *table)
{
	char sql[96], out[32];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	query_text(*state, sql, NULL, out, sizeof(out));
	return strtoll(out, NULL, 10);
}

void contract_column(void **state, int64_t id, const char *column, char *out, size_t size)
{
	char sql[160], idtext[24];
	snprintf(sql, sizeof(sql), "SELECT coalesce(%s::text, '') FROM events WHERE id = $1::bigint",
		 column);
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	query_text(*state, sql, idtext, out, size);
}

static void assert_query(struct fixture *f, const char *sql, const char *want)
{
	char got[512];
	query_text(f, sql, NULL, got, sizeof(got));
	assert_string_equal(got, want);
}

struct opener {
	pthread_barrier_t *start;
	const char *url;
	struct store *store;
	int result;
	struct store_error err;
};

static void *open_main(void *arg)
{
	struct opener *o = arg;
	pthread_barrier_wait(o->start);
	o->result = store_postgres_open(o->url, &opts, &o->store, &o->err);
	return NULL;
}

static void migrations_run_once_when_nodes_start_together(void **state)
{
	struct fixture *f = *state;
	enum { NODES = 4 };
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, NODES);
	struct opener o[NODES];
	pthread_t t[NODES];
	for (int i = 0; i < NODES; i++) {
		memset(&o[i], 0, sizeof(o[i]));
		o[i].start = &start;
		o[i].url = f->url;
		assert_int_equal(pthread_create(&t[i], NULL, open_main, &o[i]), 0);
	}
	for (int i = 0; i < NODES; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < NODES; i++) {
		if (o[i].result < 0)
			fail_msg("node %d: %s", i, o[i].err.msg);
		int version = 0;
		struct store_error err;
		assert_int_equal(store_schema_version(o[i].store, &version, &err), 0);
		assert_int_equal(version, 9);
		store_close(o[i].store);
	}
	assert_query(f, "SELECT count(*)::text || ' ' || count(DISTINCT version)::text"
			" FROM schema_migrations", "9 9");
	assert_query(f, "SELECT string_agg(name, ',' ORDER BY version) FROM schema_migrations",
		     "0001_events.sql,0002_processing.sql,0003_attempts.sql,0004_routing.sql,"
		     "0005_webhooks.sql,0006_tasks.sql,0007_outbox.sql,0008_nodes.sql,"
		     "0009_event_bodies.sql");
}

static void reopening_applies_nothing(void **state)
{
	struct fixture *f = *state;
	char before[64];
	query_text(f, "SELECT max(applied_at)::text FROM schema_migrations", NULL, before,
		   sizeof(before));
	contract_reopen(state);
	assert_query(f, "SELECT count(*)::text FROM schema_migrations", "9");
	assert_query(f, "SELECT max(applied_at)::text FROM schema_migrations", before);
}

/* A SQLite store in a temporary directory, to compare with. */
struct lite {
	char dir[32];
	char path[64];
	struct store *store;
};

static void lite_open(struct lite *l)
{
	snprintf(l->dir, sizeof(l->dir), "/tmp/hookq-pglite-XXXXXX");
	assert_non_null(mkdtemp(l->dir));
	snprintf(l->path, sizeof(l->path), "%s/t.db", l->dir);
	struct store_error err;
	l->store = NULL;
	if (store_open(l->path, &opts, &l->store, &err) < 0)
		fail_msg("SQLite store: %s", err.msg);
}

static void lite_remove(struct lite *l)
{
	store_close(l->store);
	l->store = NULL;
	const char *suffixes[] = { "", "-wal", "-shm" };
	for (int i = 0; i < 3; i++) {
		char p[96];
		snprintf(p, sizeof(p), "%s%s", l->path, suffixes[i]);
		unlink(p);
	}
	rmdir(l->dir);
}

/* Appends each row's first column to out, comma-separated. */
static void sqlite_names(sqlite3 *db, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *st;
	out[0] = '\0';
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		size_t len = strlen(out);
		snprintf(out + len, size - len, "%s%s", len ? "," : "",
			 (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
}

/* The same migrations make the same schema: tables with the same columns
 * in the same order, the same indexes and triggers (types differ by
 * design: BIGINT for INTEGER, BYTEA for BLOB, BOOLEAN for 0/1 flags). */
static void both_backends_have_the_same_tables_columns_and_indexes(void **state)
{
	struct fixture *f = *state;
	struct lite lite;
	lite_open(&lite);
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(lite.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	static char want[8192], got[8192];
	sqlite_names(db,
		     "SELECT m.name || '(' || group_concat(c.name, ' ') || ')' FROM sqlite_master m,"
		     " pragma_table_info(m.name) c WHERE m.type = 'table'"
		     " GROUP BY m.name ORDER BY m.name",
		     want, sizeof(want));
	query_text(f,
		   "SELECT string_agg(t, ',' ORDER BY t) FROM (SELECT table_name || '(' ||"
		   " string_agg(column_name, ' ' ORDER BY ordinal_position) || ')' AS t"
		   " FROM information_schema.columns WHERE table_schema = 'public'"
		   " GROUP BY table_name) x",
		   NULL, got, sizeof(got));
	assert_string_equal(got, want);
	/* Named indexes (not the ones keys make) and triggers. */
	sqlite_names(db,
		     "SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger')"
		     " AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
		     want, sizeof(want));
	query_text(f,
		   "SELECT string_agg(name, ',' ORDER BY name) FROM ("
		   " SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public'"
		   "  AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'"
		   " UNION SELECT DISTINCT trigger_name FROM information_schema.triggers"
		   "  WHERE trigger_schema = 'public') x",
		   NULL, got, sizeof(got));
	assert_string_equal(got, want);
	sqlite3_close(db);
	lite_remove(&lite);
}

/* One statement (or script) on the test database, which must succeed. */
static void db_exec(struct fixture *f, const char *sql)
{
	PGconn *conn = PQconnectdb(f->url);
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	PGresult *res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%.80s: %s", sql, PQerrorMessage(conn));
	PQclear(res);
	PQfinish(conn);
}

/* A database made before migration 9 keeps every event's headers and body
 * when they move to event_bodies, and deleting an event takes its body. */
static void upgrading_moves_bodies_apart(void **state)
{
	struct fixture *f = *state;
	db_exec(f, "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
		   " name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
	for (const struct migration *m = store_postgres_migrations; m->version && m->version <= 8;
	     m++) {
		db_exec(f, m->sql);
		char sql[160];
		snprintf(sql, sizeof(sql), "INSERT INTO schema_migrations VALUES (%d, '%s', 0)",
			 m->version, m->name);
		db_exec(f, sql);
	}
	db_exec(f, "INSERT INTO events (provider, route, delivery_id, event_type, headers, body,"
		   " received_at, next_attempt_at, updated_at) VALUES"
		   " ('github', 'github', 'd1', 'push', '{\"x-a\":\"1\"}', '\\x7b2261223a317d',"
		   "  1, 1, 1),"
		   " ('github', 'github', 'd2', 'push', '{}', '\\x00ff', 1, 1, 1)");
	char id1[32];
	query_text(f, "SELECT min(id)::text FROM events", NULL, id1, sizeof(id1));

	struct store_error err;
	assert_int_equal(store_postgres_open(f->url, &opts, &f->store, &err), 0);
	int version = 0;
	assert_int_equal(store_schema_version(f->store, &version, &err), 0);
	assert_int_equal(version, 9);
	struct store_event_detail d;
	assert_int_equal(store_get_event(f->store, strtoll(id1, NULL, 10), 1 << 20, &d, &err), 0);
	assert_string_equal(d.headers_json, "{\"x-a\":\"1\"}");
	assert_int_equal(d.body_len, 7);
	assert_memory_equal(d.body, "{\"a\":1}", 7);
	assert_int_equal(d.row.body_bytes, 7);
	store_event_detail_release(&d);
	struct store_claim c;
	assert_int_equal(store_claim_events(f->store, "t", 2, 60000, 10, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.events[1].body_len, 2);
	assert_memory_equal(c.events[1].body, "\x00\xff", 2);
	assert_string_equal(c.events[1].headers_json, "{}");
	store_claim_release(&c);
	assert_query(f, "SELECT count(*)::text FROM information_schema.columns WHERE table_name = 'events'"
			" AND column_name IN ('headers', 'body', 'body_encoding')", "0");
	char sql[96];
	snprintf(sql, sizeof(sql), "DELETE FROM events WHERE id = %s", id1);
	db_exec(f, sql);
	assert_query(f, "SELECT count(*)::text FROM event_bodies", "1");
}

static void connections_name_themselves_unless_the_url_does(void **state)
{
	struct fixture *f = *state;
	struct store_error err;
	int version;
	assert_int_equal(store_schema_version(f->store, &version, &err), 0);
	char url[300];
	snprintf(url, sizeof(url), "%s?application_name=node-b&connect_timeout=3", f->url);
	struct store *b = NULL;
	assert_int_equal(store_postgres_open(url, &opts, &b, &err), 0);
	assert_int_equal(store_schema_version(b, &version, &err), 0);
	char sql[200], got[128];
	snprintf(sql, sizeof(sql),
		 "SELECT string_agg(DISTINCT application_name, ',' ORDER BY application_name)"
		 " FROM pg_stat_activity WHERE datname = '%s'", f->db);
	PGresult *res = PQexec(admin, sql);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	snprintf(got, sizeof(got), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	assert_string_equal(got, "hookq,node-b");
	store_close(b);
}

static void newer_schema_than_known_is_refused(void **state)
{
	struct fixture *f = *state;
	store_close(f->store);
	f->store = NULL;
	PGconn *conn = PQconnectdb(f->url);
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	PGresult *res = PQexec(conn, "INSERT INTO schema_migrations VALUES (99, 'future', 0)");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(conn);
	struct store_error err;
	struct store *s = NULL;
	assert_int_equal(store_postgres_open(f->url, &opts, &s, &err), HQ_E_STORE);
	assert_null(s);
	assert_non_null(strstr(err.msg, "database schema version 99 is newer than this hookq knows (9)"));
}

/* One insert call of the script both backends run. */
struct script_batch {
	const char *deliveries[4]; /* "" ends; "!" is an event refused (no type) */
};

static const struct script_batch script[] = {
	{ { "a", "b", "c", "" } },
	{ { "a", "d", "", "" } },	/* a redelivery beside a new one */
	{ { "e", "e", "e", "" } },	/* three of one, in one batch */
	{ { "f", "!", "a", "" } },	/* a refused event among good ones */
	{ { "b", "", "", "" } },
	{ { "!", "", "", "" } },
	{ { "g", "h", "g", "d" } },
};
#define SCRIPT_EVENTS 17

struct script_result {
	int returned[sizeof(script) / sizeof(script[0])];
	int result[SCRIPT_EVENTS];
	bool duplicate[SCRIPT_EVENTS];
	int64_t id[SCRIPT_EVENTS];
	struct store_event_counts counts;
};

static void run_script(struct store *s, struct script_result *out)
{
	memset(out, 0, sizeof(*out));
	size_t k = 0;
	for (size_t b = 0; b < sizeof(script) / sizeof(script[0]); b++) {
		struct store_event_in evs[4];
		size_t n = 0;
		for (; n < 4 && script[b].deliveries[n][0]; n++) {
			const char *d = script[b].deliveries[n];
			evs[n] = contract_event(d);
			if (strcmp(d, "!") == 0)
				evs[n].event_type = NULL;
		}
		struct store_error err;
		out->returned[b] = store_insert_events(s, evs, n, &err);
		for (size_t i = 0; i < n; i++, k++) {
			assert_true(k < SCRIPT_EVENTS);
			out->result[k] = evs[i].result;
			out->duplicate[k] = evs[i].duplicate;
			out->id[k] = evs[i].result == 0 ? evs[i].id : 0;
		}
	}
	assert_int_equal(k, SCRIPT_EVENTS);
	struct store_error err;
	assert_int_equal(store_count_events(s, &out->counts, &err), 0);
}

static void inserts_answer_as_sqlite_does(void **state)
{
	struct fixture *f = *state;
	struct lite lite;
	lite_open(&lite);
	struct script_result *want = calloc(1, sizeof(*want));
	struct script_result *got = calloc(1, sizeof(*got));
	run_script(lite.store, want);
	run_script(f->store, got);
	lite_remove(&lite);

	for (size_t b = 0; b < sizeof(script) / sizeof(script[0]); b++)
		assert_int_equal(got->returned[b], want->returned[b]);
	for (int i = 0; i < SCRIPT_EVENTS; i++) {
		assert_int_equal(got->result[i], want->result[i]);
		assert_int_equal(got->duplicate[i], want->duplicate[i]);
		/* Ids are the backends' own (PostgreSQL spends one on every
		 * conflict); which events share one is the contract. */
		for (int j = 0; j < SCRIPT_EVENTS; j++)
			assert_int_equal(got->id[i] && got->id[i] == got->id[j],
					 want->id[i] && want->id[i] == want->id[j]);
	}
	assert_memory_equal(&got->counts, &want->counts, sizeof(got->counts));
	assert_int_equal(got->counts.pending, 8);
	assert_int_equal(got->counts.duplicates, 7);
	free(want);
	free(got);
}

enum { RACE_EVENTS = 300, RACE_THREADS = 4 };

struct claimer {
	struct store *store;
	char owner[16];
	pthread_barrier_t *start;
	int64_t ids[RACE_EVENTS];
	size_t n;
	int result;
	struct store_error err;
};

/* Claims a few at a time until nothing is left, finishing each batch. */
static void *claimer_main(void *arg)
{
	struct claimer *cl = arg;
	pthread_barrier_wait(cl->start);
	for (;;) {
		struct store_claim c;
		cl->result = store_claim_events(cl->store, cl->owner, 5000, 60000, 7, 1 << 20, &c,
						&cl->err);
		if (cl->result < 0 || c.n == 0)
			break;
		struct store_outcome o[7];
		memset(o, 0, sizeof(o));
		for (size_t i = 0; i < c.n; i++) {
			if (cl->n < RACE_EVENTS)
				cl->ids[cl->n] = c.events[i].id;
			cl->n++;
			o[i].id = c.events[i].id;
			o[i].kind = STORE_OUTCOME_DONE;
		}
		size_t applied = 0;
		cl->result = store_finish_events(cl->store, cl->owner, o, c.n, 5100, &applied,
						 &cl->err);
		size_t n = c.n;
		store_claim_release(&c);
		if (cl->result < 0)
			break;
		if (applied != n) {
			cl->result = -1;
			snprintf(cl->err.msg, sizeof(cl->err.msg), "applied %zu of %zu", applied, n);
			break;
		}
	}
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void two_nodes_claiming_together_never_take_the_same_event(void **state)
{
	struct fixture *f = *state;
	struct store_error err;
	/* A second node on the same database, two claimers on each. */
	struct store *other = NULL;
	assert_int_equal(store_postgres_open(f->url, &opts, &other, &err), 0);
	for (int i = 0; i < RACE_EVENTS; i += 10) {
		struct store_event_in evs[10];
		char names[10][16];
		for (int j = 0; j < 10; j++) {
			snprintf(names[j], sizeof(names[j]), "r%d", i + j);
			evs[j] = contract_event(names[j]);
			evs[j].received_at_ms = i + j;
		}
		assert_int_equal(store_insert_events(f->store, evs, 10, &err), 0);
	}
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, RACE_THREADS);
	struct claimer *cl = calloc(RACE_THREADS, sizeof(*cl));
	pthread_t t[RACE_THREADS];
	for (int i = 0; i < RACE_THREADS; i++) {
		cl[i].store = i % 2 ? other : f->store;
		snprintf(cl[i].owner, sizeof(cl[i].owner), "node-%d", i);
		cl[i].start = &start;
		assert_int_equal(pthread_create(&t[i], NULL, claimer_main, &cl[i]), 0);
	}
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	int64_t all[RACE_EVENTS];
	size_t total = 0;
	for (int i = 0; i < RACE_THREADS; i++) {
		if (cl[i].result < 0)
			fail_msg("%s: %s", cl[i].owner, cl[i].err.msg);
		assert_true(total + cl[i].n <= RACE_EVENTS);
		memcpy(&all[total], cl[i].ids, cl[i].n * sizeof(all[0]));
		total += cl[i].n;
	}
	free(cl);
	assert_int_equal(total, RACE_EVENTS);
	qsort(all, total, sizeof(all[0]), cmp_id);
	for (size_t i = 1; i < total; i++)
		assert_true(all[i] != all[i - 1]);
	struct store_event_counts c;
	assert_int_equal(store_count_events(other, &c, &err), 0);
	assert_int_equal(c.completed, RACE_EVENTS);
	assert_int_equal(c.pending + c.processing + c.dead_letter, 0);
	/* Each was claimed once: one attempt apiece. */
	assert_query(f, "SELECT count(*)::text FROM events WHERE attempts <> 1", "0");
	store_close(other);
}

enum { OVERLAP_BATCHES = 40, OVERLAP_SIZE = 8, OVERLAP_KEYS = 12 };

struct inserter {
	struct store *store;
	pthread_barrier_t *start;
	unsigned seed;
	int result;
	struct store_error err;
	int64_t accepted, duplicates;
};

/* Batches of deliveries drawn from a small set, in a shuffled order, so
 * that two nodes' batches overlap every time. */
static void *inserter_main(void *arg)
{
	struct inserter *in = arg;
	char names[OVERLAP_SIZE][16];
	pthread_barrier_wait(in->start);
	for (int b = 0; b < OVERLAP_BATCHES && in->result == 0; b++) {
		struct store_event_in evs[OVERLAP_SIZE];
		for (int i = 0; i < OVERLAP_SIZE; i++) {
			snprintf(names[i], sizeof(names[i]), "k%d", rand_r(&in->seed) % OVERLAP_KEYS);
			evs[i] = contract_event(names[i]);
		}
		in->result = store_insert_events(in->store, evs, OVERLAP_SIZE, &in->err);
		for (int i = 0; in->result == 0 && i < OVERLAP_SIZE; i++) {
			if (evs[i].duplicate)
				in->duplicates++;
			else
				in->accepted++;
		}
	}
	return NULL;
}

static void nodes_storing_overlapping_batches_never_deadlock(void **state)
{
	struct fixture *f = *state;
	struct store_error err;
	struct store *other = NULL;
	assert_int_equal(store_postgres_open(f->url, &opts, &other, &err), 0);
	enum { THREADS = 4 };
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, THREADS);
	struct inserter in[THREADS];
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++) {
		memset(&in[i], 0, sizeof(in[i]));
		in[i].store = i % 2 ? other : f->store;
		in[i].start = &start;
		in[i].seed = (unsigned)i * 7919u + 1u;
		assert_int_equal(pthread_create(&t[i], NULL, inserter_main, &in[i]), 0);
	}
	int64_t accepted = 0, duplicates = 0;
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < THREADS; i++) {
		/* A deadlock would come back as HQ_E_BUSY here. */
		if (in[i].result < 0)
			fail_msg("inserter %d: %s", i, in[i].err.msg);
		accepted += in[i].accepted;
		duplicates += in[i].duplicates;
	}
	/* Each delivery was accepted once, every other copy counted. */
	struct store_event_counts c;
	assert_int_equal(store_count_events(f->store, &c, &err), 0);
	assert_int_equal(accepted, c.pending);
	assert_true(c.pending <= OVERLAP_KEYS);
	assert_int_equal(duplicates, c.duplicates);
	assert_int_equal(accepted + duplicates, THREADS * OVERLAP_BATCHES * OVERLAP_SIZE);
	store_close(other);
}

static void store_open_opens_postgres_urls(void **state)
{
	(void)state;
	struct store *s = NULL;
	struct store_error err;
	assert_int_equal(store_open(server_url, &opts, &s, &err), 0);
	int version = 0;
	assert_int_equal(store_schema_version(s, &version, &err), 0);
	assert_int_equal(version, 9);
	store_close(s);
}

static void unreachable_server_is_an_io_error_without_the_password(void **state)
{
	(void)state;
	struct store *s = NULL;
	struct store_error err;
	/* Port 1 on loopback: nothing listens there. */
	int r = store_postgres_open("postgresql://hookq:s3cret@127.0.0.1:1/hookq", &opts, &s, &err);
	assert_int_equal(r, HQ_E_IO);
	assert_null(s);
	assert_non_null(strstr(err.msg, "cannot connect to 'postgresql://hookq:***@127.0.0.1:1/hookq'"));
	assert_null(strstr(err.msg, "s3cret"));
}

/* The server ends every session of the test database (as a restart
 * would). */
static void terminate_sessions(struct fixture *f)
{
	char sql[160];
	snprintf(sql, sizeof(sql),
		 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'",
		 f->db);
	PGresult *res = PQexec(admin, sql);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
}


/* What a listening node heard. */
struct heard {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned what;
	int calls;
};

static void hear(void *ctx, unsigned what)
{
	struct heard *h = ctx;
	pthread_mutex_lock(&h->lock);
	h->what |= what;
	h->calls++;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

/* Waits up to 10 s until h heard every bit of want; what it heard, then
 * forgets it. */
static unsigned heard_wait(struct heard *h, unsigned want)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&h->lock);
	while ((h->what & want) != want &&
	       pthread_cond_timedwait(&h->cond, &h->lock, &until) == 0)
		;
	unsigned got = h->what;
	h->what = 0;
	pthread_mutex_unlock(&h->lock);
	return got;
}

static void other_nodes_hear_committed_work_and_reconnects(void **state)
{
	struct fixture *f = *state;
	struct store *other;
	struct store_error err;
	assert_int_equal(store_postgres_open(f->url, &opts, &other, &err), 0);
	struct heard h = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	assert_int_equal(store_listen(other, hear, &h, &err), 0);
	/* The first connect reports everything (nothing was heard before). */
	assert_int_equal(heard_wait(&h, 15), 15);

	/* A new event on this node: the other hears it at the commit. */
	contract_insert_at(state, "n1", 1000, 5);
	assert_int_equal(heard_wait(&h, STORE_CHANGED_EVENTS), STORE_CHANGED_EVENTS);
	/* A reply written. */
	struct store_outbox_in reply = { "comment", "comment", "{}", "{}", 3 };
	assert_int_equal(store_outbox_write(f->store, 0, 1, &reply, 1, 1000, &err), 0);
	assert_int_equal(heard_wait(&h, STORE_CHANGED_OUTBOX), STORE_CHANGED_OUTBOX);
	pthread_mutex_lock(&h.lock);
	int calls = h.calls;
	pthread_mutex_unlock(&h.lock);

	/* The listener's connection is cut: it reconnects by itself and
	 * reports every kind, as it may have missed some. */
	terminate_sessions(f);
	assert_int_equal(heard_wait(&h, 15), 15);
	pthread_mutex_lock(&h.lock);
	assert_true(h.calls > calls);
	pthread_mutex_unlock(&h.lock);
	contract_insert_at(state, "n3", 1000, 5);
	assert_int_equal(heard_wait(&h, STORE_CHANGED_EVENTS), STORE_CHANGED_EVENTS);
	store_close(other);
}

struct counter {
	struct store *store;
	pthread_barrier_t *start;
	int result;
};

static void *counter_main(void *arg)
{
	struct counter *k = arg;
	pthread_barrier_wait(k->start);
	for (int i = 0; i < 50 && k->result == 0; i++) {
		struct store_event_counts c;
		struct store_error err;
		k->result = store_count_events(k->store, &c, &err);
	}
	return NULL;
}

static void lost_connections_are_io_errors_and_the_pool_reconnects(void **state)
{
	struct fixture *f = *state;
	struct store_error err;
	contract_insert_at(state, "before", 0, 5);
	/* Several threads at once fill the pool with connections. */
	enum { THREADS = 4 };
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, THREADS);
	struct counter k[THREADS];
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++) {
		k[i] = (struct counter){ f->store, &start, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, counter_main, &k[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(k[i].result, 0);
	}
	pthread_barrier_destroy(&start);
	char sql[160], sessions[16];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'",
		 f->db);
	PGresult *res = PQexec(admin, sql);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	snprintf(sessions, sizeof(sessions), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (strtol(sessions, NULL, 10) < 2)
		fail_msg("the pool opened %s connection(s); the test needs two or more", sessions);

	terminate_sessions(f);
	struct store_event_counts c;
	assert_int_equal(store_count_events(f->store, &c, &err), HQ_E_IO);
	assert_non_null(strstr(err.msg, "counting events: "));
	/* One lost connection is enough to know the others are gone too:
	 * the next calls connect again instead of failing one by one. */
	for (int i = 0; i < THREADS + 1; i++) {
		assert_int_equal(store_count_events(f->store, &c, &err), 0);
		assert_int_equal(c.pending, 1);
	}
}

static void a_batch_on_a_connection_lost_while_idle_is_stored_on_a_new_one(void **state)
{
	struct fixture *f = *state;
	struct store_error err;
	int64_t before = contract_insert_at(state, "before", 0, 5);
	terminate_sessions(f);
	/* Nothing of the batch reached the server: it runs again, once. */
	struct store_event_in evs[3] = { contract_event("during1"), contract_event("before"),
					 contract_event("during2") };
	assert_int_equal(store_insert_events(f->store, evs, 3, &err), 0);
	assert_false(evs[0].duplicate);
	assert_true(evs[1].duplicate);
	assert_int_equal(evs[1].id, before);
	assert_false(evs[2].duplicate);
	struct store_event_counts c;
	assert_int_equal(store_count_events(f->store, &c, &err), 0);
	assert_int_equal(c.pending, 3);
	assert_int_equal(c.duplicates, 1); /* counted once */
}

int main(void)
{
	server_url = getenv("HOOKQ_TEST_PG_URL");
	if (!server_url || !*server_url) {
		fprintf(stderr, "store/postgres: HOOKQ_TEST_PG_URL is not set: run this test through"
				" tests/pg/with-pg.sh (meson test does), which starts a PostgreSQL"
				" server\n");
		return 1;
	}
	admin = PQconnectdb(server_url);
	if (PQstatus(admin) != CONNECTION_OK) {
		fprintf(stderr, "store/postgres: cannot connect to the test server: %s",
			PQerrorMessage(admin));
		PQfinish(admin);
		return 1;
	}
	PQclear(PQexec(admin, "SET client_min_messages = warning"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(migrations_run_once_when_nodes_start_together, setup_empty, contract_teardown),
		cmocka_unit_test_setup_teardown(reopening_applies_nothing, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(both_backends_have_the_same_tables_columns_and_indexes, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(upgrading_moves_bodies_apart, setup_empty, contract_teardown),
		cmocka_unit_test_setup_teardown(connections_name_themselves_unless_the_url_does, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(newer_schema_than_known_is_refused, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(inserts_answer_as_sqlite_does, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(two_nodes_claiming_together_never_take_the_same_event, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(nodes_storing_overlapping_batches_never_deadlock, contract_setup, contract_teardown),
		cmocka_unit_test(store_open_opens_postgres_urls),
		cmocka_unit_test_setup_teardown(other_nodes_hear_committed_work_and_reconnects, contract_setup, contract_teardown),
		cmocka_unit_test(unreachable_server_is_an_io_error_without_the_password),
		cmocka_unit_test_setup_teardown(lost_connections_are_io_errors_and_the_pool_reconnects, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(a_batch_on_a_connection_lost_while_idle_is_stored_on_a_new_one, contract_setup, contract_teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	failed += contract_run();
	PQfinish(admin);
	return failed;
}
