#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/redact.h"

/* Fake credentials in the real shapes (AWS's own documentation example). */
#define GHP "ghp_FAKEfakeFAKEfakeFAKEfakeFAKEfake1234"
#define PAT "github_pat_11FAKE0_fakefakefakefake_FAKEfake"
#define XOXB "xoxb-1234567890-0987654321-FakeFakeFake"
#define AKIA "AKIAIOSFODNN7EXAMPLE"
#define JWT                                                                      \
	"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."                      \
	"dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
#define R REDACT_MARKER
/* A literal with its length, NUL bytes included. */
#define L(s) s, sizeof(s) - 1

struct redact_case {
	const char *in;
	size_t in_len;
	const char *want;
	size_t want_len;
	size_t count;
};

static void check(const struct redact_case *c, const char *const *secrets, size_t n)
{
	size_t len = 99, count = 99;
	char *out = redact(c->in, c->in_len, secrets, n, &len, &count);
	assert_non_null(out);
	if (len != c->want_len || memcmp(out, c->want, len) != 0)
		fail_msg("redact(\"%s\") = \"%s\", want \"%s\"", c->in, out, c->want);
	assert_int_equal(out[len], '\0');
	assert_int_equal(count, c->count);
	free(out);
}

static void check_table(const struct redact_case *cases, size_t n_cases,
			const char *const *secrets, size_t n)
{
	for (size_t i = 0; i < n_cases; i++)
		check(&cases[i], secrets, n);
}

static void each_token_shape_is_redacted_anywhere_in_the_text(void **state)
{
	(void)state;
	static const struct redact_case cases[] = {
		{ L("push with " GHP " now"), L("push with " R " now"), 1 },
		{ L(GHP " at the start"), L(R " at the start"), 1 },
		{ L("at the end " GHP), L("at the end " R), 1 },
		{ L("(" GHP "),"), L("(" R "),"), 1 },
		{ L("gho_abcdefghijklmnopqrstuvwxyz0123"), L(R), 1 },
		{ L("u=ghu_abcdefghijklmnopqrstuvwxyz0123;"), L("u=" R ";"), 1 },
		{ L("'ghs_abcdefghijklmnopqrstuvwxyz0123'"), L("'" R "'"), 1 },
		{ L("\"ghr_abcdefghijklmnopqrstuvwxyz0123\""), L("\"" R "\""), 1 },
		{ L("token=" PAT "&x"), L("token=" R "&x"), 1 },
		{ L("SLACK=" XOXB "\n"), L("SLACK=" R "\n"), 1 },
		{ L("xoxp-0123456789"), L(R), 1 },
		{ L("[xoxa-0123456789]"), L("[" R "]"), 1 },
		{ L("xoxr-0123456789 xoxs-0123456789"), L(R " " R), 2 },
		{ L("<xapp-1-A0123-456>"), L("<" R ">"), 1 },
		{ L("key: " AKIA "."), L("key: " R "."), 1 },
		{ L("ASIAY34FZKBOKMUTVV7A"), L(R), 1 },
		{ L("Bearer " JWT "!"), L("Bearer " R "!"), 1 },
		{ L("> Authorization: Bearer abc.def ghi\r\n> Host: x\r\n"),
		  L("> Authorization: Bearer " R "\r\n> Host: x\r\n"), 1 },
		{ L("authorization: basic dXNlcjpwYXNz"), L("authorization: basic " R), 1 },
		{ L("{\"Authorization\": \"Bearer s3cr3t\"}\nok"),
		  L("{\"Authorization\": \"Bearer " R "\nok"), 1 },
		{ L("Proxy-Authorization:\tBasic x\n"), L("Proxy-Authorization:\tBasic " R "\n"), 1 },
	};
	check_table(cases, sizeof(cases) / sizeof(cases[0]), NULL, 0);
}

static void near_misses_are_kept(void **state)
{
	(void)state;
	static const char *const keep[] = {
		"ghp_0123456789 is too short",
		"the ghp_ prefix",
		"xoxb alone, and xoxb-123 short",
		"AKIA0123456789ABCDE has 15",
		"AKIA0123456789ABCDEFG has 17",
		"xghp_abcdefghijklmnopqrstuvwxyz0123 inside a word",
		"_xoxb-0123456789 after an underscore",
		"ghq_abcdefghijklmnopqrstuvwxyz0123 unknown kind",
		"akiaiosfodnn7example lower case",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0 two parts",
		"eyJhbGciOi.eyJzdWIiOi.short",
		"Authorization: Bearer\nAuthorization: Token abc\n",
		"Authorization: Bearer   \n",
		"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
		"-----BEGIN private KEY-----\n",
	};
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		struct redact_case c = { keep[i], strlen(keep[i]), keep[i], strlen(keep[i]), 0 };
		check(&c, NULL, 0);
	}
}

static void pem_blocks_are_redacted_across_lines(void **state)
{
	(void)state;
	static const struct redact_case cases[] = {
		{ L("key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n"
		    "-----END RSA PRIVATE KEY-----\ndone\n"),
		  L("key:\n" R "\ndone\n"), 1 },
		{ L("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"), L(R), 1 },
		{ L("a -----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n"
		    "-----END OPENSSH PRIVATE KEY----- b\n"
		    "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n"),
		  L("a " R " b\n" R "\n"), 2 },
		{ L("cut off: -----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n-----END"),
		  L("cut off: " R), 1 },
		{ L("Authorization: Basic -----BEGIN RSA PRIVATE KEY-----\nx\n"
		    "-----END RSA PRIVATE KEY----- tail\nnext"),
		  L("Authorization: Basic " R "\nnext"), 1 },
		/* A tail whose BEGIN line was cut off: everything up to its END. */
		{ L("k4N2b1\nQx9==\n-----END RSA PRIVATE KEY-----\nafter\n"), L(R "\nafter\n"), 1 },
		/* A second END after a block closes no block: what lies between
		 * goes too (no END armour survives, so a second pass over the
		 * result changes nothing; the fuzz target checks that). */
		{ L("-----BEGIN PRIVATE KEY-----\nA\n-----END PRIVATE KEY-----\nx\n"
		    "-----END PRIVATE KEY-----\n"),
		  L(R "\n"), 1 },
		/* A garbled BEGIN between whole blocks (found by the fuzzer). */
		{ L("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n"
		    "$ cat TED PRIVATE KEY-----\nMIIF\n-----END RSA PRIVATE KEY-----\nok\n"),
		  L(R "\nok\n"), 1 },
	};
	check_table(cases, sizeof(cases) / sizeof(cases[0]), NULL, 0);
}

static void known_secrets_are_redacted_wherever_they_occur(void **state)
{
	(void)state;
	static const char *const secrets[] = {
		"hunter2-but-longer",
		"a.b*c+(d)?[e]$^\\1|",
		"tok-with-nul\0ignored after the nul",
		"short7!",
		"",
		NULL,
	};
	static const struct redact_case cases[] = {
		{ L("pw hunter2-but-longer, again hunter2-but-longer."),
		  L("pw " R ", again " R "."), 2 },
		{ L("re a.b*c+(d)?[e]$^\\1| but not abbbc"), L("re " R " but not abbbc"), 1 },
		{ L("x tok-with-nul\0y"), L("x " R "\0y"), 1 },
		{ L("tok-with-nul"), L(R), 1 },
		{ L("short7! is below the minimum"), L("short7! is below the minimum"), 0 },
		{ L("hunter2-but-longe is a prefix"), L("hunter2-but-longe is a prefix"), 0 },
		/* Adjacent and overlapping matches make one marker. */
		{ L(GHP "hunter2-but-longer"), L(R), 1 },
		{ L("hunter2-but-longerhunter2-but-longer"), L(R), 1 },
	};
	check_table(cases, sizeof(cases) / sizeof(cases[0]), secrets,
		    sizeof(secrets) / sizeof(secrets[0]));
}

static void overlapping_occurrences_of_a_secret_are_all_redacted(void **state)
{
	(void)state;
	static const char *const secrets[] = { "abababab" };
	static const struct redact_case cases[] = {
		{ L("xababababababx"), L("x" R "x"), 1 },
		{ L("abababa"), L("abababa"), 0 },
	};
	check_table(cases, 2, secrets, 1);
}

static void secrets_spelled_by_a_marker_and_its_neighbours_are_redacted(void **state)
{
	(void)state;
	/* The token's marker would end in "]" right before "!hello12". */
	static const char *const after[] = { "]!hello12" };
	static const struct redact_case a = { L(GHP "!hello12 done"), L(R " done"), 1 };
	check(&a, after, 1);
	static const char *const before[] = { "oops:[RED" };
	static const struct redact_case b = { L("x oops:" GHP), L("x " R), 1 };
	check(&b, before, 1);
	/* Across two markers: the text between them goes too. */
	static const char *const across[] = { "ED]-[RE" "DA" };
	static const struct redact_case c = { L(GHP "-" GHP " y"), L(R " y"), 1 };
	check(&c, across, 1);
	/* A piece of the marker itself cannot be helped, and is harmless. */
	static const char *const piece[] = { "REDACTED" };
	static const struct redact_case d = { L("a " GHP), L("a " R), 1 };
	check(&d, piece, 1);
}

static void nul_bytes_and_empty_text_are_handled(void **state)
{
	(void)state;
	static const struct redact_case cases[] = {
		{ L("\0" GHP "\0tail\0"), L("\0" R "\0tail\0"), 1 },
		{ L("a\0b\0c"), L("a\0b\0c"), 0 },
		{ L(""), L(""), 0 },
	};
	check_table(cases, sizeof(cases) / sizeof(cases[0]), NULL, 0);
	size_t len = 1, count = 1;
	char *out = redact(NULL, 0, NULL, 0, &len, &count);
	assert_non_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(count, 0);
	assert_string_equal(out, "");
	free(out);
}

static void redacting_twice_changes_nothing_more(void **state)
{
	(void)state;
	static const char text[] = "commit 1\n" GHP " " PAT " " XOXB " " AKIA "\n" JWT
				   "\nAuthorization: Bearer x\n-----BEGIN RSA PRIVATE KEY-----\n"
				   "x\n-----END RSA PRIVATE KEY-----ghp_ tail\n";
	size_t len1, count1, len2, count2;
	char *once = redact(text, sizeof(text) - 1, NULL, 0, &len1, &count1);
	assert_non_null(once);
	char *twice = redact(once, len1, NULL, 0, &len2, &count2);
	assert_non_null(twice);
	assert_int_equal(count1, 7);
	assert_int_equal(len1, len2);
	assert_memory_equal(once, twice, len1);
	free(once);
	free(twice);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_token_shape_is_redacted_anywhere_in_the_text),
		cmocka_unit_test(near_misses_are_kept),
		cmocka_unit_test(pem_blocks_are_redacted_across_lines),
		cmocka_unit_test(known_secrets_are_redacted_wherever_they_occur),
		cmocka_unit_test(overlapping_occurrences_of_a_secret_are_all_redacted),
		cmocka_unit_test(secrets_spelled_by_a_marker_and_its_neighbours_are_redacted),
		cmocka_unit_test(nul_bytes_and_empty_text_are_handled),
		cmocka_unit_test(redacting_twice_changes_nothing_more),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
