#include "util/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "util/error.h"

int crypto_hmac_sha256(const void *key, size_t key_len, const void *data,
		       size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
	unsigned int out_len = 0;
	/* HMAC() with a zero-length key needs a non-NULL pointer. */
	static const uint8_t empty = 0;
	if (!HMAC(EVP_sha256(), key_len ? key : &empty, (int)key_len,
		  len ? data : &empty, len, out, &out_len) ||
	    out_len != CRYPTO_SHA256_LEN)
		return HQ_E_SYSTEM;
	return 0;
}

static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;
static EVP_MAC *hmac_mac; /* kept for the life of the process */

static void hmac_fetch(void)
{
	hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

int crypto_hmac(enum crypto_alg alg, const void *key, size_t key_len,
		const struct crypto_part *parts, size_t n, uint8_t out[CRYPTO_MAX_DIGEST],
		size_t *out_len)
{
	static const uint8_t empty = 0;
	const char *digest = alg == CRYPTO_SHA1 ? "SHA1" : alg == CRYPTO_SHA512 ? "SHA512" :
										   "SHA256";
	/* EVP_MAC streams the message: a body signed with a prefix is never
	 * copied into one buffer. */
	/* Fetched once: a fetch takes OpenSSL's locks, on the ack path. */
	pthread_once(&hmac_once, hmac_fetch);
	EVP_MAC_CTX *ctx = hmac_mac ? EVP_MAC_CTX_new(hmac_mac) : NULL;
	int r = HQ_E_SYSTEM;
	if (!ctx)
		goto out;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)(uintptr_t)digest, 0),
		OSSL_PARAM_construct_end(),
	};
	if (!EVP_MAC_init(ctx, key_len ? key : &empty, key_len, params))
		goto out;
	for (size_t i = 0; i < n; i++)
		if (parts[i].len && !EVP_MAC_update(ctx, parts[i].data, parts[i].len))
			goto out;
	size_t len = 0;
	if (!EVP_MAC_final(ctx, out, &len, CRYPTO_MAX_DIGEST))
		goto out;
	*out_len = len;
	r = 0;
out:
	EVP_MAC_CTX_free(ctx);
	return r;
}

int crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
	static const uint8_t empty = 0;
	unsigned int n = 0;
	if (!EVP_Digest(len ? data : &empty, len, out, &n, EVP_sha256(), NULL) ||
	    n != CRYPTO_SHA256_LEN)
		return HQ_E_SYSTEM;
	return 0;
}

void crypto_base64_encode(const uint8_t *in, size_t len, char *out)
{
	if (len == 0) {
		out[0] = '\0';
		return;
	}
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

int crypto_base64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_size,
			 size_t *out_len)
{
	if (in_len % 4 != 0 || in_len / 4 * 3 > out_size || in_len > INT32_MAX)
		return HQ_E_INVAL;
	for (size_t i = 0; i < in_len; i++) {
		char c = in[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '+' || c == '/' ||
			  (c == '=' && i >= in_len - 2);
		if (!ok)
			return HQ_E_INVAL;
	}
	if (in_len >= 2 && in[in_len - 2] == '=' && in[in_len - 1] != '=')
		return HQ_E_INVAL;
	int n = in_len ? EVP_DecodeBlock(out, (const unsigned char *)in, (int)in_len) : 0;
	if (n < 0)
		return HQ_E_INVAL;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	size_t pad = in_len >= 1 && in[in_len - 1] == '=' ? (in_len >= 2 && in[in_len - 2] == '=' ? 2 : 1) : 0;
	*out_len = (size_t)n - pad;
	return 0;
}

void crypto_hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* The digits decoded here come from the request (never secret), so a plain
 * decoder is fine; the secret-dependent comparison is crypto_equal(). */
static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int crypto_hex_decode(const char *in, size_t in_len, uint8_t *out, size_t out_len)
{
	if (in_len != 2 * out_len)
		return HQ_E_INVAL;
	for (size_t i = 0; i < out_len; i++) {
		int hi = hex_value((unsigned char)in[2 * i]);
		int lo = hex_value((unsigned char)in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return HQ_E_INVAL;
		out[i] = (uint8_t)((hi << 4) | lo);
	}
	return 0;
}

bool crypto_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void crypto_cleanse(void *p, size_t len)
{
	if (p)
		OPENSSL_cleanse(p, len);
}

int crypto_random(void *out, size_t len)
{
	return RAND_bytes(out, (int)len) == 1 ? 0 : HQ_E_SYSTEM;
}
