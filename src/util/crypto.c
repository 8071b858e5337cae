#include "util/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

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
