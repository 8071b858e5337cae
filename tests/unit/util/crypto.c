#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/crypto.h"
#include "util/error.h"

/* GitHub's documented example: docs.github.com "Validating webhook deliveries". */
static void hmac_sha256_matches_githubs_documented_vector(void **state)
{
	(void)state;
	const char *secret = "It's a Secret to Everybody";
	const char *payload = "Hello, World!";
	uint8_t mac[CRYPTO_SHA256_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1];
	assert_int_equal(crypto_hmac_sha256(secret, strlen(secret), payload, strlen(payload), mac), 0);
	crypto_hex_encode(mac, sizeof(mac), hex);
	assert_string_equal(hex, "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
}

static void hmac_sha256_of_empty_key_and_body_is_rfc_value(void **state)
{
	(void)state;
	uint8_t mac[CRYPTO_SHA256_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1];
	assert_int_equal(crypto_hmac_sha256("", 0, "", 0, mac), 0);
	crypto_hex_encode(mac, sizeof(mac), hex);
	assert_string_equal(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

static void hex_decode_accepts_both_cases_and_rejects_non_hex(void **state)
{
	(void)state;
	uint8_t out[2];
	assert_int_equal(crypto_hex_decode("aBcD", 4, out, 2), 0);
	assert_int_equal(out[0], 0xab);
	assert_int_equal(out[1], 0xcd);
	assert_int_equal(crypto_hex_decode("abcg", 4, out, 2), HQ_E_INVAL);
	assert_int_equal(crypto_hex_decode("abc", 3, out, 2), HQ_E_INVAL);
	assert_int_equal(crypto_hex_decode("ab c", 4, out, 2), HQ_E_INVAL);
}

static void equal_compares_whole_length(void **state)
{
	(void)state;
	assert_true(crypto_equal("abcdef", "abcdef", 6));
	assert_false(crypto_equal("abcdef", "abcdeX", 6));
	assert_false(crypto_equal("Xbcdef", "abcdef", 6));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hmac_sha256_matches_githubs_documented_vector),
		cmocka_unit_test(hmac_sha256_of_empty_key_and_body_is_rfc_value),
		cmocka_unit_test(hex_decode_accepts_both_cases_and_rejects_non_hex),
		cmocka_unit_test(equal_compares_whole_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
