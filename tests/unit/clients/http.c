/* clients/http: one bounded request, read against a local server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <curl/curl.h>

#include "clients/http.h"
#include "fake.h"
#include "util/error.h"
#include "version.h"

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

static void a_post_is_sent_exactly_and_its_answer_read(void **state)
{
	struct fake_server *f = *state;
	fake_script(f, 201, "{\"id\":7}", "X-Extra: yes", NULL);
	char url[256];
	url_of(f, "/repos/o/r/issues/1/comments?x=1", url, sizeof(url));
	const char *headers[] = { "Content-Type: application/json", "X-Test: a b", NULL };
	struct http_response res;
	assert_int_equal(http_request("POST", url, headers, "{\"a\":1}", 7, 5000, 1024, &res), 0);
	assert_int_equal(res.status, 201);
	assert_string_equal(res.body, "{\"id\":7}");
	assert_int_equal(res.body_len, 8);
	assert_false(res.truncated);
	assert_false(res.uncertain);
	assert_string_equal(res.error, "");
	assert_int_equal(res.retry_after_s, -1);
	assert_int_equal(res.ratelimit_reset, -1);
	assert_int_equal(res.ratelimit_remaining, -1);
	assert_int_equal(res.link_next, -1);
	http_response_release(&res);

	assert_int_equal(fake_count(f), 1);
	const struct fake_request *req = fake_request(f, 0);
	assert_string_equal(req->method, "POST");
	assert_string_equal(req->uri, "/repos/o/r/issues/1/comments?x=1");
	assert_string_equal(req->body, "{\"a\":1}");
	assert_string_equal(fake_header(req, "content-type"), "application/json");
	assert_string_equal(fake_header(req, "x-test"), "a b");
	assert_string_equal(fake_header(req, "user-agent"), "hookq/" HOOKQ_VERSION);
	assert_string_equal(fake_header(req, "expect"), "");
}

static void a_get_and_a_put_use_their_methods(void **state)
{
	struct fake_server *f = *state;
	fake_script(f, 200, "[]", NULL);
	fake_script(f, 204, "", NULL);
	char url[256];
	url_of(f, "/x", url, sizeof(url));
	struct http_response res;
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 1024, &res), 0);
	assert_int_equal(res.status, 200);
	http_response_release(&res);
	assert_int_equal(http_request("PUT", url, NULL, "z", 1, 5000, 1024, &res), 0);
	assert_int_equal(res.status, 204);
	assert_non_null(res.body);
	assert_string_equal(res.body, "");
	http_response_release(&res);
	assert_string_equal(fake_request(f, 0)->method, "GET");
	assert_string_equal(fake_request(f, 1)->method, "PUT");
	assert_string_equal(fake_request(f, 1)->body, "z");
}

static void retry_after_in_seconds_and_rate_limit_headers_are_read(void **state)
{
	struct fake_server *f = *state;
	fake_script(f, 403, "{}", "Retry-After: 30", "X-RateLimit-Remaining: 0",
		    "X-RateLimit-Reset: 1700000000", "Link: <https://x/?page=2>; rel=\"next\", "
						     "<https://x/?page=9>; rel=\"last\"",
		    NULL);
	char url[256];
	url_of(f, "/", url, sizeof(url));
	struct http_response res;
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 1024, &res), 0);
	assert_int_equal(res.status, 403);
	assert_int_equal(res.retry_after_s, 30);
	assert_int_equal(res.ratelimit_remaining, 0);
	assert_int_equal(res.ratelimit_reset, 1700000000);
	assert_int_equal(res.link_next, 1);
	http_response_release(&res);
}

static void retry_after_as_an_http_date_is_seconds_from_now(void **state)
{
	struct fake_server *f = *state;
	char date[128], header[160];
	time_t when = time(NULL) + 120;
	struct tm tm;
	gmtime_r(&when, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(header, sizeof(header), "Retry-After: %s", date);
	fake_script(f, 503, "", header, "Link: <https://x/?page=1>; rel=\"prev\"", NULL);
	/* A date in the past means now. */
	fake_script(f, 503, "", "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT", NULL);
	fake_script(f, 503, "", "Retry-After: soon", NULL);
	char url[256];
	url_of(f, "/", url, sizeof(url));
	struct http_response res;
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 1024, &res), 0);
	assert_in_range(res.retry_after_s, 115, 120);
	assert_int_equal(res.link_next, 0);
	http_response_release(&res);
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 1024, &res), 0);
	assert_int_equal(res.retry_after_s, 0);
	http_response_release(&res);
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 1024, &res), 0);
	assert_int_equal(res.retry_after_s, -1);
	http_response_release(&res);
}

static void a_body_past_max_body_is_cut_and_flagged(void **state)
{
	struct fake_server *f = *state;
	char big[10000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fake_script(f, 200, big, NULL);
	fake_script(f, 200, "0123456789", NULL);
	char url[256];
	url_of(f, "/", url, sizeof(url));
	struct http_response res;
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 100, &res), 0);
	assert_int_equal(res.status, 200);
	assert_true(res.truncated);
	assert_int_equal(res.body_len, 100);
	assert_int_equal(strlen(res.body), 100);
	http_response_release(&res);
	/* Exactly max_body is whole. */
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 10, &res), 0);
	assert_false(res.truncated);
	assert_string_equal(res.body, "0123456789");
	http_response_release(&res);
}

static void redirects_are_answers_not_followed(void **state)
{
	struct fake_server *f = *state;
	fake_script(f, 302, "", "Location: /elsewhere", NULL);
	char url[256];
	url_of(f, "/", url, sizeof(url));
	struct http_response res;
	assert_int_equal(http_request("POST", url, NULL, "a", 1, 5000, 100, &res), 0);
	assert_int_equal(res.status, 302);
	http_response_release(&res);
	assert_int_equal(fake_count(f), 1);
}

static void a_closed_port_fails_without_doubt(void **state)
{
	(void)state;
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", (unsigned)fake_closed_port());
	struct http_response res;
	assert_int_equal(http_request("POST", url, NULL, "a", 1, 5000, 100, &res), HQ_E_IO);
	assert_int_equal(res.status, 0);
	assert_false(res.uncertain);
	assert_true(res.error[0] != '\0');
	assert_null(res.body);
	http_response_release(&res);
}

static void an_unresolvable_host_fails_without_doubt(void **state)
{
	(void)state;
	struct http_response res;
	assert_int_equal(http_request("POST", "http://nonexistent.invalid/x", NULL, "a", 1, 5000,
				      100, &res),
			 HQ_E_IO);
	assert_false(res.uncertain);
	http_response_release(&res);
}

static void a_server_that_reads_then_closes_leaves_doubt(void **state)
{
	(void)state;
	struct fake_raw *raw = fake_raw_start(FAKE_RAW_CLOSE);
	assert_non_null(raw);
	char url[128];
	snprintf(url, sizeof(url), "%s/x", fake_raw_url(raw));
	struct http_response res;
	assert_int_equal(http_request("POST", url, NULL, "{\"a\":1}", 7, 5000, 100, &res), HQ_E_IO);
	assert_true(fake_raw_stop(raw));
	assert_int_equal(res.status, 0);
	assert_true(res.uncertain);
	assert_true(res.error[0] != '\0');
	http_response_release(&res);
}

static void a_timeout_after_sending_leaves_doubt(void **state)
{
	(void)state;
	struct fake_raw *raw = fake_raw_start(FAKE_RAW_HANG);
	assert_non_null(raw);
	char url[128];
	snprintf(url, sizeof(url), "%s/x", fake_raw_url(raw));
	struct http_response res;
	assert_int_equal(http_request("POST", url, NULL, "{\"a\":1}", 7, 300, 100, &res), HQ_E_IO);
	assert_true(fake_raw_stop(raw));
	assert_true(res.uncertain);
	http_response_release(&res);
}

static void only_http_and_https_urls_and_clean_headers_are_sent(void **state)
{
	(void)state;
	struct http_response res;
	assert_int_equal(http_request("GET", "file:///etc/passwd", NULL, NULL, 0, 1000, 100, &res),
			 HQ_E_INVAL);
	http_response_release(&res);
	assert_int_equal(http_request("GET", "ftp://example.com/", NULL, NULL, 0, 1000, 100, &res),
			 HQ_E_INVAL);
	http_response_release(&res);
	const char *bad[] = { "X-A: b\r\nX-Injected: 1", NULL };
	assert_int_equal(http_request("GET", "http://127.0.0.1:1/", bad, NULL, 0, 1000, 100, &res),
			 HQ_E_INVAL);
	http_response_release(&res);
	assert_int_equal(http_request("get", "http://127.0.0.1:1/", NULL, NULL, 0, 1000, 100, &res),
			 HQ_E_INVAL);
	http_response_release(&res);
}

int main(void)
{
	setenv("NO_PROXY", "127.0.0.1", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_post_is_sent_exactly_and_its_answer_read, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_get_and_a_put_use_their_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(retry_after_in_seconds_and_rate_limit_headers_are_read,
						setup, teardown),
		cmocka_unit_test_setup_teardown(retry_after_as_an_http_date_is_seconds_from_now,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_body_past_max_body_is_cut_and_flagged, setup,
						teardown),
		cmocka_unit_test_setup_teardown(redirects_are_answers_not_followed, setup, teardown),
		cmocka_unit_test(a_closed_port_fails_without_doubt),
		cmocka_unit_test(an_unresolvable_host_fails_without_doubt),
		cmocka_unit_test(a_server_that_reads_then_closes_leaves_doubt),
		cmocka_unit_test(a_timeout_after_sending_leaves_doubt),
		cmocka_unit_test(only_http_and_https_urls_and_clean_headers_are_sent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
