#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/envelope.h"
#include "util/error.h"

#define MAX 1024 /* the payload limit of most cases */

static int parse(const char *body, size_t max, struct envelope *e, char *err, size_t size)
{
	return envelope_parse(body, strlen(body), max, e, err, size);
}

/* Each accepted form: what is kept, byte for byte, and whether it is the
 * sender's own bytes. */
static void each_payload_form_gives_its_bytes(void **state)
{
	(void)state;
	static const struct {
		const char *body, *payload;
		size_t len;
		bool raw;
	} cases[] = {
		/* An object is kept as compact JSON (re-encoded). */
		{ "{\"headers\":{},\"payload\":{\"a\": 1, \"b\": [true, null]}}", "{\"a\":1,\"b\":[true,null]}",
		  23, false },
		{ "{\"payload\":[1, 2]}", "[1,2]", 5, false },
		/* A JSON text in a string is kept as it is, spacing included. */
		{ "{\"payload\":\" {\\\"a\\\" : 1}\\n\"}", " {\"a\" : 1}\n", 11, true },
		{ "{\"payload\":\"[1, 2]\"}", "[1, 2]", 6, true },
		{ "{\"payload\":\"{\\\"t\\\":\\\"\\u00e9\\\"}\"}", "{\"t\":\"\xc3\xa9\"}", 10, true },
		/* Base64: decoded, padding or not needed. */
		{ "{\"payload\":\"eyJhIjoxfQ==\"}", "{\"a\":1}", 7, true },
		{ "{\"payload\":\"eyJhIjoxMn0=\"}", "{\"a\":12}", 8, true },
		{ "{\"payload\":\"eyJhIjoxMjN9\"}", "{\"a\":123}", 9, true },
		/* Bytes that are not text at all. */
		{ "{\"payload\":\"AAEC/w==\"}", "\x00\x01\x02\xff", 4, true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct envelope e;
		char err[300] = "";
		assert_int_equal(parse(cases[i].body, MAX, &e, err, sizeof(err)), 0);
		assert_int_equal(e.payload_len, cases[i].len);
		assert_memory_equal(e.payload, cases[i].payload, cases[i].len);
		assert_int_equal(e.payload[e.payload_len], '\0');
		assert_int_equal(e.raw, cases[i].raw);
		envelope_release(&e);
	}
}

static void headers_are_lower_cased_and_found_in_any_case(void **state)
{
	(void)state;
	struct envelope e;
	char err[300];
	assert_int_equal(parse("{\"headers\":{\"X-GitHub-Event\":\"issues\",\"X-GITHUB-DELIVERY\":\"d-1\"},"
			       "\"payload\":{}}",
			       MAX, &e, err, sizeof(err)),
			 0);
	assert_int_equal(e.n_headers, 2);
	assert_string_equal(e.names[0], "x-github-event");
	assert_string_equal(e.names[1], "x-github-delivery");
	assert_string_equal(envelope_header(&e, "x-github-event"), "issues");
	assert_string_equal(envelope_header(&e, "X-GITHUB-EVENT"), "issues");
	assert_string_equal(envelope_header(&e, "X-GitHub-Delivery"), "d-1");
	assert_null(envelope_header(&e, "x-hub-signature-256"));
	envelope_release(&e);
}

static void a_message_without_headers_has_none(void **state)
{
	(void)state;
	struct envelope e;
	char err[300];
	assert_int_equal(parse("{\"payload\":{}}", MAX, &e, err, sizeof(err)), 0);
	assert_int_equal(e.n_headers, 0);
	assert_null(envelope_header(&e, "x-github-event"));
	assert_null(envelope_provider(&e));
	envelope_release(&e);
}

static void the_provider_is_guessed_from_its_headers(void **state)
{
	(void)state;
	static const struct {
		const char *headers, *provider;
	} cases[] = {
		{ "{\"X-GitHub-Event\":\"issues\"}", "github" },
		{ "{\"X-Gitlab-Event\":\"Issue Hook\"}", "gitlab" },
		{ "{\"X-Slack-Signature\":\"v0=00\"}", "slack" },
		{ "{\"Sentry-Hook-Resource\":\"issue\"}", "sentry" },
		{ "{\"X-Atlassian-Webhook-Identifier\":\"1\"}", "jira" },
		{ "{\"Linear-Delivery\":\"1\"}", "linear" },
		{ "{\"Stripe-Signature\":\"t=1,v1=0\"}", "stripe" },
		{ "{\"webhook-id\":\"msg_1\"}", "standard" },
		/* Named outright, it wins over the other headers. */
		{ "{\"X-GitHub-Event\":\"issues\",\"X-Hookq-Provider\":\"generic\"}", "generic" },
		/* Named empty: as if not named. */
		{ "{\"X-GitHub-Event\":\"issues\",\"x-hookq-provider\":\"\"}", "github" },
		{ "{\"Content-Type\":\"application/json\"}", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[256];
		int n = snprintf(body, sizeof(body), "{\"headers\":%s,\"payload\":{}}", cases[i].headers);
		assert_true(n > 0 && (size_t)n < sizeof(body));
		struct envelope e;
		char err[300];
		assert_int_equal(parse(body, MAX, &e, err, sizeof(err)), 0);
		if (cases[i].provider)
			assert_string_equal(envelope_provider(&e), cases[i].provider);
		else
			assert_null(envelope_provider(&e));
		envelope_release(&e);
	}
}

/* Every refusal, with its code and exact message; the out-parameter is
 * left as it was. */
static void refusals_say_why_and_leave_the_result_untouched(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		int code;
		const char *message;
	} cases[] = {
		/* jansson's own words follow the position; only the prefix is
		 * hookq's. */
		{ "{\"payload\":", HQ_E_INVAL, "the message is not JSON: line 1 column 11: " },
		{ "", HQ_E_INVAL, "the message is not JSON: line 1 column 0: " },
		{ "42", HQ_E_INVAL, "the message is not JSON: line 1 column 2: " },
		{ "{\"payload\":{}} x", HQ_E_INVAL, "the message is not JSON: line 1 column 16: " },
		{ "{\"headers\":{},\n\"payload\":{},}", HQ_E_INVAL, "the message is not JSON: line 2 column 14: " },
		{ "[{\"payload\":{}}]", HQ_E_INVAL, "the message must be a JSON object" },
		{ "{\"headers\":[],\"payload\":{}}", HQ_E_INVAL, "'headers' must be an object of strings" },
		{ "{\"headers\":{\"a\":1},\"payload\":{}}", HQ_E_INVAL, "'headers' must be an object of strings" },
		{ "{\"headers\":{\"a\":null},\"payload\":{}}", HQ_E_INVAL,
		  "'headers' must be an object of strings" },
		{ "{\"headers\":{\"\":\"v\"},\"payload\":{}}", HQ_E_INVAL,
		  "'headers' must be an object of strings" },
		{ "{\"headers\":{}}", HQ_E_INVAL, "the message has no 'payload'" },
		{ "{\"payload\":null}", HQ_E_INVAL, "the message has no 'payload'" },
		{ "{\"payload\":42}", HQ_E_INVAL, "'payload' must be a JSON object, a JSON text or base64" },
		{ "{\"payload\":true}", HQ_E_INVAL, "'payload' must be a JSON object, a JSON text or base64" },
		{ "{\"payload\":\"not base64!\"}", HQ_E_INVAL, "'payload' is neither JSON nor base64" },
		{ "{\"payload\":\"{\\\"a\\\":\"}", HQ_E_INVAL, "'payload' is neither JSON nor base64" },
		{ "{\"payload\":\"eyJhIjoxfQ\"}", HQ_E_INVAL, "'payload' is neither JSON nor base64" },
		{ "{\"payload\":\"e=JhIjoxfQ==\"}", HQ_E_INVAL, "'payload' is neither JSON nor base64" },
		{ "{\"payload\":\"eyJhIjoxf=Q=\"}", HQ_E_INVAL, "'payload' is neither JSON nor base64" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct envelope e;
		memset(&e, 0x5a, sizeof(e));
		struct envelope before = e;
		char err[300] = "";
		assert_int_equal(parse(cases[i].body, MAX, &e, err, sizeof(err)), cases[i].code);
		if (strncmp(cases[i].message, "the message is not JSON", 23) == 0) {
			assert_true(strncmp(err, cases[i].message, strlen(cases[i].message)) == 0);
			assert_true(strlen(err) > strlen(cases[i].message));
		} else {
			assert_string_equal(err, cases[i].message);
		}
		assert_memory_equal(&e, &before, sizeof(e));
	}
}

static void an_error_is_cut_to_the_callers_buffer(void **state)
{
	(void)state;
	struct envelope e;
	char err[8];
	assert_int_equal(parse("{\"payload\":42}", MAX, &e, err, sizeof(err)), HQ_E_INVAL);
	assert_string_equal(err, "'payloa");
}

/* A body of n payload bytes in each form: an object, a JSON text, base64
 * (n bytes of 'x' inside a JSON string, so all three have n bytes). */
static char *sized_body(int form, size_t n)
{
	assert_true(n >= 8);
	char *payload = malloc(n + 1);
	assert_non_null(payload);
	memcpy(payload, "{\"k\":\"", 6);
	memset(payload + 6, 'x', n - 8);
	memcpy(payload + n - 2, "\"}", 3);
	char *body = NULL;
	if (form == 2) {
		static const char digits[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		size_t enc = (n + 2) / 3 * 4;
		body = malloc(enc + 32);
		assert_non_null(body);
		size_t o = (size_t)snprintf(body, 32, "{\"payload\":\"");
		for (size_t i = 0; i < n; i += 3) {
			uint32_t v = (uint32_t)(unsigned char)payload[i] << 16;
			if (i + 1 < n)
				v |= (uint32_t)(unsigned char)payload[i + 1] << 8;
			if (i + 2 < n)
				v |= (unsigned char)payload[i + 2];
			body[o++] = digits[v >> 18 & 63];
			body[o++] = digits[v >> 12 & 63];
			body[o++] = i + 1 < n ? digits[v >> 6 & 63] : '=';
			body[o++] = i + 2 < n ? digits[v & 63] : '=';
		}
		memcpy(body + o, "\"}", 3);
	} else {
		body = malloc(2 * n + 32);
		assert_non_null(body);
		size_t o = (size_t)snprintf(body, 32, "{\"payload\":%s", form == 1 ? "\"" : "");
		for (size_t i = 0; i < n; i++) {
			if (form == 1 && payload[i] == '"')
				body[o++] = '\\';
			body[o++] = payload[i];
		}
		memcpy(body + o, form == 1 ? "\"}" : "}", form == 1 ? 3 : 2);
	}
	free(payload);
	return body;
}

/* Whether a payload of n bytes in form, at the limit max, is taken: up to
 * max bytes, whatever the length modulo 3 (base64's padding). */
static void check_limit(int form, size_t n, size_t max)
{
	static const char *const forms[] = { "object", "JSON text", "base64" };
	char *body = sized_body(form, n);
	struct envelope e;
	char err[300] = "";
	int r = parse(body, max, &e, err, sizeof(err));
	free(body);
	if (n <= max) {
		if (r != 0)
			fail_msg("%s of %zu bytes with max %zu: %s", forms[form], n, max, err);
		assert_int_equal(e.payload_len, n);
		envelope_release(&e);
	} else {
		assert_int_equal(r, HQ_E_TOOBIG);
		assert_string_equal(err, "the payload is too large");
	}
}

static void each_form_takes_max_payload_bytes_and_refuses_one_more(void **state)
{
	(void)state;
	for (int form = 0; form < 3; form++)
		for (size_t max = 30; max < 33; max++)
			for (size_t n = max - 2; n <= max + 1; n++)
				if (form != 2 || n % 3 == 0 || n + 2 <= max || n > max)
					check_limit(form, n, max);
}

/* Base64 with padding: a payload of max bytes (or max - 1) whose length
 * is not a multiple of 3 is taken, max + 1 refused. */
static void base64_with_padding_takes_max_payload_bytes(void **state)
{
	(void)state;
	for (size_t max = 30; max < 33; max++)
		for (size_t n = max - 2; n <= max + 1; n++)
			check_limit(2, n, max);
}

static void a_huge_base64_payload_is_refused_before_decoding(void **state)
{
	(void)state;
	char *body = sized_body(2, 3000);
	struct envelope e;
	char err[300];
	assert_int_equal(parse(body, 100, &e, err, sizeof(err)), HQ_E_TOOBIG);
	assert_string_equal(err, "the payload is too large");
	free(body);
}

/* Builds {"headers":{h0..h(n-1)},"payload":{}} with value_len-byte values
 * and name_len-byte names (at least 4). */
static char *headers_body(size_t n, size_t name_len, size_t value_len)
{
	size_t size = 64 + n * (name_len + value_len + 8);
	char *body = malloc(size);
	assert_non_null(body);
	size_t o = (size_t)snprintf(body, size, "{\"headers\":{");
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(body + o, size - o, "%s\"h%03zu", i ? "," : "", i);
		assert_true(w > 0);
		o += (size_t)w;
		memset(body + o, 'n', name_len - 4);
		o += name_len - 4;
		body[o++] = '"';
		body[o++] = ':';
		body[o++] = '"';
		memset(body + o, 'v', value_len);
		o += value_len;
		body[o++] = '"';
	}
	snprintf(body + o, size - o, "},\"payload\":{}}");
	return body;
}

static void header_count_name_and_value_limits_hold_at_the_byte(void **state)
{
	(void)state;
	static const struct {
		size_t n, name_len, value_len;
		int code;
		const char *message;
	} cases[] = {
		{ ENVELOPE_HEADERS_MAX, 8, 8, 0, "" },
		{ ENVELOPE_HEADERS_MAX + 1, 8, 8, HQ_E_INVAL, "too many headers" },
		{ 1, 8, ENVELOPE_HEADER_MAX, 0, "" },
		{ 1, 8, ENVELOPE_HEADER_MAX + 1, HQ_E_INVAL, "'headers' must be an object of strings" },
		{ 1, 256, 8, 0, "" },
		{ 1, 257, 8, HQ_E_INVAL, "'headers' must be an object of strings" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *body = headers_body(cases[i].n, cases[i].name_len, cases[i].value_len);
		struct envelope e;
		char err[300] = "";
		assert_int_equal(parse(body, MAX, &e, err, sizeof(err)), cases[i].code);
		assert_string_equal(err, cases[i].message);
		if (cases[i].code == 0) {
			assert_int_equal(e.n_headers, cases[i].n);
			assert_int_equal(strlen(e.names[0]), cases[i].name_len);
			assert_int_equal(strlen(e.values[0]), cases[i].value_len);
			envelope_release(&e);
		}
		free(body);
	}
}

/* A header value holding a NUL cannot be a C string: refused, not cut
 * (today by the JSON reader itself; "'headers' must be an object of
 * strings" once NULs are allowed in payloads, below). */
static void a_header_value_with_a_nul_is_refused(void **state)
{
	(void)state;
	struct envelope e;
	char err[300] = "";
	assert_int_equal(parse("{\"headers\":{\"a\":\"x\\u0000y\"},\"payload\":{}}", MAX, &e, err,
			       sizeof(err)),
			 HQ_E_INVAL);
}

/* "\u0000" is valid JSON and the HTTP source accepts a body holding it:
 * so does the queue, as a JSON text and as an object. */
static void a_payload_with_an_escaped_nul_is_taken(void **state)
{
	(void)state;
	struct envelope e;
	char err[300] = "";
	assert_int_equal(parse("{\"payload\":\"{\\\"b\\\":\\\"a\\\\u0000b\\\"}\"}", MAX, &e, err,
			       sizeof(err)),
			 0);
	assert_string_equal(e.payload, "{\"b\":\"a\\u0000b\"}");
	envelope_release(&e);
	assert_int_equal(parse("{\"payload\":{\"b\":\"a\\u0000b\"}}", MAX, &e, err, sizeof(err)), 0);
	assert_string_equal(e.payload, "{\"b\":\"a\\u0000b\"}");
	envelope_release(&e);
}

/* What the forwarder sends reads back as the same headers and bytes. */
static void a_made_message_reads_back_as_sent(void **state)
{
	(void)state;
	static const char *const names[] = { "X-GitHub-Event", "X-GitHub-Delivery",
					     "X-Hub-Signature-256" };
	static const char *const values[] = { "issues", "72d3162e", "sha256=00ff" };
	static const struct {
		const char *body;
		size_t len;
	} bodies[] = {
		{ "{\"action\":\"opened\"}", 19 },
		{ "{\"a\":\"\xc3\xa9\"} \n", 13 },
		{ "x", 1 },
		{ "xy", 2 },
		{ "\x00\xff\x10", 3 },
		{ "", 0 }, /* a webhook without a body */
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		char *msg = envelope_make(names, values, 3, bodies[i].body, bodies[i].len);
		assert_non_null(msg);
		struct envelope e;
		char err[300] = "";
		assert_int_equal(envelope_parse(msg, strlen(msg), MAX, &e, err, sizeof(err)), 0);
		assert_true(e.raw);
		assert_int_equal(e.payload_len, bodies[i].len);
		assert_memory_equal(e.payload, bodies[i].body, bodies[i].len);
		assert_int_equal(e.n_headers, 3);
		for (size_t h = 0; h < 3; h++)
			assert_string_equal(envelope_header(&e, names[h]), values[h]);
		assert_string_equal(envelope_provider(&e), "github");
		envelope_release(&e);
		free(msg);
	}
}

static void release_accepts_null_and_a_released_envelope(void **state)
{
	(void)state;
	envelope_release(NULL);
	struct envelope e;
	char err[300];
	assert_int_equal(parse("{\"headers\":{\"a\":\"b\"},\"payload\":{}}", MAX, &e, err, sizeof(err)), 0);
	envelope_release(&e);
	envelope_release(&e);
	assert_null(e.payload);
	assert_int_equal(e.n_headers, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_payload_form_gives_its_bytes),
		cmocka_unit_test(headers_are_lower_cased_and_found_in_any_case),
		cmocka_unit_test(a_message_without_headers_has_none),
		cmocka_unit_test(the_provider_is_guessed_from_its_headers),
		cmocka_unit_test(refusals_say_why_and_leave_the_result_untouched),
		cmocka_unit_test(an_error_is_cut_to_the_callers_buffer),
		cmocka_unit_test(each_form_takes_max_payload_bytes_and_refuses_one_more),
		cmocka_unit_test(base64_with_padding_takes_max_payload_bytes),
		cmocka_unit_test(a_huge_base64_payload_is_refused_before_decoding),
		cmocka_unit_test(header_count_name_and_value_limits_hold_at_the_byte),
		cmocka_unit_test(a_header_value_with_a_nul_is_refused),
		cmocka_unit_test(a_payload_with_an_escaped_nul_is_taken),
		cmocka_unit_test(a_made_message_reads_back_as_sent),
		cmocka_unit_test(release_accepts_null_and_a_released_envelope),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
