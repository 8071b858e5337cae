/* clients/slack: response_url replies and chat.postMessage against a
 * local server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "clients/slack.h"
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

static void url_of(struct fake_server *f, const char *path, char *out, size_t size)
{
	snprintf(out, size, "%s%s", fake_url(f), path);
}

static void a_reply_goes_to_the_response_url_in_channel(void **state)
{
	struct fake_server *f = *state;
	fake_script(f, 200, "ok", NULL);
	char url[256];
	url_of(f, "/commands/T1/123/abc", url, sizeof(url));
	struct client_result r;
	assert_int_equal(slack_respond(url, "Done \"x\"", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_int_equal(r.status, 200);
	const struct fake_request *req = fake_request(f, 0);
	assert_string_equal(req->method, "POST");
	assert_string_equal(req->uri, "/commands/T1/123/abc");
	assert_string_equal(fake_header(req, "content-type"), "application/json; charset=utf-8");
	assert_string_equal(req->body, "{\"text\":\"Done \\\"x\\\"\",\"response_type\":\"in_channel\"}");
}

static void an_expired_response_url_fails_without_showing_it(void **state)
{
	struct fake_server *f = *state;
	fake_script(f, 404, "expired_url", NULL);
	char url[256];
	url_of(f, "/commands/T1/123/abc", url, sizeof(url));
	struct client_result r;
	assert_int_equal(slack_respond(url, "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.error, "expired_url"));
	assert_null(strstr(r.error, "abc"));

	assert_int_equal(slack_respond("file:///etc/passwd", "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_null(strstr(r.error, "passwd"));
}

static void a_message_is_posted_with_the_bot_token_in_its_thread(void **state)
{
	struct fake_server *f = *state;
	fake_script(f, 200, "{\"ok\":true,\"channel\":\"C1\",\"ts\":\"1700000000.000200\"}", NULL);
	char api[256];
	url_of(f, "/api/", api, sizeof(api));
	struct client_result r;
	assert_int_equal(slack_post_message(api, "xoxb-1-2", "C1", "1700000000.000100", "hello",
					    5000, &r),
			 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_string_equal(r.ts, "1700000000.000200");
	const struct fake_request *req = fake_request(f, 0);
	assert_string_equal(req->method, "POST");
	assert_string_equal(req->uri, "/api/chat.postMessage");
	assert_string_equal(fake_header(req, "authorization"), "Bearer xoxb-1-2");
	assert_string_equal(fake_header(req, "content-type"), "application/json; charset=utf-8");
	assert_string_equal(req->body, "{\"channel\":\"C1\",\"text\":\"hello\","
				       "\"thread_ts\":\"1700000000.000100\"}");

	fake_script(f, 200, "{\"ok\":true,\"ts\":\"1.2\"}", NULL);
	assert_int_equal(slack_post_message(api, "xoxb-1-2", "C1", NULL, "top", 5000, &r), 0);
	assert_string_equal(fake_request(f, 1)->body, "{\"channel\":\"C1\",\"text\":\"top\"}");
}

static void ok_false_fails_or_retries_by_slacks_error(void **state)
{
	struct fake_server *f = *state;
	char api[256];
	url_of(f, "/api", api, sizeof(api));
	struct client_result r;
	static const char *const fatal[] = { "invalid_auth", "channel_not_found", "not_in_channel",
					     NULL };
	for (size_t i = 0; fatal[i]; i++) {
		char body[128];
		snprintf(body, sizeof(body), "{\"ok\":false,\"error\":\"%s\"}", fatal[i]);
		fake_script(f, 200, body, NULL);
		assert_int_equal(slack_post_message(api, "xoxb-t", "C1", NULL, "x", 5000, &r), 0);
		assert_int_equal(r.outcome, CLIENT_FAILED);
		assert_int_equal(r.status, 200);
		assert_non_null(strstr(r.error, fatal[i]));
	}
	int64_t before = clock_now_ms();
	fake_script(f, 200, "{\"ok\":false,\"error\":\"ratelimited\"}", "Retry-After: 20", NULL);
	assert_int_equal(slack_post_message(api, "xoxb-t", "C1", NULL, "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_in_range(r.retry_at_ms, before + 20000, clock_now_ms() + 20000);

	fake_script(f, 200, "{\"ok\":false,\"error\":\"internal_error\"}", NULL);
	assert_int_equal(slack_post_message(api, "xoxb-t", "C1", NULL, "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_true(r.uncertain);

	/* A 200 that is not Slack's JSON is not a posted message. */
	fake_script(f, 200, "<html>", NULL);
	assert_int_equal(slack_post_message(api, "xoxb-t", "C1", NULL, "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
}

static void http_429_and_5xx_retry(void **state)
{
	struct fake_server *f = *state;
	char api[256];
	url_of(f, "/api", api, sizeof(api));
	struct client_result r;
	int64_t before = clock_now_ms();
	fake_script(f, 429, "", "Retry-After: 7", NULL);
	assert_int_equal(slack_post_message(api, "xoxb-t", "C1", NULL, "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_int_equal(r.status, 429);
	assert_in_range(r.retry_at_ms, before + 7000, clock_now_ms() + 7000);
	assert_false(r.uncertain);

	fake_script(f, 500, "", NULL);
	assert_int_equal(slack_post_message(api, "xoxb-t", "C1", NULL, "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_int_equal(r.retry_at_ms, 0);
	assert_true(r.uncertain);

	fake_script(f, 503, "", NULL);
	char url[256];
	url_of(f, "/commands/x", url, sizeof(url));
	assert_int_equal(slack_respond(url, "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_false(r.uncertain);
}

static void the_bot_token_never_shows_in_an_error(void **state)
{
	struct fake_server *f = *state;
	char api[256];
	url_of(f, "/api", api, sizeof(api));
	fake_script(f, 400, "bad token xoxb-secret-1", NULL);
	struct client_result r;
	assert_int_equal(slack_post_message(api, "xoxb-secret-1", "C1", NULL, "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_null(strstr(r.error, "xoxb-secret-1"));
	assert_int_equal(slack_post_message(api, "xoxb\r\nX: y", "C1", NULL, "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(fake_count(f), 1);
}

static void a_closed_port_retries_without_doubt(void **state)
{
	(void)state;
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/api", (unsigned)fake_closed_port());
	struct client_result r;
	assert_int_equal(slack_post_message(url, "xoxb-t", "C1", NULL, "x", 5000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_false(r.uncertain);
}

int main(void)
{
	setenv("NO_PROXY", "127.0.0.1", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_reply_goes_to_the_response_url_in_channel, setup,
						teardown),
		cmocka_unit_test_setup_teardown(an_expired_response_url_fails_without_showing_it,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_message_is_posted_with_the_bot_token_in_its_thread,
						setup, teardown),
		cmocka_unit_test_setup_teardown(ok_false_fails_or_retries_by_slacks_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(http_429_and_5xx_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(the_bot_token_never_shows_in_an_error, setup,
						teardown),
		cmocka_unit_test(a_closed_port_retries_without_doubt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
