#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>

const char *hq_strerror(int code)
{
	switch (code) {
	case HQ_OK:
		return "success";
#define HQ_ERR_CASE(name, msg) \
	case HQ_E_##name:      \
		return msg;
		HQ_ERRNO_MAP(HQ_ERR_CASE)
#undef HQ_ERR_CASE
	default:
		return "unknown error";
	}
}

void hq_set_err(char *err, size_t err_size, const char *fmt, ...)
{
	if (!err || err_size == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	/* A message cut to err_size is still a message. */
	if (vsnprintf(err, err_size, fmt, ap) < 0)
		err[0] = '\0';
	va_end(ap);
}
