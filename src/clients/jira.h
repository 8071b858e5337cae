/* jira: comments on Jira issues (REST API v2, HTTP Basic with an account
 * email and API token), classified for the outbox as done, retry (when)
 * or failed.
 *
 * Classification:
 *   201 (any 2xx)           CLIENT_OK, ret->id the comment's id
 *   429, 408, 5xx           CLIENT_RETRY at Retry-After (else 0: the caller's backoff);
 *                           uncertain for a 5xx other than 503
 *   no response             CLIENT_RETRY, uncertain when the request may have arrived
 *   other 4xx (401, 403, 404, 400)
 *                           CLIENT_FAILED, Jira's errorMessages and errors in error
 *   an issue key not [A-Z][A-Z0-9_]+-[0-9]+
 *                           CLIENT_FAILED, status 0
 * retry_at_ms is on the wall clock (clock_now_ms). Errors never hold the
 * API token. */
#ifndef HOOKQ_CLIENTS_JIRA_H
#define HOOKQ_CLIENTS_JIRA_H

#include <stdbool.h>

#include "clients/result.h"

/* Whether key looks like a Jira issue key ("PROJ-12"). */
bool jira_issue_key_ok(const char *key);

/* POSTs {"body": text} to {base_url}/rest/api/2/issue/{issue_key}/comment
 * (base_url "https://example.atlassian.net"). Returns 0 with ret filled;
 * HQ_E_INVAL when ret is NULL. */
int jira_add_comment(const char *base_url, const char *email, const char *api_token,
		     const char *issue_key, const char *text, long timeout_ms,
		     struct client_result *ret);

#endif
