#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/workspace.h"
#include "util/error.h"

/* The tests build their repositories with the shell and system(); hookq
 * itself starts git only with argv vectors. Every test shares one bare
 * repository "acme/app" under <tmp>/srv, served as file://<tmp>/srv:
 *   main:    one commit "one" (tagged v1), then "main" (file.txt)
 *   feature: from main, file.txt "feature"
 * and .gitignore lists ignored.txt. */

static char tmp[256];
static char base[sizeof(tmp) + 16];
static char sha_one[64];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

/* The first line the shell command prints, without its newline. */
static void sh_line(char *out, size_t out_size, const char *cmd)
{
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	assert_non_null(fgets(out, (int)out_size, f));
	pclose(f);
	out[strcspn(out, "\n")] = '\0';
}

static char *read_text(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void write_script(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/hookq-workspace-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	snprintf(base, sizeof(base), "file://%s/srv", tmp);
	/* Isolation from the user's git configuration: the test's own git
	 * commands read none; the ones hookq runs get PATH and HOME only,
	 * and HOME is an empty directory. */
	char home[PATH_MAX + 8];
	snprintf(home, sizeof(home), "%s/home", tmp);
	if (mkdir(home, 0700) < 0)
		return -1;
	setenv("HOME", home, 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "Test", 1);
	setenv("GIT_AUTHOR_EMAIL", "test@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "Test", 1);
	setenv("GIT_COMMITTER_EMAIL", "test@example.com", 1);
	sh("set -e; cd '%s'; "
	   "git init -q --bare -b main srv/acme/app.git; "
	   "git init -q -b main work; cd work; "
	   "printf 'ignored.txt\\n' > .gitignore; printf 'one\\n' > file.txt; "
	   "git add .; git commit -qm one; git tag v1; "
	   "printf 'main\\n' > file.txt; git commit -qam main; "
	   "git checkout -q -b feature; printf 'feature\\n' > file.txt; git commit -qam feature; "
	   "git push -q ../srv/acme/app.git main feature v1",
	   tmp);
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "git -C '%s/work' rev-parse v1^{commit}", tmp);
	sh_line(sha_one, sizeof(sha_one), cmd);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	sh("rm -rf '%s'", tmp);
	return 0;
}

/* Each test has its own root: <tmp>/ws-<n>. */
static struct workspace_options opts(char *root, size_t root_size)
{
	static int next;
	snprintf(root, root_size, "%s/ws-%d", tmp, ++next);
	struct workspace_options o;
	memset(&o, 0, sizeof(o));
	o.root = root;
	o.git_base = base;
	o.timeout_ms = 30000;
	return o;
}

static void prepare_ok(const struct workspace_options *o, const char *worker, const char *ref,
		       char *path, size_t path_size)
{
	char err[1024];
	int rc = workspace_prepare(o, worker, "acme/app", ref, path, path_size, err, sizeof(err));
	if (rc != 0)
		fail_msg("workspace_prepare(%s): %s: %s", ref ? ref : "NULL", hq_strerror(rc), err);
}

static const char *file_in(const char *dir, const char *name)
{
	static char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static void the_first_prepare_clones_the_default_branch(void **state)
{
	(void)state;
	char root[PATH_MAX], path[PATH_MAX], want[PATH_MAX + 32];
	struct workspace_options o = opts(root, sizeof(root));
	prepare_ok(&o, "w1", NULL, path, sizeof(path));
	snprintf(want, sizeof(want), "%s/w1/acme/app", root);
	assert_string_equal(path, want);
	assert_string_equal(read_text(file_in(path, "file.txt")), "main\n");
	struct stat st;
	assert_int_equal(stat(root, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* HEAD is detached: no branch of the task's own to push by mistake. */
	char cmd[PATH_MAX + 64], head[256];
	snprintf(cmd, sizeof(cmd), "git -C '%s' symbolic-ref -q HEAD || echo detached", path);
	sh_line(head, sizeof(head), cmd);
	assert_string_equal(head, "detached");
}

static void a_second_prepare_fetches_and_switches_to_the_new_ref(void **state)
{
	(void)state;
	char root[PATH_MAX], path[PATH_MAX], path2[PATH_MAX];
	struct workspace_options o = opts(root, sizeof(root));
	prepare_ok(&o, "w1", "main", path, sizeof(path));
	/* A marker in .git shows the second prepare reused the clone. */
	sh("touch '%s/.git/hookq-marker'", path);
	prepare_ok(&o, "w1", "feature", path2, sizeof(path2));
	assert_string_equal(path, path2);
	assert_true(exists(file_in(path, ".git/hookq-marker")));
	assert_string_equal(read_text(file_in(path, "file.txt")), "feature\n");
	prepare_ok(&o, "w1", "refs/heads/main", path2, sizeof(path2));
	assert_string_equal(read_text(file_in(path, "file.txt")), "main\n");
}

static void a_new_commit_on_the_remote_is_fetched(void **state)
{
	(void)state;
	char root[PATH_MAX], path[PATH_MAX];
	struct workspace_options o = opts(root, sizeof(root));
	sh("set -e; cd '%s'; git clone -q srv/acme/app.git moving; cd moving; "
	   "git checkout -q -b moving; printf 'v1\\n' > file.txt; git commit -qam v1; "
	   "git push -q origin moving",
	   tmp);
	prepare_ok(&o, "w1", "moving", path, sizeof(path));
	assert_string_equal(read_text(file_in(path, "file.txt")), "v1\n");
	sh("set -e; cd '%s/moving'; printf 'v2\\n' > file.txt; git commit -qam v2; "
	   "git push -q origin moving",
	   tmp);
	prepare_ok(&o, "w1", "moving", path, sizeof(path));
	assert_string_equal(read_text(file_in(path, "file.txt")), "v2\n");
}

static void local_changes_and_untracked_files_go_but_ignored_files_stay(void **state)
{
	(void)state;
	char root[PATH_MAX], path[PATH_MAX];
	struct workspace_options o = opts(root, sizeof(root));
	prepare_ok(&o, "w1", "feature", path, sizeof(path));
	sh("set -e; cd '%s'; echo dirty > file.txt; echo u > untracked.txt; "
	   "mkdir -p newdir; echo n > newdir/x; echo cache > ignored.txt",
	   path);
	prepare_ok(&o, "w1", "feature", path, sizeof(path));
	assert_string_equal(read_text(file_in(path, "file.txt")), "feature\n");
	assert_false(exists(file_in(path, "untracked.txt")));
	assert_false(exists(file_in(path, "newdir")));
	assert_string_equal(read_text(file_in(path, "ignored.txt")), "cache\n");
}

static void a_commit_sha_and_a_tag_work_as_refs(void **state)
{
	(void)state;
	char root[PATH_MAX], path[PATH_MAX];
	struct workspace_options o = opts(root, sizeof(root));
	prepare_ok(&o, "w1", sha_one, path, sizeof(path));
	assert_string_equal(read_text(file_in(path, "file.txt")), "one\n");
	prepare_ok(&o, "w1", "feature", path, sizeof(path));
	prepare_ok(&o, "w1", "v1", path, sizeof(path));
	assert_string_equal(read_text(file_in(path, "file.txt")), "one\n");
}

static void two_workers_get_separate_checkouts(void **state)
{
	(void)state;
	char root[PATH_MAX], p1[PATH_MAX], p2[PATH_MAX];
	struct workspace_options o = opts(root, sizeof(root));
	prepare_ok(&o, "alice", "main", p1, sizeof(p1));
	prepare_ok(&o, "bob", "feature", p2, sizeof(p2));
	assert_string_not_equal(p1, p2);
	assert_string_equal(read_text(file_in(p1, "file.txt")), "main\n");
	assert_string_equal(read_text(file_in(p2, "file.txt")), "feature\n");
}

static void an_unknown_ref_is_a_retry_naming_the_fetch(void **state)
{
	(void)state;
	char root[PATH_MAX], path[PATH_MAX] = "untouched", err[1024];
	struct workspace_options o = opts(root, sizeof(root));
	int rc = workspace_prepare(&o, "w1", "acme/app", "nope", path, sizeof(path), err,
				   sizeof(err));
	assert_int_equal(rc, HQ_E_RETRY);
	assert_non_null(strstr(err, "git fetch of 'nope' failed (exit "));
	assert_non_null(strstr(err, "nope"));
	assert_string_equal(path, "untouched");
	/* The clone itself succeeded and stays for the next task. */
	prepare_ok(&o, "w1", "main", path, sizeof(path));
}

static void an_unknown_repository_is_a_retry_and_leaves_no_directory(void **state)
{
	(void)state;
	char root[PATH_MAX], path[PATH_MAX], err[1024], dir[PATH_MAX + 32];
	struct workspace_options o = opts(root, sizeof(root));
	int rc = workspace_prepare(&o, "w1", "acme/missing", NULL, path, sizeof(path), err,
				   sizeof(err));
	assert_int_equal(rc, HQ_E_RETRY);
	assert_non_null(strstr(err, "git clone of 'acme/missing' failed"));
	snprintf(dir, sizeof(dir), "%s/w1/acme", root);
	char cmd[PATH_MAX + 64], count[32];
	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
	sh_line(count, sizeof(count), cmd);
	assert_string_equal(count, "0");
}

/* A git that records that it ran. */
static void marker_git(char *git, size_t git_size, char *marker, size_t marker_size)
{
	snprintf(git, git_size, "%s/marker-git", tmp);
	snprintf(marker, marker_size, "%s/marker-ran", tmp);
	char text[PATH_MAX * 2];
	snprintf(text, sizeof(text), "#!/bin/sh\ntouch '%s'\nexit 1\n", marker);
	write_script(git, text);
}

static void unsafe_names_are_refused_before_git_runs(void **state)
{
	(void)state;
	char root[PATH_MAX], path[PATH_MAX], err[256], git[PATH_MAX + 32],
		marker[PATH_MAX + 32];
	struct workspace_options o = opts(root, sizeof(root));
	marker_git(git, sizeof(git), marker, sizeof(marker));
	o.git = git;
	const char *repos[] = { "../x", "-x/y", "a/..", "a//b", "a b/c", "x", "a/b/", "a/.git",
				"a/b;rm", "" };
	for (size_t i = 0; i < sizeof(repos) / sizeof(repos[0]); i++) {
		int rc = workspace_prepare(&o, "w1", repos[i], NULL, path, sizeof(path), err,
					   sizeof(err));
		if (rc != HQ_E_INVAL)
			fail_msg("repository '%s': %d", repos[i], rc);
		assert_non_null(strstr(err, "unsafe repository"));
	}
	const char *refs[] = { "-upload-pack=x", "a..b", "x.lock", "@{u}", "/a", "a/", "a//b",
			       "a:b", "+a", "a b", "a/.b", "", "$(id)" };
	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		int rc = workspace_prepare(&o, "w1", "acme/app", refs[i], path, sizeof(path), err,
					   sizeof(err));
		if (rc != HQ_E_INVAL)
			fail_msg("ref '%s': %d", refs[i], rc);
		assert_non_null(strstr(err, "unsafe ref"));
	}
	const char *workers[] = { "..", ".", "a/b", "", "a b" };
	for (size_t i = 0; i < sizeof(workers) / sizeof(workers[0]); i++) {
		int rc = workspace_prepare(&o, workers[i], "acme/app", NULL, path, sizeof(path),
					   err, sizeof(err));
		if (rc != HQ_E_INVAL)
			fail_msg("worker '%s': %d", workers[i], rc);
	}
	assert_int_equal(workspace_prepare(&o, NULL, "acme/app", NULL, path, sizeof(path), err,
					   sizeof(err)),
			 HQ_E_INVAL);
	assert_false(exists(marker));
	assert_false(exists(root));
}

static void the_validators_accept_ordinary_names(void **state)
{
	(void)state;
	assert_true(workspace_repository_valid("acme/app"));
	assert_true(workspace_repository_valid("group/sub/project.js"));
	assert_true(workspace_repository_valid("A-b_c/d.e-f"));
	assert_false(workspace_repository_valid(NULL));
	assert_false(workspace_repository_valid("a/b..c"));
	assert_false(workspace_repository_valid("a/.hidden"));
	char long_name[256];
	memset(long_name, 'a', sizeof(long_name));
	long_name[1] = '/';
	long_name[201] = '\0';
	assert_false(workspace_repository_valid(long_name));
	long_name[200] = '\0';
	assert_true(workspace_repository_valid(long_name));

	assert_true(workspace_ref_valid("main"));
	assert_true(workspace_ref_valid("feature/x-1.2"));
	assert_true(workspace_ref_valid("refs/pull/12/head"));
	assert_true(workspace_ref_valid("v1.0.0"));
	assert_true(workspace_ref_valid("0123456789abcdef0123456789abcdef01234567"));
	assert_false(workspace_ref_valid(NULL));
	assert_false(workspace_ref_valid("a."));
	char long_ref[300];
	memset(long_ref, 'r', sizeof(long_ref));
	long_ref[256] = '\0';
	assert_false(workspace_ref_valid(long_ref));
	long_ref[255] = '\0';
	assert_true(workspace_ref_valid(long_ref));

	assert_true(workspace_worker_valid("harry"));
	assert_true(workspace_worker_valid("w-1.2_x"));
	assert_true(workspace_worker_valid("..."));
	char long_worker[80];
	memset(long_worker, 'w', sizeof(long_worker));
	long_worker[65] = '\0';
	assert_false(workspace_worker_valid(long_worker));
	long_worker[64] = '\0';
	assert_true(workspace_worker_valid(long_worker));
}

static void the_token_is_masked_in_err_when_git_fails(void **state)
{
	(void)state;
	char root[PATH_MAX], path[PATH_MAX], err[1024];
	struct workspace_options o = opts(root, sizeof(root));
	o.git_base = "http://127.0.0.1:1";
	o.token = "tok-SECRET-123";
	int rc = workspace_prepare(&o, "w1", "acme/app", NULL, path, sizeof(path), err,
				   sizeof(err));
	assert_int_equal(rc, HQ_E_RETRY);
	assert_non_null(strstr(err, "git clone of 'acme/app' failed"));
	assert_non_null(strstr(err, "127.0.0.1"));
	assert_null(strstr(err, "SECRET"));
}

/* A git that prints the token, then pad bytes, so that the kept tail of
 * WORKSPACE_OUTPUT_MAX bytes starts inside the token. */
static void the_token_is_masked_even_when_git_prints_it(void **state)
{
	(void)state;
	const char *token = "tok-SECRET-123";
	size_t tl = strlen(token);
	for (size_t j = 0; j <= tl; j++) {
		char root[PATH_MAX], path[PATH_MAX], err[WORKSPACE_OUTPUT_MAX * 2],
			git[PATH_MAX + 32], text[PATH_MAX * 2];
		struct workspace_options o = opts(root, sizeof(root));
		snprintf(git, sizeof(git), "%s/leaky-git", tmp);
		snprintf(text, sizeof(text),
			 "#!/bin/sh\nprintf 'fatal: password %%s\\n' \"$HOOKQ_GIT_TOKEN\"\n"
			 "printf '%%s' \"$HOOKQ_GIT_TOKEN\"\n"
			 "head -c %zu /dev/zero | tr '\\0' B\nexit 128\n",
			 (size_t)WORKSPACE_OUTPUT_MAX - j);
		write_script(git, text);
		o.git = git;
		o.token = token;
		int rc = workspace_prepare(&o, "w1", "acme/app", NULL, path, sizeof(path), err,
					   sizeof(err));
		assert_int_equal(rc, HQ_E_RETRY);
		assert_non_null(strstr(err, "failed (exit 128): "));
		if (strstr(err, "SECRET") || (j >= 3 && strstr(err, "123")) ||
		    (j >= 1 && strstr(err, ": 3")))
			fail_msg("token leaked with %zu bytes of it kept: %.80s", j, err);
		if (j > 0)
			assert_non_null(strstr(err, ": ***BBB"));
		/* A small err still ends with the end of git's output. */
		char small[64];
		rc = workspace_prepare(&o, "w1", "acme/app", NULL, path, sizeof(path), small,
				       sizeof(small));
		assert_int_equal(rc, HQ_E_RETRY);
		assert_int_equal(strlen(small), sizeof(small) - 1);
		assert_non_null(strstr(small, "BBB"));
	}
}

/* A git wrapper that asks the real git, with the -c options hookq gave to
 * fetch, what the credential helpers answer for the remote's host and for
 * another one; it also records every argv. The remote is
 * https://example.com, which the wrapper maps to the local bare repository. */
static void the_credential_helper_supplies_the_token_to_its_host_only(void **state)
{
	(void)state;
	char root[PATH_MAX], path[PATH_MAX], git[PATH_MAX + 32], real[256],
		text[PATH_MAX * 6];
	struct workspace_options o = opts(root, sizeof(root));
	o.git_base = "https://example.com";
	sh_line(real, sizeof(real), "command -v git");
	snprintf(git, sizeof(git), "%s/cred-git", tmp);
	snprintf(text, sizeof(text),
		 "#!/bin/sh\n"
		 "printf '%%s\\n' \"$@\" >> '%s/argv.log'\n"
		 "cfg=; fetch=; for a in \"$@\"; do\n"
		 "  case \"$prev\" in -c) cfg=\"$cfg -c '$a'\";; esac\n"
		 "  [ \"$a\" = fetch ] && fetch=1; prev=$a\n"
		 "done\n"
		 "if [ -n \"$fetch\" ]; then\n"
		 "  for h in example.com evil.example; do\n"
		 "    printf 'protocol=https\\nhost=%%s\\n\\n' $h | eval \"'%s' $cfg credential fill\" "
		 "> '%s/cred-'$h 2>&1\n"
		 "  done\n"
		 "fi\n"
		 "n=$#; i=0\n"
		 "for a in \"$@\"; do i=$((i+1)); [ \"$a\" = https://example.com/acme/app.git ] && "
		 "a='%s/acme/app.git'; set -- \"$@\" \"$a\"; done\n"
		 "shift $n\n"
		 "GIT_TERMINAL_PROMPT=0 exec '%s' \"$@\"\n",
		 tmp, real, tmp, base, real);
	write_script(git, text);
	o.git = git;
	o.token = "tok-SECRET-123";
	prepare_ok(&o, "w1", "feature", path, sizeof(path));
	assert_string_equal(read_text(file_in(path, "file.txt")), "feature\n");
	char cred[PATH_MAX + 32], other[PATH_MAX + 32], log[PATH_MAX + 32];
	snprintf(cred, sizeof(cred), "%s/cred-example.com", tmp);
	snprintf(other, sizeof(other), "%s/cred-evil.example", tmp);
	const char *c = read_text(cred);
	assert_non_null(c);
	assert_non_null(strstr(c, "username=x-access-token\n"));
	assert_non_null(strstr(c, "password=tok-SECRET-123\n"));
	/* Another host (an agent's insteadOf or remote) gets no token. */
	const char *e = read_text(other);
	assert_non_null(e);
	assert_null(strstr(e, "SECRET"));
	snprintf(log, sizeof(log), "%s/argv.log", tmp);
	const char *a = read_text(log);
	assert_non_null(a);
	assert_non_null(strstr(a, "clone\n"));
	assert_non_null(strstr(a, "core.hooksPath=/dev/null\n"));
	assert_null(strstr(a, "SECRET"));
	/* Neither the helper nor the token is stored in the checkout. */
	const char *cfg = read_text(file_in(path, ".git/config"));
	assert_null(strstr(cfg, "SECRET"));
	assert_null(strstr(cfg, "credential"));
	sh("rm -f '%s' '%s' '%s'", cred, other, log);
}

/* Hooks an agent wrote into its checkout never run in hookq's git. */
static void hooks_in_a_checkout_never_run(void **state)
{
	(void)state;
	char root[PATH_MAX], path[PATH_MAX], marker[PATH_MAX + 32];
	struct workspace_options o = opts(root, sizeof(root));
	prepare_ok(&o, "w1", NULL, path, sizeof(path));
	snprintf(marker, sizeof(marker), "%s/hook-ran", tmp);
	sh("printf '#!/bin/sh\\ntouch %s\\n' > '%s/.git/hooks/post-checkout' && chmod 755 "
	   "'%s/.git/hooks/post-checkout'",
	   marker, path, path);
	sh("git -C '%s' config core.hooksPath .git/hooks", path);
	prepare_ok(&o, "w1", "feature", path, sizeof(path));
	assert_string_equal(read_text(file_in(path, "file.txt")), "feature\n");
	assert_int_equal(access(marker, F_OK), -1);
}

/* A clone that hangs is killed at the timeout, and the half-made clone
 * goes with it: no directory that looks like a checkout. */
static void a_git_command_that_hangs_times_out_and_leaves_no_checkout(void **state)
{
	(void)state;
	char root[PATH_MAX], path[PATH_MAX], err[1024], git[PATH_MAX + 32];
	struct workspace_options o = opts(root, sizeof(root));
	snprintf(git, sizeof(git), "%s/slow-git", tmp);
	/* The last argument of clone is its directory. */
	write_script(git, "#!/bin/sh\nfor d; do :; done\nmkdir -p \"$d/.git\"\nsleep 30\n");
	o.git = git;
	o.timeout_ms = 200;
	int rc = workspace_prepare(&o, "w1", "acme/app", NULL, path, sizeof(path), err,
				   sizeof(err));
	assert_int_equal(rc, HQ_E_RETRY);
	assert_non_null(strstr(err, "git clone of 'acme/app' failed (timed out after 200 ms)"));
	char dir[PATH_MAX + 32], cmd[PATH_MAX + 64], count[32];
	snprintf(dir, sizeof(dir), "%s/w1/acme", root);
	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
	sh_line(count, sizeof(count), cmd);
	assert_string_equal(count, "0");
}

static void a_clone_left_by_a_crash_is_removed(void **state)
{
	(void)state;
	char root[PATH_MAX], path[PATH_MAX];
	struct workspace_options o = opts(root, sizeof(root));
	sh("mkdir -p '%s/w1/acme/.app.clone-AbC123/.git'", root);
	prepare_ok(&o, "w1", "main", path, sizeof(path));
	char stale[PATH_MAX + 64];
	snprintf(stale, sizeof(stale), "%s/w1/acme/.app.clone-AbC123", root);
	assert_false(exists(stale));
}

static void a_directory_that_is_not_a_checkout_is_left_alone(void **state)
{
	(void)state;
	char root[PATH_MAX], path[PATH_MAX], err[1024];
	struct workspace_options o = opts(root, sizeof(root));
	sh("mkdir -p '%s/w1/acme/app' && echo keep > '%s/w1/acme/app/mine'", root, root);
	int rc = workspace_prepare(&o, "w1", "acme/app", NULL, path, sizeof(path), err,
				   sizeof(err));
	assert_int_equal(rc, HQ_E_IO);
	assert_non_null(strstr(err, "is not a git checkout"));
	char mine[PATH_MAX + 32];
	snprintf(mine, sizeof(mine), "%s/w1/acme/app/mine", root);
	assert_true(exists(mine));
}

static void a_symlink_under_the_root_is_refused(void **state)
{
	(void)state;
	char root[PATH_MAX], path[PATH_MAX], err[1024];
	struct workspace_options o = opts(root, sizeof(root));
	sh("mkdir -p '%s/w1' '%s/elsewhere' && ln -s '%s/elsewhere' '%s/w1/acme'", root, tmp, tmp,
	   root);
	int rc = workspace_prepare(&o, "w1", "acme/app", NULL, path, sizeof(path), err,
				   sizeof(err));
	assert_int_equal(rc, HQ_E_IO);
	char out[PATH_MAX + 32];
	snprintf(out, sizeof(out), "%s/elsewhere/app", tmp);
	assert_false(exists(out));
}

static void a_path_buffer_too_small_is_refused(void **state)
{
	(void)state;
	char root[PATH_MAX], path[8], err[1024];
	struct workspace_options o = opts(root, sizeof(root));
	int rc = workspace_prepare(&o, "w1", "acme/app", NULL, path, sizeof(path), err,
				   sizeof(err));
	assert_int_equal(rc, HQ_E_TOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_first_prepare_clones_the_default_branch),
		cmocka_unit_test(a_second_prepare_fetches_and_switches_to_the_new_ref),
		cmocka_unit_test(a_new_commit_on_the_remote_is_fetched),
		cmocka_unit_test(local_changes_and_untracked_files_go_but_ignored_files_stay),
		cmocka_unit_test(a_commit_sha_and_a_tag_work_as_refs),
		cmocka_unit_test(two_workers_get_separate_checkouts),
		cmocka_unit_test(an_unknown_ref_is_a_retry_naming_the_fetch),
		cmocka_unit_test(an_unknown_repository_is_a_retry_and_leaves_no_directory),
		cmocka_unit_test(unsafe_names_are_refused_before_git_runs),
		cmocka_unit_test(the_validators_accept_ordinary_names),
		cmocka_unit_test(the_token_is_masked_in_err_when_git_fails),
		cmocka_unit_test(the_token_is_masked_even_when_git_prints_it),
		cmocka_unit_test(the_credential_helper_supplies_the_token_to_its_host_only),
		cmocka_unit_test(hooks_in_a_checkout_never_run),
		cmocka_unit_test(a_git_command_that_hangs_times_out_and_leaves_no_checkout),
		cmocka_unit_test(a_clone_left_by_a_crash_is_removed),
		cmocka_unit_test(a_directory_that_is_not_a_checkout_is_left_alone),
		cmocka_unit_test(a_symlink_under_the_root_is_refused),
		cmocka_unit_test(a_path_buffer_too_small_is_refused),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
