#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "util/utf8.h"

#define R "\xEF\xBF\xBD" /* U+FFFD */

struct utf8_case {
	const char *name;
	const char *in;
	size_t len; /* 0: strlen(in) */
	const char *want;
	size_t want_len; /* 0: strlen(want) */
};

static const struct utf8_case cases[] = {
	{ "empty", "", 0, "", 0 },
	{ "ascii and controls", "a\x01\x1B[31m\t\"\\ z", 0, "a\x01\x1B[31m\t\"\\ z", 0 },
	{ "valid 2, 3 and 4 bytes", "\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 0,
	  "\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 0 },
	{ "edges that are valid",
	  "\xC2\x80 \xED\x9F\xBF \xEE\x80\x80 \xEF\xBF\xBF \xF4\x8F\xBF\xBF", 0,
	  "\xC2\x80 \xED\x9F\xBF \xEE\x80\x80 \xEF\xBF\xBF \xF4\x8F\xBF\xBF", 0 },
	{ "NUL bytes kept", "a\0b", 3, "a\0b", 3 },
	{ "lone continuation", "a\x80z", 0, "a" R "z", 0 },
	{ "bytes that start nothing", "\xFE\xFF\xF5\x80", 0, R R R R, 0 },
	{ "overlong 2 bytes", "\xC0\xAF\xC1\xBF", 0, R R R R, 0 },
	{ "overlong 3 bytes", "\xE0\x80\xAF", 0, R R R, 0 },
	{ "overlong 4 bytes", "\xF0\x80\x80\xAF", 0, R R R R, 0 },
	{ "surrogates", "\xED\xA0\x80\xED\xBF\xBF", 0, R R R R R R, 0 },
	{ "past U+10FFFF", "\xF4\x90\x80\x80", 0, R R R R, 0 },
	{ "cut short before text", "d\xE2\x82 e", 0, "d" R " e", 0 },
	{ "cut short 4 bytes before text", "\xF0\x9F\x98\x41", 0, R "A", 0 },
	{ "cut short at the end", "x\xF0\x9F\x98", 0, "x" R, 0 },
	{ "cut short by a lead byte", "\xE2\xC3\xA9", 0, R "\xC3\xA9", 0 },
	{ "what task files hold",
	  "a\x80 b\xC0\xAF c\xED\xA0\x80 d\xE2\x82 e\xFF \xC3\xA9\xF0\x9F\x98\x80", 0,
	  "a" R " b" R R " c" R R R " d" R " e" R " \xC3\xA9\xF0\x9F\x98\x80", 0 },
};

static void each_ill_formed_sequence_becomes_one_replacement(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct utf8_case *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		size_t want_len = c->want_len ? c->want_len : strlen(c->want);
		size_t n = 12345;
		char *out = utf8_sanitize(c->in, len, &n);
		print_message("case: %s\n", c->name);
		assert_non_null(out);
		assert_int_equal(n, want_len);
		assert_memory_equal(out, c->want, want_len);
		assert_int_equal(out[n], '\0');
		/* What comes out is what jansson takes. */
		json_t *j = json_stringn(out, n);
		assert_non_null(j);
		json_decref(j);
		free(out);
	}
}

/* in is left as it is exactly when jansson takes it, and what comes out
 * jansson always takes. */
static void agree(const unsigned char *in, size_t len)
{
	size_t n;
	char *out = utf8_sanitize((const char *)in, len, &n);
	assert_non_null(out);
	json_t *j = json_stringn((const char *)in, len);
	bool same = n == len && memcmp(out, in, len) == 0;
	if ((j != NULL) != same)
		fail_msg("%02x %02x %02x %02x (%zu bytes): jansson %s it, utf8_sanitize %s it",
			 in[0], len > 1 ? in[1] : 0, len > 2 ? in[2] : 0, len > 3 ? in[3] : 0, len,
			 j ? "takes" : "refuses", same ? "keeps" : "changes");
	json_decref(j);
	j = json_stringn(out, n);
	assert_non_null(j);
	json_decref(j);
	free(out);
}

static void well_formed_exactly_where_jansson_says_so(void **state)
{
	(void)state;
	unsigned char b[4];
	for (unsigned x = 0; x < 0x10000; x++) {
		b[0] = (unsigned char)(x >> 8), b[1] = (unsigned char)x;
		agree(b, 1 + (x < 0x100));
		agree(b, 2);
	}
	for (unsigned x = 0; x < 0x10000; x++) {
		for (unsigned lead = 0xE0; lead <= 0xEF; lead++) {
			b[0] = (unsigned char)lead, b[1] = (unsigned char)(x >> 8);
			b[2] = (unsigned char)x;
			agree(b, 3);
		}
	}
	static const unsigned char last[] = { 0x00, 0x41, 0x7F, 0x80, 0xBF, 0xC0 };
	for (unsigned x = 0; x < 0x10000; x++) {
		for (unsigned lead = 0xF0; lead <= 0xF7; lead++) {
			for (size_t k = 0; k < sizeof(last); k++) {
				b[0] = (unsigned char)lead, b[1] = (unsigned char)(x >> 8);
				b[2] = (unsigned char)x, b[3] = last[k];
				agree(b, 4);
			}
		}
	}
}

static void empty_input_gives_an_empty_string(void **state)
{
	(void)state;
	size_t n = 7;
	char *out = utf8_sanitize(NULL, 0, &n);
	assert_non_null(out);
	assert_int_equal(n, 0);
	assert_string_equal(out, "");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_ill_formed_sequence_becomes_one_replacement),
		cmocka_unit_test(well_formed_exactly_where_jansson_says_so),
		cmocka_unit_test(empty_input_gives_an_empty_string),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
