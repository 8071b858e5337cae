/* serve: loads the configuration (flags > environment > file > defaults),
 * opens the store, starts the group committer and the HTTP source, and
 * runs until SIGTERM or SIGINT, then shuts down in order: stop accepting,
 * finish requests in flight, store what is queued, close the store. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "clients/aws.h"
#include "clients/github.h"
#include "clients/sqs.h"
#include "core/agent.h"
#include "core/config.h"
#include "engine/dispatcher.h"
#include "engine/forward.h"
#include "engine/handler.h"
#include "engine/ingest.h"
#include "engine/nodes.h"
#include "engine/outbox.h"
#include "engine/processor.h"
#include "engine/replies.h"
#include "core/route.h"
#include "core/template.h"
#include "engine/router.h"
#include "engine/status.h"
#include "engine/taskfiles.h"
#include "engine/workspace.h"
#include "providers/provider.h"
#include "providers/standard.h"
#include "sources/http.h"
#include "sources/sqs.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "version.h"

#define CONFIG_FILE_MAX (1024 * 1024)
#define SECRET_FILE_MAX (64 * 1024)
#define SHUTDOWN_GRACE_MS 10000
/* Webhooks waiting for the committer beyond this answer 503. */
#define INGEST_QUEUE_MAX 65536

#define MAX_FLAGS 64
#define FORWARD_SEND_TIMEOUT_MS 10000L
/* Room for the envelope's headers and JSON, the rest base64. */
#define FORWARD_BODY_MAX ((SQS_BODY_MAX - 64 * 1024) / 4 * 3)
/* Provider endpoints (and GitHub's alias), then the routes' own. */
#define MAX_ENDPOINTS (16 + ROUTE_MAX_ROUTES)

struct flag_value {
	const struct config_option *opt;
	const char *value;
};

void cli_serve_help(FILE *out)
{
	fputs("Usage: hookq serve [OPTIONS]\n"
	      "\n"
	      "Receives webhooks over HTTP and stores each one durably before answering.\n"
	      "Settings come from flags, then the environment, then the YAML file, then\n"
	      "the defaults (docs/configuration.md has the whole list).\n"
	      "\n"
	      "Options:\n"
	      "  --config FILE              YAML configuration file (env HOOKQ_CONFIG)\n",
	      out);
	for (const struct config_option *o = config_options; o->key; o++) {
		if (!o->flag)
			continue;
		char left[64];
		snprintf(left, sizeof(left), "--%s%s", o->flag,
			 o->type == CONFIG_BOOL ? "" : " VALUE");
		fprintf(out, "  %-26s %s", left, o->help);
		if (o->env)
			fprintf(out, " (env %s", o->env);
		if (o->def && o->def[0])
			fprintf(out, "%sdefault %s", o->env ? "; " : " (", o->def);
		fputs(o->env || (o->def && o->def[0]) ? ")\n" : "\n", out);
	}
	fputs("  -h, --help                 show this help\n"
	      "\n"
	      "Secrets are never accepted as flags: use GITHUB_WEBHOOK_SECRET,\n"
	      "ADMIN_PASSWORD, or the *_file settings.\n"
	      "Exit codes: 0 clean shutdown, 1 run-time failure, 2 usage error,\n"
	      "78 invalid configuration.\n",
	      out);
}

/* One info line with three counters, as shutdown reports them. */
static void log_counts(const char *msg, const char *k1, uint64_t v1, const char *k2,
		       uint64_t v2, const char *k3, uint64_t v3)
{
	char a[24], b[24], c[24];
	snprintf(a, sizeof(a), "%llu", (unsigned long long)v1);
	snprintf(b, sizeof(b), "%llu", (unsigned long long)v2);
	snprintf(c, sizeof(c), "%llu", (unsigned long long)v3);
	log_msg(HQ_LOG_INFO, msg, k1, a, k2, b, k3, c, NULL);
}

static int render_status(void *ctx, char **json)
{
	struct store_error err;
	int r = status_render(ctx, clock_now_ms(), json, &err);
	if (r < 0)
		log_msg(HQ_LOG_ERROR, "cannot read the status", "error", err.msg, NULL);
	return r;
}

static int render_metrics(void *ctx, struct buf *out)
{
	struct store_error err;
	int r = status_metrics(ctx, clock_now_ms(), out, &err);
	if (r < 0 && r != HQ_E_TOOBIG)
		log_msg(HQ_LOG_ERROR, "cannot read the metrics", "error", err.msg, NULL);
	return r;
}

/* A dynamic webhook's row, for the ack path: one primary-key read. */
static int lookup_webhook(void *ctx, const char *provider, const char *id, bool *enabled,
			  char *secret, size_t secret_size, bool *has_secret)
{
	char owner[64];
	struct store_error err;
	int r = store_webhook_peek(ctx, id, owner, sizeof(owner), enabled, secret, secret_size,
				   has_secret, &err);
	if (r == HQ_E_NOTFOUND)
		return r;
	if (r < 0) {
		log_msg(HQ_LOG_ERROR, "cannot look up a webhook", "error", err.msg, NULL);
		return r;
	}
	return strcmp(owner, provider) == 0 ? 0 : HQ_E_NOTFOUND;
}

static int read_secret_file(const char *key, const char *path, char **ret);

/* The dispatcher once it runs: it starts after the HTTP server (agents
 * are told its port) and stops before it (agents still running in the
 * shutdown grace can create follow-up tasks), while the processor, the
 * admin API and /status call into it from their threads: they hold the
 * read side while they use it, and it is freed under the write side. */
static struct dispatcher *running_dispatcher;
static pthread_rwlock_t dispatcher_lock = PTHREAD_RWLOCK_INITIALIZER;

/* The outbox runs from before the processor starts until after the
 * dispatcher and the processor stopped, but the nodes thread and the
 * store's listener outlive it: they wake it under the lock, and it is
 * taken from them under the lock before it stops. */
static struct outbox *running_outbox;
static pthread_mutex_t outbox_lock = PTHREAD_MUTEX_INITIALIZER;

static void wake_outbox(void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&outbox_lock);
	outbox_wake(running_outbox);
	pthread_mutex_unlock(&outbox_lock);
}

static void wake_dispatcher(void *ctx)
{
	(void)ctx;
	pthread_rwlock_rdlock(&dispatcher_lock);
	dispatcher_wake(running_dispatcher);
	pthread_rwlock_unlock(&dispatcher_lock);
	/* New tasks wrote their first replies (👀). */
	wake_outbox(NULL);
}

/* The processor once it runs, for the nodes thread's rescues. */
static struct processor *running_processor;
static pthread_mutex_t processor_lock = PTHREAD_MUTEX_INITIALIZER;

static void wake_running_processor(void)
{
	pthread_mutex_lock(&processor_lock);
	processor_wake(running_processor);
	pthread_mutex_unlock(&processor_lock);
}

/* Another node was found dead and its leases ended: its events and
 * replies were reclaimed, its tasks are looked for now. */
static void dead_node_rescued(void *ctx)
{
	(void)ctx;
	wake_running_processor();
	pthread_rwlock_rdlock(&dispatcher_lock);
	dispatcher_rescue_now(running_dispatcher);
	pthread_rwlock_unlock(&dispatcher_lock);
	wake_outbox(NULL);
}

/* Another node (or this one) committed work: wake who does it. */
static void store_changed(void *ctx, unsigned what)
{
	(void)ctx;
	if (what & STORE_CHANGED_EVENTS)
		wake_running_processor();
	if (what & (STORE_CHANGED_TASKS | STORE_CHANGED_CANCELS)) {
		pthread_rwlock_rdlock(&dispatcher_lock);
		if (what & STORE_CHANGED_CANCELS)
			dispatcher_check_cancels(running_dispatcher);
		else
			dispatcher_wake(running_dispatcher);
		pthread_rwlock_unlock(&dispatcher_lock);
	}
	if (what & STORE_CHANGED_OUTBOX)
		wake_outbox(NULL);
}

/* Every secret value configured: never said in a reply. */
static size_t secret_values(struct config *cfg, const char **out, size_t max)
{
	size_t n = 0;
	for (const struct config_option *o = config_options; o->key && n < max; o++) {
		if (o->type != CONFIG_SECRET)
			continue;
		char *const *v = (char *const *)(const void *)((const char *)cfg + o->offset);
		if (*v && **v)
			out[n++] = *v;
	}
	return n;
}

/* The GitHub client replies go through: a token or an App (its key as
 * PEM text, or the path of a PEM file). NULL without credentials. */
static int github_setup(struct config *cfg, struct github_client **ret)
{
	*ret = NULL;
	char *pem = NULL;
	if (cfg->github_app_id && *cfg->github_app_id) {
		if (!cfg->github_app_key) {
			fprintf(stderr, "hookq: github.app_id (GITHUB_APP_ID) needs "
					"GITHUB_APP_PRIVATE_KEY or github.app_private_key_file\n");
			return HQ_E_CONFIG;
		}
		if (strncmp(cfg->github_app_key, "-----BEGIN", 10) != 0 &&
		    read_secret_file("github.app_private_key", cfg->github_app_key, &pem) < 0)
			return HQ_E_CONFIG;
	} else if (!cfg->github_token || !*cfg->github_token) {
		return 0;
	}
	struct github_options go = {
		.api_url = cfg->github_api_url,
		.token = cfg->github_token,
		.app_id = cfg->github_app_id && *cfg->github_app_id ? cfg->github_app_id : NULL,
		.app_private_key_pem = pem ? pem : cfg->github_app_key,
		.installation_id = (int64_t)cfg->github_app_installation_id,
		.timeout_ms = (long)cfg->outbox_timeout_ms,
	};
	if (!go.app_id)
		go.app_private_key_pem = NULL;
	char err[512];
	int r = github_client_new(&go, ret, err, sizeof(err));
	if (pem) {
		crypto_cleanse(pem, strlen(pem));
		free(pem);
	}
	if (r < 0) {
		fprintf(stderr, "hookq: %s\n", err);
		return HQ_E_CONFIG;
	}
	return 0;
}

static bool cancel_on_node(void *ctx, int64_t id)
{
	(void)ctx;
	pthread_rwlock_rdlock(&dispatcher_lock);
	bool found = dispatcher_cancel(running_dispatcher, id);
	pthread_rwlock_unlock(&dispatcher_lock);
	return found;
}

static int describe_workers(void *ctx, int64_t now_ms, char **ret)
{
	(void)ctx;
	pthread_rwlock_rdlock(&dispatcher_lock);
	int r = running_dispatcher ? dispatcher_workers_json(running_dispatcher, now_ms, ret) :
				     HQ_E_UNSUPPORTED;
	pthread_rwlock_unlock(&dispatcher_lock);
	return r;
}

static int pool_status(void *ctx, struct dispatcher_stats *stats, size_t *busy, size_t *total)
{
	(void)ctx;
	pthread_rwlock_rdlock(&dispatcher_lock);
	struct dispatcher *d = running_dispatcher;
	if (d) {
		dispatcher_get_stats(d, stats);
		dispatcher_load(d, busy, total);
	}
	pthread_rwlock_unlock(&dispatcher_lock);
	return d ? 0 : HQ_E_UNSUPPORTED;
}

static int pool_latency(void *ctx, struct buf *out)
{
	(void)ctx;
	pthread_rwlock_rdlock(&dispatcher_lock);
	int r = running_dispatcher ?
			histogram_render(dispatcher_latency(running_dispatcher),
					 "hookq_task_dispatch_latency_seconds",
					 "Time from a task being due to its agent being started.",
					 out) :
			0;
	pthread_rwlock_unlock(&dispatcher_lock);
	return r;
}

static int agent_attempts(void *ctx, const char *name)
{
	const struct agent *a = agent_find(ctx, name);
	return a ? (int)a->max_attempts : -1;
}

/* Starts the worker pool when agents are configured. */
static int start_dispatcher(struct config *cfg, struct store *store, const char *owner,
			    const struct agent_table *agents, struct http_server *http,
			    const struct replies_options *replies, char ***workers,
			    char ***ci_workers, struct taskfiles **taskfiles, char *run_dir,
			    size_t run_dir_size, struct dispatcher **ret)
{
	char err[512];
	size_t n = 0, n_ci = 0;
	if (config_list_split(cfg->pool_workers, workers, &n, err, sizeof(err)) < 0 ||
	    config_list_split(cfg->pool_ci_workers ? cfg->pool_ci_workers : "", ci_workers,
			      &n_ci, err, sizeof(err)) < 0) {
		log_msg(HQ_LOG_ERROR, "cannot read the worker pool", "error", err, NULL);
		return HQ_E_CONFIG;
	}
	if (cfg->task_files &&
	    taskfiles_new(cfg->task_files_dir, taskfiles, err, sizeof(err)) < 0) {
		log_msg(HQ_LOG_ERROR, "cannot set up task files", "error", err, NULL);
		return HQ_E_CONFIG;
	}
	/* Event files hold payloads: a directory of this process's own. */
	const char *tmp = getenv("TMPDIR");
	snprintf(run_dir, run_dir_size, "%s/hookq-%ld-%ld", tmp && *tmp ? tmp : "/tmp",
		 (long)geteuid(), (long)getpid());
	char host[256] = "localhost";
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	/* Agents reach the admin API on the address hookq listens on. */
	const char *h = cfg->host;
	bool any = strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 || !*h;
	char api_url[320];
	snprintf(api_url, sizeof(api_url), "http://%s%s%s:%u", !any && strchr(h, ':') ? "[" : "",
		 any ? "127.0.0.1" : h, !any && strchr(h, ':') ? "]" : "", http_port(http));
	struct dispatcher_options opt = {
		.owner = owner,
		.host = host,
		.workers = (const char *const *)*workers,
		.ci_workers = (const char *const *)*ci_workers,
		.agents = agents,
		.lease_ms = cfg->task_lease_ms,
		.claim_ttl_ms = cfg->pool_claim_ttl_ms,
		.single_queue = cfg->pool_single_queue,
		.poll_ms = cfg->poll_ms,
		.shutdown_grace_ms = cfg->task_shutdown_grace_ms,
		.max_event_bytes = cfg->max_body,
		.run_dir = run_dir,
		.api_url = api_url,
		.taskfiles = *taskfiles,
		.replies = replies,
		.wrote_replies = wake_outbox,
	};
	/* Workspaces: the token reaches git through its credential helper
	 * from the environment, never in argv. */
	/* The root as an absolute path: agents start in their checkout and
	 * get its path, which must not depend on their working directory. */
	bool workspaces = false;
	for (size_t i = 0; i < agents->n; i++)
		workspaces |= agents->agents[i].workspace;
	static char ws_root[PATH_MAX];
	char made[PATH_MAX];
	snprintf(made, sizeof(made), "%s", cfg->workspace_root);
	if (workspaces && (file_mkdirs(made) < 0 || !realpath(cfg->workspace_root, ws_root))) {
		log_msg(HQ_LOG_ERROR, "cannot create the workspace root", "workspace_root",
			cfg->workspace_root, "error", strerror(errno), NULL);
		return HQ_E_CONFIG;
	}
	static struct workspace_options ws;
	ws = (struct workspace_options){
		.root = ws_root,
		.git_base = cfg->workspace_git_base,
		.token = cfg->github_token,
		.timeout_ms = cfg->workspace_timeout_ms,
	};
	opt.workspace = workspaces ? &ws : NULL;
	int r = dispatcher_start(store, &opt, ret, err, sizeof(err));
	if (r < 0) {
		log_msg(HQ_LOG_ERROR, "cannot start the worker pool", "error", err, NULL);
		return r;
	}
	char count[24];
	snprintf(count, sizeof(count), "%zu", n + n_ci);
	log_msg(HQ_LOG_INFO, "worker pool started", "workers", cfg->pool_workers, "ci_workers",
		cfg->pool_ci_workers ? cfg->pool_ci_workers : "", "agents_api", api_url, NULL);
	pthread_rwlock_wrlock(&dispatcher_lock);
	running_dispatcher = *ret;
	pthread_rwlock_unlock(&dispatcher_lock);
	return 0;
}

/* SQS for the source and the output queue: credentials as the AWS SDKs
 * find them, and the client. */
static int sqs_setup(struct config *cfg, long timeout_ms, struct aws_provider **aws,
		     struct sqs_client **client)
{
	char err[512];
	struct aws_provider_options ao = { .region = cfg->sqs_region, .timeout_ms = 10000 };
	int r = aws_provider_new(&ao, aws, err, sizeof(err));
	if (r == 0) {
		struct aws_credentials probe;
		r = aws_provider_get(*aws, clock_now_ms(), &probe, err, sizeof(err));
		aws_credentials_wipe(&probe);
		if (r == HQ_E_RETRY)
			r = 0; /* the container endpoint may come up later */
	}
	if (r < 0) {
		log_msg(HQ_LOG_ERROR, "cannot find AWS credentials", "error", err, NULL);
		return HQ_E_CONFIG;
	}
	struct sqs_client_options so = {
		.endpoint = cfg->sqs_endpoint && *cfg->sqs_endpoint ? cfg->sqs_endpoint :
			    cfg->aws_endpoint && *cfg->aws_endpoint ? cfg->aws_endpoint :
									NULL,
		.region = cfg->sqs_region,
		.credentials = *aws,
		.timeout_ms = timeout_ms,
	};
	if ((r = sqs_client_new(&so, client, err, sizeof(err))) < 0) {
		log_msg(HQ_LOG_ERROR, "cannot set up SQS", "error", err, NULL);
		return HQ_E_CONFIG;
	}
	return 0;
}

/* The SQS source's pollers. */
static int start_sqs(struct config *cfg, struct ingest *ingest, struct sqs_client *client,
		     const struct sqs_provider_settings *providers, size_t n,
		     struct sqs_source **ret)
{
	int r;
	struct sqs_source_options qo = {
		.client = client,
		.queue_url = cfg->sqs_queue_url,
		.dlq_url = cfg->sqs_dlq_url && *cfg->sqs_dlq_url ? cfg->sqs_dlq_url : NULL,
		.pollers = (unsigned)cfg->sqs_pollers,
		.wait_s = (int)cfg->sqs_wait_s,
		.visibility_s = (int)(cfg->sqs_visibility_ms / 1000),
		.default_provider = cfg->sqs_provider,
		.providers = providers,
		.n_providers = n,
		.verify = cfg->sqs_verify,
		.ingest = ingest,
		.max_body = cfg->max_body,
	};
	if ((r = sqs_source_start(&qo, ret)) < 0) {
		log_msg(HQ_LOG_ERROR, "cannot start the SQS source", "error", hq_strerror(r), NULL);
		return r;
	}
	char pollers[24];
	snprintf(pollers, sizeof(pollers), "%u", qo.pollers);
	log_msg(HQ_LOG_INFO, "polling SQS", "queue", cfg->sqs_queue_url, "pollers", pollers,
		"verify_signatures", cfg->sqs_verify ? "yes" : "no", NULL);
	return 0;
}

static void wake_processor(void *ctx)
{
	processor_wake(ctx);
}

/* This node's lease owner: host, pid and a random tag, so a restarted
 * process never mistakes the leases of its previous life for its own. */
static void node_id(char *out, size_t size)
{
	char host[64] = "host";
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "host");
	host[sizeof(host) - 1] = '\0';
	uint32_t tag = 0;
	(void)crypto_random(&tag, sizeof(tag));
	snprintf(out, size, "%s:%ld:%08x", host, (long)getpid(), tag);
}

static const char *env_lookup(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

/* Reads a secret from a file, without its trailing newline. */
static int read_secret_file(const char *key, const char *path, char **ret)
{
	struct buf b;
	buf_init(&b, SECRET_FILE_MAX);
	int r = file_read(path, &b);
	if (r < 0) {
		fprintf(stderr, "hookq: %s: cannot read '%s': %s\n", key, path,
			r == HQ_E_TOOBIG ? "larger than 64 KiB" : strerror(errno));
		crypto_cleanse(b.data, b.cap);
		buf_release(&b);
		return HQ_E_CONFIG;
	}
	while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.data[--b.len] = '\0';
	if (b.len == 0 || memchr(b.data, '\0', b.len)) {
		fprintf(stderr, "hookq: %s: '%s' holds no usable secret\n", key, path);
		crypto_cleanse(b.data, b.cap);
		buf_release(&b);
		return HQ_E_CONFIG;
	}
	*ret = b.data; /* NUL-terminated by buf */
	return 0;
}

/* Reads the routes and agents of the configuration file at path (none:
 * empty tables), and checks that every agent a route names exists when
 * agents are defined. Says why and returns < 0 when they are invalid. */
static int load_tables(const char *path, struct route_table **routes_ret,
		       struct agent_table **agents_ret, const struct agent_table *known,
		       char *why, size_t why_size)
{
	const char *names[16];
	size_t n = 0;
	for (const struct provider *const *p = provider_all; *p && n < 15; p++)
		names[n++] = (*p)->name;
	names[n] = NULL;
	struct buf text;
	buf_init(&text, CONFIG_FILE_MAX);
	const char *file = path ? path : "(no file)";
	if (path) {
		int r = file_read(path, &text);
		if (r < 0) {
			snprintf(why, why_size, "cannot read configuration '%s': %s", path,
				 r == HQ_E_TOOBIG ? "larger than 1 MiB" : strerror(errno));
			buf_release(&text);
			return HQ_E_CONFIG;
		}
	}
	struct route_table *routes = NULL;
	struct agent_table *agents = NULL;
	const char *data = text.data ? text.data : "";
	int r = route_table_parse(data, text.len, file, names, &routes, why, why_size);
	if (r == 0 && agents_ret)
		r = agent_table_parse(data, text.len, file, &agents, why, why_size);
	buf_release(&text);
	if (r == 0)
		r = route_table_check_agents(routes, agents_ret ? agents : known, file, why,
					     why_size);
	if (r < 0) {
		route_table_free(routes);
		agent_table_free(agents);
		return r;
	}
	*routes_ret = routes;
	if (agents_ret)
		*agents_ret = agents;
	return 0;
}

/* forward: the forwarder's reading (`hookq forward`): the webhook source,
 * whatever TASK_SOURCE says (a shared environment file may say sqs). */
static int load_config(int argc, char **argv, struct config *cfg, const char **path_ret,
		       bool forward)
{
	const char *cmd = forward ? "forward" : "serve";
	struct option longopts[MAX_FLAGS];
	const struct config_option *flag_of[MAX_FLAGS];
	size_t n = 0;
	for (const struct config_option *o = config_options; o->key; o++) {
		if (!o->flag)
			continue;
		if (n + 3 >= MAX_FLAGS)
			abort();
		longopts[n] = (struct option){ o->flag,
					       o->type == CONFIG_BOOL ? optional_argument :
									required_argument,
					       NULL, 1000 + (int)n };
		flag_of[n] = o;
		n++;
	}
	longopts[n++] = (struct option){ "config", required_argument, NULL, 'c' };
	longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[n] = (struct option){ NULL, 0, NULL, 0 };

	struct flag_value flags[MAX_FLAGS * 4];
	size_t nflags = 0;
	const char *config_path = getenv("HOOKQ_CONFIG");
	int c;
	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		if (c == 'h') {
			(forward ? cli_forward_help : cli_serve_help)(stdout);
			return 1;
		}
		if (c == 'c') {
			config_path = optarg;
			continue;
		}
		if (c < 1000 || nflags >= sizeof(flags) / sizeof(flags[0])) {
			fprintf(stderr, "Try 'hookq %s --help'.\n", cmd);
			return -CLI_EXIT_USAGE;
		}
		const struct config_option *o = flag_of[c - 1000];
		flags[nflags++] = (struct flag_value){ o, optarg ? optarg : "true" };
	}
	if (optind < argc) {
		fprintf(stderr, "hookq %s: unexpected argument '%s'\nTry 'hookq %s --help'.\n", cmd,
			argv[optind], cmd);
		return -CLI_EXIT_USAGE;
	}

	struct config_error err;
	if (config_path) {
		struct buf text;
		buf_init(&text, CONFIG_FILE_MAX);
		int r = file_read(config_path, &text);
		if (r < 0) {
			fprintf(stderr, "hookq: cannot read configuration '%s': %s\n", config_path,
				r == HQ_E_TOOBIG ? "larger than 1 MiB" : strerror(errno));
			buf_release(&text);
			return -CLI_EXIT_CONFIG;
		}
		r = config_load_yaml(cfg, text.data ? text.data : "", text.len, config_path,
				     &err);
		buf_release(&text);
		if (r < 0) {
			fprintf(stderr, "hookq: %s\n", err.msg);
			return -CLI_EXIT_CONFIG;
		}
	}
	if (config_load_env(cfg, env_lookup, NULL, &err) < 0) {
		fprintf(stderr, "hookq: %s\n", err.msg);
		return -CLI_EXIT_CONFIG;
	}
	for (size_t i = 0; i < nflags; i++) {
		char where[80];
		snprintf(where, sizeof(where), "--%s", flags[i].opt->flag);
		if (config_set(cfg, flags[i].opt, flags[i].value, CONFIG_ORIGIN_FLAG, where, &err) < 0) {
			fprintf(stderr, "hookq: %s\n", err.msg);
			return -CLI_EXIT_CONFIG;
		}
	}
	if (forward && config_set(cfg, config_find_key("task_source"), "webhook",
				  CONFIG_ORIGIN_FLAG, "hookq forward", &err) < 0) {
		fprintf(stderr, "hookq: %s\n", err.msg);
		return -CLI_EXIT_CONFIG;
	}
	if (config_validate(cfg, &err) < 0) {
		fprintf(stderr, "hookq: %s\n", err.msg);
		return -CLI_EXIT_CONFIG;
	}
	if (config_secret_files(cfg, read_secret_file) < 0)
		return -CLI_EXIT_CONFIG;
	*path_ret = config_path;
	return 0;
}

/* One endpoint per provider whose secret is set, and in dev mode every
 * provider (unsigned where no secret is set); /webhook is GitHub's alias
 * (the devs-webhook path). Returns how many were written to eps. */
static size_t build_endpoints(struct config *cfg, struct http_endpoint *eps, size_t max,
			      char (*paths)[64], bool templates)
{
	size_t n = 0;
	for (const struct provider *const *p = provider_all; *p && n + 1 < max; p++) {
		char **secret = templates ? NULL : config_provider_secret(cfg, (*p)->name);
		if (!templates && !cfg->dev && !(secret && *secret))
			continue;
		struct provider_settings st = {
			.secret = secret ? *secret : NULL,
			.secret_len = secret && *secret ? strlen(*secret) : 0,
			.tolerance_s = (int64_t)(strcmp((*p)->name, "linear") == 0 ?
							 cfg->linear_tolerance_ms :
							 cfg->timestamp_tolerance_ms) /
				       1000,
			.ack_text = cfg->slack_ack_text,
			.algorithm = cfg->generic_algorithm == CONFIG_ALG_SHA1	 ? CRYPTO_SHA1 :
				     cfg->generic_algorithm == CONFIG_ALG_SHA512 ? CRYPTO_SHA512 :
										   CRYPTO_SHA256,
			.base64 = cfg->generic_encoding == CONFIG_ENC_BASE64,
			.signature_header = cfg->generic_signature_header,
			.signature_prefix = cfg->generic_signature_prefix,
			.token_header = cfg->generic_token_header,
			.delivery_header = cfg->generic_delivery_header,
			.delivery_json = cfg->generic_delivery_json,
			.event_header = cfg->generic_event_header,
			.event_json = cfg->generic_event_json,
		};
		snprintf(paths[n], 64, "/webhooks/%s", (*p)->name);
		eps[n] = (struct http_endpoint){ paths[n], *p, st, NULL };
		n++;
		if (!templates && strcmp((*p)->name, "github") == 0) {
			eps[n] = (struct http_endpoint){ "/webhook", *p, st, NULL };
			n++;
		}
	}
	return n;
}

/* The endpoints of routes that have their own (/webhooks/team-a), with
 * their secrets from the environment or a file. In production a route
 * endpoint without a secret is refused (exit 78). Copies what it keeps:
 * the route table may be replaced on reload. */
static int route_endpoints(struct config *cfg, const struct route_table *t,
			   const struct http_endpoint *tmpl, size_t n_tmpl, struct http_endpoint *eps,
			   size_t *n, size_t max, char (*paths)[64], char (*names)[72],
			   char **secrets)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct route *r = &t->routes[i];
		if (!r->endpoint)
			continue;
		if (*n >= max) {
			fprintf(stderr, "hookq: too many endpoints (at most %zu)\n", max);
			return -1;
		}
		const struct provider *p = provider_find(r->provider);
		char *secret = NULL;
		if (r->secret_env) {
			const char *v = getenv(r->secret_env);
			secret = v && *v ? strdup(v) : NULL;
			if (!secret && !cfg->dev) {
				fprintf(stderr, "hookq: route '%s': %s (its secret_env) is not set\n",
					r->name, r->secret_env);
				return -1;
			}
		} else if (r->secret_file) {
			char key[128];
			snprintf(key, sizeof(key), "route '%s' secret_file", r->name);
			if (read_secret_file(key, r->secret_file, &secret) < 0)
				return -1;
		} else if (!cfg->dev) {
			fprintf(stderr, "hookq: route '%s': endpoint %s needs secret_env or "
					"secret_file (or dev mode)\n", r->name, r->endpoint);
			return -1;
		}
		/* The provider's settings, with the route's secret. */
		for (size_t k = 0; k < n_tmpl; k++)
			if (tmpl[k].provider == p)
				eps[*n] = tmpl[k];
		snprintf(paths[*n], 64, "%s", r->endpoint);
		snprintf(names[*n], 72, "%s", r->name);
		eps[*n].path = paths[*n];
		eps[*n].route = names[*n];
		eps[*n].settings.secret = secret;
		eps[*n].settings.secret_len = secret ? strlen(secret) : 0;
		secrets[*n] = secret;
		(*n)++;
	}
	return 0;
}

/* Endpoints are set up at start: a reload that adds, removes, renames or
 * moves a route's own endpoint would leave events stored under a name no
 * route reads. Such a reload is refused (a restart applies it). */
static bool endpoints_changed(const struct route_table *t, const struct http_endpoint *eps,
			      size_t n, char *why, size_t size)
{
	size_t have = 0, want = 0;
	for (size_t i = 0; i < n; i++)
		have += eps[i].route != NULL;
	for (size_t i = 0; i < t->n; i++) {
		const struct route *r = &t->routes[i];
		if (!r->endpoint)
			continue;
		want++;
		bool same = false;
		for (size_t k = 0; k < n && !same; k++)
			same = eps[k].route && strcmp(eps[k].route, r->name) == 0 &&
			       strcmp(eps[k].path, r->endpoint) == 0 &&
			       strcmp(eps[k].provider->name, r->provider) == 0;
		if (!same) {
			snprintf(why, size, "route '%s': endpoints change only at a restart", r->name);
			return true;
		}
	}
	if (want != have) {
		snprintf(why, size, "a route's own endpoint was removed: endpoints change only at a "
				    "restart");
		return true;
	}
	return false;
}

/* "github gitlab(unsigned)" for the start-up log. */
static void describe_endpoints(const struct http_endpoint *eps, size_t n, char *out,
			       size_t size)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (strcmp(eps[i].path, "/webhook") == 0)
			continue;
		size_t len = strlen(out);
		snprintf(out + len, size - len, "%s%s%s", len ? " " : "", eps[i].path,
			 eps[i].settings.secret ? "" : "(UNSIGNED)");
	}
}

/* What the HTTP source serves: every provider (and GitHub's alias), the
 * routes' own endpoints with their secrets, and the settings dynamic
 * webhooks start from. Large: allocated. */
struct endpoint_set {
	struct http_endpoint eps[MAX_ENDPOINTS];
	char paths[MAX_ENDPOINTS][64];
	char route_names[MAX_ENDPOINTS][72];
	char *route_secrets[MAX_ENDPOINTS];
	size_t n;
	struct http_endpoint dynamic[32];
	char dynamic_paths[32][64];
	size_t n_dynamic;
	char shown[1024];
};

/* Fills es (zeroed); -1 after saying what is wrong (exit 78). */
static int endpoints_setup(struct config *cfg, const struct route_table *routes,
			   bool webhooks, struct endpoint_set *es)
{
	es->n = webhooks ? build_endpoints(cfg, es->eps, MAX_ENDPOINTS, es->paths, false) : 0;
	for (size_t i = 0; i < es->n; i++) {
		const struct http_endpoint *e = &es->eps[i];
		if (strcmp(e->provider->name, "standard") == 0 && e->settings.secret &&
		    !standard_secret_valid(e->settings.secret)) {
			fprintf(stderr, "hookq: standard.secret (STANDARD_WEBHOOK_SECRET): not whsec_ "
					"followed by base64\n");
			return -1;
		}
	}
	/* Every provider's settings without a secret: for dynamic webhooks
	 * and routes with their own endpoint. */
	es->n_dynamic = build_endpoints(cfg, es->dynamic, 32, es->dynamic_paths, true);
	if (webhooks &&
	    route_endpoints(cfg, routes, es->dynamic, es->n_dynamic, es->eps, &es->n,
			    MAX_ENDPOINTS, es->paths, es->route_names, es->route_secrets) < 0)
		return -1;
	describe_endpoints(es->eps, es->n, es->shown, sizeof(es->shown));
	return 0;
}

/* What SQS messages are read with: every provider (its secret only with
 * SQS_VERIFY_SIGNATURES), and the routes with their own endpoint, which
 * the forwarder names in X-Hookq-Route (their secrets only to verify). */
static int sqs_endpoints(struct config *cfg, const struct route_table *routes,
			 struct endpoint_set *q)
{
	q->n = build_endpoints(cfg, q->eps, MAX_ENDPOINTS, q->paths, true);
	size_t n_providers = q->n;
	for (size_t i = 0; cfg->sqs_verify && i < n_providers; i++) {
		char **secret = config_provider_secret(cfg, q->eps[i].provider->name);
		if (secret && *secret) {
			q->eps[i].settings.secret = *secret;
			q->eps[i].settings.secret_len = strlen(*secret);
		}
	}
	if (cfg->sqs_verify)
		return route_endpoints(cfg, routes, q->eps, n_providers, q->eps, &q->n,
				       MAX_ENDPOINTS, q->paths, q->route_names, q->route_secrets);
	for (size_t i = 0; i < routes->n && q->n < MAX_ENDPOINTS; i++) {
		const struct route *r = &routes->routes[i];
		if (!r->endpoint)
			continue;
		size_t k = 0;
		while (k < n_providers && strcmp(q->eps[k].provider->name, r->provider) != 0)
			k++;
		if (k == n_providers)
			continue; /* routes name known providers: checked at load */
		q->eps[q->n] = q->eps[k];
		snprintf(q->route_names[q->n], sizeof(q->route_names[0]), "%s", r->name);
		q->eps[q->n].route = q->route_names[q->n];
		q->n++;
	}
	return 0;
}

static void endpoints_free(struct endpoint_set *es)
{
	if (!es)
		return;
	for (size_t i = 0; i < MAX_ENDPOINTS; i++) {
		if (es->route_secrets[i])
			crypto_cleanse(es->route_secrets[i], strlen(es->route_secrets[i]));
		free(es->route_secrets[i]);
	}
	free(es);
}

static void setup_logging(const struct config *cfg)
{
	static const enum log_level levels[] = { HQ_LOG_DEBUG, HQ_LOG_INFO, HQ_LOG_WARN,
						 HQ_LOG_ERROR };
	log_setup(cfg->log_format == CONFIG_LOG_JSON ? HQ_LOG_JSON : HQ_LOG_KV,
		  levels[cfg->log_level], STDERR_FILENO);
}

/* Signals are taken by sigwait() in the main thread only: blocked before
 * any thread starts, so every thread inherits the mask. */
static void block_signals(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The HTTP source's limits and endpoints, as serve and forward share them. */
static struct http_options http_base(const struct config *cfg, const struct endpoint_set *es)
{
	return (struct http_options){
		.host = cfg->host,
		.port = cfg->port,
		.threads = (unsigned)cfg->threads,
		.max_connections = (unsigned)cfg->max_connections,
		.connection_timeout_s = (unsigned)((cfg->connection_timeout_ms + 999) / 1000),
		.max_body = cfg->max_body,
		.max_header_size = cfg->max_header_size,
		.max_pending_bytes = cfg->max_pending_bytes,
		.endpoints = es->eps,
		.n_endpoints = es->n,
		.dev = cfg->dev,
		.version = HOOKQ_VERSION,
		.admin_user = cfg->admin_username,
		.admin_password = cfg->admin_password,
	};
}

int cli_serve(int argc, char **argv)
{
	struct config cfg;
	config_init(&cfg);
	struct store *store = NULL;
	struct ingest *ingest = NULL;
	struct processor *processor = NULL;
	struct outbox *outbox = NULL;
	struct nodes *nodes = NULL;
	struct github_client *github = NULL;
	struct aws_provider *aws = NULL;
	struct sqs_client *sqs_client = NULL;
	struct sqs_source *sqs = NULL;
	struct endpoint_set *qes = NULL; /* what SQS messages are read with */
	struct sqs_provider_settings *sqs_providers = NULL;
	struct template *comment_template = NULL;
	struct http_server *http = NULL;
	struct endpoint_set *es = NULL;
	int exit_code = CLI_EXIT_FAILURE;

	const char *config_path = NULL;
	struct route_table *routes = NULL;
	struct agent_table *agents = NULL;
	struct router *router = NULL;
	struct dispatcher *dispatcher = NULL;
	struct taskfiles *taskfiles = NULL;
	char **workers = NULL, **ci_workers = NULL;
	char run_dir[256] = "";
	int r = load_config(argc, argv, &cfg, &config_path, false);
	if (r == 0) {
		char why[512];
		if (load_tables(config_path, &routes, &agents, NULL, why, sizeof(why)) < 0) {
			fprintf(stderr, "hookq: %s\n", why);
			r = -CLI_EXIT_CONFIG;
		}
	}
	if (r != 0) {
		exit_code = r > 0 ? CLI_EXIT_OK : -r;
		goto out_config;
	}

	setup_logging(&cfg);

	if (cfg.dev) {
		log_msg(HQ_LOG_WARN,
			"DEV MODE: do not expose this server; settings a production "
			"server requires may be missing",
			"github_signatures", cfg.github_secret ? "verified" : "NOT VERIFIED",
			"admin_password", cfg.admin_password ? "set" : "NOT SET", NULL);
	}
	unsigned sources = CONFIG_SOURCE_WEBHOOK;
	struct config_error cerr;
	(void)config_sources(&cfg, &sources, &cerr); /* validated with the rest */
	es = calloc(1, sizeof(*es));
	if (!es || endpoints_setup(&cfg, routes, sources & CONFIG_SOURCE_WEBHOOK, es) < 0) {
		exit_code = es ? CLI_EXIT_CONFIG : CLI_EXIT_FAILURE;
		goto out_config;
	}
	if (sources & CONFIG_SOURCE_SQS) {
		qes = calloc(1, sizeof(*qes));
		sqs_providers = calloc(MAX_ENDPOINTS, sizeof(*sqs_providers));
		if (!qes || !sqs_providers || sqs_endpoints(&cfg, routes, qes) < 0) {
			exit_code = qes && sqs_providers ? CLI_EXIT_CONFIG : CLI_EXIT_FAILURE;
			goto out_config;
		}
		for (size_t i = 0; i < qes->n; i++)
			sqs_providers[i] = (struct sqs_provider_settings){
				qes->eps[i].provider, qes->eps[i].settings, qes->eps[i].route
			};
	}

	sigset_t sigs;
	block_signals(&sigs);

	struct store_options sopt = {
		.synchronous = (enum store_sync)cfg.synchronous,
		.busy_timeout_ms = cfg.busy_timeout_ms,
	};
	struct store_error serr;
	/* A database URL may carry a password: logs get it without. */
	char db_shown[512];
	store_url_redact(cfg.db, db_shown, sizeof(db_shown));
	r = store_open(cfg.db, &sopt, &store, &serr);
	if (r < 0) {
		log_msg(HQ_LOG_ERROR, "cannot open the store", "db", db_shown, "error", serr.msg,
			NULL);
		goto out_config;
	}
	char owner[128];
	node_id(owner, sizeof(owner));
	/* Registered before this node takes any lease, so that another node
	 * finding it dead later ends them all. */
	char host[64] = "host";
	(void)gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	struct nodes_options nopt = {
		.id = owner,
		.host = host,
		.version = HOOKQ_VERSION,
		.pid = (int64_t)getpid(),
		.timeout_ms = cfg.node_timeout_ms,
		.rescued = dead_node_rescued,
	};
	if ((r = nodes_start(store, &nopt, &nodes, &serr)) < 0) {
		log_msg(HQ_LOG_ERROR, "cannot record this node in the store", "db", db_shown,
			"error", serr.msg, NULL);
		goto out_store;
	}
	if ((r = store_listen(store, store_changed, NULL, &serr)) < 0) {
		log_msg(HQ_LOG_ERROR, "cannot listen for other nodes' work", "db", db_shown,
			"error", serr.msg, NULL);
		goto out_store;
	}

	/* SQS: the source's and the output queue's client. */
	bool output_queue = cfg.sqs_output_url && *cfg.sqs_output_url;
	if (((sources & CONFIG_SOURCE_SQS) || output_queue) &&
	    sqs_setup(&cfg, 30000, &aws, &sqs_client) < 0) {
		exit_code = CLI_EXIT_CONFIG;
		goto out_store;
	}
	/* Replies: planned with tasks and their ends, sent by the outbox. */
	if (github_setup(&cfg, &github) < 0) {
		exit_code = CLI_EXIT_CONFIG;
		goto out_store;
	}
	static const char *secrets[CONFIG_MAX_SECRETS];
	static struct replies_options replies;
	if (cfg.reply_template && *cfg.reply_template) {
		char terr[256];
		if (template_parse(cfg.reply_template, strlen(cfg.reply_template), &comment_template,
				   terr, sizeof(terr)) < 0) {
			fprintf(stderr, "hookq: replies.comment_template (REPLY_COMMENT_TEMPLATE): %s\n",
				terr);
			exit_code = CLI_EXIT_CONFIG;
			goto out_store;
		}
	}
	replies = (struct replies_options){
		.github = github != NULL,
		.slack = true, /* slash commands reply through response_url */
		.slack_bot = cfg.slack_bot_token && *cfg.slack_bot_token,
		.slack_response_prefix = cfg.slack_response_prefix,
		.jira = cfg.jira_base_url && cfg.jira_email && cfg.jira_api_token,
		.output_queue = output_queue,
		.reactions = cfg.reply_reactions,
		.comment = cfg.reply_comment,
		.output_max = (size_t)cfg.reply_output_max,
		.comment_template = comment_template,
		.max_attempts = (int)cfg.outbox_max_attempts,
		.secrets = secrets,
		.n_secrets = secret_values(&cfg, secrets, CONFIG_MAX_SECRETS),
	};
	struct outbox_options oopt = {
		.owner = owner,
		.senders = (unsigned)cfg.outbox_senders,
		/* Longer than any one send can take: a token fetch waited for and
		 * made, up to 10 pages looking for a marker, the POST. */
		.lease_ms = cfg.outbox_timeout_ms * 16 + 10000,
		.poll_ms = cfg.poll_ms,
		.backoff = { 2000, 600000 },
		.timeout_ms = (long)cfg.outbox_timeout_ms,
		.github = github,
		.slack_api_url = cfg.slack_api_url,
		.slack_token = cfg.slack_bot_token,
		.jira_base_url = cfg.jira_base_url,
		.jira_email = cfg.jira_email,
		.jira_token = cfg.jira_api_token,
		.sqs = sqs_client,
		.output_url = output_queue ? cfg.sqs_output_url : NULL,
	};
	if ((r = outbox_start(store, &oopt, &outbox)) < 0) {
		log_msg(HQ_LOG_ERROR, "cannot start the outbox", "error", hq_strerror(r), NULL);
		goto out_store;
	}
	pthread_mutex_lock(&outbox_lock);
	running_outbox = outbox;
	pthread_mutex_unlock(&outbox_lock);
	struct router_rules rules = {
		.allowed_orgs = cfg.allowed_orgs,
		.allowed_users = cfg.allowed_users,
		.trigger_users = cfg.trigger_users,
		.mentioned_user = cfg.mentioned_user,
		.bot_login = cfg.bot_login,
	};
	size_t routes_n = routes->n;
	r = router_new(&rules, routes, store, &router);
	routes = NULL; /* the router's now */
	if (r < 0) {
		log_msg(HQ_LOG_ERROR, "cannot start the router", "error", hq_strerror(r), NULL);
		goto out_store;
	}
	/* Test events and create_task commands without an agent use the
	 * test agent, else the first agent defined. */
	const char *default_agent = NULL;
	if (cfg.test_agent && *cfg.test_agent) {
		if (!agent_find(agents, cfg.test_agent)) {
			log_msg(HQ_LOG_ERROR, "tasks.test_agent names no agent defined under agents",
				"test_agent", cfg.test_agent, NULL);
			exit_code = CLI_EXIT_CONFIG;
			goto out_store;
		}
		default_agent = cfg.test_agent;
	} else if (agents->n) {
		default_agent = agents->agents[0].name;
	}
	struct handler_options handler = {
		.router = router,
		.fail_first_attempts = (int)cfg.fail_first_attempts,
		.agent_attempts = agent_attempts,
		.agent_ctx = agents,
		.default_agent = default_agent,
		.replies = &replies,
	};
	struct processor_options popt = {
		.owner = owner,
		.batch_max = cfg.processor_batch,
		.concurrency = (unsigned)cfg.processor_concurrency,
		.lease_ms = cfg.lease_ms,
		.poll_ms = cfg.poll_ms,
		.backoff = { cfg.backoff_base_ms, cfg.backoff_cap_ms },
		.retention_ms = cfg.retention_ms,
		.max_body = cfg.max_body,
		.handle = handler_handle,
		.handle_ctx = &handler,
		.tasks_created = wake_dispatcher,
	};
	r = cfg.processor_enabled ? processor_start(store, &popt, &processor) : 0;
	if (r < 0) {
		log_msg(HQ_LOG_ERROR, "cannot start the processor", "error", hq_strerror(r),
			NULL);
		goto out_store;
	}
	pthread_mutex_lock(&processor_lock);
	running_processor = processor;
	pthread_mutex_unlock(&processor_lock);
	struct ingest_options iopt = {
		.batch_max = cfg.commit_batch,
		.queue_max = INGEST_QUEUE_MAX,
		.zstd_level = cfg.compression == CONFIG_COMPRESSION_ZSTD ? 1 : 0,
		.max_attempts = (int)cfg.max_attempts,
		.on_commit = wake_processor,
		.on_commit_ctx = processor,
	};
	r = ingest_start(store, &iopt, &ingest);
	if (r < 0) {
		log_msg(HQ_LOG_ERROR, "cannot start the committer", "error", hq_strerror(r),
			NULL);
		goto out_processor;
	}
	if (sources & CONFIG_SOURCE_SQS) {
		r = start_sqs(&cfg, ingest, sqs_client, sqs_providers, qes->n, &sqs);
		if (r < 0) {
			exit_code = r == HQ_E_CONFIG ? CLI_EXIT_CONFIG : CLI_EXIT_FAILURE;
			goto out_ingest;
		}
	}

	struct status_sources status_src = {
		.store = store,
		.ingest = ingest,
		.processor = processor,
		.pool = pool_status,
		.pool_latency = pool_latency,
		.version = HOOKQ_VERSION,
		.started_ms = clock_now_ms(),
	};
	const char *provider_names[16];
	size_t n_names = 0;
	for (const struct provider *const *p = provider_all; *p && n_names < 15; p++)
		provider_names[n_names++] = (*p)->name;
	provider_names[n_names] = NULL;
	struct admin admin = {
		.providers = provider_names,
		.store = store,
		.max_body = cfg.max_body,
		.wake = processor ? wake_processor : NULL,
		.wake_ctx = processor,
		.agents = agents->n ? agents : NULL,
		.default_agent = default_agent,
		.wake_tasks = wake_dispatcher,
		.cancel_task = cancel_on_node,
		.workers_json = describe_workers,
	};
	struct http_options hopt = http_base(&cfg, es);
	hopt.dynamic = es->dynamic;
	hopt.n_dynamic = es->n_dynamic;
	hopt.lookup = lookup_webhook;
	hopt.lookup_ctx = store;
	hopt.status = render_status;
	hopt.metrics = render_metrics;
	hopt.admin = &admin;
	hopt.status_ctx = &status_src;
	char herr[256];
	r = http_start(&hopt, ingest, &http, herr, sizeof(herr));
	if (r < 0) {
		log_msg(HQ_LOG_ERROR, "cannot start the HTTP server", "error", herr, NULL);
		goto out_ingest;
	}

	if (agents->n) {
		r = start_dispatcher(&cfg, store, owner, agents, http, &replies, &workers,
				     &ci_workers,
				     &taskfiles, run_dir, sizeof(run_dir), &dispatcher);
		if (r < 0) {
			exit_code = r == HQ_E_CONFIG ? CLI_EXIT_CONFIG : CLI_EXIT_FAILURE;
			http_stop(http, SHUTDOWN_GRACE_MS);
			goto out_ingest;
		}
	} else {
		log_msg(HQ_LOG_WARN,
			"no agents are defined (agents: in the configuration): tasks are stored "
			"and wait; no worker runs them",
			NULL);
	}

	char port[8];
	snprintf(port, sizeof(port), "%u", http_port(http));
	char routes_count[24];
	snprintf(routes_count, sizeof(routes_count), "%zu", routes_n);
	log_msg(HQ_LOG_INFO, "hookq listening", "version", HOOKQ_VERSION, "host", cfg.host,
		"port", port, "db", db_shown, "synchronous",
		config_enum_name(config_find_key("store.synchronous"), cfg.synchronous),
		"mode", cfg.dev ? "dev" : "production", "endpoints", es->shown, "routes",
		routes_count, NULL);

	for (;;) {
		int sig = 0;
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			/* Routes reload as a whole or not at all: a file with a
			 * mistake keeps the routes that were running. */
			struct route_table *fresh = NULL;
			char why[512];
			if (load_tables(config_path, &fresh, NULL, agents, why, sizeof(why)) < 0 ||
			    endpoints_changed(fresh, es->eps, es->n, why, sizeof(why))) {
				route_table_free(fresh);
				log_msg(HQ_LOG_ERROR, "routes not reloaded: keeping the previous ones",
					"error", why, NULL);
				continue;
			}
			char count[24];
			snprintf(count, sizeof(count), "%zu", fresh->n);
			router_set_routes(router, fresh);
			log_msg(HQ_LOG_INFO, "routes reloaded", "routes", count, NULL);
			continue;
		}
		log_msg(HQ_LOG_INFO, "shutting down", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM",
			NULL);
		break;
	}
	exit_code = CLI_EXIT_OK;

	if (dispatcher) {
		/* First, while webhooks and the API still answer: running
		 * agents get the shutdown grace, then are ended and their
		 * tasks queued again. */
		struct dispatcher_stats dst;
		dispatcher_stop(dispatcher, &dst);
		pthread_rwlock_wrlock(&dispatcher_lock);
		running_dispatcher = NULL;
		pthread_rwlock_unlock(&dispatcher_lock);
		dispatcher_free(dispatcher);
		dispatcher = NULL;
		log_counts("tasks run", "succeeded", dst.succeeded, "failed", dst.failed,
			   "interrupted", dst.interrupted);
	}
	http_stop(http, SHUTDOWN_GRACE_MS);
	if (sqs) {
		/* Before the committer: the messages in hand are stored and
		 * deleted first. */
		struct sqs_source_stats qst;
		sqs_source_stop(sqs, &qst);
		sqs = NULL;
		log_counts("queue messages", "stored", qst.stored, "duplicates", qst.duplicates,
			   "dead_lettered", qst.dead_lettered);
	}
	struct ingest_stats ist;
	ingest_get_stats(ingest, &ist);
	log_counts("webhooks stored", "events", ist.events, "transactions", ist.batches,
		   "failed_transactions", ist.failures);
out_ingest:
	sqs_source_stop(sqs, NULL);
	ingest_stop(ingest);
out_processor:
	if (processor) {
		struct processor_stats pst;
		pthread_mutex_lock(&processor_lock);
		running_processor = NULL;
		pthread_mutex_unlock(&processor_lock);
		processor_stop(processor, &pst);
		log_counts("events processed", "completed", pst.completed, "retried", pst.retried,
			   "dead_lettered", pst.dead);
	}
out_store:
	if (outbox) {
		/* Last: what the pool and the processor wrote is sent while they
		 * stop; what is left waits in the store for the next start. */
		struct outbox_stats ost;
		pthread_mutex_lock(&outbox_lock);
		running_outbox = NULL;
		pthread_mutex_unlock(&outbox_lock);
		outbox_stop(outbox, &ost);
		log_counts("replies", "sent", ost.sent, "retried", ost.retried, "dead", ost.dead);
	}
	/* Last: the heartbeat goes on while work in hand finishes, and the
	 * stop is recorded once none is left. */
	nodes_stop(nodes, NULL);
	github_client_free(github);
	sqs_client_free(sqs_client);
	aws_provider_free(aws);
	template_free(comment_template);
	store_close(store);
	if (exit_code == CLI_EXIT_OK)
		log_msg(HQ_LOG_INFO, "stopped", NULL);
out_config:
	endpoints_free(es);
	endpoints_free(qes);
	free(sqs_providers);
	taskfiles_free(taskfiles);
	free(workers);
	free(ci_workers);
	if (run_dir[0])
		(void)rmdir(run_dir);
	router_free(router);
	route_table_free(routes);
	agent_table_free(agents);
	config_release(&cfg);
	return exit_code;
}

void cli_forward_help(FILE *out)
{
	fputs("Usage: hookq forward --to sqs [OPTIONS]\n"
	      "\n"
	      "An ingest-only node: receives webhooks over HTTP exactly as 'hookq serve'\n"
	      "does (same endpoints, secrets and routes' own endpoints), and sends each\n"
	      "verified one to the SQS queue AWS_SQS_QUEUE_URL as a message workers read\n"
	      "with 'hookq serve --source sqs'. A webhook is answered 200 only once SQS\n"
	      "has accepted its message; 503 queue_unavailable otherwise, so the sender\n"
	      "retries. No store, no processing, no admin API (/status and /metrics only).\n"
	      "\n"
	      "Options:\n"
	      "  --to sqs                   where webhooks go (required; sqs is the only one)\n"
	      "  --config FILE and every 'hookq serve' option (hookq serve --help)\n"
	      "  -h, --help                 show this help\n"
	      "\n"
	      "Needs AWS_SQS_QUEUE_URL, AWS_REGION and AWS credentials as the AWS SDKs\n"
	      "find them (docs/TASK_SOURCES.md).\n"
	      "Exit codes: 0 clean shutdown, 1 run-time failure, 2 usage error,\n"
	      "78 invalid configuration.\n",
	      out);
}

static int forward_status(void *ctx, char **json)
{
	struct forward_stats st;
	forward_get_stats(ctx, &st);
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I}", "mode", "forward", "version",
			      HOOKQ_VERSION, "forwarded", (json_int_t)st.forwarded, "failed",
			      (json_int_t)st.failed, "queued", (json_int_t)st.queued);
	*json = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return *json ? 0 : HQ_E_NOMEM;
}

static int forward_metrics(void *ctx, struct buf *out)
{
	struct forward_stats st;
	forward_get_stats(ctx, &st);
	return buf_printf(out,
			  "# HELP hookq_forwarded_total Webhooks the queue accepted, by result.\n"
			  "# TYPE hookq_forwarded_total counter\n"
			  "hookq_forwarded_total{result=\"sent\"} %llu\n"
			  "hookq_forwarded_total{result=\"failed\"} %llu\n"
			  "# HELP hookq_forward_queued Webhooks waiting for a sender.\n"
			  "# TYPE hookq_forward_queued gauge\n"
			  "hookq_forward_queued %zu\n",
			  (unsigned long long)st.forwarded, (unsigned long long)st.failed,
			  st.queued);
}

/* `--to sqs` taken out of argv (in place); 0, or an exit code. */
static int forward_destination(int *argc, char **argv)
{
	const char *to = NULL;
	int n = 1;
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--to") == 0 && i + 1 < *argc) {
			to = argv[++i];
			continue;
		}
		if (strncmp(argv[i], "--to=", 5) == 0) {
			to = argv[i] + 5;
			continue;
		}
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			cli_forward_help(stdout);
			return -CLI_EXIT_OK;
		}
		argv[n++] = argv[i];
	}
	argv[n] = NULL;
	*argc = n;
	if (!to) {
		fputs("hookq forward: say where webhooks go: --to sqs\n"
		      "Try 'hookq forward --help'.\n",
		      stderr);
		return -CLI_EXIT_USAGE;
	}
	if (strcmp(to, "sqs") != 0) {
		fprintf(stderr, "hookq forward: unknown destination '%s' (expected sqs)\n", to);
		return -CLI_EXIT_USAGE;
	}
	return 1;
}

int cli_forward(int argc, char **argv)
{
	int r = forward_destination(&argc, argv);
	if (r <= 0)
		return -r;
	struct config cfg;
	config_init(&cfg);
	int exit_code = CLI_EXIT_FAILURE;
	const char *config_path = NULL;
	struct route_table *routes = NULL;
	struct endpoint_set *es = NULL;
	struct aws_provider *aws = NULL;
	struct sqs_client *client = NULL;
	struct forward *fwd = NULL;
	struct http_server *http = NULL;

	r = load_config(argc, argv, &cfg, &config_path, true);
	if (r == 0) {
		char why[512];
		if (load_tables(config_path, &routes, NULL, NULL, why, sizeof(why)) < 0) {
			fprintf(stderr, "hookq: %s\n", why);
			r = -CLI_EXIT_CONFIG;
		} else if (!cfg.sqs_queue_url || !*cfg.sqs_queue_url) {
			fputs("hookq: hookq forward needs a queue: set AWS_SQS_QUEUE_URL "
			      "(sqs.queue_url)\n",
			      stderr);
			r = -CLI_EXIT_CONFIG;
		} else if (!cfg.sqs_region || !*cfg.sqs_region) {
			fputs("hookq: SQS needs a region: set AWS_REGION (sqs.region)\n", stderr);
			r = -CLI_EXIT_CONFIG;
		}
	}
	if (r != 0) {
		exit_code = r > 0 ? CLI_EXIT_OK : -r;
		goto out;
	}
	setup_logging(&cfg);
	if (cfg.dev)
		log_msg(HQ_LOG_WARN, "DEV MODE: do not expose this server; unsigned webhooks "
				     "are forwarded",
			NULL);
	/* A message holds at most SQS_BODY_MAX bytes and the body travels as
	 * base64 with its headers: a larger body gets 413 at once. */
	if (cfg.max_body > FORWARD_BODY_MAX) {
		char was[24], now[24];
		snprintf(was, sizeof(was), "%llu", (unsigned long long)cfg.max_body);
		snprintf(now, sizeof(now), "%llu", (unsigned long long)FORWARD_BODY_MAX);
		log_msg(HQ_LOG_INFO, "server.max_body lowered to what an SQS message holds", "was",
			was, "max_body", now, NULL);
		cfg.max_body = FORWARD_BODY_MAX;
	}
	es = calloc(1, sizeof(*es));
	if (!es || endpoints_setup(&cfg, routes, true, es) < 0) {
		exit_code = es ? CLI_EXIT_CONFIG : CLI_EXIT_FAILURE;
		goto out;
	}

	sigset_t sigs;
	block_signals(&sigs);

	/* A provider waits about 10 s for its answer: a send that takes
	 * longer is answered too late anyway. */
	if (sqs_setup(&cfg, FORWARD_SEND_TIMEOUT_MS, &aws, &client) < 0) {
		exit_code = CLI_EXIT_CONFIG;
		goto out;
	}
	struct forward_options fo = {
		.client = client,
		.queue_url = cfg.sqs_queue_url,
		/* An SQS send is a round trip: enough senders to keep the
		 * HTTP threads' webhooks moving. */
		.senders = (unsigned)(cfg.sqs_pollers * 4 > 64 ? 64 : cfg.sqs_pollers * 4),
		.queue_max = INGEST_QUEUE_MAX,
	};
	if ((r = forward_start(&fo, &fwd)) < 0) {
		log_msg(HQ_LOG_ERROR, "cannot start the forwarder", "error", hq_strerror(r), NULL);
		goto out;
	}
	struct http_options hopt = http_base(&cfg, es);
	hopt.status = forward_status;
	hopt.metrics = forward_metrics;
	hopt.status_ctx = fwd;
	hopt.submit = forward_submit;
	hopt.submit_ctx = fwd;
	char herr[256];
	if ((r = http_start(&hopt, NULL, &http, herr, sizeof(herr))) < 0) {
		log_msg(HQ_LOG_ERROR, "cannot start the HTTP server", "error", herr, NULL);
		goto out;
	}
	char port[8];
	snprintf(port, sizeof(port), "%u", http_port(http));
	log_msg(HQ_LOG_INFO, "hookq forwarding", "version", HOOKQ_VERSION, "host", cfg.host,
		"port", port, "queue", cfg.sqs_queue_url, "mode", cfg.dev ? "dev" : "production",
		"endpoints", es->shown, NULL);
	for (;;) {
		int sig = 0;
		if (sigwait(&sigs, &sig) != 0 || sig == SIGHUP)
			continue; /* endpoints change only at a restart */
		log_msg(HQ_LOG_INFO, "shutting down", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM",
			NULL);
		break;
	}
	/* Requests in flight are answered once their message is sent; what
	 * waits for a sender gets the grace, then 503 shutting_down. */
	forward_stop_begin(fwd, SHUTDOWN_GRACE_MS);
	http_stop(http, SHUTDOWN_GRACE_MS);
	exit_code = CLI_EXIT_OK;
out:;
	struct forward_stats fst = { 0 };
	if (fwd) {
		forward_stop(fwd, &fst);
		char sent[24], failed[24];
		snprintf(sent, sizeof(sent), "%llu", (unsigned long long)fst.forwarded);
		snprintf(failed, sizeof(failed), "%llu", (unsigned long long)fst.failed);
		log_msg(HQ_LOG_INFO, "webhooks forwarded", "sent", sent, "failed", failed, NULL);
	}
	sqs_client_free(client);
	aws_provider_free(aws);
	endpoints_free(es);
	route_table_free(routes);
	config_release(&cfg);
	if (exit_code == CLI_EXIT_OK && fwd)
		log_msg(HQ_LOG_INFO, "stopped", NULL);
	return exit_code;
}
