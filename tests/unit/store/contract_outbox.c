/* contract_outbox: the outbox tests both store backends pass; sqlite_outbox.c
 * and postgres_outbox.c run them with their own hooks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "contract_outbox.h"
#include "util/error.h"

const struct store_outbox_in contract_outbox_eyes = {
	"eyes", "reaction", "{\"repository\":\"o/r\",\"target\":\"issue\",\"id\":1}",
	"{\"content\":\"eyes\"}", 3
};

static void claimed_replies_end_sent_retried_or_dead(void **state)
{
	struct store *s = contract_outbox_store(state);
	contract_outbox_task(state, "event:1:r:a", &contract_outbox_eyes, 1000);
	contract_outbox_task(state, "event:2:r:a", &contract_outbox_eyes, 1000);
	struct store_outbox_item *it;
	size_t n;
	struct store_error err;
	assert_int_equal(store_outbox_claim(s, "n1", 1000, 5000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(it[0].status, "sending");
	assert_int_equal(it[0].attempts, 1);
	assert_int_equal(it[0].lease_expires_at_ms, 6000);
	int64_t a = it[0].id, b = it[1].id;
	store_outbox_items_release(it, n);
	/* Nothing more is due while they are out. */
	assert_int_equal(store_outbox_claim(s, "n2", 1000, 5000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 0);
	store_outbox_items_release(it, n);

	struct store_outbox_end sent = { .outcome = STORE_OUTBOX_SENT, .result = "77" };
	assert_int_equal(store_outbox_finish(s, a, "n2", &sent, 1100, &err), HQ_E_CONFLICT);
	assert_int_equal(store_outbox_finish(s, a, "n1", &sent, 1100, &err), 0);
	struct store_outbox_end retry = { .outcome = STORE_OUTBOX_RETRY,
					  .next_attempt_at_ms = 3000,
					  .uncertain = true,
					  .error = "timed out" };
	assert_int_equal(store_outbox_finish(s, b, "n1", &retry, 1100, &err), 0);
	int64_t due;
	assert_int_equal(store_outbox_next_due(s, &due, &err), 0);
	assert_int_equal(due, 3000);
	/* Not before its time; then with the uncertainty kept. */
	assert_int_equal(store_outbox_claim(s, "n1", 2999, 5000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 0);
	store_outbox_items_release(it, n);
	assert_int_equal(store_outbox_claim(s, "n1", 3000, 5000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_true(it[0].uncertain);
	assert_string_equal(it[0].last_error, "timed out");
	store_outbox_items_release(it, n);
	/* The third attempt of three: a retry becomes dead. */
	assert_int_equal(store_outbox_finish(s, b, "n1", &retry, 3100, &err), 0);
	assert_int_equal(store_outbox_claim(s, "n1", 3000, 5000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 1);
	store_outbox_items_release(it, n);
	assert_int_equal(store_outbox_finish(s, b, "n1", &retry, 3200, &err), 0);
	struct store_outbox_counts c;
	assert_int_equal(store_outbox_count(s, &c, &err), 0);
	assert_int_equal(c.sent, 1);
	assert_int_equal(c.dead, 1);
	assert_int_equal(c.pending, 0);
	assert_int_equal(c.sending, 0);
	/* An operator retry: pending again with its attempts granted anew. */
	assert_int_equal(store_outbox_retry(s, b, 4000, &err), 0);
	assert_int_equal(store_outbox_retry(s, b, 4000, &err), HQ_E_CONFLICT);
	assert_string_equal(err.msg, "reply 2 is not dead");
	assert_int_equal(store_outbox_retry(s, 999, 4000, &err), HQ_E_NOTFOUND);
	assert_string_equal(err.msg, "no reply 999");
	struct store_outbox_list l;
	struct store_outbox_filter flt = { .status = "pending" };
	assert_int_equal(store_outbox_list(s, &flt, &l, &err), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].id, b);
	assert_int_equal(l.items[0].max_attempts, 3);
	assert_int_equal(l.items[0].attempts, 0);
	assert_int_equal(l.items[0].next_attempt_at_ms, 4000);
	store_outbox_list_release(&l);
	flt.status = "sent";
	assert_int_equal(store_outbox_list(s, &flt, &l, &err), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].result, "77");
	assert_false(l.items[0].uncertain);
	assert_null(l.items[0].last_error);
	assert_true(l.items[0].sent_at_ms == 1100);
	store_outbox_list_release(&l);
}

static void a_dead_sender_s_reply_comes_back_uncertain(void **state)
{
	struct store *s = contract_outbox_store(state);
	contract_outbox_task(state, "event:1:r:a", &contract_outbox_eyes, 1000);
	struct store_outbox_item *it;
	size_t n, back = 9;
	struct store_error err;
	assert_int_equal(store_outbox_claim(s, "n1", 1000, 5000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 1);
	int64_t id = it[0].id;
	assert_false(it[0].uncertain);
	store_outbox_items_release(it, n);
	assert_int_equal(store_outbox_reclaim(s, 5999, &back, &err), 0);
	assert_int_equal(back, 0);
	assert_int_equal(store_outbox_reclaim(s, 6000, &back, &err), 0);
	assert_int_equal(back, 1);
	assert_int_equal(store_outbox_claim(s, "n2", 6000, 5000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(it[0].id, id);
	assert_true(it[0].uncertain);
	assert_int_equal(it[0].attempts, 2);
	assert_string_equal(it[0].last_error,
			    "the sender stopped while sending (it may have been received)");
	store_outbox_items_release(it, n);
	/* The late sender's record is refused. */
	struct store_outbox_end sent = { .outcome = STORE_OUTBOX_SENT };
	assert_int_equal(store_outbox_finish(s, id, "n1", &sent, 6100, &err), HQ_E_CONFLICT);
	assert_string_equal(err.msg, "reply 1 is not being sent by this node");
	/* Its last attempt lost too: dead, not pending. */
	assert_int_equal(store_outbox_reclaim(s, 11000, &back, &err), 0);
	assert_int_equal(store_outbox_claim(s, "n2", 11000, 5000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 1);
	store_outbox_items_release(it, n);
	assert_int_equal(store_outbox_reclaim(s, 16000, &back, &err), 0);
	assert_int_equal(back, 1);
	struct store_outbox_counts c;
	assert_int_equal(store_outbox_count(s, &c, &err), 0);
	assert_int_equal(c.dead, 1);
	assert_int_equal(c.pending + c.sending + c.sent, 0);
}

static void a_rescued_end_writes_its_replies_once(void **state)
{
	struct store *s = contract_outbox_store(state);
	int64_t id = contract_outbox_task(state, "api:r", &contract_outbox_eyes, 1000);
	struct store_outbox_in said = { "comment", "comment", "{\"repository\":\"o/r\"}",
					"{\"text\":\"lost\"}", 10 };
	struct store_error err;
	assert_int_equal(store_outbox_write(s, id, 0, &said, 1, 2000, &err), 0);
	assert_int_equal(store_outbox_write(s, id, 0, &said, 1, 2001, &err), 0);
	struct store_outbox_list l;
	struct store_outbox_filter flt = { .task_id = id, .status = "pending" };
	assert_int_equal(store_outbox_list(s, &flt, &l, &err), 0);
	assert_int_equal(l.n, 2); /* the eyes and one comment */
	assert_string_equal(l.items[0].origin, "task:1:0:comment");
	assert_int_equal(l.items[0].created_at_ms, 2000);
	assert_string_equal(l.items[1].origin, "api:r:eyes");
	store_outbox_list_release(&l);
}

/* Writes reply `name` of task task_id's run 0 at now_ms. */
static void write_reply(struct store *s, int64_t task_id, const char *name, int64_t now_ms)
{
	struct store_outbox_in in = { name, "comment", "{\"to\":1}", "{\"text\":\"t\"}", 0 };
	struct store_error err;
	assert_int_equal(store_outbox_write(s, task_id, 0, &in, 1, now_ms, &err), 0);
}

static void the_list_pages_newest_first_and_filters(void **state)
{
	struct store *s = contract_outbox_store(state);
	for (int i = 0; i < 5; i++)
		write_reply(s, i % 2 ? 7 : 8, i < 3 ? "a" : "b", 1000 + i);
	/* Task 8's second "a" was the same reply: four in all. */
	struct store_outbox_list l;
	struct store_error err;
	struct store_outbox_filter flt = { .limit = 2 };
	assert_int_equal(store_outbox_list(s, &flt, &l, &err), 0);
	assert_int_equal(l.n, 2);
	assert_true(l.more);
	assert_string_equal(l.items[0].origin, "task:8:0:b");
	assert_string_equal(l.items[1].origin, "task:7:0:b");
	assert_string_equal(l.items[0].kind, "comment");
	assert_string_equal(l.items[0].status, "pending");
	assert_string_equal(l.items[0].target_json, "{\"to\":1}");
	assert_string_equal(l.items[0].body_json, "{\"text\":\"t\"}");
	assert_int_equal(l.items[0].max_attempts, 10);
	assert_int_equal(l.items[0].attempts, 0);
	assert_int_equal(l.items[0].task_id, 8);
	assert_int_equal(l.items[0].created_at_ms, 1004);
	assert_int_equal(l.items[0].updated_at_ms, 1004);
	assert_int_equal(l.items[0].next_attempt_at_ms, 1004);
	assert_int_equal(l.items[0].sent_at_ms, 0);
	assert_null(l.items[0].result);
	assert_null(l.items[0].last_error);
	assert_false(l.items[0].uncertain);
	flt.before_id = l.items[1].id;
	store_outbox_list_release(&l);
	assert_int_equal(store_outbox_list(s, &flt, &l, &err), 0);
	assert_int_equal(l.n, 2);
	assert_false(l.more);
	assert_string_equal(l.items[0].origin, "task:7:0:a");
	assert_string_equal(l.items[1].origin, "task:8:0:a");
	store_outbox_list_release(&l);

	struct store_outbox_filter by_task = { .task_id = 7 };
	assert_int_equal(store_outbox_list(s, &by_task, &l, &err), 0);
	assert_int_equal(l.n, 2);
	store_outbox_list_release(&l);
	struct store_outbox_item *it;
	size_t n;
	assert_int_equal(store_outbox_claim(s, "n1", 5000, 1000, 1, &it, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(it[0].origin, "task:8:0:a"); /* the first due */
	store_outbox_items_release(it, n);
	struct store_outbox_filter both = { .task_id = 8, .status = "sending" };
	assert_int_equal(store_outbox_list(s, &both, &l, &err), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].origin, "task:8:0:a");
	store_outbox_list_release(&l);
	both.status = "sent";
	assert_int_equal(store_outbox_list(s, &both, &l, &err), 0);
	assert_int_equal(l.n, 0);
	assert_false(l.more);
	store_outbox_list_release(&l);
}

static void replies_without_a_task_have_task_id_zero(void **state)
{
	struct store *s = contract_outbox_store(state);
	write_reply(s, 0, "x", 1000);
	struct store_outbox_list l;
	struct store_error err;
	struct store_outbox_filter flt = { 0 };
	assert_int_equal(store_outbox_list(s, &flt, &l, &err), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].task_id, 0);
	assert_string_equal(l.items[0].origin, "task:0:0:x");
	store_outbox_list_release(&l);
}

static void nothing_pending_is_never_due(void **state)
{
	struct store *s = contract_outbox_store(state);
	struct store_error err;
	int64_t due = 0;
	assert_int_equal(store_outbox_next_due(s, &due, &err), 0);
	assert_true(due == INT64_MAX);
	struct store_outbox_item *it = NULL;
	size_t n = 9;
	assert_int_equal(store_outbox_claim(s, "n1", 1000, 1000, 10, &it, &n, &err), 0);
	assert_int_equal(n, 0);
	store_outbox_items_release(it, n);
	struct store_outbox_counts c;
	assert_int_equal(store_outbox_count(s, &c, &err), 0);
	assert_int_equal(c.pending + c.sending + c.sent + c.dead, 0);
	/* One sending reply is not due either. */
	write_reply(s, 1, "x", 1000);
	assert_int_equal(store_outbox_claim(s, "n1", 1000, 1000, 10, &it, &n, &err), 0);
	store_outbox_items_release(it, n);
	assert_int_equal(store_outbox_next_due(s, &due, &err), 0);
	assert_true(due == INT64_MAX);
}

/* Claims reply origin "task:<id>:0:<name>" alone and finishes it at
 * now_ms with outcome o. */
static void claim_and_finish(struct store *s, enum store_outbox_outcome o, int64_t now_ms)
{
	struct store_outbox_item *it;
	size_t n;
	struct store_error err;
	assert_int_equal(store_outbox_claim(s, "n1", now_ms, 1000, 1, &it, &n, &err), 0);
	assert_int_equal(n, 1);
	struct store_outbox_end e = { .outcome = o, .error = "no" };
	assert_int_equal(store_outbox_finish(s, it[0].id, "n1", &e, now_ms, &err), 0);
	store_outbox_items_release(it, n);
}

static void purge_deletes_only_old_sent_and_dead_replies(void **state)
{
	struct store *s = contract_outbox_store(state);
	for (int i = 0; i < 4; i++) {
		char name[8];
		snprintf(name, sizeof(name), "r%d", i);
		write_reply(s, 1, name, 1000 + i);
	}
	claim_and_finish(s, STORE_OUTBOX_SENT, 2000);
	claim_and_finish(s, STORE_OUTBOX_DEAD, 2001);
	claim_and_finish(s, STORE_OUTBOX_SENT, 3000);
	/* r3 stays pending, however old. */
	size_t purged = 9;
	struct store_error err;
	assert_int_equal(store_outbox_purge(s, 2000, 10, &purged, &err), 0);
	assert_int_equal(purged, 0);
	assert_int_equal(store_outbox_purge(s, 2500, 1, &purged, &err), 0);
	assert_int_equal(purged, 1);
	assert_int_equal(store_outbox_purge(s, 2500, 10, &purged, &err), 0);
	assert_int_equal(purged, 1);
	struct store_outbox_counts c;
	assert_int_equal(store_outbox_count(s, &c, &err), 0);
	assert_int_equal(c.sent, 1);
	assert_int_equal(c.dead, 0);
	assert_int_equal(c.pending, 1);
	assert_int_equal(store_outbox_purge(s, 10000, 10, &purged, &err), 0);
	assert_int_equal(purged, 1);
	assert_int_equal(store_outbox_count(s, &c, &err), 0);
	assert_int_equal(c.sent + c.dead, 0);
	assert_int_equal(c.pending, 1);
}

int contract_outbox_run(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, contract_outbox_setup, contract_outbox_teardown)
	const struct CMUnitTest tests[] = {
		T(claimed_replies_end_sent_retried_or_dead),
		T(a_dead_sender_s_reply_comes_back_uncertain),
		T(a_rescued_end_writes_its_replies_once),
		T(the_list_pages_newest_first_and_filters),
		T(replies_without_a_task_have_task_id_zero),
		T(nothing_pending_is_never_due),
		T(purge_deletes_only_old_sent_and_dead_replies),
	};
#undef T
	return cmocka_run_group_tests_name("store outbox contract", tests, NULL, NULL);
}
