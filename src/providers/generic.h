/* generic: any other sender, configured: an HMAC (sha1, sha256 or sha512;
 * hex or base64; a header and an optional prefix) or a shared token
 * header; the delivery id and event type from a header or a JSON path,
 * else a hash of the body and "webhook". */
#ifndef HOOKQ_PROVIDERS_GENERIC_H
#define HOOKQ_PROVIDERS_GENERIC_H

#include "providers/provider.h"

extern const struct provider provider_generic;

#endif
