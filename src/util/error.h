/* error: the one error convention of hookq.
 * Functions return int: 0 on success, a negative HQ_E_* code on failure.
 * Codes and their messages live in one table (HQ_ERRNO_MAP). */
#ifndef HOOKQ_UTIL_ERROR_H
#define HOOKQ_UTIL_ERROR_H

#include <stddef.h>

#define HQ_ERRNO_MAP(X)                                                   \
	X(NOMEM, "out of memory")                                         \
	X(INVAL, "invalid argument")                                      \
	X(TOOBIG, "too large")                                            \
	X(IO, "input/output error")                                       \
	X(STORE, "store error")                                           \
	X(BUSY, "store busy")                                             \
	X(OVERLOAD, "overloaded")                                         \
	X(SHUTDOWN, "shutting down")                                      \
	X(NOTFOUND, "not found")                                          \
	X(SIG_MISSING, "signature missing")                               \
	X(SIG_INVALID, "signature invalid")                               \
	X(CONFIG, "configuration error")                                  \
	X(UNSUPPORTED, "not supported")                                   \
	X(SYSTEM, "system error")                                         \
	X(RETRY, "transient failure")                                     \
	X(CONFLICT, "not in a state that allows it")

enum hq_error {
	HQ_OK = 0,
	HQ_E__BASE = -1000,
#define HQ_ERR_ENUM(name, msg) HQ_E_##name,
	HQ_ERRNO_MAP(HQ_ERR_ENUM)
#undef HQ_ERR_ENUM
};

/* Message for a code; never NULL. */
const char *hq_strerror(int code);

/* Writes a message to a caller's error buffer, cut to err_size; nothing
 * when err is NULL or err_size 0. */
void hq_set_err(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
