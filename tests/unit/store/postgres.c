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

#include "store/backend.h"
#include "store/store.h"
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

static int setup(void **state)
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

static int teardown(void **state)
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

static void assert_column(struct fixture *f, int64_t id, const char *column, const char *want)
{
	char sql[160], idtext[24], got[512];
	snprintf(sql, sizeof(sql), "SELECT coalesce(%s::text, '') FROM events WHERE id = $1::bigint",
		 column);
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	query_text(f, sql, idtext, got, sizeof(got));
	assert_string_equal(got, want);
}

static void assert_query(struct fixture *f, const char *sql, const char *want)
{
	char got[512];
	query_text(f, sql, NULL, got, sizeof(got));
	assert_string_equal(got, want);
}

static struct store_event_in event(const char *delivery)
{
	struct store_event_in ev;
	memset(&ev, 0, sizeof(ev));
	ev.provider = "github";
	ev.route = "github";
	ev.delivery_id = delivery;
	ev.event_type = "issues";
	ev.headers_json = "{}";
	ev.body = "{\"action\":\"opened\"}";
	ev.body_len = 19;
	ev.received_at_ms = 1700000000000;
	return ev;
}

static int64_t insert_at(struct fixture *f, const char *delivery, int64_t at, int max_attempts)
{
	struct store_event_in ev = event(delivery);
	ev.received_at_ms = at;
	ev.max_attempts = max_attempts;
	struct store_error err;
	assert_int_equal(store_insert_events(f->store, &ev, 1, &err), 0);
	return ev.id;
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
		assert_int_equal(version, 7);
		store_close(o[i].store);
	}
	assert_query(f, "SELECT count(*)::text || ' ' || count(DISTINCT version)::text"
			" FROM schema_migrations", "7 7");
	assert_query(f, "SELECT string_agg(name, ',' ORDER BY version) FROM schema_migrations",
		     "0001_events.sql,0002_processing.sql,0003_attempts.sql,0004_routing.sql,"
		     "0005_webhooks.sql,0006_tasks.sql,0007_outbox.sql");
}

static void reopening_applies_nothing_and_keeps_events(void **state)
{
	struct fixture *f = *state;
	struct store_event_in a = event("persist");
	struct store_error err;
	assert_int_equal(store_insert_events(f->store, &a, 1, &err), 0);
	store_close(f->store);
	f->store = NULL;
	assert_int_equal(store_postgres_open(f->url, &opts, &f->store, &err), 0);
	struct store_event_in b = event("persist");
	assert_int_equal(store_insert_events(f->store, &b, 1, &err), 0);
	assert_true(b.duplicate);
	assert_int_equal(b.id, a.id);
	int version = 0;
	assert_int_equal(store_schema_version(f->store, &version, &err), 0);
	assert_int_equal(version, 7);
	assert_query(f, "SELECT count(*)::text FROM schema_migrations", "7");
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
	assert_non_null(strstr(err.msg, "database schema version 99 is newer than this hookq knows (7)"));
}

static void batch_insert_assigns_ids_and_counts_pending(void **state)
{
	struct fixture *f = *state;
	struct store_event_in evs[3] = { event("a"), event("b"), event("c") };
	struct store_error err;
	assert_int_equal(store_insert_events(f->store, evs, 3, &err), 0);
	assert_true(evs[0].id > 0);
	assert_true(evs[1].id > 0 && evs[1].id != evs[0].id);
	assert_true(evs[2].id > 0 && evs[2].id != evs[1].id);
	assert_false(evs[2].duplicate);
	struct store_event_counts c;
	assert_int_equal(store_count_events(f->store, &c, &err), 0);
	assert_int_equal(c.pending, 3);
	assert_int_equal(c.duplicates, 0);
	assert_column(f, evs[1].id, "body", "\\x7b22616374696f6e223a226f70656e6564227d");
	assert_column(f, evs[1].id, "next_attempt_at", "1700000000000");
	assert_column(f, evs[1].id, "max_attempts", "5");
	assert_column(f, evs[1].id, "body_encoding", "identity");
}

static void redelivery_returns_original_id_and_counts_duplicate(void **state)
{
	struct fixture *f = *state;
	struct store_event_in first = event("same");
	struct store_error err;
	assert_int_equal(store_insert_events(f->store, &first, 1, &err), 0);
	/* twice more, once within one batch */
	struct store_event_in again[2] = { event("same"), event("same") };
	assert_int_equal(store_insert_events(f->store, again, 2, &err), 0);
	assert_true(again[0].duplicate);
	assert_true(again[1].duplicate);
	assert_int_equal(again[0].id, first.id);
	assert_int_equal(again[1].id, first.id);
	struct store_event_counts c;
	assert_int_equal(store_count_events(f->store, &c, &err), 0);
	assert_int_equal(c.pending, 1);
	assert_int_equal(c.duplicates, 2);
}

static void same_delivery_id_on_another_provider_is_a_new_event(void **state)
{
	struct fixture *f = *state;
	struct store_event_in a = event("x"), b = event("x");
	b.provider = "gitlab";
	b.route = "gitlab";
	struct store_error err;
	assert_int_equal(store_insert_events(f->store, &a, 1, &err), 0);
	assert_int_equal(store_insert_events(f->store, &b, 1, &err), 0);
	assert_false(b.duplicate);
	assert_true(b.id != a.id);
}

static void one_bad_event_does_not_refuse_its_batch(void **state)
{
	struct fixture *f = *state;
	struct store_event_in evs[3] = { event("ok1"), event("bad"), event("ok2") };
	evs[1].event_type = NULL; /* NOT NULL constraint */
	struct store_error err;
	assert_int_equal(store_insert_events(f->store, evs, 3, &err), HQ_E_STORE);
	assert_non_null(strstr(err.msg, "event_type"));
	assert_int_equal(evs[0].result, 0);
	assert_int_equal(evs[1].result, HQ_E_STORE);
	assert_int_equal(evs[2].result, 0);
	struct store_event_counts c;
	assert_int_equal(store_count_events(f->store, &c, &err), 0);
	assert_int_equal(c.pending, 2);
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
			evs[n] = event(d);
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
	char dir[] = "/tmp/hookq-pgcmp-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[64];
	snprintf(path, sizeof(path), "%s/t.db", dir);
	struct store *lite = NULL;
	struct store_error err;
	assert_int_equal(store_open(path, &opts, &lite, &err), 0);
	struct script_result *want = calloc(1, sizeof(*want));
	struct script_result *got = calloc(1, sizeof(*got));
	run_script(lite, want);
	run_script(f->store, got);
	store_close(lite);
	char p[96];
	const char *suffixes[] = { "", "-wal", "-shm" };
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
		unlink(p);
	}
	rmdir(dir);

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

static void claim_takes_due_events_once_under_a_lease(void **state)
{
	struct fixture *f = *state;
	int64_t a = insert_at(f, "a", 1000, 5);
	int64_t b = insert_at(f, "b", 2000, 5);
	insert_at(f, "later", 9000, 5);
	struct store_claim c;
	struct store_error err;
	assert_int_equal(store_claim_events(f->store, "node-1", 5000, 30000, 10, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 2); /* "later" is not due at 5000 */
	assert_int_equal(c.events[0].id, a); /* oldest due first */
	assert_int_equal(c.events[1].id, b);
	assert_int_equal(c.events[0].attempts, 1);
	assert_int_equal(c.events[0].max_attempts, 5);
	assert_int_equal(c.events[0].received_at_ms, 1000);
	assert_int_equal(c.events[0].body_len, 19);
	assert_memory_equal(c.events[0].body, "{\"action\":\"opened\"}", 19);
	assert_string_equal(c.events[0].event_type, "issues");
	assert_string_equal(c.events[0].delivery_id, "a");
	assert_string_equal(c.events[0].headers_json, "{}");
	store_claim_release(&c);
	assert_column(f, a, "status", "processing");
	assert_column(f, a, "lease_owner", "node-1");
	assert_column(f, a, "lease_expires_at", "35000");
	assert_column(f, a, "updated_at", "5000");

	struct store_claim again;
	assert_int_equal(store_claim_events(f->store, "node-2", 5000, 30000, 10, 1 << 20, &again, &err), 0);
	assert_int_equal(again.n, 0);
	store_claim_release(&again);
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
			evs[j] = event(names[j]);
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

static void compressed_bodies_come_back_decoded(void **state)
{
	struct fixture *f = *state;
	char text[2000];
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = "{\"k\":\"vvvvvvvv\"}"[i % 16];
	struct buf packed;
	buf_init(&packed, sizeof(text));
	assert_int_equal(zstd_compress(text, sizeof(text), 1, &packed), 0);
	struct store_event_in ev = event("z");
	ev.body = packed.data;
	ev.body_len = packed.len;
	ev.body_encoding = "zstd";
	struct store_error err;
	assert_int_equal(store_insert_events(f->store, &ev, 1, &err), 0);
	buf_release(&packed);
	struct store_claim c;
	assert_int_equal(store_claim_events(f->store, "n", INT64_MAX / 2, 1000, 1, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.events[0].body_len, sizeof(text));
	assert_memory_equal(c.events[0].body, text, sizeof(text));
	store_claim_release(&c);
	/* Over the caller's limit: returned without a body. */
	assert_int_equal(store_reclaim_expired(f->store, INT64_MAX / 2 + 2000, NULL, &err), 0);
	assert_int_equal(store_claim_events(f->store, "n", INT64_MAX / 2 + 3000, 1000, 1, 100, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_null(c.events[0].body);
	store_claim_release(&c);
}

static void binary_bodies_are_kept_byte_for_byte(void **state)
{
	struct fixture *f = *state;
	unsigned char bytes[256];
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)i; /* NUL, invalid UTF-8, everything */
	struct store_event_in ev = event("bin");
	ev.body = bytes;
	ev.body_len = sizeof(bytes);
	struct store_event_in empty = event("empty");
	empty.body = NULL;
	empty.body_len = 0;
	struct store_error err;
	assert_int_equal(store_insert_events(f->store, &ev, 1, &err), 0);
	assert_int_equal(store_insert_events(f->store, &empty, 1, &err), 0);
	struct store_claim c;
	assert_int_equal(store_claim_events(f->store, "n", INT64_MAX / 2, 1000, 10, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 2);
	for (size_t i = 0; i < c.n; i++) {
		if (c.events[i].id == ev.id) {
			assert_int_equal(c.events[i].body_len, sizeof(bytes));
			assert_memory_equal(c.events[i].body, bytes, sizeof(bytes));
		} else {
			assert_int_equal(c.events[i].body_len, 0);
			assert_non_null(c.events[i].body);
		}
	}
	store_claim_release(&c);
}

static void outcomes_complete_retry_or_dead_letter(void **state)
{
	struct fixture *f = *state;
	int64_t done = insert_at(f, "done", 0, 5);
	int64_t retry = insert_at(f, "retry", 0, 5);
	int64_t dead = insert_at(f, "dead", 0, 5);
	int64_t last = insert_at(f, "last", 0, 1);
	struct store_claim c;
	struct store_error err;
	assert_int_equal(store_claim_events(f->store, "n", 100, 30000, 10, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 4);
	store_claim_release(&c);
	struct store_outcome o[4] = {
		{ done, STORE_OUTCOME_DONE, 0, NULL, "opened", "o/r", "octocat", "{\"routes\":[]}", NULL, 0, NULL },
		{ retry, STORE_OUTCOME_RETRY, 4100, "HTTP 502 from agent", NULL, NULL, NULL, NULL, NULL, 0, NULL },
		{ dead, STORE_OUTCOME_DEAD, 0, "malformed JSON at line 1 column 2", NULL, NULL, NULL, NULL, NULL, 0, NULL },
		{ last, STORE_OUTCOME_RETRY, 4100, "timeout", NULL, NULL, NULL, NULL, NULL, 0, NULL },
	};
	size_t applied = 0;
	assert_int_equal(store_finish_events(f->store, "n", o, 4, 200, &applied, &err), 0);
	assert_int_equal(applied, 4);
	assert_column(f, done, "status", "completed");
	assert_column(f, done, "completed_at", "200");
	assert_column(f, done, "repository", "o/r");
	assert_column(f, done, "action", "opened");
	assert_column(f, done, "sender", "octocat");
	assert_column(f, done, "routing", "{\"routes\":[]}");
	assert_column(f, done, "lease_owner", "");
	assert_column(f, retry, "status", "pending");
	assert_column(f, retry, "next_attempt_at", "4100");
	assert_column(f, retry, "last_error", "HTTP 502 from agent");
	assert_column(f, dead, "status", "dead_letter");
	assert_column(f, dead, "last_error", "malformed JSON at line 1 column 2");
	/* max_attempts 1: the transient failure used the last attempt */
	assert_column(f, last, "status", "dead_letter");
	/* The trigger kept the failed attempts, not the completing one. */
	assert_query(f, "SELECT string_agg(outcome || ':' || worker || ':' || started_at || '-' ||"
			" finished_at, ',' ORDER BY event_id) FROM event_attempts",
		     "pending:n:100-200,dead_letter:n:100-200,dead_letter:n:100-200");

	int64_t due = 0;
	assert_int_equal(store_next_due(f->store, &due, &err), 0);
	assert_int_equal(due, 4100);
	/* The retried event is not due before 4100, then it is, attempt 2. */
	assert_int_equal(store_claim_events(f->store, "n", 4099, 30000, 10, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 0);
	store_claim_release(&c);
	assert_int_equal(store_claim_events(f->store, "n", 4100, 30000, 10, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.events[0].id, retry);
	assert_int_equal(c.events[0].attempts, 2);
	store_claim_release(&c);
	assert_int_equal(store_next_due(f->store, &due, &err), 0);
	assert_true(due == INT64_MAX); /* nothing pending */
}

static void expired_lease_returns_to_pending_and_old_owner_cannot_finish(void **state)
{
	struct fixture *f = *state;
	int64_t id = insert_at(f, "lease", 0, 2);
	struct store_claim c;
	struct store_error err;
	size_t n = 99;
	assert_int_equal(store_claim_events(f->store, "dead-node", 100, 1000, 1, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	assert_int_equal(store_reclaim_expired(f->store, 1099, &n, &err), 0);
	assert_int_equal(n, 0); /* not expired yet */
	assert_int_equal(store_reclaim_expired(f->store, 1100, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_column(f, id, "status", "pending");
	assert_column(f, id, "attempts", "1");
	assert_column(f, id, "next_attempt_at", "1100");
	assert_column(f, id, "last_error", "lease expired: the processor stopped or stalled");

	/* Another node takes it; the first node's late outcome changes nothing. */
	assert_int_equal(store_claim_events(f->store, "live-node", 1200, 1000, 1, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 1);
	store_claim_release(&c);
	struct store_outcome late = { id, STORE_OUTCOME_DONE, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL };
	size_t applied = 99;
	assert_int_equal(store_finish_events(f->store, "dead-node", &late, 1, 1300, &applied, &err), 0);
	assert_int_equal(applied, 0);
	assert_column(f, id, "status", "processing");
	assert_column(f, id, "lease_owner", "live-node");

	/* Second expiry with attempts used up (max 2): dead letter. */
	assert_int_equal(store_reclaim_expired(f->store, 2200, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_column(f, id, "status", "dead_letter");
	assert_query(f, "SELECT string_agg(attempt || ':' || outcome || ':' || worker, ','"
			" ORDER BY attempt) FROM event_attempts",
		     "1:pending:dead-node,2:dead_letter:live-node");
}

static void oldest_pending_is_the_first_received_still_pending(void **state)
{
	struct fixture *f = *state;
	struct store_error err;
	int64_t oldest = 0;
	assert_int_equal(store_oldest_pending(f->store, &oldest, &err), 0);
	assert_true(oldest == INT64_MAX);
	insert_at(f, "first", 1000, 5);
	insert_at(f, "second", 2000, 5);
	assert_int_equal(store_oldest_pending(f->store, &oldest, &err), 0);
	assert_int_equal(oldest, 1000);
	struct store_claim c;
	assert_int_equal(store_claim_events(f->store, "n", 1500, 1000, 1, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 1);
	store_claim_release(&c);
	assert_int_equal(store_oldest_pending(f->store, &oldest, &err), 0);
	assert_int_equal(oldest, 2000);
}

static void operations_not_built_yet_say_so(void **state)
{
	struct fixture *f = *state;
	struct store_error err;
	struct store_event_filter filt = { NULL, NULL, 0, 10 };
	struct store_event_list l;
	assert_int_equal(store_list_events(f->store, &filt, &l, &err), HQ_E_UNSUPPORTED);
	assert_string_equal(err.msg, "not implemented on PostgreSQL yet: list_events");
	struct store_task_counts tc;
	assert_int_equal(store_count_tasks(f->store, &tc, &err), HQ_E_UNSUPPORTED);
	assert_string_equal(err.msg, "not implemented on PostgreSQL yet: count_tasks");
	struct store_outbox_counts oc;
	assert_int_equal(store_outbox_count(f->store, &oc, &err), HQ_E_UNSUPPORTED);
	assert_string_equal(err.msg, "not implemented on PostgreSQL yet: outbox_count");
	/* An outcome that would create tasks is refused whole. */
	int64_t id = insert_at(f, "t", 0, 5);
	struct store_claim c;
	assert_int_equal(store_claim_events(f->store, "n", 10, 1000, 1, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	struct store_task_in task;
	memset(&task, 0, sizeof(task));
	struct store_outcome o = { id, STORE_OUTCOME_DONE, 0, NULL, NULL, NULL, NULL, NULL, &task, 1, NULL };
	assert_int_equal(store_finish_events(f->store, "n", &o, 1, 20, NULL, &err), HQ_E_UNSUPPORTED);
	assert_column(f, id, "status", "processing");
}

static void store_open_still_refuses_postgres_urls(void **state)
{
	(void)state;
	struct store *s = NULL;
	struct store_error err;
	assert_int_equal(store_open(server_url, &opts, &s, &err), HQ_E_UNSUPPORTED);
	assert_null(s);
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

static void lost_connections_are_io_errors_and_the_pool_reconnects(void **state)
{
	struct fixture *f = *state;
	struct store_error err;
	insert_at(f, "before", 0, 5);
	/* The server ends every session of the node (as a restart would). */
	char sql[160];
	snprintf(sql, sizeof(sql),
		 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'",
		 f->db);
	PGresult *res = PQexec(admin, sql);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	/* The batch in flight is refused as a whole, never half stored. */
	struct store_event_in evs[2] = { event("during1"), event("during2") };
	int r = store_insert_events(f->store, evs, 2, &err);
	assert_int_equal(r, HQ_E_IO);
	assert_int_equal(evs[0].result, HQ_E_IO);
	assert_int_equal(evs[1].result, HQ_E_IO);
	/* Then the node carries on over new connections. */
	int ok = 0;
	for (int i = 0; i < 8 && !ok; i++) {
		struct store_event_counts c;
		r = store_count_events(f->store, &c, &err);
		assert_true(r == 0 || r == HQ_E_IO);
		ok = r == 0;
	}
	assert_true(ok);
	assert_int_equal(store_insert_events(f->store, evs, 2, &err), 0);
	assert_false(evs[0].duplicate);
	struct store_event_counts c;
	assert_int_equal(store_count_events(f->store, &c, &err), 0);
	assert_int_equal(c.pending, 3);
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
		cmocka_unit_test_setup_teardown(migrations_run_once_when_nodes_start_together, setup_empty, teardown),
		cmocka_unit_test_setup_teardown(reopening_applies_nothing_and_keeps_events, setup, teardown),
		cmocka_unit_test_setup_teardown(newer_schema_than_known_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(batch_insert_assigns_ids_and_counts_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(redelivery_returns_original_id_and_counts_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(same_delivery_id_on_another_provider_is_a_new_event, setup, teardown),
		cmocka_unit_test_setup_teardown(one_bad_event_does_not_refuse_its_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(inserts_answer_as_sqlite_does, setup, teardown),
		cmocka_unit_test_setup_teardown(claim_takes_due_events_once_under_a_lease, setup, teardown),
		cmocka_unit_test_setup_teardown(two_nodes_claiming_together_never_take_the_same_event, setup, teardown),
		cmocka_unit_test_setup_teardown(compressed_bodies_come_back_decoded, setup, teardown),
		cmocka_unit_test_setup_teardown(binary_bodies_are_kept_byte_for_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(outcomes_complete_retry_or_dead_letter, setup, teardown),
		cmocka_unit_test_setup_teardown(expired_lease_returns_to_pending_and_old_owner_cannot_finish, setup, teardown),
		cmocka_unit_test_setup_teardown(oldest_pending_is_the_first_received_still_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(operations_not_built_yet_say_so, setup, teardown),
		cmocka_unit_test(store_open_still_refuses_postgres_urls),
		cmocka_unit_test(unreachable_server_is_an_io_error_without_the_password),
		cmocka_unit_test_setup_teardown(lost_connections_are_io_errors_and_the_pool_reconnects, setup, teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	PQfinish(admin);
	return failed;
}
