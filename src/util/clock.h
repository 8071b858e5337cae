/* clock: wall-clock time in milliseconds since the Unix epoch, the unit of
 * every time stored in the database. */
#ifndef HOOKQ_UTIL_CLOCK_H
#define HOOKQ_UTIL_CLOCK_H

#include <stdint.h>

int64_t clock_now_ms(void);
/* Sleeps for ms milliseconds (a signal may end it sooner). */
void clock_sleep_ms(uint64_t ms);

#endif
