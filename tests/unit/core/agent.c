#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/agent.h"
#include "util/error.h"

static int parse(const char *yaml, struct agent_table **t, char *err, size_t size)
{
	return agent_table_parse(yaml, strlen(yaml), "hookq.yaml", t, err, size);
}

static struct agent_table *parse_ok(const char *yaml)
{
	struct agent_table *t = NULL;
	char err[512] = "";
	int r = parse(yaml, &t, err, sizeof(err));
	if (r != 0)
		print_error("%s\n", err);
	assert_int_equal(r, 0);
	assert_non_null(t);
	return t;
}

static void no_agents_key_is_an_empty_table(void **state)
{
	(void)state;
	static const char *const docs[] = {
		"server:\n  port: 1\n",
		"agents:\n",
		"agents: ~\n",
		"",
		"routes:\n  - provider: github\n",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct agent_table *t = parse_ok(docs[i]);
		assert_int_equal(t->n, 0);
		assert_null(agent_find(t, "planning"));
		agent_table_free(t);
	}
}

static void defaults_apply_when_only_command_is_given(void **state)
{
	(void)state;
	struct agent_table *t = parse_ok("agents:\n  planning:\n    command: [claude, -p]\n");
	assert_int_equal(t->n, 1);
	const struct agent *a = agent_find(t, "planning");
	assert_non_null(a);
	assert_string_equal(a->name, "planning");
	assert_int_equal(a->line, 2);
	assert_int_equal(a->n_command, 2);
	assert_string_equal(a->command[0], "claude");
	assert_string_equal(a->command[1], "-p");
	assert_null(a->command[2]);
	assert_int_equal(a->timeout_ms, 30 * 60 * 1000);
	assert_int_equal(a->kill_grace_ms, 10 * 1000);
	assert_int_equal(a->max_attempts, 1);
	assert_int_equal(a->retry_backoff_ms, 30 * 1000);
	assert_int_equal(a->retry_backoff_max_ms, 10 * 60 * 1000);
	assert_int_equal(a->output_max, 256 * 1024);
	assert_false(a->workspace);
	assert_null(a->cwd);
	static const char *const env[] = { "PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME" };
	assert_int_equal(a->n_env, 7);
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(a->env[i], env[i]);
	assert_null(a->env[7]);
	assert_int_equal(a->n_set_env, 0);
	agent_table_free(t);
}

static void every_field_is_read(void **state)
{
	(void)state;
	struct agent_table *t = parse_ok(
		"server:\n"
		"  port: 8080\n"
		"agents:\n"
		"  planning:\n"
		"    command: [\"docker\", \"exec\", \"-i\", \"{{worker}}\", \"claude\", \"-p\"]\n"
		"    timeout: 45m\n"
		"    kill_grace: 5s\n"
		"    max_attempts: 3\n"
		"    retry_backoff: 1m\n"
		"    retry_backoff_max: 1h\n"
		"    env: [PATH, HOME, ANTHROPIC_API_KEY]\n"
		"    set_env: {CLAUDE_MODEL: opus, EMPTY: \"\"}\n"
		"    output_max: 1MiB\n"
		"    workspace: true\n"
		"    cwd: \"{{ workspace }}/src\"\n"
		"  script.v2:\n"
		"    command:\n"
		"      - /usr/local/bin/agent.sh\n"
		"      - --task={{task_id}}\n"
		"    env: []\n");
	assert_int_equal(t->n, 2);
	const struct agent *a = &t->agents[0];
	assert_string_equal(a->name, "planning");
	assert_int_equal(a->line, 4);
	assert_int_equal(a->n_command, 6);
	assert_string_equal(a->command[3], "{{worker}}");
	assert_int_equal(a->timeout_ms, 45 * 60 * 1000);
	assert_int_equal(a->kill_grace_ms, 5000);
	assert_int_equal(a->max_attempts, 3);
	assert_int_equal(a->retry_backoff_ms, 60 * 1000);
	assert_int_equal(a->retry_backoff_max_ms, 3600 * 1000);
	assert_int_equal(a->n_env, 3);
	assert_string_equal(a->env[2], "ANTHROPIC_API_KEY");
	assert_null(a->env[3]);
	assert_int_equal(a->n_set_env, 2);
	assert_string_equal(a->set_env[0].name, "CLAUDE_MODEL");
	assert_string_equal(a->set_env[0].value, "opus");
	assert_string_equal(a->set_env[1].name, "EMPTY");
	assert_string_equal(a->set_env[1].value, "");
	assert_int_equal(a->output_max, 1024 * 1024);
	assert_true(a->workspace);
	assert_string_equal(a->cwd, "{{ workspace }}/src");
	const struct agent *s = agent_find(t, "script.v2");
	assert_ptr_equal(s, &t->agents[1]);
	assert_int_equal(s->line, 16);
	assert_int_equal(s->n_command, 2);
	assert_string_equal(s->command[1], "--task={{task_id}}");
	assert_int_equal(s->n_env, 0);
	assert_null(s->env[0]);
	assert_null(agent_find(t, "Planning"));
	agent_table_free(t);
}

static void mistakes_are_named_with_file_line_and_column(void **state)
{
	(void)state;
	static const struct {
		const char *yaml;
		const char *err;
	} cases[] = {
		{ "agents: [a, b]\n",
		  "hookq.yaml:1:9: agents: must be a mapping of agent names to agents (like 'planning: {command: [...]}')" },
		{ "agents:\n  a: {command: [x]}\nagents:\n  b: {command: [y]}\n",
		  "hookq.yaml:3:1: agents: duplicate key 'agents'" },
		{ "agents:\n  a b: {command: [x]}\n",
		  "hookq.yaml:2:3: agents: agent names must be 1-64 letters, digits, '.', '-' or '_', not 'a b'" },
		{ "agents:\n  a/b: {command: [x]}\n",
		  "hookq.yaml:2:3: agents: agent names must be 1-64 letters, digits, '.', '-' or '_', not 'a/b'" },
		{ "agents:\n  planning: {command: [x]}\n  planning: {command: [y]}\n",
		  "hookq.yaml:3:3: agents: duplicate agent 'planning' (first on line 2)" },
		{ "agents:\n  a: [x]\n",
		  "hookq.yaml:2:6: agents.a: an agent is a mapping with at least 'command' (an argv list)" },
		{ "agents:\n  a:\n    timeout: 5m\n",
		  "hookq.yaml:3:5: agents.a: 'command' is required (an argv list, like [\"claude\", \"-p\"])" },
		{ "agents:\n  a:\n    command: claude -p\n",
		  "hookq.yaml:3:14: agents.a: 'command' must be a list of texts (an argv, like [\"claude\", \"-p\"]), not one text: hookq never runs a shell" },
		{ "agents:\n  a:\n    command: []\n",
		  "hookq.yaml:3:14: agents.a: 'command' must not be empty" },
		{ "agents:\n  a:\n    command: [\"\", x]\n",
		  "hookq.yaml:3:15: agents.a.command[0]: must be a non-empty text, not ''" },
		{ "agents:\n  a:\n    command: [x, [y]]\n",
		  "hookq.yaml:3:18: agents.a.command[1]: must be a non-empty text, not a list" },
		{ "agents:\n  a:\n    command: [x]\n    comand: [y]\n",
		  "hookq.yaml:4:5: agents.a: unknown key 'comand' (expected command, timeout, kill_grace, max_attempts, retry_backoff, retry_backoff_max, env, set_env, output_max, workspace, cwd)" },
		{ "agents:\n  a:\n    command: [x]\n    timeout: 1m\n    timeout: 2m\n",
		  "hookq.yaml:5:5: agents.a: duplicate key 'timeout'" },
		{ "agents:\n  a:\n    command: [x]\n    timeout: soon\n",
		  "hookq.yaml:4:14: agents.a: 'timeout' must be a duration from 1s to 7d (like 90s, 30m, 2h), not 'soon'" },
		{ "agents:\n  a:\n    command: [x]\n    timeout: 0\n",
		  "hookq.yaml:4:14: agents.a: 'timeout' must be a duration from 1s to 7d (like 90s, 30m, 2h), not '0'" },
		{ "agents:\n  a:\n    command: [x]\n    kill_grace: 2h\n",
		  "hookq.yaml:4:17: agents.a: 'kill_grace' must be a duration from 0 to 1h (like 90s, 30m, 2h), not '2h'" },
		{ "agents:\n  a:\n    command: [x]\n    max_attempts: 21\n",
		  "hookq.yaml:4:19: agents.a: 'max_attempts' must be a whole number from 1 to 20, not '21'" },
		{ "agents:\n  a:\n    command: [x]\n    max_attempts: 0\n",
		  "hookq.yaml:4:19: agents.a: 'max_attempts' must be a whole number from 1 to 20, not '0'" },
		{ "agents:\n  a:\n    command: [x]\n    retry_backoff: 1h\n",
		  "hookq.yaml:4:20: agents.a: 'retry_backoff_max' (600000 ms) is below 'retry_backoff' (3600000 ms)" },
		{ "agents:\n  a:\n    command: [x]\n    retry_backoff: 1m\n    retry_backoff_max: 10s\n",
		  "hookq.yaml:5:24: agents.a: 'retry_backoff_max' (10000 ms) is below 'retry_backoff' (60000 ms)" },
		{ "agents:\n  a:\n    command: [x]\n    output_max: 512\n",
		  "hookq.yaml:4:17: agents.a: 'output_max' must be a size from 1KiB to 64MiB (like 256KiB), not '512'" },
		{ "agents:\n  a:\n    command: [x]\n    output_max: 65MiB\n",
		  "hookq.yaml:4:17: agents.a: 'output_max' must be a size from 1KiB to 64MiB (like 256KiB), not '65MiB'" },
		{ "agents:\n  a:\n    command: [x]\n    workspace: maybe\n",
		  "hookq.yaml:4:16: agents.a: 'workspace' must be true or false, not 'maybe'" },
		{ "agents:\n  a:\n    command: [x]\n    env: PATH\n",
		  "hookq.yaml:4:10: agents.a: 'env' must be a list of variable names (like [PATH, HOME]), or [] for none" },
		{ "agents:\n  a:\n    command: [x]\n    env: [PATH, 1X]\n",
		  "hookq.yaml:4:17: agents.a.env[1]: 'env' names must be letters, digits and '_', not starting with a digit (at most 128), not '1X'" },
		{ "agents:\n  a:\n    command: [x]\n    env: [PATH, A-B]\n",
		  "hookq.yaml:4:17: agents.a.env[1]: 'env' names must be letters, digits and '_', not starting with a digit (at most 128), not 'A-B'" },
		{ "agents:\n  a:\n    command: [x]\n    env: [PATH, HOME, PATH]\n",
		  "hookq.yaml:4:23: agents.a.env[2]: 'PATH' is listed twice" },
		{ "agents:\n  a:\n    command: [x]\n    env: [HOOKQ_TASK_ID]\n",
		  "hookq.yaml:4:11: agents.a.env[0]: 'HOOKQ_TASK_ID': names starting with HOOKQ_ are reserved for hookq's task variables" },
		{ "agents:\n  a:\n    command: [x]\n    set_env: [A]\n",
		  "hookq.yaml:4:14: agents.a: 'set_env' must be a mapping of names to values (like {CLAUDE_MODEL: opus})" },
		{ "agents:\n  a:\n    command: [x]\n    set_env: {HOOKQ_WORKER: x}\n",
		  "hookq.yaml:4:15: agents.a.set_env: 'HOOKQ_WORKER': names starting with HOOKQ_ are reserved for hookq's task variables" },
		{ "agents:\n  a:\n    command: [x]\n    set_env: {\"A=B\": x}\n",
		  "hookq.yaml:4:15: agents.a.set_env: 'set_env' names must be letters, digits and '_', not starting with a digit (at most 128), not 'A=B'" },
		{ "agents:\n  a:\n    command: [x]\n    set_env: {A: 1, A: 2}\n",
		  "hookq.yaml:4:21: agents.a.set_env: duplicate key 'A'" },
		{ "agents:\n  a:\n    command: [x]\n    set_env: {PATH: /bin}\n",
		  "hookq.yaml:4:15: agents.a.set_env: 'PATH' is also in 'env': pass it through or set it, not both" },
		{ "agents:\n  a:\n    command: [x]\n    set_env: {A: [1]}\n",
		  "hookq.yaml:4:18: agents.a.set_env: 'A' must be a text, not a list" },
		{ "agents:\n  a:\n    command: [x]\n    cwd: \"\"\n",
		  "hookq.yaml:4:10: agents.a.cwd: must be a non-empty text, not ''" },
		{ "agents:\n  a:\n    command: [x]\n  bad: [\n",
		  NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct agent_table *t = NULL;
		char err[512] = "";
		assert_int_equal(parse(cases[i].yaml, &t, err, sizeof(err)), HQ_E_CONFIG);
		assert_null(t);
		if (cases[i].err) {
			if (strcmp(err, cases[i].err) != 0)
				print_error("case %zu\n", i);
			assert_string_equal(err, cases[i].err);
		} else {
			assert_non_null(strstr(err, "hookq.yaml:"));
		}
	}
}

static void only_hookq_placeholders_are_allowed(void **state)
{
	(void)state;
	static const struct {
		const char *yaml;
		const char *err;
	} cases[] = {
		/* Payload text must never reach argv. */
		{ "agents:\n  a:\n    command: [claude, -p, \"{{issue.title}}\"]\n",
		  "hookq.yaml:3:27: agents.a.command[2]: column 1: unknown placeholder '{{issue.title}}' (allowed: {{worker}}, {{task_id}}, {{repository}}, {{workspace}}); payload text never reaches a command line: the agent reads it from its prompt" },
		{ "agents:\n  a:\n    command: [claude, \"--title={{ comment.body }}\"]\n",
		  "hookq.yaml:3:23: agents.a.command[1]: column 9: unknown placeholder '{{ comment.body }}' (allowed: {{worker}}, {{task_id}}, {{repository}}, {{workspace}}); payload text never reaches a command line: the agent reads it from its prompt" },
		{ "agents:\n  a:\n    command: [claude, \"{{Worker}}\"]\n",
		  "hookq.yaml:3:23: agents.a.command[1]: column 1: unknown placeholder '{{Worker}}' (allowed: {{worker}}, {{task_id}}, {{repository}}, {{workspace}}); payload text never reaches a command line: the agent reads it from its prompt" },
		{ "agents:\n  a:\n    command: [claude, \"{{}}\"]\n",
		  "hookq.yaml:3:23: agents.a.command[1]: column 1: unknown placeholder '{{}}' (allowed: {{worker}}, {{task_id}}, {{repository}}, {{workspace}}); payload text never reaches a command line: the agent reads it from its prompt" },
		{ "agents:\n  a:\n    command: [claude, \"x {{worker}} {{worker\"]\n",
		  "hookq.yaml:3:23: agents.a.command[1]: column 14: '{{' is not closed by '}}' (allowed: {{worker}}, {{task_id}}, {{repository}}, {{workspace}})" },
		{ "agents:\n  a:\n    command: [run, \"{{workspace}}\"]\n",
		  "hookq.yaml:3:20: agents.a.command[1]: column 1: {{workspace}} needs 'workspace: true' in the agent" },
		{ "agents:\n  a:\n    command: [run]\n    cwd: /w/{{workspace}}\n",
		  "hookq.yaml:4:10: agents.a.cwd: column 4: {{workspace}} needs 'workspace: true' in the agent" },
		{ "agents:\n  a:\n    command: [run]\n    cwd: /srv/{{event.repo}}\n",
		  "hookq.yaml:4:10: agents.a.cwd: column 6: unknown placeholder '{{event.repo}}' (allowed: {{worker}}, {{task_id}}, {{repository}}, {{workspace}}); payload text never reaches a command line: the agent reads it from its prompt" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct agent_table *t = NULL;
		char err[600] = "";
		assert_int_equal(parse(cases[i].yaml, &t, err, sizeof(err)), HQ_E_CONFIG);
		assert_null(t);
		if (strcmp(err, cases[i].err) != 0)
			print_error("case %zu\n", i);
		assert_string_equal(err, cases[i].err);
	}
	/* The four of hookq's own, with spaces inside the braces, and a
	 * lone "}}" that is plain text. */
	struct agent_table *t = parse_ok(
		"agents:\n"
		"  a:\n"
		"    workspace: yes\n"
		"    command: [\"{{ worker }}\", \"{{task_id}}\", \"{{\trepository}}\", "
		"\"{{workspace }}\", \"a}}b\"]\n"
		"    cwd: \"{{workspace}}/{{worker}}\"\n");
	agent_table_free(t);
}

static void argv_keeps_every_value_in_its_own_element_verbatim(void **state)
{
	(void)state;
	struct agent_table *t = parse_ok(
		"agents:\n"
		"  a:\n"
		"    workspace: true\n"
		"    command: [docker, exec, -i, \"{{worker}}\", claude, \"--name={{worker}}-{{task_id}}\",\n"
		"              \"{{repository}}\", \"{{workspace}}\", \"plain text\"]\n");
	static const char *const hostile[] = {
		"$(rm -rf /)", "`id`", "x; ls", "a b  c", "--help", "'\"", "{{worker}}", "|&>*?~\n", "",
	};
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		struct agent_vars v = { hostile[i], "t-1", hostile[i], "/w/a b" };
		char **argv = NULL;
		assert_int_equal(agent_argv_render(&t->agents[0], &v, &argv), 0);
		char named[64];
		snprintf(named, sizeof(named), "--name=%s-t-1", hostile[i]);
		const char *want[] = { "docker", "exec", "-i", hostile[i], "claude", named,
				       hostile[i], "/w/a b", "plain text", NULL };
		for (size_t j = 0; want[j]; j++)
			assert_string_equal(argv[j], want[j]);
		assert_null(argv[9]);
		agent_argv_free(argv);
	}
	agent_table_free(t);
}

static void missing_values_render_empty_and_cwd_renders_too(void **state)
{
	(void)state;
	struct agent_table *t = parse_ok(
		"agents:\n"
		"  a:\n"
		"    workspace: true\n"
		"    command: [run, \"--repo={{repository}}\"]\n"
		"    cwd: \"{{workspace}}/sub dir\"\n"
		"  b:\n"
		"    command: [run]\n");
	char **argv = NULL;
	struct agent_vars empty = { NULL, NULL, NULL, NULL };
	assert_int_equal(agent_argv_render(&t->agents[0], &empty, &argv), 0);
	assert_string_equal(argv[1], "--repo=");
	agent_argv_free(argv);
	assert_int_equal(agent_argv_render(&t->agents[0], NULL, &argv), 0);
	assert_string_equal(argv[1], "--repo=");
	agent_argv_free(argv);

	char *cwd = NULL;
	struct agent_vars v = { "w1", "t1", "octo/repo", "/var/lib/hookq/ws/t1" };
	assert_int_equal(agent_cwd_render(&t->agents[0], &v, &cwd), 0);
	assert_string_equal(cwd, "/var/lib/hookq/ws/t1/sub dir");
	free(cwd);
	char unchanged[] = "unchanged";
	cwd = unchanged;
	assert_int_equal(agent_cwd_render(&t->agents[1], &v, &cwd), 0);
	assert_null(cwd);
	agent_table_free(t);
}

static void a_rendered_element_has_a_maximum(void **state)
{
	(void)state;
	struct agent_table *t = parse_ok("agents:\n  a:\n    command: [run, \"{{worker}}{{worker}}\"]\n");
	char *big = malloc(AGENT_RENDER_MAX / 2 + 1);
	assert_non_null(big);
	memset(big, 'x', AGENT_RENDER_MAX / 2);
	big[AGENT_RENDER_MAX / 2] = '\0';
	struct agent_vars v = { big, NULL, NULL, NULL };
	char **argv = NULL;
	assert_int_equal(agent_argv_render(&t->agents[0], &v, &argv), 0); /* exactly the maximum */
	assert_int_equal(strlen(argv[1]), AGENT_RENDER_MAX);
	agent_argv_free(argv);
	char *bigger = malloc(AGENT_RENDER_MAX / 2 + 2);
	assert_non_null(bigger);
	memset(bigger, 'y', AGENT_RENDER_MAX / 2 + 1);
	bigger[AGENT_RENDER_MAX / 2 + 1] = '\0';
	v.worker = bigger;
	argv = NULL;
	assert_int_equal(agent_argv_render(&t->agents[0], &v, &argv), HQ_E_TOOBIG);
	assert_null(argv);
	free(big);
	free(bigger);
	agent_table_free(t);
}

static void a_hand_built_agent_with_a_payload_placeholder_is_not_rendered(void **state)
{
	(void)state;
	char run[] = "run", title[] = "{{issue.title}}", name[] = "x";
	char *cmd[] = { run, title, NULL };
	struct agent a = { .name = name, .command = cmd, .n_command = 2 };
	char **argv = NULL;
	assert_int_equal(agent_argv_render(&a, NULL, &argv), HQ_E_INVAL);
	assert_null(argv);
}

static void sixty_four_agents_are_accepted_and_sixty_five_refused(void **state)
{
	(void)state;
	char yaml[8192];
	size_t used = 0;
	used += (size_t)snprintf(yaml + used, sizeof(yaml) - used, "agents:\n");
	for (int i = 0; i < AGENT_MAX_AGENTS; i++)
		used += (size_t)snprintf(yaml + used, sizeof(yaml) - used,
					 "  a%d: {command: [run]}\n", i);
	struct agent_table *t = parse_ok(yaml);
	assert_int_equal(t->n, AGENT_MAX_AGENTS);
	assert_non_null(agent_find(t, "a63"));
	agent_table_free(t);

	snprintf(yaml + used, sizeof(yaml) - used, "  a%d: {command: [run]}\n", AGENT_MAX_AGENTS);
	char err[512] = "";
	t = NULL;
	assert_int_equal(parse(yaml, &t, err, sizeof(err)), HQ_E_CONFIG);
	assert_null(t);
	assert_string_equal(err, "hookq.yaml:2:3: agents: more than 64 agents");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_agents_key_is_an_empty_table),
		cmocka_unit_test(defaults_apply_when_only_command_is_given),
		cmocka_unit_test(every_field_is_read),
		cmocka_unit_test(mistakes_are_named_with_file_line_and_column),
		cmocka_unit_test(only_hookq_placeholders_are_allowed),
		cmocka_unit_test(argv_keeps_every_value_in_its_own_element_verbatim),
		cmocka_unit_test(missing_values_render_empty_and_cwd_renders_too),
		cmocka_unit_test(a_rendered_element_has_a_maximum),
		cmocka_unit_test(a_hand_built_agent_with_a_payload_placeholder_is_not_rendered),
		cmocka_unit_test(sixty_four_agents_are_accepted_and_sixty_five_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
