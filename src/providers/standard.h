/* standard: Standard Webhooks (standardwebhooks.com). webhook-signature holds
 * space-separated "v1,<base64>" signatures of "{webhook-id}.{webhook-timestamp}.{body}"
 * under the base64 key after "whsec_"; any may match (rotation); the
 * timestamp must be recent; webhook-id keys idempotency. */
#ifndef HOOKQ_PROVIDERS_STANDARD_H
#define HOOKQ_PROVIDERS_STANDARD_H

#include <stdbool.h>

#include "providers/provider.h"

extern const struct provider provider_standard;

/* Whether secret is a usable key: "whsec_" and base64 (or base64 alone). */
bool standard_secret_valid(const char *secret);

#endif
