#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/error.h"
#include "util/parse.h"

static void port_accepts_1_to_65535_only(void **state)
{
	(void)state;
	uint16_t p = 7;
	assert_int_equal(parse_port("8080", &p), 0);
	assert_int_equal(p, 8080);
	assert_int_equal(parse_port("65535", &p), 0);
	assert_int_equal(parse_port("65536", &p), HQ_E_INVAL);
	assert_int_equal(parse_port("0", &p), HQ_E_INVAL);
	assert_int_equal(parse_port("80a", &p), HQ_E_INVAL);
	assert_int_equal(parse_port("", &p), HQ_E_INVAL);
	assert_int_equal(parse_port("-1", &p), HQ_E_INVAL);
	assert_int_equal(parse_port(" 80", &p), HQ_E_INVAL);
	assert_int_equal(p, 65535); /* untouched by the failures */
}

static void u64_rejects_overflow(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(parse_u64("18446744073709551616", 0, UINT64_MAX, &v), HQ_E_INVAL);
	assert_int_equal(parse_u64("5", 6, 9, &v), HQ_E_INVAL);
}

static void duration_units_and_bare_seconds(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(parse_duration_ms("250ms", &v), 0);
	assert_int_equal(v, 250);
	assert_int_equal(parse_duration_ms("30s", &v), 0);
	assert_int_equal(v, 30000);
	assert_int_equal(parse_duration_ms("30", &v), 0);
	assert_int_equal(v, 30000);
	assert_int_equal(parse_duration_ms("5m", &v), 0);
	assert_int_equal(v, 300000);
	assert_int_equal(parse_duration_ms("7d", &v), 0);
	assert_int_equal(v, 604800000);
	assert_int_equal(parse_duration_ms("5 m", &v), HQ_E_INVAL);
	assert_int_equal(parse_duration_ms("5w", &v), HQ_E_INVAL);
	assert_int_equal(parse_duration_ms("ms", &v), HQ_E_INVAL);
}

static void size_binary_and_decimal_units(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(parse_size("25MiB", &v), 0);
	assert_int_equal(v, 25 * 1024 * 1024);
	assert_int_equal(parse_size("10KB", &v), 0);
	assert_int_equal(v, 10000);
	assert_int_equal(parse_size("512", &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(parse_size("1G", &v), 0);
	assert_int_equal(v, 1024ull * 1024 * 1024);
	assert_int_equal(parse_size("99999999999999999999GiB", &v), HQ_E_INVAL);
	assert_int_equal(parse_size("18446744073709551615GiB", &v), HQ_E_INVAL);
	assert_int_equal(parse_size("12mb", &v), HQ_E_INVAL);
}

static void bool_words(void **state)
{
	(void)state;
	bool b = false;
	assert_int_equal(parse_bool("TRUE", &b), 0);
	assert_true(b);
	assert_int_equal(parse_bool("off", &b), 0);
	assert_false(b);
	assert_int_equal(parse_bool("1", &b), 0);
	assert_true(b);
	assert_int_equal(parse_bool("yep", &b), HQ_E_INVAL);
	assert_true(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(port_accepts_1_to_65535_only),
		cmocka_unit_test(u64_rejects_overflow),
		cmocka_unit_test(duration_units_and_bare_seconds),
		cmocka_unit_test(size_binary_and_decimal_units),
		cmocka_unit_test(bool_words),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
