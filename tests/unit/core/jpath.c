#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/jpath.h"
#include "util/error.h"

static const char *doc = "{\"issue\":{\"title\":\"Crash\",\"labels\":[{\"name\":\"bug\"},"
			 "{\"name\":\"agent\"}],\"n\":3},\"a.b\":{\"c\":true},\"list\":[[1,2],[3]]}";

static void paths_find_keys_indexes_and_quoted_keys(void **state)
{
	(void)state;
	json_t *root = json_loads(doc, 0, NULL);
	assert_non_null(root);
	static const struct {
		const char *path;
		const char *want; /* compact JSON of the value, or NULL when missing */
	} cases[] = {
		{ "issue.title", "\"Crash\"" },
		{ "issue.labels[1].name", "\"agent\"" },
		{ "issue.labels[2].name", NULL },
		{ "issue.n", "3" },
		{ "[\"a.b\"].c", "true" },
		{ "list[0][1]", "2" },
		{ "list[1][0]", "3" },
		{ "issue.title.x", NULL },
		{ "issue[0]", NULL },
		{ "nope", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jpath p;
		char err[128];
		assert_int_equal(jpath_parse(cases[i].path, strlen(cases[i].path), &p, err, sizeof(err)), 0);
		json_t *v = jpath_get(&p, root);
		if (!cases[i].want) {
			assert_null(v);
			continue;
		}
		assert_non_null(v);
		char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		assert_string_equal(text, cases[i].want);
		free(text);
	}
	json_decref(root);
}

static void malformed_paths_say_what_and_where(void **state)
{
	(void)state;
	static const struct {
		const char *path;
		const char *err;
	} cases[] = {
		{ "", "column 1: empty path" },
		{ "a..b", "column 3: empty key" },
		{ ".a", "column 1: empty key" },
		{ "a.", "column 3: the path ends with a dot" },
		{ "a[", "column 2: [ must hold an index or a quoted key" },
		{ "a[1", "column 2: unterminated [" },
		{ "a[x]", "column 2: [ must hold an index or a quoted key" },
		{ "a[\"b", "column 2: unterminated [\"" },
		{ "a[\"\"]", "column 2: empty key" },
		{ "a b", "column 2: unexpected character in a key" },
		{ "a[0]b", "column 5: a key must follow a dot" },
		{ "a.b}}", "column 4: unexpected character in a key" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jpath p;
		char err[128] = "";
		assert_int_equal(jpath_parse(cases[i].path, strlen(cases[i].path), &p, err, sizeof(err)),
				 HQ_E_INVAL);
		assert_string_equal(err, cases[i].err);
	}
}

static void limits_are_enforced(void **state)
{
	(void)state;
	char deep[128] = "a";
	for (int i = 0; i < 16; i++)
		strcat(deep, ".a");
	struct jpath p;
	char err[128];
	assert_int_equal(jpath_parse(deep, strlen(deep), &p, err, sizeof(err)), HQ_E_INVAL);
	assert_non_null(strstr(err, "more than 16 steps"));
	char lng[300];
	memset(lng, 'k', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	assert_int_equal(jpath_parse(lng, strlen(lng), &p, err, sizeof(err)), HQ_E_INVAL);
	assert_non_null(strstr(err, "longer than 255"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(paths_find_keys_indexes_and_quoted_keys),
		cmocka_unit_test(malformed_paths_say_what_and_where),
		cmocka_unit_test(limits_are_enforced),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
