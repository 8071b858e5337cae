/* jira: Jira webhooks. X-Hub-Signature is "sha256=" + hex HMAC-SHA256 of the
 * body; X-Atlassian-Webhook-Identifier keys idempotency; the body's
 * webhookEvent names the event ("jira:issue_created"). */
#ifndef HOOKQ_PROVIDERS_JIRA_H
#define HOOKQ_PROVIDERS_JIRA_H

#include "providers/provider.h"

extern const struct provider provider_jira;

#endif
