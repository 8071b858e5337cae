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
#include "util/buf.h"
#include "util/error.h"
#include "util/zstd.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *store;
};

static const struct store_options opts = { STORE_SYNC_FULL, 5000 };

static int setup(void **state)
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

static int teardown(void **state)
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

static void batch_insert_assigns_ids_and_counts_pending(void **state)
{
	struct fixture *f = *state;
	struct store_event_in evs[3] = { event("a"), event("b"), event("c") };
	struct store_error err;
	assert_int_equal(store_insert_events(f->store, evs, 3, &err), 0);
	assert_true(evs[0].id > 0);
	assert_true(evs[1].id > evs[0].id);
	assert_false(evs[2].duplicate);
	struct store_event_counts c;
	assert_int_equal(store_count_events(f->store, &c, &err), 0);
	assert_int_equal(c.pending, 3);
	assert_int_equal(c.duplicates, 0);
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

static void events_survive_close_and_reopen(void **state)
{
	struct fixture *f = *state;
	struct store_event_in a = event("persist");
	struct store_error err;
	assert_int_equal(store_insert_events(f->store, &a, 1, &err), 0);
	store_close(f->store);
	f->store = NULL;
	assert_int_equal(store_open(f->path, &opts, &f->store, &err), 0);
	struct store_event_in b = event("persist");
	assert_int_equal(store_insert_events(f->store, &b, 1, &err), 0);
	assert_true(b.duplicate);
	assert_int_equal(b.id, a.id);
	int version = 0;
	assert_int_equal(store_schema_version(f->store, &version, &err), 0);
	assert_int_equal(version, 7);
}

static void one_bad_event_does_not_refuse_its_batch(void **state)
{
	struct fixture *f = *state;
	struct store_event_in evs[3] = { event("ok1"), event("bad"), event("ok2") };
	evs[1].event_type = NULL; /* NOT NULL constraint */
	struct store_error err;
	assert_true(store_insert_events(f->store, evs, 3, &err) < 0);
	assert_int_equal(evs[0].result, 0);
	assert_true(evs[1].result < 0);
	assert_int_equal(evs[2].result, 0);
	struct store_event_counts c;
	assert_int_equal(store_count_events(f->store, &c, &err), 0);
	assert_int_equal(c.pending, 2);
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
static void peek(struct fixture *f, int64_t id, const char *column, char *out, size_t size)
{
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

static void assert_column(struct fixture *f, int64_t id, const char *column, const char *want)
{
	char got[512];
	peek(f, id, column, got, sizeof(got));
	assert_string_equal(got, want);
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
	assert_true((c.events[0].id == a && c.events[1].id == b) ||
		    (c.events[0].id == b && c.events[1].id == a));
	assert_int_equal(c.events[0].attempts, 1);
	assert_int_equal(c.events[0].body_len, 19);
	assert_memory_equal(c.events[0].body, "{\"action\":\"opened\"}", 19);
	assert_string_equal(c.events[0].event_type, "issues");
	store_claim_release(&c);
	assert_column(f, a, "status", "processing");
	assert_column(f, a, "lease_owner", "node-1");
	assert_column(f, a, "lease_expires_at", "35000");

	struct store_claim again;
	assert_int_equal(store_claim_events(f->store, "node-2", 5000, 30000, 10, 1 << 20, &again, &err), 0);
	assert_int_equal(again.n, 0);
	store_claim_release(&again);
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
	assert_column(f, done, "routing", "{\"routes\":[]}");
	assert_column(f, done, "lease_owner", "");
	assert_column(f, retry, "status", "pending");
	assert_column(f, retry, "next_attempt_at", "4100");
	assert_column(f, retry, "last_error", "HTTP 502 from agent");
	assert_column(f, dead, "status", "dead_letter");
	assert_column(f, dead, "last_error", "malformed JSON at line 1 column 2");
	/* max_attempts 1: the transient failure used the last attempt */
	assert_column(f, last, "status", "dead_letter");

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
}

static void purge_deletes_only_old_completed_events(void **state)
{
	struct fixture *f = *state;
	int64_t old = insert_at(f, "old", 0, 5);
	int64_t recent = insert_at(f, "recent", 0, 5);
	int64_t dead = insert_at(f, "dead", 0, 5);
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
	struct store_event_in again = event("old");
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
		ids[i] = insert_at(f, name, 1000 + i, 5);
	}
	/* One gitlab event in the middle; ids 3 and 5 dead-lettered. */
	struct store_event_in gl = event("gl");
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
	insert_at(f, "x", 0, 5);
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
	struct store_event_in ev = event("detail");
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
	int64_t old = insert_at(f, "old", 0, 5);
	int64_t young = insert_at(f, "young", 0, 5);
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
		cmocka_unit_test_setup_teardown(batch_insert_assigns_ids_and_counts_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(redelivery_returns_original_id_and_counts_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(same_delivery_id_on_another_provider_is_a_new_event, setup, teardown),
		cmocka_unit_test_setup_teardown(events_survive_close_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(one_bad_event_does_not_refuse_its_batch, setup, teardown),
		cmocka_unit_test(unopenable_path_is_a_clear_error),
		cmocka_unit_test(urls_lose_their_password_in_logs),
		cmocka_unit_test_setup_teardown(claim_takes_due_events_once_under_a_lease, setup, teardown),
		cmocka_unit_test_setup_teardown(compressed_bodies_come_back_decoded, setup, teardown),
		cmocka_unit_test_setup_teardown(outcomes_complete_retry_or_dead_letter, setup, teardown),
		cmocka_unit_test_setup_teardown(expired_lease_returns_to_pending_and_old_owner_cannot_finish, setup, teardown),
		cmocka_unit_test_setup_teardown(purge_deletes_only_old_completed_events, setup, teardown),
		cmocka_unit_test_setup_teardown(list_pages_newest_first_by_keyset, setup, teardown),
		cmocka_unit_test_setup_teardown(list_queries_walk_an_index_without_sorting, setup, teardown),
		cmocka_unit_test_setup_teardown(webhooks_and_their_commands_are_stored_in_priority_order, setup, teardown),
		cmocka_unit_test_setup_teardown(detail_has_headers_decoded_body_and_failed_attempts, setup, teardown),
		cmocka_unit_test_setup_teardown(purge_dead_letters_by_age_takes_their_attempts, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
