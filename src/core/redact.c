/* redact: three steps over a mask of the text's bytes. Known secrets are
 * found with KMP (overlaps included) and token shapes by hand-written
 * scanners; both only set mask bytes, so overlapping matches need no
 * arbitration. Authorization values come last because their "end of line"
 * is the first line break that is not itself redacted (a PEM block inside
 * a header would otherwise end the value early and a second pass would
 * redact more). Then the output is built run by run, and a secret that a
 * marker and its neighbours happen to spell is redacted too. */
#include "core/redact.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MARKER_LEN (sizeof(REDACT_MARKER) - 1)
/* Longest "<label>" in a PEM armour line ("ENCRYPTED ", "OPENSSH ", ...). */
#define PEM_LABEL_MAX 64

enum cls {
	CLS_ALNUM, /* [A-Za-z0-9] */
	CLS_WORD,  /* [A-Za-z0-9_] */
	CLS_DASH,  /* [A-Za-z0-9-] */
	CLS_JWT,   /* [A-Za-z0-9_-] */
	CLS_UPPER, /* [A-Z0-9] */
};

static bool in_cls(unsigned char c, enum cls k)
{
	bool upper = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
	bool alnum = upper || (c >= 'a' && c <= 'z');
	switch (k) {
	case CLS_ALNUM:
		return alnum;
	case CLS_WORD:
		return alnum || c == '_';
	case CLS_DASH:
		return alnum || c == '-';
	case CLS_JWT:
		return alnum || c == '_' || c == '-';
	case CLS_UPPER:
		return upper;
	}
	return false;
}

/* The end of the last run of one class scanned for one purpose. Scanners
 * visit positions left to right, so a run is scanned once however many
 * candidates inside it ask (xoxb-xoxb-xoxb-... would be quadratic). */
struct run {
	size_t lo, hi;
};

struct scan {
	const unsigned char *t;
	size_t len;
	struct run gh, pat, slack, jwt[3];
	/* The first PEM end line at or after any position in [from, at]
	 * starts at at and ends at stop (at == len: there is none). */
	bool pem_valid;
	size_t pem_from, pem_at, pem_stop;
};

static size_t run_end(const struct scan *s, size_t p, enum cls k, struct run *c)
{
	if (p >= c->lo && p < c->hi)
		return c->hi;
	size_t e = p;
	while (e < s->len && in_cls(s->t[e], k))
		e++;
	if (e > p) {
		c->lo = p;
		c->hi = e;
	}
	return e;
}

static bool at(const struct scan *s, size_t p, const char *lit)
{
	size_t n = strlen(lit);
	return p <= s->len && s->len - p >= n && memcmp(s->t + p, lit, n) == 0;
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static bool at_ci(const struct scan *s, size_t p, const char *lit)
{
	size_t n = strlen(lit);
	if (p > s->len || s->len - p < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(s->t[p + i]) != (unsigned char)lit[i])
			return false;
	return true;
}

/* Each matcher returns the end of the match starting at p, or 0. */

static size_t match_github(struct scan *s, size_t p)
{
	if (at(s, p, "gh") && p + 3 < s->len && memchr("pousr", s->t[p + 2], 5) &&
	    s->t[p + 3] == '_') {
		size_t e = run_end(s, p + 4, CLS_ALNUM, &s->gh);
		return e - (p + 4) >= 30 ? e : 0;
	}
	if (at(s, p, "github_pat_")) {
		size_t e = run_end(s, p + 11, CLS_WORD, &s->pat);
		return e - (p + 11) >= 20 ? e : 0;
	}
	return 0;
}

static size_t match_slack(struct scan *s, size_t p)
{
	bool xox = at(s, p, "xox") && p + 4 < s->len && memchr("bpars", s->t[p + 3], 5) &&
		   s->t[p + 4] == '-';
	if (!xox && !at(s, p, "xapp-"))
		return 0;
	size_t e = run_end(s, p + 5, CLS_DASH, &s->slack);
	return e - (p + 5) >= 10 ? e : 0;
}

/* Key ids are exactly 20 characters, so one followed by more word
 * characters is something else. */
static size_t match_aws(const struct scan *s, size_t p)
{
	if (!at(s, p, "AKIA") && !at(s, p, "ASIA"))
		return 0;
	if (s->len - p < 20)
		return 0;
	for (size_t i = p + 4; i < p + 20; i++)
		if (!in_cls(s->t[i], CLS_UPPER))
			return 0;
	return p + 20 == s->len || !in_cls(s->t[p + 20], CLS_WORD) ? p + 20 : 0;
}

/* The delimiting '.' is outside the segments' class, so the greedy run is
 * the only candidate for each segment: no backtracking needed. */
static size_t match_jwt(struct scan *s, size_t p)
{
	if (!at(s, p, "eyJ"))
		return 0;
	size_t e1 = run_end(s, p + 3, CLS_JWT, &s->jwt[0]);
	if (e1 - (p + 3) < 10 || !at(s, e1, ".eyJ"))
		return 0;
	size_t e2 = run_end(s, e1 + 4, CLS_JWT, &s->jwt[1]);
	if (e2 - (e1 + 4) < 10 || !at(s, e2, "."))
		return 0;
	size_t e3 = run_end(s, e2 + 1, CLS_JWT, &s->jwt[2]);
	return e3 - (e2 + 1) >= 10 ? e3 : 0;
}

/* "<label>PRIVATE KEY-----" from q, label [A-Z0-9 ]*: its end, or 0. */
static size_t pem_armour_end(const struct scan *s, size_t q)
{
	for (size_t i = q; i < s->len && i - q <= PEM_LABEL_MAX; i++) {
		if (at(s, i, "PRIVATE KEY-----"))
			return i + 16;
		if (!in_cls(s->t[i], CLS_UPPER) && s->t[i] != ' ')
			return 0;
	}
	return 0;
}

static size_t pem_end(struct scan *s, size_t from)
{
	if (s->pem_valid && from >= s->pem_from && from <= s->pem_at)
		return s->pem_stop;
	size_t q = from, hit_at = s->len, stop = s->len;
	while (q < s->len) {
		const unsigned char *h = memmem(s->t + q, s->len - q, "-----END ", 9);
		if (!h)
			break;
		size_t e = pem_armour_end(s, (size_t)(h - s->t) + 9);
		if (e) {
			hit_at = (size_t)(h - s->t);
			stop = e;
			break;
		}
		q = (size_t)(h - s->t) + 1;
	}
	s->pem_valid = true;
	s->pem_from = from;
	s->pem_at = hit_at;
	s->pem_stop = stop;
	return stop;
}

static size_t match_pem(struct scan *s, size_t p)
{
	if (!at(s, p, "-----BEGIN "))
		return 0;
	size_t e = pem_armour_end(s, p + 11);
	return e ? pem_end(s, e) : 0;
}

/* Where the value of an Authorization header starting at p begins, or 0. */
static size_t auth_value(const struct scan *s, size_t p)
{
	if (!at_ci(s, p, "authorization"))
		return 0;
	size_t q = p + 13;
	if (q < s->len && (s->t[q] == '"' || s->t[q] == '\''))
		q++;
	if (q >= s->len || s->t[q] != ':')
		return 0;
	q++;
	while (q < s->len && (s->t[q] == ' ' || s->t[q] == '\t'))
		q++;
	if (q < s->len && (s->t[q] == '"' || s->t[q] == '\''))
		q++;
	if (at_ci(s, q, "bearer"))
		q += 6;
	else if (at_ci(s, q, "basic"))
		q += 5;
	else
		return 0;
	size_t ws = q;
	while (q < s->len && (s->t[q] == ' ' || s->t[q] == '\t'))
		q++;
	if (q == ws || q >= s->len || s->t[q] == '\r' || s->t[q] == '\n')
		return 0;
	return q;
}

/* Masks [from, to); *hi is how far this caller has masked already, so
 * callers going left to right set each byte once. */
static void mask_range(unsigned char *mask, size_t from, size_t to, size_t *hi)
{
	if (from < *hi)
		from = *hi;
	if (to > from)
		memset(mask + from, 1, to - from);
	if (to > *hi)
		*hi = to;
}

static bool word_boundary(const struct scan *s, size_t p)
{
	return p == 0 || !in_cls(s->t[p - 1], CLS_WORD);
}

static void mask_shapes(struct scan *s, unsigned char *mask)
{
	size_t hi = 0;
	for (size_t p = 0; p < s->len && hi < s->len; p++) {
		size_t e = 0;
		switch (s->t[p]) {
		case 'g':
			e = word_boundary(s, p) ? match_github(s, p) : 0;
			break;
		case 'x':
			e = word_boundary(s, p) ? match_slack(s, p) : 0;
			break;
		case 'A':
			e = word_boundary(s, p) ? match_aws(s, p) : 0;
			break;
		case 'e':
			e = word_boundary(s, p) ? match_jwt(s, p) : 0;
			break;
		case '-':
			e = match_pem(s, p);
			break;
		default:
			break;
		}
		if (e)
			mask_range(mask, p, e, &hi);
	}
	/* An END armour that closes no BEGIN ... END block matched above: a
	 * key whose BEGIN line was cut off (text that is a tail) or garbled.
	 * Masked from the previous END armour (or the start) through it, so
	 * no END armour survives: redacting the result again changes nothing.
	 * (memmem on an empty text may be given NULL: not called then.) */
	size_t after_prev = 0;
	const unsigned char *h = s->len ? memmem(s->t, s->len, "-----END ", 9) : NULL;
	while (h) {
		size_t at_end = (size_t)(h - s->t);
		size_t e = pem_armour_end(s, at_end + 9);
		if (e) {
			if (!mask[at_end]) {
				size_t top = 0;
				mask_range(mask, after_prev, e, &top);
			}
			after_prev = e;
		}
		size_t next = e ? e : at_end + 1;
		h = next < s->len ? memmem(s->t + next, s->len - next, "-----END ", 9) : NULL;
	}
}

static void mask_auth(const struct scan *s, unsigned char *mask)
{
	size_t hi = 0;
	for (size_t p = 0; p < s->len; p++) {
		if ((s->t[p] | 0x20) != 'a' || !word_boundary(s, p))
			continue;
		size_t v = auth_value(s, p);
		if (!v)
			continue;
		size_t e = v;
		while (e < s->len && (mask[e] || (s->t[e] != '\n' && s->t[e] != '\r')))
			e++;
		mask_range(mask, v, e, &hi);
		/* A header inside this value ends at the same line break. */
		p = e;
	}
}

/* Every occurrence, overlapping ones included, in O(len + m). */
static int mask_secret(const unsigned char *t, size_t len, const unsigned char *pat, size_t m,
		       unsigned char *mask)
{
	if (m > len)
		return 0;
	size_t *fail = malloc(m * sizeof(*fail));
	if (!fail)
		return -1;
	fail[0] = 0;
	for (size_t i = 1, k = 0; i < m; i++) {
		while (k && pat[i] != pat[k])
			k = fail[k - 1];
		if (pat[i] == pat[k])
			k++;
		fail[i] = k;
	}
	size_t hi = 0;
	for (size_t i = 0, k = 0; i < len; i++) {
		while (k && t[i] != pat[k])
			k = fail[k - 1];
		if (t[i] == pat[k])
			k++;
		if (k == m) {
			mask_range(mask, i + 1 - m, i + 1, &hi);
			k = fail[k - 1];
		}
	}
	free(fail);
	return 0;
}

struct needle {
	const unsigned char *p;
	size_t m;
};

/* A marker in the output: output offset, and the input run it stands for. */
struct mark {
	size_t out, in_lo, in_hi;
};

struct build {
	const unsigned char *t;
	size_t len;
	unsigned char *mask;
	char *out;
	size_t out_len, out_cap;
	struct mark *marks;
	size_t n_marks, marks_cap;
	/* Known secrets with '[' or ']': only they can straddle a marker. */
	const struct needle *brk;
	size_t n_brk;
};

static int out_push(struct build *b, char c)
{
	if (b->out_len + 1 >= b->out_cap) {
		if (b->out_cap > SIZE_MAX / 2)
			return -1;
		char *o = realloc(b->out, b->out_cap * 2);
		if (!o)
			return -1;
		b->out = o;
		b->out_cap *= 2;
	}
	b->out[b->out_len++] = c;
	return 0;
}

static int mark_push(struct build *b, size_t in_lo, size_t in_hi)
{
	if (b->n_marks == b->marks_cap) {
		size_t cap = b->marks_cap ? b->marks_cap * 2 : 16;
		if (cap > SIZE_MAX / sizeof(*b->marks))
			return -1;
		struct mark *m = realloc(b->marks, cap * sizeof(*m));
		if (!m)
			return -1;
		b->marks = m;
		b->marks_cap = cap;
	}
	b->marks[b->n_marks++] = (struct mark){ b->out_len, in_lo, in_hi };
	return 0;
}

/* Input offset of the text byte at output offset pos, marks[j] being the
 * last mark before it (j == SIZE_MAX: none, offsets coincide). */
static size_t text_in(const struct build *b, size_t j, size_t pos)
{
	if (j == SIZE_MAX)
		return pos;
	return b->marks[j].in_hi + (pos - (b->marks[j].out + MARKER_LEN));
}

/* The output's last m bytes [s, end) spell a secret and hold both marker
 * and text bytes: redact their text bytes too, which merges everything in
 * [s, end) into one run. Drops the output from that run's start and
 * returns the run as [*lo, *hi), widened over masked bytes after it. */
static void widen(struct build *b, size_t s, size_t end, size_t *lo, size_t *hi)
{
	size_t top = b->n_marks - 1, f = top;
	while (f > 0 && b->marks[f - 1].out + MARKER_LEN > s)
		f--;
	/* Text bytes after each intersecting mark, then before the first. */
	for (size_t j = f; j <= top; j++) {
		size_t from = b->marks[j].out + MARKER_LEN;
		size_t to = j < top ? b->marks[j + 1].out : end;
		for (size_t pos = from; pos < to; pos++)
			b->mask[text_in(b, j, pos)] = 1;
	}
	size_t prev = f > 0 ? f - 1 : SIZE_MAX;
	for (size_t pos = s; pos < b->marks[f].out; pos++)
		b->mask[text_in(b, prev, pos)] = 1;

	size_t out_start;
	if (s >= b->marks[f].out) {
		*lo = b->marks[f].in_lo;
		out_start = b->marks[f].out;
	} else {
		*lo = text_in(b, prev, s);
		out_start = s;
	}
	if (end <= b->marks[top].out + MARKER_LEN)
		*hi = b->marks[top].in_hi;
	else
		*hi = text_in(b, top, end - 1) + 1;
	while (*hi < b->len && b->mask[*hi])
		(*hi)++;
	b->n_marks = f;
	b->out_len = out_start;
}

static bool straddle(struct build *b, size_t *lo, size_t *hi)
{
	if (!b->n_marks)
		return false;
	const struct mark *top = &b->marks[b->n_marks - 1];
	size_t end = b->out_len;
	for (size_t i = 0; i < b->n_brk; i++) {
		size_t m = b->brk[i].m;
		if (end < m)
			continue;
		size_t s = end - m;
		if (top->out + MARKER_LEN <= s)
			continue; /* misses every marker */
		if (s >= top->out && end <= top->out + MARKER_LEN)
			continue; /* inside the marker: the secret is part of it */
		if (memcmp(b->out + s, b->brk[i].p, m) != 0)
			continue;
		widen(b, s, end, lo, hi);
		return true;
	}
	return false;
}

/* Emits a marker for the run [lo, hi), checking after each byte; a
 * straddling secret widens the run and the marker starts over. Each
 * restart masks at least one more byte, so this ends. */
static int emit_marker(struct build *b, size_t lo, size_t *hi)
{
again:
	if (mark_push(b, lo, *hi) < 0)
		return -1;
	for (size_t k = 0; k < MARKER_LEN; k++) {
		if (out_push(b, REDACT_MARKER[k]) < 0)
			return -1;
		if (straddle(b, &lo, hi))
			goto again;
	}
	return 0;
}

static int build_output(struct build *b)
{
	size_t i = 0;
	while (i < b->len) {
		size_t lo = i, hi = i;
		if (!b->mask[i]) {
			if (out_push(b, (char)b->t[i]) < 0)
				return -1;
			i++;
			if (!straddle(b, &lo, &hi))
				continue;
		} else {
			while (hi < b->len && b->mask[hi])
				hi++;
		}
		if (emit_marker(b, lo, &hi) < 0)
			return -1;
		i = hi;
	}
	return 0;
}

char *redact(const char *text, size_t len, const char *const *secrets, size_t n,
	     size_t *out_len, size_t *count)
{
	const unsigned char *t = (const unsigned char *)text;
	unsigned char *mask = NULL;
	struct needle *brk = NULL;
	struct build b = { .t = t, .len = len };
	char *ret = NULL;

	if (len > SIZE_MAX / (MARKER_LEN + 1) - 1)
		goto out;
	mask = calloc(len ? len : 1, 1);
	if (!mask)
		goto out;
	if (n) {
		brk = calloc(n, sizeof(*brk));
		if (!brk)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!secrets[i])
			continue;
		size_t m = strlen(secrets[i]);
		if (m < REDACT_SECRET_MIN)
			continue;
		const unsigned char *p = (const unsigned char *)secrets[i];
		if (mask_secret(t, len, p, m, mask) < 0)
			goto out;
		if (memchr(p, '[', m) || memchr(p, ']', m))
			brk[b.n_brk++] = (struct needle){ p, m };
	}
	struct scan s = { .t = t, .len = len };
	mask_shapes(&s, mask);
	mask_auth(&s, mask);

	/* Start with the exact size; only a straddling secret reallocates. */
	size_t size = 1;
	for (size_t i = 0; i < len; i++)
		size += !mask[i] ? 1 : (i == 0 || !mask[i - 1]) ? MARKER_LEN : 0;
	b.out = malloc(size);
	if (!b.out)
		goto out;
	b.out_cap = size;
	b.mask = mask;
	b.brk = brk;
	if (build_output(&b) < 0)
		goto out;
	b.out[b.out_len] = '\0';
	*out_len = b.out_len;
	*count = b.n_marks;
	ret = b.out;
	b.out = NULL;
out:
	free(b.out);
	free(b.marks);
	free(brk);
	free(mask);
	return ret;
}
