#include "core/form.h"

#include <string.h>

#include "util/error.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes s[0..n) into out (cut at size - 1); the full length in *len. */
static int decode(const char *s, size_t n, char *out, size_t size, size_t *len)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (i + 2 >= n)
				return HQ_E_INVAL;
			int hi = hex_digit(s[i + 1]);
			int lo = hex_digit(s[i + 2]);
			if (hi < 0 || lo < 0)
				return HQ_E_INVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (size && o < size - 1)
			out[o] = c;
		o++;
	}
	if (size)
		out[o < size ? o : size - 1] = '\0';
	if (len)
		*len = o;
	return 0;
}

int form_get(const char *body, size_t body_len, const char *name, char *out, size_t size,
	     size_t *len)
{
	size_t name_len = strlen(name);
	size_t i = 0;
	while (i < body_len) {
		const char *field = body + i;
		const char *amp = memchr(field, '&', body_len - i);
		size_t flen = amp ? (size_t)(amp - field) : body_len - i;
		const char *eq = memchr(field, '=', flen);
		size_t klen = eq ? (size_t)(eq - field) : flen;
		/* Names are compared as sent: every name hookq looks for is
		 * plain ASCII that a sender has no reason to escape. */
		if (klen == name_len && memcmp(field, name, name_len) == 0) {
			const char *v = eq ? eq + 1 : field + flen;
			size_t vlen = eq ? flen - klen - 1 : 0;
			return decode(v, vlen, out, size, len);
		}
		i += flen + 1;
	}
	return HQ_E_NOTFOUND;
}
