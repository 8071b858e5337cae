/* slack: Slack Events API, slash commands and interactivity. X-Slack-Signature
 * is "v0=" + hex HMAC-SHA256 of "v0:{X-Slack-Request-Timestamp}:{body}",
 * and the timestamp must be recent. url_verification is answered with its
 * challenge and not stored; slash commands get an immediate ack. */
#ifndef HOOKQ_PROVIDERS_SLACK_H
#define HOOKQ_PROVIDERS_SLACK_H

#include "providers/provider.h"

extern const struct provider provider_slack;

#endif
