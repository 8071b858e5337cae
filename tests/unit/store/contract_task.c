/* contract_task: the task tests every store backend passes. A backend's
 * test file (sqlite_task.c, postgres_task.c) implements the hooks of
 * contract_task.h and its main() calls contract_task_run(). What only one
 * backend can show (PostgreSQL's nodes racing) stays in that file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/store.h"
#include "contract_task.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/utf8.h"

/* Real flow ids of their external ids (flow_id_of), though the store
 * takes whatever it is given. */
#define FLOW_A "flow-936d345a2ddc"
#define EXT_A "github:o/r#12"
#define FLOW_B "flow-d5baab99024b"
#define EXT_B "github:o/r#13"

#define LEASE 30000
#define CLAIM_TTL 60000

/* One value read past the store, for what its API does not show
 * (conversation metrics, row counts): "" for NULL. */
__attribute__((format(printf, 4, 5))) static void query_text(void **f, char *out, size_t size,
							       const char *fmt, ...)
{
	char sql[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(sql));
	contract_task_query(f, sql, out, size);
}

#define query_int(f, ...)                                               \
	__extension__({                                                 \
		char q_[32];                                            \
		query_text((f), q_, sizeof(q_), __VA_ARGS__);           \
		strtoll(q_, NULL, 10);                                  \
	})

static int64_t count_rows(void **f, const char *table)
{
	return query_int(f, "SELECT count(*) FROM %s", table);
}

static int64_t conversation_metric(void **f, const char *conv, const char *column)
{
	return query_int(f, "SELECT %s FROM conversations WHERE id = '%s'", column, conv);
}

static struct store_task_in task(const char *origin, const char *flow_id, const char *external_id)
{
	struct store_task_in t;
	memset(&t, 0, sizeof(t));
	t.origin = origin;
	t.flow_id = flow_id;
	t.external_id = external_id;
	t.agent = "claude";
	t.pool = "main";
	t.title = "Fix the login";
	t.prompt = "Fix the login page";
	t.priority = 100;
	t.max_attempts = 3;
	return t;
}

static int64_t create(void **f, struct store_task_in *t, int64_t now_ms)
{
	struct store_error err;
	if (store_create_tasks(contract_task_store(f), t, 1, now_ms, &err) < 0)
		fail_msg("creating '%s': %s", t->origin, err.msg);
	return t->id;
}

/* A task in flow A for project o/r, created at now_ms. */
static int64_t create_in_project(void **f, const char *origin, const char *project,
				 int64_t now_ms)
{
	struct store_task_in t = task(origin, FLOW_A, EXT_A);
	t.project = project;
	return create(f, &t, now_ms);
}

static void token_of(int64_t id, unsigned char out[CRYPTO_SHA256_LEN])
{
	memset(out, (int)(id & 0xff), CRYPTO_SHA256_LEN);
	out[0] = 0xa5;
}

static int start_ttl(void **f, int64_t id, const char *worker, const char *owner,
		     int64_t now_ms, int64_t claim_ttl_ms)
{
	unsigned char hash[CRYPTO_SHA256_LEN];
	token_of(id, hash);
	struct store_task t;
	struct store_error err;
	int r = store_task_start(contract_task_store(f), id, worker, owner, "host-1", hash, now_ms, LEASE,
				 claim_ttl_ms, &t, &err);
	if (r == 0)
		store_task_release(&t);
	return r;
}

static void start(void **f, int64_t id, const char *worker, const char *owner,
		  int64_t now_ms)
{
	assert_int_equal(start_ttl(f, id, worker, owner, now_ms, CLAIM_TTL), 0);
}

static int finish(void **f, int64_t id, const char *owner, const char *worker,
		  const struct store_task_end *e, int64_t now_ms)
{
	struct store_error err;
	/* The attempt that runs now (an end names it). */
	struct store_task_detail d;
	int r = store_get_task(contract_task_store(f), id, &d, &err);
	if (r < 0)
		return r;
	int attempt = d.task.attempts;
	store_task_detail_release(&d);
	return store_task_finish(contract_task_store(f), id, owner, worker, attempt, e, now_ms, CLAIM_TTL, &err);
}

static const struct store_task_end succeeded = {
	.status = "succeeded", .has_exit_code = true, .exit_code = 0, .output = "done",
	.output_bytes = 4, .run_ms = 3000,
};

static void get(void **f, int64_t id, struct store_task_detail *d)
{
	struct store_error err;
	if (store_get_task(contract_task_store(f), id, d, &err) < 0)
		fail_msg("reading task %lld: %s", (long long)id, err.msg);
}

static void assert_status(void **f, int64_t id, const char *status)
{
	struct store_task_detail d;
	get(f, id, &d);
	assert_string_equal(d.task.status, status);
	store_task_detail_release(&d);
}

static void assert_conversation_id(const char *id)
{
	assert_int_equal(strlen(id), 5 + 16);
	assert_memory_equal(id, "conv-", 5);
	for (size_t i = 5; id[i]; i++)
		assert_non_null(strchr("0123456789abcdef", id[i]));
}

/* create */

static void first_task_creates_its_flow_and_a_conversation(void **state)
{
	void **f = state;
	struct store_task_in t = task("api:1", FLOW_A, EXT_A);
	t.project = "o/r";
	t.route = "github";
	t.command = "fix";
	create(f, &t, 1000);
	assert_true(t.id > 0);
	assert_false(t.duplicate);
	assert_string_equal(t.ret_flow_id, FLOW_A);
	assert_conversation_id(t.ret_conversation_id);
	assert_int_equal(query_int(f,
				   "SELECT count(*) FROM flows WHERE id = '%s'"
				   " AND external_id = '%s'"
				   " AND conversation_id = '%s' AND created_at = 1000",
				   FLOW_A, EXT_A, t.ret_conversation_id),
			 1);
	assert_int_equal(query_int(f, "SELECT count(*) FROM conversations WHERE flow_id = '%s'",
				   FLOW_A),
			 1);
	assert_int_equal(conversation_metric(f, t.ret_conversation_id, "tasks"), 1);

	struct store_task_detail d;
	get(f, t.id, &d);
	assert_string_equal(d.task.origin, "api:1");
	assert_string_equal(d.task.flow_id, FLOW_A);
	assert_string_equal(d.task.conversation_id, t.ret_conversation_id);
	assert_string_equal(d.task.external_id, EXT_A);
	assert_string_equal(d.task.route, "github");
	assert_string_equal(d.task.command, "fix");
	assert_string_equal(d.task.project, "o/r");
	assert_string_equal(d.task.prompt, "Fix the login page");
	assert_string_equal(d.task.metadata_json, "{}");
	assert_string_equal(d.task.status, "queued");
	assert_int_equal(d.task.attempts, 0);
	assert_int_equal(d.task.max_attempts, 3);
	assert_int_equal(d.task.next_attempt_at_ms, 1000);
	assert_int_equal(d.task.created_at_ms, 1000);
	assert_int_equal(d.task.event_id, 0);
	assert_int_equal(d.task.parent_id, 0);
	assert_int_equal(d.n_attempts, 0);
	store_task_detail_release(&d);
}

static void second_task_in_a_flow_joins_its_conversation(void **state)
{
	void **f = state;
	struct store_task_in a = task("api:1", FLOW_A, EXT_A), b = task("api:2", FLOW_A, EXT_A);
	create(f, &a, 1000);
	create(f, &b, 2000);
	assert_true(b.id > a.id);
	assert_string_equal(b.ret_flow_id, FLOW_A);
	assert_string_equal(b.ret_conversation_id, a.ret_conversation_id);
	assert_int_equal(count_rows(f, "flows"), 1);
	assert_int_equal(count_rows(f, "conversations"), 1);
	assert_int_equal(conversation_metric(f, a.ret_conversation_id, "tasks"), 2);
}

static void new_conversation_on_a_new_flow_makes_only_one(void **state)
{
	void **f = state;
	struct store_task_in a = task("api:1", FLOW_A, EXT_A);
	a.new_conversation = true;
	create(f, &a, 1000);
	assert_int_equal(count_rows(f, "conversations"), 1);
	assert_int_equal(query_int(f, "SELECT count(*) FROM flows WHERE conversation_id = '%s'",
				   a.ret_conversation_id),
			 1);
}

static void new_conversation_moves_the_flow_on_for_later_tasks(void **state)
{
	void **f = state;
	struct store_task_in a = task("api:1", FLOW_A, EXT_A), b = task("api:2", FLOW_A, EXT_A),
			     c = task("api:3", FLOW_A, EXT_A);
	b.new_conversation = true;
	create(f, &a, 1000);
	create(f, &b, 2000);
	create(f, &c, 3000);
	assert_conversation_id(b.ret_conversation_id);
	assert_string_not_equal(b.ret_conversation_id, a.ret_conversation_id);
	assert_string_equal(b.ret_flow_id, FLOW_A);
	assert_string_equal(c.ret_conversation_id, b.ret_conversation_id);
	assert_int_equal(count_rows(f, "flows"), 1);
	assert_int_equal(query_int(f, "SELECT count(*) FROM conversations WHERE flow_id = '%s'",
				   FLOW_A),
			 2);
	assert_int_equal(query_int(f, "SELECT count(*) FROM flows WHERE conversation_id = '%s'",
				   b.ret_conversation_id),
			 1);
	assert_int_equal(conversation_metric(f, a.ret_conversation_id, "tasks"), 1);
	assert_int_equal(conversation_metric(f, b.ret_conversation_id, "tasks"), 2);
}

static void child_inherits_its_parents_conversation_after_the_flow_moved_on(void **state)
{
	void **f = state;
	struct store_task_in a = task("api:1", FLOW_A, EXT_A), b = task("api:2", FLOW_A, EXT_A);
	b.new_conversation = true;
	create(f, &a, 1000);
	create(f, &b, 2000);
	/* The parent wins over a flow given with the child. */
	struct store_task_in child = task("child:1:x", FLOW_B, EXT_B);
	child.parent_id = a.id;
	create(f, &child, 3000);
	assert_string_equal(child.ret_flow_id, FLOW_A);
	assert_string_equal(child.ret_conversation_id, a.ret_conversation_id);
	assert_int_equal(count_rows(f, "flows"), 1);
	assert_int_equal(conversation_metric(f, a.ret_conversation_id, "tasks"), 2);
	/* The flow stays in its newer conversation. */
	assert_int_equal(query_int(f, "SELECT count(*) FROM flows WHERE conversation_id = '%s'",
				   b.ret_conversation_id),
			 1);
	struct store_task_detail d;
	get(f, child.id, &d);
	assert_int_equal(d.task.parent_id, a.id);
	assert_string_equal(d.task.conversation_id, a.ret_conversation_id);
	store_task_detail_release(&d);
}

static void child_asking_for_a_new_conversation_gets_one(void **state)
{
	void **f = state;
	struct store_task_in a = task("api:1", FLOW_A, EXT_A);
	create(f, &a, 1000);
	struct store_task_in child = task("child:1:x", NULL, NULL);
	child.parent_id = a.id;
	child.new_conversation = true;
	create(f, &child, 2000);
	assert_string_equal(child.ret_flow_id, FLOW_A);
	assert_conversation_id(child.ret_conversation_id);
	assert_string_not_equal(child.ret_conversation_id, a.ret_conversation_id);
	assert_int_equal(query_int(f, "SELECT count(*) FROM conversations WHERE flow_id = '%s'",
				   FLOW_A),
			 2);
	assert_int_equal(conversation_metric(f, child.ret_conversation_id, "tasks"), 1);
	assert_int_equal(conversation_metric(f, a.ret_conversation_id, "tasks"), 1);
}

static void same_origin_twice_finds_the_first_task(void **state)
{
	void **f = state;
	struct store_task_in a = task("event:1:github:fix", FLOW_A, EXT_A);
	create(f, &a, 1000);
	struct store_task_in again = task("event:1:github:fix", FLOW_A, EXT_A);
	again.prompt = "something else";
	create(f, &again, 2000);
	assert_true(again.duplicate);
	assert_int_equal(again.id, a.id);
	assert_string_equal(again.ret_flow_id, FLOW_A);
	assert_string_equal(again.ret_conversation_id, a.ret_conversation_id);
	/* And twice within one batch. */
	struct store_task_in batch[2] = { task("api:2", FLOW_A, EXT_A),
					  task("api:2", FLOW_A, EXT_A) };
	struct store_error err;
	assert_int_equal(store_create_tasks(contract_task_store(f), batch, 2, 3000, &err), 0);
	assert_false(batch[0].duplicate);
	assert_true(batch[1].duplicate);
	assert_int_equal(batch[1].id, batch[0].id);

	assert_int_equal(count_rows(f, "tasks"), 2);
	assert_int_equal(conversation_metric(f, a.ret_conversation_id, "tasks"), 2);
	struct store_task_detail d;
	get(f, a.id, &d);
	assert_string_equal(d.task.prompt, "Fix the login page");
	store_task_detail_release(&d);
}

static void unknown_parent_creates_nothing_in_the_batch(void **state)
{
	void **f = state;
	struct store_task_in batch[2] = { task("api:1", FLOW_A, EXT_A),
					  task("child:9999:x", NULL, NULL) };
	batch[1].parent_id = 9999;
	struct store_error err;
	assert_int_equal(store_create_tasks(contract_task_store(f), batch, 2, 1000, &err), HQ_E_NOTFOUND);
	assert_int_equal(count_rows(f, "tasks"), 0);
	assert_int_equal(count_rows(f, "flows"), 0);
	assert_int_equal(count_rows(f, "conversations"), 0);
}

/* The header promises the result fields on success only: a batch that
 * rolls back must not hand out the ids of rows that do not exist. */
static void failed_batch_writes_no_result_fields(void **state)
{
	void **f = state;
	struct store_task_in batch[2] = { task("api:1", FLOW_A, EXT_A),
					  task("child:9999:x", NULL, NULL) };
	batch[1].parent_id = 9999;
	struct store_error err;
	assert_int_equal(store_create_tasks(contract_task_store(f), batch, 2, 1000, &err), HQ_E_NOTFOUND);
	assert_int_equal(batch[0].id, 0);
	assert_string_equal(batch[0].ret_flow_id, "");
	assert_string_equal(batch[0].ret_conversation_id, "");
}

/* Events' outcomes */

static int64_t insert_event(void **f, const char *delivery)
{
	struct store_event_in ev;
	memset(&ev, 0, sizeof(ev));
	ev.provider = "github";
	ev.route = "github";
	ev.delivery_id = delivery;
	ev.event_type = "issues";
	ev.headers_json = "{}";
	ev.body = "{}";
	ev.body_len = 2;
	ev.received_at_ms = 500;
	ev.max_attempts = 3;
	struct store_error err;
	assert_int_equal(store_insert_events(contract_task_store(f), &ev, 1, &err), 0);
	return ev.id;
}

static void claim_event(void **f, const char *owner, int64_t now_ms)
{
	struct store_claim c;
	struct store_error err;
	assert_int_equal(store_claim_events(contract_task_store(f), owner, now_ms, 1000, 1, 1 << 20, &c, &err),
			 0);
	assert_int_equal(c.n, 1);
	store_claim_release(&c);
}

static void finished_event_creates_its_tasks_in_the_same_transaction(void **state)
{
	void **f = state;
	int64_t ev = insert_event(f, "d1");
	claim_event(f, "node-1", 1000);
	struct store_task_in tasks[2] = { task("event:1:github:fix", FLOW_A, EXT_A),
					  task("event:1:github:triage", FLOW_A, EXT_A) };
	tasks[0].event_id = ev;
	tasks[1].event_id = ev;
	struct store_outcome o = { .id = ev, .kind = STORE_OUTCOME_DONE, .tasks = tasks,
				   .n_tasks = 2 };
	size_t applied = 99;
	struct store_error err;
	assert_int_equal(store_finish_events(contract_task_store(f), "node-1", &o, 1, 1500, &applied, &err), 0);
	assert_int_equal(applied, 1);
	assert_true(tasks[0].id > 0);
	assert_true(tasks[1].id > tasks[0].id);
	assert_string_equal(tasks[1].ret_conversation_id, tasks[0].ret_conversation_id);
	struct store_task_filter filter = { .event_id = ev };
	struct store_task_list l;
	assert_int_equal(store_list_tasks(contract_task_store(f), &filter, &l, &err), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.rows[0].event_id, ev);
	assert_string_equal(l.rows[0].status, "queued");
	assert_int_equal(l.rows[0].created_at_ms, 1500);
	store_task_list_release(&l);
}

static void late_outcome_of_a_lost_lease_creates_no_task(void **state)
{
	void **f = state;
	int64_t ev = insert_event(f, "d1");
	claim_event(f, "node-1", 1000);
	size_t n = 0;
	struct store_error err;
	assert_int_equal(store_reclaim_expired(contract_task_store(f), 2000, &n, &err), 0);
	assert_int_equal(n, 1);
	claim_event(f, "node-2", 2100);
	struct store_task_in t = task("event:1:github:fix", FLOW_A, EXT_A);
	t.event_id = ev;
	struct store_outcome o = { .id = ev, .kind = STORE_OUTCOME_DONE, .tasks = &t,
				   .n_tasks = 1 };
	size_t applied = 99;
	assert_int_equal(store_finish_events(contract_task_store(f), "node-1", &o, 1, 2200, &applied, &err), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(t.id, 0);
	assert_int_equal(count_rows(f, "tasks"), 0);
	assert_int_equal(count_rows(f, "flows"), 0);
}

/* The completion and its tasks commit together: a task that cannot be
 * created leaves the event processing under its lease and creates no
 * task of the outcome. */
static void outcome_whose_task_fails_completes_nothing(void **state)
{
	void **f = state;
	int64_t ev = insert_event(f, "d1");
	claim_event(f, "node-1", 1000);
	struct store_task_in tasks[2] = { task("event:1:github:fix", FLOW_A, EXT_A),
					  task("event:1:github:child", NULL, NULL) };
	tasks[1].parent_id = 9999;
	struct store_outcome o = { .id = ev, .kind = STORE_OUTCOME_DONE, .tasks = tasks,
				   .n_tasks = 2 };
	struct store_error err;
	assert_int_equal(store_finish_events(contract_task_store(f), "node-1", &o, 1, 1500, NULL,
					     &err),
			 HQ_E_NOTFOUND);
	assert_int_equal(count_rows(f, "tasks"), 0);
	assert_int_equal(count_rows(f, "flows"), 0);
	char status[32];
	query_text(f, status, sizeof(status), "SELECT status FROM events WHERE id = %lld",
		   (long long)ev);
	assert_string_equal(status, "processing");
}

/* candidates */

static void candidates_are_due_tasks_by_priority_then_id(void **state)
{
	void **f = state;
	struct store_task_in a = task("api:a", FLOW_A, EXT_A), b = task("api:b", FLOW_A, EXT_A),
			     c = task("api:c", FLOW_A, EXT_A), later = task("api:d", FLOW_A, EXT_A);
	b.priority = 10;
	b.pool = "ci";
	b.agent = "codex";
	b.project = "o/r";
	later.priority = 1;
	create(f, &a, 1000);
	create(f, &b, 1000);
	create(f, &c, 1000);
	create(f, &later, 5000); /* due at 5000 */
	struct store_candidates cand;
	struct store_error err;
	assert_int_equal(store_task_candidates(contract_task_store(f), "node-1", 2000, 10, false, &cand, &err), 0);
	assert_int_equal(cand.n, 3);
	assert_int_equal(cand.tasks[0].id, b.id);
	assert_int_equal(cand.tasks[1].id, a.id);
	assert_int_equal(cand.tasks[2].id, c.id);
	assert_string_equal(cand.tasks[0].agent, "codex");
	assert_string_equal(cand.tasks[0].pool, "ci");
	assert_string_equal(cand.tasks[0].project, "o/r");
	assert_null(cand.tasks[1].project);
	assert_string_equal(cand.tasks[1].pool, "main");
	store_candidates_release(&cand);

	assert_int_equal(store_task_candidates(contract_task_store(f), "node-1", 2000, 2, false, &cand, &err), 0);
	assert_int_equal(cand.n, 2);
	assert_int_equal(cand.tasks[1].id, a.id);
	store_candidates_release(&cand);

	assert_int_equal(store_task_candidates(contract_task_store(f), "node-1", 5000, 10, false, &cand, &err), 0);
	assert_int_equal(cand.n, 4);
	assert_int_equal(cand.tasks[0].id, later.id);
	store_candidates_release(&cand);
}

static int64_t load_of(const struct store_candidates *c, const char *worker)
{
	for (size_t i = 0; i < c->n_load; i++)
		if (strcmp(c->load_worker[i], worker) == 0)
			return c->load[i];
	return 0;
}

static void candidates_see_live_claims_running_tasks_and_worker_load(void **state)
{
	void **f = state;
	int64_t p1 = create_in_project(f, "api:p1", "o/r", 1000);
	int64_t r1 = create_in_project(f, "api:r1", "a/b", 1000);
	int64_t q1 = create_in_project(f, "api:q1", "x/y", 1000);
	start(f, p1, "w1", "node-1", 1000); /* claims live until 91000 */
	start(f, r1, "w1", "node-1", 1000);
	start(f, q1, "w2", "node-1", 1000);
	int64_t p2 = create_in_project(f, "api:p2", "o/r", 1000);
	int64_t none = create_in_project(f, "api:n1", NULL, 1000);

	struct store_candidates c;
	struct store_error err;
	/* p2 waits: its project's claim is held by w1, which runs a task;
	 * it is not a candidate, so it never fills the window. */
	assert_int_equal(store_task_candidates(contract_task_store(f), "node-1", 2000, 10, false, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.tasks[0].id, none);
	assert_null(c.tasks[0].claim_worker);
	assert_int_equal(c.tasks[0].running_in_project, 0);
	assert_int_equal(c.n_load, 2);
	assert_int_equal(load_of(&c, "w1"), 2);
	assert_int_equal(load_of(&c, "w2"), 1);
	store_candidates_release(&c);

	/* Once the claims expired, no worker holds the project. */
	assert_int_equal(store_task_candidates(contract_task_store(f), "node-1", 91000, 10, false, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.tasks[0].id, p2);
	assert_null(c.tasks[0].claim_worker);
	assert_int_equal(c.tasks[0].running_in_project, 1);
	assert_int_equal(c.n_load, 0);
	store_candidates_release(&c);

	/* With single_queue, a project that runs a task has no candidate. */
	assert_int_equal(store_task_candidates(contract_task_store(f), "node-1", 91000, 10, true, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.tasks[0].id, none);
	store_candidates_release(&c);
}

/* Records node id running, its heartbeat at now_ms. */
static void node_up(void **f, const char *id, int64_t now_ms)
{
	char name[32], host[] = "host-1", version[] = "test";
	snprintf(name, sizeof(name), "%s", id);
	struct store_node n = { .id = name, .host = host, .version = version, .pid = 1 };
	bool rescued = true;
	struct store_error err;
	if (store_node_beat(contract_task_store(f), &n, now_ms, &rescued, &err) < 0)
		fail_msg("recording node '%s': %s", id, err.msg);
}

/* The candidates node owner gets at now_ms (up to 10). */
static void candidates_of(void **f, const char *owner, int64_t now_ms, struct store_candidates *c)
{
	struct store_error err;
	if (store_task_candidates(contract_task_store(f), owner, now_ms, 10, false, c, &err) < 0)
		fail_msg("candidates of '%s': %s", owner, err.msg);
}

/* A task of project that worker of node ran from 1000 to 2000: its
 * claim stays, idle, until 2000 + CLAIM_TTL. */
static void ran(void **f, const char *origin, const char *project, const char *worker,
		const char *node)
{
	int64_t id = create_in_project(f, origin, project, 1000);
	start(f, id, worker, node, 1000);
	assert_int_equal(finish(f, id, node, worker, &succeeded, 2000), 0);
}

/* Two nodes, each with a worker w1: node-1's w1 ran a task of o/r and
 * keeps its claim, idle. */
static void candidates_leave_out_a_project_another_running_node_claims(void **state)
{
	void **f = state;
	node_up(f, "node-1", 1000);
	node_up(f, "node-2", 1000);
	ran(f, "api:p1", "o/r", "w1", "node-1");
	int64_t p2 = create_in_project(f, "api:p2", "o/r", 2000);
	int64_t free_task = create_in_project(f, "api:n1", NULL, 2000);

	/* node-2 leaves p2 to node-1, which runs it on its own w1. */
	struct store_candidates c;
	candidates_of(f, "node-2", 3000, &c);
	size_t n = c.n;
	int64_t first = n ? c.tasks[0].id : 0;
	store_candidates_release(&c);
	assert_int_equal(n, 1);
	assert_int_equal(first, free_task);

	candidates_of(f, "node-1", 3000, &c);
	n = c.n;
	first = n ? c.tasks[0].id : 0;
	char worker[16];
	snprintf(worker, sizeof(worker), "%s",
		 n && c.tasks[0].claim_worker ? c.tasks[0].claim_worker : "(null)");
	store_candidates_release(&c);
	assert_int_equal(n, 2);
	assert_int_equal(first, p2);
	assert_string_equal(worker, "w1");

	/* Once the claim expired, p2 is any node's, for any worker. */
	candidates_of(f, "node-2", 2000 + CLAIM_TTL, &c);
	n = c.n;
	first = n ? c.tasks[0].id : 0;
	bool claimed = n && c.tasks[0].claim_worker;
	store_candidates_release(&c);
	assert_int_equal(n, 2);
	assert_int_equal(first, p2);
	assert_false(claimed);
}

static void candidates_count_the_load_of_this_nodes_workers_only(void **state)
{
	void **f = state;
	node_up(f, "node-1", 1000);
	node_up(f, "node-2", 1000);
	start(f, create_in_project(f, "api:p1", "o/r", 1000), "w1", "node-1", 1000);
	start(f, create_in_project(f, "api:q1", "x/y", 1000), "w1", "node-2", 1000);
	start(f, create_in_project(f, "api:r1", "a/b", 1000), "w2", "node-2", 1000);
	create_in_project(f, "api:n1", NULL, 1000);

	struct store_candidates c;
	candidates_of(f, "node-1", 2000, &c);
	int64_t w1 = load_of(&c, "w1"), w2 = load_of(&c, "w2");
	store_candidates_release(&c);
	assert_int_equal(w1, 1);
	assert_int_equal(w2, 0);

	candidates_of(f, "node-2", 2000, &c);
	w1 = load_of(&c, "w1");
	w2 = load_of(&c, "w2");
	store_candidates_release(&c);
	assert_int_equal(w1, 1);
	assert_int_equal(w2, 1);
}

/* A restarted node has a new id: its previous life's claims (a stopped
 * node's, or one no longer recorded) still name its workers. */
static void candidates_use_a_stopped_nodes_claims_by_worker_name(void **state)
{
	void **f = state;
	node_up(f, "node-old", 1000);
	node_up(f, "node-1", 1000);
	ran(f, "api:p1", "o/r", "w1", "node-old");
	ran(f, "api:q1", "x/y", "w2", "node-gone"); /* never recorded */
	struct store_error err;
	assert_int_equal(store_node_stop(contract_task_store(f), "node-old", 2500, &err), 0);
	int64_t p2 = create_in_project(f, "api:p2", "o/r", 3000);
	int64_t q2 = create_in_project(f, "api:q2", "x/y", 3000);

	struct store_candidates c;
	candidates_of(f, "node-1", 4000, &c);
	size_t n = c.n;
	int64_t first = n ? c.tasks[0].id : 0, second = n > 1 ? c.tasks[1].id : 0;
	char worker[2][16];
	for (size_t i = 0; i < 2; i++)
		snprintf(worker[i], sizeof(worker[i]), "%s",
			 i < n && c.tasks[i].claim_worker ? c.tasks[i].claim_worker : "(null)");
	int64_t w1 = load_of(&c, "w1"), w2 = load_of(&c, "w2");
	store_candidates_release(&c);
	assert_int_equal(n, 2);
	assert_int_equal(first, p2);
	assert_int_equal(second, q2);
	assert_string_equal(worker[0], "w1");
	assert_string_equal(worker[1], "w2");
	assert_int_equal(w1, 1);
	assert_int_equal(w2, 1);
}

/* start */

static void start_runs_a_queued_task_once_under_a_lease(void **state)
{
	void **f = state;
	int64_t id = create_in_project(f, "api:1", "o/r", 1000);
	unsigned char hash[CRYPTO_SHA256_LEN];
	token_of(id, hash);
	struct store_task t;
	struct store_error err;
	assert_int_equal(store_task_start(contract_task_store(f), id, "w1", "node-1", "host-1", hash, 2000, LEASE,
					  CLAIM_TTL, &t, &err),
			 0);
	assert_int_equal(t.id, id);
	assert_string_equal(t.status, "running");
	assert_int_equal(t.attempts, 1);
	assert_string_equal(t.worker, "w1");
	assert_string_equal(t.lease_owner, "node-1");
	assert_int_equal(t.lease_expires_at_ms, 2000 + LEASE);
	assert_int_equal(t.started_at_ms, 2000);
	assert_string_equal(t.prompt, "Fix the login page");
	store_task_release(&t);

	assert_int_equal(store_task_start(contract_task_store(f), id, "w2", "node-2", "host-2", hash, 2500, LEASE,
					  CLAIM_TTL, &t, &err),
			 HQ_E_CONFLICT);
	struct store_task_detail d;
	get(f, id, &d);
	assert_int_equal(d.task.attempts, 1);
	assert_string_equal(d.task.lease_owner, "node-1");
	store_task_detail_release(&d);
}

static void start_claims_the_project_and_counts_its_tasks(void **state)
{
	void **f = state;
	int64_t a = create_in_project(f, "api:a", "o/r", 1000);
	int64_t b = create_in_project(f, "api:b", "o/r", 1000);
	int64_t c = create_in_project(f, "api:c", "o/r", 1000);
	int64_t unclaimed = create_in_project(f, "api:u", "p/q", 1000);
	struct store_claim_row *rows;
	size_t n;
	struct store_error err;

	start(f, a, "w1", "node-1", 2000);
	assert_int_equal(store_list_claims(contract_task_store(f), 2000, &rows, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].project, "o/r");
	assert_string_equal(rows[0].worker, "w1");
	assert_string_equal(rows[0].node, "node-1");
	assert_int_equal(rows[0].expires_at_ms, 2000 + LEASE + CLAIM_TTL);
	assert_int_equal(rows[0].last_activity_ms, 2000);
	assert_int_equal(rows[0].tasks, 1);
	store_claims_release(rows, n);

	start(f, b, "w1", "node-1", 3000);
	assert_int_equal(store_list_claims(contract_task_store(f), 3000, &rows, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].tasks, 2);
	assert_int_equal(rows[0].expires_at_ms, 3000 + LEASE + CLAIM_TTL);
	store_claims_release(rows, n);

	/* Another worker takes the project over and counts from one. */
	start(f, c, "w2", "node-2", 4000);
	assert_int_equal(store_list_claims(contract_task_store(f), 4000, &rows, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].worker, "w2");
	assert_string_equal(rows[0].node, "node-2");
	assert_int_equal(rows[0].tasks, 1);
	store_claims_release(rows, n);

	/* A claim TTL of 0 claims nothing. */
	assert_int_equal(start_ttl(f, unclaimed, "w1", "node-1", 5000, 0), 0);
	assert_int_equal(store_list_claims(contract_task_store(f), 5000, &rows, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].project, "o/r");
	store_claims_release(rows, n);
}

static void token_finds_the_running_task_only_while_it_runs(void **state)
{
	void **f = state;
	int64_t id = create_in_project(f, "api:1", NULL, 1000);
	int64_t other = create_in_project(f, "api:2", NULL, 1000);
	unsigned char hash[CRYPTO_SHA256_LEN], queued_hash[CRYPTO_SHA256_LEN];
	token_of(id, hash);
	token_of(other, queued_hash);
	int64_t found = 0;
	struct store_error err;
	assert_int_equal(store_task_by_token(contract_task_store(f), hash, &found, &err), HQ_E_NOTFOUND);
	start(f, id, "w1", "node-1", 2000);
	assert_int_equal(store_task_by_token(contract_task_store(f), hash, &found, &err), 0);
	assert_int_equal(found, id);
	assert_int_equal(store_task_by_token(contract_task_store(f), queued_hash, &found, &err), HQ_E_NOTFOUND);
	assert_int_equal(finish(f, id, "node-1", "w1", &succeeded, 3000), 0);
	found = 0;
	assert_int_equal(store_task_by_token(contract_task_store(f), hash, &found, &err), HQ_E_NOTFOUND);
	assert_int_equal(found, 0);
}

/* heartbeat and cancel */

static void heartbeat_extends_the_lease_and_reports_cancellations(void **state)
{
	void **f = state;
	int64_t a = create_in_project(f, "api:a", "o/r", 1000);
	int64_t b = create_in_project(f, "api:b", NULL, 1000);
	int64_t c = create_in_project(f, "api:c", "x/y", 1000);
	start(f, a, "w1", "node-1", 1000);
	start(f, b, "w1", "node-1", 1000);
	start(f, c, "w2", "node-2", 1000);

	int64_t *cancel = NULL;
	size_t n_cancel = 99;
	struct store_error err;
	int64_t held[] = { a, b };
	assert_int_equal(store_task_heartbeat(contract_task_store(f), "node-1", held, 2, 10000, LEASE, CLAIM_TTL,
					      &cancel, &n_cancel, &err),
			 0);
	assert_int_equal(n_cancel, 0);
	free(cancel);
	struct store_task_detail d;
	get(f, a, &d);
	assert_int_equal(d.task.lease_expires_at_ms, 10000 + LEASE);
	store_task_detail_release(&d);
	get(f, c, &d);
	assert_int_equal(d.task.lease_expires_at_ms, 1000 + LEASE); /* node-2's */
	store_task_detail_release(&d);
	struct store_claim_row *rows;
	size_t n;
	assert_int_equal(store_list_claims(contract_task_store(f), 10000, &rows, &n, &err), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(rows[i].expires_at_ms, strcmp(rows[i].project, "o/r") == 0
								? 10000 + LEASE + CLAIM_TTL
								: 1000 + LEASE + CLAIM_TTL);
	store_claims_release(rows, n);

	bool running = false;
	assert_int_equal(store_task_cancel(contract_task_store(f), b, 11000, &running, &err), 0);
	assert_true(running);
	get(f, b, &d);
	assert_string_equal(d.task.status, "running");
	assert_true(d.task.cancel_requested);
	store_task_detail_release(&d);

	assert_int_equal(store_task_heartbeat(contract_task_store(f), "node-1", held, 2, 12000, LEASE, CLAIM_TTL,
					      &cancel, &n_cancel, &err),
			 0);
	assert_int_equal(n_cancel, 1);
	assert_int_equal(cancel[0], b);
	free(cancel);
}

static void heartbeat_reports_tasks_taken_over_by_another_node(void **state)
{
	void **f = state;
	int64_t a = create_in_project(f, "api:a", NULL, 1000);
	int64_t b = create_in_project(f, "api:b", NULL, 1000);
	start(f, a, "w1", "node-1", 1000);
	start(f, b, "w2", "node-1", 1000);
	/* node-1 went silent: its leases ran out and node-2 rescued a and
	 * runs it now. */
	struct store_lost_task *lost = NULL;
	size_t n_lost = 0;
	struct store_error err;
	int64_t keep[] = { b }; /* node-1's heartbeat for b is late, not missing */
	assert_int_equal(store_task_reclaim(contract_task_store(f), 1001 + LEASE, keep, 1, &lost, &n_lost, &err), 0);
	assert_int_equal(n_lost, 1);
	store_lost_tasks_release(lost, n_lost);
	start(f, a, "w1", "node-2", 1001 + LEASE);

	int64_t *cancel = NULL;
	size_t n_cancel = 0;
	int64_t held[] = { b, a };
	assert_int_equal(store_task_heartbeat(contract_task_store(f), "node-1", held, 2, 1002 + LEASE, LEASE,
					      CLAIM_TTL, &cancel, &n_cancel, &err),
			 0);
	/* node-1 must end its run of a: only node-2's counts now. */
	assert_int_equal(n_cancel, 1);
	assert_int_equal(cancel[0], a);
	free(cancel);
	struct store_task_detail d;
	get(f, a, &d);
	assert_int_equal(d.task.attempts, 2);
	assert_int_equal(d.task.lease_expires_at_ms, 1001 + 2 * LEASE); /* node-2's, untouched */
	store_task_detail_release(&d);

	int64_t mine[] = { a };
	assert_int_equal(store_task_heartbeat(contract_task_store(f), "node-2", mine, 1, 1003 + LEASE, LEASE,
					      CLAIM_TTL, &cancel, &n_cancel, &err),
			 0);
	assert_int_equal(n_cancel, 0);
	free(cancel);
}

static void cancel_of_a_queued_task_ends_it_at_once(void **state)
{
	void **f = state;
	struct store_task_in t = task("api:1", FLOW_A, EXT_A);
	create(f, &t, 1000);
	bool running = true;
	struct store_error err;
	assert_int_equal(store_task_cancel(contract_task_store(f), t.id, 2000, &running, &err), 0);
	assert_false(running);
	struct store_task_detail d;
	get(f, t.id, &d);
	assert_string_equal(d.task.status, "cancelled");
	assert_int_equal(d.task.finished_at_ms, 2000);
	store_task_detail_release(&d);
	assert_int_equal(conversation_metric(f, t.ret_conversation_id, "cancelled"), 1);
	assert_int_equal(conversation_metric(f, t.ret_conversation_id, "failed"), 0);
	struct store_candidates c;
	assert_int_equal(store_task_candidates(contract_task_store(f), "node-1", 3000, 10, false, &c, &err), 0);
	assert_int_equal(c.n, 0);
	store_candidates_release(&c);
}

static void cancel_of_an_ended_or_unknown_task_is_refused(void **state)
{
	void **f = state;
	int64_t a = create_in_project(f, "api:a", NULL, 1000);
	int64_t b = create_in_project(f, "api:b", NULL, 1000);
	bool running = false;
	struct store_error err;
	assert_int_equal(store_task_cancel(contract_task_store(f), a, 2000, &running, &err), 0);
	assert_int_equal(store_task_cancel(contract_task_store(f), a, 2100, &running, &err), HQ_E_CONFLICT);
	start(f, b, "w1", "node-1", 2000);
	assert_int_equal(finish(f, b, "node-1", "w1", &succeeded, 3000), 0);
	assert_int_equal(store_task_cancel(contract_task_store(f), b, 3100, &running, &err), HQ_E_CONFLICT);
	assert_status(f, b, "succeeded");
	assert_int_equal(store_task_cancel(contract_task_store(f), 9999, 3100, &running, &err), HQ_E_NOTFOUND);
}

/* finish */

static void finish_records_success_attempt_and_metrics(void **state)
{
	void **f = state;
	struct store_task_in t = task("api:1", FLOW_A, EXT_A);
	create(f, &t, 1000);
	start(f, t.id, "w1", "node-1", 2000);
	assert_int_equal(finish(f, t.id, "node-1", "w1", &succeeded, 5000), 0);
	struct store_task_detail d;
	get(f, t.id, &d);
	assert_string_equal(d.task.status, "succeeded");
	assert_true(d.task.has_exit_code);
	assert_int_equal(d.task.exit_code, 0);
	assert_string_equal(d.task.output, "done");
	assert_int_equal(d.task.output_bytes, 4);
	assert_int_equal(d.task.finished_at_ms, 5000);
	assert_int_equal(d.task.attempts, 1);
	assert_null(d.task.lease_owner);
	assert_string_equal(d.task.worker, "w1");
	assert_int_equal(d.n_attempts, 1);
	assert_int_equal(d.attempts[0].attempt, 1);
	assert_string_equal(d.attempts[0].worker, "w1");
	assert_string_equal(d.attempts[0].outcome, "succeeded");
	assert_true(d.attempts[0].has_exit_code);
	assert_int_equal(d.attempts[0].exit_code, 0);
	assert_int_equal(d.attempts[0].started_at_ms, 2000);
	assert_int_equal(d.attempts[0].finished_at_ms, 5000);
	store_task_detail_release(&d);
	assert_int_equal(conversation_metric(f, t.ret_conversation_id, "succeeded"), 1);
	assert_int_equal(conversation_metric(f, t.ret_conversation_id, "failed"), 0);
	assert_int_equal(conversation_metric(f, t.ret_conversation_id, "run_ms"), 3000);
}

static void failed_and_timed_out_count_as_failed_in_the_conversation(void **state)
{
	void **f = state;
	struct store_task_in a = task("api:a", FLOW_A, EXT_A), b = task("api:b", FLOW_A, EXT_A);
	create(f, &a, 1000);
	create(f, &b, 1000);
	start(f, a.id, "w1", "node-1", 2000);
	start(f, b.id, "w1", "node-1", 2000);
	struct store_task_end failed = { .status = "failed", .has_exit_code = true,
					 .exit_code = 2, .error = "exit status 2", .run_ms = 100 };
	struct store_task_end timed_out = { .status = "timed_out", .error = "timed out",
					    .run_ms = 200 };
	assert_int_equal(finish(f, a.id, "node-1", "w1", &failed, 3000), 0);
	assert_int_equal(finish(f, b.id, "node-1", "w1", &timed_out, 3000), 0);
	struct store_task_detail d;
	get(f, a.id, &d);
	assert_string_equal(d.task.status, "failed");
	assert_int_equal(d.task.exit_code, 2);
	assert_string_equal(d.task.error, "exit status 2");
	assert_string_equal(d.attempts[0].error, "exit status 2");
	store_task_detail_release(&d);
	get(f, b.id, &d);
	assert_false(d.task.has_exit_code);
	assert_false(d.attempts[0].has_exit_code);
	store_task_detail_release(&d);
	assert_int_equal(conversation_metric(f, a.ret_conversation_id, "failed"), 2);
	assert_int_equal(conversation_metric(f, a.ret_conversation_id, "succeeded"), 0);
	assert_int_equal(conversation_metric(f, a.ret_conversation_id, "run_ms"), 300);
}

/* s with U+FFFD for each ill-formed UTF-8 sequence, as readers show it. */
static void assert_text_equal(const char *s, const char *want)
{
	size_t n;
	assert_non_null(s);
	char *shown = utf8_sanitize(s, strlen(s), &n);
	assert_non_null(shown);
	assert_string_equal(shown, want);
	free(shown);
}

/* An agent's output may hold any bytes, and its tail may start inside a
 * character: the end is recorded on every backend and reads back as the
 * same text (PostgreSQL's text holds well-formed UTF-8 only, where SQLite
 * keeps the bytes). */
static void finish_records_output_and_error_that_are_not_utf8(void **state)
{
	void **f = state;
	struct store_task_in t = task("api:1", FLOW_A, EXT_A);
	create(f, &t, 1000);
	start(f, t.id, "w1", "node-1", 2000);
	struct store_task_end failed = { .status = "failed", .has_exit_code = true, .exit_code = 1,
					 .error = "exit status 1: \xff", .output = "\x82\xac tail \xff",
					 .output_bytes = 9000, .run_ms = 100 };
	assert_int_equal(finish(f, t.id, "node-1", "w1", &failed, 3000), 0);
	struct store_task_detail d;
	get(f, t.id, &d);
	assert_string_equal(d.task.status, "failed");
	assert_text_equal(d.task.output, "\xef\xbf\xbd\xef\xbf\xbd tail \xef\xbf\xbd");
	assert_text_equal(d.task.error, "exit status 1: \xef\xbf\xbd");
	assert_text_equal(d.attempts[0].error, "exit status 1: \xef\xbf\xbd");
	store_task_detail_release(&d);
}

static void refunded_requeue_does_not_count_the_attempt(void **state)
{
	void **f = state;
	int64_t id = create_in_project(f, "api:1", NULL, 1000);
	start(f, id, "w1", "node-1", 2000);
	struct store_task_end refund = { .status = "queued", .refund = true,
					 .next_attempt_at_ms = 10000, .error = "node stopping" };
	assert_int_equal(finish(f, id, "node-1", "w1", &refund, 3000), 0);
	struct store_task_detail d;
	get(f, id, &d);
	assert_string_equal(d.task.status, "queued");
	assert_int_equal(d.task.attempts, 0);
	assert_int_equal(d.task.next_attempt_at_ms, 10000);
	assert_int_equal(d.task.finished_at_ms, 0);
	assert_null(d.task.lease_owner);
	assert_int_equal(d.n_attempts, 1);
	assert_string_equal(d.attempts[0].outcome, "interrupted");
	store_task_detail_release(&d);

	struct store_candidates c;
	struct store_error err;
	assert_int_equal(store_task_candidates(contract_task_store(f), "node-1", 9999, 10, false, &c, &err), 0);
	assert_int_equal(c.n, 0);
	store_candidates_release(&c);
	assert_int_equal(store_task_candidates(contract_task_store(f), "node-1", 10000, 10, false, &c, &err), 0);
	assert_int_equal(c.n, 1);
	store_candidates_release(&c);
}

static void requeue_without_refund_counts_the_attempt(void **state)
{
	void **f = state;
	int64_t id = create_in_project(f, "api:1", NULL, 1000);
	start(f, id, "w1", "node-1", 2000);
	struct store_task_end retry = { .status = "queued", .next_attempt_at_ms = 8000,
					.error = "rate limited" };
	assert_int_equal(finish(f, id, "node-1", "w1", &retry, 3000), 0);
	struct store_task_detail d;
	get(f, id, &d);
	assert_string_equal(d.task.status, "queued");
	assert_int_equal(d.task.attempts, 1);
	assert_int_equal(d.task.next_attempt_at_ms, 8000);
	assert_int_equal(d.n_attempts, 1);
	assert_string_equal(d.attempts[0].outcome, "retry");
	store_task_detail_release(&d);
}

static void finish_by_another_owner_is_a_conflict(void **state)
{
	void **f = state;
	int64_t id = create_in_project(f, "api:1", NULL, 1000);
	int64_t queued = create_in_project(f, "api:2", NULL, 1000);
	start(f, id, "w1", "node-1", 2000);
	assert_int_equal(finish(f, id, "node-2", "w1", &succeeded, 3000), HQ_E_CONFLICT);
	assert_int_equal(finish(f, queued, "node-1", "w1", &succeeded, 3000), HQ_E_CONFLICT);
	struct store_task_end bad = { .status = "running" };
	assert_int_equal(finish(f, id, "node-1", "w1", &bad, 3000), HQ_E_INVAL);
	struct store_task_detail d;
	get(f, id, &d);
	assert_string_equal(d.task.status, "running");
	assert_string_equal(d.task.lease_owner, "node-1");
	assert_int_equal(d.n_attempts, 0);
	store_task_detail_release(&d);
	assert_status(f, queued, "queued");
}

static void finish_keeps_the_claim_for_its_ttl(void **state)
{
	void **f = state;
	int64_t id = create_in_project(f, "api:1", "o/r", 1000);
	start(f, id, "w1", "node-1", 2000);
	assert_int_equal(finish(f, id, "node-1", "w1", &succeeded, 5000), 0);
	struct store_claim_row *rows;
	size_t n;
	struct store_error err;
	assert_int_equal(store_list_claims(contract_task_store(f), 5000, &rows, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].expires_at_ms, 5000 + CLAIM_TTL);
	assert_int_equal(rows[0].last_activity_ms, 5000);
	store_claims_release(rows, n);
	assert_int_equal(store_list_claims(contract_task_store(f), 5000 + CLAIM_TTL, &rows, &n, &err), 0);
	assert_int_equal(n, 0);
	store_claims_release(rows, n);
}

/* node-1's w1 claims o/r while node-2's w1 runs an o/r task it started
 * without a claim (claims off there, say). */
static void two_nodes_with_a_w1_each_on_one_project(void **f, int64_t *on_2, int64_t *on_1)
{
	node_up(f, "node-1", 1000);
	node_up(f, "node-2", 1000);
	*on_2 = create_in_project(f, "api:n2", "o/r", 1000);
	assert_int_equal(start_ttl(f, *on_2, "w1", "node-2", 1000, 0), 0); /* lease to 31000 */
	*on_1 = create_in_project(f, "api:n1", "o/r", 1000);
	start(f, *on_1, "w1", "node-1", 1500); /* lease to 31500 */
}

static void assert_claim(void **f, int64_t now_ms, const char *node, int64_t expires_at_ms)
{
	struct store_claim_row *rows;
	size_t n;
	struct store_error err;
	assert_int_equal(store_list_claims(contract_task_store(f), now_ms, &rows, &n, &err), 0);
	char got[32];
	snprintf(got, sizeof(got), "%s", n == 1 ? rows[0].node : "(not one claim)");
	int64_t expires = n == 1 ? rows[0].expires_at_ms : 0;
	store_claims_release(rows, n);
	assert_string_equal(got, node);
	assert_int_equal(expires, expires_at_ms);
}

static void finish_on_another_node_leaves_a_same_named_workers_claim(void **state)
{
	void **f = state;
	int64_t on_2, on_1;
	two_nodes_with_a_w1_each_on_one_project(f, &on_2, &on_1);
	assert_int_equal(finish(f, on_1, "node-1", "w1", &succeeded, 2000), 0);
	assert_claim(f, 2000, "node-1", 2000 + CLAIM_TTL);
	assert_int_equal(finish(f, on_2, "node-2", "w1", &succeeded, 3000), 0);
	assert_claim(f, 3000, "node-1", 2000 + CLAIM_TTL);
}

static void reclaim_leaves_a_same_named_workers_claim_of_another_node(void **state)
{
	void **f = state;
	int64_t on_2, on_1;
	two_nodes_with_a_w1_each_on_one_project(f, &on_2, &on_1);
	struct store_lost_task *lost = NULL;
	size_t n = 0;
	struct store_error err;
	assert_int_equal(store_task_reclaim(contract_task_store(f), 1000 + LEASE, NULL, 0, &lost, &n,
					    &err),
			 0);
	int64_t id = n == 1 ? lost[0].id : 0;
	store_lost_tasks_release(lost, n);
	assert_int_equal(id, on_2);
	assert_claim(f, 1000 + LEASE, "node-1", 1500 + LEASE + CLAIM_TTL);
	/* node-1's own lost task releases it. */
	assert_int_equal(store_task_reclaim(contract_task_store(f), 1500 + LEASE, NULL, 0, &lost, &n,
					    &err),
			 0);
	store_lost_tasks_release(lost, n);
	assert_int_equal(n, 1);
	assert_claim(f, 1500 + LEASE, "(not one claim)", 0);
}

/* reclaim */

static void reclaim_requeues_an_expired_task_with_attempts_left(void **state)
{
	void **f = state;
	struct store_task_in t = task("api:1", FLOW_A, EXT_A);
	t.project = "o/r";
	t.max_attempts = 2;
	create(f, &t, 1000);
	start(f, t.id, "w1", "node-1", 1000);
	struct store_error err;
	assert_int_equal(store_task_set_pid(contract_task_store(f), t.id, "node-1", 1, 4242, 777, &err), 0);
	assert_int_equal(query_int(f, "SELECT pid FROM tasks WHERE id = %lld", (long long)t.id),
			 4242);

	struct store_lost_task *lost = NULL;
	size_t n = 99;
	assert_int_equal(store_task_reclaim(contract_task_store(f), 1000 + LEASE - 1, NULL, 0, &lost, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(lost);
	assert_status(f, t.id, "running");

	assert_int_equal(store_task_reclaim(contract_task_store(f), 1000 + LEASE, NULL, 0, &lost, &n, &err), 0);
	assert_int_equal(n, 1);
	/* Copied out first, so a failing check leaks nothing. */
	struct store_lost_task got = lost[0];
	char host[32];
	snprintf(host, sizeof(host), "%s", got.host ? got.host : "(null)");
	store_lost_tasks_release(lost, n);
	assert_int_equal(got.id, t.id);
	assert_string_equal(host, "host-1");
	assert_int_equal(got.pid, 4242);
	assert_int_equal(got.pid_start, 777);
	assert_string_equal(got.status, "queued");
	assert_true(got.has_token_hash);

	struct store_task_detail d;
	get(f, t.id, &d);
	assert_string_equal(d.task.status, "queued");
	assert_int_equal(d.task.attempts, 1);
	assert_int_equal(d.task.next_attempt_at_ms, 1000 + LEASE);
	assert_null(d.task.lease_owner);
	assert_non_null(strstr(d.task.error, "lost"));
	assert_int_equal(d.n_attempts, 1);
	assert_int_equal(d.attempts[0].attempt, 1);
	assert_string_equal(d.attempts[0].outcome, "lost");
	assert_string_equal(d.attempts[0].worker, "w1");
	assert_int_equal(d.attempts[0].started_at_ms, 1000);
	store_task_detail_release(&d);

	struct store_claim_row *rows;
	assert_int_equal(store_list_claims(contract_task_store(f), 1000 + LEASE, &rows, &n, &err), 0);
	assert_int_equal(n, 0);
	store_claims_release(rows, n);
	assert_int_equal(conversation_metric(f, t.ret_conversation_id, "failed"), 0);

	/* Nothing more to reclaim. */
	assert_int_equal(store_task_reclaim(contract_task_store(f), 1000000, NULL, 0, &lost, &n, &err), 0);
	assert_int_equal(n, 0);
	store_lost_tasks_release(lost, n);
}

static void reclaim_fails_an_expired_task_out_of_attempts(void **state)
{
	void **f = state;
	struct store_task_in t = task("api:1", FLOW_A, EXT_A);
	t.max_attempts = 1;
	create(f, &t, 1000);
	start(f, t.id, "w1", "node-1", 1000);
	struct store_lost_task *lost = NULL;
	size_t n = 0;
	struct store_error err;
	assert_int_equal(store_task_reclaim(contract_task_store(f), 1000 + LEASE, NULL, 0, &lost, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(lost[0].host, "host-1");
	assert_int_equal(lost[0].pid, 0); /* never recorded */
	assert_string_equal(lost[0].status, "failed");
	store_lost_tasks_release(lost, n);
	struct store_task_detail d;
	get(f, t.id, &d);
	assert_string_equal(d.task.status, "failed");
	assert_int_equal(d.task.finished_at_ms, 1000 + LEASE);
	assert_string_equal(d.attempts[0].outcome, "lost");
	store_task_detail_release(&d);
	assert_int_equal(conversation_metric(f, t.ret_conversation_id, "failed"), 1);
}

/* retry */

static void retry_requeues_a_failed_task_with_its_attempts_again(void **state)
{
	void **f = state;
	struct store_task_in t = task("api:1", FLOW_A, EXT_A);
	t.max_attempts = 1;
	create(f, &t, 1000);
	start(f, t.id, "w1", "node-1", 2000);
	struct store_task_end failed = { .status = "failed", .error = "boom" };
	assert_int_equal(finish(f, t.id, "node-1", "w1", &failed, 3000), 0);
	struct store_error err;
	assert_int_equal(store_task_retry(contract_task_store(f), t.id, "timed_out", 4000, &err), HQ_E_CONFLICT);
	assert_int_equal(store_task_retry(contract_task_store(f), t.id, NULL, 4000, &err), 0);
	struct store_task_detail d;
	get(f, t.id, &d);
	assert_string_equal(d.task.status, "queued");
	assert_int_equal(d.task.retry_base, 1);
	assert_int_equal(d.task.attempts, 1);
	assert_int_equal(d.task.next_attempt_at_ms, 4000);
	assert_int_equal(d.task.finished_at_ms, 0);
	store_task_detail_release(&d);

	/* Its one attempt is granted again: lost once more, it fails. */
	start(f, t.id, "w1", "node-1", 5000);
	struct store_lost_task *lost = NULL;
	size_t n = 0;
	assert_int_equal(store_task_reclaim(contract_task_store(f), 5000 + LEASE, NULL, 0, &lost, &n, &err), 0);
	assert_int_equal(n, 1);
	store_lost_tasks_release(lost, n);
	get(f, t.id, &d);
	assert_string_equal(d.task.status, "failed");
	assert_int_equal(d.task.attempts, 2);
	assert_int_equal(d.n_attempts, 2);
	store_task_detail_release(&d);

	assert_int_equal(store_task_retry(contract_task_store(f), t.id, "failed", 7000, &err), 0);
	assert_status(f, t.id, "queued");
	assert_int_equal(store_task_retry(contract_task_store(f), 9999, NULL, 7000, &err), HQ_E_NOTFOUND);
}

static void retry_of_a_queued_or_running_task_is_a_conflict(void **state)
{
	void **f = state;
	int64_t queued = create_in_project(f, "api:1", NULL, 1000);
	int64_t running = create_in_project(f, "api:2", NULL, 1000);
	start(f, running, "w1", "node-1", 2000);
	struct store_error err;
	assert_int_equal(store_task_retry(contract_task_store(f), queued, NULL, 3000, &err), HQ_E_CONFLICT);
	assert_int_equal(store_task_retry(contract_task_store(f), running, NULL, 3000, &err), HQ_E_CONFLICT);
	assert_status(f, running, "running");
	struct store_task_detail d;
	get(f, running, &d);
	assert_int_equal(d.task.retry_base, 0);
	store_task_detail_release(&d);
}

/* reading */

static void assert_ids(const struct store_task_list *l, const int64_t *want, size_t n)
{
	assert_int_equal(l->n, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(l->rows[i].id, want[i]);
}

static void list_filters_by_each_field(void **state)
{
	void **f = state;
	struct store_task_in t1 = task("api:1", FLOW_A, EXT_A),
			     t2 = task("event:7:x:y", FLOW_B, EXT_B);
	t2.agent = "codex";
	t2.event_id = 7;
	create(f, &t1, 1000);
	create(f, &t2, 1000);
	struct store_task_in t3 = task("child:1:a", NULL, NULL);
	t3.parent_id = t1.id;
	create(f, &t3, 1000);
	start(f, t2.id, "w2", "node-1", 2000);

	static const struct {
		struct store_task_filter filter;
		size_t n;
		int want[3]; /* 1-based: t1, t2, t3 */
	} cases[] = {
		{ { 0 }, 3, { 3, 2, 1 } },
		{ { .status = "running" }, 1, { 2 } },
		{ { .status = "queued" }, 2, { 3, 1 } },
		{ { .status = "succeeded" }, 0, { 0 } },
		{ { .flow_id = FLOW_A }, 2, { 3, 1 } },
		{ { .agent = "codex" }, 1, { 2 } },
		{ { .worker = "w2" }, 1, { 2 } },
		{ { .event_id = 7 }, 1, { 2 } },
		{ { .flow_id = FLOW_A, .agent = "claude", .status = "queued" }, 2, { 3, 1 } },
		{ { .flow_id = FLOW_B, .agent = "claude" }, 0, { 0 } },
	};
	int64_t ids[4] = { 0, t1.id, t2.id, t3.id };
	struct store_error err;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct store_task_list l;
		assert_int_equal(store_list_tasks(contract_task_store(f), &cases[i].filter, &l, &err), 0);
		int64_t want[3];
		for (size_t j = 0; j < cases[i].n; j++)
			want[j] = ids[cases[i].want[j]];
		assert_ids(&l, want, cases[i].n);
		assert_false(l.more);
		for (size_t j = 0; j < l.n; j++) {
			assert_null(l.rows[j].prompt);
			assert_null(l.rows[j].output);
		}
		store_task_list_release(&l);
	}
	struct store_task_filter by_parent = { .parent_id = t1.id };
	struct store_task_list l;
	assert_int_equal(store_list_tasks(contract_task_store(f), &by_parent, &l, &err), 0);
	assert_ids(&l, &t3.id, 1);
	assert_string_equal(l.rows[0].flow_id, FLOW_A);
	assert_string_equal(l.rows[0].external_id, EXT_A);
	store_task_list_release(&l);
}

static void list_pages_newest_first_by_keyset(void **state)
{
	void **f = state;
	int64_t ids[5];
	for (int i = 0; i < 5; i++) {
		char origin[16];
		snprintf(origin, sizeof(origin), "api:%d", i);
		ids[i] = create_in_project(f, origin, NULL, 1000 + i);
	}
	struct store_task_filter filter = { .limit = 2 };
	struct store_task_list l;
	struct store_error err;
	assert_int_equal(store_list_tasks(contract_task_store(f), &filter, &l, &err), 0);
	int64_t page1[] = { ids[4], ids[3] };
	assert_ids(&l, page1, 2);
	assert_true(l.more);
	filter.before_id = l.rows[1].id;
	store_task_list_release(&l);
	assert_int_equal(store_list_tasks(contract_task_store(f), &filter, &l, &err), 0);
	int64_t page2[] = { ids[2], ids[1] };
	assert_ids(&l, page2, 2);
	assert_true(l.more);
	filter.before_id = l.rows[1].id;
	store_task_list_release(&l);
	assert_int_equal(store_list_tasks(contract_task_store(f), &filter, &l, &err), 0);
	assert_ids(&l, &ids[0], 1);
	assert_false(l.more);
	store_task_list_release(&l);
}

static void flow_has_its_conversations_oldest_first_and_its_tasks(void **state)
{
	void **f = state;
	struct store_task_in a = task("api:a", FLOW_A, EXT_A), b = task("api:b", FLOW_A, EXT_A),
			     c = task("api:c", FLOW_A, EXT_A), other = task("api:o", FLOW_B, EXT_B);
	b.new_conversation = true;
	create(f, &a, 1000);
	create(f, &b, 2000);
	create(f, &c, 3000);
	create(f, &other, 3000);
	struct store_flow fl;
	struct store_error err;
	int r = store_get_flow(contract_task_store(f), FLOW_A, 2, &fl, &err);
	if (r < 0)
		fail_msg("store_get_flow: %d %s", r, err.msg);
	assert_string_equal(fl.id, FLOW_A);
	assert_string_equal(fl.external_id, EXT_A);
	assert_string_equal(fl.current_conversation, b.ret_conversation_id);
	assert_int_equal(fl.created_at_ms, 1000);
	assert_int_equal(fl.n_conversations, 2);
	assert_string_equal(fl.conversations[0].id, a.ret_conversation_id);
	assert_int_equal(fl.conversations[0].tasks, 1);
	assert_string_equal(fl.conversations[1].id, b.ret_conversation_id);
	assert_int_equal(fl.conversations[1].tasks, 2);
	assert_int_equal(fl.n_tasks, 2);
	assert_int_equal(fl.tasks[0].id, a.id);
	assert_int_equal(fl.tasks[1].id, b.id);
	assert_null(fl.tasks[0].prompt);
	assert_true(fl.more_tasks);
	store_flow_release(&fl);

	r = store_get_flow(contract_task_store(f), FLOW_A, 10, &fl, &err);
	if (r < 0)
		fail_msg("store_get_flow: %d %s", r, err.msg);
	assert_int_equal(fl.n_tasks, 3);
	assert_int_equal(fl.tasks[2].id, c.id);
	assert_false(fl.more_tasks);
	store_flow_release(&fl);

	assert_int_equal(store_get_flow(contract_task_store(f), "flow-000000000000", 10, &fl, &err),
			 HQ_E_NOTFOUND);
}

static void changed_tasks_come_in_commit_order_after_a_cursor(void **state)
{
	void **f = state;
	int64_t a = create_in_project(f, "api:a", NULL, 1000);
	int64_t b = create_in_project(f, "api:b", NULL, 1000);
	int64_t c = create_in_project(f, "api:c", NULL, 2000);
	/* a changes last, with an earlier clock than c's creation: the order
	 * is the commit order, never the timestamps'. */
	start(f, a, "w1", "node-1", 500);
	struct store_task_list l;
	struct store_error err;
	int r = store_tasks_changed(contract_task_store(f), 0, 10, &l, &err);
	if (r < 0)
		fail_msg("store_tasks_changed: %d %s", r, err.msg);
	int64_t all[] = { b, c, a };
	assert_ids(&l, all, 3);
	assert_true(l.rows[0].change_seq < l.rows[1].change_seq);
	assert_true(l.rows[1].change_seq < l.rows[2].change_seq);
	int64_t seq_b = l.rows[0].change_seq, seq_a = l.rows[2].change_seq;
	assert_false(l.more);
	store_task_list_release(&l);

	assert_int_equal(store_tasks_changed(contract_task_store(f), seq_b, 10, &l, &err), 0);
	int64_t after_b[] = { c, a };
	assert_ids(&l, after_b, 2);
	store_task_list_release(&l);

	assert_int_equal(store_tasks_changed(contract_task_store(f), 0, 1, &l, &err), 0);
	assert_ids(&l, &b, 1);
	assert_true(l.more);
	store_task_list_release(&l);

	assert_int_equal(store_tasks_changed(contract_task_store(f), seq_a, 10, &l, &err), 0);
	assert_int_equal(l.n, 0);
	store_task_list_release(&l);

	/* A heartbeat (lease only) is not a change followers need. */
	int64_t *cancel = NULL;
	size_t n_cancel = 0;
	assert_int_equal(store_task_heartbeat(contract_task_store(f), "node-1", &a, 1, 600, LEASE, CLAIM_TTL,
					      &cancel, &n_cancel, &err),
			 0);
	free(cancel);
	assert_int_equal(store_tasks_changed(contract_task_store(f), seq_a, 10, &l, &err), 0);
	assert_int_equal(l.n, 0);
	store_task_list_release(&l);
}

static void counts_tasks_by_status(void **state)
{
	void **f = state;
	int64_t ids[6];
	for (int i = 0; i < 6; i++) {
		char origin[16];
		snprintf(origin, sizeof(origin), "api:%d", i);
		ids[i] = create_in_project(f, origin, NULL, 1000);
	}
	for (int i = 1; i < 5; i++)
		start(f, ids[i], "w1", "node-1", 2000);
	struct store_task_end failed = { .status = "failed" };
	struct store_task_end timed_out = { .status = "timed_out" };
	assert_int_equal(finish(f, ids[2], "node-1", "w1", &succeeded, 3000), 0);
	assert_int_equal(finish(f, ids[3], "node-1", "w1", &failed, 3000), 0);
	assert_int_equal(finish(f, ids[4], "node-1", "w1", &timed_out, 3000), 0);
	bool running;
	struct store_error err;
	assert_int_equal(store_task_cancel(contract_task_store(f), ids[5], 3000, &running, &err), 0);
	struct store_task_counts c;
	memset(&c, 0xff, sizeof(c));
	assert_int_equal(store_count_tasks(contract_task_store(f), &c, &err), 0);
	assert_int_equal(c.queued, 1);
	assert_int_equal(c.running, 1);
	assert_int_equal(c.succeeded, 1);
	assert_int_equal(c.failed, 1);
	assert_int_equal(c.timed_out, 1);
	assert_int_equal(c.cancelled, 1);
	assert_int_equal(c.dead_letter, 0);
}

static void next_due_is_the_earliest_queued_task(void **state)
{
	void **f = state;
	int64_t due = 0;
	struct store_error err;
	assert_int_equal(store_task_next_due(contract_task_store(f), &due, &err), 0);
	assert_int_equal(due, INT64_MAX);
	create_in_project(f, "api:late", NULL, 5000);
	int64_t early = create_in_project(f, "api:early", NULL, 3000);
	assert_int_equal(store_task_next_due(contract_task_store(f), &due, &err), 0);
	assert_int_equal(due, 3000);
	start(f, early, "w1", "node-1", 4000);
	assert_int_equal(store_task_next_due(contract_task_store(f), &due, &err), 0);
	assert_int_equal(due, 5000);
}

#define T(name) cmocka_unit_test_setup_teardown(name, contract_task_setup, contract_task_teardown)

int contract_task_run(void)
{
	const struct CMUnitTest tests[] = {
		T(first_task_creates_its_flow_and_a_conversation),
		T(second_task_in_a_flow_joins_its_conversation),
		T(new_conversation_on_a_new_flow_makes_only_one),
		T(new_conversation_moves_the_flow_on_for_later_tasks),
		T(child_inherits_its_parents_conversation_after_the_flow_moved_on),
		T(child_asking_for_a_new_conversation_gets_one),
		T(same_origin_twice_finds_the_first_task),
		T(unknown_parent_creates_nothing_in_the_batch),
		T(failed_batch_writes_no_result_fields),
		T(finished_event_creates_its_tasks_in_the_same_transaction),
		T(late_outcome_of_a_lost_lease_creates_no_task),
		T(outcome_whose_task_fails_completes_nothing),
		T(candidates_are_due_tasks_by_priority_then_id),
		T(candidates_see_live_claims_running_tasks_and_worker_load),
		T(candidates_leave_out_a_project_another_running_node_claims),
		T(candidates_count_the_load_of_this_nodes_workers_only),
		T(candidates_use_a_stopped_nodes_claims_by_worker_name),
		T(start_runs_a_queued_task_once_under_a_lease),
		T(start_claims_the_project_and_counts_its_tasks),
		T(token_finds_the_running_task_only_while_it_runs),
		T(heartbeat_extends_the_lease_and_reports_cancellations),
		T(heartbeat_reports_tasks_taken_over_by_another_node),
		T(cancel_of_a_queued_task_ends_it_at_once),
		T(cancel_of_an_ended_or_unknown_task_is_refused),
		T(finish_records_success_attempt_and_metrics),
		T(failed_and_timed_out_count_as_failed_in_the_conversation),
		T(finish_records_output_and_error_that_are_not_utf8),
		T(refunded_requeue_does_not_count_the_attempt),
		T(requeue_without_refund_counts_the_attempt),
		T(finish_by_another_owner_is_a_conflict),
		T(finish_keeps_the_claim_for_its_ttl),
		T(finish_on_another_node_leaves_a_same_named_workers_claim),
		T(reclaim_leaves_a_same_named_workers_claim_of_another_node),
		T(reclaim_requeues_an_expired_task_with_attempts_left),
		T(reclaim_fails_an_expired_task_out_of_attempts),
		T(retry_requeues_a_failed_task_with_its_attempts_again),
		T(retry_of_a_queued_or_running_task_is_a_conflict),
		T(list_filters_by_each_field),
		T(list_pages_newest_first_by_keyset),
		T(flow_has_its_conversations_oldest_first_and_its_tasks),
		T(changed_tasks_come_in_commit_order_after_a_cursor),
		T(counts_tasks_by_status),
		T(next_due_is_the_earliest_queued_task),
	};
	return cmocka_run_group_tests_name("store task contract", tests, NULL, NULL);
}
