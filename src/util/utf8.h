/* utf8: well-formed UTF-8 from text that may hold any bytes (an agent's
 * output, a title from a payload), so that it can go into JSON: jansson
 * refuses a string with ill-formed UTF-8 outright. */
#ifndef HOOKQ_UTIL_UTF8_H
#define HOOKQ_UTIL_UTF8_H

#include <stddef.h>

/* A copy of s[0..len) with U+FFFD in place of each ill-formed sequence
 * (its maximal subpart, as Unicode recommends: "\xE2\x82" cut short is
 * one U+FFFD, a stray byte is one). Overlong forms, surrogates and code
 * points past U+10FFFF are ill-formed, as jansson has them; NUL bytes are
 * kept. The copy is malloc'd and NUL-terminated, *out_len its length.
 * NULL when out of memory. */
char *utf8_sanitize(const char *s, size_t len, size_t *out_len);

#endif
