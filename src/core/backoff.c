#include "core/backoff.h"

uint64_t backoff_ceiling_ms(const struct backoff *b, uint32_t attempt)
{
	if (attempt == 0)
		attempt = 1;
	uint64_t d = b->base_ms;
	for (uint32_t i = 1; i < attempt && d < b->cap_ms; i++)
		d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
	return d < b->cap_ms ? d : b->cap_ms;
}

uint64_t backoff_delay_ms(const struct backoff *b, uint32_t attempt, uint64_t rnd)
{
	uint64_t d = backoff_ceiling_ms(b, attempt);
	uint64_t half = d / 2;
	uint64_t span = d - half; /* [half, d] has span + 1 values */
	return half + (span == UINT64_MAX ? rnd : rnd % (span + 1));
}
