#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/config.h"
#include "util/error.h"

struct fake_env {
	const char *names[8];
	const char *values[8];
};

static const char *fake_lookup(void *ctx, const char *name)
{
	struct fake_env *e = ctx;
	for (int i = 0; i < 8 && e->names[i]; i++)
		if (strcmp(e->names[i], name) == 0)
			return e->values[i];
	return NULL;
}

static int load(struct config *c, const char *yaml, struct config_error *err)
{
	return config_load_yaml(c, yaml, strlen(yaml), "hookq.yaml", err);
}

static void defaults_are_documented_values(void **state)
{
	(void)state;
	struct config c;
	config_init(&c);
	assert_int_equal(c.port, 8080);
	assert_string_equal(c.host, "0.0.0.0");
	assert_int_equal(c.max_body, 25 * 1024 * 1024);
	assert_int_equal(c.synchronous, CONFIG_SYNC_FULL);
	assert_string_equal(c.db, "hookq.db");
	assert_false(c.dev);
	assert_null(c.github_secret);
	config_release(&c);
}

static void flags_beat_env_beat_file_beat_defaults(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	assert_int_equal(load(&c, "server:\n  port: 9000\n  host: 10.0.0.1\nstore:\n  db: file.db\n", &err), 0);
	assert_int_equal(c.port, 9000);
	struct fake_env env = { { "WEBHOOK_PORT", "HOOKQ_DB" }, { "9100", "env.db" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &env, &err), 0);
	assert_int_equal(c.port, 9100);
	assert_string_equal(c.db, "env.db");
	assert_string_equal(c.host, "10.0.0.1"); /* file value kept where env is silent */
	assert_int_equal(config_set(&c, config_find_flag("port"), "9200", CONFIG_ORIGIN_FLAG, "--port", &err), 0);
	assert_int_equal(c.port, 9200);
	assert_string_equal(c.db, "env.db");
	assert_int_equal(c.max_connections, 1024); /* default where nobody spoke */
	config_release(&c);
}

static void unknown_key_names_line_and_column(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	const char *yaml = "server:\n  port: 8080\n\ngithub:\n  secret_file: /x\n  secrt: y\n";
	assert_int_equal(load(&c, yaml, &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "hookq.yaml:6:3: unknown key 'github.secrt'");
	config_release(&c);
}

static void unknown_section_is_reported(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	assert_int_equal(load(&c, "servr:\n  port: 1\n", &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "hookq.yaml:1:1: unknown section 'servr'");
	config_release(&c);
}

static void env_port_error_is_precise(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	struct fake_env env = { { "WEBHOOK_PORT" }, { "80a" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &env, &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "WEBHOOK_PORT: not a port number: '80a'");
	config_release(&c);
}

static void yaml_value_error_names_position_and_key(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	assert_int_equal(load(&c, "server:\n  max_body: lots\n", &err), HQ_E_CONFIG);
	assert_string_equal(err.msg,
			    "hookq.yaml:2:13: server.max_body: not a size (like 512KiB, 25MiB): 'lots'");
	assert_int_equal(load(&c, "store:\n  synchronous: sometimes\n", &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "hookq.yaml:2:16: store.synchronous: unknown value "
				     "'sometimes' (expected one of: off, normal, full, extra)");
	config_release(&c);
}

static void out_of_range_and_duplicate_keys_are_errors(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	assert_int_equal(load(&c, "server:\n  max_body: 10\n", &err), HQ_E_CONFIG);
	assert_non_null(strstr(err.msg, "server.max_body: '10' is out of range"));
	config_release(&c);
	config_init(&c);
	assert_int_equal(load(&c, "server:\n  port: 1\n  port: 2\n", &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "hookq.yaml:3:3: duplicate key 'server.port'");
	config_release(&c);
}

static void invalid_yaml_syntax_is_reported_with_position(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	assert_int_equal(load(&c, "server: {port: 1\n", &err), HQ_E_CONFIG);
	assert_non_null(strstr(err.msg, "hookq.yaml:2:1: invalid YAML"));
	assert_int_equal(load(&c, "server:\n  port: [1, 2]\n", &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "hookq.yaml:2:9: server.port: expected a single value");
	config_release(&c);
	config_init(&c);
	assert_int_equal(load(&c, "- a\n- b\n", &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "hookq.yaml:1:1: the file must be a mapping of settings");
	config_release(&c);
}

static void empty_file_and_null_values_keep_defaults(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	assert_int_equal(load(&c, "", &err), 0);
	assert_int_equal(load(&c, "# only a comment\n", &err), 0);
	assert_int_equal(load(&c, "server:\n  port:\n", &err), 0);
	assert_int_equal(c.port, 8080);
	config_release(&c);
}

static void production_needs_secret_and_admin_password(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	assert_int_equal(config_validate(&c, &err), HQ_E_CONFIG);
	assert_non_null(strstr(err.msg, "no webhook secret"));
	struct fake_env env = { { "GITHUB_WEBHOOK_SECRET" }, { "s3cret" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &env, &err), 0);
	assert_int_equal(config_validate(&c, &err), HQ_E_CONFIG);
	assert_non_null(strstr(err.msg, "no admin password"));
	struct fake_env env2 = { { "ADMIN_PASSWORD" }, { "pw" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &env2, &err), 0);
	assert_int_equal(config_validate(&c, &err), 0);
	config_release(&c);
}

static void dev_mode_allows_missing_secrets(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	struct fake_env env = { { "DEV_MODE" }, { "true" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &env, &err), 0);
	assert_true(c.dev);
	assert_int_equal(config_validate(&c, &err), 0);
	config_release(&c);
}

static void inline_secret_refused_in_production_unless_env_replaces_it(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	assert_int_equal(load(&c, "admin:\n  password: pw\ngithub:\n  secret: abc\n", &err), 0);
	assert_int_equal(config_validate(&c, &err), HQ_E_CONFIG);
	assert_non_null(strstr(err.msg, "hookq.yaml:2:13: admin.password: secrets written in "
					"the configuration file are refused"));
	/* The value itself is never part of the message. */
	assert_null(strstr(err.msg, "abc"));
	config_release(&c);

	config_init(&c);
	assert_int_equal(load(&c, "github:\n  secret: abc\n", &err), 0);
	struct fake_env env = { { "GITHUB_WEBHOOK_SECRET", "ADMIN_PASSWORD" }, { "fromenv", "pw" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &env, &err), 0);
	assert_int_equal(config_validate(&c, &err), 0);
	assert_string_equal(c.github_secret, "fromenv");
	config_release(&c);
}

static void admin_password_from_env_does_not_excuse_an_inline_webhook_secret(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	assert_int_equal(load(&c, "github:\n  secret: abc\n", &err), 0);
	struct fake_env env = { { "ADMIN_PASSWORD" }, { "pw" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &env, &err), 0);
	assert_int_equal(config_validate(&c, &err), HQ_E_CONFIG);
	assert_non_null(strstr(err.msg, "github.secret: secrets written"));
	config_release(&c);
}

static void empty_section_with_only_comments_is_fine(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	assert_int_equal(load(&c, "github:\n  # secret_file: /x\nserver:\n  port: 1\n", &err), 0);
	assert_int_equal(c.port, 1);
	assert_int_equal(load(&c, "nosuch:\n", &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "hookq.yaml:1:1: unknown key 'nosuch'");
	config_release(&c);
}

static void env_secret_beats_secret_file_from_the_file(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	assert_int_equal(load(&c, "github:\n  secret_file: /run/s\n", &err), 0);
	struct fake_env env = { { "GITHUB_WEBHOOK_SECRET", "ADMIN_PASSWORD" }, { "fromenv", "pw" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &env, &err), 0);
	assert_null(c.github_secret_file);
	assert_string_equal(c.github_secret, "fromenv");
	assert_int_equal(config_validate(&c, &err), 0);
	config_release(&c);

	/* Both at the same level is a mistake worth naming. */
	config_init(&c);
	struct fake_env both = { { "GITHUB_WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET_FILE" }, { "a", "/b" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &both, &err), 0);
	assert_int_equal(config_validate(&c, &err), HQ_E_CONFIG);
	assert_non_null(strstr(err.msg, "GITHUB_WEBHOOK_SECRET_FILE) are both set"));
	config_release(&c);
}

static void empty_environment_variables_count_as_unset(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	struct fake_env env = { { "DEV_MODE", "WEBHOOK_PORT", "HOOKQ_DB" }, { "", "", "" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &env, &err), 0);
	assert_false(c.dev);
	assert_int_equal(c.port, 8080);
	assert_string_equal(c.db, "hookq.db");
	config_release(&c);
}

static void section_given_a_value_is_explained(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	assert_int_equal(load(&c, "server: 8080\n", &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "hookq.yaml:1:1: 'server' is a section: expected settings "
				     "under it, like 'server:' then '  key: value'");
	config_release(&c);
}

static void pending_bytes_below_max_body_is_refused(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	assert_int_equal(load(&c, "dev: true\nserver:\n  max_body: 64MiB\n  max_pending_bytes: 32MiB\n", &err), 0);
	assert_int_equal(config_validate(&c, &err), HQ_E_CONFIG);
	assert_non_null(strstr(err.msg, "server.max_pending_bytes (33554432) must be at least server.max_body (67108864)"));
	config_release(&c);
}

static void task_source_is_validated(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	c.dev = true;
	struct fake_env env = { { "TASK_SOURCE" }, { "webhook, kafka" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &env, &err), 0);
	assert_int_equal(config_validate(&c, &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "task_source (TASK_SOURCE): unknown source 'kafka' (expected "
				     "webhook, sqs, or both: webhook,sqs)");
	config_release(&c);

	/* Both sources; sqs needs a queue and a region. */
	config_init(&c);
	c.dev = true;
	struct fake_env both = { { "TASK_SOURCE" }, { "webhook,sqs" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &both, &err), 0);
	unsigned mask = 0;
	assert_int_equal(config_sources(&c, &mask, &err), 0);
	assert_int_equal(mask, CONFIG_SOURCE_WEBHOOK | CONFIG_SOURCE_SQS);
	assert_int_equal(config_validate(&c, &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "the sqs source needs a queue: set AWS_SQS_QUEUE_URL "
				     "(sqs.queue_url)");
	struct fake_env q = { { "AWS_SQS_QUEUE_URL" }, { "http://127.0.0.1:1/q" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &q, &err), 0);
	assert_int_equal(config_validate(&c, &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "SQS needs a region: set AWS_REGION (sqs.region)");
	struct fake_env r = { { "AWS_REGION" }, { "us-east-1" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &r, &err), 0);
	assert_int_equal(config_validate(&c, &err), 0);
	/* SQS counts the visibility timeout in whole seconds. */
	struct fake_env vis = { { "SQS_VISIBILITY_TIMEOUT" }, { "1500ms" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &vis, &err), 0);
	assert_int_equal(config_validate(&c, &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "sqs.visibility_timeout (SQS_VISIBILITY_TIMEOUT): SQS counts "
				     "whole seconds: 1500 ms is not (use 0 for the queue's own, or "
				     "1s to 12h)");
	struct fake_env vis2 = { { "SQS_VISIBILITY_TIMEOUT" }, { "90s" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &vis2, &err), 0);
	assert_int_equal(config_validate(&c, &err), 0);
	assert_int_equal(c.sqs_visibility_ms, 90000);
	config_release(&c);

	/* "http" is the old name of the webhook source. */
	config_init(&c);
	c.dev = true;
	struct fake_env old = { { "TASK_SOURCE" }, { "http" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &old, &err), 0);
	assert_int_equal(config_sources(&c, &mask, &err), 0);
	assert_int_equal(mask, CONFIG_SOURCE_WEBHOOK);
	config_release(&c);
}

static void every_option_has_help_and_a_unique_key_env_and_flag(void **state)
{
	(void)state;
	for (const struct config_option *a = config_options; a->key; a++) {
		assert_non_null(a->help);
		for (const struct config_option *b = a + 1; b->key; b++) {
			assert_string_not_equal(a->key, b->key);
			if (a->env && b->env)
				assert_string_not_equal(a->env, b->env);
			if (a->flag && b->flag)
				assert_string_not_equal(a->flag, b->flag);
		}
		/* Secrets never come from the command line (ps shows it). */
		if (a->type == CONFIG_SECRET)
			assert_null(a->flag);
	}
}

static void pool_and_task_options_have_their_defaults(void **state)
{
	(void)state;
	struct config c;
	config_init(&c);
	assert_string_equal(c.pool_workers, "local");
	assert_null(c.pool_ci_workers);
	assert_int_equal(c.pool_claim_ttl_ms, 15 * 60 * 1000);
	assert_false(c.pool_single_queue);
	assert_int_equal(c.task_lease_ms, 30 * 1000);
	assert_int_equal(c.task_shutdown_grace_ms, 10 * 1000);
	assert_false(c.task_files);
	assert_string_equal(c.task_files_dir, "~/.claude/tasks");
	assert_null(c.test_agent);
	config_release(&c);
}

static void pool_and_task_options_come_from_their_environment_names(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	struct fake_env pool = { { "CONTAINER_POOL", "CI_CONTAINER_POOL", "POOL_CLAIM_TTL",
				   "POOL_SINGLE_QUEUE" },
				 { "harry, ron ,hermione", "ci-1,ci-2", "0", "true" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &pool, &err), 0);
	struct fake_env tasks = { { "TASK_LEASE", "TASK_SHUTDOWN_GRACE", "CLAUDE_TASKS_SYNC",
				    "CLAUDE_TASKS_DIR", "HOOKQ_TEST_AGENT" },
				  { "1m", "0", "yes", "/var/lib/tasks", "tester" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &tasks, &err), 0);
	assert_string_equal(c.pool_workers, "harry, ron ,hermione");
	assert_string_equal(c.pool_ci_workers, "ci-1,ci-2");
	assert_int_equal(c.pool_claim_ttl_ms, 0);
	assert_true(c.pool_single_queue);
	assert_int_equal(c.task_lease_ms, 60 * 1000);
	assert_int_equal(c.task_shutdown_grace_ms, 0);
	assert_true(c.task_files);
	assert_string_equal(c.task_files_dir, "/var/lib/tasks");
	assert_string_equal(c.test_agent, "tester");
	config_release(&c);
}

static void pool_and_task_sections_are_read_and_agents_are_skipped(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	const char *yaml = "pool:\n"
			   "  workers: a.1, b_2\n"
			   "  claim_ttl: 7d\n"
			   "agents:\n"
			   "  planning:\n"
			   "    command: [\"docker\", \"exec\", \"{{worker}}\"]\n"
			   "    set_env: {A: b}\n"
			   "tasks:\n"
			   "  shutdown_grace: 1h\n"
			   "  test_agent: planning\n";
	assert_int_equal(load(&c, yaml, &err), 0);
	assert_string_equal(c.pool_workers, "a.1, b_2");
	assert_int_equal(c.pool_claim_ttl_ms, 7ull * 86400000);
	assert_int_equal(c.task_shutdown_grace_ms, 3600000);
	assert_string_equal(c.test_agent, "planning");
	config_release(&c);
}

static void task_durations_are_checked(void **state)
{
	(void)state;
	static const struct {
		const char *name, *value, *err;
	} cases[] = {
		{ "TASK_LEASE", "2s", "TASK_LEASE: '2s' is out of range (3000 to 3600000 ms)" },
		{ "TASK_LEASE", "2h", "TASK_LEASE: '2h' is out of range (3000 to 3600000 ms)" },
		{ "POOL_CLAIM_TTL", "soon", "POOL_CLAIM_TTL: not a duration (like 500ms, 30s, 5m): 'soon'" },
		{ "POOL_CLAIM_TTL", "8d", "POOL_CLAIM_TTL: '8d' is out of range (0 to 604800000 ms)" },
		{ "TASK_SHUTDOWN_GRACE", "61m",
		  "TASK_SHUTDOWN_GRACE: '61m' is out of range (0 to 3600000 ms)" },
		{ "POOL_SINGLE_QUEUE", "maybe",
		  "POOL_SINGLE_QUEUE: not a boolean (true or false): 'maybe'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config c;
		struct config_error err;
		config_init(&c);
		struct fake_env env = { { cases[i].name }, { cases[i].value } };
		assert_int_equal(config_load_env(&c, fake_lookup, &env, &err), HQ_E_CONFIG);
		assert_string_equal(err.msg, cases[i].err);
		config_release(&c);
	}
}

static void worker_lists_split_on_commas(void **state)
{
	(void)state;
	static const struct {
		const char *list;
		size_t n;
		const char *names[4];
	} cases[] = {
		{ "local", 1, { "local" } },
		{ "harry, ron ,hermione", 3, { "harry", "ron", "hermione" } },
		{ " \ta.b-c_d\t,  X9 ", 2, { "a.b-c_d", "X9" } },
		{ "", 0, { NULL } },
		{ "  ", 0, { NULL } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char **names = NULL;
		size_t n = 99;
		char err[200];
		assert_int_equal(config_list_split(cases[i].list, &names, &n, err, sizeof(err)), 0);
		assert_int_equal(n, cases[i].n);
		for (size_t j = 0; j < n; j++)
			assert_string_equal(names[j], cases[i].names[j]);
		assert_null(names[n]);
		free(names);
	}
}

static void worker_list_mistakes_are_named(void **state)
{
	(void)state;
	char many[1024] = "";
	for (int i = 0; i <= CONFIG_LIST_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sw%d", i ? "," : "", i);
	char long_name[80];
	memset(long_name, 'x', 65);
	long_name[65] = '\0';
	static const char empty[] = "empty worker name (two commas in a row, or one at an end)";
	const struct {
		const char *list, *err;
	} cases[] = {
		{ "harry,ron,harry", "duplicate worker 'harry'" },
		{ "a,,b", empty },
		{ "a,", empty },
		{ ",a", empty },
		{ "a, ,b", empty },
		{ "a b", "worker name 'a b' must be 1-64 letters, digits, '.', '-' or '_' (names are separated by commas)" },
		{ "a;b", "worker name 'a;b' must be 1-64 letters, digits, '.', '-' or '_' (names are separated by commas)" },
		{ "a/b", "worker name 'a/b' must be 1-64 letters, digits, '.', '-' or '_' (names are separated by commas)" },
		{ long_name, "worker name 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' must be 1-64 letters, digits, '.', '-' or '_' (names are separated by commas)" },
		{ many, "more than 64 workers" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char **names = NULL;
		size_t n = 99;
		char err[300] = "";
		assert_int_equal(config_list_split(cases[i].list, &names, &n, err, sizeof(err)),
				 HQ_E_CONFIG);
		assert_null(names);
		assert_int_equal(n, 99);
		assert_string_equal(err, cases[i].err);
	}

	/* Set from the environment or the file, the error names where. */
	struct config c;
	struct config_error err;
	config_init(&c);
	struct fake_env env = { { "CONTAINER_POOL" }, { "harry, ron, harry" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &env, &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "CONTAINER_POOL: duplicate worker 'harry'");
	struct fake_env ci = { { "CI_CONTAINER_POOL" }, { "ci 1" } };
	assert_int_equal(config_load_env(&c, fake_lookup, &ci, &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "CI_CONTAINER_POOL: worker name 'ci 1' must be 1-64 letters, "
				     "digits, '.', '-' or '_' (names are separated by commas)");
	assert_int_equal(load(&c, "pool:\n  workers: a,,b\n", &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "hookq.yaml:2:12: pool.workers: empty worker name (two commas in a row, or one at an end)");
	assert_string_equal(c.pool_workers, "local"); /* a refused value changes nothing */
	config_release(&c);
}

static void an_empty_main_pool_is_refused(void **state)
{
	(void)state;
	struct config c;
	struct config_error err;
	config_init(&c);
	assert_int_equal(load(&c, "dev: true\npool:\n  workers: \"\"\n  ci_workers: \"\"\n", &err), 0);
	assert_int_equal(config_validate(&c, &err), HQ_E_CONFIG);
	assert_string_equal(err.msg, "pool.workers (CONTAINER_POOL) names no worker: give at "
				     "least one, such as 'local'");
	assert_int_equal(load(&c, "pool:\n  workers: local\n", &err), 0);
	assert_int_equal(config_validate(&c, &err), 0); /* an empty ci_workers is fine */
	config_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_are_documented_values),
		cmocka_unit_test(flags_beat_env_beat_file_beat_defaults),
		cmocka_unit_test(unknown_key_names_line_and_column),
		cmocka_unit_test(unknown_section_is_reported),
		cmocka_unit_test(env_port_error_is_precise),
		cmocka_unit_test(yaml_value_error_names_position_and_key),
		cmocka_unit_test(out_of_range_and_duplicate_keys_are_errors),
		cmocka_unit_test(invalid_yaml_syntax_is_reported_with_position),
		cmocka_unit_test(empty_file_and_null_values_keep_defaults),
		cmocka_unit_test(production_needs_secret_and_admin_password),
		cmocka_unit_test(dev_mode_allows_missing_secrets),
		cmocka_unit_test(inline_secret_refused_in_production_unless_env_replaces_it),
		cmocka_unit_test(admin_password_from_env_does_not_excuse_an_inline_webhook_secret),
		cmocka_unit_test(empty_section_with_only_comments_is_fine),
		cmocka_unit_test(env_secret_beats_secret_file_from_the_file),
		cmocka_unit_test(empty_environment_variables_count_as_unset),
		cmocka_unit_test(section_given_a_value_is_explained),
		cmocka_unit_test(pending_bytes_below_max_body_is_refused),
		cmocka_unit_test(task_source_is_validated),
		cmocka_unit_test(every_option_has_help_and_a_unique_key_env_and_flag),
		cmocka_unit_test(pool_and_task_options_have_their_defaults),
		cmocka_unit_test(pool_and_task_options_come_from_their_environment_names),
		cmocka_unit_test(pool_and_task_sections_are_read_and_agents_are_skipped),
		cmocka_unit_test(task_durations_are_checked),
		cmocka_unit_test(worker_lists_split_on_commas),
		cmocka_unit_test(worker_list_mistakes_are_named),
		cmocka_unit_test(an_empty_main_pool_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
