/* authz: who may make hookq do work. An event triggers nothing unless its
 * repository's owner is allowed (ALLOWED_ORGS, ALLOWED_USERS), its actor
 * may trigger (AUTHORIZED_TRIGGER_USERS), the bot is mentioned when that
 * is required (GITHUB_MENTIONED_USER), and the actor is neither hookq's
 * own account nor a bot: an agent's comment must never start another
 * agent. Empty lists allow everyone. Names compare without regard to case,
 * as GitHub logins do. Pure. */
#ifndef HOOKQ_CORE_AUTHZ_H
#define HOOKQ_CORE_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>

struct authz_rules {
	const char *const *allowed_orgs;   /* NULL-terminated, or NULL */
	const char *const *allowed_users;  /* owners of personal repositories */
	const char *const *trigger_users;  /* who may trigger */
	const char *mentioned_user;	   /* must be @mentioned, or NULL */
	const char *self;		   /* hookq's own login, or NULL */
};

struct authz_subject {
	const char *owner; /* repository owner ("octo" of "octo/repo"), or NULL */
	const char *actor; /* who caused the event */
	bool actor_is_bot;
	const char *text; /* the new text (comment), for the mention rule */
	size_t text_len;
};

/* 0 when the subject may trigger work; otherwise HQ_E_INVAL with why
 * ("actor 'mallory' is not in AUTHORIZED_TRIGGER_USERS"). */
int authz_check(const struct authz_rules *r, const struct authz_subject *s, char *why,
		size_t why_size);

/* Splits a comma- or space-separated list ("octo, acme") into a
 * NULL-terminated array of trimmed names in one allocation (free() it).
 * NULL for an empty list. */
const char **authz_list_parse(const char *text);

/* Whether text mentions @login as a word, without regard to case. */
bool authz_mentions(const char *text, size_t len, const char *login);

#endif
