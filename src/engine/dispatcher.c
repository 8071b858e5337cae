#include "engine/dispatcher.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/backoff.h"
#include "engine/replies.h"
#include "engine/runner.h"
#include "engine/taskfiles.h"
#include "engine/workspace.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/log.h"

extern char **environ;

/* Queued tasks looked at per assignment round. */
#define CANDIDATES_MAX 64
#define TOKEN_BYTES 32
#define ERROR_MAX 512

enum worker_state { WORKER_IDLE, WORKER_ASSIGNED, WORKER_RUNNING };

struct dworker {
	struct dispatcher *d;
	char name[AGENT_NAME_MAX + 1];
	bool in_main, in_ci;
	pthread_t thread;
	bool started;
	/* Under d->lock. */
	enum worker_state state;
	/* Chosen by the dispatcher, its task being started in the store: not
	 * idle for assignment, still idle for its own thread (which must not
	 * wake before the task is there). */
	bool reserved;
	struct store_task task; /* ASSIGNED, RUNNING */
	char token[TOKEN_BYTES * 2 + 1];
	int64_t since_ms;
	struct runner *runner;	 /* RUNNING, once spawned */
	bool cancel_asked;	 /* by an operator: the end is 'cancelled' */
	bool interrupt;		 /* by shutdown: the task is queued again */
};

struct dispatcher {
	struct store *store;
	struct dispatcher_options opt;
	char *owner, *host, *run_dir, *api_url;
	bool has_ci;

	pthread_mutex_t lock;
	pthread_cond_t wake;   /* the dispatcher thread */
	pthread_cond_t work;   /* worker threads */
	pthread_cond_t idle;   /* a worker became idle (shutdown waits on it) */
	uint64_t generation;
	bool rescue_now; /* dispatcher_rescue_now() asked for a rescue */
	bool beat_now;	 /* dispatcher_check_cancels(): cancel marks may be new */
	/* Since when the store answers without errors (0: it just failed). */
	int64_t healthy_since;
	bool stopping;	       /* no more assignments */
	bool workers_stopping; /* workers exit once idle */
	bool thread_exit;      /* the dispatcher and task-file threads leave */
	pthread_cond_t files_wake;
	uint64_t files_generation;
	pthread_t files_thread;
	bool files_started;
	struct dispatcher_stats stats;
	struct histogram latency;

	struct dworker *workers;
	size_t n_workers;
	pthread_t thread;
	bool thread_started;
	uint64_t rnd;
};

static void count(struct dispatcher *d, uint64_t *field)
{
	pthread_mutex_lock(&d->lock);
	(*field)++;
	pthread_mutex_unlock(&d->lock);
}

static void log_store(struct dispatcher *d, const char *what, const struct store_error *err)
{
	log_msg(HQ_LOG_ERROR, what, "error", err->msg, NULL);
	pthread_mutex_lock(&d->lock);
	d->stats.store_errors++;
	d->healthy_since = 0;
	pthread_mutex_unlock(&d->lock);
}

/* Whether lost tasks may be rescued now: not before the store has worked
 * for a whole lease (plus the time other nodes may need to reconnect)
 * after it failed (most likely it failed every node, whose leases then
 * ran out too: they get the time to renew them). */
static bool may_rescue(struct dispatcher *d, int64_t now)
{
	pthread_mutex_lock(&d->lock);
	if (!d->healthy_since)
		d->healthy_since = now + STORE_RECOVERY_SLACK_MS;
	bool ok = now - d->healthy_since >= (int64_t)d->opt.lease_ms;
	pthread_mutex_unlock(&d->lock);
	return ok;
}

void dispatcher_wake(struct dispatcher *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->generation++;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
}

static void poke(struct dispatcher *d, bool rescue, bool beat)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->rescue_now |= rescue;
	d->beat_now |= beat;
	d->generation++;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
}

void dispatcher_rescue_now(struct dispatcher *d)
{
	poke(d, true, false);
}

void dispatcher_check_cancels(struct dispatcher *d)
{
	poke(d, false, true);
}

/* A repository as it may appear in an argv element or the environment:
 * "owner/name" paths of plain name characters, never starting with '-'
 * or '.', never "..": a payload cannot turn it into an option or a
 * path outside. */
static bool repository_safe(const char *r)
{
	if (!r || !*r || strlen(r) > 200 || !strchr(r, '/'))
		return false;
	const char *seg = r;
	for (const char *p = r;; p++) {
		if (*p == '/' || *p == '\0') {
			size_t n = (size_t)(p - seg);
			if (n == 0 || seg[0] == '-' || seg[0] == '.')
				return false;
			if (*p == '\0')
				return true;
			seg = p + 1;
			continue;
		}
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
}

/* "NAME=value" into env (capacity cap); false when full or out of memory. */
static bool env_add(char **env, size_t *n, size_t cap, const char *name, const char *value)
{
	if (*n + 1 >= cap)
		return false;
	size_t len = strlen(name) + strlen(value) + 2;
	char *e = malloc(len);
	if (!e)
		return false;
	snprintf(e, len, "%s=%s", name, value);
	env[(*n)++] = e;
	env[*n] = NULL;
	return true;
}

static void env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++) {
		/* The token is in here. */
		crypto_cleanse(env[i], strlen(env[i]));
		free(env[i]);
	}
	free(env);
}

/* The agent's environment: its allow-list from hookq's own, its fixed
 * values, then hookq's task variables (which nothing can override). */
static char **build_env(const struct dworker *w, const struct agent *a,
			const struct store_task *t, const char *event_file,
			const char *workspace)
{
	size_t cap = a->n_env + a->n_set_env + 16;
	char **env = calloc(cap, sizeof(*env));
	if (!env)
		return NULL;
	size_t n = 0;
	bool ok = true;
	for (size_t i = 0; ok && i < a->n_env; i++) {
		const char *v = getenv(a->env[i]);
		if (v)
			ok = env_add(env, &n, cap, a->env[i], v);
	}
	for (size_t i = 0; ok && i < a->n_set_env; i++)
		ok = env_add(env, &n, cap, a->set_env[i].name, a->set_env[i].value);
	char id[24], attempt[16];
	snprintf(id, sizeof(id), "%lld", (long long)t->id);
	snprintf(attempt, sizeof(attempt), "%d", t->attempts);
	const char *repo = repository_safe(t->project) ? t->project : "";
	ok = ok && env_add(env, &n, cap, "HOOKQ_TASK_ID", id) &&
	     env_add(env, &n, cap, "HOOKQ_FLOW_ID", t->flow_id) &&
	     env_add(env, &n, cap, "HOOKQ_CONVERSATION_ID", t->conversation_id) &&
	     env_add(env, &n, cap, "HOOKQ_REPO", repo) &&
	     env_add(env, &n, cap, "HOOKQ_WORKER", w->name) &&
	     env_add(env, &n, cap, "HOOKQ_ATTEMPT", attempt) &&
	     env_add(env, &n, cap, "HOOKQ_EVENT_FILE", event_file) &&
	     env_add(env, &n, cap, "HOOKQ_TASK_TOKEN", w->token);
	if (ok && w->d->api_url)
		ok = env_add(env, &n, cap, "HOOKQ_API_URL", w->d->api_url);
	if (ok && workspace && *workspace)
		ok = env_add(env, &n, cap, "HOOKQ_WORKSPACE", workspace);
	if (!ok) {
		env_free(env);
		return NULL;
	}
	return env;
}

/* Writes the event the task came from (the body as received, or for a
 * task made over the API, what is known of it) to a new 0600 file. */
static int write_event_file(struct dispatcher *d, const struct store_task *t, char *path,
			    size_t size, char *why, size_t why_size)
{
	snprintf(path, size, "%s/task-%lld-%d.json", d->run_dir, (long long)t->id, t->attempts);
	char *body = NULL;
	size_t len = 0;
	struct store_event_detail ev;
	bool have_event = false;
	if (t->event_id > 0) {
		struct store_error err;
		int r = store_get_event(d->store, t->event_id, d->opt.max_event_bytes, &ev, &err);
		if (r == 0 && ev.body) {
			body = ev.body;
			len = ev.body_len;
			have_event = true;
		} else if (r == 0) {
			store_event_detail_release(&ev);
		} else if (r != HQ_E_NOTFOUND) {
			snprintf(why, why_size, "cannot read event %lld: %s", (long long)t->event_id,
				 err.msg);
			return HQ_E_RETRY;
		}
	}
	char fallback[160];
	if (!body) {
		/* No event (made over the API, or purged): the task's own ids. */
		snprintf(fallback, sizeof(fallback),
			 "{\"task_id\":%lld,\"parent_task_id\":%lld,\"flow_id\":\"%s\"}\n",
			 (long long)t->id, (long long)t->parent_id, t->flow_id);
		body = fallback;
		len = strlen(fallback);
	}
	(void)unlink(path); /* a leftover of a crashed attempt */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	int r = 0;
	if (fd < 0) {
		snprintf(why, why_size, "cannot create '%s': %s", path, strerror(errno));
		r = HQ_E_RETRY;
	} else {
		size_t off = 0;
		while (off < len) {
			ssize_t n = write(fd, body + off, len - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				snprintf(why, why_size, "cannot write '%s': %s", path,
					 strerror(errno));
				r = HQ_E_RETRY;
				break;
			}
			off += (size_t)n;
		}
		close(fd);
	}
	if (have_event)
		store_event_detail_release(&ev);
	if (r < 0)
		(void)unlink(path);
	return r;
}

static uint64_t next_random(struct dispatcher *d)
{
	pthread_mutex_lock(&d->lock);
	uint64_t x = d->rnd;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	d->rnd = x;
	pthread_mutex_unlock(&d->lock);
	return x;
}

/* How an attempt that did not succeed ends: again later while the
 * agent's attempts last, else in status. */
static void fail_or_retry(struct dispatcher *d, const struct agent *a,
			  const struct store_task *t, const char *status,
			  struct store_task_end *end)
{
	int used = t->attempts - t->retry_base;
	if (a && used < t->max_attempts) {
		struct backoff b = { a->retry_backoff_ms, a->retry_backoff_max_ms };
		uint64_t delay = backoff_delay_ms(&b, (uint32_t)used, next_random(d));
		end->status = "queued";
		end->next_attempt_at_ms = clock_now_ms() + (int64_t)delay;
		return;
	}
	end->status = status;
}

/* An attempt that could not start the agent: dead letter when retrying
 * cannot help (permanent), else failed or retried by the policy. Returns
 * the outcome for the counters and the log. */
static const char *unrunnable(struct dispatcher *d, const struct agent *a,
			      const struct store_task *t, bool permanent,
			      struct store_task_end *end)
{
	if (permanent) {
		end->status = "dead_letter";
		return "dead_letter";
	}
	fail_or_retry(d, a, t, "failed", end);
	return "failed";
}

/* Records the end of w's attempt, retrying briefly through a store
 * hiccup; if it still fails, the lease expires and the task is rescued. */
static void record_end(struct dworker *w, const struct store_task_end *end)
{
	struct dispatcher *d = w->d;
	struct store_error err;
	/* While the store fails (a database restarting), the worker keeps
	 * the task, so heartbeats renew its lease once the store is back:
	 * the end is tried again, from 100 ms doubling to 2 s, for up to a
	 * lease, and a short outage does not make the task run again. */
	int64_t give_up = clock_now_ms() + (int64_t)d->opt.lease_ms;
	for (uint32_t tries = 1;; tries++) {
		int r = store_task_finish(d->store, w->task.id, d->owner, w->name, w->task.attempts,
					  end,
					  clock_now_ms(), (int64_t)d->opt.claim_ttl_ms, &err);
		if (r == 0)
			return;
		if (r == HQ_E_CONFLICT) {
			/* Rescued meanwhile (this node stalled past its lease). */
			log_msg(HQ_LOG_WARN, "task was taken over before it ended here", "error",
				err.msg, NULL);
			return;
		}
		log_store(d, "cannot record a task's end", &err);
		/* Other failures get five tries, as they are not waited out. */
		uint64_t pause_ms = backoff_ceiling_ms(&BACKOFF_STORE_OUTAGE, tries);
		if ((r != HQ_E_IO && r != HQ_E_BUSY && tries >= 5) ||
		    clock_now_ms() + (int64_t)pause_ms >= give_up)
			return;
		clock_sleep_ms(pause_ms);
	}
}

static void log_end(const struct dworker *w, const struct store_task_end *end,
		    const char *level_status)
{
	char id[24], attempt[24], code[16], ms[24];
	snprintf(id, sizeof(id), "%lld", (long long)w->task.id);
	snprintf(attempt, sizeof(attempt), "%d/%d", w->task.attempts - w->task.retry_base,
		 w->task.max_attempts);
	snprintf(code, sizeof(code), "%d", end->exit_code);
	snprintf(ms, sizeof(ms), "%lld", (long long)end->run_ms);
	bool ok = strcmp(level_status, "succeeded") == 0;
	log_msg(ok ? HQ_LOG_INFO : HQ_LOG_WARN, ok ? "task succeeded" : "task did not succeed",
		"task_id", id, "agent", w->task.agent, "worker", w->name, "status", level_status,
		"next", end->status, "attempt", attempt, "exit_code",
		end->has_exit_code ? code : "", "run_ms", ms, "error", end->error ? end->error : "",
		NULL);
}

/* An agent's output as text: the store keeps text, so a NUL byte (which
 * would end it early) becomes U+FFFD; other bytes are kept as written. */
static char *output_text(const char *out, size_t len)
{
	size_t nul = 0;
	for (size_t i = 0; i < len; i++)
		nul += out[i] == '\0';
	char *t = malloc(len + nul * 2 + 1);
	if (!t)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (out[i] == '\0') {
			memcpy(t + o, "\xEF\xBF\xBD", 3);
			o += 3;
		} else {
			t[o++] = out[i];
		}
	}
	t[o] = '\0';
	return t;
}

/* A git process preparing w's workspace is w's runner while it runs: a
 * cancel or a shutdown ends it like an agent. */
static void track_git(void *ctx, struct runner *r)
{
	struct dworker *w = ctx;
	struct dispatcher *d = w->d;
	pthread_mutex_lock(&d->lock);
	w->runner = r;
	if (r && (w->cancel_asked || w->interrupt))
		runner_cancel(r);
	pthread_mutex_unlock(&d->lock);
	if (!r)
		return;
	/* Recorded like an agent's: a rescue after a crash ends a clone or
	 * fetch left running. */
	pid_t pid = runner_pid(r);
	uint64_t start = 0;
	(void)runner_proc_starttime(pid, &start);
	struct store_error err;
	if (store_task_set_pid(d->store, w->task.id, d->owner, w->task.attempts, pid,
			       (int64_t)start, &err) < 0 &&
	    err.msg[0])
		log_msg(HQ_LOG_WARN, "cannot record a git process", "error", err.msg, NULL);
}

/* The checkout an agent with workspace: true works in: its repository
 * at the event's ref (metadata.ref; else the default branch), in this
 * worker's directory. HQ_E_INVAL when the task cannot have one. */
static int prepare_workspace(struct dispatcher *d, const struct dworker *w,
			     const struct agent *a, const struct store_task *t, const char *repo,
			     char *path, size_t size, char *why, size_t why_size)
{
	if (!d->opt.workspace) {
		snprintf(why, why_size, "agent '%s' needs a workspace, and none is configured",
			 a->name);
		return HQ_E_INVAL;
	}
	if (!repo) {
		snprintf(why, why_size,
			 "agent '%s' needs a workspace, and the task names no repository "
			 "(owner/name)",
			 a->name);
		return HQ_E_INVAL;
	}
	json_t *meta = json_loads(t->metadata_json, 0, NULL);
	const char *ref = json_string_value(json_object_get(meta, "ref"));
	char ref_copy[256] = "";
	if (ref && strlen(ref) < sizeof(ref_copy))
		snprintf(ref_copy, sizeof(ref_copy), "%s", ref);
	json_decref(meta);
	int64_t t0 = clock_now_ms();
	struct workspace_options o = *d->opt.workspace;
	o.on_git = track_git;
	o.on_git_ctx = (void *)(uintptr_t)w;
	int r = workspace_prepare(&o, w->name, repo, ref_copy[0] ? ref_copy : NULL, path, size,
				  why, why_size);
	char id[24], ms[24];
	snprintf(id, sizeof(id), "%lld", (long long)t->id);
	snprintf(ms, sizeof(ms), "%lld", (long long)(clock_now_ms() - t0));
	if (r == 0)
		log_msg(HQ_LOG_INFO, "workspace ready", "task_id", id, "worker", w->name,
			"repository", repo, "ref", ref_copy[0] ? ref_copy : "(default branch)",
			"ms", ms, NULL);
	else
		log_msg(HQ_LOG_WARN, "workspace failed", "task_id", id, "worker", w->name,
			"repository", repo, "error", why, NULL);
	return r;
}

static const char *id_text(int64_t id)
{
	static _Thread_local char text[24];
	snprintf(text, sizeof(text), "%lld", (long long)id);
	return text;
}

/* Runs w's assigned task to its end. */
static void run_task(struct dworker *w)
{
	struct dispatcher *d = w->d;
	const struct store_task *t = &w->task;
	const struct agent *a = agent_find(d->opt.agents, t->agent);
	struct store_task_end end = { 0 };
	char why[ERROR_MAX] = "";
	char event_file[512] = "";
	char **argv = NULL, **env = NULL;
	char *cwd = NULL;
	struct runner_result res;
	memset(&res, 0, sizeof(res));
	char *output = NULL;
	const char *outcome = NULL;

	if (!a) {
		snprintf(why, sizeof(why), "no agent '%.64s' is configured", t->agent);
		end.status = "dead_letter";
		outcome = "dead_letter";
		goto out_end;
	}
	char id[24];
	snprintf(id, sizeof(id), "%lld", (long long)t->id);
	const char *repo = repository_safe(t->project) ? t->project : NULL;
	char workspace[4096] = "";
	int r;
	if (a->workspace) {
		r = prepare_workspace(d, w, a, t, repo, workspace, sizeof(workspace), why,
				      sizeof(why));
		pthread_mutex_lock(&d->lock);
		bool stop_now = w->cancel_asked || w->interrupt, interrupted_now = w->interrupt;
		pthread_mutex_unlock(&d->lock);
		if (stop_now) {
			/* Cancelled or interrupted while git ran. */
			snprintf(why, sizeof(why), "%s while its workspace was prepared",
				 interrupted_now ? "interrupted" : "cancelled");
			end.status = interrupted_now ? "queued" : "cancelled";
			end.refund = interrupted_now;
			end.next_attempt_at_ms = clock_now_ms();
			outcome = interrupted_now ? "interrupted" : "cancelled";
			goto out_end;
		}
		if (r < 0) {
			outcome = unrunnable(d, a, t, r == HQ_E_INVAL, &end);
			goto out_end;
		}
	}
	struct agent_vars vars = { w->name, id, repo, workspace[0] ? workspace : NULL };
	r = agent_argv_render(a, &vars, &argv);
	if (r == 0)
		r = agent_cwd_render(a, &vars, &cwd);
	/* An agent with a workspace and no cwd of its own works in it. */
	if (r == 0 && !cwd && workspace[0] && !(cwd = strdup(workspace)))
		r = HQ_E_NOMEM;
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot build the command of agent '%s': %s", a->name,
			 hq_strerror(r));
		end.status = "dead_letter";
		outcome = "dead_letter";
		goto out_end;
	}
	r = write_event_file(d, t, event_file, sizeof(event_file), why, sizeof(why));
	if (r < 0) {
		event_file[0] = '\0';
		fail_or_retry(d, a, t, "failed", &end);
		outcome = "failed";
		goto out_end;
	}
	env = build_env(w, a, t, event_file, workspace);
	if (!env) {
		snprintf(why, sizeof(why), "out of memory for the agent's environment");
		fail_or_retry(d, a, t, "failed", &end);
		outcome = "failed";
		goto out_end;
	}
	struct runner_spec spec = {
		.argv = (const char *const *)argv,
		.envp = (const char *const *)env,
		.cwd = cwd,
		.stdin_data = t->prompt,
		.stdin_len = t->prompt ? strlen(t->prompt) : 0,
		.output_max = (size_t)a->output_max,
		.timeout_ms = a->timeout_ms,
		.kill_grace_ms = a->kill_grace_ms,
	};
	struct runner *run = NULL;
	pthread_mutex_lock(&d->lock);
	bool interrupted_early = w->interrupt;
	bool cancelled_early = w->cancel_asked || interrupted_early;
	pthread_mutex_unlock(&d->lock);
	if (cancelled_early) {
		r = HQ_E_SHUTDOWN;
	} else {
		r = runner_start(&spec, &run, why, sizeof(why));
	}
	if (r < 0) {
		if (r == HQ_E_SHUTDOWN) {
			snprintf(why, sizeof(why), "cancelled before it started");
			end.status = interrupted_early ? "queued" : "cancelled";
			end.refund = interrupted_early;
			end.next_attempt_at_ms = clock_now_ms();
			outcome = end.status;
		} else {
			/* A missing program or directory: retrying cannot help
			 * until the configuration changes. */
			outcome = unrunnable(d, a, t, r == HQ_E_NOTFOUND, &end);
		}
		goto out_end;
	}
	int64_t started = clock_now_ms();
	int64_t queued_at = t->next_attempt_at_ms > t->created_at_ms ? t->next_attempt_at_ms :
								       t->created_at_ms;
	histogram_observe_us(&d->latency,
			     started > queued_at ? (uint64_t)(started - queued_at) * 1000 : 0);
	pid_t pid = runner_pid(run);
	uint64_t pid_start = 0;
	(void)runner_proc_starttime(pid, &pid_start);
	pthread_mutex_lock(&d->lock);
	w->runner = run;
	w->state = WORKER_RUNNING;
	d->stats.started++;
	/* A cancel that came while spawning. */
	if (w->cancel_asked || w->interrupt)
		runner_cancel(run);
	pthread_mutex_unlock(&d->lock);
	/* Recorded before the agent can do anything that matters: a rescue
	 * after a crash must find its group to end it. If it cannot be
	 * recorded, the agent is ended at once and the attempt fails. */
	struct store_error serr;
	bool unrecorded = false, taken = false;
	int pr = 0;
	for (int i = 0; i < 3; i++) {
		if ((pr = store_task_set_pid(d->store, t->id, d->owner, t->attempts, pid,
					     (int64_t)pid_start, &serr)) >= 0 ||
		    pr == HQ_E_CONFLICT)
			break;
		clock_sleep_ms(50);
	}
	if (pr < 0) {
		log_store(d, "cannot record a task's process; ending it", &serr);
		unrecorded = true;
		taken = pr == HQ_E_CONFLICT;
		runner_cancel(run);
	}
	{
		char pidtext[24];
		snprintf(pidtext, sizeof(pidtext), "%ld", (long)pid);
		log_msg(HQ_LOG_INFO, "task started", "task_id", id, "agent", a->name, "worker",
			w->name, "pid", pidtext, "flow_id", t->flow_id, NULL);
	}

	r = runner_wait(run, &res);
	pthread_mutex_lock(&d->lock);
	w->runner = NULL;
	bool interrupted = w->interrupt;
	pthread_mutex_unlock(&d->lock);
	runner_free(run);
	if (r == 0 && unrecorded) {
		/* Not the agent's fault: queued again without counting the
		 * attempt (when the task was taken over, the end is refused). */
		snprintf(why, sizeof(why), "its process could not be recorded%s: %s",
			 taken ? " (taken over)" : "", serr.msg);
		end.status = "queued";
		end.refund = true;
		end.next_attempt_at_ms = clock_now_ms() + 1000;
		outcome = "interrupted";
		runner_result_release(&res);
		memset(&res, 0, sizeof(res));
		goto out_end;
	}
	if (r < 0) {
		snprintf(why, sizeof(why), "supervising the agent failed: %s", hq_strerror(r));
		fail_or_retry(d, a, t, "failed", &end);
		outcome = "failed";
		goto out_end;
	}
	output = output_text(res.output, res.output_len);
	end.output = output ? output : "";
	end.output_bytes = (int64_t)res.output_total;
	end.run_ms = (int64_t)res.duration_ms;
	end.has_exit_code = res.exit_code >= 0;
	end.exit_code = res.exit_code;
	switch (res.end) {
	case RUNNER_EXITED:
		if (res.exit_code == 0) {
			end.status = "succeeded";
			outcome = "succeeded";
		} else {
			snprintf(why, sizeof(why), "the agent exited with status %d", res.exit_code);
			fail_or_retry(d, a, t, "failed", &end);
			outcome = "failed";
		}
		break;
	case RUNNER_SIGNALED:
		snprintf(why, sizeof(why), "the agent was killed by signal %d (%s)", res.signal,
			 strsignal(res.signal));
		fail_or_retry(d, a, t, "failed", &end);
		outcome = "failed";
		break;
	case RUNNER_TIMED_OUT:
		snprintf(why, sizeof(why), "timed out after %llu ms; its process group was ended",
			 (unsigned long long)a->timeout_ms);
		fail_or_retry(d, a, t, "timed_out", &end);
		outcome = "timed_out";
		break;
	case RUNNER_CANCELLED:
		if (interrupted) {
			snprintf(why, sizeof(why),
				 "interrupted: hookq stopped while it ran; queued again");
			end.status = "queued";
			end.refund = true;
			end.next_attempt_at_ms = clock_now_ms();
			outcome = "interrupted";
		} else {
			snprintf(why, sizeof(why), "cancelled while running");
			end.status = "cancelled";
			outcome = "cancelled";
		}
		break;
	}

out_end:
	if (!end.error && why[0])
		end.error = why;
	if (strcmp(end.status, "queued") == 0 && !end.refund)
		count(d, &d->stats.retried);
	pthread_mutex_lock(&d->lock);
	if (outcome && strcmp(outcome, "succeeded") == 0)
		d->stats.succeeded++;
	else if (outcome && strcmp(outcome, "timed_out") == 0)
		d->stats.timed_out++;
	else if (outcome && strcmp(outcome, "cancelled") == 0)
		d->stats.cancelled++;
	else if (outcome && strcmp(outcome, "interrupted") == 0)
		d->stats.interrupted++;
	else if (outcome && strcmp(outcome, "dead_letter") == 0)
		d->stats.dead++;
	else
		d->stats.failed++;
	pthread_mutex_unlock(&d->lock);
	log_end(w, &end, outcome ? outcome : "failed");
	/* An end for good says so where the task came from (written with
	 * the end, sent by the outbox). */
	struct replies_plan replies = { 0 };
	if (d->opt.replies && strcmp(end.status, "queued") != 0) {
		size_t out_len = end.output ? strlen(end.output) : 0;
		/* The task as it ended (its exit code). */
		struct store_task ended = *t;
		ended.has_exit_code = end.has_exit_code;
		ended.exit_code = end.exit_code;
		if (replies_on_end(d->opt.replies, &ended, end.status, end.error, end.output,
				   out_len, (uint64_t)end.output_bytes, end.run_ms, &replies) < 0)
			log_msg(HQ_LOG_WARN, "the result comment could not be made; the rest is sent",
				"task_id", id_text(t->id), NULL);
		end.outbox = replies.items;
		end.n_outbox = replies.n;
	}
	record_end(w, &end);
	if (replies.n && d->opt.wrote_replies)
		d->opt.wrote_replies(d->opt.replies_ctx);
	replies_plan_release(&replies);
	if (event_file[0])
		(void)unlink(event_file);
	runner_result_release(&res);
	free(output);
	agent_argv_free(argv);
	free(cwd);
	env_free(env);
}

static void *worker_main(void *arg)
{
	struct dworker *w = arg;
	struct dispatcher *d = w->d;
	char name[16];
	snprintf(name, sizeof(name), "hq-w-%.10s", w->name);
	pthread_setname_np(pthread_self(), name);
	pthread_mutex_lock(&d->lock);
	for (;;) {
		while (w->state == WORKER_IDLE && !d->workers_stopping)
			pthread_cond_wait(&d->work, &d->lock);
		if (w->state == WORKER_IDLE)
			break; /* stopping */
		pthread_mutex_unlock(&d->lock);
		run_task(w);
		pthread_mutex_lock(&d->lock);
		store_task_release(&w->task);
		crypto_cleanse(w->token, sizeof(w->token));
		w->state = WORKER_IDLE;
		w->cancel_asked = false;
		w->interrupt = false;
		d->generation++;
		pthread_cond_signal(&d->wake);
		pthread_cond_broadcast(&d->idle);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* The ids of the tasks this node's workers hold (malloc'd; NULL and 0
 * when none or out of memory). */
static int64_t *held_tasks(struct dispatcher *d, size_t *n)
{
	int64_t *ids = calloc(d->n_workers ? d->n_workers : 1, sizeof(*ids));
	*n = 0;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; ids && i < d->n_workers; i++)
		if (d->workers[i].state != WORKER_IDLE)
			ids[(*n)++] = d->workers[i].task.id;
	pthread_mutex_unlock(&d->lock);
	return ids;
}

/* A task rescued into its end (lost on its last attempt, or cancelled
 * meanwhile) says so like one that ended here: no worker did. */
static void say_rescued_end(struct dispatcher *d, int64_t id, const char *status)
{
	if (!d->opt.replies)
		return;
	struct store_task_detail t;
	struct store_error err;
	if (store_get_task(d->store, id, &t, &err) < 0)
		return;
	struct replies_plan plan = { 0 };
	(void)replies_on_end(d->opt.replies, &t.task, status, t.task.error, NULL, 0, 0, 0, &plan);
	if (plan.n > 0) {
		if (store_outbox_write(d->store, id, t.task.retry_base, plan.items, plan.n,
				       clock_now_ms(), &err) < 0)
			log_store(d, "cannot write a rescued task's replies", &err);
		else if (d->opt.wrote_replies)
			d->opt.wrote_replies(d->opt.replies_ctx);
	}
	replies_plan_release(&plan);
	store_task_detail_release(&t);
}

/* Rescues running tasks whose lease expired (never one of this node's
 * workers' own) and ends the processes they left on this host: by the
 * recorded process group, or, when the crash came before the group was
 * recorded, by the task id and attempt in the processes' environment. */
static void rescue(struct dispatcher *d)
{
	struct store_lost_task *lost = NULL;
	size_t n = 0, n_held = 0;
	struct store_error err;
	int64_t *held = held_tasks(d, &n_held);
	if (!held)
		return;
	int r = store_task_reclaim(d->store, clock_now_ms(), held, n_held, &lost, &n, &err);
	free(held);
	if (r < 0) {
		log_store(d, "cannot rescue lost tasks", &err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char id[24], killed_text[24] = "0";
		snprintf(id, sizeof(id), "%lld", (long long)lost[i].id);
		if (lost[i].host && strcmp(lost[i].host, d->host) == 0) {
			size_t killed = 0;
			int kr = HQ_E_NOTFOUND;
			if (lost[i].pid > 1)
				kr = runner_kill_leftover((pid_t)lost[i].pid,
							  (uint64_t)lost[i].pid_start, &killed);
			else if (lost[i].has_token_hash)
				kr = runner_kill_by_env("HOOKQ_TASK_TOKEN", lost[i].token_hash,
							&killed);
			if (kr == 0)
				snprintf(killed_text, sizeof(killed_text), "%zu", killed);
		}
		log_msg(HQ_LOG_WARN, "lost task rescued (its lease expired)", "task_id", id,
			"host", lost[i].host ? lost[i].host : "", "processes_killed", killed_text,
			"now", lost[i].status, NULL);
		if (strcmp(lost[i].status, "queued") != 0)
			say_rescued_end(d, lost[i].id, lost[i].status);
		count(d, &d->stats.lost);
	}
	store_lost_tasks_release(lost, n);
}

/* Renews the leases of the tasks this node's workers hold (only those: a
 * task whose end could not be recorded expires and is rescued). */
static void heartbeat(struct dispatcher *d)
{
	int64_t *cancel = NULL;
	size_t n = 0, n_held = 0;
	struct store_error err;
	int64_t *held = held_tasks(d, &n_held);
	if (!held)
		return;
	int r = store_task_heartbeat(d->store, d->owner, held, n_held, clock_now_ms(),
				     (int64_t)d->opt.lease_ms, (int64_t)d->opt.claim_ttl_ms, &cancel,
				     &n, &err);
	free(held);
	if (r < 0) {
		log_store(d, "cannot renew task leases", &err);
		return;
	}
	for (size_t i = 0; i < n; i++)
		(void)dispatcher_cancel(d, cancel[i]);
	free(cancel);
}

static int64_t load_of(const struct store_candidates *c, const char *worker, const int64_t *extra,
		       size_t index)
{
	int64_t load = extra[index];
	for (size_t i = 0; i < c->n_load; i++)
		if (strcmp(c->load_worker[i], worker) == 0)
			load += c->load[i];
	return load;
}

/* A queued task whose agent does not exist goes to dead letter (through
 * a start, so that only one node does it). */
static void dead_letter_unknown(struct dispatcher *d, int64_t id, const char *agent)
{
	unsigned char token[TOKEN_BYTES], hash[CRYPTO_SHA256_LEN];
	if (crypto_random(token, sizeof(token)) < 0 ||
	    crypto_sha256(token, sizeof(token), hash) < 0)
		return;
	struct store_task t;
	struct store_error err;
	int64_t now = clock_now_ms();
	if (store_task_start(d->store, id, "-", d->owner, d->host, hash, now,
			     (int64_t)d->opt.lease_ms, 0, &t, &err) < 0)
		return;
	char why[160];
	snprintf(why, sizeof(why), "no agent '%.64s' is configured", agent);
	struct store_task_end end = { .status = "dead_letter", .error = why };
	if (store_task_finish(d->store, id, d->owner, "-", t.attempts, &end, now, 0, &err) < 0)
		log_store(d, "cannot dead-letter a task", &err);
	char idt[24];
	snprintf(idt, sizeof(idt), "%lld", (long long)id);
	log_msg(HQ_LOG_ERROR, "task dead-lettered", "task_id", idt, "error", why, NULL);
	store_task_release(&t);
	count(d, &d->stats.dead);
}

/* Hands due tasks to idle workers; returns how many it started. */
static size_t assign(struct dispatcher *d)
{
	pthread_mutex_lock(&d->lock);
	size_t idle = 0;
	for (size_t i = 0; i < d->n_workers; i++)
		idle += d->workers[i].state == WORKER_IDLE && !d->workers[i].reserved;
	bool stopping = d->stopping;
	pthread_mutex_unlock(&d->lock);
	if (idle == 0 || stopping)
		return 0;

	struct store_candidates c;
	struct store_error err;
	if (store_task_candidates(d->store, d->owner, clock_now_ms(), CANDIDATES_MAX,
				  d->opt.single_queue, &c, &err) < 0) {
		log_store(d, "cannot read the task queue", &err);
		return 0;
	}
	/* What this round adds: claims (load) and running projects. */
	int64_t *extra = calloc(d->n_workers, sizeof(*extra));
	const char **started_projects = calloc(c.n + 1, sizeof(*started_projects));
	size_t n_started = 0;
	if (!extra || !started_projects) {
		free(extra);
		free(started_projects);
		store_candidates_release(&c);
		return 0;
	}
	for (size_t k = 0; k < c.n && idle > 0; k++) {
		const struct store_task_candidate *t = &c.tasks[k];
		if (!agent_find(d->opt.agents, t->agent)) {
			dead_letter_unknown(d, t->id, t->agent);
			continue;
		}
		bool ci = d->has_ci && strcmp(t->pool, "ci") == 0;
		if (t->project && d->opt.single_queue) {
			bool busy = t->running_in_project > 0;
			for (size_t j = 0; j < n_started && !busy; j++)
				busy = strcmp(started_projects[j], t->project) == 0;
			if (busy)
				continue;
		}
		pthread_mutex_lock(&d->lock);
		ssize_t pick = -1;
		/* Queued again while a worker here still runs it (this node's
		 * lease was taken: it stalled, or lost the database): not
		 * before that run is ended (the next heartbeat reports it). */
		bool still_here = false;
		for (size_t i = 0; i < d->n_workers && !still_here; i++)
			still_here = d->workers[i].state != WORKER_IDLE &&
				     d->workers[i].task.id == t->id;
		bool wait_for_claim = still_here;
		for (size_t i = 0; t->claim_worker && !still_here && i < d->n_workers; i++) {
			struct dworker *w = &d->workers[i];
			if (strcmp(w->name, t->claim_worker) != 0 || !(ci ? w->in_ci : w->in_main))
				continue;
			/* The claim holder is one of ours (the store names
			 * only this node's workers, or a stopped node's by
			 * name): the task waits for it while the claim lives. */
			if (w->state == WORKER_IDLE && !w->reserved)
				pick = (ssize_t)i;
			else
				wait_for_claim = true;
		}
		if (pick < 0 && !wait_for_claim) {
			int64_t best = INT64_MAX;
			for (size_t i = 0; i < d->n_workers; i++) {
				struct dworker *w = &d->workers[i];
				if (w->state != WORKER_IDLE || w->reserved ||
				    !(ci ? w->in_ci : w->in_main))
					continue;
				int64_t load = load_of(&c, w->name, extra, i);
				if (load < best) {
					best = load;
					pick = (ssize_t)i;
				}
			}
		}
		if (d->stopping)
			pick = -1; /* stopping: nothing more starts */
		if (pick >= 0)
			d->workers[pick].reserved = true;
		pthread_mutex_unlock(&d->lock);
		if (pick < 0)
			continue;

		struct dworker *w = &d->workers[pick];
		/* The agent gets the token as hex; the store keeps the SHA-256
		 * of exactly that text, which is what a request presents. */
		unsigned char token[TOKEN_BYTES], hash[CRYPTO_SHA256_LEN];
		char token_hex[TOKEN_BYTES * 2 + 1];
		struct store_task task;
		int r = crypto_random(token, sizeof(token));
		if (r == 0) {
			crypto_hex_encode(token, sizeof(token), token_hex);
			r = crypto_sha256(token_hex, strlen(token_hex), hash);
		}
		if (r == 0)
			r = store_task_start(d->store, t->id, w->name, d->owner, d->host, hash,
					     clock_now_ms(), (int64_t)d->opt.lease_ms,
					     (int64_t)d->opt.claim_ttl_ms, &task, &err);
		pthread_mutex_lock(&d->lock);
		w->reserved = false;
		if (r < 0) {
			crypto_cleanse(token_hex, sizeof(token_hex));
			pthread_mutex_unlock(&d->lock);
			if (r != HQ_E_CONFLICT)
				log_store(d, "cannot start a task", &err);
			continue;
		}
		w->task = task;
		w->state = WORKER_ASSIGNED;
		w->cancel_asked = false;
		/* Stopping began while it was started: it is queued again at
		 * once, its attempt not counted. */
		w->interrupt = d->stopping;
		memcpy(w->token, token_hex, sizeof(w->token));
		crypto_cleanse(token, sizeof(token));
		crypto_cleanse(token_hex, sizeof(token_hex));
		w->since_ms = clock_now_ms();
		pthread_cond_broadcast(&d->work);
		pthread_mutex_unlock(&d->lock);
		idle--;
		if (t->project && !t->claim_worker)
			extra[pick]++;
		if (t->project)
			started_projects[n_started++] = t->project;
	}
	size_t started = n_started;
	free(extra);
	free(started_projects);
	store_candidates_release(&c);
	return started;
}

static void *dispatcher_main(void *arg)
{
	struct dispatcher *d = arg;
	pthread_setname_np(pthread_self(), "hq-dispatch");
	int64_t next_rescue = 0, next_heartbeat = 0;
	uint64_t every_rescue = d->opt.lease_ms / 2, every_beat = d->opt.lease_ms / 3;
	for (;;) {
		pthread_mutex_lock(&d->lock);
		/* Stopping: no more assignments, but leases are renewed until
		 * the workers are done (the shutdown grace). */
		bool stop = d->stopping, leave = d->thread_exit;
		uint64_t seen = d->generation;
		if (d->rescue_now)
			next_rescue = 0;
		if (d->beat_now)
			next_heartbeat = 0;
		d->rescue_now = d->beat_now = false;
		pthread_mutex_unlock(&d->lock);
		if (leave)
			break;
		int64_t now = clock_now_ms();
		if (now >= next_heartbeat) {
			heartbeat(d);
			next_heartbeat = now + (int64_t)every_beat;
		}
		if (now >= next_rescue && !stop) {
			if (may_rescue(d, now))
				rescue(d);
			next_rescue = now + (int64_t)every_rescue;
		}
		if (!stop)
			assign(d);
		if (d->opt.taskfiles) {
			/* The task-file thread writes what changed. */
			pthread_mutex_lock(&d->lock);
			d->files_generation++;
			pthread_cond_signal(&d->files_wake);
			pthread_mutex_unlock(&d->lock);
		}

		now = clock_now_ms();
		int64_t wake_at = now + (int64_t)d->opt.poll_ms;
		int64_t due = INT64_MAX;
		struct store_error err;
		if (store_task_next_due(d->store, &due, &err) == 0 && due > now && due < wake_at)
			wake_at = due;
		if (next_heartbeat < wake_at)
			wake_at = next_heartbeat;
		if (next_rescue < wake_at)
			wake_at = next_rescue;
		if (wake_at < now + 5)
			wake_at = now + 5;
		struct timespec until = { (time_t)(wake_at / 1000),
					  (long)(wake_at % 1000) * 1000000L };
		pthread_mutex_lock(&d->lock);
		while (!d->thread_exit && d->stopping == stop && d->generation == seen) {
			if (pthread_cond_timedwait(&d->wake, &d->lock, &until) != 0)
				break;
		}
		pthread_mutex_unlock(&d->lock);
	}
	return NULL;
}

/* Task files are written on a thread of their own: a slow disk or a
 * restart that rewrites thousands of files never delays heartbeats and
 * assignments. */
static void *files_main(void *arg)
{
	struct dispatcher *d = arg;
	pthread_setname_np(pthread_self(), "hq-taskfiles");
	for (;;) {
		pthread_mutex_lock(&d->lock);
		uint64_t seen = d->files_generation;
		bool leave = d->thread_exit;
		pthread_mutex_unlock(&d->lock);
		size_t written = 0;
		char terr[512];
		if (taskfiles_sync(d->opt.taskfiles, d->store, &written, terr, sizeof(terr)) < 0)
			log_msg(HQ_LOG_ERROR, "cannot write task files", "error", terr, NULL);
		if (leave)
			break;
		int64_t wake_at = clock_now_ms() + (int64_t)d->opt.poll_ms;
		struct timespec until = { (time_t)(wake_at / 1000),
					  (long)(wake_at % 1000) * 1000000L };
		pthread_mutex_lock(&d->lock);
		while (!d->thread_exit && d->files_generation == seen) {
			if (pthread_cond_timedwait(&d->files_wake, &d->lock, &until) != 0)
				break;
		}
		pthread_mutex_unlock(&d->lock);
	}
	return NULL;
}

bool dispatcher_cancel(struct dispatcher *d, int64_t id)
{
	if (!d)
		return false;
	bool found = false;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n_workers; i++) {
		struct dworker *w = &d->workers[i];
		if (w->state == WORKER_IDLE || w->task.id != id)
			continue;
		found = true;
		w->cancel_asked = true;
		if (w->runner)
			runner_cancel(w->runner);
	}
	pthread_mutex_unlock(&d->lock);
	return found;
}

void dispatcher_free(struct dispatcher *d)
{
	if (!d)
		return;
	for (size_t i = 0; d->workers && i < d->n_workers; i++)
		store_task_release(&d->workers[i].task);
	free(d->workers);
	free(d->owner);
	free(d->host);
	free(d->run_dir);
	free(d->api_url);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->wake);
	pthread_cond_destroy(&d->work);
	pthread_cond_destroy(&d->idle);
	pthread_cond_destroy(&d->files_wake);
	free(d);
}

void dispatcher_stop(struct dispatcher *d, struct dispatcher_stats *stats)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_broadcast(&d->wake);
	pthread_mutex_unlock(&d->lock);

	/* Running agents get the grace to finish, then are ended and their
	 * tasks queued again (the attempt is not counted). */
	int64_t until_ms = clock_now_ms() + (int64_t)d->opt.shutdown_grace_ms;
	struct timespec until = { (time_t)(until_ms / 1000), (long)(until_ms % 1000) * 1000000L };
	pthread_mutex_lock(&d->lock);
	for (;;) {
		bool busy = false;
		for (size_t i = 0; i < d->n_workers; i++)
			busy |= d->workers[i].state != WORKER_IDLE || d->workers[i].reserved;
		if (!busy || pthread_cond_timedwait(&d->idle, &d->lock, &until) != 0)
			break;
	}
	for (size_t i = 0; i < d->n_workers; i++) {
		struct dworker *w = &d->workers[i];
		if (w->state == WORKER_IDLE)
			continue;
		w->interrupt = true;
		if (w->runner)
			runner_cancel(w->runner);
	}
	d->workers_stopping = true;
	pthread_cond_broadcast(&d->work);
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < d->n_workers; i++)
		if (d->workers[i].started)
			pthread_join(d->workers[i].thread, NULL);
	/* Leases were renewed meanwhile; now the threads leave (the task
	 * files get the last changes first). */
	pthread_mutex_lock(&d->lock);
	d->thread_exit = true;
	pthread_cond_broadcast(&d->wake);
	pthread_cond_broadcast(&d->files_wake);
	pthread_mutex_unlock(&d->lock);
	if (d->thread_started)
		pthread_join(d->thread, NULL);
	if (d->files_started)
		pthread_join(d->files_thread, NULL);
	if (stats)
		*stats = d->stats;
}

static bool listed(const char *const *list, const char *name)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

int dispatcher_start(struct store *store, const struct dispatcher_options *opt,
		     struct dispatcher **ret, char *err, size_t err_size)
{
	if (!opt->workers || !opt->workers[0] || !opt->owner || !opt->host || !opt->run_dir ||
	    opt->lease_ms < 3 || opt->poll_ms == 0) {
		snprintf(err, err_size, "the dispatcher needs workers, a node id and a lease");
		return HQ_E_INVAL;
	}
	if (mkdir(opt->run_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, err_size, "cannot create '%s': %s", opt->run_dir, strerror(errno));
		return HQ_E_IO;
	}
	struct stat st;
	if (lstat(opt->run_dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 0077)) {
		/* Event files hold payloads: the directory must be ours alone. */
		snprintf(err, err_size, "'%s' must be a directory owned by this user with mode 0700",
			 opt->run_dir);
		return HQ_E_INVAL;
	}
	struct dispatcher *d = calloc(1, sizeof(*d));
	if (!d)
		return HQ_E_NOMEM;
	d->store = store;
	d->opt = *opt;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->wake, NULL);
	pthread_cond_init(&d->work, NULL);
	pthread_cond_init(&d->idle, NULL);
	pthread_cond_init(&d->files_wake, NULL);
	histogram_init(&d->latency);
	if (crypto_random(&d->rnd, sizeof(d->rnd)) < 0 || d->rnd == 0)
		d->rnd = 0x9e3779b97f4a7c15ull;
	d->owner = strdup(opt->owner);
	d->host = strdup(opt->host);
	d->run_dir = strdup(opt->run_dir);
	d->api_url = opt->api_url ? strdup(opt->api_url) : NULL;
	d->has_ci = opt->ci_workers && opt->ci_workers[0];
	size_t n = 0;
	for (size_t i = 0; opt->workers[i]; i++)
		n++;
	for (size_t i = 0; d->has_ci && opt->ci_workers[i]; i++)
		n += !listed(opt->workers, opt->ci_workers[i]);
	d->workers = calloc(n, sizeof(*d->workers));
	if (!d->owner || !d->host || !d->run_dir || (opt->api_url && !d->api_url) ||
	    !d->workers) {
		dispatcher_free(d);
		return HQ_E_NOMEM;
	}
	/* Main pool first, in its order; then the CI-only workers. */
	for (size_t i = 0; opt->workers[i]; i++) {
		struct dworker *w = &d->workers[d->n_workers++];
		snprintf(w->name, sizeof(w->name), "%s", opt->workers[i]);
		w->in_main = true;
		w->in_ci = !d->has_ci || listed(opt->ci_workers, w->name);
	}
	for (size_t i = 0; d->has_ci && opt->ci_workers[i]; i++) {
		if (listed(opt->workers, opt->ci_workers[i]))
			continue;
		struct dworker *w = &d->workers[d->n_workers++];
		snprintf(w->name, sizeof(w->name), "%s", opt->ci_workers[i]);
		w->in_ci = true;
	}
	for (size_t i = 0; i < d->n_workers; i++) {
		d->workers[i].d = d;
		if (pthread_create(&d->workers[i].thread, NULL, worker_main, &d->workers[i]) != 0)
			goto out_stop;
		d->workers[i].started = true;
	}
	/* A node starting rescues what its last run left at once. */
	d->healthy_since = clock_now_ms() - (int64_t)d->opt.lease_ms;
	if (pthread_create(&d->thread, NULL, dispatcher_main, d) != 0)
		goto out_stop;
	d->thread_started = true;
	if (opt->taskfiles) {
		if (pthread_create(&d->files_thread, NULL, files_main, d) != 0)
			goto out_stop;
		d->files_started = true;
	}
	*ret = d;
	return 0;

out_stop:
	snprintf(err, err_size, "cannot start the dispatcher's threads");
	dispatcher_stop(d, NULL);
	dispatcher_free(d);
	return HQ_E_SYSTEM;
}

void dispatcher_get_stats(struct dispatcher *d, struct dispatcher_stats *ret)
{
	pthread_mutex_lock(&d->lock);
	*ret = d->stats;
	pthread_mutex_unlock(&d->lock);
}

const struct histogram *dispatcher_latency(struct dispatcher *d)
{
	return &d->latency;
}

void dispatcher_load(struct dispatcher *d, size_t *busy, size_t *total)
{
	size_t b = 0;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n_workers; i++)
		b += d->workers[i].state != WORKER_IDLE || d->workers[i].reserved;
	*total = d->n_workers;
	pthread_mutex_unlock(&d->lock);
	*busy = b;
}

int dispatcher_workers_json(struct dispatcher *d, int64_t now_ms, char **ret)
{
	struct store_claim_row *claims = NULL;
	size_t n_claims = 0;
	struct store_error err;
	if (store_list_claims(d->store, now_ms, &claims, &n_claims, &err) < 0)
		return HQ_E_STORE;
	json_t *list = json_array();
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; list && i < d->n_workers; i++) {
		const struct dworker *w = &d->workers[i];
		json_t *pools = json_array();
		if (w->in_main)
			json_array_append_new(pools, json_string("main"));
		if (w->in_ci)
			json_array_append_new(pools, json_string("ci"));
		static const char *const states[] = { "idle", "starting", "running" };
		json_t *o = json_pack("{s:s, s:o, s:s}", "name", w->name, "pools", pools, "state",
				      states[w->state]);
		if (o && w->state != WORKER_IDLE) {
			json_object_set_new(o, "task_id", json_integer(w->task.id));
			json_object_set_new(o, "agent", json_string(w->task.agent));
			json_object_set_new(o, "since_ms", json_integer(w->since_ms));
		}
		json_t *held = json_array();
		for (size_t j = 0; held && j < n_claims; j++) {
			if (strcmp(claims[j].worker, w->name) != 0 ||
			    strcmp(claims[j].node, d->owner) != 0)
				continue;
			json_array_append_new(held,
					      json_pack("{s:s, s:I, s:I, s:I}", "project",
							claims[j].project, "expires_at_ms",
							(json_int_t)claims[j].expires_at_ms,
							"last_activity_ms",
							(json_int_t)claims[j].last_activity_ms, "tasks",
							(json_int_t)claims[j].tasks));
		}
		if (o)
			json_object_set_new(o, "claims", held ? held : json_array());
		json_array_append_new(list, o);
	}
	pthread_mutex_unlock(&d->lock);
	store_claims_release(claims, n_claims);
	json_t *doc = list ? json_pack("{s:o}", "workers", list) : NULL;
	*ret = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return *ret ? 0 : HQ_E_NOMEM;
}
