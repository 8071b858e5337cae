/* sentry: Sentry integration webhooks. Sentry-Hook-Signature is the hex
 * HMAC-SHA256 of the body under the client secret; Request-ID keys
 * idempotency; Sentry-Hook-Resource names the event ("issue"). */
#ifndef HOOKQ_PROVIDERS_SENTRY_H
#define HOOKQ_PROVIDERS_SENTRY_H

#include "providers/provider.h"

extern const struct provider provider_sentry;

#endif
