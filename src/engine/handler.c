#include "engine/handler.h"

#include <stdio.h>
#include <string.h>

#include "engine/router.h"
#include "providers/provider.h"
#include "util/error.h"

int handler_handle(void *ctx, const struct store_claimed *ev, struct event_info *info,
		   char *why, size_t why_size)
{
	const struct handler_options *opt = ctx;
	if (opt && ev->attempts <= opt->fail_first_attempts) {
		snprintf(why, why_size,
			 "injected failure %d of %d (processor.fail_first_attempts)", ev->attempts,
			 opt->fail_first_attempts);
		return HQ_E_RETRY;
	}
	const struct provider *p = provider_find(ev->provider);
	if (p) {
		int r = p->normalize(ev->event_type, ev->body, ev->body_len, info, why, why_size);
		if (r < 0 || !opt || !opt->router)
			return r;
		r = router_route(opt->router, ev, info, &info->routing);
		if (r < 0) {
			snprintf(why, why_size, "routing failed: %s", hq_strerror(r));
			return HQ_E_RETRY;
		}
		return 0;
	}
	snprintf(why, why_size, "no handler for provider '%.64s'", ev->provider);
	return HQ_E_INVAL;
}
