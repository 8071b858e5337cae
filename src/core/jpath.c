#include "core/jpath.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

static int fail(char *err, size_t size, size_t col, const char *what)
{
	snprintf(err, size, "column %zu: %s", col + 1, what);
	return HQ_E_INVAL;
}

int jpath_parse(const char *s, size_t len, struct jpath *ret, char *err, size_t err_size)
{
	struct jpath p;
	memset(&p, 0, sizeof(p));
	size_t out = 0, i = 0;
	if (len == 0)
		return fail(err, err_size, 0, "empty path");
	if (len >= sizeof(p.text))
		return fail(err, err_size, 0, "path longer than 255 characters");
	bool want_key = true; /* at the start or after a dot */
	while (i < len) {
		if (p.n == JPATH_MAX_STEPS)
			return fail(err, err_size, i, "more than 16 steps");
		if (s[i] == '[') {
			if (i + 1 < len && s[i + 1] == '"') {
				/* ["key with.dots"] */
				size_t start = i + 2, j = start;
				while (j < len && s[j] != '"') {
					if (s[j] == '\0')
						return fail(err, err_size, j, "NUL byte in a key");
					j++;
				}
				if (j + 1 >= len || s[j + 1] != ']')
					return fail(err, err_size, i, "unterminated [\"");
				if (j == start)
					return fail(err, err_size, i, "empty key");
				p.steps[p.n].key = (int)out;
				memcpy(p.text + out, s + start, j - start);
				out += j - start;
				p.text[out++] = '\0';
				p.n++;
				i = j + 2;
			} else {
				size_t j = i + 1, v = 0;
				if (j >= len || s[j] < '0' || s[j] > '9')
					return fail(err, err_size, i, "[ must hold an index or a quoted key");
				while (j < len && s[j] >= '0' && s[j] <= '9') {
					if (v > 1000000)
						return fail(err, err_size, i, "index too large");
					v = v * 10 + (size_t)(s[j] - '0');
					j++;
				}
				if (j >= len || s[j] != ']')
					return fail(err, err_size, i, "unterminated [");
				p.steps[p.n].key = -1;
				p.steps[p.n].index = v;
				p.n++;
				i = j + 1;
			}
			want_key = false;
			continue;
		}
		if (s[i] == '.') {
			if (want_key)
				return fail(err, err_size, i, "empty key");
			want_key = true;
			i++;
			continue;
		}
		if (!want_key)
			return fail(err, err_size, i, "a key must follow a dot");
		size_t start = i;
		while (i < len && s[i] != '.' && s[i] != '[') {
			unsigned char c = (unsigned char)s[i];
			if (c < 0x21 || c == 0x7f || c == '"' || c == ']' || c == '{' || c == '}')
				return fail(err, err_size, i, "unexpected character in a key");
			i++;
		}
		p.steps[p.n].key = (int)out;
		memcpy(p.text + out, s + start, i - start);
		out += i - start;
		p.text[out++] = '\0';
		p.n++;
		want_key = false;
	}
	if (want_key)
		return fail(err, err_size, len, "the path ends with a dot");
	*ret = p;
	return 0;
}

json_t *jpath_get(const struct jpath *p, const json_t *root)
{
	json_t *v = (json_t *)(uintptr_t)root;
	for (size_t i = 0; v && i < p->n; i++)
		v = p->steps[i].key >= 0 ? json_object_get(v, p->text + p->steps[i].key) :
					   json_array_get(v, p->steps[i].index);
	return v;
}
