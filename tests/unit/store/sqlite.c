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
void contract_column(void **state, int64_t id, const char *column, char *out, size_t size)
{
	struct fixture *f = *state;
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT coalesce(%s, '') FROM events WHERE id = %lld", column,
		 (long long)id);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void purge_deletes_only_old_completed_events(void **state)
{
	struct fixture *f = *state;
	int64_t old = contract_insert_at(state, "old", 0, 5);
	int64_t recent = contract_insert_at(state, "recent", 0, 5);
	int64_t dead = contract_insert_at(state, "dead", 0, 5);
	struct store_claim c;
	struct store_error err;
	assert_int_equal(store_claim_events(f->store, "n", 10, 1000, 10, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	struct store_outcome o1[2] = {
		{ old, STORE_OUTCOME_DONE, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL },
		{ dead, STORE_OUTCOME_DEAD, 0, "bad", NULL, NULL, NULL, NULL, NULL, 0, NULL },
	};
	assert_int_equal(store_finish_events(f->store, "n", o1, 2, 100, NULL, &err), 0);
	struct store_outcome o2 = { recent, STORE_OUTCOME_DONE, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL };
	assert_int_equal(store_finish_events(f->store, "n", &o2, 1, 5000, NULL, &err), 0);
	size_t purged = 0;
	assert_int_equal(store_purge_events(f->store, "completed", 1000, 100, &purged, &err), 0);
	assert_int_equal(purged, 1);
	struct store_event_counts counts;
	assert_int_equal(store_count_events(f->store, &counts, &err), 0);
	assert_int_equal(counts.completed, 1);
	assert_int_equal(counts.dead_letter, 1); /* dead letters wait for an operator */
	/* The purged delivery is forgotten: a redelivery is a new event. */
	struct store_event_in again = contract_event("old");
	assert_int_equal(store_insert_events(f->store, &again, 1, &err), 0);
	assert_false(again.duplicate);
}

static void list_pages_newest_first_by_keyset(void **state)
{
	struct fixture *f = *state;
	int64_t ids[7];
	char name[8];
	for (int i = 0; i < 7; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		ids[i] = contract_insert_at(state, name, 1000 + i, 5);
	}
	/* One gitlab event in the middle; ids 3 and 5 dead-lettered. */
	struct store_event_in gl = contract_event("gl");
	gl.provider = "gitlab";
	struct store_error err;
	assert_int_equal(store_insert_events(f->store, &gl, 1, &err), 0);
	struct store_claim c;
	assert_int_equal(store_claim_events(f->store, "n", 5000, 1000, 100, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	struct store_outcome o[2] = {
		{ ids[3], STORE_OUTCOME_DEAD, 0, "bad three", NULL, NULL, NULL, NULL, NULL, 0, NULL },
		{ ids[5], STORE_OUTCOME_DEAD, 0, "bad five", NULL, NULL, NULL, NULL, NULL, 0, NULL },
	};
	assert_int_equal(store_finish_events(f->store, "n", o, 2, 5100, NULL, &err), 0);

	/* All of github, three per page: 6 5 4 | 3 2 1 | 0 */
	struct store_event_filter filt = { NULL, "github", 0, 3 };
	struct store_event_list l;
	int64_t want[] = { ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0] };
	size_t seen = 0;
	for (int page = 0; page < 3; page++) {
		assert_int_equal(store_list_events(f->store, &filt, &l, &err), 0);
		assert_int_equal(l.n, page < 2 ? 3 : 1);
		assert_int_equal(l.more, page < 2);
		for (size_t i = 0; i < l.n; i++) {
			assert_int_equal(l.rows[i].id, want[seen++]);
			assert_string_equal(l.rows[i].provider, "github");
		}
		filt.before_id = l.rows[l.n - 1].id;
		store_event_list_release(&l);
	}
	assert_int_equal(seen, 7);

	/* By status: the two dead letters, newest first, with their reasons. */
	struct store_event_filter dead = { "dead_letter", NULL, 0, 50 };
	assert_int_equal(store_list_events(f->store, &dead, &l, &err), 0);
	assert_int_equal(l.n, 2);
	assert_false(l.more);
	assert_int_equal(l.rows[0].id, ids[5]);
	assert_string_equal(l.rows[0].last_error, "bad five");
	assert_string_equal(l.rows[0].status, "dead_letter");
	assert_int_equal(l.rows[0].attempts, 1);
	assert_int_equal(l.rows[0].body_bytes, 19);
	assert_null(l.rows[0].lease_owner);
	store_event_list_release(&l);

	/* Nothing matches: an empty page, not an error. */
	struct store_event_filter none = { "completed", "gitlab", 0, 10 };
	assert_int_equal(store_list_events(f->store, &none, &l, &err), 0);
	assert_int_equal(l.n, 0);
	assert_false(l.more);
	store_event_list_release(&l);

	struct store_event_filter bad = { "finished", NULL, 0, 10 };
	assert_int_equal(store_list_events(f->store, &bad, &l, &err), HQ_E_INVAL);
	assert_non_null(strstr(err.msg, "'finished'"));
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

static void detail_has_headers_decoded_body_and_failed_attempts(void **state)
{
	struct fixture *f = *state;
	/* Repetitive enough to be stored compressed. */
	const char *text = "{\"action\":\"opened\",\"issue\":{\"title\":\"xxxxxxxxxxxxxxxxxxxxxxxxx"
			   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}";
	struct buf packed;
	buf_init(&packed, 1024);
	assert_int_equal(zstd_compress(text, strlen(text), 1, &packed), 0);
	struct store_event_in ev = contract_event("detail");
	ev.body = packed.data;
	ev.body_len = packed.len;
	ev.body_encoding = "zstd";
	ev.headers_json = "{\"X-GitHub-Event\":\"issues\"}";
	ev.received_at_ms = 50;
	ev.max_attempts = 3;
	struct store_error err;
	assert_int_equal(store_insert_events(f->store, &ev, 1, &err), 0);
	buf_release(&packed);
	int64_t id = ev.id;

	/* Attempt 1 fails (retry), attempt 2's lease expires, attempt 3
	 * fails for good. */
	struct store_claim c;
	assert_int_equal(store_claim_events(f->store, "host:1:a/w0", 100, 1000, 1, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	struct store_outcome retry = { id, STORE_OUTCOME_RETRY, 300, "HTTP 502", NULL, NULL, NULL, NULL, NULL, 0, NULL };
	assert_int_equal(store_finish_events(f->store, "host:1:a/w0", &retry, 1, 200, NULL, &err), 0);
	assert_int_equal(store_claim_events(f->store, "host:1:a/w1", 300, 1000, 1, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	assert_int_equal(store_reclaim_expired(f->store, 1400, NULL, &err), 0);
	assert_int_equal(store_claim_events(f->store, "host:2:b/w0", 1500, 1000, 1, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	struct store_outcome dead = { id, STORE_OUTCOME_RETRY, 9000, "timeout", NULL, NULL, NULL, NULL, NULL, 0, NULL };
	assert_int_equal(store_finish_events(f->store, "host:2:b/w0", &dead, 1, 1600, NULL, &err), 0);

	struct store_event_detail d;
	assert_int_equal(store_get_event(f->store, id, 1 << 20, &d, &err), 0);
	assert_string_equal(d.row.status, "dead_letter");
	assert_int_equal(d.row.attempts, 3);
	assert_int_equal(d.row.received_at_ms, 50);
	assert_string_equal(d.row.last_error, "timeout");
	assert_string_equal(d.headers_json, "{\"X-GitHub-Event\":\"issues\"}");
	assert_non_null(d.body);
	assert_null(d.body_error);
	assert_int_equal(d.body_len, strlen(text));
	assert_memory_equal(d.body, text, strlen(text));
	assert_int_equal(d.n_attempts, 3);
	assert_int_equal(d.attempts[0].attempt, 1);
	assert_int_equal(d.attempts[0].started_at_ms, 100);
	assert_int_equal(d.attempts[0].finished_at_ms, 200);
	assert_string_equal(d.attempts[0].worker, "host:1:a/w0");
	assert_string_equal(d.attempts[0].outcome, "pending");
	assert_string_equal(d.attempts[0].error, "HTTP 502");
	assert_int_equal(d.attempts[1].started_at_ms, 300);
	assert_int_equal(d.attempts[1].finished_at_ms, 1400);
	assert_string_equal(d.attempts[1].worker, "host:1:a/w1");
	assert_non_null(strstr(d.attempts[1].error, "lease expired"));
	assert_int_equal(d.attempts[2].attempt, 3);
	assert_string_equal(d.attempts[2].outcome, "dead_letter");
	assert_string_equal(d.attempts[2].error, "timeout");
	store_event_detail_release(&d);

	/* A body over the size asked for comes back without it, and why. */
	assert_int_equal(store_get_event(f->store, id, 10, &d, &err), 0);
	assert_null(d.body);
	assert_non_null(d.body_error);
	store_event_detail_release(&d);

	assert_int_equal(store_get_event(f->store, id + 100, 1 << 20, &d, &err), HQ_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "no event"));
}

static void purge_dead_letters_by_age_takes_their_attempts(void **state)
{
	struct fixture *f = *state;
	int64_t old = contract_insert_at(state, "old", 0, 5);
	int64_t young = contract_insert_at(state, "young", 0, 5);
	struct store_claim c;
	struct store_error err;
	assert_int_equal(store_claim_events(f->store, "n", 10, 1000, 10, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	struct store_outcome o1 = { old, STORE_OUTCOME_DEAD, 0, "bad", NULL, NULL, NULL, NULL, NULL, 0, NULL };
	struct store_outcome o2 = { young, STORE_OUTCOME_DEAD, 0, "bad", NULL, NULL, NULL, NULL, NULL, 0, NULL };
	assert_int_equal(store_finish_events(f->store, "n", &o1, 1, 100, NULL, &err), 0);
	assert_int_equal(store_finish_events(f->store, "n", &o2, 1, 5000, NULL, &err), 0);
	size_t purged = 99;
	assert_int_equal(store_purge_events(f->store, "dead_letter", 1000, 100, &purged, &err), 0);
	assert_int_equal(purged, 1);
	struct store_event_detail d;
	assert_int_equal(store_get_event(f->store, old, 1 << 20, &d, &err), HQ_E_NOTFOUND);
	assert_int_equal(store_get_event(f->store, young, 1 << 20, &d, &err), 0);
	assert_int_equal(d.n_attempts, 1);
	store_event_detail_release(&d);

	/* The purged event's attempts went with it. */
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM event_attempts", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* Pending and processing events are never purged. */
	assert_int_equal(store_purge_events(f->store, "pending", INT64_MAX, 100, &purged, &err),
			 HQ_E_INVAL);
	assert_int_equal(store_purge_events(f->store, "processing", INT64_MAX, 100, &purged, &err),
			 HQ_E_INVAL);
}

static void webhooks_and_their_commands_are_stored_in_priority_order(void **state)
{
	struct fixture *f = *state;
	struct store_error err;
	struct store_webhook w;
	memset(&w, 0, sizeof(w));
	snprintf(w.id, sizeof(w.id), "wh_01");
	char provider[] = "github", name[] = "A", secret[] = "s1";
	char trig1[] = "issues.*", act1[] = "comment", tpl1[] = "x";
	char trig2[] = "issues.opened", act2[] = "create_task", agent2[] = "planning", tpl2[] = "y";
	char cond2[] = "{\"path\":\"a\",\"exists\":true}";
	w.provider = provider;
	w.name = name;
	w.secret = secret;
	w.enabled = true;
	assert_int_equal(store_webhook_create(f->store, &w, 1000, &err), 0);
	struct store_webhook_command c = { "cmd_b", trig1, act1, NULL, tpl1, NULL, 20, 0, 0 };
	assert_int_equal(store_webhook_command_put(f->store, "wh_01", &c, true, 2000, &err), 0);
	struct store_webhook_command c2 = { "cmd_a", trig2, act2, agent2, tpl2, cond2, 5, 0, 0 };
	assert_int_equal(store_webhook_command_put(f->store, "wh_01", &c2, true, 3000, &err), 0);
	assert_int_equal(store_webhook_command_put(f->store, "wh_nope", &c2, true, 3000, &err),
			 HQ_E_NOTFOUND);

	struct store_webhook got;
	assert_int_equal(store_webhook_get(f->store, "wh_01", &got, &err), 0);
	assert_string_equal(got.provider, "github");
	assert_string_equal(got.secret, "s1");
	assert_true(got.enabled);
	assert_int_equal(got.n_commands, 2);
	assert_string_equal(got.commands[0].id, "cmd_a"); /* priority 5 first */
	assert_string_equal(got.commands[0].agent, "planning");
	assert_string_equal(got.commands[0].conditions_json, "{\"path\":\"a\",\"exists\":true}");
	assert_null(got.commands[1].agent);
	store_webhook_release(&got);

	char prov[16], sec[8];
	bool on = false, has = false;
	assert_int_equal(store_webhook_peek(f->store, "wh_01", prov, sizeof(prov), &on, sec,
					    sizeof(sec), &has, &err), 0);
	assert_string_equal(prov, "github");
	assert_string_equal(sec, "s1");
	assert_true(on && has);
	assert_int_equal(store_webhook_peek(f->store, "wh_01", prov, sizeof(prov), &on, sec, 2,
					    &has, &err), HQ_E_TOOBIG);
	assert_int_equal(store_webhook_peek(f->store, "wh_no", prov, sizeof(prov), &on, sec,
					    sizeof(sec), &has, &err), HQ_E_NOTFOUND);
	assert_int_equal(store_webhook_update(f->store, "wh_01", NULL, "s2", 0, 4000, &err), 0);
	assert_int_equal(store_webhook_update(f->store, "wh_zz", "n", NULL, -1, 4000, &err),
			 HQ_E_NOTFOUND);
	c.priority = 1;
	assert_int_equal(store_webhook_command_put(f->store, "wh_01", &c, false, 5000, &err), 0);
	assert_int_equal(store_webhook_get(f->store, "wh_01", &got, &err), 0);
	assert_string_equal(got.name, "A"); /* kept */
	assert_string_equal(got.secret, "s2");
	assert_false(got.enabled);
	assert_string_equal(got.commands[0].id, "cmd_b");
	store_webhook_release(&got);

	assert_int_equal(store_webhook_command_delete(f->store, "wh_01", "cmd_b", &err), 0);
	assert_int_equal(store_webhook_command_delete(f->store, "wh_01", "cmd_b", &err), HQ_E_NOTFOUND);
	struct store_webhook *list;
	size_t n;
	assert_int_equal(store_webhook_list(f->store, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].n_commands, 1);
	store_webhook_list_release(list, n);
	assert_int_equal(store_webhook_delete(f->store, "wh_01", &err), 0);
	assert_int_equal(store_webhook_get(f->store, "wh_01", &got, &err), HQ_E_NOTFOUND);
	/* Its commands went with it. */
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM webhook_commands", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
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
		cmocka_unit_test_setup_teardown(purge_deletes_only_old_completed_events, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(list_pages_newest_first_by_keyset, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(list_queries_walk_an_index_without_sorting, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(webhooks_and_their_commands_are_stored_in_priority_order, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(detail_has_headers_decoded_body_and_failed_attempts, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(purge_dead_letters_by_age_takes_their_attempts, contract_setup, contract_teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + contract_run();
}
