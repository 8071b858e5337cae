/* form: application/x-www-form-urlencoded bodies (Slack slash commands
 * and interactivity): one field's value, percent- and plus-decoded. */
#ifndef HOOKQ_CORE_FORM_H
#define HOOKQ_CORE_FORM_H

#include <stddef.h>

/* Writes the decoded value of the first field called name into out (cut
 * to size - 1 bytes; *len gets the full decoded length when len is not
 * NULL). 0, HQ_E_NOTFOUND, or HQ_E_INVAL for a malformed escape. */
int form_get(const char *body, size_t body_len, const char *name, char *out, size_t size,
	     size_t *len);

#endif
