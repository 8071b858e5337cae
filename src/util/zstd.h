/* zstd: body compression for the store (Zstandard frames). Each calling
 * thread keeps its own compression context, freed when the thread ends. */
#ifndef HOOKQ_UTIL_ZSTD_H
#define HOOKQ_UTIL_ZSTD_H

#include <stddef.h>

#include "util/buf.h"

/* Compresses in into out (reset first). HQ_E_TOOBIG when the result would
 * not be smaller than the input: the caller then keeps the input as is. */
int zstd_compress(const void *in, size_t len, int level, struct buf *out);
/* Decompresses one frame into out (reset first); HQ_E_TOOBIG past out's
 * maximum, HQ_E_INVAL for data that is not a valid frame. */
int zstd_decompress(const void *in, size_t len, struct buf *out);

#endif
