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
	r = store_open("postgres://localhost/db", &opts, &s, &err);
	assert_int_equal(r, HQ_E_UNSUPPORTED);
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
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + contract_run();
}
