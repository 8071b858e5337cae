/* redact: scrubs secrets out of an agent's output before hookq posts it
 * anywhere (GitHub comments, Slack and Jira replies). Known secret values
 * and well-known token shapes become "[REDACTED]". Pure: no I/O. */
#ifndef HOOKQ_CORE_REDACT_H
#define HOOKQ_CORE_REDACT_H

#include <stddef.h>

#define REDACT_MARKER "[REDACTED]"
/* Known secrets shorter than this are ignored: they would redact words. */
#define REDACT_SECRET_MIN 8

/* Returns a malloc'd copy of text (len bytes, any bytes including NUL;
 * text may be NULL when len is 0) with secrets replaced by REDACT_MARKER,
 * followed by a NUL that *out_len does not count. Redacted are:
 *  - every occurrence of each of the n known secrets of REDACT_SECRET_MIN
 *    bytes or more. Secrets are C strings, so one containing a NUL is its
 *    part before the NUL; NULL entries are skipped;
 *  - GitHub tokens: ghp_, gho_, ghu_, ghs_, ghr_ + 30 or more [A-Za-z0-9],
 *    github_pat_ + 20 or more [A-Za-z0-9_];
 *  - Slack tokens: xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xapp- + 10 or more
 *    [A-Za-z0-9-];
 *  - AWS access key ids: AKIA or ASIA + exactly 16 [A-Z0-9];
 *  - JWTs: eyJ[A-Za-z0-9_-]{10,}.eyJ[A-Za-z0-9_-]{10,}.[A-Za-z0-9_-]{10,};
 *  - the value of an "Authorization: Bearer" or "Authorization: Basic"
 *    header (names case-insensitive, JSON-style quotes allowed) up to the
 *    end of its line;
 *  - PEM private keys: "-----BEGIN <label>PRIVATE KEY-----" through the
 *    next "-----END <label>PRIVATE KEY-----", or to the end of the text.
 * Token shapes other than PEM start at a word boundary (not preceded by
 * [A-Za-z0-9_]). Overlapping or adjacent matches become one marker, so no
 * byte of any match survives; *count is the number of markers inserted.
 * Nor does the output contain a known secret that is not itself a piece of
 * the marker, even one made of a marker and the text around it.
 * Work is O(len * n) plus the secrets' lengths; no regex engine.
 * Returns NULL, writing nothing, when memory runs out. */
char *redact(const char *text, size_t len, const char *const *secrets, size_t n,
	     size_t *out_len, size_t *count);

#endif
