#include "util/zstd.h"

#include <pthread.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "util/error.h"

static pthread_key_t cctx_key;
static pthread_once_t cctx_once = PTHREAD_ONCE_INIT;

static void cctx_free(void *p)
{
	ZSTD_freeCCtx(p);
}

static void cctx_key_init(void)
{
	(void)pthread_key_create(&cctx_key, cctx_free);
}

static ZSTD_CCtx *cctx_get(void)
{
	pthread_once(&cctx_once, cctx_key_init);
	ZSTD_CCtx *c = pthread_getspecific(cctx_key);
	if (!c) {
		c = ZSTD_createCCtx();
		if (c && pthread_setspecific(cctx_key, c) != 0) {
			ZSTD_freeCCtx(c);
			c = NULL;
		}
	}
	return c;
}

int zstd_compress(const void *in, size_t len, int level, struct buf *out)
{
	buf_reset(out);
	if (len == 0)
		return HQ_E_TOOBIG;
	ZSTD_CCtx *c = cctx_get();
	if (!c)
		return HQ_E_NOMEM;
	/* Only a result smaller than the input is worth keeping. */
	size_t room = len - 1;
	int r = buf_reserve(out, room);
	if (r < 0)
		return r;
	size_t n = ZSTD_compressCCtx(c, out->data, room, in, len, level);
	if (ZSTD_isError(n))
		return ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall ? HQ_E_TOOBIG :
									      HQ_E_SYSTEM;
	out->len = n;
	out->data[n] = '\0';
	return 0;
}

int zstd_decompress(const void *in, size_t len, struct buf *out)
{
	buf_reset(out);
	unsigned long long size = ZSTD_getFrameContentSize(in, len);
	if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
		return HQ_E_INVAL;
	if (size > out->max)
		return HQ_E_TOOBIG;
	int r = buf_reserve(out, (size_t)size);
	if (r < 0)
		return r;
	size_t n = ZSTD_decompress(out->data, (size_t)size, in, len);
	if (ZSTD_isError(n) || n != size)
		return HQ_E_INVAL;
	out->len = n;
	out->data[n] = '\0';
	return 0;
}
