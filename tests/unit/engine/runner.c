#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/runner.h"
#include "util/error.h"

/* /bin/sh scripts appear here only as the tests' own agents: hookq itself
 * never starts anything through a shell. */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static char *make_dir(void)
{
	char *d = strdup("/tmp/hookq-runner-XXXXXX");
	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static void remove_dir(char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

static struct runner *start(const struct runner_spec *spec)
{
	struct runner *r = NULL;
	char err[256];
	int rc = runner_start(spec, &r, err, sizeof(err));
	if (rc < 0)
		fail_msg("runner_start: %s", err);
	return r;
}

/* Starts spec, waits for its end and frees the runner. */
static struct runner_result run(const struct runner_spec *spec)
{
	struct runner *r = start(spec);
	struct runner_result res;
	assert_int_equal(runner_wait(r, &res), 0);
	runner_free(r);
	return res;
}

static const char *const default_env[] = { "PATH=/usr/bin:/bin", NULL };

static struct runner_spec sh(const char *const *argv)
{
	struct runner_spec s;
	memset(&s, 0, sizeof(s));
	s.argv = argv;
	s.envp = default_env;
	s.output_max = 65536;
	s.timeout_ms = 30000; /* a hung test still ends */
	s.kill_grace_ms = 200;
	return s;
}

/* Reads the pid a script wrote to path, waiting up to 2 s for it. */
static pid_t read_pid(const char *path)
{
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(path, "r");
		if (f) {
			int pid = 0;
			int n = fscanf(f, "%d", &pid);
			fclose(f);
			if (n == 1 && pid > 0)
				return (pid_t)pid;
		}
		sleep_ms(10);
	}
	fail_msg("no pid in %s", path);
	return -1;
}

/* True when pid is gone or a zombie waiting for init to reap it. */
static bool gone(pid_t pid)
{
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return true;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static bool dies_soon(pid_t pid)
{
	for (int i = 0; i < 200; i++) {
		if (gone(pid))
			return true;
		sleep_ms(10);
	}
	return false;
}

static void the_exit_code_passes_through(void **state)
{
	(void)state;
	const char *const argv[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 7", NULL };
	struct runner_spec s = sh(argv);
	struct runner_result res = run(&s);
	assert_int_equal(res.end, RUNNER_EXITED);
	assert_int_equal(res.exit_code, 7);
	assert_int_equal(res.signal, 0);
	assert_string_equal(res.output, "out\nerr\n");
	assert_int_equal(res.output_total, 8);
	assert_false(res.output_truncated);
	runner_result_release(&res);
}

static void a_signal_that_ends_the_leader_is_reported(void **state)
{
	(void)state;
	const char *const argv[] = { "/bin/sh", "-c", "kill -USR1 $$", NULL };
	struct runner_spec s = sh(argv);
	struct runner_result res = run(&s);
	assert_int_equal(res.end, RUNNER_SIGNALED);
	assert_int_equal(res.signal, SIGUSR1);
	assert_int_equal(res.exit_code, -1);
	runner_result_release(&res);
}

static void ignored_and_blocked_signals_are_reset_in_the_child(void **state)
{
	(void)state;
	/* hookq ignores SIGPIPE and a thread may block signals; neither may
	 * reach the agent. */
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
	sigemptyset(&ign.sa_mask);
	assert_int_equal(sigaction(SIGPIPE, &ign, &old_pipe), 0);
	sigset_t usr2, old_mask;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr2, &old_mask);

	const char *const piped[] = { "/bin/sh", "-c", "kill -PIPE $$; exit 3", NULL };
	struct runner_spec s = sh(piped);
	struct runner_result res = run(&s);
	assert_int_equal(res.end, RUNNER_SIGNALED);
	assert_int_equal(res.signal, SIGPIPE);
	runner_result_release(&res);

	const char *const blocked[] = { "/bin/sh", "-c", "kill -USR2 $$; exit 3", NULL };
	s = sh(blocked);
	res = run(&s);
	assert_int_equal(res.end, RUNNER_SIGNALED);
	assert_int_equal(res.signal, SIGUSR2);
	runner_result_release(&res);

	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
}

static void stdin_reaches_the_child_byte_for_byte_and_no_shell_runs_it(void **state)
{
	(void)state;
	char *dir = make_dir();
	char prompt[1024], path[300];
	int n = snprintf(prompt, sizeof(prompt),
			 "fix $(touch %s/a) and `touch %s/b`; touch %s/c | x & y > %s/d\n"
			 "\"quoted\" 'single' \\ $HOME ${PATH} *\n",
			 dir, dir, dir, dir);
	assert_true(n > 0 && (size_t)n < sizeof(prompt));
	const char *const argv[] = { "cat", NULL };
	struct runner_spec s = sh(argv);
	s.stdin_data = prompt;
	s.stdin_len = (size_t)n;
	struct runner_result res = run(&s);
	assert_int_equal(res.end, RUNNER_EXITED);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.output_len, (size_t)n);
	assert_memory_equal(res.output, prompt, (size_t)n);
	runner_result_release(&res);
	const char *names[] = { "a", "b", "c", "d" };
	for (size_t i = 0; i < 4; i++) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		assert_int_equal(stat(path, &st), -1);
	}
	remove_dir(dir);
}

static void a_big_stdin_through_cat_keeps_the_exact_tail_and_total(void **state)
{
	(void)state;
	size_t len = 1 << 20, max = 4096;
	char *data = malloc(len);
	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(33 + (i * 7 + i / 4093) % 94); /* ASCII, never periodic in 4096 */
	const char *const argv[] = { "/bin/cat", NULL };
	struct runner_spec s = sh(argv);
	s.stdin_data = data;
	s.stdin_len = len;
	s.output_max = max;
	struct runner_result res = run(&s);
	assert_int_equal(res.end, RUNNER_EXITED);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.output_total, len);
	assert_true(res.output_truncated);
	assert_int_equal(res.output_len, max);
	assert_memory_equal(res.output, data + len - max, max);
	assert_int_equal(res.output[max], '\0');
	runner_result_release(&res);
	free(data);
}

static void a_flood_of_output_keeps_memory_bounded(void **state)
{
	(void)state;
	const char *const argv[] = { "head", "-c", "52428800", "/dev/zero", NULL };
	struct runner_spec s = sh(argv);
	s.output_max = 1000;
	struct runner_result res = run(&s);
	assert_int_equal(res.end, RUNNER_EXITED);
	assert_int_equal(res.output_total, 52428800);
	assert_int_equal(res.output_len, 1000);
	for (size_t i = 0; i < res.output_len; i++)
		assert_int_equal(res.output[i], 0);
	runner_result_release(&res);
}

static void the_tail_starts_on_a_utf8_boundary(void **state)
{
	(void)state;
	/* "é" is C3 A9: a 4-byte tail of "aé€" (61 C3 A9 E2 82 AC) would
	 * start with A9, which is skipped. */
	const char *const argv[] = { "/bin/sh", "-c", "printf 'a\\303\\251\\342\\202\\254'", NULL };
	struct runner_spec s = sh(argv);
	s.output_max = 4;
	struct runner_result res = run(&s);
	assert_int_equal(res.output_total, 6);
	assert_int_equal(res.output_len, 3);
	assert_string_equal(res.output, "\342\202\254");
	assert_true(res.output_truncated);
	runner_result_release(&res);
}

static void a_child_that_does_not_read_stdin_is_not_an_error(void **state)
{
	(void)state;
	size_t len = 1 << 20;
	char *data = calloc(1, len);
	assert_non_null(data);
	/* SIGPIPE keeps its default here: the runner must not die of it. */
	const char *const exits[] = { "true", NULL };
	struct runner_spec s = sh(exits);
	s.stdin_data = data;
	s.stdin_len = len;
	struct runner_result res = run(&s);
	assert_int_equal(res.end, RUNNER_EXITED);
	assert_int_equal(res.exit_code, 0);
	runner_result_release(&res);

	const char *const closes[] = { "/bin/sh", "-c", "exec 0<&-; sleep 0.2; echo done", NULL };
	s = sh(closes);
	s.stdin_data = data;
	s.stdin_len = len;
	res = run(&s);
	assert_int_equal(res.end, RUNNER_EXITED);
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(res.output, "done\n");
	runner_result_release(&res);
	free(data);

	/* The SIGPIPE our writes raised was consumed, not left pending. */
	sigset_t pending;
	sigpending(&pending);
	assert_int_equal(sigismember(&pending, SIGPIPE), 0);
}

static void a_timeout_kills_the_whole_group(void **state)
{
	(void)state;
	char *dir = make_dir();
	char script[512], pidfile[300];
	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	snprintf(script, sizeof(script), "sleep 100 & echo $! > %s; wait", pidfile);
	const char *const argv[] = { "/bin/sh", "-c", script, NULL };
	struct runner_spec s = sh(argv);
	s.timeout_ms = 1000;
	s.kill_grace_ms = 200;
	uint64_t t0 = now_ms();
	struct runner_result res = run(&s);
	assert_true(now_ms() - t0 < 10000);
	assert_int_equal(res.end, RUNNER_TIMED_OUT);
	assert_int_equal(res.signal, SIGTERM);
	assert_true(dies_soon(read_pid(pidfile)));
	runner_result_release(&res);
	remove_dir(dir);
}

static void a_child_ignoring_sigterm_is_killed_after_the_grace(void **state)
{
	(void)state;
	const char *const argv[] = { "/bin/sh", "-c", "trap '' TERM; sleep 100; exit 0", NULL };
	struct runner_spec s = sh(argv);
	s.timeout_ms = 200;
	s.kill_grace_ms = 200;
	uint64_t t0 = now_ms();
	struct runner_result res = run(&s);
	assert_true(now_ms() - t0 < 10000);
	assert_int_equal(res.end, RUNNER_TIMED_OUT);
	assert_int_equal(res.signal, SIGKILL);
	runner_result_release(&res);
}

static void *cancel_later(void *arg)
{
	sleep_ms(100);
	runner_cancel(arg);
	return NULL;
}

static void cancel_from_another_thread_ends_it_as_cancelled(void **state)
{
	(void)state;
	const char *const argv[] = { "sleep", "100", NULL };
	struct runner_spec s = sh(argv);
	struct runner *r = start(&s);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, cancel_later, r), 0);
	uint64_t t0 = now_ms();
	struct runner_result res;
	assert_int_equal(runner_wait(r, &res), 0);
	assert_true(now_ms() - t0 < 10000);
	pthread_join(t, NULL);
	assert_int_equal(res.end, RUNNER_CANCELLED);
	assert_int_equal(res.signal, SIGTERM);
	runner_result_release(&res);
	assert_int_equal(runner_wait(r, &res), HQ_E_CONFLICT);
	runner_free(r);

	/* A cancel before the wait is not lost. */
	r = start(&s);
	runner_cancel(r);
	assert_int_equal(runner_wait(r, &res), 0);
	assert_int_equal(res.end, RUNNER_CANCELLED);
	runner_result_release(&res);
	runner_free(r);
}

static void the_leader_exiting_ends_the_run_and_kills_what_it_left(void **state)
{
	(void)state;
	char *dir = make_dir();
	char script[512], pidfile[300];
	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	/* The grandchild holds the output pipe open for 100 s. */
	snprintf(script, sizeof(script), "sleep 100 & echo $! > %s; echo done", pidfile);
	const char *const argv[] = { "/bin/sh", "-c", script, NULL };
	struct runner_spec s = sh(argv);
	uint64_t t0 = now_ms();
	struct runner_result res = run(&s);
	assert_true(now_ms() - t0 < 10000);
	assert_int_equal(res.end, RUNNER_EXITED);
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(res.output, "done\n");
	assert_true(dies_soon(read_pid(pidfile)));
	runner_result_release(&res);
	remove_dir(dir);
}

static void the_child_gets_only_stdin_stdout_and_stderr(void **state)
{
	(void)state;
	/* The runner's own pipes, pidfd and eventfd are all CLOEXEC. Beyond
	 * 0, 1 and 2 the child may only hold what the test process itself
	 * inherited without CLOEXEC from whoever started it. */
	const char *const argv[] = { "/bin/sh", "-c", "ls /proc/$$/fd", NULL };
	struct runner_spec s = sh(argv);
	s.stdin_data = "x";
	s.stdin_len = 1;
	struct runner_result res = run(&s);
	assert_int_equal(res.exit_code, 0);
	int seen = 0;
	for (char *line = strtok(res.output, "\n"); line; line = strtok(NULL, "\n")) {
		int fd = atoi(line);
		if (fd <= 2) {
			seen++;
			continue;
		}
		int flags = fcntl(fd, F_GETFD);
		if (flags < 0 || (flags & FD_CLOEXEC))
			fail_msg("fd %d leaked into the child", fd);
	}
	assert_int_equal(seen, 3);
	runner_result_release(&res);
}

static void *run_one(void *arg)
{
	int *ok = arg;
	char script[64];
	snprintf(script, sizeof(script), "cat; exit %d", *ok);
	const char *const argv[] = { "/bin/sh", "-c", script, NULL };
	struct runner_spec s = sh(argv);
	s.stdin_data = "hello";
	s.stdin_len = 5;
	struct runner *r = NULL;
	char err[256];
	struct runner_result res;
	int code = *ok;
	*ok = 0;
	if (runner_start(&s, &r, err, sizeof(err)) < 0)
		return NULL;
	if (runner_wait(r, &res) == 0) {
		*ok = res.end == RUNNER_EXITED && res.exit_code == code &&
		      strcmp(res.output, "hello") == 0;
		runner_result_release(&res);
	}
	runner_free(r);
	return NULL;
}

static void runners_in_several_threads_do_not_interfere(void **state)
{
	(void)state;
	pthread_t t[8];
	int ok[8];
	for (int i = 0; i < 8; i++) {
		ok[i] = i + 1; /* in: the exit code to use; out: success */
		assert_int_equal(pthread_create(&t[i], NULL, run_one, &ok[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(ok[i], 1);
	}
}

static void a_missing_program_is_named_in_the_error(void **state)
{
	(void)state;
	const char *const in_path[] = { "hookq-no-such-program", NULL };
	const char *const absolute[] = { "/nonexistent/hookq-agent", NULL };
	const char *const *cases[] = { in_path, absolute };
	for (size_t i = 0; i < 2; i++) {
		struct runner_spec s = sh(cases[i]);
		struct runner *r = NULL;
		char err[256];
		assert_int_equal(runner_start(&s, &r, err, sizeof(err)), HQ_E_NOTFOUND);
		assert_null(r);
		char want[128];
		snprintf(want, sizeof(want), "cannot start '%s': No such file or directory",
			 cases[i][0]);
		assert_string_equal(err, want);
	}
	struct runner_spec s = sh(in_path);
	s.argv = NULL;
	struct runner *r = NULL;
	char err[256];
	assert_int_equal(runner_start(&s, &r, err, sizeof(err)), HQ_E_INVAL);
}

static void the_child_sees_only_the_given_environment(void **state)
{
	(void)state;
	const char *const env[] = { "A=1", "B=two words", "C=$(x) `y`", NULL };
	const char *const argv[] = { "env", NULL }; /* found in hookq's PATH */
	struct runner_spec s = sh(argv);
	s.envp = env;
	struct runner_result res = run(&s);
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(res.output, "A=1\nB=two words\nC=$(x) `y`\n");
	runner_result_release(&res);

	s.envp = NULL;
	res = run(&s);
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(res.output, "");
	runner_result_release(&res);
}

static void the_child_starts_in_cwd(void **state)
{
	(void)state;
	char *dir = make_dir();
	char *real = realpath(dir, NULL);
	assert_non_null(real);
	const char *const argv[] = { "/bin/pwd", NULL };
	struct runner_spec s = sh(argv);
	s.cwd = dir;
	struct runner_result res = run(&s);
	char want[PATH_MAX + 2];
	snprintf(want, sizeof(want), "%s\n", real);
	assert_string_equal(res.output, want);
	runner_result_release(&res);

	s.cwd = "/nonexistent/hookq-dir";
	struct runner *r = NULL;
	char err[256];
	assert_int_equal(runner_start(&s, &r, err, sizeof(err)), HQ_E_NOTFOUND);
	assert_string_equal(err, "cannot start '/bin/pwd' in '/nonexistent/hookq-dir': "
				 "No such file or directory");
	free(real);
	remove_dir(dir);
}

static void proc_starttime_names_live_processes_only(void **state)
{
	(void)state;
	uint64_t self = 0, again = 0;
	assert_int_equal(runner_proc_starttime(getpid(), &self), 0);
	assert_true(self > 0);
	assert_int_equal(runner_proc_starttime(getpid(), &again), 0);
	assert_int_equal(self, again);

	const char *const argv[] = { "true", NULL };
	struct runner_spec s = sh(argv);
	struct runner *r = start(&s);
	pid_t pid = runner_pid(r);
	struct runner_result res;
	assert_int_equal(runner_wait(r, &res), 0);
	runner_result_release(&res);
	runner_free(r);
	uint64_t st;
	assert_int_equal(runner_proc_starttime(pid, &st), HQ_E_NOTFOUND);
	assert_int_equal(runner_proc_starttime(INT_MAX, &st), HQ_E_NOTFOUND);
}

static void proc_starttime_survives_parentheses_in_the_name(void **state)
{
	(void)state;
	char *dir = make_dir();
	char link[300];
	snprintf(link, sizeof(link), "%s/a) b c (d", dir);
	assert_int_equal(symlink("/bin/sleep", link), 0);
	const char *const argv[] = { link, "100", NULL };
	struct runner_spec s = sh(argv);
	struct runner *r = start(&s);
	uint64_t self, child;
	assert_int_equal(runner_proc_starttime(getpid(), &self), 0);
	assert_int_equal(runner_proc_starttime(runner_pid(r), &child), 0);
	assert_true(child >= self);
	size_t killed = 0;
	assert_int_equal(runner_kill_leftover(runner_pid(r), child, &killed), 0);
	assert_int_equal(killed, 1);
	runner_free(r);
	remove_dir(dir);
}

static void kill_leftover_kills_a_group_left_unwaited(void **state)
{
	(void)state;
	char *dir = make_dir();
	char script[512], pidfile[300];
	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	snprintf(script, sizeof(script), "sleep 100 & echo $! > %s; wait", pidfile);
	const char *const argv[] = { "/bin/sh", "-c", script, NULL };
	struct runner_spec s = sh(argv);
	struct runner *r = start(&s);
	pid_t pid = runner_pid(r), grandchild = read_pid(pidfile);
	uint64_t st;
	assert_int_equal(runner_proc_starttime(pid, &st), 0);

	/* Another start time: the pid was reused, nothing is touched. */
	size_t killed = 99;
	assert_int_equal(runner_kill_leftover(pid, st + 1, &killed), 0);
	assert_int_equal(killed, 0);
	assert_int_equal(kill(pid, 0), 0);
	assert_int_equal(kill(grandchild, 0), 0);

	assert_int_equal(runner_kill_leftover(pid, st, &killed), 0);
	assert_int_equal(killed, 2);
	struct runner_result res;
	assert_int_equal(runner_wait(r, &res), 0);
	assert_int_equal(res.end, RUNNER_SIGNALED);
	assert_int_equal(res.signal, SIGKILL);
	assert_true(dies_soon(grandchild));
	runner_result_release(&res);
	runner_free(r);
	remove_dir(dir);
}

static void kill_leftover_finds_the_group_when_the_leader_is_gone(void **state)
{
	(void)state;
	char *dir = make_dir();
	char script[512], pidfile[300];
	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	snprintf(script, sizeof(script), "sleep 100 & echo $! > %s; exit 0", pidfile);
	const char *const argv[] = { "/bin/sh", "-c", script, NULL };
	struct runner_spec s = sh(argv);
	struct runner *r = start(&s);
	pid_t pid = runner_pid(r), grandchild = read_pid(pidfile);
	uint64_t st;
	assert_int_equal(runner_proc_starttime(pid, &st), 0);
	/* Simulates a hookq that died: the leader exits and is reaped behind
	 * the runner's back, and only the orphaned grandchild is left. */
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	size_t killed = 0;
	assert_int_equal(runner_kill_leftover(pid, st, &killed), 0);
	assert_int_equal(killed, 1);
	assert_true(dies_soon(grandchild));
	assert_int_equal(runner_kill_leftover(pid, st, &killed), 0);
	assert_int_equal(killed, 0);
	assert_int_equal(runner_kill_leftover(1, st, &killed), HQ_E_INVAL);
	runner_free(r); /* its waitpid fails with ECHILD: harmless */
	remove_dir(dir);
}

static void free_kills_and_reaps_a_running_group(void **state)
{
	(void)state;
	const char *const argv[] = { "sleep", "100", NULL };
	struct runner_spec s = sh(argv);
	struct runner *r = start(&s);
	pid_t pid = runner_pid(r);
	runner_free(r);
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	runner_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_exit_code_passes_through),
		cmocka_unit_test(a_signal_that_ends_the_leader_is_reported),
		cmocka_unit_test(ignored_and_blocked_signals_are_reset_in_the_child),
		cmocka_unit_test(stdin_reaches_the_child_byte_for_byte_and_no_shell_runs_it),
		cmocka_unit_test(a_big_stdin_through_cat_keeps_the_exact_tail_and_total),
		cmocka_unit_test(a_flood_of_output_keeps_memory_bounded),
		cmocka_unit_test(the_tail_starts_on_a_utf8_boundary),
		cmocka_unit_test(a_child_that_does_not_read_stdin_is_not_an_error),
		cmocka_unit_test(a_timeout_kills_the_whole_group),
		cmocka_unit_test(a_child_ignoring_sigterm_is_killed_after_the_grace),
		cmocka_unit_test(cancel_from_another_thread_ends_it_as_cancelled),
		cmocka_unit_test(the_leader_exiting_ends_the_run_and_kills_what_it_left),
		cmocka_unit_test(the_child_gets_only_stdin_stdout_and_stderr),
		cmocka_unit_test(runners_in_several_threads_do_not_interfere),
		cmocka_unit_test(a_missing_program_is_named_in_the_error),
		cmocka_unit_test(the_child_sees_only_the_given_environment),
		cmocka_unit_test(the_child_starts_in_cwd),
		cmocka_unit_test(proc_starttime_names_live_processes_only),
		cmocka_unit_test(proc_starttime_survives_parentheses_in_the_name),
		cmocka_unit_test(kill_leftover_kills_a_group_left_unwaited),
		cmocka_unit_test(kill_leftover_finds_the_group_when_the_leader_is_gone),
		cmocka_unit_test(free_kills_and_reaps_a_running_group),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
