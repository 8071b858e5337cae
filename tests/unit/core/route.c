#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/route.h"
#include "util/error.h"

static const char *const providers[] = { "github", "slack", "jira", NULL };

static int parse(const char *yaml, struct route_table **t, char *err, size_t size)
{
	return route_table_parse(yaml, strlen(yaml), "hookq.yaml", providers, t, err, size);
}

static const char good[] =
	"server:\n"
	"  port: 8080\n"
	"routes:\n"
	"  - provider: github\n"
	"    command_prefix: \"@agent\"\n"
	"    default_command: analyze\n"
	"    commands:\n"
	"      - name: analyze\n"
	"        aliases: [analysis]\n"
	"        agent: planning\n"
	"        prompt: \"Analyze: {{issue.title}}\"\n"
	"      - name: fix\n"
	"        agent: brain\n"
	"        prompt: \"Fix {{ issue.title }}: {{comment.body}}\"\n"
	"    triggers:\n"
	"      - on: issues.opened\n"
	"        agent: triage\n"
	"        prompt: \"Triage {{issue.title}}\"\n"
	"        priority: 50\n"
	"        conditions:\n"
	"          path: issue.labels[0].name\n"
	"          equals: agent\n"
	"      - on: pull_request.*\n"
	"        command: analyze\n"
	"        priority: 10\n"
	"  - name: slack-ops\n"
	"    provider: slack\n"
	"    command_prefix: /agent\n"
	"    commands:\n"
	"      - {name: run, agent: ops, prompt: \"{{text}}\"}\n";

static void a_valid_file_gives_routes_commands_and_ordered_triggers(void **state)
{
	(void)state;
	struct route_table *t = NULL;
	char err[512] = "";
	assert_int_equal(parse(good, &t, err, sizeof(err)), 0);
	assert_int_equal(t->n, 2);
	const struct route *gh = &t->routes[0];
	assert_string_equal(gh->name, "github"); /* defaults to the provider */
	assert_string_equal(gh->command_prefix, "@agent");
	assert_string_equal(gh->default_command, "analyze");
	assert_int_equal(gh->n_commands, 2);
	assert_string_equal(gh->commands[0].aliases[0], "analysis");
	assert_null(gh->commands[0].aliases[1]);
	assert_null(gh->commands[1].aliases[0]);
	assert_int_equal(template_variable_count(gh->commands[1].prompt), 2);
	assert_string_equal(template_variable(gh->commands[1].prompt, 0), "issue.title");
	/* Sorted by priority: pull_request.* (10) before issues.opened (50). */
	assert_int_equal(gh->n_triggers, 2);
	assert_string_equal(gh->triggers[0].on, "pull_request.*");
	assert_string_equal(gh->triggers[0].command, "analyze");
	assert_string_equal(gh->triggers[1].on, "issues.opened");
	assert_non_null(gh->triggers[1].conditions);
	assert_int_equal(gh->triggers[1].priority, 50);
	json_t *labelled = json_loads("{\"issue\":{\"labels\":[{\"name\":\"agent\"}]}}", 0, NULL);
	json_t *plain = json_loads("{\"issue\":{\"labels\":[]}}", 0, NULL);
	assert_true(condition_eval(gh->triggers[1].conditions, labelled));
	assert_false(condition_eval(gh->triggers[1].conditions, plain));
	json_decref(labelled);
	json_decref(plain);
	assert_string_equal(t->routes[1].name, "slack-ops");
	route_table_free(t);
}

static void no_routes_is_an_empty_table(void **state)
{
	(void)state;
	struct route_table *t = NULL;
	char err[256];
	assert_int_equal(parse("server:\n  port: 1\n", &t, err, sizeof(err)), 0);
	assert_int_equal(t->n, 0);
	route_table_free(t);
	assert_int_equal(parse("routes:\n", &t, err, sizeof(err)), 0);
	assert_int_equal(t->n, 0);
	route_table_free(t);
}

static void mistakes_are_named_with_file_line_and_column(void **state)
{
	(void)state;
	static const struct {
		const char *yaml;
		const char *err;
	} cases[] = {
		{ "routes: 5\n", "hookq.yaml:1:9: routes: must be a list of routes" },
		{ "routes:\n  - provider: gitbub\n    triggers: [{on: x, agent: a, prompt: p}]\n",
		  "hookq.yaml:2:15: routes[0]: unknown provider 'gitbub' (expected one of: github, slack, jira)" },
		{ "routes:\n  - name: x\n",
		  "hookq.yaml:2:5: routes[0]: 'provider' is required" },
		{ "routes:\n  - provider: github\n    comands: []\n",
		  "hookq.yaml:3:5: routes[0]: unknown key 'comands' (expected name, provider, endpoint, secret_env, secret_file, command_prefix, default_command, commands, triggers, secret, external_id)" },
		{ "routes:\n  - provider: github\n",
		  "hookq.yaml:2:5: routes[0]: a route needs commands or triggers" },
		{ "routes:\n  - provider: github\n    commands:\n      - {name: fix, agent: a, prompt: p}\n",
		  "hookq.yaml:4:7: routes[0]: commands need a 'command_prefix' (such as @agent)" },
		{ "routes:\n  - provider: github\n    command_prefix: '@a'\n    commands:\n      - {name: fix, agent: a}\n",
		  "hookq.yaml:5:9: routes[0].commands[0]: 'prompt' is required" },
		{ "routes:\n  - provider: github\n    command_prefix: '@a'\n    commands:\n      - {name: fix, agent: a, prompt: 'x {{issue.'}\n",
		  "hookq.yaml:5:39: routes[0].commands[0]: prompt: column 3: unterminated {{" },
		{ "routes:\n  - provider: github\n    command_prefix: '@a'\n    commands:\n      - {name: fix, agent: a, prompt: p}\n      - {name: repair, aliases: [FIX], agent: a, prompt: p}\n",
		  "hookq.yaml:6:9: routes[0].commands[1]: 'FIX' is already a name or alias of command 'fix'" },
		{ "routes:\n  - provider: github\n    command_prefix: '@a'\n    default_command: nope\n    commands:\n      - {name: fix, agent: a, prompt: p}\n",
		  "hookq.yaml:4:22: routes[0]: default_command 'nope' is not one of the route's commands" },
		{ "routes:\n  - provider: github\n    triggers:\n      - {on: issues.opened, command: fix}\n",
		  "hookq.yaml:4:9: routes[0].triggers[0]: command 'fix' is not one of the route's commands" },
		{ "routes:\n  - provider: github\n    triggers:\n      - {on: issues.opened, agent: a}\n",
		  "hookq.yaml:4:9: routes[0].triggers[0]: 'command', or 'agent' and 'prompt', is required" },
		{ "routes:\n  - provider: github\n    triggers:\n      - {on: x, agent: a, prompt: p, priority: high}\n",
		  "hookq.yaml:4:48: routes[0].triggers[0]: 'priority' must be a whole number from 0 to 1000000" },
		{ "routes:\n  - provider: github\n    triggers:\n      - {on: x, agent: a, prompt: p, conditions: {path: a, equal: 1}}\n",
		  "hookq.yaml:4:50: routes[0].triggers[0]: conditions: unknown operator \"equal\" (expected equals, in, exists, prefix, contains, regex)" },
		{ "routes:\n  - {provider: github, triggers: [{on: x, agent: a, prompt: p}]}\n  - {provider: github, triggers: [{on: y, agent: a, prompt: p}]}\n",
		  "hookq.yaml:3:5: routes[1]: route name 'github' is taken by routes[0] (give one a 'name')" },
		{ "routes:\n  - {provider: github, name: 'a b', triggers: [{on: x, agent: a, prompt: p}]}\n",
		  "hookq.yaml:2:30: routes[0]: 'name' must be 1-64 letters, digits, '-' or '_', not 'a b'" },
		{ "routes:\n  - provider: github\n  bad: [\n",
		  NULL },
		{ "routes:\n  - {name: a, provider: github, endpoint: /webhooks/a, secret: x, triggers: [{on: x, agent: a, prompt: p}]}\n",
		  "hookq.yaml:2:64: routes[0]: a secret is never written in the file: use secret_env or secret_file" },
		{ "routes:\n  - {provider: github, endpoint: /webhooks/team-a, triggers: [{on: x, agent: a, prompt: p}]}\n",
		  "hookq.yaml:2:5: routes[0]: a route with its own endpoint needs a 'name' that is not a provider's name" },
		{ "routes:\n  - {name: slack, provider: github, endpoint: /webhooks/team-a, triggers: [{on: x, agent: a, prompt: p}]}\n",
		  "hookq.yaml:2:5: routes[0]: a route with its own endpoint needs a 'name' that is not a provider's name" },
		{ "routes:\n  - {name: a, provider: github, endpoint: /hooks/a, triggers: [{on: x, agent: a, prompt: p}]}\n",
		  "hookq.yaml:2:43: routes[0]: 'endpoint' must be /webhooks/<name> (letters, digits, - and _; not a provider's own path), not '/hooks/a'" },
		{ "routes:\n  - {name: a, provider: github, endpoint: /webhooks/slack, triggers: [{on: x, agent: a, prompt: p}]}\n",
		  "hookq.yaml:2:43: routes[0]: 'endpoint' must be /webhooks/<name> (letters, digits, - and _; not a provider's own path), not '/webhooks/slack'" },
		{ "routes:\n  - {provider: github, secret_env: X, triggers: [{on: x, agent: a, prompt: p}]}\n",
		  "hookq.yaml:2:5: routes[0]: secret_env and secret_file go with an 'endpoint' of the route's own (without one the route reads the provider's endpoint and its secret)" },
		{ "routes:\n  - {name: a, provider: github, endpoint: /webhooks/x, triggers: [{on: x, agent: a, prompt: p}]}\n  - {name: b, provider: github, endpoint: /webhooks/x, triggers: [{on: x, agent: a, prompt: p}]}\n",
		  "hookq.yaml:3:5: routes[1]: endpoint '/webhooks/x' is taken by routes[0]" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct route_table *t = NULL;
		char err[512] = "";
		assert_int_equal(parse(cases[i].yaml, &t, err, sizeof(err)), HQ_E_CONFIG);
		assert_null(t);
		if (cases[i].err)
			assert_string_equal(err, cases[i].err);
		else
			assert_non_null(strstr(err, "hookq.yaml:"));
	}
}

static void trigger_types_match_exactly_or_by_family(void **state)
{
	(void)state;
	assert_true(route_type_matches("issues.opened", "issues.opened"));
	assert_false(route_type_matches("issues.opened", "issues.closed"));
	assert_true(route_type_matches("issues.*", "issues.closed"));
	assert_false(route_type_matches("issues.*", "issue_comment.created"));
	assert_false(route_type_matches("issues.*", "issues"));
	assert_true(route_type_matches("*", "push"));
	assert_true(route_type_matches("jira:issue_created", "jira:issue_created"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_valid_file_gives_routes_commands_and_ordered_triggers),
		cmocka_unit_test(no_routes_is_an_empty_table),
		cmocka_unit_test(mistakes_are_named_with_file_line_and_column),
		cmocka_unit_test(trigger_types_match_exactly_or_by_family),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
