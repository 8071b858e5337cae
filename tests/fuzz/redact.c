/* Fuzz target: redact(). The input's first line is one known secret and
 * the rest is the text; a second secret is a slice of the text, so secrets
 * do occur in it. Neither secret (when 8 bytes or more and not a piece of
 * the marker itself) may appear in the output; with no secrets the output
 * must differ from the text only if something was counted, and redacting
 * the shapes a second time must change nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *slice(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void check_secret_gone(const char *out, size_t out_len, const char *secret)
{
	size_t m = strlen(secret);
	if (m < REDACT_SECRET_MIN || strstr(REDACT_MARKER, secret))
		return;
	if (memmem(out, out_len, secret, m))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t first = nl ? (size_t)(nl - data) : 0;
	const char *text = (const char *)data + (nl ? first + 1 : 0);
	size_t len = size - (size_t)(text - (const char *)data);

	char *secrets[2];
	secrets[0] = slice(data, first);
	size_t m = REDACT_SECRET_MIN + first % 17;
	if (m > len)
		m = len;
	size_t off = len > m ? (first * 7919 + m) % (len - m + 1) : 0;
	secrets[1] = slice((const uint8_t *)text + off, m);

	size_t out_len, count;
	char *out = redact(text, len, (const char *const *)secrets, 2, &out_len, &count);
	if (!out)
		abort();
	check_secret_gone(out, out_len, secrets[0]);
	check_secret_gone(out, out_len, secrets[1]);
	if (out[out_len] != '\0')
		abort();
	free(out);

	size_t len1, count1, len2, count2;
	char *once = redact(text, len, NULL, 0, &len1, &count1);
	if (!once)
		abort();
	if (count1 == 0 && (len1 != len || memcmp(once, text, len) != 0))
		abort();
	char *twice = redact(once, len1, NULL, 0, &len2, &count2);
	if (!twice)
		abort();
	if (len2 != len1 || memcmp(once, twice, len1) != 0 || count2 > count1)
		abort();
	free(once);
	free(twice);
	free(secrets[0]);
	free(secrets[1]);
	return 0;
}
