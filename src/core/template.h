/* template: the text of a route's prompt or comment, with {{ path }}
 * variables filled from the event's JSON payload ("Fix {{issue.title}}").
 * Parsed and checked once when the route is loaded, rendered per event. */
#ifndef HOOKQ_CORE_TEMPLATE_H
#define HOOKQ_CORE_TEMPLATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Syntax:
 *   {{ path }}  a variable: the value at path (jpath syntax: issue.title,
 *               issue.labels[0].name, ["key.with.dots"]); whitespace
 *               around the path is ignored. The variable ends at the first
 *               }}, so a key holding "}}" cannot be named.
 *   {{{{        a literal "{{" (write "{{{{}}" for "{{}}").
 * Anything else, a lone }} included, is plain text. Columns in errors are
 * 1-based byte offsets into the template text. */

#define TEMPLATE_MAX_TEXT 65536    /* bytes of template text */
#define TEMPLATE_MAX_VARIABLES 256

struct template;

struct template_report {
	size_t missing;       /* variables whose path is not in the payload */
	size_t first_missing; /* index of the first of them; SIZE_MAX if none */
	bool truncated;       /* the output reached max_out and was cut */
};

/* Parses text[0..len). HQ_E_INVAL with what is wrong and where in err
 * ("column 12: unterminated {{"): unterminated {{, empty variable, invalid
 * path, a NUL byte, too many variables, text too long. HQ_E_NOMEM. */
int template_parse(const char *text, size_t len, struct template **ret, char *err,
		   size_t err_size);

void template_free(struct template *t);

/* The variables in order of appearance, as written (trimmed), so a route
 * check can name the ones its provider never sends. template_variable()
 * returns NULL when i is out of range. */
size_t template_variable_count(const struct template *t);
const char *template_variable(const struct template *t, size_t i);
/* Whether variable i has a value in root (what a missing one renders is
 * nothing): for naming, in reports, the variables a payload lacks. */
bool template_variable_found(const struct template *t, size_t i, const json_t *root);

/* Renders t with values from root into a malloc'd, NUL-terminated string
 * of at most max_out bytes (*ret_len bytes, NUL not counted).
 *   string          as is            number      as JSON prints it
 *   true / false    true / false     null        nothing
 *   object / array  compact JSON     missing     nothing, counted in report
 * Values are never rendered again: a payload string holding {{x}} comes out
 * as written. Output that would pass max_out stops there, on a UTF-8
 * character boundary, with no marker; report->truncated tells. Every
 * variable is looked up for the report, also those after the cut. report
 * may be NULL. HQ_E_NOMEM, or HQ_E_INVAL if jansson cannot encode a value. */
int template_render(const struct template *t, const json_t *root, size_t max_out, char **ret,
		    size_t *ret_len, struct template_report *report);

#endif
