/* The store's contract for events, run against every backend: each
 * backend's test file (sqlite.c, postgres.c) links this file and provides
 * the hooks of contract.h, and its main() calls contract_run(). What only
 * one backend can show (SQLite's query plans, PostgreSQL's nodes racing)
 * stays in that backend's file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/store.h"
#include "contract.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/zstd.h"

void contract_assert_column(void **state, int64_t id, const char *column, const char *want)
{
	char got[512];
	contract_column(state, id, column, got, sizeof(got));
	assert_string_equal(got, want);
}

struct store_event_in contract_event(const char *delivery)
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

int64_t contract_insert_at(void **state, const char *delivery, int64_t at, int max_attempts)
{
	struct store_event_in ev = contract_event(delivery);
	ev.received_at_ms = at;
	ev.max_attempts = max_attempts;
	struct store_error err;
	assert_int_equal(store_insert_events(contract_store(state), &ev, 1, &err), 0);
	return ev.id;
}

static void batch_insert_assigns_ids_and_counts_pending(void **state)
{
	struct store *s = contract_store(state);
	struct store_event_in evs[3] = { contract_event("a"), contract_event("b"), contract_event("c") };
	struct store_error err;
	assert_int_equal(store_insert_events(s, evs, 3, &err), 0);
	assert_true(evs[0].id > 0);
	assert_true(evs[1].id > evs[0].id);
	assert_false(evs[2].duplicate);
	struct store_event_counts c;
	assert_int_equal(store_count_events(s, &c, &err), 0);
	assert_int_equal(c.pending, 3);
	assert_int_equal(c.duplicates, 0);
}

static void redelivery_returns_original_id_and_counts_duplicate(void **state)
{
	struct store *s = contract_store(state);
	struct store_event_in first = contract_event("same");
	struct store_error err;
	assert_int_equal(store_insert_events(s, &first, 1, &err), 0);
	/* twice more, once within one batch */
	struct store_event_in again[2] = { contract_event("same"), contract_event("same") };
	assert_int_equal(store_insert_events(s, again, 2, &err), 0);
	assert_true(again[0].duplicate);
	assert_true(again[1].duplicate);
	assert_int_equal(again[0].id, first.id);
	assert_int_equal(again[1].id, first.id);
	struct store_event_counts c;
	assert_int_equal(store_count_events(s, &c, &err), 0);
	assert_int_equal(c.pending, 1);
	assert_int_equal(c.duplicates, 2);
}

static void same_delivery_id_on_another_provider_is_a_new_event(void **state)
{
	struct store *s = contract_store(state);
	struct store_event_in a = contract_event("x"), b = contract_event("x");
	b.provider = "gitlab";
	b.route = "gitlab";
	struct store_error err;
	assert_int_equal(store_insert_events(s, &a, 1, &err), 0);
	assert_int_equal(store_insert_events(s, &b, 1, &err), 0);
	assert_false(b.duplicate);
	assert_true(b.id != a.id);
}

static void events_survive_close_and_reopen(void **state)
{
	struct store *s = contract_store(state);
	struct store_event_in a = contract_event("persist");
	struct store_error err;
	assert_int_equal(store_insert_events(s, &a, 1, &err), 0);
	contract_reopen(state);
	s = contract_store(state);
	struct store_event_in b = contract_event("persist");
	assert_int_equal(store_insert_events(s, &b, 1, &err), 0);
	assert_true(b.duplicate);
	assert_int_equal(b.id, a.id);
	int version = 0;
	assert_int_equal(store_schema_version(s, &version, &err), 0);
	assert_int_equal(version, 9);
}

static void one_bad_event_does_not_refuse_its_batch(void **state)
{
	struct store *s = contract_store(state);
	struct store_event_in evs[3] = { contract_event("ok1"), contract_event("bad"), contract_event("ok2") };
	evs[1].event_type = NULL; /* NOT NULL constraint */
	struct store_error err;
	assert_int_equal(store_insert_events(s, evs, 3, &err), HQ_E_STORE);
	assert_non_null(strstr(err.msg, "event_type"));
	assert_int_equal(evs[0].result, 0);
	assert_int_equal(evs[1].result, HQ_E_STORE);
	assert_int_equal(evs[2].result, 0);
	struct store_event_counts c;
	assert_int_equal(store_count_events(s, &c, &err), 0);
	assert_int_equal(c.pending, 2);
}

static void claim_takes_due_events_once_under_a_lease(void **state)
{
	struct store *s = contract_store(state);
	int64_t a = contract_insert_at(state, "a", 1000, 5);
	int64_t b = contract_insert_at(state, "b", 2000, 5);
	contract_insert_at(state, "later", 9000, 5);
	struct store_claim c;
	struct store_error err;
	assert_int_equal(store_claim_events(s, "node-1", 5000, 30000, 10, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 2); /* "later" is not due at 5000 */
	assert_true((c.events[0].id == a && c.events[1].id == b) ||
		    (c.events[0].id == b && c.events[1].id == a));
	assert_int_equal(c.events[0].attempts, 1);
	assert_int_equal(c.events[0].body_len, 19);
	assert_memory_equal(c.events[0].body, "{\"action\":\"opened\"}", 19);
	assert_string_equal(c.events[0].event_type, "issues");
	store_claim_release(&c);
	contract_assert_column(state, a, "status", "processing");
	contract_assert_column(state, a, "lease_owner", "node-1");
	contract_assert_column(state, a, "lease_expires_at", "35000");

	struct store_claim again;
	assert_int_equal(store_claim_events(s, "node-2", 5000, 30000, 10, 1 << 20, &again, &err), 0);
	assert_int_equal(again.n, 0);
	store_claim_release(&again);
}

static void compressed_bodies_come_back_decoded(void **state)
{
	struct store *s = contract_store(state);
	char text[2000];
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = "{\"k\":\"vvvvvvvv\"}"[i % 16];
	struct buf packed;
	buf_init(&packed, sizeof(text));
	assert_int_equal(zstd_compress(text, sizeof(text), 1, &packed), 0);
	struct store_event_in ev = contract_event("z");
	ev.body = packed.data;
	ev.body_len = packed.len;
	ev.body_encoding = "zstd";
	struct store_error err;
	assert_int_equal(store_insert_events(s, &ev, 1, &err), 0);
	buf_release(&packed);
	struct store_claim c;
	assert_int_equal(store_claim_events(s, "n", INT64_MAX / 2, 1000, 1, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.events[0].body_len, sizeof(text));
	assert_memory_equal(c.events[0].body, text, sizeof(text));
	store_claim_release(&c);
	/* Over the caller's limit: returned without a body. */
	assert_int_equal(store_reclaim_expired(s, INT64_MAX / 2 + 2000, NULL, &err), 0);
	assert_int_equal(store_claim_events(s, "n", INT64_MAX / 2 + 3000, 1000, 1, 100, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_null(c.events[0].body);
	store_claim_release(&c);
}

static void outcomes_complete_retry_or_dead_letter(void **state)
{
	struct store *s = contract_store(state);
	int64_t done = contract_insert_at(state, "done", 0, 5);
	int64_t retry = contract_insert_at(state, "retry", 0, 5);
	int64_t dead = contract_insert_at(state, "dead", 0, 5);
	int64_t last = contract_insert_at(state, "last", 0, 1);
	struct store_claim c;
	struct store_error err;
	assert_int_equal(store_claim_events(s, "n", 100, 30000, 10, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 4);
	store_claim_release(&c);
	struct store_outcome o[4] = {
		{ done, STORE_OUTCOME_DONE, 0, NULL, "opened", "o/r", "octocat", "{\"routes\":[]}", NULL, 0, NULL },
		{ retry, STORE_OUTCOME_RETRY, 4100, "HTTP 502 from agent", NULL, NULL, NULL, NULL, NULL, 0, NULL },
		{ dead, STORE_OUTCOME_DEAD, 0, "malformed JSON at line 1 column 2", NULL, NULL, NULL, NULL, NULL, 0, NULL },
		{ last, STORE_OUTCOME_RETRY, 4100, "timeout", NULL, NULL, NULL, NULL, NULL, 0, NULL },
	};
	size_t applied = 0;
	assert_int_equal(store_finish_events(s, "n", o, 4, 200, &applied, &err), 0);
	assert_int_equal(applied, 4);
	contract_assert_column(state, done, "status", "completed");
	contract_assert_column(state, done, "completed_at", "200");
	contract_assert_column(state, done, "repository", "o/r");
	contract_assert_column(state, done, "action", "opened");
	contract_assert_column(state, done, "routing", "{\"routes\":[]}");
	contract_assert_column(state, done, "lease_owner", "");
	contract_assert_column(state, retry, "status", "pending");
	contract_assert_column(state, retry, "next_attempt_at", "4100");
	contract_assert_column(state, retry, "last_error", "HTTP 502 from agent");
	contract_assert_column(state, dead, "status", "dead_letter");
	contract_assert_column(state, dead, "last_error", "malformed JSON at line 1 column 2");
	/* max_attempts 1: the transient failure used the last attempt */
	contract_assert_column(state, last, "status", "dead_letter");

	int64_t due = 0;
	assert_int_equal(store_next_due(s, &due, &err), 0);
	assert_int_equal(due, 4100);
	/* The retried event is not due before 4100, then it is, attempt 2. */
	assert_int_equal(store_claim_events(s, "n", 4099, 30000, 10, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 0);
	store_claim_release(&c);
	assert_int_equal(store_claim_events(s, "n", 4100, 30000, 10, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.events[0].id, retry);
	assert_int_equal(c.events[0].attempts, 2);
	store_claim_release(&c);
	assert_int_equal(store_next_due(s, &due, &err), 0);
	assert_true(due == INT64_MAX); /* nothing pending */
}

static void expired_lease_returns_to_pending_and_old_owner_cannot_finish(void **state)
{
	struct store *s = contract_store(state);
	int64_t id = contract_insert_at(state, "lease", 0, 2);
	struct store_claim c;
	struct store_error err;
	size_t n = 99;
	assert_int_equal(store_claim_events(s, "dead-node", 100, 1000, 1, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	assert_int_equal(store_reclaim_expired(s, 1099, &n, &err), 0);
	assert_int_equal(n, 0); /* not expired yet */
	assert_int_equal(store_reclaim_expired(s, 1100, &n, &err), 0);
	assert_int_equal(n, 1);
	contract_assert_column(state, id, "status", "pending");
	contract_assert_column(state, id, "attempts", "1");
	contract_assert_column(state, id, "last_error", "lease expired: the processor stopped or stalled");

	/* Another node takes it; the first node's late outcome changes nothing. */
	assert_int_equal(store_claim_events(s, "live-node", 1200, 1000, 1, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 1);
	store_claim_release(&c);
	struct store_outcome late = { id, STORE_OUTCOME_DONE, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL };
	size_t applied = 99;
	assert_int_equal(store_finish_events(s, "dead-node", &late, 1, 1300, &applied, &err), 0);
	assert_int_equal(applied, 0);
	contract_assert_column(state, id, "status", "processing");
	contract_assert_column(state, id, "lease_owner", "live-node");

	/* Second expiry with attempts used up (max 2): dead letter. */
	assert_int_equal(store_reclaim_expired(s, 2200, &n, &err), 0);
	assert_int_equal(n, 1);
	contract_assert_column(state, id, "status", "dead_letter");
}

static void binary_bodies_are_kept_byte_for_byte(void **state)
{
	struct store *s = contract_store(state);
	unsigned char bytes[256];
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)i; /* NUL, invalid UTF-8, everything */
	struct store_event_in ev = contract_event("bin");
	ev.body = bytes;
	ev.body_len = sizeof(bytes);
	struct store_event_in empty = contract_event("empty");
	empty.body = NULL;
	empty.body_len = 0;
	struct store_error err;
	assert_int_equal(store_insert_events(s, &ev, 1, &err), 0);
	assert_int_equal(store_insert_events(s, &empty, 1, &err), 0);
	struct store_claim c;
	assert_int_equal(store_claim_events(s, "n", INT64_MAX / 2, 1000, 10, 1 << 20, &c, &err), 0);
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

static void oldest_pending_is_the_first_received_still_pending(void **state)
{
	struct store *s = contract_store(state);
	struct store_error err;
	int64_t oldest = 0;
	assert_int_equal(store_oldest_pending(s, &oldest, &err), 0);
	assert_true(oldest == INT64_MAX);
	contract_insert_at(state, "first", 1000, 5);
	contract_insert_at(state, "second", 2000, 5);
	assert_int_equal(store_oldest_pending(s, &oldest, &err), 0);
	assert_int_equal(oldest, 1000);
	struct store_claim c;
	assert_int_equal(store_claim_events(s, "n", 1500, 1000, 1, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 1);
	store_claim_release(&c);
	assert_int_equal(store_oldest_pending(s, &oldest, &err), 0);
	assert_int_equal(oldest, 2000);
}

static void purge_deletes_only_old_completed_events(void **state)
{
	struct store *s = contract_store(state);
	int64_t old = contract_insert_at(state, "old", 0, 5);
	int64_t recent = contract_insert_at(state, "recent", 0, 5);
	int64_t dead = contract_insert_at(state, "dead", 0, 5);
	struct store_claim c;
	struct store_error err;
	assert_int_equal(store_claim_events(s, "n", 10, 1000, 10, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	struct store_outcome o1[2] = {
		{ old, STORE_OUTCOME_DONE, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL },
		{ dead, STORE_OUTCOME_DEAD, 0, "bad", NULL, NULL, NULL, NULL, NULL, 0, NULL },
	};
	assert_int_equal(store_finish_events(s, "n", o1, 2, 100, NULL, &err), 0);
	struct store_outcome o2 = { recent, STORE_OUTCOME_DONE, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL };
	assert_int_equal(store_finish_events(s, "n", &o2, 1, 5000, NULL, &err), 0);
	size_t purged = 0;
	assert_int_equal(store_purge_events(s, "completed", 1000, 100, &purged, &err), 0);
	assert_int_equal(purged, 1);
	struct store_event_counts counts;
	assert_int_equal(store_count_events(s, &counts, &err), 0);
	assert_int_equal(counts.completed, 1);
	assert_int_equal(counts.dead_letter, 1); /* dead letters wait for an operator */
	/* The purged delivery is forgotten: a redelivery is a new event. */
	struct store_event_in again = contract_event("old");
	assert_int_equal(store_insert_events(s, &again, 1, &err), 0);
	assert_false(again.duplicate);
}

static void list_pages_newest_first_by_keyset(void **state)
{
	struct store *s = contract_store(state);
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
	assert_int_equal(store_insert_events(s, &gl, 1, &err), 0);
	struct store_claim c;
	assert_int_equal(store_claim_events(s, "n", 5000, 1000, 100, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	struct store_outcome o[2] = {
		{ ids[3], STORE_OUTCOME_DEAD, 0, "bad three", NULL, NULL, NULL, NULL, NULL, 0, NULL },
		{ ids[5], STORE_OUTCOME_DEAD, 0, "bad five", NULL, NULL, NULL, NULL, NULL, 0, NULL },
	};
	assert_int_equal(store_finish_events(s, "n", o, 2, 5100, NULL, &err), 0);

	/* All of github, three per page: 6 5 4 | 3 2 1 | 0 */
	struct store_event_filter filt = { NULL, "github", 0, 3 };
	struct store_event_list l;
	int64_t want[] = { ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0] };
	size_t seen = 0;
	for (int page = 0; page < 3; page++) {
		assert_int_equal(store_list_events(s, &filt, &l, &err), 0);
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
	assert_int_equal(store_list_events(s, &dead, &l, &err), 0);
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
	assert_int_equal(store_list_events(s, &none, &l, &err), 0);
	assert_int_equal(l.n, 0);
	assert_false(l.more);
	store_event_list_release(&l);

	struct store_event_filter bad = { "finished", NULL, 0, 10 };
	assert_int_equal(store_list_events(s, &bad, &l, &err), HQ_E_INVAL);
	assert_non_null(strstr(err.msg, "'finished'"));
}

static void detail_has_headers_decoded_body_and_failed_attempts(void **state)
{
	struct store *s = contract_store(state);
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
	assert_int_equal(store_insert_events(s, &ev, 1, &err), 0);
	buf_release(&packed);
	int64_t id = ev.id;

	/* Attempt 1 fails (retry), attempt 2's lease expires, attempt 3
	 * fails for good. */
	struct store_claim c;
	assert_int_equal(store_claim_events(s, "host:1:a/w0", 100, 1000, 1, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	struct store_outcome retry = { id, STORE_OUTCOME_RETRY, 300, "HTTP 502", NULL, NULL, NULL, NULL, NULL, 0, NULL };
	assert_int_equal(store_finish_events(s, "host:1:a/w0", &retry, 1, 200, NULL, &err), 0);
	assert_int_equal(store_claim_events(s, "host:1:a/w1", 300, 1000, 1, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	assert_int_equal(store_reclaim_expired(s, 1400, NULL, &err), 0);
	assert_int_equal(store_claim_events(s, "host:2:b/w0", 1500, 1000, 1, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	struct store_outcome dead = { id, STORE_OUTCOME_RETRY, 9000, "timeout", NULL, NULL, NULL, NULL, NULL, 0, NULL };
	assert_int_equal(store_finish_events(s, "host:2:b/w0", &dead, 1, 1600, NULL, &err), 0);

	struct store_event_detail d;
	assert_int_equal(store_get_event(s, id, 1 << 20, &d, &err), 0);
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
	assert_int_equal(store_get_event(s, id, 10, &d, &err), 0);
	assert_null(d.body);
	assert_non_null(d.body_error);
	store_event_detail_release(&d);

	assert_int_equal(store_get_event(s, id + 100, 1 << 20, &d, &err), HQ_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "no event"));
}

static void purge_dead_letters_by_age_takes_their_attempts(void **state)
{
	struct store *s = contract_store(state);
	int64_t old = contract_insert_at(state, "old", 0, 5);
	int64_t young = contract_insert_at(state, "young", 0, 5);
	struct store_claim c;
	struct store_error err;
	assert_int_equal(store_claim_events(s, "n", 10, 1000, 10, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	struct store_outcome o1 = { old, STORE_OUTCOME_DEAD, 0, "bad", NULL, NULL, NULL, NULL, NULL, 0, NULL };
	struct store_outcome o2 = { young, STORE_OUTCOME_DEAD, 0, "bad", NULL, NULL, NULL, NULL, NULL, 0, NULL };
	assert_int_equal(store_finish_events(s, "n", &o1, 1, 100, NULL, &err), 0);
	assert_int_equal(store_finish_events(s, "n", &o2, 1, 5000, NULL, &err), 0);
	size_t purged = 99;
	assert_int_equal(store_purge_events(s, "dead_letter", 1000, 100, &purged, &err), 0);
	assert_int_equal(purged, 1);
	struct store_event_detail d;
	assert_int_equal(store_get_event(s, old, 1 << 20, &d, &err), HQ_E_NOTFOUND);
	assert_int_equal(store_get_event(s, young, 1 << 20, &d, &err), 0);
	assert_int_equal(d.n_attempts, 1);
	store_event_detail_release(&d);

	/* The purged event's attempts went with it. */
	assert_int_equal(contract_count_rows(state, "event_attempts"), 1);

	/* Pending and processing events are never purged. */
	assert_int_equal(store_purge_events(s, "pending", INT64_MAX, 100, &purged, &err),
			 HQ_E_INVAL);
	assert_int_equal(store_purge_events(s, "processing", INT64_MAX, 100, &purged, &err),
			 HQ_E_INVAL);
}

static void replays_grant_attempts_again_and_keep_the_history(void **state)
{
	struct store *s = contract_store(state);
	struct store_error err;
	int64_t dead = contract_insert_at(state, "dead", 0, 2);
	int64_t done = contract_insert_at(state, "done", 0, 2);
	int64_t pending = contract_insert_at(state, "pending", 900000, 2);
	struct store_claim c;
	assert_int_equal(store_claim_events(s, "n", 10, 1000, 10, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 2);
	store_claim_release(&c);
	struct store_outcome o[2] = {
		{ dead, STORE_OUTCOME_DEAD, 0, "bad", NULL, NULL, NULL, NULL, NULL, 0, NULL },
		{ done, STORE_OUTCOME_DONE, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL },
	};
	assert_int_equal(store_finish_events(s, "n", o, 2, 20, NULL, &err), 0);

	assert_int_equal(store_retry_event(s, dead, "completed", 30, &err), HQ_E_CONFLICT);
	assert_int_equal(store_retry_event(s, pending, NULL, 30, &err), HQ_E_CONFLICT);
	assert_non_null(strstr(err.msg, "is not dead_letter or completed"));
	assert_int_equal(store_retry_event(s, dead + 1000, NULL, 30, &err), HQ_E_NOTFOUND);
	assert_int_equal(store_retry_event(s, dead, NULL, 30, &err), 0);
	contract_assert_column(state, dead, "status", "pending");
	contract_assert_column(state, dead, "attempts", "1");
	contract_assert_column(state, dead, "max_attempts", "3"); /* 2 more than the 1 used */
	contract_assert_column(state, dead, "next_attempt_at", "30");
	contract_assert_column(state, dead, "last_error", "bad"); /* kept */

	/* A replayed completion stays in the history. */
	assert_int_equal(store_retry_event(s, done, "completed", 40, &err), 0);
	struct store_event_detail d;
	assert_int_equal(store_get_event(s, done, 1 << 20, &d, &err), 0);
	assert_string_equal(d.row.status, "pending");
	assert_int_equal(d.row.completed_at_ms, 0);
	assert_int_equal(d.n_attempts, 1);
	assert_string_equal(d.attempts[0].outcome, "completed");
	assert_int_equal(d.attempts[0].finished_at_ms, 20);
	store_event_detail_release(&d);
}

static void bulk_replays_walk_ids_in_pages(void **state)
{
	struct store *s = contract_store(state);
	struct store_error err;
	int64_t ids[5];
	char name[8];
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		ids[i] = contract_insert_at(state, name, 0, 1);
	}
	struct store_claim c;
	assert_int_equal(store_claim_events(s, "n", 10, 1000, 10, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	struct store_outcome o[5];
	memset(o, 0, sizeof(o));
	for (int i = 0; i < 5; i++) {
		o[i].id = ids[i];
		o[i].kind = STORE_OUTCOME_DEAD;
		o[i].error = "bad";
	}
	assert_int_equal(store_finish_events(s, "n", o, 5, 20, NULL, &err), 0);
	size_t count = 0;
	int64_t last = 0, after = 0;
	size_t total = 0;
	for (int page = 0; page < 3; page++) {
		assert_int_equal(store_retry_events(s, "dead_letter", 30, after, 2, &count, &last, &err), 0);
		assert_int_equal(count, page < 2 ? 2 : 1);
		total += count;
		assert_true(last > after || count == 0);
		after = last;
	}
	assert_int_equal(total, 5);
	assert_int_equal(last, ids[4]);
	struct store_event_counts counts;
	assert_int_equal(store_count_events(s, &counts, &err), 0);
	assert_int_equal(counts.pending, 5);
	assert_int_equal(counts.dead_letter, 0);
	assert_int_equal(store_retry_events(s, "dead_letter", 30, 0, 2, &count, &last, &err), 0);
	assert_int_equal(count, 0);
	assert_int_equal(store_retry_events(s, "pending", 30, 0, 2, &count, &last, &err), HQ_E_INVAL);
}

static void webhooks_and_their_commands_are_stored_in_priority_order(void **state)
{
	struct store *s = contract_store(state);
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
	assert_int_equal(store_webhook_create(s, &w, 1000, &err), 0);
	struct store_webhook_command c = { "cmd_b", trig1, act1, NULL, tpl1, NULL, 20, 0, 0 };
	assert_int_equal(store_webhook_command_put(s, "wh_01", &c, true, 2000, &err), 0);
	struct store_webhook_command c2 = { "cmd_a", trig2, act2, agent2, tpl2, cond2, 5, 0, 0 };
	assert_int_equal(store_webhook_command_put(s, "wh_01", &c2, true, 3000, &err), 0);
	assert_int_equal(store_webhook_command_put(s, "wh_nope", &c2, true, 3000, &err),
			 HQ_E_NOTFOUND);

	struct store_webhook got;
	assert_int_equal(store_webhook_get(s, "wh_01", &got, &err), 0);
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
	assert_int_equal(store_webhook_peek(s, "wh_01", prov, sizeof(prov), &on, sec,
					    sizeof(sec), &has, &err), 0);
	assert_string_equal(prov, "github");
	assert_string_equal(sec, "s1");
	assert_true(on && has);
	assert_int_equal(store_webhook_peek(s, "wh_01", prov, sizeof(prov), &on, sec, 2,
					    &has, &err), HQ_E_TOOBIG);
	assert_int_equal(store_webhook_peek(s, "wh_no", prov, sizeof(prov), &on, sec,
					    sizeof(sec), &has, &err), HQ_E_NOTFOUND);
	assert_int_equal(store_webhook_update(s, "wh_01", NULL, "s2", 0, 4000, &err), 0);
	assert_int_equal(store_webhook_update(s, "wh_zz", "n", NULL, -1, 4000, &err),
			 HQ_E_NOTFOUND);
	c.priority = 1;
	assert_int_equal(store_webhook_command_put(s, "wh_01", &c, false, 5000, &err), 0);
	assert_int_equal(store_webhook_get(s, "wh_01", &got, &err), 0);
	assert_string_equal(got.name, "A"); /* kept */
	assert_string_equal(got.secret, "s2");
	assert_false(got.enabled);
	assert_string_equal(got.commands[0].id, "cmd_b");
	store_webhook_release(&got);

	assert_int_equal(store_webhook_command_delete(s, "wh_01", "cmd_b", &err), 0);
	assert_int_equal(store_webhook_command_delete(s, "wh_01", "cmd_b", &err), HQ_E_NOTFOUND);
	struct store_webhook *list;
	size_t n;
	assert_int_equal(store_webhook_list(s, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].n_commands, 1);
	store_webhook_list_release(list, n);
	assert_int_equal(store_webhook_delete(s, "wh_01", &err), 0);
	assert_int_equal(store_webhook_get(s, "wh_01", &got, &err), HQ_E_NOTFOUND);
	/* Its commands went with it. */
	assert_int_equal(contract_count_rows(state, "webhook_commands"), 0);
}

static struct store_node node_named(char *id)
{
	static char host[] = "h", version[] = "0.1.0";
	struct store_node n = { 0 };
	n.id = id;
	n.host = host;
	n.version = version;
	n.pid = 42;
	return n;
}

static void nodes_beat_stop_and_are_listed(void **state)
{
	struct store *s = contract_store(state);
	struct store_error err;
	bool rescued = true;
	char id[] = "h:42:aaaa";
	struct store_node a = node_named(id);
	assert_int_equal(store_node_beat(s, &a, 1000, &rescued, &err), 0);
	assert_false(rescued);
	assert_int_equal(store_node_beat(s, &a, 4000, &rescued, &err), 0);
	assert_false(rescued);
	struct store_node *v;
	size_t n;
	assert_int_equal(store_nodes_list(s, &v, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, "h:42:aaaa");
	assert_string_equal(v[0].host, "h");
	assert_string_equal(v[0].version, "0.1.0");
	assert_int_equal(v[0].pid, 42);
	assert_int_equal(v[0].started_at_ms, 1000);
	assert_int_equal(v[0].heartbeat_at_ms, 4000);
	assert_int_equal(v[0].ended_at_ms, 0);
	assert_null(v[0].ended_by);
	store_nodes_release(v, n);

	assert_int_equal(store_node_stop(s, "h:42:aaaa", 5000, &err), 0);
	assert_int_equal(store_nodes_list(s, &v, &n, &err), 0);
	assert_int_equal(v[0].ended_at_ms, 5000);
	assert_string_equal(v[0].ended_by, "h:42:aaaa");
	store_nodes_release(v, n);
	/* A node stopped cleanly is not dead: nothing to rescue. */
	char **ids;
	assert_int_equal(store_nodes_rescue(s, "other", 999999, 1000, &ids, &n, &err), 0);
	assert_int_equal(n, 0);
	store_strings_release(ids, n);
}

static void a_dead_nodes_leases_end_and_it_is_rescued_once(void **state)
{
	struct store *s = contract_store(state);
	struct store_error err;
	bool rescued;
	char dead_id[] = "h:1:dead", live_id[] = "h:2:live";
	struct store_node dead = node_named(dead_id);
	struct store_node live = node_named(live_id);
	assert_int_equal(store_node_beat(s, &dead, 1000, &rescued, &err), 0);
	assert_int_equal(store_node_beat(s, &live, 30000, &rescued, &err), 0);
	int64_t mine = contract_insert_at(state, "mine", 1000, 5);
	int64_t alike = contract_insert_at(state, "alike", 1000, 5);
	struct store_claim c;
	assert_int_equal(store_claim_events(s, "h:1:dead/w0", 1000, 600000, 1, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.events[0].id, mine);
	store_claim_release(&c);
	/* A node whose id only starts like the dead one's keeps its lease. */
	assert_int_equal(store_claim_events(s, "h:1:deadbeef/w0", 1000, 600000, 1, 1 << 20, &c, &err), 0);
	assert_int_equal(c.events[0].id, alike);
	store_claim_release(&c);

	/* Not silent for long enough yet. */
	char **ids;
	size_t n;
	assert_int_equal(store_nodes_rescue(s, "h:2:live", 30000, 30000, &ids, &n, &err), 0);
	assert_int_equal(n, 0);
	store_strings_release(ids, n);
	contract_assert_column(state, mine, "lease_expires_at", "601000");

	assert_int_equal(store_nodes_rescue(s, "h:2:live", 31001, 30000, &ids, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], "h:1:dead");
	store_strings_release(ids, n);
	contract_assert_column(state, mine, "lease_expires_at", "31001");
	contract_assert_column(state, alike, "lease_expires_at", "601000");
	size_t reclaimed;
	assert_int_equal(store_reclaim_expired(s, 31001, &reclaimed, &err), 0);
	assert_int_equal(reclaimed, 1);
	contract_assert_column(state, mine, "status", "pending");
	contract_assert_column(state, alike, "status", "processing");

	/* Rescued once: a second look finds nothing. */
	assert_int_equal(store_nodes_rescue(s, "h:2:live", 40000, 30000, &ids, &n, &err), 0);
	assert_int_equal(n, 0);
	store_strings_release(ids, n);
	struct store_node *v;
	assert_int_equal(store_nodes_list(s, &v, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, "h:1:dead");
	assert_int_equal(v[0].ended_at_ms, 31001);
	assert_string_equal(v[0].ended_by, "h:2:live");
	store_nodes_release(v, n);

	/* The node was only stalled: its next beat learns it was rescued,
	 * and it counts as alive again. */
	assert_int_equal(store_node_beat(s, &dead, 41000, &rescued, &err), 0);
	assert_true(rescued);
	assert_int_equal(store_node_beat(s, &dead, 42000, &rescued, &err), 0);
	assert_false(rescued);

	/* A node never rescues itself; ended nodes are forgotten after a day. */
	assert_int_equal(store_nodes_rescue(s, "h:2:live", 42000 + 86400000LL, 30000, &ids, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], "h:1:dead");
	store_strings_release(ids, n);
	assert_int_equal(store_nodes_rescue(s, "h:2:live", 42000 + 3 * 86400000LL, 30000, NULL, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_nodes_list(s, &v, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, "h:2:live");
	store_nodes_release(v, n);
}

int contract_run(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(batch_insert_assigns_ids_and_counts_pending, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(redelivery_returns_original_id_and_counts_duplicate, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(same_delivery_id_on_another_provider_is_a_new_event, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(events_survive_close_and_reopen, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(one_bad_event_does_not_refuse_its_batch, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(claim_takes_due_events_once_under_a_lease, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(compressed_bodies_come_back_decoded, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(outcomes_complete_retry_or_dead_letter, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(expired_lease_returns_to_pending_and_old_owner_cannot_finish, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(binary_bodies_are_kept_byte_for_byte, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(oldest_pending_is_the_first_received_still_pending, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(purge_deletes_only_old_completed_events, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(list_pages_newest_first_by_keyset, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(detail_has_headers_decoded_body_and_failed_attempts, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(purge_dead_letters_by_age_takes_their_attempts, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(replays_grant_attempts_again_and_keep_the_history, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(bulk_replays_walk_ids_in_pages, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(webhooks_and_their_commands_are_stored_in_priority_order, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(nodes_beat_stop_and_are_listed, contract_setup, contract_teardown),
		cmocka_unit_test_setup_teardown(a_dead_nodes_leases_end_and_it_is_rescued_once, contract_setup, contract_teardown),
	};
	return cmocka_run_group_tests_name("store contract", tests, NULL, NULL);
}
