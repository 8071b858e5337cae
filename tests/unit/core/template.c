#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "core/template.h"
#include "util/error.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char payload[] =
	"{\"issue\": {\"title\": \"Crash on start\", \"number\": 42,"
	"  \"labels\": [{\"name\": \"bug\"}, {\"name\": \"p1\"}],"
	"  \"user\": {\"login\": \"octocat\"}},"
	" \"key.with.dots\": {\"a[b]\": \"dotted\"},"
	" \"s\": \"text\", \"empty\": \"\", \"utf8\": \"h\\u00e9 \\u20ac \\ud83d\\ude00\","
	" \"int\": 42, \"neg\": -7, \"big\": 9007199254740993,"
	" \"r1\": 0.1, \"r2\": 1.5, \"r3\": 3.0, \"r4\": -2.5e-7, \"r5\": 19.99,"
	" \"t\": true, \"f\": false, \"n\": null,"
	" \"o\": {\"b\": [1, \"x\"], \"a\": {}},"
	" \"a\": [1, 2.5, null, \"é\"], \"ea\": [],"
	" \"braces\": \"{{s}} and {{{{\", \"ob\": {\"k\": \"{{s}}\"}}";

static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	if (!root)
		fail_msg("bad test JSON: %s", jerr.text);
	return root;
}

static struct template *parse_ok(const char *text)
{
	struct template *t = NULL;
	char err[160] = "";
	int r = template_parse(text, strlen(text), &t, err, sizeof(err));
	if (r != 0)
		fail_msg("template_parse('%s'): %s", text, err);
	return t;
}

/* Renders text against root with max_out; the caller frees the result. */
static char *render(const char *text, const json_t *root, size_t max_out,
		    struct template_report *rep)
{
	struct template *t = parse_ok(text);
	char *out = NULL;
	size_t len = SIZE_MAX;
	assert_int_equal(template_render(t, root, max_out, &out, &len, rep), 0);
	assert_non_null(out);
	assert_int_equal(len, strlen(out));
	assert_true(len <= max_out);
	template_free(t);
	return out;
}

struct case_ {
	const char *text;
	const char *want;
};

static void check_cases(const struct case_ *c, size_t n)
{
	json_t *root = load(payload);
	for (size_t i = 0; i < n; i++) {
		struct template_report rep;
		char *out = render(c[i].text, root, 4096, &rep);
		if (strcmp(out, c[i].want) != 0)
			fail_msg("'%s' rendered '%s', want '%s'", c[i].text, out, c[i].want);
		assert_int_equal(rep.missing, 0);
		assert_false(rep.truncated);
		free(out);
	}
	json_decref(root);
}

static void plain_text_is_copied_as_is(void **state)
{
	(void)state;
	static const struct case_ c[] = {
		{ "", "" },
		{ "Fix the build.", "Fix the build." },
		{ "a { b } c", "a { b } c" },
		{ "lone }} closers }}} stay", "lone }} closers }}} stay" },
		{ "{ {x} }", "{ {x} }" },
		{ "line 1\nline 2\n", "line 1\nline 2\n" },
		{ "h\xc3\xa9 \xe2\x82\xac", "h\xc3\xa9 \xe2\x82\xac" },
	};
	check_cases(c, ARRAY_SIZE(c));
}

static void nested_paths_and_indexes_are_followed(void **state)
{
	(void)state;
	static const struct case_ c[] = {
		{ "{{issue.title}}", "Crash on start" },
		{ "#{{issue.number}}: {{issue.title}}", "#42: Crash on start" },
		{ "{{issue.labels[0].name}},{{issue.labels[1].name}}", "bug,p1" },
		{ "by {{issue.user.login}}.", "by octocat." },
		{ "{{[\"key.with.dots\"][\"a[b]\"]}}", "dotted" },
		{ "{{a[3]}}", "\xc3\xa9" },
		{ "{{s}}{{s}}", "texttext" },
	};
	check_cases(c, ARRAY_SIZE(c));
}

static void whitespace_inside_braces_is_ignored(void **state)
{
	(void)state;
	static const struct case_ c[] = {
		{ "{{ issue.title }}", "Crash on start" },
		{ "{{\tissue.title\t}}", "Crash on start" },
		{ "{{\n  issue.labels[0].name\r\n}}", "bug" },
		{ "[{{   s}}] [{{s   }}]", "[text] [text]" },
	};
	check_cases(c, ARRAY_SIZE(c));
}

static void every_value_type_is_rendered(void **state)
{
	(void)state;
	static const struct case_ c[] = {
		{ "<{{s}}>", "<text>" },
		{ "<{{empty}}>", "<>" },
		{ "<{{utf8}}>", "<h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80>" },
		{ "<{{int}}>", "<42>" },
		{ "<{{neg}}>", "<-7>" },
		{ "<{{big}}>", "<9007199254740993>" },
		/* Reals in their shortest form, not with 17 digits. */
		{ "<{{r1}}>", "<0.1>" },
		{ "<{{r2}}>", "<1.5>" },
		{ "<{{r3}}>", "<3.0>" },
		{ "<{{r4}}>", "<-2.5e-7>" },
		{ "<{{r5}}>", "<19.99>" },
		{ "<{{t}}>", "<true>" },
		{ "<{{f}}>", "<false>" },
		{ "<{{n}}>", "<>" },
		{ "<{{o}}>", "<{\"b\":[1,\"x\"],\"a\":{}}>" },
		{ "<{{a}}>", "<[1,2.5,null,\"\xc3\xa9\"]>" },
		{ "<{{ea}}>", "<[]>" },
		{ "<{{o.a}}>", "<{}>" },
	};
	check_cases(c, ARRAY_SIZE(c));
}

static void missing_variables_render_empty_and_are_reported(void **state)
{
	(void)state;
	json_t *root = load(payload);
	static const struct {
		const char *text;
		const char *want;
		size_t missing;
		size_t first;
	} c[] = {
		{ "{{s}}", "text", 0, SIZE_MAX },
		{ "{{n}}", "", 0, SIZE_MAX }, /* null is there, not missing */
		{ "[{{nope}}]", "[]", 1, 0 },
		{ "{{s}} {{issue.nope}} {{s}} {{issue.labels[9].name}}", "text  text ", 2, 1 },
		{ "{{s.x}}{{a.x}}{{a[0][0]}}{{issue[0]}}", "", 4, 0 }, /* wrong types */
	};
	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		struct template_report rep;
		char *out = render(c[i].text, root, 4096, &rep);
		assert_string_equal(out, c[i].want);
		assert_int_equal(rep.missing, c[i].missing);
		assert_int_equal(rep.first_missing, c[i].first);
		assert_false(rep.truncated);
		free(out);
	}
	/* With no payload at all, every variable is missing. */
	struct template_report rep;
	char *out = render("a{{s}}b{{t}}", NULL, 64, &rep);
	assert_string_equal(out, "ab");
	assert_int_equal(rep.missing, 2);
	assert_int_equal(rep.first_missing, 0);
	free(out);
	json_decref(root);
}

static void report_may_be_null(void **state)
{
	(void)state;
	json_t *root = load(payload);
	char *out = render("{{nope}}{{s}}", root, 2, NULL);
	assert_string_equal(out, "te");
	free(out);
	json_decref(root);
}

static void payload_text_with_braces_is_not_evaluated(void **state)
{
	(void)state;
	static const struct case_ c[] = {
		{ "{{braces}}", "{{s}} and {{{{" },
		{ "{{ob}}", "{\"k\":\"{{s}}\"}" },
		{ "{{ob.k}}-{{s}}", "{{s}}-text" },
	};
	check_cases(c, ARRAY_SIZE(c));
}

static void four_braces_write_two(void **state)
{
	(void)state;
	static const struct case_ c[] = {
		{ "{{{{", "{{" },
		{ "{{{{}}", "{{}}" },
		{ "{{{{s}}", "{{s}}" },
		{ "{{{{{", "{{{" },
		{ "{{{{{{{{", "{{{{" },
		{ "a {{{{ b {{s}} c", "a {{ b text c" },
		{ "{{s}}{{{{", "text{{" },
	};
	check_cases(c, ARRAY_SIZE(c));
}

static void parse_errors_name_their_column(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *err;
	} c[] = {
		{ "{{", "column 1: unterminated {{" },
		{ "abc {{ x", "column 5: unterminated {{" },
		{ "}} {{", "column 4: unterminated {{" },
		{ "{{s}} {{ s }", "column 7: unterminated {{" },
		{ "{{}}", "column 1: empty variable" },
		{ "ab {{ \t\n }}", "column 4: empty variable" },
		/* Path errors point into the path. */
		{ "{{ a..b }}", "column 6: invalid variable: empty key" },
		{ "x {{a b}}", "column 6: invalid variable: unexpected character in a key" },
		{ "{{ a. }}", "column 6: invalid variable: the path ends with a dot" },
		{ "{{ a[x] }}", "column 5: invalid variable: [ must hold an index or a quoted key" },
		{ "{{{x}}}", "column 3: invalid variable: unexpected character in a key" },
		{ "{{ a[\"b }}", "column 5: invalid variable: unterminated [\"" },
		{ "{{ [\"}}\"] }}", "column 4: invalid variable: unterminated [\"" },
		{ "{{a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q}}",
		  "column 34: invalid variable: more than 16 steps" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		struct template *t = (struct template *)(uintptr_t)1; /* must stay untouched */
		char err[160] = "";
		assert_int_equal(template_parse(c[i].text, strlen(c[i].text), &t, err, sizeof(err)),
				 HQ_E_INVAL);
		if (strcmp(err, c[i].err) != 0)
			fail_msg("'%s' gave '%s', want '%s'", c[i].text, err, c[i].err);
		assert_ptr_equal(t, (struct template *)(uintptr_t)1);
	}
	/* NUL bytes, also inside a quoted key, where C strings would cut
	 * the key short. */
	static const struct {
		const char *text;
		size_t len;
		const char *err;
	} nul[] = {
		{ "ab\0cd", 5, "column 3: NUL byte" },
		{ "{{[\"a\0b\"]}}", 11, "column 6: NUL byte" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(nul); i++) {
		struct template *t = NULL;
		char err[160] = "";
		assert_int_equal(template_parse(nul[i].text, nul[i].len, &t, err, sizeof(err)),
				 HQ_E_INVAL);
		assert_string_equal(err, nul[i].err);
		assert_null(t);
	}
	/* A small or absent message buffer is fine. */
	struct template *t = NULL;
	char small[8];
	assert_int_equal(template_parse("{{", 2, &t, small, sizeof(small)), HQ_E_INVAL);
	assert_string_equal(small, "column ");
	assert_int_equal(template_parse("{{", 2, &t, NULL, 0), HQ_E_INVAL);
	assert_null(t);
}

static void output_is_cut_at_max_on_a_utf8_boundary(void **state)
{
	(void)state;
	json_t *root = load("{\"s\": \"\\u00e9\\u20ac\\ud83d\\ude00\", \"o\": {\"k\": \"\\u00e9\\u20ac\"}}");
	static const struct {
		const char *text;
		size_t max;
		size_t want_len; /* of the full output's prefix */
	} c[] = {
		/* "ab" then é (2 bytes), € (3), 😀 (4): 11 bytes. */
		{ "ab{{s}}", 0, 0 },
		{ "ab{{s}}", 1, 1 },
		{ "ab{{s}}", 2, 2 },
		{ "ab{{s}}", 3, 2 },
		{ "ab{{s}}", 4, 4 },
		{ "ab{{s}}", 6, 4 },
		{ "ab{{s}}", 7, 7 },
		{ "ab{{s}}", 8, 7 },
		{ "ab{{s}}", 10, 7 },
		{ "ab{{s}}", 11, 11 },
		{ "ab{{s}}", 12, 11 },
		/* The same characters in the literal text. */
		{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80{{s}}", 1, 0 },
		{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80{{s}}", 4, 2 },
		{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80{{s}}", 8, 5 },
		{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80{{s}}", 10, 9 },
		/* Inside compact JSON: {"k":"é€"} is 6 + 2 + 3 + 2 bytes. */
		{ "{{o}}", 7, 6 },
		{ "{{o}}", 8, 8 },
		{ "{{o}}", 10, 8 },
		{ "{{o}}", 11, 11 },
		{ "{{o}}", 12, 12 },
		{ "{{o}}", 13, 13 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		struct template_report full_rep, rep;
		char *full = render(c[i].text, root, 4096, &full_rep);
		char *out = render(c[i].text, root, c[i].max, &rep);
		if (strlen(out) != c[i].want_len)
			fail_msg("'%s' cut at %zu gave %zu bytes, want %zu", c[i].text, c[i].max,
				 strlen(out), c[i].want_len);
		assert_memory_equal(out, full, c[i].want_len);
		assert_int_equal(rep.truncated, strlen(full) > c[i].max);
		free(out);
		free(full);
	}
	json_decref(root);
}

static void variables_after_the_cut_are_still_reported(void **state)
{
	(void)state;
	json_t *root = load(payload);
	struct template_report rep;
	char *out = render("{{issue.title}} {{nope}} {{s}} {{nope2}}", root, 5, &rep);
	assert_string_equal(out, "Crash");
	assert_true(rep.truncated);
	assert_int_equal(rep.missing, 2);
	assert_int_equal(rep.first_missing, 1);
	free(out);
	json_decref(root);
}

static void variables_are_listed_as_written(void **state)
{
	(void)state;
	struct template *t = parse_ok("Hi {{ issue.user.login }}, {{{{x}} {{\n[\"a.b\"][0] }}{{s}}");
	assert_int_equal(template_variable_count(t), 3);
	assert_string_equal(template_variable(t, 0), "issue.user.login");
	assert_string_equal(template_variable(t, 1), "[\"a.b\"][0]");
	assert_string_equal(template_variable(t, 2), "s");
	assert_null(template_variable(t, 3));
	template_free(t);

	t = parse_ok("no variables");
	assert_int_equal(template_variable_count(t), 0);
	assert_null(template_variable(t, 0));
	template_free(t);
	template_free(NULL);
}

static void text_and_variable_counts_have_limits(void **state)
{
	(void)state;
	char err[160];
	struct template *t = NULL;
	char *text = malloc(TEMPLATE_MAX_TEXT + 1);
	assert_non_null(text);

	memset(text, 'a', TEMPLATE_MAX_TEXT + 1);
	assert_int_equal(template_parse(text, TEMPLATE_MAX_TEXT, &t, err, sizeof(err)), 0);
	template_free(t);
	t = NULL;
	assert_int_equal(template_parse(text, TEMPLATE_MAX_TEXT + 1, &t, err, sizeof(err)), HQ_E_INVAL);
	assert_string_equal(err, "template longer than 65536 bytes");
	assert_null(t);

	/* 256 variables "{{s}}" fit; a 257th is refused where it starts. */
	for (size_t i = 0; i <= TEMPLATE_MAX_VARIABLES; i++)
		memcpy(text + i * 5, "{{s}}", 5);
	assert_int_equal(template_parse(text, TEMPLATE_MAX_VARIABLES * 5, &t, err, sizeof(err)), 0);
	assert_int_equal(template_variable_count(t), TEMPLATE_MAX_VARIABLES);
	json_t *root = load("{\"s\": \"xy\"}");
	char *out = NULL;
	size_t len = 0;
	assert_int_equal(template_render(t, root, 4096, &out, &len, NULL), 0);
	assert_int_equal(len, 2 * TEMPLATE_MAX_VARIABLES);
	free(out);
	template_free(t);
	t = NULL;
	assert_int_equal(
		template_parse(text, (TEMPLATE_MAX_VARIABLES + 1) * 5, &t, err, sizeof(err)),
		HQ_E_INVAL);
	assert_string_equal(err, "column 1281: more than 256 variables");
	assert_null(t);

	/* The longest template with the most variables: escapes and text
	 * around them. */
	memset(text, '{', TEMPLATE_MAX_TEXT);
	for (size_t i = 0; i < TEMPLATE_MAX_VARIABLES; i++)
		memcpy(text + i * 8, "{{ s }}.", 8);
	assert_int_equal(template_parse(text, TEMPLATE_MAX_TEXT, &t, err, sizeof(err)), 0);
	assert_int_equal(template_render(t, root, SIZE_MAX, &out, &len, NULL), 0);
	assert_int_equal(len, TEMPLATE_MAX_VARIABLES * 3 + (TEMPLATE_MAX_TEXT - TEMPLATE_MAX_VARIABLES * 8) / 2);
	free(out);
	template_free(t);
	json_decref(root);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_text_is_copied_as_is),
		cmocka_unit_test(nested_paths_and_indexes_are_followed),
		cmocka_unit_test(whitespace_inside_braces_is_ignored),
		cmocka_unit_test(every_value_type_is_rendered),
		cmocka_unit_test(missing_variables_render_empty_and_are_reported),
		cmocka_unit_test(report_may_be_null),
		cmocka_unit_test(payload_text_with_braces_is_not_evaluated),
		cmocka_unit_test(four_braces_write_two),
		cmocka_unit_test(parse_errors_name_their_column),
		cmocka_unit_test(output_is_cut_at_max_on_a_utf8_boundary),
		cmocka_unit_test(variables_after_the_cut_are_still_reported),
		cmocka_unit_test(variables_are_listed_as_written),
		cmocka_unit_test(text_and_variable_counts_have_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
