/* store: the outbox (SQLite backend). */
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
#include "util/crypto.h"
#include "util/error.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *store;
};

static int setup(void **state)
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

static int teardown(void **state)
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

static const struct store_outbox_in eyes = { "eyes", "reaction",
					     "{\"repository\":\"o/r\",\"target\":\"issue\",\"id\":1}",
					     "{\"content\":\"eyes\"}", 3 };

/* Creates a task with its eyes reply; returns the task id. */
static int64_t task_with_reply(struct fixture *f, const char *origin, int64_t now)
{
	struct store_task_in t = { .origin = origin,
				   .flow_id = "flow-000000000001",
				   .external_id = "github:o/r#1",
				   .agent = "a",
				   .title = "t",
				   .prompt = "p",
				   .max_attempts = 1,
				   .outbox = &eyes,
				   .n_outbox = 1 };
	struct store_error err;
	assert_int_equal(store_create_tasks(f->store, &t, 1, now, &err), 0);
	return t.id;
}

static void a_task_writes_its_reply_once(void **state)
{
	struct fixture *f = *state;
	int64_t id = task_with_reply(f, "event:1:r:c", 1000);
	assert_int_equal(task_with_reply(f, "event:1:r:c", 1000), id); /* again: found */
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

static void claimed_replies_end_sent_retried_or_dead(void **state)
{
	struct fixture *f = *state;
	task_with_reply(f, "event:1:r:a", 1000);
	task_with_reply(f, "event:2:r:a", 1000);
	struct store_outbox_item *it;
	size_t n;
	struct store_error err;
	assert_int_equal(store_outbox_claim(f->store, "n1", 1000, 5000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(it[0].status, "sending");
	assert_int_equal(it[0].attempts, 1);
	int64_t a = it[0].id, b = it[1].id;
	store_outbox_items_release(it, n);
	/* Nothing more is due while they are out. */
	assert_int_equal(store_outbox_claim(f->store, "n2", 1000, 5000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 0);
	store_outbox_items_release(it, n);

	struct store_outbox_end sent = { .outcome = STORE_OUTBOX_SENT, .result = "77" };
	assert_int_equal(store_outbox_finish(f->store, a, "n2", &sent, 1100, &err), HQ_E_CONFLICT);
	assert_int_equal(store_outbox_finish(f->store, a, "n1", &sent, 1100, &err), 0);
	struct store_outbox_end retry = { .outcome = STORE_OUTBOX_RETRY,
					  .next_attempt_at_ms = 3000,
					  .uncertain = true,
					  .error = "timed out" };
	assert_int_equal(store_outbox_finish(f->store, b, "n1", &retry, 1100, &err), 0);
	int64_t due;
	assert_int_equal(store_outbox_next_due(f->store, &due, &err), 0);
	assert_int_equal(due, 3000);
	/* Not before its time; then with the uncertainty kept. */
	assert_int_equal(store_outbox_claim(f->store, "n1", 2999, 5000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 0);
	store_outbox_items_release(it, n);
	assert_int_equal(store_outbox_claim(f->store, "n1", 3000, 5000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_true(it[0].uncertain);
	assert_string_equal(it[0].last_error, "timed out");
	store_outbox_items_release(it, n);
	/* The third attempt of three: a retry becomes dead. */
	assert_int_equal(store_outbox_finish(f->store, b, "n1", &retry, 3100, &err), 0);
	assert_int_equal(store_outbox_claim(f->store, "n1", 3000, 5000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 1);
	store_outbox_items_release(it, n);
	assert_int_equal(store_outbox_finish(f->store, b, "n1", &retry, 3200, &err), 0);
	struct store_outbox_counts c;
	assert_int_equal(store_outbox_count(f->store, &c, &err), 0);
	assert_int_equal(c.sent, 1);
	assert_int_equal(c.dead, 1);
	assert_int_equal(c.pending, 0);
	/* An operator retry: pending again with its attempts granted anew. */
	assert_int_equal(store_outbox_retry(f->store, b, 4000, &err), 0);
	assert_int_equal(store_outbox_retry(f->store, b, 4000, &err), HQ_E_CONFLICT);
	assert_int_equal(store_outbox_retry(f->store, 999, 4000, &err), HQ_E_NOTFOUND);
	struct store_outbox_list l;
	struct store_outbox_filter flt = { .status = "pending" };
	assert_int_equal(store_outbox_list(f->store, &flt, &l, &err), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].id, b);
	assert_int_equal(l.items[0].max_attempts, 3);
	assert_int_equal(l.items[0].attempts, 0);
	store_outbox_list_release(&l);
	flt.status = "sent";
	assert_int_equal(store_outbox_list(f->store, &flt, &l, &err), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].result, "77");
	assert_true(l.items[0].sent_at_ms == 1100);
	store_outbox_list_release(&l);
}

static void a_dead_sender_s_reply_comes_back_uncertain(void **state)
{
	struct fixture *f = *state;
	task_with_reply(f, "event:1:r:a", 1000);
	struct store_outbox_item *it;
	size_t n, back = 9;
	struct store_error err;
	assert_int_equal(store_outbox_claim(f->store, "n1", 1000, 5000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 1);
	int64_t id = it[0].id;
	store_outbox_items_release(it, n);
	assert_int_equal(store_outbox_reclaim(f->store, 5999, &back, &err), 0);
	assert_int_equal(back, 0);
	assert_int_equal(store_outbox_reclaim(f->store, 6000, &back, &err), 0);
	assert_int_equal(back, 1);
	assert_int_equal(store_outbox_claim(f->store, "n2", 6000, 5000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(it[0].id, id);
	assert_true(it[0].uncertain);
	assert_int_equal(it[0].attempts, 2);
	store_outbox_items_release(it, n);
	/* The late sender's record is refused. */
	struct store_outbox_end sent = { .outcome = STORE_OUTBOX_SENT };
	assert_int_equal(store_outbox_finish(f->store, id, "n1", &sent, 6100, &err), HQ_E_CONFLICT);
}

static void an_end_writes_its_replies_once_per_run(void **state)
{
	struct fixture *f = *state;
	int64_t id = task_with_reply(f, "api:x", 1000);
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

static void a_rescued_end_writes_its_replies_once(void **state)
{
	struct fixture *f = *state;
	int64_t id = task_with_reply(f, "api:r", 1000);
	struct store_outbox_in said = { "comment", "comment", "{\"repository\":\"o/r\"}",
					"{\"text\":\"lost\"}", 10 };
	struct store_error err;
	assert_int_equal(store_outbox_write(f->store, id, 0, &said, 1, 2000, &err), 0);
	assert_int_equal(store_outbox_write(f->store, id, 0, &said, 1, 2001, &err), 0);
	struct store_outbox_list l;
	struct store_outbox_filter flt = { .task_id = id, .status = "pending" };
	assert_int_equal(store_outbox_list(f->store, &flt, &l, &err), 0);
	assert_int_equal(l.n, 2); /* the eyes and one comment */
	assert_string_equal(l.items[0].origin, "task:1:0:comment");
	store_outbox_list_release(&l);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(a_task_writes_its_reply_once),
		T(claimed_replies_end_sent_retried_or_dead),
		T(a_dead_sender_s_reply_comes_back_uncertain),
		T(an_end_writes_its_replies_once_per_run),
		T(a_rescued_end_writes_its_replies_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
