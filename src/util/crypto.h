/* crypto: HMAC, hex and constant-time comparison over OpenSSL libcrypto.
 * Secrets are compared with CRYPTO_memcmp and wiped with OPENSSL_cleanse. */
#ifndef HOOKQ_UTIL_CRYPTO_H
#define HOOKQ_UTIL_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_MAX_DIGEST 64 /* SHA-512 */

enum crypto_alg { CRYPTO_SHA1, CRYPTO_SHA256, CRYPTO_SHA512 };

/* One piece of a message signed in parts ("v0:" ts ":" body), so a large
 * body is never copied to be signed. */
struct crypto_part {
	const void *data;
	size_t len;
};

int crypto_hmac_sha256(const void *key, size_t key_len, const void *data,
		       size_t len, uint8_t out[CRYPTO_SHA256_LEN]);
/* HMAC of the concatenated parts with alg; *out_len is the digest size. */
int crypto_hmac(enum crypto_alg alg, const void *key, size_t key_len,
		const struct crypto_part *parts, size_t n, uint8_t out[CRYPTO_MAX_DIGEST],
		size_t *out_len);
/* SHA-256 of data. */
int crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN]);
/* Standard base64 with padding: writes 4*ceil(len/3) characters and a NUL
 * to out (size at least that + 1). */
void crypto_base64_encode(const uint8_t *in, size_t len, char *out);
/* Decodes standard base64 (padding required, no whitespace) into out;
 * HQ_E_INVAL for anything else or when out is too small. */
int crypto_base64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_size,
			 size_t *out_len);
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
