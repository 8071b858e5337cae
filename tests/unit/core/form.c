#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/form.h"
#include "util/error.h"

static const char body[] = "token=x&command=%2Fagent&text=fix+the+build%21&empty=&flag"
			   "&trigger_id=1.2.3&text=second";

static void fields_are_found_and_decoded(void **state)
{
	(void)state;
	char v[64];
	size_t len = 0;
	assert_int_equal(form_get(body, strlen(body), "command", v, sizeof(v), &len), 0);
	assert_string_equal(v, "/agent");
	assert_int_equal(len, 6);
	assert_int_equal(form_get(body, strlen(body), "text", v, sizeof(v), NULL), 0);
	assert_string_equal(v, "fix the build!"); /* the first of two */
	assert_int_equal(form_get(body, strlen(body), "empty", v, sizeof(v), NULL), 0);
	assert_string_equal(v, "");
	assert_int_equal(form_get(body, strlen(body), "flag", v, sizeof(v), NULL), 0);
	assert_string_equal(v, "");
	assert_int_equal(form_get(body, strlen(body), "trigger_id", v, sizeof(v), NULL), 0);
	assert_string_equal(v, "1.2.3");
}

static void missing_fields_and_prefixes_of_names_are_not_found(void **state)
{
	(void)state;
	char v[8];
	assert_int_equal(form_get(body, strlen(body), "user", v, sizeof(v), NULL), HQ_E_NOTFOUND);
	assert_int_equal(form_get(body, strlen(body), "tex", v, sizeof(v), NULL), HQ_E_NOTFOUND);
	assert_int_equal(form_get("", 0, "text", v, sizeof(v), NULL), HQ_E_NOTFOUND);
}

static void long_values_are_cut_but_their_length_told(void **state)
{
	(void)state;
	char v[4];
	size_t len = 0;
	assert_int_equal(form_get(body, strlen(body), "text", v, sizeof(v), &len), 0);
	assert_string_equal(v, "fix");
	assert_int_equal(len, 14);
}

static void broken_escapes_are_errors(void **state)
{
	(void)state;
	char v[16];
	static const char *const bad[] = { "a=%", "a=%4", "a=%zz", "a=x%4g" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(form_get(bad[i], strlen(bad[i]), "a", v, sizeof(v), NULL),
				 HQ_E_INVAL);
	assert_int_equal(form_get("a=%41%42", 8, "a", v, sizeof(v), NULL), 0);
	assert_string_equal(v, "AB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fields_are_found_and_decoded),
		cmocka_unit_test(missing_fields_and_prefixes_of_names_are_not_found),
		cmocka_unit_test(long_values_are_cut_but_their_length_told),
		cmocka_unit_test(broken_escapes_are_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
