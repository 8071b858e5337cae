#include "util/error.h"

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
