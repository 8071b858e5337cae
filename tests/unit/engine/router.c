#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "engine/router.h"
#include "util/error.h"

static const char *const providers[] = { "github", "slack", NULL };

static struct route_table *table(const char *yaml)
{
	struct route_table *t = NULL;
	char err[512];
	if (route_table_parse(yaml, strlen(yaml), "t.yaml", providers, &t, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return t;
}

static const char routes_a[] =
	"routes:\n"
	"  - provider: github\n"
	"    command_prefix: \"@agent\"\n"
	"    commands:\n"
	"      - {name: fix, agent: brain, prompt: \"{{hookq.request}} in {{repository.full_name}}\"}\n";

/* Routes one GitHub event; returns the decision (caller frees). */
static json_t *route(struct router *r, const char *type, const char *body, const char *sender,
		     bool bot)
{
	struct store_claimed ev;
	memset(&ev, 0, sizeof(ev));
	ev.provider = (char *)(uintptr_t)"github";
	ev.route = (char *)(uintptr_t)"github";
	ev.event_type = (char *)(uintptr_t)"issue_comment";
	ev.body = (char *)(uintptr_t)body;
	ev.body_len = strlen(body);
	struct event_info info;
	memset(&info, 0, sizeof(info));
	snprintf(info.type, sizeof(info.type), "%s", type);
	snprintf(info.sender, sizeof(info.sender), "%s", sender);
	info.sender_is_bot = bot;
	char *out = NULL;
	assert_int_equal(router_route(r, &ev, &info, &out), 0);
	if (!out)
		return NULL;
	json_t *doc = json_loads(out, 0, NULL);
	free(out);
	assert_non_null(doc);
	return doc;
}

static const char comment[] =
	"{\"action\":\"created\",\"comment\":{\"id\":7,\"body\":\"@agent fix the build\"},"
	"\"issue\":{\"number\":3},\"repository\":{\"full_name\":\"o/r\",\"owner\":{\"login\":\"o\"}}}";

static void a_command_is_matched_rendered_and_located(void **state)
{
	(void)state;
	struct router_rules rules = { NULL, NULL, NULL, NULL, NULL };
	struct router *r = NULL;
	assert_int_equal(router_new(&rules, table(routes_a), NULL, &r), 0);
	json_t *d = route(r, "issue_comment.created", comment, "alice", false);
	json_t *m = json_array_get(json_object_get(d, "matches"), 0);
	assert_string_equal(json_string_value(json_object_get(m, "command")), "fix");
	assert_string_equal(json_string_value(json_object_get(m, "prompt")), "the build in o/r");
	assert_string_equal(json_string_value(json_object_get(d, "external_id")), "github:o/r#3");
	json_decref(d);
	/* Edited: the same text asks for nothing. */
	d = route(r, "issue_comment.edited", comment, "alice", false);
	assert_int_equal(json_array_size(json_object_get(d, "matches")), 0);
	json_decref(d);
	/* A bot: skipped with the reason. */
	d = route(r, "issue_comment.created", comment, "ci[bot]", true);
	json_t *s = json_array_get(json_object_get(d, "skipped"), 0);
	assert_non_null(strstr(json_string_value(json_object_get(s, "skipped")), "is a bot"));
	json_decref(d);
	router_free(r);
}

static void a_swapped_table_applies_to_the_next_event(void **state)
{
	(void)state;
	struct router_rules rules = { NULL, NULL, NULL, NULL, NULL };
	struct router *r = NULL;
	assert_int_equal(router_new(&rules, table(routes_a), NULL, &r), 0);
	router_set_routes(r, table("routes:\n  - provider: slack\n    triggers: [{on: '*', agent: a, prompt: p}]\n"));
	/* No route reads GitHub any more: no decision at all. */
	assert_null(route(r, "issue_comment.created", comment, "alice", false));
	router_free(r);
}

static void the_rules_restrict_who_triggers(void **state)
{
	(void)state;
	struct router_rules rules = { "acme", NULL, "bob", NULL, NULL };
	struct router *r = NULL;
	assert_int_equal(router_new(&rules, table(routes_a), NULL, &r), 0);
	json_t *d = route(r, "issue_comment.created", comment, "bob", false);
	json_t *s = json_array_get(json_object_get(d, "skipped"), 0);
	assert_string_equal(json_string_value(json_object_get(s, "skipped")),
			    "repository owner 'o' is not in ALLOWED_ORGS or ALLOWED_USERS");
	json_decref(d);
	router_free(r);
}

static void a_route_names_its_own_flow_key(void **state)
{
	(void)state;
	static const char routes[] =
		"routes:\n"
		"  - provider: github\n"
		"    external_id: \"ticket:{{repository.owner.login}}-{{issue.number}}\"\n"
		"    command_prefix: \"@agent\"\n"
		"    commands:\n"
		"      - {name: fix, agent: brain, prompt: \"{{hookq.request}}\"}\n";
	struct router_rules rules = { NULL, NULL, NULL, NULL, NULL };
	struct router *r = NULL;
	assert_int_equal(router_new(&rules, table(routes), NULL, &r), 0);
	json_t *d = route(r, "issue_comment.created", comment, "alice", false);
	json_t *m = json_array_get(json_object_get(d, "matches"), 0);
	assert_string_equal(json_string_value(json_object_get(m, "external_id")), "ticket:o-3");
	/* The provider's own stays on the decision. */
	assert_string_equal(json_string_value(json_object_get(d, "external_id")), "github:o/r#3");
	json_decref(d);
	router_free(r);
	/* A template that does not parse is refused with where it is. */
	struct route_table *t = NULL;
	char err[512];
	static const char bad[] = "routes:\n  - provider: github\n    external_id: \"{{x\"\n";
	assert_int_equal(route_table_parse(bad, strlen(bad), "t.yaml", providers, &t, err,
					   sizeof(err)),
			 HQ_E_CONFIG);
	assert_non_null(strstr(err, "t.yaml:3:"));
	assert_non_null(strstr(err, "external_id: "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_command_is_matched_rendered_and_located),
		cmocka_unit_test(a_route_names_its_own_flow_key),
		cmocka_unit_test(a_swapped_table_applies_to_the_next_event),
		cmocka_unit_test(the_rules_restrict_who_triggers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
