/* crypto: HMAC, hex and constant-time comparison over OpenSSL libcrypto.
 * Secrets are compared with CRYPTO_memcmp and wiped with OPENSSL_cleanse. */
#ifndef HOOKQ_UTIL_CRYPTO_H
#define HOOKQ_UTIL_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN 32

int crypto_hmac_sha256(const void *key, size_t key_len, const void *data,
		       size_t len, uint8_t out[CRYPTO_SHA256_LEN]);
/* Writes 2*len hex digits and a NUL to out (size 2*len+1). */
void crypto_hex_encode(const uint8_t *in, size_t len, char *out);
/* Decodes exactly 2*out_len hex digits (either case); HQ_E_INVAL otherwise.
 */
int crypto_hex_decode(const char *in, size_t in_len, uint8_t *out, size_t out_len);
/* Constant-time equality of two equal-length byte strings. */
bool crypto_equal(const void *a, const void *b, size_t len);
void crypto_cleanse(void *p, size_t len);
/* Fills out with cryptographically secure random bytes. */
int crypto_random(void *out, size_t len);

#endif
