#include "core/jscan.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

struct scan {
	const unsigned char *s;
	size_t n;
	size_t pos;
	const char *what; /* the first error */
	size_t err_pos;
	struct jscan_field *fields;
	size_t nfields;
	int depth;
};

static int fail(struct scan *c, const char *what)
{
	if (!c->what) {
		c->what = what;
		c->err_pos = c->pos;
	}
	return HQ_E_INVAL;
}

static void skip_ws(struct scan *c)
{
	while (c->pos < c->n) {
		unsigned char ch = c->s[c->pos];
		if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
			break;
		c->pos++;
	}
}

static int hex4(struct scan *c, unsigned *v)
{
	if (c->n - c->pos < 4)
		return fail(c, "truncated \\u escape");
	unsigned x = 0;
	for (int i = 0; i < 4; i++) {
		unsigned char ch = c->s[c->pos++];
		unsigned d;
		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
			d = (ch | 0x20) - 'a' + 10;
		else
			return fail(c, "invalid \\u escape");
		x = x << 4 | d;
	}
	*v = x;
	return 0;
}

/* Appends code point cp as UTF-8 to out (when out is not NULL). */
static void put_utf8(char *out, size_t size, size_t *len, unsigned cp)
{
	unsigned char b[4];
	size_t k;
	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	if (!out || *len + k >= size)
		return; /* cut, never split a character */
	memcpy(out + *len, b, k);
	*len += k;
}

/* Length of a valid UTF-8 sequence starting at p (at most left bytes), or
 * 0 when it is not one (overlong forms and surrogates refused). */
static size_t utf8_len(const unsigned char *p, size_t left)
{
	unsigned char c = p[0];
	if (c >= 0xc2 && c <= 0xdf)
		return left >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (left < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && p[1] < 0xa0)
			return 0;
		if (c == 0xed && p[1] > 0x9f)
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (left < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && p[1] < 0x90)
			return 0;
		if (c == 0xf4 && p[1] > 0x8f)
			return 0;
		return 4;
	}
	return 0;
}

/* Scans a string (c->pos at the opening quote). With out, writes the
 * unescaped value, cut to size - 1 bytes, NUL-terminated. */
static int scan_string(struct scan *c, char *out, size_t size, size_t *out_len)
{
	size_t len = 0;
	c->pos++; /* the quote */
	for (;;) {
		/* Fast path: a run of plain ASCII. */
		size_t start = c->pos;
		while (c->pos < c->n) {
			unsigned char ch = c->s[c->pos];
			if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x80)
				break;
			c->pos++;
		}
		if (out && c->pos > start) {
			size_t k = c->pos - start;
			if (len + k >= size)
				k = size > len + 1 ? size - len - 1 : 0;
			memcpy(out + len, c->s + start, k);
			len += k;
		}
		if (c->pos >= c->n)
			return fail(c, "unterminated string");
		unsigned char ch = c->s[c->pos];
		if (ch == '"') {
			c->pos++;
			break;
		}
		if (ch < 0x20)
			return fail(c, "control character in a string");
		if (ch >= 0x80) {
			size_t k = utf8_len(c->s + c->pos, c->n - c->pos);
			if (!k)
				return fail(c, "invalid UTF-8 in a string");
			if (out && len + k < size) {
				memcpy(out + len, c->s + c->pos, k);
				len += k;
			}
			c->pos += k;
			continue;
		}
		/* an escape */
		c->pos++;
		if (c->pos >= c->n)
			return fail(c, "unterminated string");
		ch = c->s[c->pos++];
		unsigned cp;
		switch (ch) {
		case '"': cp = '"'; break;
		case '\\': cp = '\\'; break;
		case '/': cp = '/'; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u': {
			if (hex4(c, &cp) < 0)
				return HQ_E_INVAL;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return fail(c, "lone low surrogate in \\u escape");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				unsigned lo;
				if (c->n - c->pos < 2 || c->s[c->pos] != '\\' || c->s[c->pos + 1] != 'u')
					return fail(c, "lone high surrogate in \\u escape");
				c->pos += 2;
				if (hex4(c, &lo) < 0)
					return HQ_E_INVAL;
				if (lo < 0xdc00 || lo > 0xdfff)
					return fail(c, "invalid surrogate pair in \\u escape");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			break;
		}
		default:
			c->pos--;
			return fail(c, "invalid escape in a string");
		}
		put_utf8(out, size, &len, cp);
	}
	if (out) {
		out[len < size ? len : size - 1] = '\0';
		if (out_len)
			*out_len = len;
	}
	return 0;
}

static int scan_number(struct scan *c)
{
	const unsigned char *s = c->s;
	if (c->pos < c->n && s[c->pos] == '-')
		c->pos++;
	if (c->pos >= c->n)
		return fail(c, "truncated number");
	if (s[c->pos] == '0') {
		c->pos++;
	} else if (s[c->pos] >= '1' && s[c->pos] <= '9') {
		while (c->pos < c->n && s[c->pos] >= '0' && s[c->pos] <= '9')
			c->pos++;
	} else {
		return fail(c, "invalid number");
	}
	if (c->pos < c->n && s[c->pos] == '.') {
		c->pos++;
		if (c->pos >= c->n || s[c->pos] < '0' || s[c->pos] > '9')
			return fail(c, "invalid number: digits expected after '.'");
		while (c->pos < c->n && s[c->pos] >= '0' && s[c->pos] <= '9')
			c->pos++;
	}
	if (c->pos < c->n && (s[c->pos] == 'e' || s[c->pos] == 'E')) {
		c->pos++;
		if (c->pos < c->n && (s[c->pos] == '+' || s[c->pos] == '-'))
			c->pos++;
		if (c->pos >= c->n || s[c->pos] < '0' || s[c->pos] > '9')
			return fail(c, "invalid number: digits expected in the exponent");
		while (c->pos < c->n && s[c->pos] >= '0' && s[c->pos] <= '9')
			c->pos++;
	}
	return 0;
}

static int scan_literal(struct scan *c, const char *word)
{
	size_t k = strlen(word);
	if (c->n - c->pos < k || memcmp(c->s + c->pos, word, k) != 0)
		return fail(c, "invalid literal");
	c->pos += k;
	return 0;
}

static int scan_value(struct scan *c, uint32_t match, int level, enum jscan_type *type);

/* match: bit i set when fields[i]'s path agrees with the keys so far
 * (level keys deep). */
static int scan_object(struct scan *c, uint32_t match, int level)
{
	c->pos++; /* '{' */
	skip_ws(c);
	if (c->pos < c->n && c->s[c->pos] == '}') {
		c->pos++;
		return 0;
	}
	for (;;) {
		skip_ws(c);
		if (c->pos >= c->n || c->s[c->pos] != '"')
			return fail(c, "object key expected");
		/* Keys are compared unescaped; a key longer than any path key
		 * cannot match, so a small buffer does. */
		char key[128];
		size_t key_len = 0;
		size_t key_start = c->pos;
		if (scan_string(c, match ? key : NULL, sizeof(key), &key_len) < 0)
			return HQ_E_INVAL;
		uint32_t sub = 0;
		if (match && c->pos - key_start - 2 < sizeof(key) - 1) {
			for (size_t i = 0; i < c->nfields; i++) {
				const char *want = c->fields[i].path[level];
				if ((match >> i & 1) && want && strlen(want) == key_len &&
				    memcmp(want, key, key_len) == 0)
					sub |= 1u << i;
			}
		}
		skip_ws(c);
		if (c->pos >= c->n || c->s[c->pos] != ':')
			return fail(c, "':' expected after an object key");
		c->pos++;
		enum jscan_type t;
		if (scan_value(c, sub, level + 1, &t) < 0)
			return HQ_E_INVAL;
		skip_ws(c);
		if (c->pos >= c->n)
			return fail(c, "unterminated object");
		if (c->s[c->pos] == ',') {
			c->pos++;
			continue;
		}
		if (c->s[c->pos] == '}') {
			c->pos++;
			return 0;
		}
		return fail(c, "',' or '}' expected in an object");
	}
}

static int scan_array(struct scan *c)
{
	c->pos++; /* '[' */
	skip_ws(c);
	if (c->pos < c->n && c->s[c->pos] == ']') {
		c->pos++;
		return 0;
	}
	for (;;) {
		enum jscan_type t;
		/* Array elements match no path. */
		if (scan_value(c, 0, 0, &t) < 0)
			return HQ_E_INVAL;
		skip_ws(c);
		if (c->pos >= c->n)
			return fail(c, "unterminated array");
		if (c->s[c->pos] == ',') {
			c->pos++;
			continue;
		}
		if (c->s[c->pos] == ']') {
			c->pos++;
			return 0;
		}
		return fail(c, "',' or ']' expected in an array");
	}
}

static int scan_value(struct scan *c, uint32_t match, int level, enum jscan_type *type)
{
	skip_ws(c);
	if (c->pos >= c->n)
		return fail(c, "value expected");
	/* A field whose whole path is consumed sits here. */
	uint32_t here = 0;
	for (size_t i = 0; match && i < c->nfields; i++)
		if ((match >> i & 1) && !c->fields[i].path[level])
			here |= 1u << i;
	uint32_t deeper = match & ~here;
	if (level >= JSCAN_MAX_PATH)
		deeper = 0;

	/* A repeated key counts as its last value (as JSON.parse and jansson
	 * do): a later value at a field's path, or at a key on the way to it,
	 * replaces what an earlier one gave, so every field below starts
	 * again unset ({"sender":{"login":"a"},"sender":{}} has no login). */
	for (size_t i = 0; match && i < c->nfields; i++) {
		if (match >> i & 1) {
			c->fields[i].found = false;
			if (c->fields[i].size)
				c->fields[i].out[0] = '\0';
		}
	}
	int r;
	switch (c->s[c->pos]) {
	case '{':
		if (++c->depth > JSCAN_MAX_DEPTH)
			return fail(c, "nested too deeply");
		*type = JSCAN_OBJECT;
		r = scan_object(c, deeper, level);
		c->depth--;
		return r;
	case '[':
		if (++c->depth > JSCAN_MAX_DEPTH)
			return fail(c, "nested too deeply");
		*type = JSCAN_ARRAY;
		r = scan_array(c);
		c->depth--;
		return r;
	case '"': {
		*type = JSCAN_STRING;
		if (!here)
			return scan_string(c, NULL, 0, NULL);
		/* Extract into the first matching field, copy to the others. */
		struct jscan_field *first = NULL;
		for (size_t i = 0; i < c->nfields; i++) {
			if (!(here >> i & 1))
				continue;
			struct jscan_field *f = &c->fields[i];
			if (!first) {
				if (scan_string(c, f->out, f->size, NULL) < 0)
					return HQ_E_INVAL;
				first = f;
			} else if (f->size) {
				snprintf(f->out, f->size, "%s", first->out);
			}
			f->found = true;
		}
		return 0;
	}
	case 't':
		*type = JSCAN_LITERAL;
		return scan_literal(c, "true");
	case 'f':
		*type = JSCAN_LITERAL;
		return scan_literal(c, "false");
	case 'n':
		*type = JSCAN_LITERAL;
		return scan_literal(c, "null");
	default: {
		*type = JSCAN_NUMBER;
		size_t start = c->pos;
		if (scan_number(c) < 0)
			return HQ_E_INVAL;
		for (size_t i = 0; i < c->nfields; i++) {
			struct jscan_field *f = &c->fields[i];
			if (!(here >> i & 1) || !f->numbers)
				continue;
			size_t len = c->pos - start;
			if (f->size) {
				size_t k = len < f->size ? len : f->size - 1;
				memcpy(f->out, c->s + start, k);
				f->out[k] = '\0';
			}
			f->found = true;
		}
		return 0;
	}
	}
}

int jscan(const char *s, size_t n, struct jscan_field *fields, size_t nfields,
	  enum jscan_type *top, char *err, size_t err_size)
{
	if (nfields > JSCAN_MAX_FIELDS)
		return HQ_E_INVAL;
	struct scan c = { (const unsigned char *)s, n, 0, NULL, 0, fields, nfields, 0 };
	uint32_t all = 0;
	for (size_t i = 0; i < nfields; i++) {
		fields[i].found = false;
		if (fields[i].size)
			fields[i].out[0] = '\0';
		all |= 1u << i;
	}
	enum jscan_type t = JSCAN_NONE;
	int r = scan_value(&c, all, 0, &t);
	if (r == 0) {
		skip_ws(&c);
		if (c.pos != n)
			r = fail(&c, "unexpected text after the value");
	}
	if (r < 0) {
		for (size_t i = 0; i < nfields; i++)
			fields[i].found = false;
		/* Position as people count it: 1-based line and column. */
		size_t line = 1, col = 1;
		for (size_t i = 0; i < c.err_pos && i < n; i++) {
			if (s[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		snprintf(err, err_size, "line %zu column %zu: %s", line, col, c.what);
		return HQ_E_INVAL;
	}
	*top = t;
	return 0;
}
