/* linear: Linear webhooks. Linear-Signature is the hex HMAC-SHA256 of the body,
 * whose webhookTimestamp (ms) must be recent; Linear-Delivery keys
 * idempotency; Linear-Event names the event ("Issue"). */
#ifndef HOOKQ_PROVIDERS_LINEAR_H
#define HOOKQ_PROVIDERS_LINEAR_H

#include "providers/provider.h"

extern const struct provider provider_linear;

#endif
