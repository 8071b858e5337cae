/* stripe: Stripe webhooks. Stripe-Signature is "t=..,v1=..[,v1=..]": any v1
 * may be the hex HMAC-SHA256 of "{t}.{body}" (secret rotation), t must be
 * recent; the body's id keys idempotency and its type names the event. */
#ifndef HOOKQ_PROVIDERS_STRIPE_H
#define HOOKQ_PROVIDERS_STRIPE_H

#include "providers/provider.h"

extern const struct provider provider_stripe;

#endif
