#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "providers/github.h"
#include "util/error.h"

static const char secret[] = "It's a Secret to Everybody";
static const char body[] = "Hello, World!";
static const char good[] =
	"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

static int verify(const char *sig)
{
	return github_verify(secret, strlen(secret), body, strlen(body), sig);
}

static void documented_signature_verifies(void **state)
{
	(void)state;
	assert_int_equal(verify(good), 0);
}

static void uppercase_hex_digits_verify(void **state)
{
	(void)state;
	char upper[sizeof(good)];
	memcpy(upper, good, sizeof(good));
	for (char *p = upper + 7; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(verify(upper), 0);
}

static void missing_or_empty_header_is_missing(void **state)
{
	(void)state;
	assert_int_equal(verify(NULL), HQ_E_SIG_MISSING);
	assert_int_equal(verify(""), HQ_E_SIG_MISSING);
}

static void wrong_truncated_or_mangled_signatures_are_invalid(void **state)
{
	(void)state;
	char sig[sizeof(good)];
	memcpy(sig, good, sizeof(good));
	sig[sizeof(good) - 2] = sig[sizeof(good) - 2] == '7' ? '8' : '7';
	assert_int_equal(verify(sig), HQ_E_SIG_INVALID);
	memcpy(sig, good, sizeof(good));
	sig[sizeof(good) - 3] = '\0'; /* truncated */
	assert_int_equal(verify(sig), HQ_E_SIG_INVALID);
	assert_int_equal(verify("sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
			 HQ_E_SIG_INVALID);
	assert_int_equal(verify("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
			 HQ_E_SIG_INVALID);
	assert_int_equal(verify("sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
			 HQ_E_SIG_INVALID);
}

static void other_secret_or_body_is_invalid(void **state)
{
	(void)state;
	assert_int_equal(github_verify("other", 5, body, strlen(body), good), HQ_E_SIG_INVALID);
	assert_int_equal(github_verify(secret, strlen(secret), "Hello, World?", 13, good),
			 HQ_E_SIG_INVALID);
}

static void tokens_allow_uuid_and_refuse_odd_bytes(void **state)
{
	(void)state;
	assert_true(github_token_valid("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
	assert_true(github_token_valid("issue_comment"));
	assert_false(github_token_valid(""));
	assert_false(github_token_valid("a b"));
	assert_false(github_token_valid("a\"b"));
	assert_false(github_token_valid("a\nb"));
	char longer[202];
	memset(longer, 'a', 201);
	longer[201] = '\0';
	assert_false(github_token_valid(longer));
	longer[200] = '\0';
	assert_true(github_token_valid(longer));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(documented_signature_verifies),
		cmocka_unit_test(uppercase_hex_digits_verify),
		cmocka_unit_test(missing_or_empty_header_is_missing),
		cmocka_unit_test(wrong_truncated_or_mangled_signatures_are_invalid),
		cmocka_unit_test(other_secret_or_body_is_invalid),
		cmocka_unit_test(tokens_allow_uuid_and_refuse_odd_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
