#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/log.h"

/* Captures one log line through a pipe. */
static void capture(enum log_format fmt, char *out, size_t size, const char *msg,
		    const char *key, const char *value)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	log_setup(fmt, HQ_LOG_INFO, fds[1]);
	log_msg(HQ_LOG_INFO, msg, key, value, NULL);
	close(fds[1]);
	ssize_t n = read(fds[0], out, size - 1);
	assert_true(n > 0);
	out[n] = '\0';
	close(fds[0]);
	log_setup(HQ_LOG_KV, HQ_LOG_INFO, 2);
}

static void kv_quotes_values_with_spaces_and_escapes_newlines(void **state)
{
	(void)state;
	char line[1024];
	capture(HQ_LOG_KV, line, sizeof(line), "webhook accepted", "detail", "a b\n\"c\"");
	assert_non_null(strstr(line, " level=info "));
	assert_non_null(strstr(line, " msg=\"webhook accepted\""));
	assert_non_null(strstr(line, " detail=\"a b\\n\\\"c\\\"\"\n"));
	/* exactly one line */
	assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
}

static void json_lines_are_objects_with_escaped_values(void **state)
{
	(void)state;
	char line[1024];
	capture(HQ_LOG_JSON, line, sizeof(line), "m", "k", "x\"y\x01");
	assert_int_equal(line[0], '{');
	assert_non_null(strstr(line, "\"level\":\"info\""));
	assert_non_null(strstr(line, "\"k\":\"x\\\"y\\u0001\"}\n"));
}

static void below_min_level_writes_nothing(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	log_setup(HQ_LOG_KV, HQ_LOG_WARN, fds[1]);
	log_msg(HQ_LOG_INFO, "quiet", NULL);
	log_msg(HQ_LOG_WARN, "loud", NULL);
	close(fds[1]);
	char buf[512];
	ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	close(fds[0]);
	assert_null(strstr(buf, "quiet"));
	assert_non_null(strstr(buf, "msg=loud"));
	log_setup(HQ_LOG_KV, HQ_LOG_INFO, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kv_quotes_values_with_spaces_and_escapes_newlines),
		cmocka_unit_test(json_lines_are_objects_with_escaped_values),
		cmocka_unit_test(below_min_level_writes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
