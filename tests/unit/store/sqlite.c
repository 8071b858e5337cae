#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/store.h"
#include "util/error.h"

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
	assert_int_equal(version, 1);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(batch_insert_assigns_ids_and_counts_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(redelivery_returns_original_id_and_counts_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(same_delivery_id_on_another_provider_is_a_new_event, setup, teardown),
		cmocka_unit_test_setup_teardown(events_survive_close_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(one_bad_event_does_not_refuse_its_batch, setup, teardown),
		cmocka_unit_test(unopenable_path_is_a_clear_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
