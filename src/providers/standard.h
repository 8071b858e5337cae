/* standard: Standard Webhooks (standardwebhooks.com). webhook-signature holds
 * space-separated "v1,<base64>" signatures of "{webhook-id}.{webhook-timestamp}.{body}"
 * under the base64 key after "whsec_"; any may match (rotation); the
 * timestamp must be recent; webhook-id keys idempotency. */
#ifndef HOOKQ_PROVIDERS_STANDARD_H
#define HOOKQ_PROVIDERS_STANDARD_H

#include "providers/provider.h"

extern const struct provider provider_standard;

#endif
