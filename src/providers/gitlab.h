/* gitlab: GitLab webhooks. X-Gitlab-Token must equal the secret (GitLab sends
 * the token, not a signature); Idempotency-Key, else X-Gitlab-Event-UUID,
 * keys idempotency; X-Gitlab-Event names the event ("Note Hook"). */
#ifndef HOOKQ_PROVIDERS_GITLAB_H
#define HOOKQ_PROVIDERS_GITLAB_H

#include "providers/provider.h"

extern const struct provider provider_gitlab;

#endif
