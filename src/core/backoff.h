/* backoff: when a failed attempt may run again. Exponential growth from a
 * base, capped, with "equal jitter": the delay is drawn uniformly from
 * [d/2, d] where d = min(cap, base * 2^(attempt-1)), so retries of many
 * events that failed together spread out but never come sooner than half
 * the schedule. Pure: the random draw comes in as an argument. */
#ifndef HOOKQ_CORE_BACKOFF_H
#define HOOKQ_CORE_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint64_t base_ms;
	uint64_t cap_ms;
};

/* Pauses between tries of a store write while the store is out (a
 * database restarting): 100 ms doubling to 2 s, no jitter. */
#define BACKOFF_STORE_OUTAGE ((struct backoff){ .base_ms = 100, .cap_ms = 2000 })

/* The capped, unjittered delay after the given failed attempt (1-based). */
uint64_t backoff_ceiling_ms(const struct backoff *b, uint32_t attempt);
/* The jittered delay: rnd is any 64-bit random value. */
uint64_t backoff_delay_ms(const struct backoff *b, uint32_t attempt, uint64_t rnd);

#endif
