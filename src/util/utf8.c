#include "util/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* The length of the well-formed sequence at s (n > 0 bytes left), per
 * Unicode table 3-7 (the second byte's range rules out overlongs,
 * surrogates and code points past U+10FFFF), or 0 with *bad the bytes
 * of its maximal subpart. */
static size_t seq(const unsigned char *s, size_t n, size_t *bad)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t len;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		lo = c == 0xE0 ? 0xA0 : 0x80;
		hi = c == 0xED ? 0x9F : 0xBF;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		lo = c == 0xF0 ? 0x90 : 0x80;
		hi = c == 0xF4 ? 0x8F : 0xBF;
	} else {
		*bad = 1;
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if (i == n || s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xBF)) {
			*bad = i;
			return 0;
		}
	}
	return len;
}

/* One pass over s: the length of the result, written to out unless out
 * is NULL (the first pass sizes the copy). */
static size_t sanitize_pass(const unsigned char *s, size_t len, char *out)
{
	size_t i = 0, o = 0;
	while (i < len) {
		size_t bad = 0, n = seq(s + i, len - i, &bad);
		if (n > 0) {
			if (out)
				memcpy(out + o, s + i, n);
			o += n;
			i += n;
		} else {
			if (out)
				memcpy(out + o, replacement, sizeof(replacement) - 1);
			o += sizeof(replacement) - 1;
			i += bad;
		}
	}
	return o;
}

char *utf8_sanitize(const char *s, size_t len, size_t *out_len)
{
	/* A replaced byte becomes at most 3: no overflow below this. */
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	const unsigned char *u = (const unsigned char *)s;
	size_t n = sanitize_pass(u, len, NULL);
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	sanitize_pass(u, len, out);
	out[n] = '\0';
	*out_len = n;
	return out;
}
