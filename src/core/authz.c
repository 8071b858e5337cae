#include "core/authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"

static bool listed(const char *const *list, const char *name)
{
	for (const char *const *p = list; name && p && *p; p++)
		if (strcasecmp(*p, name) == 0)
			return true;
	return false;
}

static bool empty(const char *const *list)
{
	return !list || !*list;
}

static bool login_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '[' || c == ']';
}

bool authz_mentions(const char *text, size_t len, const char *login)
{
	size_t n = strlen(login);
	if (n == 0 || !text)
		return false;
	for (size_t i = 0; i + 1 + n <= len; i++) {
		if (text[i] != '@' || strncasecmp(text + i + 1, login, n) != 0)
			continue;
		if (i > 0 && login_char((unsigned char)text[i - 1]))
			continue; /* "mail@login" */
		if (i + 1 + n < len && login_char((unsigned char)text[i + 1 + n]))
			continue; /* "@login2" */
		return true;
	}
	return false;
}

int authz_check(const struct authz_rules *r, const struct authz_subject *s, char *why,
		size_t why_size)
{
	const char *actor = s->actor && *s->actor ? s->actor : NULL;
	if (r->self && *r->self && actor && strcasecmp(r->self, actor) == 0) {
		snprintf(why, why_size, "the event is hookq's own ('%.64s'): never a trigger", actor);
		return HQ_E_INVAL;
	}
	if (s->actor_is_bot) {
		snprintf(why, why_size, "actor '%.64s' is a bot: bots never trigger work",
			 actor ? actor : "?");
		return HQ_E_INVAL;
	}
	if (!empty(r->allowed_orgs) || !empty(r->allowed_users)) {
		if (!listed(r->allowed_orgs, s->owner) && !listed(r->allowed_users, s->owner)) {
			snprintf(why, why_size,
				 "repository owner '%.64s' is not in ALLOWED_ORGS or ALLOWED_USERS",
				 s->owner ? s->owner : "");
			return HQ_E_INVAL;
		}
	}
	if (!empty(r->trigger_users) && !listed(r->trigger_users, actor)) {
		snprintf(why, why_size, "actor '%.64s' is not in AUTHORIZED_TRIGGER_USERS",
			 actor ? actor : "");
		return HQ_E_INVAL;
	}
	if (r->mentioned_user && *r->mentioned_user &&
	    !authz_mentions(s->text, s->text_len, r->mentioned_user)) {
		snprintf(why, why_size, "@%.64s is not mentioned (GITHUB_MENTIONED_USER)",
			 r->mentioned_user);
		return HQ_E_INVAL;
	}
	return 0;
}

const char **authz_list_parse(const char *text)
{
	if (!text)
		return NULL;
	size_t len = strlen(text), count = 0;
	bool in = false;
	for (size_t i = 0; i < len; i++) {
		bool sep = text[i] == ',' || text[i] == ' ' || text[i] == '\t' || text[i] == '\n';
		if (!sep && !in)
			count++;
		in = !sep;
	}
	if (count == 0)
		return NULL;
	/* The pointers, then a copy of the text cut into names. */
	const char **list = malloc((count + 1) * sizeof(*list) + len + 1);
	if (!list)
		return NULL;
	char *copy = (char *)(list + count + 1);
	memcpy(copy, text, len + 1);
	size_t k = 0;
	in = false;
	for (size_t i = 0; i < len; i++) {
		bool sep = copy[i] == ',' || copy[i] == ' ' || copy[i] == '\t' || copy[i] == '\n';
		if (sep)
			copy[i] = '\0';
		else if (!in)
			list[k++] = copy + i;
		in = !sep;
	}
	list[k] = NULL;
	return list;
}
