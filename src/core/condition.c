#include "core/condition.h"

#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jpath.h"
#include "util/error.h"

enum kind { K_ALL, K_ANY, K_NOT, K_EQUALS, K_IN, K_EXISTS, K_PREFIX, K_CONTAINS, K_REGEX };

/* Operators in the order messages list them; op_names[i] is kind K_EQUALS + i. */
static const char *const op_names[] = { "equals", "in", "exists", "prefix", "contains", "regex" };
#define N_OPS (sizeof(op_names) / sizeof(op_names[0]))
#define OPS_EXPECTED "(expected equals, in, exists, prefix, contains, regex)"

struct condition {
	enum kind kind;
	struct condition **kids; /* all, any: n of them; not: one */
	size_t n;
	struct jpath path;
	json_t *value; /* equals, in, prefix, contains: a copy of the operand */
	bool exists;
	bool compiled; /* re needs regfree */
	regex_t re;
};

struct parse {
	char *err;
	size_t err_size;
	size_t nodes;
	size_t expanded; /* regex elements so far, for CONDITION_MAX_REGEX_EXPANDED_ALL */
	/* Where we are, as "all[1].not". The depth and node limits keep it
	 * within 16 * strlen("any[255].") bytes. */
	char loc[192];
	size_t loc_len;
};

static int fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parse *p, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (n < 0)
		what[0] = '\0';
	/* A message cut to err_size is still the best we can give. */
	if (p->err_size > 0)
		(void)snprintf(p->err, p->err_size, "%s%s%s", p->loc, p->loc_len ? ": " : "", what);
	return HQ_E_INVAL;
}

static int fail_nomem(struct parse *p)
{
	if (p->err_size > 0)
		(void)snprintf(p->err, p->err_size, "out of memory");
	return HQ_E_NOMEM;
}

/* Appends ".name" or ".name[index]" (no dot at the start; no index when
 * index < 0) to the location and returns the length to restore. */
static size_t loc_push(struct parse *p, const char *name, long index)
{
	size_t old = p->loc_len, room = sizeof(p->loc) - old;
	const char *dot = old > 0 && name[0] ? "." : "";
	int n = index < 0 ? snprintf(p->loc + old, room, "%s%s", dot, name) :
			    snprintf(p->loc + old, room, "%s%s[%ld]", dot, name, index);
	if (n > 0)
		p->loc_len = (size_t)n < room ? old + (size_t)n : sizeof(p->loc) - 1;
	return old;
}

static void loc_pop(struct parse *p, size_t old)
{
	p->loc_len = old;
	p->loc[old] = '\0';
}

/* Keys come from whoever wrote the route and end up in logs: messages show
 * them short and printable. */
static const char *printable(const char *s, char *out, size_t size)
{
	size_t i = 0, o = 0;
	if (!s)
		s = "";
	for (; s[i] && o + 4 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[o++] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '?';
	}
	if (s[i]) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

void condition_free(struct condition *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		condition_free(c->kids[i]);
	free(c->kids);
	json_decref(c->value);
	if (c->compiled)
		regfree(&c->re);
	free(c);
}

/* What glibc makes of a repetition operator: copies of its operand, how
 * many of them are required, whether it loops (*, +, {m,}) and whether it
 * can take the operand zero times. */
struct repetition {
	size_t copies, min;
	bool loop, may_skip;
};

/* Reads the repetition operator at s[*i], if it is one: "*", "+", "?",
 * "{m}", "{m,}", "{m,n}" or "{,n}". A malformed interval is left to
 * regcomp, which rejects it. */
static bool read_repetition(const char *s, size_t *i, struct repetition *ret)
{
	size_t j = *i;
	switch (s[j]) {
	case '*':
		*ret = (struct repetition){ 1, 0, true, true };
		*i = j + 1;
		return true;
	case '+':
		*ret = (struct repetition){ 2, 1, true, false }; /* glibc makes a+ aa* */
		*i = j + 1;
		return true;
	case '?':
		*ret = (struct repetition){ 1, 0, false, true };
		*i = j + 1;
		return true;
	case '{':
		break;
	default:
		return false;
	}
	size_t m = 0, n = 0;
	bool comma = false, have_n = false;
	/* Counts above 100000 only need to be known as too many. */
	for (j++; s[j] >= '0' && s[j] <= '9'; j++)
		if (m < 100000)
			m = m * 10 + (size_t)(s[j] - '0');
	if (s[j] == ',') {
		comma = true;
		for (j++; s[j] >= '0' && s[j] <= '9'; j++) {
			if (n < 100000)
				n = n * 10 + (size_t)(s[j] - '0');
			have_n = true;
		}
	}
	if (s[j] != '}')
		return false;
	size_t copies = have_n ? n : comma ? m + 1 : m;
	*ret = (struct repetition){ copies > 0 ? copies : 1, m, comma && !have_n, m == 0 };
	*i = j + 1;
	return true;
}

/* Index just past the bracket expression opening at s[i], or the end of s
 * when it is not closed (regcomp then says so). Inside brackets "]" first,
 * "(", ")" and "\" are ordinary characters; [:class:], [.x.] and [=x=]
 * may hold "]". */
static size_t bracket_end(const char *s, size_t i)
{
	i++;
	if (s[i] == '^')
		i++;
	if (s[i] == ']')
		i++;
	while (s[i] && s[i] != ']') {
		if (s[i] == '[' && (s[i + 1] == ':' || s[i + 1] == '.' || s[i + 1] == '=')) {
			char t = s[i + 1];
			i += 2;
			while (s[i] && !(s[i] == t && s[i + 1] == ']'))
				i++;
			if (s[i])
				i += 2;
			continue;
		}
		i++;
	}
	return s[i] ? i + 1 : i;
}

/* Ways to match the empty string, which glibc's regcomp walks one by one
 * when they meet a loop over something that can match the empty string:
 * "((a?|b?|c?|d?){9})*" has 4^9 of them and took 0.2 s to compile, with
 * "+" for "*" more than 5 s, and "((||||||||a){9})*" 13 s. Counted for an
 * item (or a run of items) from its start or its last element that
 * consumes input, to its end or its first such element. Every count is
 * checked against CONDITION_MAX_REGEX_EMPTY_PATHS as soon as it is made,
 * so none grows beyond its square. */
struct re_paths {
	size_t through; /* from the start to the end; 0 if it cannot match empty */
	size_t head;	/* from the start to a consuming element or the end */
	size_t tail;	/* from a consuming element or the start to the end */
};

#define RE_CHAR ((struct re_paths){ 0, 1, 1 })
#define RE_EMPTY ((struct re_paths){ 1, 1, 1 })

static bool re_paths_ok(struct re_paths p)
{
	return p.through <= CONDITION_MAX_REGEX_EMPTY_PATHS && p.head <= CONDITION_MAX_REGEX_EMPTY_PATHS &&
	       p.tail <= CONDITION_MAX_REGEX_EMPTY_PATHS;
}

/* Run seq followed by item x; false when the paths from seq's consuming
 * elements into x's, or the counts of the result, are too many. */
static bool re_paths_then(struct re_paths *seq, struct re_paths x)
{
	if (seq->tail * x.head > CONDITION_MAX_REGEX_EMPTY_PATHS)
		return false;
	/* head and tail count through too; take it out before multiplying. */
	*seq = (struct re_paths){
		.through = seq->through * x.through,
		.head = seq->head - seq->through + seq->through * x.head,
		.tail = seq->tail * x.through + x.tail - x.through,
	};
	return re_paths_ok(*seq);
}

/* x taken once more or not: x? and, with loop, x* (glibc adds one way
 * around x, and its end leads back to its start). */
static bool re_paths_optional(struct re_paths *x, bool loop)
{
	if (loop && x->tail * x->head > CONDITION_MAX_REGEX_EMPTY_PATHS)
		return false;
	*x = (struct re_paths){ x->through + 1, x->head + 1, x->tail + 1 };
	return re_paths_ok(*x);
}

/* x repeated as rep, as glibc expands it: "x{2,4}" is "xx(x(x)?)?" (counted
 * as "xxx?x?", no fewer ways), "x{2,}" is "xxx*" and "x+" is "xx*". */
static bool re_paths_repeat(struct re_paths *x, struct repetition rep)
{
	struct re_paths seq = RE_EMPTY, opt = *x;
	if (rep.copies > CONDITION_MAX_REGEX_EXPANDED)
		return true; /* the size limit refuses it */
	for (size_t k = 0; k < rep.min && k < rep.copies; k++)
		if (!re_paths_then(&seq, *x))
			return false;
	if (!re_paths_optional(&opt, rep.loop))
		return false;
	for (size_t k = rep.min; k < rep.copies; k++)
		if (!re_paths_then(&seq, opt))
			return false;
	*x = seq;
	return true;
}

/* What an item or a group costs glibc, counted with the copies {m,n} and
 * + make. */
struct re_cost {
	size_t size;	     /* elements glibc builds */
	size_t loops;	     /* loops over what can match the empty string */
	size_t anchors;	     /* ^ $ \b \B \< \> \` \' */
	size_t loop_anchors; /* anchors inside loops over what can match empty */
	size_t nest;	     /* the deepest nesting of repetitions */
};

/* One level of parentheses, as regex_unsafe() scans a pattern. An item is
 * an atom, an anchor or a group, with its repetitions. */
struct re_group {
	struct re_cost all;	/* the group's so far */
	struct re_cost last;	/* its last item's (zero before the first) */
	struct re_paths done;	/* the finished branches', summed */
	struct re_paths branch; /* this branch's items before the last */
	struct re_paths last_paths; /* (RE_EMPTY before the first) */
};

static const struct re_group re_group_start = { .branch = RE_EMPTY, .last_paths = RE_EMPTY };

static bool re_item(struct re_group *g, struct re_cost cost, struct re_paths paths)
{
	g->all.size += cost.size;
	g->all.loops += cost.loops;
	g->all.anchors += cost.anchors;
	g->all.loop_anchors += cost.loop_anchors;
	if (cost.nest > g->all.nest)
		g->all.nest = cost.nest;
	g->last = cost;
	bool ok = re_paths_then(&g->branch, g->last_paths);
	g->last_paths = paths;
	return ok && re_paths_ok(paths);
}

/* The last item of g taken as rep says. */
static bool re_repeat(struct re_group *g, struct repetition rep)
{
	struct re_cost *l = &g->last;
	/* Copies copy what is inside too: "()*{9}{9}" has 81 loops. */
	bool empty_loop = rep.loop && g->last_paths.through > 0 && l->size > 0;
	size_t more = rep.copies - 1;
	size_t loops = l->loops * more + empty_loop;
	size_t anchors = l->anchors * more;
	size_t loop_anchors = l->loop_anchors * more + (empty_loop ? l->anchors : 0);
	g->all.size += l->size * more + 1;
	g->all.loops += loops;
	g->all.anchors += anchors;
	g->all.loop_anchors += loop_anchors;
	l->size = l->size * rep.copies + 1;
	l->loops += loops;
	l->anchors += anchors;
	l->loop_anchors += loop_anchors;
	if (++l->nest > g->all.nest)
		g->all.nest = l->nest;
	/* An anchor's constraint is copied along every way around the loop:
	 * "(\b(a?|b?){3})*" took 40 ms, with three more loops 0.2 s. */
	if (empty_loop && l->anchors > 0 &&
	    g->last_paths.tail * g->last_paths.head > CONDITION_MAX_REGEX_LOOP_ANCHOR_PATHS)
		l->loop_anchors = g->all.loop_anchors = CONDITION_MAX_REGEX_LOOP_ANCHORS + 1;
	return re_paths_repeat(&g->last_paths, rep);
}

/* Ends g's current branch, adding its paths to g->done. */
static bool re_branch_end(struct re_group *g)
{
	if (!re_paths_then(&g->branch, g->last_paths))
		return false;
	g->done.through += g->branch.through;
	g->done.head += g->branch.head;
	g->done.tail += g->branch.tail;
	return re_paths_ok(g->done);
}

/* The number is CONDITION_MAX_REGEX_EMPTY_PATHS. */
#define RE_TOO_MANY_EMPTY_PATHS \
	"optional parts combine into more than 1024 ways through them, as (a?|b?){10}"

static const struct re_cost re_char = { .size = 1 };
static const struct re_cost re_anchor = { .size = 1, .anchors = 1 };
static const struct re_cost re_word_anchor = { .size = 3, .anchors = 2 };

/* Why pattern s must not be compiled, or NULL; then *expanded is how many
 * elements glibc builds for it. What costs glibc (measured with patterns
 * of at most 256 bytes):
 * - expansion: it copies the operand of {m,n} and +, so
 *   "((a{255}){255}){255}" took 3 GB and 13 s to compile, and ".{0,n}"
 *   takes n*n memory;
 * - nesting: "a***" and "((a*)*)*" cost it about cubically in the depth,
 *   "^a" and 120 stars took 50 s;
 * - with an anchor, every loop over something that can match the empty
 *   string doubles the time: "^" and 20 times "(a*)*" took 1 s;
 * - anchors inside such loops: each is a constraint glibc copies nodes
 *   for, around and around: "((\b|\B)(\b|\B))*" and "(^\b|^\B|$\b|$\B)*"
 *   did not compile in minutes, "(\b|\B)*" four times took 1.2 s;
 * - ways to match the empty string, see struct re_paths.
 * Scanning stops at the first limit passed, so sizes stay far from
 * overflowing. */
static const char *regex_unsafe(const char *s, size_t *expanded)
{
	struct re_group stack[CONDITION_MAX_REGEX + 1], *g = stack;
	struct re_cost above = { 0 }; /* of the groups around g */
	*g = re_group_start;
	for (size_t i = 0; s[i];) {
		struct repetition rep;
		bool paths_ok = true;
		if (read_repetition(s, &i, &rep)) {
			paths_ok = re_repeat(g, rep);
		} else if (s[i] == '\\') {
			/* Back-references make glibc backtrack: "^(a+)+\1b" on
			 * 64 KiB runs for minutes. */
			if (s[i + 1] >= '1' && s[i + 1] <= '9')
				return "back-references (\\1 to \\9) are not supported";
			bool anchor = s[i + 1] && strchr("bB<>`'", s[i + 1]);
			/* glibc builds \b and \B as two anchors under an alternative. */
			if (s[i + 1] == 'b' || s[i + 1] == 'B')
				paths_ok = re_item(g, re_word_anchor, (struct re_paths){ 2, 2, 2 });
			else
				paths_ok = anchor ? re_item(g, re_anchor, RE_EMPTY) : re_item(g, re_char, RE_CHAR);
			i += s[i + 1] ? 2 : 1;
		} else if (s[i] == '[') {
			paths_ok = re_item(g, re_char, RE_CHAR);
			i = bracket_end(s, i);
		} else if (s[i] == '(') {
			above.size += g->all.size;
			above.loops += g->all.loops;
			above.loop_anchors += g->all.loop_anchors;
			above.anchors += g->all.anchors;
			*++g = re_group_start;
			i++;
		} else if (s[i] == ')') {
			/* glibc reads an unmatched ")" as a literal; it would close
			 * the group parse_regex() wraps the pattern in. */
			if (g == stack)
				return "unmatched ) (write \\) for the character)";
			if (!re_branch_end(g))
				return RE_TOO_MANY_EMPTY_PATHS;
			struct re_group inner = *g--;
			above.size -= g->all.size;
			above.loops -= g->all.loops;
			above.loop_anchors -= g->all.loop_anchors;
			above.anchors -= g->all.anchors;
			inner.all.size++;
			paths_ok = re_item(g, inner.all, inner.done);
			i++;
		} else if (s[i] == '|') {
			/* Each branch is a node even when empty: "(||||a){9}" counts. */
			paths_ok = re_branch_end(g);
			g->all.size++;
			g->branch = g->last_paths = RE_EMPTY;
			g->last = (struct re_cost){ 0 };
			i++;
		} else {
			bool anchor = s[i] == '^' || s[i] == '$';
			paths_ok = anchor ? re_item(g, re_anchor, RE_EMPTY) : re_item(g, re_char, RE_CHAR);
			i++;
		}
		if (above.size + g->all.size > CONDITION_MAX_REGEX_EXPANDED)
			return "repetitions expand the pattern beyond 256 elements";
		if (g->all.nest > CONDITION_MAX_REGEX_NESTING)
			return "repetitions nest more than 8 deep";
		if (above.loops + g->all.loops > CONDITION_MAX_REGEX_EMPTY_LOOPS)
			return "more than 4 loops over what can match the empty string, as (a*)* (write a*)";
		if (above.anchors + g->all.anchors > CONDITION_MAX_REGEX_ANCHORS)
			return "more than 16 anchors (^ $ \\b \\B \\< \\> \\` \\'; \\b and \\B count twice)";
		if (above.loop_anchors + g->all.loop_anchors > CONDITION_MAX_REGEX_LOOP_ANCHORS)
			return "anchors (^ $ \\b \\B \\< \\> \\` \\') inside loops over what can match "
			       "the empty string: at most one, with nothing else optional beside it, as (^|\\s)+";
		if (!paths_ok)
			return RE_TOO_MANY_EMPTY_PATHS;
	}
	if (!re_branch_end(g))
		return RE_TOO_MANY_EMPTY_PATHS;
	*expanded = above.size + g->all.size;
	return NULL;
}

/* Writes "^.*(s)" to out, of 2 * CONDITION_MAX_REGEX + 8 bytes, with each
 * ^ anchor of s as \` (glibc's start of the string): inside the group,
 * glibc would also match ^ after a newline the ".*" took, though
 * REG_NEWLINE is not set. */
static void regex_wrap(const char *s, char *out)
{
	size_t o = 4;
	memcpy(out, "^.*(", o);
	for (size_t i = 0; s[i];) {
		size_t from = i;
		if (s[i] == '^') {
			out[o++] = '\\';
			out[o++] = '`';
			i++;
			continue;
		}
		if (s[i] == '\\')
			i += s[i + 1] ? 2 : 1;
		else if (s[i] == '[')
			i = bracket_end(s, i);
		else
			i++;
		memcpy(out + o, s + from, i - from);
		o += i - from;
	}
	out[o++] = ')';
	out[o] = '\0';
}

static int parse_regex(struct parse *p, struct condition *c, const json_t *v)
{
	if (!json_is_string(v))
		return fail(p, "regex: must be a string");
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (len > CONDITION_MAX_REGEX)
		return fail(p, "regex: longer than %d bytes", CONDITION_MAX_REGEX);
	if (strlen(s) != len)
		return fail(p, "regex: contains a NUL character");
	size_t expanded = 0;
	const char *why = regex_unsafe(s, &expanded);
	if (why)
		return fail(p, "regex: %s", why);
	if (p->expanded + expanded > CONDITION_MAX_REGEX_EXPANDED_ALL)
		return fail(p, "regex: the patterns of the condition expand beyond %d elements in all",
			    CONDITION_MAX_REGEX_EXPANDED_ALL);
	p->expanded += expanded;

	/* The pattern alone decides validity and the message... */
	regex_t re;
	char what[128];
	int r = regcomp(&re, s, REG_EXTENDED | REG_NOSUB);
	if (r != 0) {
		regerror(r, &re, what, sizeof(what));
		return r == REG_ESPACE ? fail_nomem(p) : fail(p, "regex: %s", what);
	}
	/* ...but glibc tries an unanchored pattern from every position and
	 * can scan to the end from each: "(a|b)(a|b)*x" took 5 s on 64 KiB of
	 * "a". Behind "^.*" it is anchored and takes one pass, with the same
	 * matches, because its parentheses balance (checked above). */
	regfree(&re);
	char wrapped[2 * CONDITION_MAX_REGEX + 8];
	regex_wrap(s, wrapped);
	r = regcomp(&c->re, wrapped, REG_EXTENDED | REG_NOSUB);
	if (r != 0) {
		regerror(r, &c->re, what, sizeof(what));
		return r == REG_ESPACE ? fail_nomem(p) : fail(p, "regex: %s", what);
	}
	c->compiled = true;
	return 0;
}

/* A test: {"path": P, OP: V}. */
static int parse_leaf(struct parse *p, const json_t *spec, struct condition *c)
{
	const char *key;
	json_t *v;
	unsigned seen = 0;
	char q[40];
	json_object_foreach((json_t *)(uintptr_t)spec, key, v) {
		if (strcmp(key, "path") == 0)
			continue;
		size_t i = 0;
		while (i < N_OPS && strcmp(key, op_names[i]) != 0)
			i++;
		if (i == N_OPS)
			return fail(p, "unknown operator \"%s\" " OPS_EXPECTED, printable(key, q, sizeof(q)));
		seen |= 1u << i;
	}
	if (seen == 0)
		return json_object_size(spec) == 0 ? fail(p, "empty condition") :
						     fail(p, "no operator " OPS_EXPECTED);
	if (seen & (seen - 1)) {
		char list[64] = "";
		size_t len = 0;
		for (size_t i = 0; i < N_OPS; i++) {
			if (!(seen & 1u << i))
				continue;
			int n = snprintf(list + len, sizeof(list) - len, "%s%s", len ? ", " : "", op_names[i]);
			if (n > 0 && (size_t)n < sizeof(list) - len)
				len += (size_t)n; /* all six fit in 64 bytes */
		}
		return fail(p, "more than one operator (%s)", list);
	}
	size_t op = 0;
	while (!(seen & 1u << op))
		op++;
	c->kind = (enum kind)(K_EQUALS + op);

	const json_t *path = json_object_get(spec, "path");
	if (!path)
		return fail(p, "\"path\" is missing");
	if (!json_is_string(path))
		return fail(p, "path: must be a string");
	char why[128];
	if (jpath_parse(json_string_value(path), json_string_length(path), &c->path, why, sizeof(why)) != 0)
		return fail(p, "path: %s", why);

	v = json_object_get(spec, op_names[op]);
	switch (c->kind) {
	case K_EXISTS:
		if (!json_is_boolean(v))
			return fail(p, "exists: must be true or false");
		c->exists = json_is_true(v);
		return 0;
	case K_REGEX:
		return parse_regex(p, c, v);
	case K_IN:
		/* An empty list could never match: surely a mistake. */
		if (!json_is_array(v) || json_array_size(v) == 0)
			return fail(p, "in: must be a non-empty array");
		break;
	case K_PREFIX:
	case K_CONTAINS:
		if (!json_is_string(v))
			return fail(p, "%s: must be a string", op_names[op]);
		break;
	default:
		break;
	}
	/* A copy, so that the caller may free or change the spec. */
	c->value = json_deep_copy(v);
	return c->value ? 0 : fail_nomem(p);
}

static int parse_node(struct parse *p, const json_t *spec, int depth, struct condition **ret);

/* The array of "all" or "any", or the top-level array. */
static int parse_list(struct parse *p, const char *name, const json_t *list, int depth, struct condition *c)
{
	size_t mark = loc_push(p, name, -1);
	size_t n = json_array_size(list);
	if (!json_is_array(list) || n == 0) {
		int r = fail(p, "must be a non-empty array");
		loc_pop(p, mark);
		return r;
	}
	loc_pop(p, mark);
	/* More kids than nodes left fail at the first one over the limit, so
	 * a list of a million needs no room for a million. */
	size_t cap = n < CONDITION_MAX_NODES ? n : CONDITION_MAX_NODES;
	c->kids = calloc(cap, sizeof(*c->kids));
	if (!c->kids)
		return fail_nomem(p);
	for (size_t i = 0; i < n; i++) {
		mark = loc_push(p, name, (long)i);
		struct condition *kid = NULL;
		int r = i < cap ? parse_node(p, json_array_get(list, i), depth + 1, &kid) :
				  fail(p, "more than %d conditions", CONDITION_MAX_NODES);
		loc_pop(p, mark);
		if (r != 0)
			return r;
		c->kids[c->n++] = kid;
	}
	return 0;
}

static int parse_node(struct parse *p, const json_t *spec, int depth, struct condition **ret)
{
	if (depth > CONDITION_MAX_DEPTH)
		return fail(p, "nested more than %d deep", CONDITION_MAX_DEPTH);
	if (++p->nodes > CONDITION_MAX_NODES)
		return fail(p, "more than %d conditions", CONDITION_MAX_NODES);
	bool top = depth == 1;
	if (!json_is_object(spec) && !(top && json_is_array(spec)))
		return fail(p, top ? "must be an object or an array" : "must be an object");

	struct condition *c = calloc(1, sizeof(*c));
	if (!c)
		return fail_nomem(p);
	int r;
	static const char *const combinators[] = { "all", "any", "not" };
	size_t k = 0;
	if (json_is_array(spec)) {
		c->kind = K_ALL;
		r = parse_list(p, "", spec, depth, c);
		goto out;
	}
	while (k < 3 && !json_object_get(spec, combinators[k]))
		k++;
	if (k == 3) {
		r = parse_leaf(p, spec, c);
		goto out;
	}
	c->kind = (enum kind)(K_ALL + k);
	if (json_object_size(spec) > 1) {
		const char *key;
		json_t *v;
		char q[40];
		json_object_foreach((json_t *)(uintptr_t)spec, key, v) {
			if (strcmp(key, combinators[k]) != 0)
				break;
		}
		r = fail(p, "unexpected key \"%s\" beside \"%s\"", printable(key, q, sizeof(q)), combinators[k]);
		goto out;
	}
	const json_t *v = json_object_get(spec, combinators[k]);
	if (c->kind != K_NOT) {
		r = parse_list(p, combinators[k], v, depth, c);
		goto out;
	}
	c->kids = calloc(1, sizeof(*c->kids));
	if (!c->kids) {
		r = fail_nomem(p);
		goto out;
	}
	size_t mark = loc_push(p, "not", -1);
	r = parse_node(p, v, depth + 1, &c->kids[0]);
	loc_pop(p, mark);
	if (r == 0)
		c->n = 1;
out:
	if (r != 0) {
		condition_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int condition_parse(const json_t *spec, struct condition **ret, char *err, size_t err_size)
{
	struct parse p = { .err = err, .err_size = err_size };
	return parse_node(&p, spec, 1, ret);
}

static bool match_regex(const regex_t *re, const char *s, size_t len)
{
	/* The time a pattern takes grows with its subject: only the start is
	 * read. It ends at a NUL too, which "." in the ".*" prefix would not
	 * cross. */
	if (len > CONDITION_REGEX_SUBJECT)
		len = CONDITION_REGEX_SUBJECT;
	const char *nul = memchr(s, '\0', len);
	if (nul)
		len = (size_t)(nul - s);
#ifdef REG_STARTEND
	regmatch_t range = { .rm_so = 0, .rm_eo = (regoff_t)len };
	return regexec(re, s, 1, &range, REG_STARTEND) == 0;
#else
	/* musl has no REG_STARTEND: match a terminated copy. */
	char *copy = strndup(s, len);
	bool match = copy && regexec(re, copy, 0, NULL, 0) == 0;
	free(copy);
	return match;
#endif
}

static bool eval_leaf(const struct condition *c, const json_t *v)
{
	if (c->kind == K_EXISTS)
		return (v != NULL) == c->exists;
	if (!v)
		return false;
	switch (c->kind) {
	case K_EQUALS:
		return json_equal(v, c->value);
	case K_IN: {
		size_t i;
		json_t *x;
		json_array_foreach(c->value, i, x) {
			if (json_equal(v, x))
				return true;
		}
		return false;
	}
	case K_PREFIX: {
		size_t n = json_string_length(c->value);
		return json_is_string(v) && json_string_length(v) >= n &&
		       memcmp(json_string_value(v), json_string_value(c->value), n) == 0;
	}
	case K_CONTAINS:
		if (json_is_array(v)) {
			size_t i;
			json_t *x;
			json_array_foreach(v, i, x) {
				if (json_equal(x, c->value))
					return true;
			}
			return false;
		}
		return json_is_string(v) && memmem(json_string_value(v), json_string_length(v),
						   json_string_value(c->value), json_string_length(c->value));
	case K_REGEX:
		return json_is_string(v) && match_regex(&c->re, json_string_value(v), json_string_length(v));
	default:
		return false;
	}
}

bool condition_eval(const struct condition *c, const json_t *root)
{
	switch (c->kind) {
	case K_ALL:
		for (size_t i = 0; i < c->n; i++)
			if (!condition_eval(c->kids[i], root))
				return false;
		return true;
	case K_ANY:
		for (size_t i = 0; i < c->n; i++)
			if (condition_eval(c->kids[i], root))
				return true;
		return false;
	case K_NOT:
		return !condition_eval(c->kids[0], root);
	default:
		return eval_leaf(c, jpath_get(&c->path, root));
	}
}
