/* engine/replies: what a task's creation and end say back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "core/config.h"
#include "engine/replies.h"
#include "util/error.h"

static const char *const secrets[] = { "s3cret-webhook-value", "tok-ABCDEFGH-123" };

static struct replies_options options(void)
{
	struct replies_options o = { .github = true,
				     .slack = true,
				     .slack_bot = true,
				     .slack_response_prefix = "https://hooks.slack.com/",
				     .jira = true,
				     .reactions = true,
				     .comment = CONFIG_COMMENT_ALWAYS,
				     .output_max = 4096,
				     .max_attempts = 10,
				     .secrets = secrets,
				     .n_secrets = 2 };
	return o;
}

static json_t *parse(const char *s)
{
	json_t *v = json_loads(s, 0, NULL);
	assert_non_null(v);
	return v;
}

static void event_replies_release(struct event_reply *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].name);
		free(r[i].kind);
		free(r[i].target_json);
		free(r[i].body_json);
	}
}

static void a_github_comment_gets_eyes_on_that_comment(void **state)
{
	(void)state;
	struct replies_options o = options();
	json_t *to = parse("{\"repository\":\"o/r\",\"number\":\"12\",\"comment_id\":\"99\","
			   "\"comment_kind\":\"issue_comment\",\"installation\":7}");
	struct event_reply out[2];
	size_t n = 9;
	assert_int_equal(replies_on_create(&o, "github", to, false, out, 2, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].kind, "reaction");
	assert_string_equal(out[0].name, "eyes");
	json_t *t = parse(out[0].target_json);
	assert_string_equal(json_string_value(json_object_get(t, "target")), "issue_comment");
	assert_int_equal(json_integer_value(json_object_get(t, "id")), 99);
	assert_int_equal(json_integer_value(json_object_get(t, "installation")), 7);
	json_decref(t);
	assert_string_equal(out[0].body_json, "{\"content\":\"eyes\"}");
	assert_int_equal(out[0].max_attempts, 10);
	event_replies_release(out, n);

	/* An issue without a comment: on the issue. */
	json_t *issue = parse("{\"repository\":\"o/r\",\"number\":\"12\"}");
	assert_int_equal(replies_on_create(&o, "github", issue, false, out, 2, &n), 0);
	assert_int_equal(n, 1);
	t = parse(out[0].target_json);
	assert_string_equal(json_string_value(json_object_get(t, "target")), "issue");
	assert_int_equal(json_integer_value(json_object_get(t, "id")), 12);
	json_decref(t);
	event_replies_release(out, n);

	/* Nothing for tests, other providers, without GitHub or reactions. */
	assert_int_equal(replies_on_create(&o, "github", to, true, out, 2, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(replies_on_create(&o, "slack", to, false, out, 2, &n), 0);
	assert_int_equal(n, 0);
	o.reactions = false;
	assert_int_equal(replies_on_create(&o, "github", to, false, out, 2, &n), 0);
	assert_int_equal(n, 0);
	o = options();
	o.github = false;
	assert_int_equal(replies_on_create(&o, "github", to, false, out, 2, &n), 0);
	assert_int_equal(n, 0);
	json_decref(to);
	json_decref(issue);
}

static struct store_task task(const char *metadata)
{
	struct store_task t;
	memset(&t, 0, sizeof(t));
	t.id = 42;
	t.agent = (char *)(uintptr_t) "brain";
	t.worker = (char *)(uintptr_t) "harry";
	t.title = (char *)(uintptr_t) "fix: Crash on start";
	t.metadata_json = (char *)(uintptr_t)metadata;
	t.attempts = 2;
	t.retry_base = 0;
	t.created_at_ms = 1700;
	return t;
}

static const char github_meta[] =
	"{\"provider\":\"github\",\"reply_to\":{\"repository\":\"o/r\",\"number\":\"12\","
	"\"comment_id\":\"99\",\"comment_kind\":\"issue_comment\"},\"test\":false}";

static const char *body_text(const struct replies_plan *p, size_t i, json_t **keep)
{
	*keep = parse(p->items[i].body_json);
	return json_string_value(json_object_get(*keep, "text"));
}

static void an_end_reacts_and_comments_once_with_the_output_redacted(void **state)
{
	(void)state;
	struct replies_options o = options();
	struct store_task t = task(github_meta);
	const char out[] = "line one\nusing tok-ABCDEFGH-123 and ghp_abcdefghijklmnopqrstuvwxyz0123456789\n"
			   "done ```code```\n";
	struct replies_plan p;
	assert_int_equal(replies_on_end(&o, &t, "succeeded", NULL, out, strlen(out), 5000, 4200,
					&p),
			 0);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.items[0].kind, "reaction");
	assert_string_equal(p.items[0].body_json, "{\"content\":\"rocket\"}");
	assert_string_equal(p.items[1].kind, "comment");
	assert_string_equal(p.items[1].name, "comment");
	json_t *b;
	const char *text = body_text(&p, 1, &b);
	assert_non_null(text);
	assert_true(strncmp(text, "<!-- hookq:task=42 run=0 created=1700 -->\n", 42) == 0);
	assert_non_null(strstr(text, "fix: Crash on start"));
	assert_non_null(strstr(text, "succeeded"));
	assert_non_null(strstr(text, "2 attempts"));
	assert_non_null(strstr(text, "line one"));
	assert_null(strstr(text, "tok-ABCDEFGH-123"));
	assert_null(strstr(text, "ghp_abcdef"));
	assert_non_null(strstr(text, "[REDACTED]"));
	/* The output holds ``` : the fence is longer. */
	assert_non_null(strstr(text, "\n````\n"));
	assert_string_equal(json_string_value(json_object_get(b, "marker")),
			    "<!-- hookq:task=42 run=0 created=1700 -->");
	json_t *where = parse(p.items[1].target_json);
	assert_int_equal(json_integer_value(json_object_get(where, "number")), 12);
	json_decref(where);
	json_decref(b);
	replies_plan_release(&p);

	/* A failure: confused, and why (redacted too). */
	assert_int_equal(replies_on_end(&o, &t, "failed", "exit 3 with s3cret-webhook-value", out,
					strlen(out), 5000, 10, &p),
			 0);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.items[0].body_json, "{\"content\":\"confused\"}");
	text = body_text(&p, 1, &b);
	assert_non_null(strstr(text, "failed"));
	assert_non_null(strstr(text, "exit 3 with"));
	assert_null(strstr(text, "s3cret-webhook-value"));
	json_decref(b);
	replies_plan_release(&p);
}

static void the_comment_policy_and_test_tasks(void **state)
{
	(void)state;
	struct replies_options o = options();
	struct store_task t = task(github_meta);
	struct replies_plan p;
	o.comment = CONFIG_COMMENT_ON_FAILURE;
	assert_int_equal(replies_on_end(&o, &t, "succeeded", NULL, "", 0, 0, 1, &p), 0);
	assert_int_equal(p.n, 1); /* the reaction only */
	replies_plan_release(&p);
	assert_int_equal(replies_on_end(&o, &t, "timed_out", "timed out", "", 0, 0, 1, &p), 0);
	assert_int_equal(p.n, 2);
	replies_plan_release(&p);
	o.comment = CONFIG_COMMENT_NEVER;
	assert_int_equal(replies_on_end(&o, &t, "failed", NULL, "", 0, 0, 1, &p), 0);
	assert_int_equal(p.n, 1);
	replies_plan_release(&p);
	/* Cancelled: no reaction; test tasks: nothing at all. */
	o.comment = CONFIG_COMMENT_ALWAYS;
	assert_int_equal(replies_on_end(&o, &t, "cancelled", NULL, "", 0, 0, 1, &p), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.items[0].kind, "comment");
	replies_plan_release(&p);
	struct store_task test = task("{\"provider\":\"test\",\"reply_to\":null,\"test\":true}");
	assert_int_equal(replies_on_end(&o, &test, "succeeded", NULL, "", 0, 0, 1, &p), 0);
	assert_int_equal(p.n, 0);
	replies_plan_release(&p);
}

static void slack_and_jira_get_their_replies(void **state)
{
	(void)state;
	struct replies_options o = options();
	struct replies_plan p;
	struct store_task slash = task("{\"provider\":\"slack\",\"reply_to\":{\"channel\":\"C1\","
				       "\"response_url\":\"https://hooks.slack.com/x\"}}");
	assert_int_equal(replies_on_end(&o, &slash, "succeeded", NULL, "ok\n", 3, 3, 1, &p), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.items[0].kind, "slack_reply");
	assert_string_equal(p.items[0].target_json, "{\"response_url\":\"https://hooks.slack.com/x\"}");
	replies_plan_release(&p);
	/* A response_url elsewhere than Slack's is never posted to. */
	struct store_task odd = task("{\"provider\":\"slack\",\"reply_to\":{"
				     "\"response_url\":\"https://evil.example/x\"}}");
	assert_int_equal(replies_on_end(&o, &odd, "succeeded", NULL, "ok\n", 3, 3, 1, &p), 0);
	assert_int_equal(p.n, 0);
	replies_plan_release(&p);
	struct store_task thread = task("{\"provider\":\"slack\",\"reply_to\":{\"channel\":\"C1\","
					"\"thread_ts\":\"1.2\"}}");
	assert_int_equal(replies_on_end(&o, &thread, "failed", "boom", "", 0, 0, 1, &p), 0);
	assert_int_equal(p.n, 1);
	json_t *where = parse(p.items[0].target_json);
	assert_string_equal(json_string_value(json_object_get(where, "thread_ts")), "1.2");
	json_decref(where);
	replies_plan_release(&p);
	/* A thread without the bot token: no reply (it could not be sent). */
	o.slack_bot = false;
	assert_int_equal(replies_on_end(&o, &thread, "failed", "boom", "", 0, 0, 1, &p), 0);
	assert_int_equal(p.n, 0);
	replies_plan_release(&p);
	o.slack_bot = true;
	struct store_task jira = task("{\"provider\":\"jira\",\"reply_to\":{\"issue\":\"PROJ-7\"}}");
	assert_int_equal(replies_on_end(&o, &jira, "succeeded", NULL, "x\n", 2, 2, 1, &p), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.items[0].kind, "jira_comment");
	json_t *b;
	assert_non_null(strstr(body_text(&p, 0, &b), "{noformat}"));
	json_decref(b);
	replies_plan_release(&p);
	o.jira = false;
	assert_int_equal(replies_on_end(&o, &jira, "succeeded", NULL, "", 0, 0, 1, &p), 0);
	assert_int_equal(p.n, 0);
	replies_plan_release(&p);
}

static void a_long_output_is_cut_to_its_tail_from_a_line(void **state)
{
	(void)state;
	struct replies_options o = options();
	o.output_max = 256;
	struct store_task t = task(github_meta);
	char out[4000];
	size_t len = 0;
	for (int i = 0; len + 20 < sizeof(out); i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "line %04d\n", i);
	struct replies_plan p;
	assert_int_equal(replies_on_end(&o, &t, "succeeded", NULL, out, len, len, 1, &p), 0);
	json_t *b;
	const char *text = body_text(&p, 1, &b);
	assert_null(strstr(text, "line 0000"));
	const char *last = strstr(text, "line 0");
	assert_non_null(last);
	/* The quoted part starts at a line and ends with the last line. */
	assert_true(last[-1] == '\n');
	char tail[16];
	snprintf(tail, sizeof(tail), "%.9s", out + len - 10);
	assert_non_null(strstr(text, tail));
	json_decref(b);
	replies_plan_release(&p);
}

static void an_operator_template_shapes_the_comment(void **state)
{
	(void)state;
	struct replies_options o = options();
	const char tmpl[] = "{{task.status_text}} in {{task.run_s}}s: {{task.error}}\n{{output}}";
	char err[256];
	struct template *t = NULL;
	assert_int_equal(template_parse(tmpl, strlen(tmpl), &t, err, sizeof(err)), 0);
	o.comment_template = t;
	struct store_task task_ = task(github_meta);
	const char out[] = "leaked tok-ABCDEFGH-123 {{task.id}}\n";
	struct replies_plan p;
	assert_int_equal(replies_on_end(&o, &task_, "failed", "exit 2", out, strlen(out), 40, 1500,
					&p),
			 0);
	json_t *b;
	const char *text = body_text(&p, 1, &b);
	assert_string_equal(text, "<!-- hookq:task=42 run=0 created=1700 -->\nfailed in 1.5s: exit 2\n"
				  "leaked [REDACTED] {{task.id}}\n");
	json_decref(b);
	replies_plan_release(&p);
	template_free(t);
}

static void a_secret_the_cut_would_split_is_still_redacted(void **state)
{
	(void)state;
	struct replies_options o = options();
	o.output_max = 256;
	struct store_task t = task(github_meta);
	/* A long line whose start falls before the cut holds the secret,
	 * and a private key whose BEGIN line falls before it too. */
	char out[2048];
	size_t len = (size_t)snprintf(out, sizeof(out),
				      "%0200d tok-ABCDEFGH-123 %0180d\n-----BEGIN RSA PRIVATE KEY-----\n"
				      "%0300d\nQx9==\n-----END RSA PRIVATE KEY-----\nbye\n",
				      0, 0, 0);
	struct replies_plan p;
	assert_int_equal(replies_on_end(&o, &t, "succeeded", NULL, out, len, len, 1, &p), 0);
	json_t *b;
	const char *text = body_text(&p, 1, &b);
	assert_null(strstr(text, "ABCDEFGH"));
	assert_null(strstr(text, "Qx9=="));
	assert_null(strstr(text, "PRIVATE KEY"));
	assert_non_null(strstr(text, "bye"));
	json_decref(b);
	replies_plan_release(&p);
}

static void every_end_is_published_on_the_output_queue(void **state)
{
	(void)state;
	struct replies_options o = options();
	o.output_queue = true;
	/* A test task too, and whatever its source. */
	struct store_task t = task("{\"provider\":\"test\",\"reply_to\":null,\"test\":true}");
	t.flow_id[0] = 'f';
	t.has_exit_code = true;
	t.exit_code = 3;
	struct replies_plan p;
	assert_int_equal(replies_on_end(&o, &t, "failed", "exit 3", "out tok-ABCDEFGH-123\n", 21,
					21, 250, &p),
			 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.items[0].kind, "output_message");
	json_t *m = parse(p.items[0].body_json);
	assert_int_equal(json_integer_value(json_object_get(m, "task_id")), 42);
	assert_string_equal(json_string_value(json_object_get(m, "status")), "failed");
	assert_int_equal(json_integer_value(json_object_get(m, "exit_code")), 3);
	assert_int_equal(json_integer_value(json_object_get(m, "run_ms")), 250);
	assert_null(strstr(json_string_value(json_object_get(m, "output")), "ABCDEFGH"));
	json_decref(m);
	replies_plan_release(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_github_comment_gets_eyes_on_that_comment),
		cmocka_unit_test(an_end_reacts_and_comments_once_with_the_output_redacted),
		cmocka_unit_test(the_comment_policy_and_test_tasks),
		cmocka_unit_test(slack_and_jira_get_their_replies),
		cmocka_unit_test(a_long_output_is_cut_to_its_tail_from_a_line),
		cmocka_unit_test(an_operator_template_shapes_the_comment),
		cmocka_unit_test(a_secret_the_cut_would_split_is_still_redacted),
		cmocka_unit_test(every_end_is_published_on_the_output_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
