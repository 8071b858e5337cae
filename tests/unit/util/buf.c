#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/buf.h"
#include "util/error.h"

static void append_up_to_max_then_refuses_without_change(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 10);
	assert_int_equal(buf_append(&b, "hello", 5), 0);
	assert_int_equal(buf_append(&b, "world", 5), 0);
	assert_int_equal(b.len, 10);
	assert_int_equal(buf_append(&b, "!", 1), HQ_E_TOOBIG);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "helloworld");
	buf_release(&b);
	buf_release(&b); /* twice is harmless */
}

static void printf_respects_max(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 8);
	assert_int_equal(buf_printf(&b, "%d-%s", 42, "ab"), 0);
	assert_string_equal(b.data, "42-ab");
	assert_int_equal(buf_printf(&b, "%s", "toolong"), HQ_E_TOOBIG);
	assert_string_equal(b.data, "42-ab");
	buf_release(&b);
}

static void grows_past_initial_capacity(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 1 << 20);
	char chunk[1000];
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 1000; i++)
		assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(b.len, 1000000);
	assert_int_equal(b.data[999999], 'x');
	assert_int_equal(b.data[1000000], '\0');
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(append_up_to_max_then_refuses_without_change),
		cmocka_unit_test(printf_respects_max),
		cmocka_unit_test(grows_past_initial_capacity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
