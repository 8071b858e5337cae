#include "core/command.h"

#include <string.h>
#include <strings.h>

#include "util/error.h"

static bool word_char(unsigned char c)
{
	/* Part of a name or login: a prefix glued to one of these is not a
	 * mention ("mail@agent.io", "@agents"). */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c >= 0x80;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Does the name (or an alias) equal text[0..len) without regard to case? */
static bool names(const struct command_def *d, const char *w, size_t len)
{
	if (strlen(d->name) == len && strncasecmp(d->name, w, len) == 0)
		return true;
	for (const char *const *a = d->aliases; a && *a; a++)
		if (strlen(*a) == len && strncasecmp(*a, w, len) == 0)
			return true;
	return false;
}

static size_t line_end(const char *text, size_t len, size_t at)
{
	const char *nl = memchr(text + at, '\n', len - at);
	return nl ? (size_t)(nl - text) : len;
}

/* Looks for the prefix in one line [start, end). */
static bool match_line(const char *prefix, size_t plen, const struct command_def *defs,
		       size_t n, const char *text, size_t start, size_t end,
		       struct command_match *m)
{
	for (size_t i = start; i + plen <= end; i++) {
		if (strncasecmp(text + i, prefix, plen) != 0)
			continue;
		if (i > start && word_char((unsigned char)text[i - 1]))
			continue;
		size_t after = i + plen;
		if (after < end && word_char((unsigned char)text[after]))
			continue;
		/* "@agent fix ...", "@agent: fix ...", "@agent, fix ..." */
		size_t w = after;
		if (w < end && (text[w] == ':' || text[w] == ','))
			w++;
		while (w < end && is_space(text[w]))
			w++;
		size_t wend = w;
		while (wend < end && word_char((unsigned char)text[wend]))
			wend++;
		m->prefix_at = i;
		m->is_default = true;
		m->args_at = w;
		for (size_t k = 0; wend > w && k < n; k++) {
			if (names(&defs[k], text + w, wend - w)) {
				m->is_default = false;
				m->index = k;
				m->args_at = wend;
				break;
			}
		}
		while (m->args_at < end && is_space(text[m->args_at]))
			m->args_at++;
		size_t args_end = end;
		while (args_end > m->args_at && is_space(text[args_end - 1]))
			args_end--;
		m->args_len = args_end - m->args_at;
		return true;
	}
	return false;
}

int command_match(const char *prefix, const struct command_def *defs, size_t n,
		  const char *text, size_t len, struct command_match *ret)
{
	size_t plen = strlen(prefix);
	if (plen == 0)
		return HQ_E_INVAL;
	bool fenced = false;
	for (size_t at = 0; at < len;) {
		size_t end = line_end(text, len, at);
		size_t s = at;
		while (s < end && is_space(text[s]))
			s++;
		bool fence = end - s >= 3 && (strncmp(text + s, "```", 3) == 0 ||
					      strncmp(text + s, "~~~", 3) == 0);
		if (fence) {
			fenced = !fenced;
		} else if (!fenced && !(s < end && text[s] == '>')) {
			struct command_match m;
			if (match_line(prefix, plen, defs, n, text, at, end, &m)) {
				*ret = m;
				return 0;
			}
		}
		at = end + 1;
	}
	return HQ_E_NOTFOUND;
}
