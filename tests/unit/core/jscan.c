#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/jscan.h"
#include "util/error.h"

static int check(const char *json, char *err)
{
	enum jscan_type top;
	return jscan(json, strlen(json), NULL, 0, &top, err, 160);
}

static void valid_documents_pass(void **state)
{
	(void)state;
	static const char *const ok[] = {
		"{}", "[]", "0", "-0.5e+10", "\"x\"", "true", "null", " { \"a\" : [1, 2.0, -3e2, true, false, null, {}] } ",
		"{\"a\":{\"b\":{\"c\":[[[]]]}}}", "\"\\u00e9\\ud83d\\ude80 caf\xc3\xa9 \xf0\x9f\x9a\x80\"", "1E5", "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
	};
	char err[160];
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_int_equal(check(ok[i], err), 0);
}

static void invalid_documents_fail_with_position(void **state)
{
	(void)state;
	char err[160];
	static const char *const bad[] = {
		"", "{", "{\"a\":}", "{\"a\" 1}", "{a:1}", "[1,]", "[1 2]", "01", "1.", "-", "1e", "+1", "tru",
		"\"abc", "\"a\x01\"", "\"\\x\"", "\"\\u12G4\"", "\"\\ud800\"", "\"\\udc00\"", "\"\xc3\"", "\"\xed\xa0\x80\"",
		"\"\xc0\xaf\"", "{} {}", "[1]x", "{\"a\":1,}", "NaN", "[\"\\ud800\\u0041\"]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(check(bad[i], err), HQ_E_INVAL);
		assert_non_null(strstr(err, "line 1 column "));
	}
	assert_int_equal(check("{\n  \"action\": \"opened\",\n  \"x\": tru\n}", err), HQ_E_INVAL);
	assert_string_equal(err, "line 3 column 8: invalid literal");
}

static void depth_is_limited(void **state)
{
	(void)state;
	char deep[2 * (JSCAN_MAX_DEPTH + 1) + 1];
	memset(deep, '[', JSCAN_MAX_DEPTH + 1);
	memset(deep + JSCAN_MAX_DEPTH + 1, ']', JSCAN_MAX_DEPTH + 1);
	deep[sizeof(deep) - 1] = '\0';
	char err[160];
	assert_int_equal(check(deep, err), HQ_E_INVAL);
	assert_non_null(strstr(err, "nested too deeply"));
	deep[JSCAN_MAX_DEPTH] = ' ';
	deep[JSCAN_MAX_DEPTH + 1] = ' ';
	assert_int_equal(check(deep, err), 0);
}

static void fields_are_extracted_by_path_and_unescaped(void **state)
{
	(void)state;
	const char *json = "{\"zen\":\"x\",\"action\":\"op\\u0065ned\",\"issue\":{\"action\":\"no\"},"
			   "\"repository\":{\"id\":1,\"full_name\":\"octo/h\\u00e9llo\",\"owner\":{\"login\":\"o\"}},"
			   "\"list\":[{\"action\":\"nope\"}],\"sender\":{\"login\":\"monalisa\",\"type\":\"Bot\"}}";
	char action[32], repo[32], login[32], type[8], missing[8], notstr[8];
	struct jscan_field f[] = {
		{ { "action", NULL }, action, sizeof(action), false, false },
		{ { "repository", "full_name", NULL }, repo, sizeof(repo), false, false },
		{ { "sender", "login", NULL }, login, sizeof(login), false, false },
		{ { "sender", "type", NULL }, type, sizeof(type), false, false },
		{ { "sender", "missing", NULL }, missing, sizeof(missing), false, false },
		{ { "repository", "id", NULL }, notstr, sizeof(notstr), false, false },
	};
	enum jscan_type top;
	char err[160];
	assert_int_equal(jscan(json, strlen(json), f, 6, &top, err, sizeof(err)), 0);
	assert_int_equal(top, JSCAN_OBJECT);
	assert_true(f[0].found);
	assert_string_equal(action, "opened");
	assert_string_equal(repo, "octo/h\xc3\xa9llo");
	assert_string_equal(login, "monalisa");
	assert_string_equal(type, "Bot");
	assert_false(f[4].found);
	assert_false(f[5].found); /* a number, not a string */
}

static void long_values_are_cut_on_a_character_boundary(void **state)
{
	(void)state;
	const char *json = "{\"a\":\"abc\\u00e9\\u00e9\"}";
	char out[6];
	struct jscan_field f[] = { { { "a", NULL }, out, sizeof(out), false, false } };
	enum jscan_type top;
	char err[160];
	assert_int_equal(jscan(json, strlen(json), f, 1, &top, err, sizeof(err)), 0);
	assert_true(f[0].found);
	assert_string_equal(out, "abc\xc3\xa9"); /* 5 bytes + NUL; the second é does not fit */
}

static void repeated_keys_count_as_their_last_value(void **state)
{
	(void)state;
	char a[16];
	struct jscan_field f[] = { { { "action", NULL }, a, sizeof(a), false, false } };
	enum jscan_type top;
	char err[160];
	const char *j1 = "{\"action\":\"x\",\"action\":{\"y\":1}}";
	assert_int_equal(jscan(j1, strlen(j1), f, 1, &top, err, sizeof(err)), 0);
	assert_false(f[0].found);
	const char *j2 = "{\"action\":1,\"action\":\"z\"}";
	assert_int_equal(jscan(j2, strlen(j2), f, 1, &top, err, sizeof(err)), 0);
	assert_true(f[0].found);
	assert_string_equal(a, "z");
}

/* A repeated key on the way to a field replaces the whole object below it
 * (the fuzz target found jscan keeping sender.login from the first of two
 * "sender" objects while jansson saw none). */
static void repeated_parent_keys_replace_what_is_below(void **state)
{
	(void)state;
	char a[16];
	struct jscan_field f[] = { { { "sender", "login", NULL }, a, sizeof(a), false, false } };
	enum jscan_type top;
	char err[160];
	const char *j1 = "{\"sender\":{\"login\":\"a\"},\"x\":1,\"sender\":{\"id\":2}}";
	assert_int_equal(jscan(j1, strlen(j1), f, 1, &top, err, sizeof(err)), 0);
	assert_false(f[0].found);
	assert_string_equal(a, "");
	const char *j2 = "{\"sender\":{\"login\":\"a\"},\"sender\":{\"login\":\"b\"}}";
	assert_int_equal(jscan(j2, strlen(j2), f, 1, &top, err, sizeof(err)), 0);
	assert_true(f[0].found);
	assert_string_equal(a, "b");
	const char *j3 = "{\"sender\":{\"login\":\"a\"},\"sender\":null}";
	assert_int_equal(jscan(j3, strlen(j3), f, 1, &top, err, sizeof(err)), 0);
	assert_false(f[0].found);
	/* A later key elsewhere leaves the field alone. */
	const char *j4 = "{\"sender\":{\"login\":\"a\"},\"repo\":{\"login\":\"c\"}}";
	assert_int_equal(jscan(j4, strlen(j4), f, 1, &top, err, sizeof(err)), 0);
	assert_true(f[0].found);
	assert_string_equal(a, "a");
}

static void top_level_type_is_reported(void **state)
{
	(void)state;
	enum jscan_type top;
	char err[160];
	assert_int_equal(jscan("[1]", 3, NULL, 0, &top, err, sizeof(err)), 0);
	assert_int_equal(top, JSCAN_ARRAY);
	assert_int_equal(jscan(" \"s\" ", 5, NULL, 0, &top, err, sizeof(err)), 0);
	assert_int_equal(top, JSCAN_STRING);
}

static void numbers_are_taken_as_written_only_when_asked(void **state)
{
	(void)state;
	char ts[32], no[32];
	struct jscan_field f[] = {
		{ { "webhookTimestamp", NULL }, ts, sizeof(ts), false, true },
		{ { "n", NULL }, no, sizeof(no), false, false },
	};
	enum jscan_type top;
	char err[160];
	const char *doc = "{\"n\":5,\"webhookTimestamp\":1700000000123,\"x\":-1.5e3}";
	assert_int_equal(jscan(doc, strlen(doc), f, 2, &top, err, sizeof(err)), 0);
	assert_true(f[0].found);
	assert_string_equal(ts, "1700000000123");
	assert_false(f[1].found);
	const char *str = "{\"webhookTimestamp\":\"soon\"}";
	assert_int_equal(jscan(str, strlen(str), f, 2, &top, err, sizeof(err)), 0);
	assert_true(f[0].found);
	assert_string_equal(ts, "soon");
	const char *obj = "{\"webhookTimestamp\":{}}";
	assert_int_equal(jscan(obj, strlen(obj), f, 2, &top, err, sizeof(err)), 0);
	assert_false(f[0].found);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(numbers_are_taken_as_written_only_when_asked),
		cmocka_unit_test(valid_documents_pass),
		cmocka_unit_test(invalid_documents_fail_with_position),
		cmocka_unit_test(depth_is_limited),
		cmocka_unit_test(fields_are_extracted_by_path_and_unescaped),
		cmocka_unit_test(long_values_are_cut_on_a_character_boundary),
		cmocka_unit_test(repeated_keys_count_as_their_last_value),
		cmocka_unit_test(repeated_parent_keys_replace_what_is_below),
		cmocka_unit_test(top_level_type_is_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
