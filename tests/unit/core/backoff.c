#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/backoff.h"

static const struct backoff b = { 2000, 600000 };

static void ceiling_doubles_from_base_and_stops_at_cap(void **state)
{
	(void)state;
	assert_int_equal(backoff_ceiling_ms(&b, 1), 2000);
	assert_int_equal(backoff_ceiling_ms(&b, 2), 4000);
	assert_int_equal(backoff_ceiling_ms(&b, 3), 8000);
	assert_int_equal(backoff_ceiling_ms(&b, 8), 256000);
	assert_int_equal(backoff_ceiling_ms(&b, 9), 512000);
	assert_int_equal(backoff_ceiling_ms(&b, 10), 600000);
	assert_int_equal(backoff_ceiling_ms(&b, 4000000000u), 600000);
	assert_int_equal(backoff_ceiling_ms(&b, 0), 2000);
}

static void store_outage_pauses_double_from_100_ms_to_2_s(void **state)
{
	(void)state;
	static const uint64_t want[] = { 100, 200, 400, 800, 1600, 2000, 2000 };
	for (uint32_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(backoff_ceiling_ms(&BACKOFF_STORE_OUTAGE, i + 1), want[i]);
}

static void jitter_stays_within_half_and_full_ceiling(void **state)
{
	(void)state;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (uint32_t attempt = 1; attempt <= 12; attempt++) {
		uint64_t ceiling = backoff_ceiling_ms(&b, attempt);
		uint64_t lo = UINT64_MAX, hi = 0;
		for (int i = 0; i < 10000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			uint64_t d = backoff_delay_ms(&b, attempt, x);
			assert_true(d >= ceiling / 2);
			assert_true(d <= ceiling);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
		/* the draws actually spread over the range */
		assert_true(lo < ceiling / 2 + ceiling / 20);
		assert_true(hi > ceiling - ceiling / 20);
	}
}

static void extreme_random_values_stay_in_range(void **state)
{
	(void)state;
	assert_int_equal(backoff_delay_ms(&b, 1, 0), 1000);
	assert_int_equal(backoff_delay_ms(&b, 1, 1000), 2000);
	assert_true(backoff_delay_ms(&b, 1, UINT64_MAX) <= 2000);
	struct backoff zero = { 0, 0 };
	assert_int_equal(backoff_delay_ms(&zero, 3, 12345), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ceiling_doubles_from_base_and_stops_at_cap),
		cmocka_unit_test(store_outage_pauses_double_from_100_ms_to_2_s),
		cmocka_unit_test(jitter_stays_within_half_and_full_ceiling),
		cmocka_unit_test(extreme_random_values_stay_in_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
