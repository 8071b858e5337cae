/* store: the outbox (SQLite backend): the contract's tests
 * (contract_outbox.c) with this backend's hooks, and what needs the task
 * operations, which only SQLite has so far. */
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
#include "contract_outbox.h"
#include "util/crypto.h"
#include "util/error.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *store;
};

int contract_outbox_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/hookq-outbox-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	struct store_options so = { STORE_SYNC_NORMAL, 5000 };
	struct store_error err;
	if (store_open(f->path, &so, &f->store, &err) < 0) {
		rmdir(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

int contract_outbox_teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->store);
	char p[200];
	snprintf(p, sizeof(p), "rm -rf '%s'", f->dir);
	if (system(p) != 0)
		return -1;
	free(f);
	return 0;
}

struct store *contract_outbox_store(void **state)
{
	return ((struct fixture *)*state)->store;
}

int64_t contract_outbox_task(void **state, const char *origin,
			     const struct store_outbox_in *reply, int64_t now_ms)
{
	struct fixture *f = *state;
	struct store_task_in t = { .origin = origin,
				   .flow_id = "flow-000000000001",
				   .external_id = "github:o/r#1",
				   .agent = "a",
				   .title = "t",
				   .prompt = "p",
				   .max_attempts = 1,
				   .outbox = reply,
				   .n_outbox = 1 };
	struct store_error err;
	assert_int_equal(store_create_tasks(f->store, &t, 1, now_ms, &err), 0);
	return t.id;
}

static void a_task_writes_its_reply_once(void **state)
{
	struct fixture *f = *state;
	int64_t id = contract_outbox_task(state, "event:1:r:c", &contract_outbox_eyes, 1000);
	assert_int_equal(contract_outbox_task(state, "event:1:r:c", &contract_outbox_eyes, 1000), id); /* again: found */
	struct store_outbox_list l;
	struct store_error err;
	struct store_outbox_filter flt = { .task_id = id };
	assert_int_equal(store_outbox_list(f->store, &flt, &l, &err), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].origin, "event:1:r:c:eyes");
	assert_string_equal(l.items[0].kind, "reaction");
	assert_string_equal(l.items[0].status, "pending");
	assert_int_equal(l.items[0].max_attempts, 3);
	assert_int_equal(l.items[0].task_id, id);
	store_outbox_list_release(&l);
}

static void an_end_writes_its_replies_once_per_run(void **state)
{
	struct fixture *f = *state;
	int64_t id = contract_outbox_task(state, "api:x", &contract_outbox_eyes, 1000);
	unsigned char hash[CRYPTO_SHA256_LEN] = { 1 };
	struct store_task t;
	struct store_error err;
	assert_int_equal(store_task_start(f->store, id, "w", "n1", "h", hash, 1000, 30000, 0, &t,
					  &err),
			 0);
	store_task_release(&t);
	struct store_outbox_in comment = { "comment", "comment", "{\"repository\":\"o/r\"}",
					   "{\"text\":\"done\"}", 10 };
	struct store_task_end end = { .status = "failed", .outbox = &comment, .n_outbox = 1 };
	assert_int_equal(store_task_finish(f->store, id, "n1", "w", 1, &end, 2000, 0, &err), 0);
	/* An operator retry is a new run: its end comments again. */
	assert_int_equal(store_task_retry(f->store, id, NULL, 3000, &err), 0);
	assert_int_equal(store_task_start(f->store, id, "w", "n1", "h", hash, 3000, 30000, 0, &t,
					  &err),
			 0);
	store_task_release(&t);
	end.status = "succeeded";
	assert_int_equal(store_task_finish(f->store, id, "n1", "w", 2, &end, 4000, 0, &err), 0);
	struct store_outbox_list l;
	struct store_outbox_filter flt = { .task_id = id };
	assert_int_equal(store_outbox_list(f->store, &flt, &l, &err), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[0].origin, "task:1:1:comment"); /* newest first */
	assert_string_equal(l.items[1].origin, "task:1:0:comment");
	assert_string_equal(l.items[2].origin, "api:x:eyes");
	store_outbox_list_release(&l);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, contract_outbox_setup, contract_outbox_teardown)
	const struct CMUnitTest tests[] = {
		T(a_task_writes_its_reply_once),
		T(an_end_writes_its_replies_once_per_run),
	};
#undef T
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + contract_outbox_run();
}
