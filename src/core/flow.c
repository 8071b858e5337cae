#include "core/flow.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "util/crypto.h"
#include "util/error.h"

int flow_id_of(const char *external_id, char out[FLOW_ID_MAX])
{
	if (!external_id || !*external_id)
		return HQ_E_INVAL;
	uint8_t digest[CRYPTO_SHA256_LEN];
	if (crypto_sha256(external_id, strlen(external_id), digest) < 0)
		return HQ_E_SYSTEM;
	char hex[CRYPTO_SHA256_LEN * 2 + 1];
	crypto_hex_encode(digest, sizeof(digest), hex);
	snprintf(out, FLOW_ID_MAX, "flow-%.12s", hex);
	return 0;
}

static bool is_word(unsigned char c)
{
	return isalnum(c) || c == '_' || c >= 0x80;
}

/* Whether phrase (words separated by one space) starts at text[i] as
 * whole words; any run of blanks in text matches a space. */
static bool phrase_at(const char *text, size_t len, size_t i, const char *phrase)
{
	if (i > 0 && is_word((unsigned char)text[i - 1]))
		return false;
	size_t j = i;
	for (const char *p = phrase; *p; p++) {
		if (*p == ' ') {
			if (j >= len || !isspace((unsigned char)text[j]))
				return false;
			while (j < len && isspace((unsigned char)text[j]))
				j++;
			continue;
		}
		if (j >= len || tolower((unsigned char)text[j]) != *p)
			return false;
		j++;
	}
	return j == len || !is_word((unsigned char)text[j]);
}

bool flow_wants_new_conversation(const char *text, size_t len)
{
	static const char *const phrases[] = { "new conversation", "start fresh", "new context",
					       "reset conversation", NULL };
	if (!text)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = (char)tolower((unsigned char)text[i]);
		if (c != 'n' && c != 's' && c != 'r')
			continue;
		for (const char *const *p = phrases; *p; p++)
			if (**p == c && phrase_at(text, len, i, *p))
				return true;
	}
	return false;
}

void flow_project_of(const char *external_id, const char *repository, char *out, size_t size)
{
	if (!size)
		return;
	out[0] = '\0';
	if (repository && *repository) {
		snprintf(out, size, "%s", repository);
		return;
	}
	if (!external_id)
		return;
	const char *colon = strchr(external_id, ':');
	if (!colon)
		return;
	size_t plen = (size_t)(colon - external_id);
	const char *rest = colon + 1;
	if ((plen == 4 && strncmp(external_id, "jira", 4) == 0) ||
	    (plen == 6 && strncmp(external_id, "linear", 6) == 0)) {
		/* PROJ-123: the project is the key's prefix. */
		const char *dash = strrchr(rest, '-');
		if (dash && dash > rest)
			snprintf(out, size, "%.*s:%.*s", (int)plen, external_id, (int)(dash - rest),
				 rest);
	} else if (plen == 5 && strncmp(external_id, "slack", 5) == 0) {
		/* team/channel/thread: the channel is the project. */
		const char *slash = strchr(rest, '/');
		const char *end = slash ? strchr(slash + 1, '/') : NULL;
		size_t n = end ? (size_t)(end - rest) : strlen(rest);
		snprintf(out, size, "slack:%.*s", (int)n, rest);
	} else if ((plen == 6 && strncmp(external_id, "github", 6) == 0) ||
		   (plen == 6 && strncmp(external_id, "gitlab", 6) == 0)) {
		/* owner/repo#12 or owner/repo@ref without a repository field. */
		size_t n = strcspn(rest, "#@");
		if (n)
			snprintf(out, size, "%.*s", (int)n, rest);
	}
}
