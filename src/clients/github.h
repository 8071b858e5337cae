/* github: the GitHub REST calls hookq makes to report back (reactions,
 * comments, and finding a comment of ours again), authenticated by a
 * token or as a GitHub App installation, with each answer classified for
 * the outbox as done, retry (when), or failed.
 *
 * Classification:
 *   2xx                                    CLIENT_OK
 *   403/429 with Retry-After               CLIENT_RETRY at now + Retry-After
 *   403/429 with x-ratelimit-remaining: 0
 *           and x-ratelimit-reset          CLIENT_RETRY at the reset time
 *   403 whose message names a rate limit,
 *   429 without either header              CLIENT_RETRY at now + 60 s (GitHub's
 *                                          advice for secondary rate limits)
 *   5xx, 408, no response                  CLIENT_RETRY (503 with Retry-After: at it;
 *                                          else 0: the caller's backoff). On a
 *                                          write, uncertain when the server may have
 *                                          acted: a transport failure after sending,
 *                                          or a 5xx other than 503
 *   401 as a GitHub App                    the cached installation token is dropped;
 *                                          CLIENT_RETRY at the caller's backoff
 *   other 4xx (401 with a token, 403, 404, 422, ...)
 *                                          CLIENT_FAILED, status and GitHub's
 *                                          "message" in error
 *   arguments that cannot work (repo not "owner/name", unknown reaction)
 *                                          CLIENT_FAILED, status 0
 * Errors never hold a token. */
#ifndef HOOKQ_CLIENTS_GITHUB_H
#define HOOKQ_CLIENTS_GITHUB_H

#include <stddef.h>
#include <stdint.h>

#include "clients/result.h"

struct github_options {
	const char *api_url;		 /* "https://api.github.com" or GHES "https://ghe.example.com/api/v3" */
	const char *token;		 /* GITHUB_TOKEN, or NULL */
	const char *app_id;		 /* GitHub App id (or client id); NULL when not an app */
	const char *app_private_key_pem; /* the App's RSA private key, PEM text */
	int64_t installation_id;	 /* default installation; 0: each call names one */
	long timeout_ms;		 /* per request; 0: 30 s */
};

struct github_client;

/* Checks and copies the options: api_url http(s), a token or an App (id
 * and a PEM RSA private key; with both, the App is used). HQ_E_CONFIG
 * with a message in err ("GITHUB_APP_PRIVATE_KEY: not an RSA private key
 * in PEM") when they cannot work. The client is shared by threads. */
int github_client_new(const struct github_options *o, struct github_client **ret, char *err,
		      size_t err_size);
/* Wipes the token, the key and cached installation tokens. Accepts NULL. */
void github_client_free(struct github_client *c);

/* Every call returns 0 with ret filled (any outcome), HQ_E_INVAL only
 * when c or ret is NULL. installation_id 0 means the client's default
 * (ignored with a token). now_ms is the wall clock: it stamps the App's
 * JWT, ages cached installation tokens and anchors retry_at_ms. */

/* Adds a reaction: content "+1" "-1" "laugh" "confused" "heart" "hooray"
 * "rocket" "eyes"; target_kind "issue" (target_id is the issue or pull
 * request number), "issue_comment", "pull_request_review_comment" or
 * "commit_comment" (target_id is the comment id). GitHub answers 200
 * when the reaction already exists: repeating is harmless. */
int github_add_reaction(struct github_client *c, int64_t installation_id, const char *repo,
			const char *target_kind, int64_t target_id, const char *content,
			int64_t now_ms, struct client_result *ret);
/* Comments on an issue or pull request; ret->id is the new comment's id.
 * Not idempotent: after an uncertain failure, github_find_comment() with
 * a marker the body carries tells whether it landed. */
int github_create_comment(struct github_client *c, int64_t installation_id, const char *repo,
			  int64_t number, const char *body, int64_t now_ms,
			  struct client_result *ret);
/* Finds the oldest comment on the issue whose body contains marker: ret->id
 * is its id, 0 when there is none. Reads up to GITHUB_FIND_PAGES_MAX pages
 * of 100 comments. */
#define GITHUB_FIND_PAGES_MAX 10
int github_find_comment(struct github_client *c, int64_t installation_id, const char *repo,
			int64_t number, const char *marker, int64_t now_ms,
			struct client_result *ret);

#endif
