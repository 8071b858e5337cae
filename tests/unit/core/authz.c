#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/authz.h"
#include "util/error.h"

static int check(const struct authz_rules *r, const char *owner, const char *actor, bool bot,
		 const char *text, char *why, size_t size)
{
	struct authz_subject s = { owner, actor, bot, text, text ? strlen(text) : 0 };
	return authz_check(r, &s, why, size);
}

static void empty_rules_allow_people_but_never_bots_or_hookq_itself(void **state)
{
	(void)state;
	struct authz_rules r = { NULL, NULL, NULL, NULL, "hookq-bot" };
	char why[160];
	assert_int_equal(check(&r, "octo", "alice", false, "hi", why, sizeof(why)), 0);
	assert_int_equal(check(&r, "octo", "dependabot[bot]", true, "", why, sizeof(why)), HQ_E_INVAL);
	assert_string_equal(why, "actor 'dependabot[bot]' is a bot: bots never trigger work");
	assert_int_equal(check(&r, "octo", "HookQ-Bot", false, "@agent fix", why, sizeof(why)),
			 HQ_E_INVAL);
	assert_string_equal(why, "the event is hookq's own ('HookQ-Bot'): never a trigger");
}

static void owners_must_be_allowed_orgs_or_users(void **state)
{
	(void)state;
	const char *orgs[] = { "acme", NULL };
	const char *users[] = { "Alice", NULL };
	struct authz_rules r = { orgs, users, NULL, NULL, NULL };
	char why[160];
	assert_int_equal(check(&r, "ACME", "bob", false, "", why, sizeof(why)), 0);
	assert_int_equal(check(&r, "alice", "bob", false, "", why, sizeof(why)), 0);
	assert_int_equal(check(&r, "evil", "bob", false, "", why, sizeof(why)), HQ_E_INVAL);
	assert_string_equal(why, "repository owner 'evil' is not in ALLOWED_ORGS or ALLOWED_USERS");
	assert_int_equal(check(&r, NULL, "bob", false, "", why, sizeof(why)), HQ_E_INVAL);
}

static void only_authorized_users_trigger(void **state)
{
	(void)state;
	const char *trig[] = { "alice", "carol", NULL };
	struct authz_rules r = { NULL, NULL, trig, NULL, NULL };
	char why[160];
	assert_int_equal(check(&r, "o", "Carol", false, "", why, sizeof(why)), 0);
	assert_int_equal(check(&r, "o", "mallory", false, "", why, sizeof(why)), HQ_E_INVAL);
	assert_string_equal(why, "actor 'mallory' is not in AUTHORIZED_TRIGGER_USERS");
	assert_int_equal(check(&r, "o", NULL, false, "", why, sizeof(why)), HQ_E_INVAL);
}

static void a_required_mention_is_a_word_in_the_text(void **state)
{
	(void)state;
	struct authz_rules r = { NULL, NULL, NULL, "hookq", NULL };
	char why[160];
	assert_int_equal(check(&r, "o", "a", false, "thanks @HookQ, fix it", why, sizeof(why)), 0);
	assert_int_equal(check(&r, "o", "a", false, "@hookq", why, sizeof(why)), 0);
	assert_int_equal(check(&r, "o", "a", false, "@hookq2 fix", why, sizeof(why)), HQ_E_INVAL);
	assert_string_equal(why, "@hookq is not mentioned (GITHUB_MENTIONED_USER)");
	assert_int_equal(check(&r, "o", "a", false, "mail@hookq fix", why, sizeof(why)), HQ_E_INVAL);
	assert_int_equal(check(&r, "o", "a", false, NULL, why, sizeof(why)), HQ_E_INVAL);
}

static void lists_split_on_commas_and_spaces(void **state)
{
	(void)state;
	const char **l = authz_list_parse(" acme, octo-org  alice,,");
	assert_non_null(l);
	assert_string_equal(l[0], "acme");
	assert_string_equal(l[1], "octo-org");
	assert_string_equal(l[2], "alice");
	assert_null(l[3]);
	free(l);
	assert_null(authz_list_parse(" , "));
	assert_null(authz_list_parse(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_rules_allow_people_but_never_bots_or_hookq_itself),
		cmocka_unit_test(owners_must_be_allowed_orgs_or_users),
		cmocka_unit_test(only_authorized_users_trigger),
		cmocka_unit_test(a_required_mention_is_a_word_in_the_text),
		cmocka_unit_test(lists_split_on_commas_and_spaces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
