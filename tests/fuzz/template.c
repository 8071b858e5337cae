/* Fuzz target: route templates. The input is the template text, a newline,
 * then a JSON payload. Parsing must answer 0 or HQ_E_INVAL with a message;
 * rendering with a small cap must stay within it, end in a NUL, be a prefix
 * of the uncapped rendering, and keep valid UTF-8 valid. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/template.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BIG_CAP (1u << 20)

static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		size_t len;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xC2 && c <= 0xDF) {
			len = 2;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			len = 3;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += len;
	}
	return true;
}

static void check_parse_failure(int r, const char *err, const struct template *t)
{
	if (r != HQ_E_INVAL && r != HQ_E_NOMEM)
		abort();
	if (r == HQ_E_INVAL && err[0] == '\0')
		abort(); /* an error without a message */
	if (t != NULL)
		abort(); /* the out-parameter was written on failure */
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void check_variables(const struct template *t, size_t text_len)
{
	size_t n = template_variable_count(t);
	if (n > TEMPLATE_MAX_VARIABLES || template_variable(t, n) != NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		const char *v = template_variable(t, i);
		size_t len = v ? strlen(v) : 0;
		if (len == 0 || len > text_len || is_space(v[0]) || is_space(v[len - 1]))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const uint8_t *nl = memchr(data, '\n', size);
	size_t text_len = nl ? (size_t)(nl - data) : size;

	struct template *t = NULL;
	char err[160] = "";
	int r = template_parse(text, text_len, &t, err, sizeof(err));
	if (r != 0) {
		check_parse_failure(r, err, t);
		return 0;
	}
	if (memchr(text, '\0', text_len))
		abort(); /* a NUL byte was let through */
	check_variables(t, text_len);
	if (!nl) {
		template_free(t);
		return 0;
	}

	json_t *root = json_loadb((const char *)nl + 1, size - text_len - 1, JSON_DECODE_ANY, NULL);
	if (!root) {
		template_free(t);
		return 0;
	}
	/* The cap varies with the input's length, so libFuzzer reaches cuts
	 * everywhere, inside literal text and values alike. */
	size_t cap = size % 61;
	char *small = NULL, *big = NULL;
	size_t small_len = 0, big_len = 0;
	struct template_report small_rep, big_rep;
	if (template_render(t, root, cap, &small, &small_len, &small_rep) != 0 ||
	    template_render(t, root, BIG_CAP, &big, &big_len, &big_rep) != 0)
		abort();

	if (small_len > cap || small[small_len] != '\0' || big_len > BIG_CAP || big[big_len] != '\0')
		abort();
	/* Templates refuse NUL bytes and jansson refuses them in the payload,
	 * so the rendering is one C string. */
	if (strlen(small) != small_len || strlen(big) != big_len)
		abort();
	if (small_len > big_len || memcmp(small, big, small_len) != 0)
		abort(); /* the cut output is not a prefix of the whole */
	if (!big_rep.truncated && small_rep.truncated != (big_len > cap))
		abort();
	/* A cut gives back at most one character, 4 bytes. */
	if (small_rep.truncated && small_len + 4 < cap)
		abort();
	if (small_rep.missing != big_rep.missing || small_rep.first_missing != big_rep.first_missing)
		abort(); /* the report depends on the cap */
	size_t nvars = template_variable_count(t);
	if (small_rep.missing > nvars ||
	    (small_rep.missing == 0) != (small_rep.first_missing == SIZE_MAX) ||
	    (small_rep.missing > 0 && small_rep.first_missing >= nvars))
		abort();
	/* jansson keeps payload strings valid UTF-8, so valid template text
	 * gives valid output, cut or not. */
	if (utf8_valid(data, text_len) &&
	    (!utf8_valid((const unsigned char *)small, small_len) ||
	     !utf8_valid((const unsigned char *)big, big_len)))
		abort();

	free(small);
	free(big);
	json_decref(root);
	template_free(t);
	return 0;
}
