#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "engine/admin.h"
#include "util/error.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *store;
	struct admin admin;
	int woken;
	struct admin_reply rep;
	json_t *doc;
};

static void count_wake(void *ctx)
{
	struct fixture *f = ctx;
	f->woken++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/hookq-admin-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	struct store_options so = { STORE_SYNC_NORMAL, 5000 };
	struct store_error err;
	if (store_open(f->path, &so, &f->store, &err) < 0)
		return -1;
	f->admin = (struct admin){
		.store = f->store, .max_body = 1 << 20, .wake = count_wake, .wake_ctx = f
	};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	admin_reply_release(&f->rep);
	json_decref(f->doc);
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

/* Sends one request; returns the status and keeps the parsed document. */
static unsigned call(struct fixture *f, const char *method, const char *path,
		     const struct admin_param *p, size_t n)
{
	admin_reply_release(&f->rep);
	json_decref(f->doc);
	f->doc = NULL;
	struct admin_request req = { .method = method, .path = path, .params = p, .n_params = n };
	assert_int_equal(admin_handle(&f->admin, &req, 1700000100000, &f->rep), 0);
	if (f->rep.body) {
		f->doc = json_loads(f->rep.body, 0, NULL);
		assert_non_null(f->doc);
	}
	return f->rep.status;
}

static int64_t insert(struct fixture *f, const char *delivery, const void *body, size_t len)
{
	struct store_event_in ev;
	memset(&ev, 0, sizeof(ev));
	ev.provider = "github";
	ev.route = "github";
	ev.delivery_id = delivery;
	ev.event_type = "issues";
	ev.headers_json = "{\"X-GitHub-Event\":\"issues\"}";
	ev.body = body;
	ev.body_len = len;
	ev.received_at_ms = 1700000000000;
	ev.max_attempts = 5;
	struct store_error err;
	assert_int_equal(store_insert_events(f->store, &ev, 1, &err), 0);
	return ev.id;
}

static void unknown_paths_are_404_and_wrong_methods_405_with_allow(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(call(f, "GET", "/api/nothing", NULL, 0), 404);
	assert_int_equal(call(f, "GET", "/api/events/", NULL, 0), 404);
	assert_int_equal(call(f, "GET", "/api/events/12/other", NULL, 0), 404);
	assert_int_equal(call(f, "GET", "/api/events/0", NULL, 0), 404);
	assert_int_equal(call(f, "GET", "/api/events/99999999999999999999", NULL, 0), 404);
	assert_int_equal(call(f, "POST", "/api/events", NULL, 0), 405);
	assert_string_equal(f->rep.allow, "GET, HEAD");
	assert_string_equal(f->rep.code, "method_not_allowed");
	assert_int_equal(call(f, "GET", "/api/events/retry", NULL, 0), 405);
	assert_string_equal(f->rep.allow, "POST");
	assert_int_equal(call(f, "DELETE", "/api/events/1", NULL, 0), 405);
	assert_int_equal(call(f, "HEAD", "/api/events", NULL, 0), 200);
}

static void list_parameters_are_checked_and_named(void **state)
{
	struct fixture *f = *state;
	static const struct {
		struct admin_param p[2];
		size_t n;
		const char *message;
	} cases[] = {
		{ { { "limit", "0" } }, 1, "limit must be a whole number from 1 to 1000, not '0'" },
		{ { { "limit", "12x" } }, 1, "limit must be a whole number from 1 to 1000, not '12x'" },
		{ { { "cursor", "-1" } }, 1, "cursor must be a next_cursor this API returned, not '-1'" },
		{ { { "status", "done" } }, 1,
		  "status must be pending, processing, completed or dead_letter, not 'done'" },
		{ { { "provider", "Git Hub" } }, 1,
		  "provider must be a provider name such as github, not 'Git Hub'" },
		{ { { "sort", "id" } }, 1,
		  "unknown parameter 'sort' (known: status, provider, limit, cursor)" },
		{ { { "limit", "1" }, { "limit", "2" } }, 2, "parameter 'limit' given twice" },
		{ { { "status", NULL } }, 1, "parameter 'status' is empty" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(call(f, "GET", "/api/events", cases[i].p, cases[i].n), 400);
		assert_string_equal(f->rep.code, "bad_request");
		assert_string_equal(f->rep.message, cases[i].message);
		assert_null(f->rep.body);
	}
	struct admin_param none = { "x", "1" };
	assert_int_equal(call(f, "GET", "/api/events/1", &none, 1), 400);
	assert_string_equal(f->rep.message, "unknown parameter 'x' (this endpoint takes none)");
}

static void list_pages_with_a_cursor_until_it_is_null(void **state)
{
	struct fixture *f = *state;
	int64_t a = insert(f, "a", "{}", 2);
	int64_t b = insert(f, "b", "{}", 2);
	int64_t c = insert(f, "c", "{}", 2);
	struct admin_param p[2] = { { "limit", "2" }, { "cursor", NULL } };
	assert_int_equal(call(f, "GET", "/api/events", p, 1), 200);
	json_t *events = json_object_get(f->doc, "events");
	assert_int_equal(json_array_size(events), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(events, 0), "id")), c);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(events, 1), "id")), b);
	const char *next = json_string_value(json_object_get(f->doc, "next_cursor"));
	assert_non_null(next);
	char cursor[24];
	snprintf(cursor, sizeof(cursor), "%s", next);
	p[1].value = cursor;
	assert_int_equal(call(f, "GET", "/api/events", p, 2), 200);
	events = json_object_get(f->doc, "events");
	assert_int_equal(json_array_size(events), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(events, 0), "id")), a);
	assert_true(json_is_null(json_object_get(f->doc, "next_cursor")));
	json_t *e = json_array_get(events, 0);
	assert_string_equal(json_string_value(json_object_get(e, "received_at")),
			    "2023-11-14T22:13:20.000Z");
	assert_string_equal(json_string_value(json_object_get(e, "status")), "pending");
	assert_true(json_is_string(json_object_get(e, "next_attempt_at")));
	assert_true(json_is_null(json_object_get(e, "lease_owner")));
}

static void show_gives_json_text_or_base64_payloads(void **state)
{
	struct fixture *f = *state;
	int64_t js = insert(f, "json", "{\"action\":\"opened\",\"n\":1}", 25);
	int64_t text = insert(f, "text", "payload=a%20b&x=\xc3\xa9", 18);
	int64_t bin = insert(f, "bin", "\xff\x00\x01", 3);
	char path[64];
	snprintf(path, sizeof(path), "/api/events/%lld", (long long)js);
	assert_int_equal(call(f, "GET", path, NULL, 0), 200);
	json_t *payload = json_object_get(f->doc, "payload");
	assert_string_equal(json_string_value(json_object_get(payload, "action")), "opened");
	assert_string_equal(json_string_value(json_object_get(f->doc, "payload_text")),
			    "{\"action\":\"opened\",\"n\":1}");
	assert_int_equal(json_integer_value(json_object_get(f->doc, "payload_bytes")), 25);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(f->doc, "headers"), "X-GitHub-Event")),
		"issues");
	assert_int_equal(json_array_size(json_object_get(f->doc, "history")), 0);

	snprintf(path, sizeof(path), "/api/events/%lld", (long long)text);
	assert_int_equal(call(f, "GET", path, NULL, 0), 200);
	assert_true(json_is_null(json_object_get(f->doc, "payload")));
	assert_string_equal(json_string_value(json_object_get(f->doc, "payload_text")),
			    "payload=a%20b&x=\xc3\xa9");

	snprintf(path, sizeof(path), "/api/events/%lld", (long long)bin);
	assert_int_equal(call(f, "GET", path, NULL, 0), 200);
	assert_string_equal(json_string_value(json_object_get(f->doc, "payload_base64")), "/wAB");
	assert_null(json_object_get(f->doc, "payload_text"));

	/* The text is the bytes as sent, even where parsing would change
	 * them (17-digit reals, a repeated key). */
	const char *odd = "{\"a\":0.1,\"d\":1,\"d\":2}";
	int64_t exact = insert(f, "exact", odd, strlen(odd));
	snprintf(path, sizeof(path), "/api/events/%lld", (long long)exact);
	assert_int_equal(call(f, "GET", path, NULL, 0), 200);
	assert_string_equal(json_string_value(json_object_get(f->doc, "payload_text")), odd);

	assert_int_equal(call(f, "GET", "/api/events/424242", NULL, 0), 404);
	assert_string_equal(f->rep.message, "no event 424242");
}

static void replays_wake_the_processor_only_when_something_was_queued(void **state)
{
	struct fixture *f = *state;
	int64_t id = insert(f, "r", "{}", 2);
	char path[64];
	snprintf(path, sizeof(path), "/api/events/%lld/retry", (long long)id);
	assert_int_equal(call(f, "POST", path, NULL, 0), 409);
	assert_string_equal(f->rep.code, "not_retryable");
	assert_int_equal(call(f, "POST", "/api/events/77/retry", NULL, 0), 404);
	assert_int_equal(f->woken, 0);

	struct store_claim c;
	struct store_error err;
	assert_int_equal(store_claim_events(f->store, "n", INT64_MAX / 2, 1000, 1, 1 << 20, &c, &err), 0);
	store_claim_release(&c);
	struct store_outcome dead = { id, STORE_OUTCOME_DEAD, 0, "bad", NULL, NULL, NULL, NULL, NULL, 0, NULL };
	assert_int_equal(store_finish_events(f->store, "n", &dead, 1, 1000, NULL, &err), 0);

	struct admin_param none = { "status", "completed" };
	assert_int_equal(call(f, "POST", "/api/events/retry", &none, 1), 200);
	assert_int_equal(json_integer_value(json_object_get(f->doc, "count")), 0);
	assert_int_equal(f->woken, 0);
	assert_int_equal(call(f, "POST", path, NULL, 0), 200);
	assert_string_equal(json_string_value(json_object_get(f->doc, "status")), "queued");
	assert_int_equal(f->woken, 1);

	assert_int_equal(call(f, "POST", "/api/events/retry", NULL, 0), 400);
	assert_string_equal(f->rep.message, "status is required: dead_letter or completed");
	struct admin_param pending = { "status", "pending" };
	assert_int_equal(call(f, "POST", "/api/events/retry", &pending, 1), 400);
}

static void purge_needs_an_age_and_a_settled_status(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(call(f, "POST", "/api/events/purge", NULL, 0), 400);
	assert_string_equal(f->rep.message, "older_than is required, for example 7d");
	struct admin_param bad[2] = { { "older_than", "7 days" }, { "status", "completed" } };
	assert_int_equal(call(f, "POST", "/api/events/purge", bad, 1), 400);
	assert_string_equal(f->rep.message,
			    "older_than must be a duration such as 12h or 7d, not '7 days'");
	bad[0].value = "7d";
	bad[1].value = "processing";
	assert_int_equal(call(f, "POST", "/api/events/purge", bad, 2), 400);
	bad[1].value = "dead_letter";
	assert_int_equal(call(f, "POST", "/api/events/purge", bad, 2), 200);
	assert_int_equal(json_integer_value(json_object_get(f->doc, "purged")), 0);
	assert_string_equal(json_string_value(json_object_get(f->doc, "status")), "dead_letter");
	/* now (1700000100000) - 7 days */
	assert_string_equal(json_string_value(json_object_get(f->doc, "before")),
			    "2023-11-07T22:15:00.000Z");
}

static void request_bytes_quoted_in_messages_stay_printable_ascii(void **state)
{
	struct fixture *f = *state;
	struct admin_param p = { "status", "\xff\xfe\x1b[2J" };
	assert_int_equal(call(f, "GET", "/api/events", &p, 1), 400);
	assert_string_equal(f->rep.message,
			    "status must be pending, processing, completed or dead_letter, not "
			    "'???[2J'");
	char long_name[200];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	struct admin_param q = { long_name, "1" };
	assert_int_equal(call(f, "GET", "/api/events", &q, 1), 400);
	/* cut at 64 bytes */
	assert_non_null(strstr(f->rep.message, "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'"));
	/* Every message can go into a JSON string as it is. */
	json_t *j = json_string(f->rep.message);
	assert_non_null(j);
	json_decref(j);
}

/* Settles n new events: completed at done_ms, or dead letters. */
static void settle(struct fixture *f, size_t n, bool dead, int64_t done_ms)
{
	for (size_t i = 0; i < n; i++) {
		char d[32];
		snprintf(d, sizeof(d), "bulk-%d-%zu", dead, i);
		insert(f, d, "{}", 2);
	}
	struct store_claim c;
	struct store_error err;
	assert_int_equal(store_claim_events(f->store, "n", INT64_MAX / 2, 1000, n, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, n);
	struct store_outcome *o = calloc(n, sizeof(*o));
	for (size_t i = 0; i < n; i++) {
		o[i].id = c.events[i].id;
		o[i].kind = dead ? STORE_OUTCOME_DEAD : STORE_OUTCOME_DONE;
		o[i].error = dead ? "bad" : NULL;
	}
	store_claim_release(&c);
	size_t applied = 0;
	assert_int_equal(store_finish_events(f->store, "n", o, n, done_ms, &applied, &err), 0);
	assert_int_equal(applied, n);
	free(o);
}

static void purges_and_bulk_replays_run_in_batches_to_the_end(void **state)
{
	struct fixture *f = *state;
	settle(f, ADMIN_BATCH + 5, false, 1000);
	struct admin_param p[2] = { { "older_than", "1d" }, { "status", "completed" } };
	assert_int_equal(call(f, "POST", "/api/events/purge", p, 2), 200);
	assert_int_equal(json_integer_value(json_object_get(f->doc, "purged")), ADMIN_BATCH + 5);

	settle(f, ADMIN_BATCH + 3, true, 1000);
	struct admin_param dead = { "status", "dead_letter" };
	assert_int_equal(call(f, "POST", "/api/events/retry", &dead, 1), 200);
	assert_int_equal(json_integer_value(json_object_get(f->doc, "count")), ADMIN_BATCH + 3);
	assert_true(f->woken >= 1);
	struct store_event_counts counts;
	struct store_error err;
	assert_int_equal(store_count_events(f->store, &counts, &err), 0);
	assert_int_equal(counts.pending, ADMIN_BATCH + 3);
	assert_int_equal(counts.dead_letter, 0);
	assert_int_equal(counts.completed, 0);
}

static void shutdown_stops_a_purge_between_batches_and_says_so(void **state)
{
	struct fixture *f = *state;
	settle(f, 3, false, 1000);
	atomic_bool cancel;
	atomic_init(&cancel, true);
	f->admin.cancel = &cancel;
	struct admin_param p = { "older_than", "1d" };
	assert_int_equal(call(f, "POST", "/api/events/purge", &p, 1), 503);
	assert_string_equal(f->rep.code, "shutting_down");
	assert_non_null(strstr(f->rep.message, "stopped after purging 0 events"));
	struct admin_param dead = { "status", "completed" };
	assert_int_equal(call(f, "POST", "/api/events/retry", &dead, 1), 503);
}

static void a_busy_store_is_503_not_a_conflict(void **state)
{
	struct fixture *f = *state;
	int64_t id = insert(f, "busy", "{}", 2);
	store_close(f->store);
	struct store_options so = { STORE_SYNC_NORMAL, 50 };
	struct store_error err;
	assert_int_equal(store_open(f->path, &so, &f->store, &err), 0);
	f->admin.store = f->store;
	sqlite3 *other;
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	char path[64];
	snprintf(path, sizeof(path), "/api/events/%lld/retry", (long long)id);
	assert_int_equal(call(f, "POST", path, NULL, 0), 503);
	assert_string_equal(f->rep.code, "store_unavailable");
	assert_string_equal(f->rep.message, "the store is busy; retry later");
	assert_true(f->rep.detail[0] != '\0');
	sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(other);
}

static void history_keeps_a_replayed_completion_and_shows_the_running_attempt(void **state)
{
	struct fixture *f = *state;
	settle(f, 1, false, 5000);
	struct admin_param only = { "status", "dead_letter" };
	assert_int_equal(call(f, "POST", "/api/events/1/retry", &only, 1), 409);
	assert_string_equal(f->rep.message, "event 1 is not dead_letter");
	assert_int_equal(call(f, "POST", "/api/events/1/retry", NULL, 0), 200);
	struct store_claim c;
	struct store_error err;
	assert_int_equal(store_claim_events(f->store, "w2", INT64_MAX / 2, 1000, 1, 1 << 20, &c, &err), 0);
	assert_int_equal(c.n, 1);
	store_claim_release(&c);
	assert_int_equal(call(f, "GET", "/api/events/1", NULL, 0), 200);
	json_t *h = json_object_get(f->doc, "history");
	assert_int_equal(json_array_size(h), 2);
	json_t *done = json_array_get(h, 0);
	assert_int_equal(json_integer_value(json_object_get(done, "attempt")), 1);
	assert_string_equal(json_string_value(json_object_get(done, "outcome")), "completed");
	assert_true(json_is_null(json_object_get(done, "started_at")));
	assert_true(json_is_null(json_object_get(done, "duration_ms")));
	assert_string_equal(json_string_value(json_object_get(done, "finished_at")),
			    "1970-01-01T00:00:05.000Z");
	json_t *now = json_array_get(h, 1);
	assert_int_equal(json_integer_value(json_object_get(now, "attempt")), 2);
	assert_string_equal(json_string_value(json_object_get(now, "outcome")), "processing");
	assert_string_equal(json_string_value(json_object_get(now, "worker")), "w2");
	assert_string_equal(json_string_value(json_object_get(f->doc, "lease_owner")), "w2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(unknown_paths_are_404_and_wrong_methods_405_with_allow, setup, teardown),
		cmocka_unit_test_setup_teardown(list_parameters_are_checked_and_named, setup, teardown),
		cmocka_unit_test_setup_teardown(list_pages_with_a_cursor_until_it_is_null, setup, teardown),
		cmocka_unit_test_setup_teardown(show_gives_json_text_or_base64_payloads, setup, teardown),
		cmocka_unit_test_setup_teardown(replays_wake_the_processor_only_when_something_was_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(purge_needs_an_age_and_a_settled_status, setup, teardown),
		cmocka_unit_test_setup_teardown(request_bytes_quoted_in_messages_stay_printable_ascii, setup, teardown),
		cmocka_unit_test_setup_teardown(purges_and_bulk_replays_run_in_batches_to_the_end, setup, teardown),
		cmocka_unit_test_setup_teardown(shutdown_stops_a_purge_between_batches_and_says_so, setup, teardown),
		cmocka_unit_test_setup_teardown(a_busy_store_is_503_not_a_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(history_keeps_a_replayed_completion_and_shows_the_running_attempt, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
