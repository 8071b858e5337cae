#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/flow.h"
#include "util/error.h"

/* Expected ids come from `printf %s 'github:o/r#12' | sha256sum`: the
 * first 12 hex digits, so a change of hash or encoding shows here. */
static void flow_id_is_the_first_12_hex_of_the_sha256(void **state)
{
	(void)state;
	static const struct {
		const char *external_id, *want;
	} cases[] = {
		{ "github:o/r#12", "flow-936d345a2ddc" },
		{ "github:o/r#13", "flow-d5baab99024b" },
		{ "jira:PROJ-12", "flow-986ebecd9761" },
		{ "slack:T1/C2/123.4", "flow-354a4247b006" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char id[FLOW_ID_MAX];
		assert_int_equal(flow_id_of(cases[i].external_id, id), 0);
		assert_string_equal(id, cases[i].want);
	}
}

static void flow_id_is_stable_lowercase_hex_and_differs_per_id(void **state)
{
	(void)state;
	char a[FLOW_ID_MAX], again[FLOW_ID_MAX], b[FLOW_ID_MAX];
	assert_int_equal(flow_id_of("linear:ENG-7", a), 0);
	assert_int_equal(flow_id_of("linear:ENG-7", again), 0);
	assert_int_equal(flow_id_of("linear:ENG-8", b), 0);
	assert_string_equal(a, again);
	assert_string_not_equal(a, b);
	assert_int_equal(strlen(a), 5 + 12);
	assert_memory_equal(a, "flow-", 5);
	for (size_t i = 5; i < strlen(a); i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
}

static void flow_id_of_an_empty_id_is_invalid(void **state)
{
	(void)state;
	char id[FLOW_ID_MAX] = "untouched";
	assert_int_equal(flow_id_of("", id), HQ_E_INVAL);
	assert_int_equal(flow_id_of(NULL, id), HQ_E_INVAL);
	assert_string_equal(id, "untouched");
}

static bool wants(const char *text)
{
	return flow_wants_new_conversation(text, strlen(text));
}

static void each_phrase_asks_for_a_new_conversation_in_any_case(void **state)
{
	(void)state;
	static const char *const yes[] = {
		"new conversation",
		"start fresh",
		"new context",
		"reset conversation",
		"NEW CONVERSATION",
		"Start Fresh",
		"nEw CoNtExT",
		"Reset Conversation",
		"@agent please start fresh on this one",
		"Let's use a new context.",
		"(reset conversation)",
		"ok, new conversation: fix the tests",
		"new    conversation",
		"start\nfresh",
		"new \t\n context",
		"reset\r\nconversation",
	};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!wants(yes[i]))
			fail_msg("'%s' should ask for a new conversation", yes[i]);
}

static void phrases_inside_other_words_or_reversed_do_not_count(void **state)
{
	(void)state;
	static const char *const no[] = {
		"renew conversation",
		"new contextual help",
		"conversation new",
		"fresh start",
		"restart fresh",
		"newconversation",
		"new conversations",
		"anew context",
		"start freshly",
		"new, conversation",
		"the conversation is new",
		"",
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (wants(no[i]))
			fail_msg("'%s' should not ask for a new conversation", no[i]);
	assert_false(flow_wants_new_conversation(NULL, 0));
	assert_false(flow_wants_new_conversation(NULL, 10));
}

static void only_the_given_length_of_text_is_read(void **state)
{
	(void)state;
	/* The phrase is cut by len: what follows is not part of the text. */
	assert_false(flow_wants_new_conversation("new conversation", 10));
	assert_true(flow_wants_new_conversation("new conversationXYZ", 16));
	assert_false(flow_wants_new_conversation("start fresh", 0));
}

static void project_comes_from_repository_or_external_id(void **state)
{
	(void)state;
	static const struct {
		const char *external_id, *repository, *want;
	} cases[] = {
		{ "jira:PROJ-12", "acme/api", "acme/api" },
		{ "github:o/r#12", "acme/api", "acme/api" },
		{ "jira:PROJ-12", NULL, "jira:PROJ" },
		{ "jira:PROJ-12", "", "jira:PROJ" },
		{ "jira:MY-PROJ-12", NULL, "jira:MY-PROJ" },
		{ "linear:ENG-7", NULL, "linear:ENG" },
		{ "slack:T1/C2/123.4", NULL, "slack:T1/C2" },
		{ "slack:T1/C2", NULL, "slack:T1/C2" },
		{ "github:o/r#12", NULL, "o/r" },
		{ "github:o/r@refs/heads/main", NULL, "o/r" },
		{ "gitlab:g/p#3", NULL, "g/p" },
		{ "sentry:123", NULL, "" },
		{ "jira:PROJ", NULL, "" },
		{ "jira:-12", NULL, "" },
		{ "github:#12", NULL, "" },
		{ "no-colon", NULL, "" },
		{ NULL, NULL, "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		memset(out, 'x', sizeof(out));
		flow_project_of(cases[i].external_id, cases[i].repository, out, sizeof(out));
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("project of '%s' / '%s': got '%s', want '%s'",
				 cases[i].external_id ? cases[i].external_id : "(null)",
				 cases[i].repository ? cases[i].repository : "(null)", out,
				 cases[i].want);
	}
}

static void project_is_truncated_to_a_small_buffer(void **state)
{
	(void)state;
	static const struct {
		const char *external_id, *repository;
		size_t size;
		const char *want;
	} cases[] = {
		{ "jira:PROJ-12", NULL, 5, "jira" },
		{ "linear:ENG-7", NULL, 8, "linear:" },
		{ "slack:T1/C2/123.4", NULL, 7, "slack:" },
		{ "github:o/r#12", NULL, 2, "o" },
		{ NULL, "acme/api", 5, "acme" },
		{ NULL, "acme/api", 1, "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[16];
		memset(out, 'x', sizeof(out));
		flow_project_of(cases[i].external_id, cases[i].repository, out, cases[i].size);
		assert_string_equal(out, cases[i].want);
		/* Nothing past size is written. */
		for (size_t j = cases[i].size; j < sizeof(out); j++)
			assert_int_equal(out[j], 'x');
	}
	char untouched = 'x';
	flow_project_of("jira:PROJ-12", NULL, &untouched, 0);
	assert_int_equal(untouched, 'x');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flow_id_is_the_first_12_hex_of_the_sha256),
		cmocka_unit_test(flow_id_is_stable_lowercase_hex_and_differs_per_id),
		cmocka_unit_test(flow_id_of_an_empty_id_is_invalid),
		cmocka_unit_test(each_phrase_asks_for_a_new_conversation_in_any_case),
		cmocka_unit_test(phrases_inside_other_words_or_reversed_do_not_count),
		cmocka_unit_test(only_the_given_length_of_text_is_read),
		cmocka_unit_test(project_comes_from_repository_or_external_id),
		cmocka_unit_test(project_is_truncated_to_a_small_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
