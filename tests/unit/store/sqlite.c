#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "store/migration.h"
#include "store/store.h"
#include "contract.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/zstd.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *store;
};

static const struct store_options opts = { STORE_SYNC_FULL, 5000 };

/* contract.h: a fresh, migrated store. */
int contract_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/hookq-store-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	struct store_error err;
	if (store_open(f->path, &opts, &f->store, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

int contract_teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->store);
	char p[160];
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
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
	if (store_open(f->path, &opts, &f->store, &err) < 0)
		fail_msg("reopening '%s': %s", f->path, err.msg);
}

static void unopenable_path_is_a_clear_error(void **state)
{
	(void)state;
	struct store *s = NULL;
	struct store_error err;
	int r = store_open("/nonexistent-dir/x/y.db", &opts, &s, &err);
	assert_true(r < 0);
	assert_null(s);
	assert_non_null(strstr(err.msg, "cannot open database '/nonexistent-dir/x/y.db'"));
	/* A PostgreSQL URL goes to that backend: nothing listens on port 1. */
	r = store_open("postgres://hookq:pw-7d1e@127.0.0.1:1/db", &opts, &s, &err);
	assert_int_equal(r, HQ_E_IO);
	assert_null(s);
	assert_null(strstr(err.msg, "pw-7d1e"));
}

/* Reads one column of one event with a separate connection. */
/* One value of a query, with a separate connection. */
static void query_text(void **state, const char *sql, char *out, size_t size)
{
	struct fixture *f = *state;
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

void contract_column(void **state, int64_t id, const char *column, char *out, size_t size)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT coalesce(%s, '') FROM events WHERE id = %lld", column,
		 (long long)id);
	query_text(state, sql, out, size);
}

int64_t contract_count_rows(void **state, const char *table)
{
	char sql[96], out[32];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	query_text(state, sql, out, sizeof(out));
	return strtoll(out, NULL, 10);
}

/* A database made before migration 9 keeps every event's headers and body
 * when they move to event_bodies, and deleting an event takes its body. */
static void upgrading_moves_bodies_apart(void **state)
{
	struct fixture *f = *state;
	store_close(f->store);
	f->store = NULL;
	unlink(f->path);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
				      " name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	for (const struct migration *m = store_sqlite_migrations; m->version && m->version <= 8; m++) {
		assert_int_equal(sqlite3_exec(db, m->sql, NULL, NULL, NULL), SQLITE_OK);
		char sql[160];
		snprintf(sql, sizeof(sql), "INSERT INTO schema_migrations VALUES (%d, '%s', 0)",
			 m->version, m->name);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	assert_int_equal(sqlite3_exec(db,
				      "INSERT INTO events (provider, route, delivery_id, event_type, headers,"
				      " body, received_at, next_attempt_at, updated_at) VALUES"
				      " ('github', 'github', 'd1', 'push', '{\"x-a\":\"1\"}', X'7b2261223a317d',"
				      "  1, 1, 1),"
				      " ('github', 'github', 'd2', 'push', '{}', X'00ff', 1, 1, 1)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	struct store_error err;
	assert_int_equal(store_open(f->path, &opts, &f->store, &err), 0);
	int version = 0;
	assert_int_equal(store_schema_version(f->store, &version, &err), 0);
	assert_int_equal(version, 9);
	struct store_event_detail d;
	assert_int_equal(store_get_event(f->store, 1, 1 << 20, &d, &err), 0);
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

	char out[32];
	query_text(state,
		   "SELECT count(*) FROM pragma_table_info('events')"
		   " WHERE name IN ('headers', 'body', 'body_encoding')",
		   out, sizeof(out));
	assert_string_equal(out, "0");
	store_close(f->store);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM events WHERE id = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(f->path, &opts, &f->store, &err), 0);
	query_text(state, "SELECT group_concat(event_id) FROM event_bodies", out, sizeof(out));
	assert_string_equal(out, "2");
}

/* The plan SQLite makes for the list's query shapes: an index serves
 * both the filter and the order, so no page sorts a whole provider or
 * state (the statement is the one sqlite_list_events() builds). */
static void list_queries_walk_an_index_without_sorting(void **state)
{
	struct fixture *f = *state;
	contract_insert_at(state, "x", 0, 5);
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	static const char *const shapes[] = {
		"id < ?1 AND provider = ?3",
		"id < ?1 AND status = ?2",
		"id < ?1 AND status = ?2 AND provider = ?3",
		"id < ?1",
	};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		char sql[256], plan[1024] = "";
		snprintf(sql, sizeof(sql),
			 "EXPLAIN QUERY PLAN SELECT id FROM events WHERE %s ORDER BY id DESC LIMIT ?4",
			 shapes[i]);
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW)
			snprintf(plan + strlen(plan), sizeof(plan) - strlen(plan), "%s; ",
				 (const char *)sqlite3_column_text(st, 3));
		sqlite3_finalize(st);
		if (strstr(plan, "TEMP B-TREE") || strstr(plan, "SCAN events USING INDEX sqlite_autoindex"))
			fail_msg("'%s' sorts or scans: %s", shapes[i], plan);
	}
	sqlite3_close(db);
}

static void urls_lose_their_password_in_logs(void **state)
{
	(void)state;
	char out[128];
	store_url_redact("postgres://app:hunter2@db.internal:5432/hookq", out, sizeof(out));
	assert_string_equal(out, "postgres://app:***@db.internal:5432/hookq");
	store_url_redact("postgres://app@db/hookq", out, sizeof(out));
	assert_string_equal(out, "postgres://app@db/hookq");
	store_url_redact("/var/lib/hookq/hookq.db", out, sizeof(out));
	assert_string_equal(out, "/var/lib/hookq/hookq.db");
	store_url_redact("sqlite:///data/a@b:c.db", out, sizeof(out));
	assert_string_equal(out, "sqlite:///data/a@b:c.db");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unopenable_path_is_a_clear_error),
		cmocka_unit_test(urls_lose_their_password_in_logs),
		cmocka_unit_test_setup_teardown(list_queries_walk_an_index_without_sorting, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(upgrading_moves_bodies_apart, contract_setup, contract_teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + contract_run();
}
