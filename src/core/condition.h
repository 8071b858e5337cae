/* condition: the JSON conditions of dynamic routes, which decide whether a
 * route fires for a payload ("label agent and a title starting with [bug]").
 * Checked once when the route is defined, naming where any mistake is; then
 * evaluated per event, read-only. */
#ifndef HOOKQ_CORE_CONDITION_H
#define HOOKQ_CORE_CONDITION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* A condition is one of
 *   {"all": [c, ...]}    every c holds; a JSON array [c, ...] at the top is
 *                        short for this
 *   {"any": [c, ...]}    at least one c holds
 *   {"not": c}           c does not hold
 *   {"path": P, OP: V}   a test of the value at P (a core/jpath.h path, as
 *                        "issue.labels[0].name"), with exactly one OP:
 *     "equals": any JSON value  json_equal() to it (so 1 is not 1.0)
 *     "in": [v, ...]            equals one of the v
 *     "exists": true | false    whether P names a value (null is one)
 *     "prefix": "s"             a string that starts with s
 *     "contains": "s"           a string that contains s, or an array with
 *                               an element equal to "s"
 *     "regex": "ERE"            a string that the POSIX extended regular
 *                               expression matches somewhere in its first
 *                               CONDITION_REGEX_SUBJECT bytes (up to a NUL);
 *                               ^ and $ anchor at the ends of those bytes
 * A missing value makes a test false, except "exists": false; so does a
 * value of the wrong type, such as a number for "prefix". */

#define CONDITION_MAX_DEPTH 16	   /* levels of nesting; the top is level 1 */
#define CONDITION_MAX_NODES 256	   /* combinators and tests, in total */
#define CONDITION_MAX_REGEX 256	   /* bytes of one pattern */
#define CONDITION_REGEX_SUBJECT 65536 /* bytes of a string a pattern looks at */
/* What makes glibc's regcomp slow or large is limited: the elements of a
 * pattern once {m,n} and + are expanded by copying (per pattern and in
 * all), how deeply repetitions nest ("((a*)*)*", "a***"), and loops over
 * what can match the empty string ("(a*)*", "(x|)*"): each of those costs
 * it exponential time after an anchor. */
#define CONDITION_MAX_REGEX_EXPANDED 256
#define CONDITION_MAX_REGEX_EXPANDED_ALL 1024
#define CONDITION_MAX_REGEX_NESTING 8
#define CONDITION_MAX_REGEX_EMPTY_LOOPS 4
/* Ways to match the empty string in a row ("(a?|b?){9}" has 2^9): glibc
 * walks them one by one where they meet such a loop. */
#define CONDITION_MAX_REGEX_EMPTY_PATHS 1024
/* Anchors (^ $ \b ...) inside loops over what can match the empty string
 * ("(^|\s)+" has one): constraints glibc copies nodes for. */
#define CONDITION_MAX_REGEX_LOOP_ANCHORS 1
/* Anchors in all, \b and \B counting twice: 60 \b took regcomp 1.2 s. */
#define CONDITION_MAX_REGEX_ANCHORS 16
/* ...whose loop has no other optional part: ways from its end around to
 * its start (4 in "(^|\s)+", 16 in "(\b(a?|b?))*"). */
#define CONDITION_MAX_REGEX_LOOP_ANCHOR_PATHS 4

struct condition;

/* Checks spec and builds its condition in *ret; spec is not kept. Fails
 * with HQ_E_INVAL and "where: what" in err, where naming the offending
 * part as in "all[1].any[0]" (at the top, err is only "what"):
 *   all[1].any[0]: unknown operator "equal" (expected equals, in, ...)
 *   all[0]: "path" is missing
 *   not: regex: Unmatched ( or \(
 * Unknown keys, more than one operator, an empty all/any/in, nesting or
 * node counts beyond the limits are errors. Patterns must not use
 * back-references (their matching time is exponential) or an unmatched
 * ")", nor pass the regex limits above. HQ_E_NOMEM when memory runs out.
 * The size of spec itself (and of its "equals" and "in" values) is the
 * caller's limit, such as the request body limit of the API that takes it. */
int condition_parse(const json_t *spec, struct condition **ret, char *err, size_t err_size);

/* Whether c holds for the payload root. Reads c only, so threads may share
 * one condition. */
bool condition_eval(const struct condition *c, const json_t *root);

/* Accepts NULL. */
void condition_free(struct condition *c);

#endif
