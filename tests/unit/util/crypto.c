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

/* RFC 4231 test case 2 ("Jefe"), split into parts: every algorithm gives
 * the published digest, however the message is cut. */
static void hmac_in_parts_matches_rfc4231(void **state)
{
	(void)state;
	static const struct {
		enum crypto_alg alg;
		const char *hex;
	} want[] = {
		{ CRYPTO_SHA256, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
		{ CRYPTO_SHA512, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
				 "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" },
		/* RFC 2202 test case 2 */
		{ CRYPTO_SHA1, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79" },
	};
	struct crypto_part parts[] = { { "what do ya want ", 16 }, { "", 0 }, { "for nothing?", 12 } };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint8_t out[CRYPTO_MAX_DIGEST];
		size_t n = 0;
		assert_int_equal(crypto_hmac(want[i].alg, "Jefe", 4, parts, 3, out, &n), 0);
		char hex[2 * CRYPTO_MAX_DIGEST + 1];
		crypto_hex_encode(out, n, hex);
		assert_string_equal(hex, want[i].hex);
	}
}

static void base64_round_trips_and_rejects_what_is_not_base64(void **state)
{
	(void)state;
	const uint8_t in[] = { 0xff, 0x00, 0x01, 'h', 'i' };
	char enc[16];
	crypto_base64_encode(in, sizeof(in), enc);
	assert_string_equal(enc, "/wABaGk=");
	uint8_t out[16];
	size_t n = 0;
	assert_int_equal(crypto_base64_decode(enc, strlen(enc), out, sizeof(out), &n), 0);
	assert_int_equal(n, sizeof(in));
	assert_memory_equal(out, in, sizeof(in));
	assert_int_equal(crypto_base64_decode("aGk", 3, out, sizeof(out), &n), HQ_E_INVAL);
	assert_int_equal(crypto_base64_decode("a=Gk", 4, out, sizeof(out), &n), HQ_E_INVAL);
	assert_int_equal(crypto_base64_decode("aG k", 4, out, sizeof(out), &n), HQ_E_INVAL);
	assert_int_equal(crypto_base64_decode("aGk=aGk=", 8, out, 3, &n), HQ_E_INVAL);
	assert_int_equal(crypto_base64_decode("", 0, out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hmac_sha256_matches_githubs_documented_vector),
		cmocka_unit_test(hmac_sha256_of_empty_key_and_body_is_rfc_value),
		cmocka_unit_test(hex_decode_accepts_both_cases_and_rejects_non_hex),
		cmocka_unit_test(equal_compares_whole_length),
		cmocka_unit_test(hmac_in_parts_matches_rfc4231),
		cmocka_unit_test(base64_round_trips_and_rejects_what_is_not_base64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
