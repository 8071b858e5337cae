/* runner: starts one agent process and supervises it to its end. The agent
 * is started with posix_spawn and an argv vector, never through a shell, in
 * its own process group; the payload reaches it only on stdin. Output is
 * kept as a bounded tail, and timeout, cancel and the leader's end kill the
 * whole group. Helpers let a restarted hookq kill groups a crash left behind. */
#ifndef HOOKQ_ENGINE_RUNNER_H
#define HOOKQ_ENGINE_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct runner;

struct runner_spec {
	/* NULL-terminated. argv[0] without '/' is looked up in hookq's own
	 * PATH (posix_spawnp), not in envp's. */
	const char *const *argv;
	/* NULL-terminated: the child's whole environment; NULL: empty. */
	const char *const *envp;
	const char *cwd; /* NULL: inherit hookq's */
	/* Copied at start, written to the child's stdin, then stdin is closed.
	 * A child that exits or closes stdin before reading it all is fine. */
	const char *stdin_data;
	size_t stdin_len;
	/* stdout and stderr share one pipe; only its last output_max bytes
	 * are kept (allocated at start). */
	size_t output_max;
	uint64_t timeout_ms;    /* 0: none */
	uint64_t kill_grace_ms; /* from SIGTERM to SIGKILL on timeout/cancel */
};

enum runner_end {
	RUNNER_EXITED,    /* the leader exited by itself: exit_code */
	RUNNER_SIGNALED,  /* a signal we did not send ended the leader */
	RUNNER_TIMED_OUT, /* timeout_ms passed; the group was terminated */
	RUNNER_CANCELLED, /* runner_cancel; the group was terminated */
};

struct runner_result {
	enum runner_end end;
	int exit_code; /* when the leader exited; -1 otherwise */
	int signal;    /* the signal that ended the leader; 0 when none did */
	/* The output tail, malloc'd and NUL-terminated. When bytes were
	 * dropped, the tail starts on a UTF-8 boundary: up to 3 leading
	 * continuation bytes are skipped, so output_len may be a little under
	 * output_max. */
	char *output;
	size_t output_len;
	uint64_t output_total; /* every byte the group wrote */
	bool output_truncated; /* output_total > output_len */
	uint64_t duration_ms;  /* from spawn to the leader's reaping */
};

/* Spawns the agent. On failure err names the problem, e.g.
 * "cannot start 'x': No such file or directory"; the code is
 * HQ_E_NOTFOUND (no such program or cwd), HQ_E_INVAL, HQ_E_NOMEM or
 * HQ_E_SYSTEM. */
int runner_start(const struct runner_spec *spec, struct runner **ret, char *err,
		 size_t err_size);
/* The leader's pid, which is also its process group id. */
pid_t runner_pid(const struct runner *r);
/* Blocks until the end: feeds stdin, collects output, enforces the
 * timeout and cancel, kills the group once the leader is gone, reaps the
 * leader and drains the output (at most about 1 s after the leader's end,
 * as a process that left the group may hold the pipe open forever).
 * Once per runner (HQ_E_CONFLICT after). The process must not reap
 * children it did not start (waitpid(-1), SIGCHLD set to SIG_IGN). */
int runner_wait(struct runner *r, struct runner_result *ret);
/* Ends the group like a timeout, and the end is RUNNER_CANCELLED. Safe
 * from any thread while another is in runner_wait, and from a signal
 * handler; a no-op once the end is known. */
void runner_cancel(struct runner *r);
/* NULL ok. A group still running is killed with SIGKILL and reaped. */
void runner_free(struct runner *r);
void runner_result_release(struct runner_result *r);

/* Start time of pid in clock ticks since boot (field 22 of
 * /proc/PID/stat): with the pid, it names a process across pid reuse.
 * HQ_E_NOTFOUND when there is no such process. */
int runner_proc_starttime(pid_t pid, uint64_t *ret);
/* For restart recovery: SIGKILLs process group pgid if it is still the one
 * whose leader started at starttime. When the leader is alive with another
 * start time, the pid was reused and nothing is killed; when it is gone,
 * any process still in the group is ours, since Linux does not reuse a pid
 * while a group of that id exists. *killed is how many live processes
 * the group held. */
int runner_kill_leftover(pid_t pgid, uint64_t starttime, size_t *killed);

/* The environment read per process by runner_kill_by_env. */
#define RUNNER_ENVIRON_MAX (256 * 1024)

/* For restart recovery when no group was recorded (a crash right after
 * the spawn): SIGKILLs the process group of every process whose
 * environment holds the variable name with a value whose SHA-256 is hash
 * (an attempt's HOOKQ_TASK_TOKEN: secret to that attempt, so no other
 * process matches). *killed counts the groups. */
int runner_kill_by_env(const char *name, const unsigned char hash[32], size_t *killed);

#endif
