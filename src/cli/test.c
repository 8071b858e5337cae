/* test: sends a test event to a running server (POST /api/test), which
 * processes it like a webhook into a task on the CI pool; prints the task
 * and, with --wait, its output and how it ended. It only ever asks the
 * server: a database alone runs no agents. */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/target.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/parse.h"

/* The API's limit on a prompt (engine/admin_task.c); a longer one read
 * from stdin is refused before it is sent. */
#define TEST_PROMPT_MAX (64 * 1024)
#define TEST_TIMEOUT_DEFAULT_MS (10 * 60 * 1000)
#define TEST_TIMEOUT_MAX_MS (7ULL * 24 * 3600 * 1000)
/* Polls start fast (a test task often starts at once), then back off. */
#define POLL_FIRST_MS 100
#define POLL_MAX_MS 1000
/* The end of the output printed with --wait; `hookq tasks show --json`
 * has all that is stored. */
#define OUTPUT_TAIL (16 * 1024)
/* 128 + SIGINT, what a shell reports for an interrupted command. */
#define EXIT_INTERRUPTED 130

void cli_test_help(FILE *out)
{
	fputs("Usage: hookq test PROMPT [--repo OWNER/NAME] [--agent NAME] [--wait]\n"
	      "                  [--timeout DURATION] [--url URL]\n"
	      "\n"
	      "Sends a test event to a running server, which processes it like a webhook\n"
	      "into a task for the agent (default: tasks.test_agent, else the first agent)\n"
	      "on the CI workers (pool.ci_workers, else pool.workers), and prints the task.\n"
	      "With --wait, waits for the task to end and prints the end of its output.\n"
	      "A PROMPT of '-' is read from stdin (at most 64 KiB).\n"
	      "\n"
	      "Options:\n"
	      "  --repo OWNER/NAME  the repository the task is about ({{repository}})\n"
	      "  --agent NAME       the agent to run instead of the test agent\n"
	      "  --wait             wait for the task to end; exit 0 only if it succeeded\n"
	      "  --timeout DURATION give up waiting after this long (default 10m); the\n"
	      "                     task keeps running\n"
	      "  --url URL          the server (env HOOKQ_URL; default\n"
	      "                     http://127.0.0.1:$WEBHOOK_PORT, else port 8080), with\n"
	      "                     HTTP Basic from ADMIN_USERNAME (default admin) and\n"
	      "                     ADMIN_PASSWORD\n"
	      "  -h, --help         show this help\n"
	      "\n"
	      "Exit codes: 0 success (with --wait: the task succeeded), 1 failure (the task\n"
	      "failed, timed out or was cancelled, no task in time, server unreachable),\n"
	      "2 usage error, 130 interrupted (Ctrl-C: the task keeps running).\n",
	      out);
}

/* What Ctrl-C prints before exiting: set with SIGINT blocked, read by the
 * handler with write(2), which is async-signal-safe where stdio is not. */
static char interrupt_msg[200];
static size_t interrupt_len;

static void on_interrupt(int sig)
{
	(void)sig;
	ssize_t r = write(STDERR_FILENO, interrupt_msg, interrupt_len);
	(void)r;
	_exit(EXIT_INTERRUPTED);
}

static void interrupt_say(const char *text)
{
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	snprintf(interrupt_msg, sizeof(interrupt_msg), "%s", text);
	interrupt_len = strlen(interrupt_msg);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* The next poll interval: doubling from POLL_FIRST_MS up to POLL_MAX_MS. */
static unsigned backoff(unsigned *every)
{
	unsigned now = *every;
	*every = now * 2 < POLL_MAX_MS ? now * 2 : POLL_MAX_MS;
	return now;
}

/* Reads the prompt from stdin: at most TEST_PROMPT_MAX bytes and a line
 * end, no NUL, without the trailing newlines an `echo` or a file ends
 * with. */
static int read_prompt(const char *cmd, struct buf *b)
{
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		if (buf_append(b, chunk, n) < 0) {
			fprintf(stderr, "%s: the prompt on stdin is over %d bytes\n", cmd,
				TEST_PROMPT_MAX);
			return HQ_E_TOOBIG;
		}
	}
	if (ferror(stdin)) {
		fprintf(stderr, "%s: cannot read the prompt from stdin\n", cmd);
		return HQ_E_IO;
	}
	if (memchr(b->data ? b->data : "", '\0', b->len)) {
		fprintf(stderr, "%s: the prompt on stdin holds a NUL byte\n", cmd);
		return HQ_E_INVAL;
	}
	while (b->len > 0 && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
		b->len--;
	int r = buf_reserve(b, 0);
	if (r < 0)
		return r;
	b->data[b->len] = '\0';
	return 0;
}

/* --url, else HOOKQ_URL, else the local server's port. */
static int server_url(const char *cmd, const char *opt, char *out, size_t size)
{
	const char *env = getenv("HOOKQ_URL");
	if (opt || (env && *env)) {
		snprintf(out, size, "%s", opt ? opt : env);
		return 0;
	}
	const char *port = getenv("WEBHOOK_PORT");
	uint16_t p = 8080;
	if (port && *port && parse_port(port, &p) < 0) {
		char shown[32];
		fprintf(stderr, "%s: WEBHOOK_PORT: not a port number: '%s'\n", cmd,
			cli_cell(port, 16, shown, sizeof(shown)));
		return HQ_E_INVAL;
	}
	snprintf(out, size, "http://127.0.0.1:%u", (unsigned)p);
	return 0;
}

static bool terminal(const char *status)
{
	static const char *const ended[] = { "succeeded", "failed",	 "timed_out",
					     "cancelled", "dead_letter", NULL };
	for (size_t i = 0; status && ended[i]; i++)
		if (strcmp(status, ended[i]) == 0)
			return true;
	return false;
}

/* The event's task: its list entry in *doc (*task a reference to it),
 * or *task NULL when there is none yet. */
static int list_task(struct cli_target *t, const char *event, json_t **doc, json_t **task)
{
	long status;
	struct admin_param p = { "event_id", event };
	int r = cli_target_json(t, "GET", "/api/tasks", &p, 1, NULL, &status, doc);
	if (r < 0)
		return r;
	json_t *tasks = json_object_get(*doc, "tasks");
	/* Newest first: the event's own task is the oldest. */
	*task = json_array_get(tasks, json_array_size(tasks) - 1);
	return 0;
}

/* list_task(), and when there is no task yet, whether there will be one:
 * returns < 0 (having said why) when the event has been processed
 * without one. */
static int find_task(struct cli_target *t, const char *event, json_t **doc, json_t **task)
{
	int r = list_task(t, event, doc, task);
	if (r < 0 || *task)
		return r;
	json_t *ev = NULL;
	long status;
	char path[64];
	snprintf(path, sizeof(path), "/api/events/%s", event);
	r = cli_target_json(t, "GET", path, NULL, 0, NULL, &status, &ev);
	if (r < 0)
		return r;
	const char *st = cli_str_at(ev, "status");
	char why[512];
	if (st && strcmp(st, "dead_letter") == 0) {
		fprintf(stderr, "%s: the test event %s failed: %s\n", t->cmd, event,
			cli_cell(cli_str_at(ev, "last_error"), sizeof(why) - 1, why, sizeof(why)));
		r = HQ_E_IO;
	} else if (st && strcmp(st, "completed") == 0) {
		/* The event completes in the transaction that creates its task,
		 * which may have committed since the list above: ask again. */
		json_decref(*doc);
		*doc = NULL;
		r = list_task(t, event, doc, task);
		if (r == 0 && !*task) {
			fprintf(stderr,
				"%s: the test event %s made no task (is an agent configured?)\n",
				t->cmd, event);
			r = HQ_E_IO;
		}
	}
	json_decref(ev);
	return r;
}

/* Prints the end of the task's output and how it ended; the exit code. */
static int report(struct cli_target *t, long long id)
{
	char path[64];
	long status;
	json_t *doc = NULL;
	snprintf(path, sizeof(path), "/api/tasks/%lld", id);
	int r = cli_target_json(t, "GET", path, NULL, 0, NULL, &status, &doc);
	if (r < 0)
		return CLI_EXIT_FAILURE;
	const char *output = cli_str_at(doc, "output");
	if (output && *output)
		cli_text_tail(stdout, output, OUTPUT_TAIL);
	const char *st = cli_str_at(doc, "status");
	char s[32], w[48] = "", wn[32], err[512] = "";
	if (cli_str_at(doc, "worker"))
		snprintf(w, sizeof(w), " on worker %s",
			 cli_cell(cli_str_at(doc, "worker"), 24, wn, sizeof(wn)));
	if (cli_str_at(doc, "error")) {
		char e[480];
		snprintf(err, sizeof(err), ": %s",
			 cli_cell(cli_str_at(doc, "error"), sizeof(e) - 1, e, sizeof(e)));
	}
	printf("task %lld %s%s%s\n", id, cli_cell(st, 24, s, sizeof(s)), w, err);
	bool ok = st && strcmp(st, "succeeded") == 0;
	json_decref(doc);
	return ok ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

static int run(struct cli_target *t, const char *body, bool wait, uint64_t timeout_ms,
	       const char *timeout_text)
{
	long status = 0;
	json_t *accepted = NULL;
	int r = cli_target_json(t, "POST", "/api/test", NULL, 0, body, &status, &accepted);
	if (r < 0) /* A 400 names what the API refused: a prompt, --repo, --agent. */
		return status == 400 ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
	char event[24];
	snprintf(event, sizeof(event), "%lld",
		 (long long)json_integer_value(json_object_get(accepted, "event_id")));
	json_decref(accepted);

	uint64_t deadline = mono_ms() + timeout_ms;
	char msg[sizeof(interrupt_msg)];
	snprintf(msg, sizeof(msg),
		 "\n%s: stopped waiting; the test event %s is processed all the same\n", t->cmd,
		 event);
	interrupt_say(msg);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);

	unsigned every = POLL_FIRST_MS;
	json_t *doc = NULL, *task = NULL;
	for (;;) {
		r = find_task(t, event, &doc, &task);
		if (r < 0) {
			json_decref(doc);
			return CLI_EXIT_FAILURE;
		}
		if (task)
			break;
		json_decref(doc);
		doc = NULL;
		if (mono_ms() >= deadline) {
			fprintf(stderr, "%s: the test event %s made no task within %s\n", t->cmd,
				event, timeout_text);
			return CLI_EXIT_FAILURE;
		}
		sleep_ms(backoff(&every));
	}
	long long id = (long long)json_integer_value(json_object_get(task, "id"));
	char flow[32], agent[80];
	printf("task %lld queued (flow %s, agent %s)\n", id,
	       cli_cell(cli_str_at(task, "flow_id"), 24, flow, sizeof(flow)),
	       cli_cell(cli_str_at(task, "agent"), 64, agent, sizeof(agent)));
	fflush(stdout);
	bool ended = terminal(cli_str_at(task, "status"));
	json_decref(doc);
	doc = NULL;
	if (!wait)
		return CLI_EXIT_OK;
	snprintf(msg, sizeof(msg), "\n%s: stopped waiting; task %lld keeps running\n", t->cmd, id);
	interrupt_say(msg);
	every = POLL_FIRST_MS;
	while (!ended) {
		if (mono_ms() >= deadline) {
			fprintf(stderr, "%s: task %lld has not ended within %s; it keeps running "
					"('hookq tasks show %lld')\n",
				t->cmd, id, timeout_text, id);
			return CLI_EXIT_FAILURE;
		}
		sleep_ms(backoff(&every));
		/* The list entry has no prompt or output: cheap to ask often. */
		r = list_task(t, event, &doc, &task);
		if (r < 0) {
			json_decref(doc);
			return CLI_EXIT_FAILURE;
		}
		ended = task && terminal(cli_str_at(task, "status"));
		json_decref(doc);
		doc = NULL;
	}
	return report(t, id);
}

int cli_test(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "repo", required_argument, NULL, 'r' },
		{ "agent", required_argument, NULL, 'a' },
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "url", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *repo = NULL, *agent = NULL, *url = NULL, *timeout = "10m";
	uint64_t timeout_ms = TEST_TIMEOUT_DEFAULT_MS;
	bool wait = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			repo = optarg;
			break;
		case 'a':
			agent = optarg;
			break;
		case 'w':
			wait = true;
			break;
		case 't':
			timeout = optarg;
			if (parse_duration_ms(optarg, &timeout_ms) < 0 || timeout_ms == 0 ||
			    timeout_ms > TEST_TIMEOUT_MAX_MS) {
				char shown[64];
				fprintf(stderr, "%s: --timeout must be a duration from 1ms to 7d "
						"(30s, 10m, 2h), not '%s'\n",
					argv[0], cli_cell(optarg, 40, shown, sizeof(shown)));
				return CLI_EXIT_USAGE;
			}
			break;
		case 'u':
			url = optarg;
			break;
		case 'h':
			cli_test_help(stdout);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "Try '%s --help'.\n", argv[0]);
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "%s: %s\nTry '%s --help'.\n", argv[0],
			argc - optind < 1 ? "missing prompt (or '-' to read it from stdin)" :
					    "unexpected argument (quote the prompt)",
			argv[0]);
		return CLI_EXIT_USAGE;
	}
	char base[2048];
	if (server_url(argv[0], url, base, sizeof(base)) < 0)
		return CLI_EXIT_USAGE;
	struct cli_target t = { .cmd = argv[0], .url = base };

	struct buf in;
	buf_init(&in, TEST_PROMPT_MAX + 2);
	const char *prompt = argv[optind];
	int code = CLI_EXIT_USAGE;
	if (strcmp(prompt, "-") == 0) {
		if (read_prompt(t.cmd, &in) < 0)
			goto out;
		prompt = in.data;
	}
	if (!*prompt) {
		fprintf(stderr, "%s: the prompt is empty\n", t.cmd);
		goto out;
	}
	json_t *o = json_object();
	json_t *p = json_string(prompt);
	if (!p) {
		json_decref(o);
		fprintf(stderr, "%s: the prompt is not UTF-8 text\n", t.cmd);
		goto out;
	}
	json_object_set_new(o, "prompt", p);
	if ((repo && json_object_set_new(o, "repository", json_string(repo)) < 0) ||
	    (agent && json_object_set_new(o, "agent", json_string(agent)) < 0)) {
		json_decref(o);
		fprintf(stderr, "%s: --repo and --agent must be UTF-8 text\n", t.cmd);
		goto out;
	}
	char *body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!body) {
		fprintf(stderr, "%s: out of memory\n", t.cmd);
		code = CLI_EXIT_FAILURE;
		goto out;
	}
	code = run(&t, body, wait, timeout_ms, timeout);
	free(body);
out:
	buf_release(&in);
	return code;
}
