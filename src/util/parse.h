/* parse: checked parsers for numbers, sizes, durations and booleans.
 * Each returns 0 and writes *ret only when the whole string is valid and
 * within range; otherwise HQ_E_INVAL and *ret is untouched. */
#ifndef HOOKQ_UTIL_PARSE_H
#define HOOKQ_UTIL_PARSE_H

#include <stdbool.h>
#include <stdint.h>

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
int parse_port(const char *s, uint16_t *ret);
/* "yes/no", "true/false", "on/off", "1/0" in any case. */
int parse_bool(const char *s, bool *ret);
/* "250ms", "30s", "5m", "2h", "7d"; a bare number means seconds. */
int parse_duration_ms(const char *s, uint64_t *ret);
/* "512", "64KiB", "25MiB", "1GiB", also "KB/MB/GB" (decimal) and "K/M/G" (binary). */
int parse_size(const char *s, uint64_t *ret);

#endif
