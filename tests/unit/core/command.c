#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/command.h"
#include "util/error.h"

static const char *const fix_aliases[] = { "repair", "patch", NULL };
static const struct command_def defs[] = { { "fix", fix_aliases }, { "review", NULL } };

/* The command a text asks for: its name, "default", or NULL for none;
 * and the request after it. */
static void expect(const char *text, const char *command, const char *args)
{
	struct command_match m;
	int r = command_match("@agent", defs, 2, text, strlen(text), &m);
	if (!command) {
		assert_int_equal(r, HQ_E_NOTFOUND);
		return;
	}
	assert_int_equal(r, 0);
	assert_string_equal(m.is_default ? "default" : defs[m.index].name, command);
	char got[256];
	snprintf(got, sizeof(got), "%.*s", (int)m.args_len, text + m.args_at);
	assert_string_equal(got, args);
}

static void names_and_aliases_select_a_command_without_regard_to_case(void **state)
{
	(void)state;
	expect("@agent fix the build", "fix", "the build");
	expect("@agent REPAIR it", "fix", "it");
	expect("@Agent: patch  it now  ", "fix", "it now");
	expect("please @agent, review this PR", "review", "this PR");
	expect("@agent review", "review", "");
}

static void the_prefix_alone_or_with_other_words_asks_for_the_default(void **state)
{
	(void)state;
	expect("@agent", "default", "");
	expect("@agent what do you think?", "default", "what do you think?");
	expect("@agent fixes", "default", "fixes");
	expect("hey @agent.", "default", ".");
}

static void the_prefix_must_be_a_word(void **state)
{
	(void)state;
	expect("mail@agent.io fix", NULL, NULL);
	expect("@agents fix", NULL, NULL);
	expect("@agent_x fix", NULL, NULL);
	expect("no mention here", NULL, NULL);
	expect("", NULL, NULL);
}

static void quotes_and_code_blocks_never_trigger(void **state)
{
	(void)state;
	expect("> @agent fix it\nthanks!", NULL, NULL);
	expect("  > @agent fix it", NULL, NULL);
	expect("```\n@agent fix\n```", NULL, NULL);
	expect("~~~sh\n@agent fix\n~~~\n@agent review now", "review", "now");
	expect("> @agent fix\n@agent review please", "review", "please");
}

static void the_request_ends_with_its_line(void **state)
{
	(void)state;
	expect("@agent fix the flaky test\n\nMore context below.", "fix", "the flaky test");
	expect("line one\r\n@agent review  \r\nline three", "review", "");
}

static void an_empty_prefix_is_refused(void **state)
{
	(void)state;
	struct command_match m;
	assert_int_equal(command_match("", defs, 2, "x", 1, &m), HQ_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_and_aliases_select_a_command_without_regard_to_case),
		cmocka_unit_test(the_prefix_alone_or_with_other_words_asks_for_the_default),
		cmocka_unit_test(the_prefix_must_be_a_word),
		cmocka_unit_test(quotes_and_code_blocks_never_trigger),
		cmocka_unit_test(the_request_ends_with_its_line),
		cmocka_unit_test(an_empty_prefix_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
