#include "engine/runner.h"

#include <dirent.h>
#include <openssl/crypto.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/crypto.h"
#include "util/error.h"

/* Bytes moved per read or write: the default pipe capacity, so one call
 * empties or fills a pipe. */
#define CHUNK 65536
/* After the leader's end, output is drained at most this long: a process
 * that escaped the group (setsid) could hold the pipe open forever. */
#define DRAIN_MS 1000

struct runner {
	pid_t pid;
	int in_fd;     /* write end of the child's stdin; -1 once closed */
	int out_fd;    /* read end of the merged stdout/stderr; -1 at EOF */
	int pid_fd;    /* readable once the leader has exited */
	int cancel_fd; /* eventfd written by runner_cancel */

	char *in_data; /* our copy of stdin_data */
	size_t in_len, in_off;

	char *ring; /* cap + 1 bytes: the last cap bytes, then room for NUL */
	size_t cap, ring_w;
	uint64_t total;

	uint64_t timeout_ms, grace_ms, started_ms;
	bool waited, reaped;
	char chunk[CHUNK];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* Moves fd above the standard descriptors: if hookq runs with 0, 1 or 2
 * closed, a pipe end could land there and the dup2 file actions would
 * then clobber each other or keep CLOEXEC. */
static int lift_fd(int *fd)
{
	if (*fd > 2)
		return 0;
	int nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0)
		return -1;
	close(*fd);
	*fd = nfd;
	return 0;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

static int code_of(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return HQ_E_NOTFOUND;
	case ENOMEM:
		return HQ_E_NOMEM;
	default:
		return HQ_E_SYSTEM;
	}
}

static int fail(int e, const struct runner_spec *spec, const char *what, char *err,
		size_t err_size)
{
	char sbuf[128];
	const char *msg = strerror_r(e, sbuf, sizeof(sbuf));
	if (err && err_size > 0) {
		if (spec->cwd && !what)
			snprintf(err, err_size, "cannot start '%s' in '%s': %s", spec->argv[0],
				 spec->cwd, msg);
		else
			snprintf(err, err_size, "cannot start '%s': %s%s%s", spec->argv[0],
				 what ? what : "", what ? ": " : "", msg);
	}
	return code_of(e);
}

/* Kills whatever is left of the group and reaps the leader. The group is
 * killed before the leader is reaped: while the leader is a zombie its pid
 * cannot be reused, so -pid still names our group. */
static void kill_and_reap(struct runner *r)
{
	if (r->pid <= 0 || r->reaped)
		return;
	kill(-r->pid, SIGKILL);
	while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
		;
	r->reaped = true;
}

void runner_free(struct runner *r)
{
	if (!r)
		return;
	kill_and_reap(r);
	close_fd(&r->in_fd);
	close_fd(&r->out_fd);
	close_fd(&r->pid_fd);
	close_fd(&r->cancel_fd);
	free(r->in_data);
	free(r->ring);
	free(r);
}

static const char *const empty_env[] = { NULL };

static int spawn(struct runner *r, const struct runner_spec *spec, int in_rd, int out_wr,
		 char *err, size_t err_size)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t mask, def;
	int e = posix_spawn_file_actions_init(&fa);
	if (e)
		return fail(e, spec, "file actions", err, err_size);
	e = posix_spawnattr_init(&attr);
	if (e) {
		posix_spawn_file_actions_destroy(&fa);
		return fail(e, spec, "spawn attributes", err, err_size);
	}
	/* Every signal back to its default: hookq ignores SIGPIPE, and an
	 * ignored disposition survives exec, where it would silently change
	 * how the agent and everything it starts behave. Threads of hookq may
	 * block signals too; the child starts with none blocked. */
	sigemptyset(&mask);
	sigfillset(&def);
	sigdelset(&def, SIGKILL);
	sigdelset(&def, SIGSTOP);
	const char *what = "spawn attributes";
	if ((e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
							 POSIX_SPAWN_SETSIGDEF)) ||
	    (e = posix_spawnattr_setpgroup(&attr, 0)) ||
	    (e = posix_spawnattr_setsigmask(&attr, &mask)) ||
	    (e = posix_spawnattr_setsigdefault(&attr, &def)))
		goto out;
	/* dup2 clears CLOEXEC on the target; every other fd of hookq is
	 * CLOEXEC and so never reaches the child. */
	what = "file actions";
	if ((e = posix_spawn_file_actions_adddup2(&fa, in_rd, 0)) ||
	    (e = posix_spawn_file_actions_adddup2(&fa, out_wr, 1)) ||
	    (e = posix_spawn_file_actions_adddup2(&fa, out_wr, 2)))
		goto out;
	if (spec->cwd && (e = posix_spawn_file_actions_addchdir_np(&fa, spec->cwd)))
		goto out;
	what = NULL;
	char *const *argv = (char *const *)(uintptr_t)spec->argv;
	char *const *envp = (char *const *)(uintptr_t)(spec->envp ? spec->envp : empty_env);
	if (strchr(spec->argv[0], '/'))
		e = posix_spawn(&r->pid, spec->argv[0], &fa, &attr, argv, envp);
	else
		e = posix_spawnp(&r->pid, spec->argv[0], &fa, &attr, argv, envp);
out:
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (e) {
		r->pid = 0;
		return fail(e, spec, what, err, err_size);
	}
	return 0;
}

int runner_start(const struct runner_spec *spec, struct runner **ret, char *err,
		 size_t err_size)
{
	if (err && err_size > 0)
		err[0] = '\0';
	if (!spec || !spec->argv || !spec->argv[0] || !spec->argv[0][0] ||
	    (spec->stdin_len > 0 && !spec->stdin_data) || spec->output_max >= SIZE_MAX / 2) {
		if (err && err_size > 0)
			snprintf(err, err_size, "cannot start an agent: invalid specification");
		return HQ_E_INVAL;
	}
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 };
	int r_code;
	struct runner *r = calloc(1, sizeof(*r));
	if (!r)
		return fail(ENOMEM, spec, NULL, err, err_size);
	r->in_fd = r->out_fd = r->pid_fd = r->cancel_fd = -1;
	r->cap = spec->output_max;
	r->timeout_ms = spec->timeout_ms;
	r->grace_ms = spec->kill_grace_ms;
	r->ring = malloc(r->cap + 1);
	if (spec->stdin_len > 0) {
		r->in_data = malloc(spec->stdin_len);
		if (r->in_data)
			memcpy(r->in_data, spec->stdin_data, spec->stdin_len);
		r->in_len = spec->stdin_len;
	}
	if (!r->ring || (spec->stdin_len > 0 && !r->in_data)) {
		r_code = fail(ENOMEM, spec, NULL, err, err_size);
		goto out_free;
	}
	r->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->cancel_fd < 0 || pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 ||
	    lift_fd(&in[0]) < 0 || lift_fd(&in[1]) < 0 || lift_fd(&outp[0]) < 0 ||
	    lift_fd(&outp[1]) < 0) {
		r_code = fail(errno, spec, "pipes", err, err_size);
		goto out_pipes;
	}
	r->in_fd = in[1];
	r->out_fd = outp[0];
	in[1] = outp[0] = -1;
	r->started_ms = mono_ms();
	r_code = spawn(r, spec, in[0], outp[1], err, err_size);
	close_fd(&in[0]);
	close_fd(&outp[1]);
	if (r_code < 0)
		goto out_free;
	/* From here on runner_free kills and reaps the child on failure. A
	 * pidfd of a child that already exited still works: it is a zombie
	 * until we reap it. */
	r->pid_fd = (int)syscall(SYS_pidfd_open, r->pid, 0);
	if (r->pid_fd < 0 || set_nonblock(r->in_fd) < 0 || set_nonblock(r->out_fd) < 0) {
		r_code = fail(errno, spec, "supervision", err, err_size);
		goto out_free;
	}
	if (r->in_len == 0)
		close_fd(&r->in_fd); /* the child reads EOF at once */
	*ret = r;
	return 0;

out_pipes:
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&outp[0]);
	close_fd(&outp[1]);
out_free:
	runner_free(r);
	return r_code;
}

pid_t runner_pid(const struct runner *r)
{
	return r->pid;
}

void runner_cancel(struct runner *r)
{
	/* One write(2) and nothing else: async-signal-safe and lock-free. */
	int saved = errno;
	uint64_t one = 1;
	ssize_t n = write(r->cancel_fd, &one, sizeof(one));
	(void)n; /* EAGAIN only when the counter is full: already cancelled */
	errno = saved;
}

/* Appends to the tail ring: only the last cap bytes survive. */
static void ring_push(struct runner *r, const char *p, size_t n)
{
	r->total += n;
	if (r->cap == 0)
		return;
	if (n >= r->cap) {
		memcpy(r->ring, p + n - r->cap, r->cap);
		r->ring_w = 0;
		return;
	}
	size_t first = r->cap - r->ring_w;
	if (first > n)
		first = n;
	memcpy(r->ring + r->ring_w, p, first);
	memcpy(r->ring, p + first, n - first);
	r->ring_w = (r->ring_w + n) % r->cap;
}

/* One read from the output pipe; closes it at EOF or on an error. */
static void read_output(struct runner *r)
{
	ssize_t n = read(r->out_fd, r->chunk, sizeof(r->chunk));
	if (n > 0) {
		ring_push(r, r->chunk, (size_t)n);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	close_fd(&r->out_fd);
}

/* One write to the child's stdin; closes it when all is written, or when
 * the child no longer reads (EPIPE), which is its choice, not an error.
 * Returns true when the write raised SIGPIPE. */
static bool write_input(struct runner *r)
{
	size_t n = r->in_len - r->in_off;
	if (n > CHUNK)
		n = CHUNK;
	ssize_t w = write(r->in_fd, r->in_data + r->in_off, n);
	if (w > 0) {
		r->in_off += (size_t)w;
		if (r->in_off == r->in_len)
			close_fd(&r->in_fd);
		return false;
	}
	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	bool epipe = w < 0 && errno == EPIPE;
	close_fd(&r->in_fd);
	return epipe;
}

static void reverse(char *p, size_t n)
{
	for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
		char t = p[i];
		p[i] = p[j - 1];
		p[j - 1] = t;
	}
}

/* Turns the ring into the result's output in place. */
static void take_output(struct runner *r, struct runner_result *res)
{
	size_t len = r->total < r->cap ? (size_t)r->total : r->cap;
	if (r->total > r->cap && r->ring_w > 0) {
		/* Oldest byte at ring_w: rotate it to the front. */
		reverse(r->ring, r->ring_w);
		reverse(r->ring + r->ring_w, r->cap - r->ring_w);
		reverse(r->ring, r->cap);
	}
	size_t skip = 0;
	if (r->total > len) {
		/* Bytes were dropped, so the tail may begin inside a UTF-8
		 * sequence; at most 3 continuation bytes can follow a lead. */
		while (skip < 3 && skip < len && ((unsigned char)r->ring[skip] & 0xC0) == 0x80)
			skip++;
		memmove(r->ring, r->ring + skip, len - skip);
	}
	len -= skip;
	r->ring[len] = '\0';
	res->output = r->ring;
	res->output_len = len;
	res->output_total = r->total;
	res->output_truncated = r->total > len;
	r->ring = NULL;
}

static int ms_until(uint64_t deadline, uint64_t now)
{
	if (deadline <= now)
		return 0;
	uint64_t d = deadline - now;
	return d > INT_MAX ? INT_MAX : (int)d;
}

/* Drains the output pipe until EOF, for at most DRAIN_MS. */
static void drain_output(struct runner *r)
{
	uint64_t until = mono_ms() + DRAIN_MS;
	while (r->out_fd >= 0) {
		uint64_t now = mono_ms();
		if (now >= until)
			break;
		struct pollfd p = { .fd = r->out_fd, .events = POLLIN };
		int n = poll(&p, 1, ms_until(until, now));
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0)
			read_output(r);
	}
	close_fd(&r->out_fd);
}

/* The supervision loop up to the leader's exit. Returns the end we caused
 * (TIMED_OUT, CANCELLED) or RUNNER_EXITED when we caused none, or a
 * negative code when poll fails. Sets *sigpipe when a write raised SIGPIPE. */
static int supervise(struct runner *r, bool *sigpipe)
{
	int end = RUNNER_EXITED;
	bool terminating = false, killed = false;
	uint64_t deadline = r->timeout_ms ? r->started_ms + r->timeout_ms : 0;
	uint64_t kill_at = 0;
	for (;;) {
		struct pollfd p[4];
		nfds_t n = 0, i_pid, i_cancel, i_in = 4, i_out = 4;
		p[i_pid = n++] = (struct pollfd){ .fd = r->pid_fd, .events = POLLIN };
		p[i_cancel = n++] = (struct pollfd){ .fd = r->cancel_fd, .events = POLLIN };
		if (r->in_fd >= 0)
			p[i_in = n++] = (struct pollfd){ .fd = r->in_fd, .events = POLLOUT };
		if (r->out_fd >= 0)
			p[i_out = n++] = (struct pollfd){ .fd = r->out_fd, .events = POLLIN };
		uint64_t now = mono_ms();
		int wait_ms = -1;
		if (!terminating && deadline)
			wait_ms = ms_until(deadline, now);
		else if (terminating && !killed)
			wait_ms = ms_until(kill_at, now);
		int ready = poll(p, n, wait_ms);
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			return HQ_E_SYSTEM;
		}
		if (p[i_pid].revents)
			return end;
		now = mono_ms();
		bool cancel = false;
		if (p[i_cancel].revents) {
			uint64_t v;
			cancel = read(r->cancel_fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
		}
		if (!terminating && (cancel || (deadline && now >= deadline))) {
			/* SIGCONT too: a stopped process acts on SIGTERM only
			 * once it runs again. */
			end = cancel ? RUNNER_CANCELLED : RUNNER_TIMED_OUT;
			terminating = true;
			kill(-r->pid, SIGTERM);
			kill(-r->pid, SIGCONT);
			kill_at = now + r->grace_ms;
		}
		if (terminating && !killed && now >= kill_at) {
			kill(-r->pid, SIGKILL);
			killed = true;
		}
		if (i_in < n && p[i_in].revents && write_input(r))
			*sigpipe = true;
		if (i_out < n && p[i_out].revents)
			read_output(r);
	}
}

int runner_wait(struct runner *r, struct runner_result *ret)
{
	if (r->waited)
		return HQ_E_CONFLICT;
	r->waited = true;

	/* A write to a pipe whose reader is gone raises SIGPIPE in this
	 * thread. hookq ignores it, but the runner must not depend on that:
	 * block it here, and consume the one our writes raised. */
	sigset_t pipe_set, old, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	bool was_pending = sigismember(&pending, SIGPIPE) == 1;
	bool sigpipe = false;

	int end = supervise(r, &sigpipe);
	/* The leader is gone (or poll failed): kill whatever it left in its
	 * group, then reap it, then take what is still in the pipe. */
	int status = 0;
	kill(-r->pid, SIGKILL);
	pid_t w;
	while ((w = waitpid(r->pid, &status, 0)) < 0 && errno == EINTR)
		;
	r->reaped = true;
	uint64_t ended_ms = mono_ms();
	close_fd(&r->in_fd);
	drain_output(r);

	if (sigpipe && !was_pending) {
		struct timespec zero = { 0, 0 };
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	if (end < 0)
		return end;
	if (w < 0) /* someone else reaped it: no status to report */
		return HQ_E_SYSTEM;
	struct runner_result res;
	memset(&res, 0, sizeof(res));
	res.exit_code = -1;
	if (WIFEXITED(status)) {
		res.exit_code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		res.signal = WTERMSIG(status);
	}
	if (end != RUNNER_EXITED)
		res.end = (enum runner_end)end;
	else
		res.end = WIFSIGNALED(status) ? RUNNER_SIGNALED : RUNNER_EXITED;
	res.duration_ms = ended_ms - r->started_ms;
	take_output(r, &res);
	*ret = res;
	return 0;
}

void runner_result_release(struct runner_result *r)
{
	if (!r)
		return;
	free(r->output);
	r->output = NULL;
	r->output_len = 0;
}

/* The fields of /proc/PID/stat we use. */
struct proc_stat {
	char state; /* 'Z' or 'X': dead, only waiting to be reaped */
	pid_t pgrp;
	uint64_t starttime;
};

static int read_proc_stat(pid_t pid, struct proc_stat *ret)
{
	char path[48], buf[1024];
	int n = snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (n < 0 || (size_t)n >= sizeof(path))
		return HQ_E_INVAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? HQ_E_NOTFOUND : HQ_E_IO;
	ssize_t len;
	while ((len = read(fd, buf, sizeof(buf) - 1)) < 0 && errno == EINTR)
		;
	int e = errno;
	close(fd);
	if (len < 0)
		return e == ESRCH ? HQ_E_NOTFOUND : HQ_E_IO;
	buf[len] = '\0';
	/* Field 2 is the command name in parentheses and may itself hold
	 * spaces and parentheses: count fields from the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return HQ_E_IO;
	p++;
	struct proc_stat st;
	memset(&st, 0, sizeof(st));
	for (int field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return HQ_E_IO;
		char *end = p;
		if (field == 3)
			st.state = *p;
		if (field == 5 || field == 22) {
			errno = 0;
			unsigned long long v = strtoull(p, &end, 10);
			if (errno || end == p || (*end != ' ' && *end != '\0' && *end != '\n'))
				return HQ_E_IO;
			if (field == 5) {
				if (v > INT_MAX)
					return HQ_E_IO;
				st.pgrp = (pid_t)v;
			} else {
				st.starttime = v;
			}
		} else {
			while (*end && *end != ' ')
				end++;
		}
		p = end;
	}
	*ret = st;
	return 0;
}

int runner_proc_starttime(pid_t pid, uint64_t *ret)
{
	if (pid <= 0)
		return HQ_E_INVAL;
	struct proc_stat st;
	int r = read_proc_stat(pid, &st);
	if (r < 0)
		return r;
	*ret = st.starttime;
	return 0;
}

/* Counts the live processes of group pgid started no earlier than
 * starttime: a member of our group cannot predate its leader, and a zombie
 * is already dead (its parent or init reaps it). */
static int count_group(pid_t pgid, uint64_t starttime, size_t *ret)
{
	DIR *d = opendir("/proc"); /* opendir uses O_CLOEXEC */
	if (!d)
		return HQ_E_IO;
	size_t count = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		errno = 0;
		long v = strtol(de->d_name, &end, 10);
		if (errno || end == de->d_name || *end || v <= 0 || v > INT_MAX)
			continue;
		struct proc_stat st;
		if (read_proc_stat((pid_t)v, &st) == 0 && st.pgrp == pgid &&
		    st.starttime >= starttime && st.state != 'Z' && st.state != 'X')
			count++;
	}
	closedir(d);
	*ret = count;
	return 0;
}

int runner_kill_leftover(pid_t pgid, uint64_t starttime, size_t *killed)
{
	/* kill(-1) and kill(-0) would reach far more than one group. */
	if (pgid <= 1 || pgid == getpid() || pgid == getpgrp())
		return HQ_E_INVAL;
	struct proc_stat leader;
	int r = read_proc_stat(pgid, &leader);
	if (r < 0 && r != HQ_E_NOTFOUND)
		return r;
	if (r == 0 && (leader.starttime != starttime || leader.pgrp != pgid)) {
		/* The pid now names another process: not ours to kill. */
		*killed = 0;
		return 0;
	}
	size_t n = 0;
	r = count_group(pgid, starttime, &n);
	if (r < 0)
		return r;
	if (n == 0) {
		*killed = 0;
		return 0;
	}
	if (kill(-pgid, SIGKILL) < 0) {
		if (errno != ESRCH)
			return HQ_E_SYSTEM;
		n = 0; /* ended between the scan and the kill */
	}
	*killed = n;
	return 0;
}

/* The value of NAME= in the environment block env (NUL-separated, len
 * bytes), its length in *vl; NULL when absent. */
static const char *environ_get(const char *env, size_t len, const char *name, size_t *vl)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < len;) {
		const char *e = env + i;
		size_t el = strnlen(e, len - i);
		if (el > nl && memcmp(e, name, nl) == 0 && e[nl] == '=') {
			*vl = el - nl - 1;
			return e + nl + 1;
		}
		i += el + 1;
	}
	return NULL;
}

int runner_kill_by_env(const char *name, const unsigned char hash[32], size_t *killed)
{
	DIR *dir = opendir("/proc");
	if (!dir)
		return HQ_E_IO;
	size_t n = 0;
	pid_t self = getpid(), own_group = getpgrp();
	char *env = malloc(RUNNER_ENVIRON_MAX);
	if (!env) {
		closedir(dir);
		return HQ_E_NOMEM;
	}
	struct dirent *de;
	while ((de = readdir(dir))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 1 || pid == self)
			continue;
		char path[48];
		snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		size_t len = 0;
		ssize_t got;
		while (len < RUNNER_ENVIRON_MAX &&
		       ((got = read(fd, env + len, RUNNER_ENVIRON_MAX - len)) > 0 ||
			(got < 0 && errno == EINTR)))
			if (got > 0)
				len += (size_t)got;
		close(fd);
		/* A value secret to one attempt: whatever process holds it is
		 * that attempt's, whichever hookq or user started it. */
		size_t vl = 0;
		const char *v = environ_get(env, len, name, &vl);
		unsigned char digest[CRYPTO_SHA256_LEN];
		if (!v || crypto_sha256(v, vl, digest) < 0 ||
		    CRYPTO_memcmp(digest, hash, sizeof(digest)) != 0)
			continue;
		pid_t pgid = getpgid((pid_t)pid);
		if (pgid > 1 && pgid != own_group && kill(-pgid, SIGKILL) == 0)
			n++;
		else if (kill((pid_t)pid, SIGKILL) == 0)
			n++;
	}
	closedir(dir);
	crypto_cleanse(env, RUNNER_ENVIRON_MAX);
	free(env);
	*killed = n;
	return 0;
}
