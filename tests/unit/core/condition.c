#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <regex.h>

#include "core/condition.h"
#include "util/error.h"

/* Specs and payloads are written with ' for " so that the tables stay
 * readable; none of them needs an apostrophe. */
static json_t *J(const char *text)
{
	char buf[4096];
	size_t n = strlen(text);
	assert_true(n < sizeof(buf));
	for (size_t i = 0; i <= n; i++)
		buf[i] = text[i] == '\'' ? '"' : text[i];
	json_error_t jerr;
	json_t *v = json_loads(buf, JSON_DECODE_ANY, &jerr);
	if (!v)
		fail_msg("bad test JSON %s: %s", text, jerr.text);
	return v;
}

static const char payload[] =
	"{'action': 'opened', 'n': 1,"
	" 'issue': {'number': 42, 'title': '[bug] crash on start', 'body': null, 'draft': false,"
	"           'labels': [{'name': 'agent'}, {'name': 'p1'}], 'tags': ['agent', 'p1'],"
	"           'nums': [1, 2], 'score': 1.5},"
	" 'weird.key': {'x': 1},"
	" 'text': 'line one\\nline two'}";

struct eval_case {
	const char *spec;
	bool want;
};

static void check_eval_on(const char *payload_text, const struct eval_case *cases, size_t n)
{
	json_t *root = J(payload_text);
	for (size_t i = 0; i < n; i++) {
		json_t *spec = J(cases[i].spec);
		struct condition *c = NULL;
		char err[256] = "";
		if (condition_parse(spec, &c, err, sizeof(err)) != 0)
			fail_msg("%s: %s", cases[i].spec, err);
		if (condition_eval(c, root) != cases[i].want)
			fail_msg("%s: expected %s", cases[i].spec, cases[i].want ? "true" : "false");
		condition_free(c);
		json_decref(spec);
	}
	json_decref(root);
}

#define CHECK_EVAL(cases) check_eval_on(payload, cases, sizeof(cases) / sizeof(cases[0]))

static void equals_compares_json_values_exactly(void **state)
{
	(void)state;
	static const struct eval_case cases[] = {
		{ "{'path': 'action', 'equals': 'opened'}", true },
		{ "{'path': 'action', 'equals': 'closed'}", false },
		{ "{'path': 'issue.number', 'equals': 42}", true },
		{ "{'path': 'issue.number', 'equals': 42.0}", false }, /* jansson: an integer is not a real */
		{ "{'path': 'issue.number', 'equals': '42'}", false },
		{ "{'path': 'issue.draft', 'equals': false}", true },
		{ "{'path': 'issue.body', 'equals': null}", true },
		{ "{'path': 'issue.tags', 'equals': ['agent', 'p1']}", true },
		{ "{'path': 'issue.tags', 'equals': ['p1', 'agent']}", false },
		{ "{'path': 'issue.labels[0]', 'equals': {'name': 'agent'}}", true },
		{ "{'path': 'issue.labels[0]', 'equals': {'name': 'agent', 'x': 1}}", false },
	};
	CHECK_EVAL(cases);
}

static void in_matches_any_listed_value(void **state)
{
	(void)state;
	static const struct eval_case cases[] = {
		{ "{'path': 'action', 'in': ['reopened', 'opened']}", true },
		{ "{'path': 'action', 'in': ['closed', 'reopened']}", false },
		{ "{'path': 'issue.number', 'in': [1, 42]}", true },
		{ "{'path': 'issue.number', 'in': ['42']}", false },
		{ "{'path': 'issue.labels[1]', 'in': [{'name': 'p1'}]}", true },
	};
	CHECK_EVAL(cases);
}

static void exists_tells_whether_the_path_names_a_value(void **state)
{
	(void)state;
	static const struct eval_case cases[] = {
		{ "{'path': 'issue.title', 'exists': true}", true },
		{ "{'path': 'issue.title', 'exists': false}", false },
		{ "{'path': 'issue.body', 'exists': true}", true }, /* null is a value */
		{ "{'path': 'issue.milestone', 'exists': true}", false },
		{ "{'path': 'issue.milestone', 'exists': false}", true },
		{ "{'path': 'issue.labels[1].name', 'exists': true}", true },
		{ "{'path': 'issue.labels[2]', 'exists': false}", true },
	};
	CHECK_EVAL(cases);
}

static void prefix_matches_the_start_of_strings(void **state)
{
	(void)state;
	static const struct eval_case cases[] = {
		{ "{'path': 'issue.title', 'prefix': '[bug]'}", true },
		{ "{'path': 'issue.title', 'prefix': '[BUG]'}", false },
		{ "{'path': 'issue.title', 'prefix': 'crash'}", false },
		{ "{'path': 'issue.title', 'prefix': ''}", true },
		{ "{'path': 'issue.title', 'prefix': '[bug] crash on start'}", true },
		{ "{'path': 'issue.title', 'prefix': '[bug] crash on start!'}", false },
	};
	CHECK_EVAL(cases);
}

static void contains_finds_substrings_and_array_elements(void **state)
{
	(void)state;
	static const struct eval_case cases[] = {
		{ "{'path': 'issue.title', 'contains': 'crash'}", true },
		{ "{'path': 'issue.title', 'contains': 'Crash'}", false },
		{ "{'path': 'issue.title', 'contains': 'start'}", true },
		{ "{'path': 'issue.tags', 'contains': 'agent'}", true },
		{ "{'path': 'issue.tags', 'contains': 'age'}", false }, /* elements must be equal */
		{ "{'path': 'issue.labels', 'contains': 'agent'}", false }, /* elements are objects */
		{ "{'path': 'issue.nums', 'contains': '1'}", false },
	};
	CHECK_EVAL(cases);
}

static void regex_matches_posix_extended_patterns_anywhere_unless_anchored(void **state)
{
	(void)state;
	static const struct eval_case cases[] = {
		{ "{'path': 'issue.title', 'regex': 'crash|hang'}", true },
		{ "{'path': 'issue.title', 'regex': '^\\\\[bug\\\\]'}", true },
		{ "{'path': 'issue.title', 'regex': '^crash'}", false },
		{ "{'path': 'issue.title', 'regex': 'start$'}", true },
		{ "{'path': 'issue.title', 'regex': 'crash$'}", false },
		{ "{'path': 'issue.title', 'regex': '^\\\\[(bug|fix)\\\\] [a-z]+ on'}", true },
		{ "{'path': 'issue.title', 'regex': '[[:upper:]]'}", false },
		{ "{'path': 'issue.title', 'regex': 'c(r|l)a{1,2}sh'}", true },
		{ "{'path': 'issue.title', 'regex': ''}", true },
		{ "{'path': 'issue.title', 'regex': 'x|^\\\\['}", true }, /* ^ inside still means the start */
		{ "{'path': 'issue.title', 'regex': 'x|^crash'}", false },
		/* Without REG_NEWLINE, ^ and $ are the ends of the string and . matches a newline. */
		{ "{'path': 'text', 'regex': '^line two'}", false },
		{ "{'path': 'text', 'regex': 'x|^line two'}", false },
		{ "{'path': 'text', 'regex': 'x|^line one'}", true },
		{ "{'path': 'text', 'regex': 'one$'}", false },
		{ "{'path': 'text', 'regex': 'two$'}", true },
		{ "{'path': 'text', 'regex': '(^|,)line two'}", false },
		{ "{'path': 'text', 'regex': '(^|,)line one'}", true },
		{ "{'path': 'text', 'regex': '[^^]line'}", true }, /* ^ in brackets is no anchor */
		{ "{'path': 'text', 'regex': '\\\\^|x'}", false }, /* an escaped ^ is the character */
		{ "{'path': 'text', 'regex': 'one.line'}", true },
		{ "{'path': 'text', 'regex': '[)]'}", false }, /* ")" in brackets is no group */
	};
	CHECK_EVAL(cases);
}

static bool eval_string(const char *spec_text, const char *s, size_t len)
{
	json_t *spec = J(spec_text);
	json_t *root = json_pack("{s:s%}", "s", s, len);
	assert_non_null(root);
	struct condition *c = NULL;
	char err[256];
	assert_int_equal(condition_parse(spec, &c, err, sizeof(err)), 0);
	bool r = condition_eval(c, root);
	condition_free(c);
	json_decref(root);
	json_decref(spec);
	return r;
}

static void regex_reads_only_the_first_64_KiB(void **state)
{
	(void)state;
	size_t n = CONDITION_REGEX_SUBJECT + 1;
	char *s = malloc(n);
	assert_non_null(s);
	memset(s, 'a', n);
	s[n - 1] = 'x';
	assert_false(eval_string("{'path': 's', 'regex': 'x'}", s, n));
	assert_true(eval_string("{'path': 's', 'regex': 'a$'}", s, n)); /* $ is the end of what is read */
	assert_true(eval_string("{'path': 's', 'contains': 'x'}", s, n)); /* only regex is cut */
	s[n - 2] = 'x';
	assert_true(eval_string("{'path': 's', 'regex': 'x'}", s, n));
	free(s);
}

static void regex_reads_up_to_a_nul(void **state)
{
	(void)state;
	assert_false(eval_string("{'path': 's', 'regex': 'c'}", "ab\0cd", 5));
	assert_true(eval_string("{'path': 's', 'regex': 'b$'}", "ab\0cd", 5));
	assert_true(eval_string("{'path': 's', 'contains': 'cd'}", "ab\0cd", 5));
}

static void regex_on_a_long_subject_takes_one_pass(void **state)
{
	(void)state;
	/* Searched from every position, glibc took 5 s for this one. */
	size_t n = CONDITION_REGEX_SUBJECT;
	char *s = malloc(n);
	assert_non_null(s);
	memset(s, 'a', n);
	assert_false(eval_string("{'path': 's', 'regex': '(a|b)(a|b)*x'}", s, n));
	assert_false(eval_string("{'path': 's', 'regex': '^b|(a|b)(a|b)*x'}", s, n));
	s[n - 1] = 'x';
	assert_true(eval_string("{'path': 's', 'regex': '(a|b)(a|b)*x'}", s, n));
	assert_true(eval_string("{'path': 's', 'regex': '^b|(a|b)(a|b)*x'}", s, n));
	free(s);
}

static void missing_paths_make_tests_false_except_exists_false(void **state)
{
	(void)state;
	static const struct eval_case cases[] = {
		{ "{'path': 'issue.milestone', 'equals': null}", false },
		{ "{'path': 'issue.milestone', 'in': [null]}", false },
		{ "{'path': 'issue.milestone', 'prefix': ''}", false },
		{ "{'path': 'issue.milestone', 'contains': ''}", false },
		{ "{'path': 'issue.milestone', 'regex': ''}", false },
		{ "{'path': 'issue.milestone', 'exists': false}", true },
		{ "{'not': {'path': 'issue.milestone', 'equals': 1}}", true },
		{ "{'path': 'action.x', 'equals': 1}", false },      /* a key into a string */
		{ "{'path': 'issue[0]', 'exists': false}", true },   /* an index into an object */
		{ "{'path': 'issue.tags.x', 'exists': false}", true }, /* a key into an array */
	};
	CHECK_EVAL(cases);
}

static void type_mismatches_are_false(void **state)
{
	(void)state;
	static const struct eval_case cases[] = {
		{ "{'path': 'issue.number', 'prefix': '4'}", false },
		{ "{'path': 'issue.number', 'contains': '4'}", false },
		{ "{'path': 'issue.number', 'regex': '4'}", false },
		{ "{'path': 'issue.body', 'prefix': ''}", false },
		{ "{'path': 'issue.labels[0]', 'contains': 'agent'}", false },
		{ "{'path': 'issue.tags', 'prefix': 'agent'}", false },
		{ "{'path': 'issue.tags', 'regex': 'agent'}", false },
		{ "{'path': 'issue.score', 'equals': '1.5'}", false },
	};
	CHECK_EVAL(cases);
}

static void all_any_and_not_combine(void **state)
{
	(void)state;
#define T "{'path': 'action', 'equals': 'opened'}"
#define F "{'path': 'action', 'equals': 'closed'}"
	static const struct eval_case cases[] = {
		{ "{'all': [" T ", " T "]}", true },
		{ "{'all': [" T ", " F "]}", false },
		{ "{'all': [" F "]}", false },
		{ "{'any': [" F ", " T "]}", true },
		{ "{'any': [" F ", " F "]}", false },
		{ "{'not': " T "}", false },
		{ "{'not': " F "}", true },
		{ "{'not': {'not': " T "}}", true },
		{ "[" T ", " T "]", true }, /* an array at the top is all */
		{ "[" T ", " F "]", false },
		{ "{'any': [{'all': [" T ", {'not': " F "}]}, " F "]}", true },
		{ "{'all': [{'path': 'issue.tags', 'contains': 'agent'}, {'path': 'issue.title', 'prefix': '[bug]'}]}",
		  true },
	};
#undef T
#undef F
	CHECK_EVAL(cases);
}

static void paths_index_arrays_and_quote_keys(void **state)
{
	(void)state;
	static const struct eval_case cases[] = {
		{ "{'path': 'issue.labels[1].name', 'equals': 'p1'}", true },
		{ "{'path': '[\\'weird.key\\'].x', 'equals': 1}", true },
		{ "{'path': 'weird.key.x', 'exists': false}", true },
	};
	CHECK_EVAL(cases);
}

struct bad_case {
	const char *spec;
	const char *err;
};

#define OPS "(expected equals, in, exists, prefix, contains, regex)"
#define LEAF "{'path': 'a', 'equals': 1}"

static void check_bad(const char *spec_text, const char *want)
{
	json_t *spec = J(spec_text);
	static char sentinel;
	struct condition *before = (struct condition *)&sentinel;
	struct condition *c = before; /* must stay untouched */
	char err[256] = "";
	int r = condition_parse(spec, &c, err, sizeof(err));
	if (r != HQ_E_INVAL || strcmp(err, want) != 0)
		fail_msg("%s: got %d \"%s\", expected \"%s\"", spec_text, r, err, want);
	assert_ptr_equal(c, before);
	json_decref(spec);
}

static void invalid_specs_fail_with_where_and_what(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{ "5", "must be an object or an array" },
		{ "'all'", "must be an object or an array" },
		{ "[]", "must be a non-empty array" },
		{ "{}", "empty condition" },
		{ "{'all': [" LEAF ", {'any': [{'path': 'b', 'equal': 1}]}]}",
		  "all[1].any[0]: unknown operator \"equal\" " OPS },
		{ "{'all': [{'equals': 1}]}", "all[0]: \"path\" is missing" },
		{ "{'any': {}}", "any: must be a non-empty array" },
		{ "{'any': []}", "any: must be a non-empty array" },
		{ "{'not': {'all': null}}", "not.all: must be a non-empty array" },
		{ "{'all': [" LEAF ", " LEAF ", {'path': 'a', 'prefix': 'x', 'equals': 1}]}",
		  "all[2]: more than one operator (equals, prefix)" },
		{ "{'path': 'a', 'regex': 'x', 'in': [1], 'exists': true}", "more than one operator (in, exists, regex)" },
		{ "{'path': 'a'}", "no operator " OPS },
		{ "{'path': 'a', 'equals': 1, 'pth': 'b'}", "unknown operator \"pth\" " OPS },
		{ "{'path': 'a', 'equals': 1, 'x\\'\\\\y\\u0001\\u00e9': 2}", "unknown operator \"x??y???\" " OPS },
		{ "{'path': 'a', 'equals': 1, 'abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz': 2}",
		  "unknown operator \"abcdefghijklmnopqrstuvwxyzabcdefghij...\" " OPS },
		{ "{'all': [" LEAF "], 'any': [" LEAF "]}", "unexpected key \"any\" beside \"all\"" },
		{ "{'not': " LEAF ", 'path': 'a'}", "unexpected key \"path\" beside \"not\"" },
		{ "{'all': [5]}", "all[0]: must be an object" },
		{ "{'all': [[" LEAF "]]}", "all[0]: must be an object" }, /* the shorthand is for the top only */
		{ "[" LEAF ", {'not': 3}]", "[1].not: must be an object" },
		{ "[" LEAF ", {'not': {'any': [" LEAF ", {'path': 'b'}]}}]", "[1].not.any[1]: no operator " OPS },
		{ "{'path': 5, 'equals': 1}", "path: must be a string" },
		{ "{'path': 'a..b', 'equals': 1}", "path: column 3: empty key" },
		{ "{'path': '', 'exists': true}", "path: column 1: empty path" },
		{ "{'path': 'a', 'in': []}", "in: must be a non-empty array" },
		{ "{'path': 'a', 'in': 'x'}", "in: must be a non-empty array" },
		{ "{'path': 'a', 'exists': 1}", "exists: must be true or false" },
		{ "{'path': 'a', 'exists': null}", "exists: must be true or false" },
		{ "{'path': 'a', 'prefix': 1}", "prefix: must be a string" },
		{ "{'path': 'a', 'contains': ['x']}", "contains: must be a string" },
		{ "{'path': 'a', 'regex': 5}", "regex: must be a string" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_bad(cases[i].spec, cases[i].err);
}

static void regex_errors_carry_the_regerror_text(void **state)
{
	(void)state;
	static const char *const bad[] = { "a(", "*a", "a{2,1}", "[b-a]", "a\\\\" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* The pattern as C sees it, to ask regcomp for its message. */
		char pattern[16];
		size_t o = 0;
		for (const char *s = bad[i]; *s; s++) {
			if (s[0] == '\\' && s[1] == '\\')
				s++;
			pattern[o++] = *s;
		}
		pattern[o] = '\0';
		regex_t re;
		int r = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
		assert_int_not_equal(r, 0);
		char want[256], what[128], spec[64];
		regerror(r, &re, what, sizeof(what));
		snprintf(want, sizeof(want), "not: regex: %s", what);
		snprintf(spec, sizeof(spec), "{'not': {'path': 'a', 'regex': '%s'}}", bad[i]);
		check_bad(spec, want);
	}
}

#define LOOP_ANCHORS                                                                      \
	"regex: anchors (^ $ \\b \\B \\< \\> \\` \\') inside loops over what can match the " \
	"empty string: at most one, with nothing else optional beside it, as (^|\\s)+"
#define EMPTY_PATHS "regex: optional parts combine into more than 1024 ways through them, as (a?|b?){10}"

static void regex_patterns_that_cost_too_much_are_refused(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{ "{'path': 'a', 'regex': '(a+)\\\\1'}", "regex: back-references (\\1 to \\9) are not supported" },
		{ "{'path': 'a', 'regex': 'a)|b'}", "regex: unmatched ) (write \\) for the character)" },
		{ "{'path': 'a', 'regex': '((a{255}){255}){255}'}", "regex: repetitions expand the pattern beyond 256 elements" },
		{ "{'path': 'a', 'regex': '.{0,1000}'}", "regex: repetitions expand the pattern beyond 256 elements" },
		{ "{'path': 'a', 'regex': '(a|b){100}'}", "regex: repetitions expand the pattern beyond 256 elements" },
		{ "{'path': 'a', 'regex': '(((((((((a+)+)+)+)+)+)+)+)+)'}",
		  "regex: repetitions expand the pattern beyond 256 elements" },
		{ "{'path': 'a', 'regex': '((||||||||a)x){25}'}", "regex: repetitions expand the pattern beyond 256 elements" },
		{ "{'path': 'a', 'regex': '(((((((((a?)?)?)?)?)?)?)?)?)'}", "regex: repetitions nest more than 8 deep" },
		{ "{'path': 'a', 'regex': '(((((((((ab)+c)+d)+e)*)?)*f)+g)?)+'}", "regex: repetitions nest more than 8 deep" },
		{ "{'path': 'a', 'regex': '()*{9}{9}'}", "regex: more than 4 loops over what can match the empty string, as (a*)* (write a*)" },
		{ "{'path': 'a', 'regex': '((a*)*x){5}'}", "regex: more than 4 loops over what can match the empty string, as (a*)* (write a*)" },
		{ "{'path': 'a', 'regex': '^a******'}", "regex: more than 4 loops over what can match the empty string, as (a*)* (write a*)" },
		{ "{'path': 'a', 'regex': '(a*)*(b*)*(c?)*(d*)+(e|f*)*'}", "regex: more than 4 loops over what can match the empty string, as (a*)* (write a*)" },
		{ "{'path': 'a', 'regex': '()*x(y|)*($)*(z?)*(x?){2,}'}", "regex: more than 4 loops over what can match the empty string, as (a*)* (write a*)" },
		/* glibc walks the ways through optional parts one by one where
		 * they meet a loop: the first took 11 s to compile (a fuzz find). */
		{ "{'path': 'a', 'regex': '((||||||||}){9})*9}'}", EMPTY_PATHS },
		{ "{'path': 'a', 'regex': '((a?|b?|c?|d?){9})*'}", EMPTY_PATHS },
		{ "{'path': 'a', 'regex': '((a?|b?|c?|d?){5})+'}", EMPTY_PATHS },
		{ "{'path': 'a', 'regex': '(a?|b?){9}(a*)*'}", EMPTY_PATHS },
		{ "{'path': 'a', 'regex': '(x(a?|b?){9})(a?|b?){9}'}", EMPTY_PATHS },
		{ "{'path': 'a', 'regex': '(a?|b?){10}'}", EMPTY_PATHS },
		/* Anchors in such loops: glibc copies nodes for each constraint,
		 * around and around; the first two did not compile in minutes. */
		{ "{'path': 'a', 'regex': '((\\\\b|\\\\B)(\\\\b|\\\\B))*'}", LOOP_ANCHORS },
		{ "{'path': 'a', 'regex': '(^\\\\b|^\\\\B|$\\\\b|$\\\\B)*'}", LOOP_ANCHORS },
		{ "{'path': 'a', 'regex': '(\\\\b|\\\\B)*'}", LOOP_ANCHORS },
		{ "{'path': 'a', 'regex': '((^|x)*){2}'}", LOOP_ANCHORS },
		{ "{'path': 'a', 'regex': '(^|x)*y($|z)+'}", LOOP_ANCHORS },
		{ "{'path': 'a', 'regex': '(\\\\b(a?|b?))*'}", LOOP_ANCHORS },
		{ "{'path': 'a', 'regex': '(x?\\\\<y?)*'}", LOOP_ANCHORS },
		/* glibc builds \\b as two anchors: 60 of them took regcomp 1.2 s. */
		{ "{'path': 'a', 'regex': '(\\\\b\\\\b\\\\b){3}'}",
		  "regex: more than 16 anchors (^ $ \\b \\B \\< \\> \\` \\'; \\b and \\B count twice)" },
		{ "{'path': 'a', 'regex': '((|||||||a){4})*'}", EMPTY_PATHS },
		{ "{'all': [{'path': 'a', 'regex': 'a{250}'}, {'path': 'a', 'regex': 'a{250}'}, "
		  "{'path': 'a', 'regex': 'a{250}'}, {'path': 'a', 'regex': 'a{250}'}, {'path': 'a', 'regex': 'a{250}'}]}",
		  "all[4]: regex: the patterns of the condition expand beyond 1024 elements in all" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_bad(cases[i].spec, cases[i].err);

	char long_pattern[CONDITION_MAX_REGEX + 2], spec[CONDITION_MAX_REGEX + 64];
	memset(long_pattern, 'a', sizeof(long_pattern) - 1);
	long_pattern[sizeof(long_pattern) - 1] = '\0';
	snprintf(spec, sizeof(spec), "{'path': 'a', 'regex': '%s'}", long_pattern);
	check_bad(spec, "regex: longer than 256 bytes");

	/* The limits still leave room for usual patterns. */
	static const struct eval_case ok[] = {
		{ "{'path': 'action', 'regex': '^[0-9a-f]{40}$|^.{0,200}$'}", true },
		{ "{'path': 'action', 'regex': 'a{240}|opened'}", true },
		{ "{'path': 'action', 'regex': '[[:alpha:]]{1,6}ed'}", true },
		{ "{'path': 'action', 'regex': '^((((((((o?)?)?)?)?)?)?)?)p'}", true },
		{ "{'path': 'action', 'regex': '^(a*)*(b*)*(c*)*(o*)+pened'}", true },
		{ "{'path': 'action', 'regex': 'x*y*z*o*p*e*n*e*d*x*y*z*'}", true },
		{ "{'path': 'action', 'regex': '^(a?b?c?d?e?f?g?h?i?j?k?l?m?n?o?p?)+$'}", true },
		{ "{'path': 'action', 'regex': '^((x|y|z|)(-|_|)(a|b|o|))*pened'}", true },
		{ "{'path': 'action', 'regex': '(a?|b?){4}opened'}", true },
		{ "{'path': 'action', 'regex': '(^|\\\\s)+opened'}", true },
		{ "{'path': 'action', 'regex': '(\\\\<x?)*opened'}", true },
		{ "{'path': 'action', 'regex': '^\\\\<(\\\\<|x)*opened\\\\>$'}", true },
		{ "{'path': 'action', 'regex': '((||||||||||||||||||||||||||||||o))*pened'}", true },
	};
	CHECK_EVAL(ok);
}

static void regex_with_a_nul_is_refused(void **state)
{
	(void)state;
	json_t *spec = json_pack("{s:s, s:s%}", "path", "a", "regex", "a\0b", (size_t)3);
	assert_non_null(spec);
	struct condition *c = NULL;
	char err[256];
	assert_int_equal(condition_parse(spec, &c, err, sizeof(err)), HQ_E_INVAL);
	assert_string_equal(err, "regex: contains a NUL character");
	assert_null(c);
	json_decref(spec);
}

static json_t *nested_nots(int n)
{
	json_t *c = J("{'path': 'a', 'exists': true}");
	for (int i = 0; i < n; i++) {
		json_t *outer = json_object();
		assert_non_null(outer);
		assert_int_equal(json_object_set_new(outer, "not", c), 0);
		c = outer;
	}
	return c;
}

static void nesting_is_limited_to_16_levels(void **state)
{
	(void)state;
	json_t *root = J("{'a': 1}");
	json_t *spec = nested_nots(CONDITION_MAX_DEPTH - 1);
	struct condition *c = NULL;
	char err[256];
	assert_int_equal(condition_parse(spec, &c, err, sizeof(err)), 0);
	assert_false(condition_eval(c, root)); /* fifteen nots */
	condition_free(c);
	json_decref(spec);

	spec = nested_nots(CONDITION_MAX_DEPTH);
	c = NULL;
	assert_int_equal(condition_parse(spec, &c, err, sizeof(err)), HQ_E_INVAL);
	assert_string_equal(err, "not.not.not.not.not.not.not.not.not.not.not.not.not.not.not.not: "
				 "nested more than 16 deep");
	assert_null(c);
	json_decref(spec);
	json_decref(root);
}

static json_t *all_of(size_t n)
{
	json_t *list = json_array();
	assert_non_null(list);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(json_array_append_new(list, J("{'path': 'a', 'equals': 1}")), 0);
	return json_pack("{s:o}", "all", list);
}

static void conditions_are_limited_to_256_nodes(void **state)
{
	(void)state;
	json_t *root = J("{'a': 1}");
	json_t *spec = all_of(CONDITION_MAX_NODES - 1); /* and the all */
	struct condition *c = NULL;
	char err[256];
	assert_int_equal(condition_parse(spec, &c, err, sizeof(err)), 0);
	assert_true(condition_eval(c, root));
	condition_free(c);
	json_decref(spec);

	spec = all_of(CONDITION_MAX_NODES);
	c = NULL;
	assert_int_equal(condition_parse(spec, &c, err, sizeof(err)), HQ_E_INVAL);
	assert_string_equal(err, "all[255]: more than 256 conditions");
	assert_null(c);
	json_decref(spec);

	spec = all_of(20000);
	assert_int_equal(condition_parse(spec, &c, err, sizeof(err)), HQ_E_INVAL);
	assert_string_equal(err, "all[255]: more than 256 conditions");
	json_decref(spec);
	json_decref(root);
}

static void operands_are_copied_so_the_spec_may_go(void **state)
{
	(void)state;
	json_t *spec = J("[{'path': 'a', 'equals': {'b': [1]}}, {'path': 'c', 'in': ['x', 'y']},"
			 " {'path': 'c', 'prefix': 'y'}, {'path': 'c', 'contains': 'y'}, {'path': 'c', 'regex': '^y$'}]");
	struct condition *c = NULL;
	char err[256];
	assert_int_equal(condition_parse(spec, &c, err, sizeof(err)), 0);
	json_object_clear(json_object_get(json_array_get(spec, 0), "equals"));
	json_decref(spec);
	json_t *root = J("{'a': {'b': [1]}, 'c': 'y'}");
	assert_true(condition_eval(c, root));
	condition_free(c);
	json_decref(root);
}

static void errors_need_no_buffer_and_free_takes_null(void **state)
{
	(void)state;
	json_t *spec = J("{'all': 1}");
	struct condition *c = NULL;
	assert_int_equal(condition_parse(spec, &c, NULL, 0), HQ_E_INVAL);
	char small[8];
	assert_int_equal(condition_parse(spec, &c, small, sizeof(small)), HQ_E_INVAL);
	assert_string_equal(small, "all: mu"); /* cut, terminated */
	assert_int_equal(condition_parse(NULL, &c, small, sizeof(small)), HQ_E_INVAL);
	assert_null(c);
	condition_free(NULL);
	json_decref(spec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(equals_compares_json_values_exactly),
		cmocka_unit_test(in_matches_any_listed_value),
		cmocka_unit_test(exists_tells_whether_the_path_names_a_value),
		cmocka_unit_test(prefix_matches_the_start_of_strings),
		cmocka_unit_test(contains_finds_substrings_and_array_elements),
		cmocka_unit_test(regex_matches_posix_extended_patterns_anywhere_unless_anchored),
		cmocka_unit_test(regex_reads_only_the_first_64_KiB),
		cmocka_unit_test(regex_reads_up_to_a_nul),
		cmocka_unit_test(regex_on_a_long_subject_takes_one_pass),
		cmocka_unit_test(missing_paths_make_tests_false_except_exists_false),
		cmocka_unit_test(type_mismatches_are_false),
		cmocka_unit_test(all_any_and_not_combine),
		cmocka_unit_test(paths_index_arrays_and_quote_keys),
		cmocka_unit_test(invalid_specs_fail_with_where_and_what),
		cmocka_unit_test(regex_errors_carry_the_regerror_text),
		cmocka_unit_test(regex_patterns_that_cost_too_much_are_refused),
		cmocka_unit_test(regex_with_a_nul_is_refused),
		cmocka_unit_test(nesting_is_limited_to_16_levels),
		cmocka_unit_test(conditions_are_limited_to_256_nodes),
		cmocka_unit_test(operands_are_copied_so_the_spec_may_go),
		cmocka_unit_test(errors_need_no_buffer_and_free_takes_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
