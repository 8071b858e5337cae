/* engine/handler: routing decisions planned into tasks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "core/flow.h"
#include "engine/handler.h"
#include "util/error.h"

static struct store_claimed event(int64_t id, const char *provider, const char *delivery)
{
	struct store_claimed ev;
	memset(&ev, 0, sizeof(ev));
	ev.id = id;
	ev.provider = (char *)(uintptr_t)provider;
	ev.route = (char *)(uintptr_t)provider;
	ev.delivery_id = (char *)(uintptr_t)delivery;
	ev.event_type = (char *)(uintptr_t)"issue_comment";
	return ev;
}

static int attempts_of(void *ctx, const char *agent)
{
	(void)ctx;
	return strcmp(agent, "brain") == 0 ? 3 : -1;
}

static const struct handler_options opts = {
	.agent_attempts = attempts_of,
	.default_agent = "planning",
};

static const char decision[] =
	"{\"type\":\"issue_comment.created\",\"external_id\":\"github:o/r#12\","
	"\"title\":\"Crash on start\",\"ref\":\"main\","
	"\"reply_to\":{\"repository\":\"o/r\",\"number\":\"12\",\"comment_id\":\"9\"},"
	"\"matches\":[{\"route\":\"gh\",\"kind\":\"command\",\"command\":\"fix\",\"agent\":\"brain\","
	"\"prompt\":\"Fix it\"},"
	"{\"route\":\"wh_1\",\"kind\":\"comment\",\"command\":\"cmd_2\",\"prompt\":\"Thanks\"},"
	"{\"route\":\"wh_1\",\"kind\":\"create_task\",\"command\":\"cmd_3\",\"priority\":7,"
	"\"prompt\":\"Triage\"}],"
	"\"skipped\":[]}";

static void a_command_and_a_create_task_become_two_tasks(void **state)
{
	(void)state;
	struct store_claimed ev = event(41, "github", "d-1");
	struct event_info info;
	memset(&info, 0, sizeof(info));
	assert_int_equal(handler_plan_tasks(&opts, &ev, decision, &info), 0);
	/* The comment match is the outbox's, not a task. */
	assert_int_equal(info.n_tasks, 2);
	const struct event_task *fix = &info.tasks[0], *tri = &info.tasks[1];
	assert_string_equal(fix->origin, "event:41:gh:fix");
	assert_string_equal(fix->agent, "brain");
	assert_string_equal(fix->prompt, "Fix it");
	assert_string_equal(fix->title, "fix: Crash on start");
	assert_string_equal(fix->external_id, "github:o/r#12");
	assert_string_equal(fix->project, "o/r");
	assert_int_equal(fix->max_attempts, 3);
	assert_int_equal(fix->priority, 100);
	assert_false(fix->new_conversation);
	assert_false(fix->test);
	char flow[FLOW_ID_MAX];
	assert_int_equal(flow_id_of("github:o/r#12", flow), 0);
	assert_string_equal(fix->flow_id, flow);
	json_t *meta = json_loads(fix->metadata_json, 0, NULL);
	assert_non_null(meta);
	assert_string_equal(json_string_value(json_object_get(meta, "ref")), "main");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(meta, "reply_to"), "comment_id")),
		"9");
	assert_false(json_is_true(json_object_get(meta, "test")));
	json_decref(meta);
	/* No agent named: the default one, with its own (unknown: 1) attempts. */
	assert_string_equal(tri->origin, "event:41:wh_1:cmd_3");
	assert_string_equal(tri->agent, "planning");
	assert_int_equal(tri->max_attempts, 1);
	assert_int_equal(tri->priority, 7);
	assert_string_equal(tri->title, "cmd_3: Crash on start");
	event_info_release(&info);
	assert_null(info.tasks);
}

static void the_same_event_plans_the_same_origins(void **state)
{
	(void)state;
	struct store_claimed ev = event(41, "github", "d-1");
	struct event_info a, b;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_int_equal(handler_plan_tasks(&opts, &ev, decision, &a), 0);
	assert_int_equal(handler_plan_tasks(&opts, &ev, decision, &b), 0);
	assert_int_equal(a.n_tasks, b.n_tasks);
	for (size_t i = 0; i < a.n_tasks; i++)
		assert_string_equal(a.tasks[i].origin, b.tasks[i].origin);
	event_info_release(&a);
	event_info_release(&b);
}

static void new_conversation_and_a_missing_external_id(void **state)
{
	(void)state;
	struct store_claimed ev = event(7, "generic", "abc");
	struct event_info info;
	memset(&info, 0, sizeof(info));
	const char *d = "{\"type\":\"webhook\",\"external_id\":null,\"new_conversation\":true,"
			"\"matches\":[{\"route\":\"gen\",\"kind\":\"trigger\",\"on\":\"*\","
			"\"agent\":\"brain\",\"prompt\":\"p\"}]}";
	assert_int_equal(handler_plan_tasks(&opts, &ev, d, &info), 0);
	assert_int_equal(info.n_tasks, 1);
	/* Without an external id the delivery is its own flow. */
	assert_string_equal(info.tasks[0].external_id, "generic:delivery/abc");
	assert_string_equal(info.tasks[0].origin, "event:7:gen:*");
	assert_true(info.tasks[0].new_conversation);
	assert_string_equal(info.tasks[0].project, "");
	assert_null(info.tasks[0].command);
	assert_string_equal(info.tasks[0].title, "brain");
	event_info_release(&info);

	/* A route's own flow key wins over the provider's. */
	const char *own = "{\"type\":\"t\",\"external_id\":\"github:o/r#1\",\"matches\":"
			  "[{\"route\":\"r\",\"kind\":\"command\",\"command\":\"c\","
			  "\"agent\":\"brain\",\"prompt\":\"p\",\"external_id\":\"acme:T-9\"}]}";
	memset(&info, 0, sizeof(info));
	assert_int_equal(handler_plan_tasks(&opts, &ev, own, &info), 0);
	assert_string_equal(info.tasks[0].external_id, "acme:T-9");
	char flow[FLOW_ID_MAX];
	assert_int_equal(flow_id_of("acme:T-9", flow), 0);
	assert_string_equal(info.tasks[0].flow_id, flow);
	event_info_release(&info);
}

static void no_agent_anywhere_makes_no_task(void **state)
{
	(void)state;
	struct handler_options none = { 0 };
	struct store_claimed ev = event(8, "github", "x");
	struct event_info info;
	memset(&info, 0, sizeof(info));
	const char *d = "{\"type\":\"t\",\"external_id\":\"github:o/r#1\",\"matches\":"
			"[{\"route\":\"wh_1\",\"kind\":\"create_task\",\"command\":\"c\","
			"\"prompt\":\"p\"}]}";
	assert_int_equal(handler_plan_tasks(&none, &ev, d, &info), 0);
	assert_int_equal(info.n_tasks, 0);
	event_info_release(&info);
}

static void a_test_event_runs_its_prompt_on_the_default_agent(void **state)
{
	(void)state;
	struct store_claimed ev = event(9, HANDLER_TEST_PROVIDER, "test-1");
	const char body[] = "{\"prompt\":\"Fix $(rm -rf /)\\nsecond line\",\"repository\":\"o/r\"}";
	ev.body = (char *)(uintptr_t)body;
	ev.body_len = strlen(body);
	ev.event_type = (char *)(uintptr_t)"test";
	ev.attempts = 1;
	struct event_info info;
	memset(&info, 0, sizeof(info));
	char why[128] = "";
	assert_int_equal(handler_handle((void *)(uintptr_t)&opts, &ev, &info, why, sizeof(why)),
			 0);
	assert_int_equal(info.n_tasks, 1);
	assert_true(info.tasks[0].test);
	assert_string_equal(info.tasks[0].agent, "planning");
	assert_string_equal(info.tasks[0].prompt, "Fix $(rm -rf /)\nsecond line");
	assert_string_equal(info.tasks[0].external_id, "test:o/r");
	assert_string_equal(info.tasks[0].project, "o/r");
	assert_string_equal(info.tasks[0].title, "planning: Fix $(rm -rf /)");
	event_info_release(&info);

	const char bad[] = "{\"repository\":\"o/r\"}";
	ev.body = (char *)(uintptr_t)bad;
	ev.body_len = strlen(bad);
	memset(&info, 0, sizeof(info));
	assert_int_equal(handler_handle((void *)(uintptr_t)&opts, &ev, &info, why, sizeof(why)),
			 HQ_E_INVAL);
	assert_non_null(strstr(why, "prompt"));
	event_info_release(&info);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_command_and_a_create_task_become_two_tasks),
		cmocka_unit_test(the_same_event_plans_the_same_origins),
		cmocka_unit_test(new_conversation_and_a_missing_external_id),
		cmocka_unit_test(no_agent_anywhere_makes_no_task),
		cmocka_unit_test(a_test_event_runs_its_prompt_on_the_default_agent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
