/* clients/jira: issue comments against a local server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "clients/jira.h"
#include "fake.h"
#include "util/clock.h"
#include "util/error.h"

static int setup(void **state)
{
	*state = fake_start();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	fake_stop(*state);
	return 0;
}

static void a_comment_is_posted_with_basic_auth(void **state)
{
	struct fake_server *f = *state;
	fake_script(f, 201, "{\"id\":\"10042\",\"body\":\"x\"}", NULL);
	char base[256];
	snprintf(base, sizeof(base), "%s/", fake_url(f));
	struct client_result r;
	assert_int_equal(jira_add_comment(base, "bot@example.com", "api-tok", "PROJ_2-17",
					  "Fixed in #3", 5000, &r),
			 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_int_equal(r.status, 201);
	assert_int_equal(r.id, 10042);
	const struct fake_request *req = fake_request(f, 0);
	assert_string_equal(req->method, "POST");
	assert_string_equal(req->uri, "/rest/api/2/issue/PROJ_2-17/comment");
	/* base64("bot@example.com:api-tok") */
	assert_string_equal(fake_header(req, "authorization"),
			    "Basic Ym90QGV4YW1wbGUuY29tOmFwaS10b2s=");
	assert_string_equal(fake_header(req, "content-type"), "application/json");
	assert_string_equal(req->body, "{\"body\":\"Fixed in #3\"}");
}

static void issue_keys_are_checked_before_any_request(void **state)
{
	struct fake_server *f = *state;
	assert_true(jira_issue_key_ok("AB-1"));
	assert_true(jira_issue_key_ok("A1_B-123"));
	static const char *const bad[] = { "A-1",  "ab-1", "AB-",	   "AB1",    "-1",
					   "AB-1x", "AB-1/../x", "1B-2", "AB--1", "",
					   "AB-1?x=", NULL };
	struct client_result r;
	for (size_t i = 0; bad[i]; i++) {
		assert_false(jira_issue_key_ok(bad[i]));
		assert_int_equal(jira_add_comment(fake_url(f), "e@x", "tok-jira-1", bad[i], "x", 5000, &r), 0);
		assert_int_equal(r.outcome, CLIENT_FAILED);
		assert_int_equal(r.status, 0);
	}
	assert_false(jira_issue_key_ok(NULL));
	assert_int_equal(fake_count(f), 0);
}

static void jira_errors_fail_with_its_messages(void **state)
{
	struct fake_server *f = *state;
	struct client_result r;
	fake_script(f, 404, "{\"errorMessages\":[\"Issue does not exist or you do not have "
			    "permission to see it.\"],\"errors\":{}}",
		    NULL);
	assert_int_equal(jira_add_comment(fake_url(f), "e@x", "tok-jira-1", "AB-1", "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.error, "Issue does not exist"));

	fake_script(f, 400, "{\"errorMessages\":[],\"errors\":{\"body\":\"Comment body can not be "
			    "empty!\"}}",
		    NULL);
	assert_int_equal(jira_add_comment(fake_url(f), "e@x", "tok-jira-1", "AB-1", "", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_non_null(strstr(r.error, "body: Comment body can not be empty!"));

	fake_script(f, 401, "Unauthorized; token t0ps3cret", NULL);
	assert_int_equal(jira_add_comment(fake_url(f), "e@x", "t0ps3cret", "AB-1", "x", 5000, &r),
			 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_null(strstr(r.error, "t0ps3cret"));
}

static void rate_limits_and_outages_retry(void **state)
{
	struct fake_server *f = *state;
	struct client_result r;
	int64_t before = clock_now_ms();
	fake_script(f, 429, "", "Retry-After: 12", NULL);
	assert_int_equal(jira_add_comment(fake_url(f), "e@x", "tok-jira-1", "AB-1", "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_in_range(r.retry_at_ms, before + 12000, clock_now_ms() + 12000);

	fake_script(f, 503, "", NULL);
	assert_int_equal(jira_add_comment(fake_url(f), "e@x", "tok-jira-1", "AB-1", "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_int_equal(r.retry_at_ms, 0);
	assert_false(r.uncertain);

	fake_script(f, 504, "", NULL);
	assert_int_equal(jira_add_comment(fake_url(f), "e@x", "tok-jira-1", "AB-1", "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_true(r.uncertain);
}

static void credentials_that_cannot_work_fail_before_sending(void **state)
{
	struct fake_server *f = *state;
	struct client_result r;
	assert_int_equal(jira_add_comment(fake_url(f), "e:x", "t", "AB-1", "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(jira_add_comment(fake_url(f), "e@x", "", "AB-1", "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(jira_add_comment("ftp://x", "e@x", "tok-jira-1", "AB-1", "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(fake_count(f), 0);
}

int main(void)
{
	setenv("NO_PROXY", "127.0.0.1", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_comment_is_posted_with_basic_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(issue_keys_are_checked_before_any_request, setup,
						teardown),
		cmocka_unit_test_setup_teardown(jira_errors_fail_with_its_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(rate_limits_and_outages_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(credentials_that_cannot_work_fail_before_sending,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
