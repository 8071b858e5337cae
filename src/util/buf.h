/* buf: a growable byte buffer with a maximum fixed at creation.
 * Appending past the maximum fails with HQ_E_TOOBIG and leaves the
 * buffer as it was; the data is always NUL-terminated for convenience. */
#ifndef HOOKQ_UTIL_BUF_H
#define HOOKQ_UTIL_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_appends(struct buf *b, const char *s);
/* Appends printf-formatted text; fails with HQ_E_TOOBIG past the max. */
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Makes room for at least extra more bytes without changing len. */
int buf_reserve(struct buf *b, size_t extra);
void buf_reset(struct buf *b);

#endif
