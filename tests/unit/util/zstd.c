#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/crypto.h"
#include "util/error.h"
#include "util/zstd.h"

static void round_trip_restores_every_byte(void **state)
{
	(void)state;
	char text[8192];
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = "{\"action\":\"opened\",\"url\":\"https://api.github.com/\"}"[i % 52];
	struct buf packed, plain;
	buf_init(&packed, sizeof(text));
	buf_init(&plain, 1 << 20);
	assert_int_equal(zstd_compress(text, sizeof(text), 1, &packed), 0);
	assert_true(packed.len < sizeof(text) / 4);
	assert_int_equal(zstd_decompress(packed.data, packed.len, &plain), 0);
	assert_int_equal(plain.len, sizeof(text));
	assert_memory_equal(plain.data, text, sizeof(text));
	buf_release(&packed);
	buf_release(&plain);
}

static void incompressible_input_is_too_big(void **state)
{
	(void)state;
	uint8_t noise[4096];
	assert_int_equal(crypto_random(noise, sizeof(noise)), 0);
	struct buf packed;
	buf_init(&packed, sizeof(noise));
	assert_int_equal(zstd_compress(noise, sizeof(noise), 1, &packed), HQ_E_TOOBIG);
	buf_release(&packed);
}

static void corrupt_or_oversized_frames_are_refused(void **state)
{
	(void)state;
	char text[4096];
	memset(text, 'a', sizeof(text));
	struct buf packed, plain;
	buf_init(&packed, sizeof(text));
	assert_int_equal(zstd_compress(text, sizeof(text), 1, &packed), 0);
	buf_init(&plain, 100); /* smaller than the content */
	assert_int_equal(zstd_decompress(packed.data, packed.len, &plain), HQ_E_TOOBIG);
	buf_release(&plain);
	buf_init(&plain, 1 << 20);
	assert_int_equal(zstd_decompress("not a frame", 11, &plain), HQ_E_INVAL);
	packed.data[packed.len - 1] ^= 0x55;
	assert_int_equal(zstd_decompress(packed.data, packed.len - 1, &plain), HQ_E_INVAL);
	buf_release(&plain);
	buf_release(&packed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_restores_every_byte),
		cmocka_unit_test(incompressible_input_is_too_big),
		cmocka_unit_test(corrupt_or_oversized_frames_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
