#include "core/template.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jpath.h"
#include "util/buf.h"
#include "util/error.h"

struct template_var {
	size_t lit_len; /* bytes of literal text before it, in t->lit */
	size_t name;    /* offset of its path text in t->names */
	struct jpath path;
};

/* The template is kept as literal runs between variables: variable i comes
 * after vars[i].lit_len more bytes of lit, and what is left of lit after
 * the last variable closes the text. */
struct template {
	char *lit; /* the literal text with {{{{ already turned into {{ */
	size_t lit_len;
	char *names; /* the variables' path texts, each NUL-terminated */
	struct template_var *vars;
	size_t n;
	size_t cap;
};

static int fail(char *err, size_t size, size_t col, const char *what)
{
	snprintf(err, size, "column %zu: %s", col + 1, what);
	return HQ_E_INVAL;
}

/* jpath counts its columns from the start of the path, but the author
 * looks for them in the template, so they are moved by where the path
 * starts (path_off). Should jpath's message ever lose its "column N: "
 * form, it is passed on whole after the path's own column. */
static int fail_path(char *err, size_t size, size_t path_off, const char *perr)
{
	static const char prefix[] = "column ";
	size_t col = 0, i = sizeof(prefix) - 1;
	if (strncmp(perr, prefix, i) == 0) {
		/* A path is shorter than JPATH_MAX_TEXT, so larger numbers are
		 * not jpath's and the loop cannot overflow. */
		while (perr[i] >= '0' && perr[i] <= '9' && col <= JPATH_MAX_TEXT) {
			col = col * 10 + (size_t)(perr[i] - '0');
			i++;
		}
		if (col >= 1 && col <= JPATH_MAX_TEXT + 1 && perr[i] == ':' && perr[i + 1] == ' ') {
			snprintf(err, size, "column %zu: invalid variable: %s", path_off + col,
				 perr + i + 2);
			return HQ_E_INVAL;
		}
	}
	snprintf(err, size, "column %zu: invalid variable: %s", path_off + 1, perr);
	return HQ_E_INVAL;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int add_var(struct template *t)
{
	if (t->n < t->cap)
		return 0;
	size_t cap = t->cap ? t->cap * 2 : 8;
	if (cap > TEMPLATE_MAX_VARIABLES)
		cap = TEMPLATE_MAX_VARIABLES;
	struct template_var *v = realloc(t->vars, cap * sizeof(*v));
	if (!v)
		return HQ_E_NOMEM;
	t->vars = v;
	t->cap = cap;
	return 0;
}

int template_parse(const char *text, size_t len, struct template **ret, char *err,
		   size_t err_size)
{
	if (len > TEMPLATE_MAX_TEXT) {
		snprintf(err, err_size, "template longer than %d bytes", TEMPLATE_MAX_TEXT);
		return HQ_E_INVAL;
	}
	/* A NUL would end the rendered prompt early for whoever reads it as a
	 * C string, and inside a quoted key (["a\0b"]) it would make the
	 * lookup, and the name template_variable() gives, quietly shorter. */
	const char *nul = memchr(text, '\0', len);
	if (nul)
		return fail(err, err_size, (size_t)(nul - text), "NUL byte");
	int r = HQ_E_NOMEM;
	struct template *t = calloc(1, sizeof(*t));
	if (!t)
		return r;
	/* Literal runs and path texts each come from disjoint parts of the
	 * text, and every variable spends at least 4 bytes of braces on a
	 * 1-byte NUL, so len + 1 bytes hold either. */
	t->lit = malloc(len + 1);
	t->names = malloc(len + 1);
	if (!t->lit || !t->names)
		goto out_free;
	size_t names_len = 0, lit_mark = 0, i = 0;
	while (i < len) {
		const char *open = memmem(text + i, len - i, "{{", 2);
		size_t stop = open ? (size_t)(open - text) : len;
		memcpy(t->lit + t->lit_len, text + i, stop - i);
		t->lit_len += stop - i;
		i = stop;
		if (!open)
			break;
		if (len - i >= 4 && text[i + 2] == '{' && text[i + 3] == '{') {
			memcpy(t->lit + t->lit_len, "{{", 2);
			t->lit_len += 2;
			i += 4;
			continue;
		}
		const char *close = memmem(text + i + 2, len - i - 2, "}}", 2);
		if (!close) {
			r = fail(err, err_size, i, "unterminated {{");
			goto out_free;
		}
		size_t a = i + 2, b = (size_t)(close - text);
		while (a < b && is_space(text[a]))
			a++;
		while (b > a && is_space(text[b - 1]))
			b--;
		if (a == b) {
			r = fail(err, err_size, i, "empty variable");
			goto out_free;
		}
		if (t->n == TEMPLATE_MAX_VARIABLES) {
			r = fail(err, err_size, i, "more than 256 variables");
			goto out_free;
		}
		struct jpath path;
		char perr[128];
		if (jpath_parse(text + a, b - a, &path, perr, sizeof(perr)) < 0) {
			r = fail_path(err, err_size, a, perr);
			goto out_free;
		}
		r = add_var(t);
		if (r < 0)
			goto out_free;
		struct template_var *v = &t->vars[t->n++];
		v->lit_len = t->lit_len - lit_mark;
		lit_mark = t->lit_len;
		v->name = names_len;
		v->path = path;
		memcpy(t->names + names_len, text + a, b - a);
		names_len += b - a;
		t->names[names_len++] = '\0';
		i = (size_t)(close - text) + 2;
	}
	*ret = t;
	return 0;
out_free:
	template_free(t);
	return r;
}

void template_free(struct template *t)
{
	if (!t)
		return;
	free(t->lit);
	free(t->names);
	free(t->vars);
	free(t);
}

size_t template_variable_count(const struct template *t)
{
	return t->n;
}

const char *template_variable(const struct template *t, size_t i)
{
	return i < t->n ? t->names + t->vars[i].name : NULL;
}

bool template_variable_found(const struct template *t, size_t i, const json_t *root)
{
	return i < t->n && jpath_get(&t->vars[i].path, root) != NULL;
}

/* The output: a buffer capped at max_out that, once something did not
 * fit, takes nothing more. */
struct out {
	struct buf b;
	bool full;
	int err; /* the first failure inside a jansson callback */
};

/* Appends s[0..n), or as much of it as fits. */
static int out_write(struct out *o, const char *s, size_t n)
{
	if (o->full || n == 0)
		return 0;
	size_t room = o->b.max - o->b.len;
	size_t take = n < room ? n : room;
	int r = buf_append(&o->b, s, take);
	if (r < 0)
		return r;
	if (take == n)
		return 0;
	o->full = true;
	/* The first byte left out continues a character, so the bytes of it
	 * that fitted go too: a prompt must stay valid UTF-8. The start is
	 * looked for at most 3 bytes back, as far as a character reaches. */
	if (((unsigned char)s[take] & 0xC0) == 0x80) {
		size_t k = o->b.len, low = k > 3 ? k - 3 : 0;
		while (k > low && ((unsigned char)o->b.data[k - 1] & 0xC0) == 0x80)
			k--;
		if (k > 0 && (unsigned char)o->b.data[k - 1] >= 0xC0) {
			o->b.len = k - 1;
			o->b.data[o->b.len] = '\0';
		}
	}
	return 0;
}

static int dump_cb(const char *s, size_t n, void *data)
{
	struct out *o = data;
	int r = out_write(o, s, n);
	if (r < 0) {
		o->err = r;
		return -1;
	}
	/* Stops jansson from encoding what would not be kept anyway. */
	return o->full ? -1 : 0;
}

/* jansson prints reals with 17 significant digits, so 0.1 would come out
 * as 0.10000000000000001; the shortest text that reads back as the same
 * number is what the sender most likely wrote. (Under a locale whose
 * decimal point is not '.', strtod never agrees and 17 digits are used:
 * longer, still right.) */
static int write_real(struct out *o, const json_t *v)
{
	double d = json_real_value(v);
	char s[64];
	size_t n = 0;
	for (int p = 1; p <= 17; p++) {
		n = json_dumpb(v, s, sizeof(s) - 1, JSON_ENCODE_ANY | JSON_REAL_PRECISION(p));
		if (n == 0 || n >= sizeof(s))
			return HQ_E_INVAL;
		s[n] = '\0';
		if (strtod(s, NULL) == d)
			break;
	}
	return out_write(o, s, n);
}

static int write_value(struct out *o, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		return out_write(o, json_string_value(v), json_string_length(v));
	case JSON_NULL:
		return 0;
	case JSON_REAL:
		return write_real(o, v);
	default:
		/* Integers, true, false, objects and arrays, as jansson
		 * encodes them; a full buffer ends the dump early. */
		if (json_dump_callback(v, dump_cb, o, JSON_ENCODE_ANY | JSON_COMPACT) < 0 && !o->full)
			return o->err ? o->err : HQ_E_INVAL;
		return 0;
	}
}

int template_render(const struct template *t, const json_t *root, size_t max_out, char **ret,
		    size_t *ret_len, struct template_report *report)
{
	struct out o = { .full = false, .err = 0 };
	buf_init(&o.b, max_out);
	struct template_report rep = { .missing = 0, .first_missing = SIZE_MAX, .truncated = false };
	size_t pos = 0;
	int r;
	for (size_t i = 0; i < t->n; i++) {
		const struct template_var *v = &t->vars[i];
		r = out_write(&o, t->lit + pos, v->lit_len);
		if (r < 0)
			goto out_release;
		pos += v->lit_len;
		/* Looked up even after the cut, so the report does not depend
		 * on max_out. */
		const json_t *val = jpath_get(&v->path, root);
		if (!val) {
			if (rep.missing++ == 0)
				rep.first_missing = i;
			continue;
		}
		if (!o.full) {
			r = write_value(&o, val);
			if (r < 0)
				goto out_release;
		}
	}
	r = out_write(&o, t->lit + pos, t->lit_len - pos);
	if (r < 0)
		goto out_release;
	/* Nothing appended leaves no allocation, and the caller is owed a
	 * string all the same. */
	r = buf_reserve(&o.b, 0);
	if (r < 0)
		goto out_release;
	o.b.data[o.b.len] = '\0';
	rep.truncated = o.full;
	*ret = o.b.data;
	*ret_len = o.b.len;
	if (report)
		*report = rep;
	return 0;
out_release:
	buf_release(&o.b);
	return r;
}
