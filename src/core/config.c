#include "core/config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/crypto.h"
#include "util/error.h"
#include "util/parse.h"

static const char *const sync_names[] = { "off", "normal", "full", "extra", NULL };
static const char *const compression_names[] = { "zstd", "none", NULL };
static const char *const log_format_names[] = { "kv", "json", NULL };
static const char *const log_level_names[] = { "debug", "info", "warn", "error", NULL };
static const char *const algorithm_names[] = { "sha1", "sha256", "sha512", NULL };
static const char *const encoding_names[] = { "hex", "base64", NULL };
static const char *const comment_names[] = { "always", "on_failure", "never", NULL };

#define OFF(field) offsetof(struct config, field)
#define KIB 1024ull
#define MIB (1024ull * 1024)
#define GIB (1024ull * 1024 * 1024)

const struct config_option config_options[] = {
	{ "server.host", "WEBHOOK_HOST", "host", CONFIG_STRING, OFF(host), 0, 0, NULL,
	  "0.0.0.0", "address or host name to listen on (:: listens on IPv6 and IPv4)" },
	{ "server.port", "WEBHOOK_PORT", "port", CONFIG_PORT, OFF(port), 0, 0, NULL,
	  "8080", "TCP port to listen on" },
	{ "server.max_body", "HOOKQ_MAX_BODY", "max-body", CONFIG_SIZE, OFF(max_body),
	  1 * KIB, 1 * GIB, NULL, "25MiB", "largest request body accepted (413 above)" },
	{ "server.max_connections", "HOOKQ_MAX_CONNECTIONS", "max-connections",
	  CONFIG_COUNT, OFF(max_connections), 1, 100000, NULL, "1024",
	  "simultaneous client connections" },
	{ "server.connection_timeout", "HOOKQ_CONNECTION_TIMEOUT", "connection-timeout",
	  CONFIG_DURATION, OFF(connection_timeout_ms), 1000, 3600000, NULL, "30s",
	  "idle time after which a client connection is closed" },
	{ "server.threads", "HOOKQ_THREADS", "threads", CONFIG_COUNT, OFF(threads), 0,
	  256, NULL, "0", "HTTP threads (0: one per CPU)" },
	{ "server.max_pending_bytes", "HOOKQ_MAX_PENDING_BYTES", "max-pending-bytes",
	  CONFIG_SIZE, OFF(max_pending_bytes), 1 * MIB, 64 * GIB, NULL, "512MiB",
	  "request bodies held in memory at once (503 above)" },
	{ "server.max_header_size", "HOOKQ_MAX_HEADER_SIZE", "max-header-size",
	  CONFIG_SIZE, OFF(max_header_size), 4 * KIB, 1 * MIB, NULL, "32KiB",
	  "request line and headers of one request (431 above)" },
	{ "store.db", "HOOKQ_DB", "db", CONFIG_STRING, OFF(db), 0, 0, NULL, "hookq.db",
	  "database: a SQLite file path, or a postgres:// URL (env DATABASE_URL too)" },
	{ "store.node_timeout", "HOOKQ_NODE_TIMEOUT", "node-timeout", CONFIG_DURATION,
	  OFF(node_timeout_ms), 3000, 3600000, NULL, "30s",
	  "a node silent this long is dead: other nodes take its work over" },
	{ "store.synchronous", "HOOKQ_SYNCHRONOUS", "synchronous", CONFIG_ENUM,
	  OFF(synchronous), 0, 0, sync_names, "full",
	  "SQLite durability: full (fsync every commit), normal, off, extra" },
	{ "store.busy_timeout", "HOOKQ_BUSY_TIMEOUT", "busy-timeout", CONFIG_DURATION,
	  OFF(busy_timeout_ms), 0, 600000, NULL, "5s",
	  "how long to wait for a database lock" },
	{ "store.commit_batch", "HOOKQ_COMMIT_BATCH", "commit-batch", CONFIG_COUNT,
	  OFF(commit_batch), 1, 10000, NULL, "512",
	  "most webhooks stored in one transaction (group commit)" },
	{ "store.compression", "HOOKQ_COMPRESSION", "compression", CONFIG_ENUM,
	  OFF(compression), 0, 0, compression_names, "zstd",
	  "stored bodies: zstd (level 1, about 6x smaller for GitHub JSON) or none" },
	{ "processor.enabled", "HOOKQ_PROCESSOR", "processor", CONFIG_BOOL,
	  OFF(processor_enabled), 0, 0, NULL, "true",
	  "process stored events on this node (false: only receive and store)" },
	{ "processor.batch", "HOOKQ_PROCESSOR_BATCH", "processor-batch", CONFIG_COUNT,
	  OFF(processor_batch), 1, 10000, NULL, "100",
	  "most events one worker claims and records per transaction" },
	{ "processor.concurrency", "HOOKQ_PROCESSOR_CONCURRENCY", "processor-concurrency",
	  CONFIG_COUNT, OFF(processor_concurrency), 1, 64, NULL, "2",
	  "processor worker threads" },
	{ "processor.lease", "HOOKQ_LEASE", "lease", CONFIG_DURATION, OFF(lease_ms), 1000,
	  86400000, NULL, "60s",
	  "how long a claimed event is reserved before it counts as abandoned" },
	{ "processor.poll_interval", "HOOKQ_POLL_INTERVAL", "poll-interval", CONFIG_DURATION,
	  OFF(poll_ms), 10, 3600000, NULL, "1s",
	  "how often idle workers look for due events (new ones wake them at once)" },
	{ "processor.max_attempts", "HOOKQ_MAX_ATTEMPTS", "max-attempts", CONFIG_COUNT,
	  OFF(max_attempts), 1, 100, NULL, "5",
	  "attempts before an event goes to dead letter (set when it is stored)" },
	{ "processor.backoff_base", "HOOKQ_BACKOFF_BASE", "backoff-base", CONFIG_DURATION,
	  OFF(backoff_base_ms), 0, 3600000, NULL, "2s",
	  "delay after the first failed attempt; doubles after each" },
	{ "processor.backoff_cap", "HOOKQ_BACKOFF_CAP", "backoff-cap", CONFIG_DURATION,
	  OFF(backoff_cap_ms), 0, 86400000, NULL, "10m", "longest delay between attempts" },
	{ "processor.retention", "HOOKQ_RETENTION", "retention", CONFIG_DURATION,
	  OFF(retention_ms), 0, 3650ull * 86400000, NULL, "7d",
	  "completed events older than this are purged (0: keep them); dead letters stay" },
	{ "processor.fail_first_attempts", "HOOKQ_FAIL_FIRST_ATTEMPTS", NULL, CONFIG_COUNT,
	  OFF(fail_first_attempts), 0, 100, NULL, "0",
	  "testing aid, dev mode only: fail the first N attempts of every event" },
	{ "pool.workers", "CONTAINER_POOL", NULL, CONFIG_LIST, OFF(pool_workers), 0, 0, NULL,
	  "local", "worker names, comma-separated; each runs one task at a time" },
	{ "pool.ci_workers", "CI_CONTAINER_POOL", NULL, CONFIG_LIST, OFF(pool_ci_workers), 0, 0,
	  NULL, NULL, "workers for test tasks, comma-separated (empty: the main pool)" },
	{ "pool.claim_ttl", "POOL_CLAIM_TTL", NULL, CONFIG_DURATION, OFF(pool_claim_ttl_ms), 0,
	  7 * 86400000ull, NULL, "15m",
	  "how long an idle project stays claimed by its last worker (0: no claims)" },
	{ "pool.single_queue", "POOL_SINGLE_QUEUE", NULL, CONFIG_BOOL, OFF(pool_single_queue), 0,
	  0, NULL, "false", "at most one running task per project" },
	{ "tasks.lease", "TASK_LEASE", NULL, CONFIG_DURATION, OFF(task_lease_ms), 3000, 3600000,
	  NULL, "30s",
	  "a running task's lease, renewed by heartbeats; an expired one is queued again" },
	{ "tasks.shutdown_grace", "TASK_SHUTDOWN_GRACE", NULL, CONFIG_DURATION,
	  OFF(task_shutdown_grace_ms), 0, 3600000, NULL, "10s",
	  "at SIGTERM, how long running agents get before they are ended and queued again" },
	{ "tasks.files", "CLAUDE_TASKS_SYNC", NULL, CONFIG_BOOL, OFF(task_files), 0, 0, NULL,
	  "false", "mirror tasks into Claude Code task files in tasks.files_dir" },
	{ "tasks.files_dir", "CLAUDE_TASKS_DIR", NULL, CONFIG_PATH, OFF(task_files_dir), 0, 0,
	  NULL, "~/.claude/tasks", "directory of the task files (a leading ~ is $HOME)" },
	{ "tasks.test_agent", "HOOKQ_TEST_AGENT", NULL, CONFIG_STRING, OFF(test_agent), 0, 0,
	  NULL, NULL, "the agent that runs hookq test tasks (empty: the first agent defined)" },
	{ "workspace.root", "WORKSPACE_ROOT", NULL, CONFIG_PATH, OFF(workspace_root), 0, 0, NULL,
	  "workspaces", "directory of agents' checkouts: <root>/<worker>/<owner>/<repo>" },
	{ "workspace.git_base", "WORKSPACE_GIT_BASE", NULL, CONFIG_STRING,
	  OFF(workspace_git_base), 0, 0, NULL, "https://github.com",
	  "where repositories are cloned from: <git_base>/<owner>/<repo>.git" },
	{ "workspace.timeout", "WORKSPACE_TIMEOUT", NULL, CONFIG_DURATION,
	  OFF(workspace_timeout_ms), 1000, 3600000, NULL, "10m",
	  "limit of each git command that prepares a workspace" },
	{ "github.token", "GITHUB_TOKEN", NULL, CONFIG_SECRET, OFF(github_token), 0, 0, NULL, NULL,
	  "GitHub token: git's password for workspaces of private repositories" },
	{ "github.token_file", "GITHUB_TOKEN_FILE", NULL, CONFIG_PATH, OFF(github_token_file), 0,
	  0, NULL, NULL, "file holding the GitHub token" },
	{ "github.secret", "GITHUB_WEBHOOK_SECRET", NULL, CONFIG_SECRET,
	  OFF(github_secret), 0, 0, NULL, NULL,
	  "GitHub webhook secret (X-Hub-Signature-256)" },
	{ "github.secret_file", "GITHUB_WEBHOOK_SECRET_FILE", NULL, CONFIG_PATH,
	  OFF(github_secret_file), 0, 0, NULL, NULL,
	  "file holding the GitHub webhook secret" },
	{ "gitlab.secret", "GITLAB_WEBHOOK_SECRET", NULL, CONFIG_SECRET, OFF(gitlab_secret), 0,
	  0, NULL, NULL, "GitLab webhook secret token (X-Gitlab-Token)" },
	{ "gitlab.secret_file", "GITLAB_WEBHOOK_SECRET_FILE", NULL, CONFIG_PATH,
	  OFF(gitlab_secret_file), 0, 0, NULL, NULL, "file holding the GitLab secret token" },
	{ "slack.signing_secret", "SLACK_SIGNING_SECRET", NULL, CONFIG_SECRET, OFF(slack_secret),
	  0, 0, NULL, NULL, "Slack app signing secret (X-Slack-Signature)" },
	{ "slack.signing_secret_file", "SLACK_SIGNING_SECRET_FILE", NULL, CONFIG_PATH,
	  OFF(slack_secret_file), 0, 0, NULL, NULL, "file holding the Slack signing secret" },
	{ "slack.ack_text", "SLACK_ACK_TEXT", NULL, CONFIG_STRING, OFF(slack_ack_text), 0, 0,
	  NULL, "Working on it.", "the immediate answer to a slash command" },
	{ "sentry.client_secret", "SENTRY_CLIENT_SECRET", NULL, CONFIG_SECRET,
	  OFF(sentry_secret), 0, 0, NULL, NULL,
	  "Sentry integration client secret (Sentry-Hook-Signature)" },
	{ "sentry.client_secret_file", "SENTRY_CLIENT_SECRET_FILE", NULL, CONFIG_PATH,
	  OFF(sentry_secret_file), 0, 0, NULL, NULL, "file holding the Sentry client secret" },
	{ "jira.secret", "JIRA_WEBHOOK_SECRET", NULL, CONFIG_SECRET, OFF(jira_secret), 0, 0,
	  NULL, NULL, "Jira webhook secret (X-Hub-Signature)" },
	{ "jira.secret_file", "JIRA_WEBHOOK_SECRET_FILE", NULL, CONFIG_PATH,
	  OFF(jira_secret_file), 0, 0, NULL, NULL, "file holding the Jira webhook secret" },
	{ "linear.secret", "LINEAR_WEBHOOK_SECRET", NULL, CONFIG_SECRET, OFF(linear_secret), 0,
	  0, NULL, NULL, "Linear webhook signing secret (Linear-Signature)" },
	{ "linear.secret_file", "LINEAR_WEBHOOK_SECRET_FILE", NULL, CONFIG_PATH,
	  OFF(linear_secret_file), 0, 0, NULL, NULL, "file holding the Linear signing secret" },
	{ "linear.timestamp_tolerance", "LINEAR_TIMESTAMP_TOLERANCE", NULL, CONFIG_DURATION,
	  OFF(linear_tolerance_ms), 1000, 86400000, NULL, "60s",
	  "how far webhookTimestamp may be from now (Linear advises one minute)" },
	{ "stripe.secret", "STRIPE_WEBHOOK_SECRET", NULL, CONFIG_SECRET, OFF(stripe_secret), 0,
	  0, NULL, NULL, "Stripe endpoint signing secret, whsec_... (Stripe-Signature)" },
	{ "stripe.secret_file", "STRIPE_WEBHOOK_SECRET_FILE", NULL, CONFIG_PATH,
	  OFF(stripe_secret_file), 0, 0, NULL, NULL, "file holding the Stripe signing secret" },
	{ "standard.secret", "STANDARD_WEBHOOK_SECRET", NULL, CONFIG_SECRET,
	  OFF(standard_secret), 0, 0, NULL, NULL,
	  "Standard Webhooks secret, whsec_ + base64 (webhook-signature)" },
	{ "standard.secret_file", "STANDARD_WEBHOOK_SECRET_FILE", NULL, CONFIG_PATH,
	  OFF(standard_secret_file), 0, 0, NULL, NULL,
	  "file holding the Standard Webhooks secret" },
	{ "generic.secret", "GENERIC_WEBHOOK_SECRET", NULL, CONFIG_SECRET, OFF(generic_secret),
	  0, 0, NULL, NULL, "secret of the generic endpoint (HMAC key, or the shared token)" },
	{ "generic.secret_file", "GENERIC_WEBHOOK_SECRET_FILE", NULL, CONFIG_PATH,
	  OFF(generic_secret_file), 0, 0, NULL, NULL, "file holding the generic secret" },
	{ "generic.signature_header", "GENERIC_SIGNATURE_HEADER", NULL, CONFIG_STRING,
	  OFF(generic_signature_header), 0, 0, NULL, "X-Signature",
	  "header carrying the HMAC of the body" },
	{ "generic.signature_algorithm", "GENERIC_SIGNATURE_ALGORITHM", NULL, CONFIG_ENUM,
	  OFF(generic_algorithm), 0, 0, algorithm_names, "sha256",
	  "HMAC hash: sha1, sha256 or sha512" },
	{ "generic.signature_encoding", "GENERIC_SIGNATURE_ENCODING", NULL, CONFIG_ENUM,
	  OFF(generic_encoding), 0, 0, encoding_names, "hex", "digest encoding: hex or base64" },
	{ "generic.signature_prefix", "GENERIC_SIGNATURE_PREFIX", NULL, CONFIG_STRING,
	  OFF(generic_signature_prefix), 0, 0, NULL, NULL,
	  "text before the digest in the header, such as sha256=" },
	{ "generic.token_header", "GENERIC_TOKEN_HEADER", NULL, CONFIG_STRING,
	  OFF(generic_token_header), 0, 0, NULL, NULL,
	  "set: this header must equal the secret (a shared token, no HMAC)" },
	{ "generic.delivery_header", "GENERIC_DELIVERY_HEADER", NULL, CONFIG_STRING,
	  OFF(generic_delivery_header), 0, 0, NULL, NULL, "header holding the delivery id" },
	{ "generic.delivery_json", "GENERIC_DELIVERY_JSON", NULL, CONFIG_STRING,
	  OFF(generic_delivery_json), 0, 0, NULL, NULL,
	  "dotted path of the delivery id in a JSON body (without either: the body's hash)" },
	{ "generic.event_header", "GENERIC_EVENT_HEADER", NULL, CONFIG_STRING,
	  OFF(generic_event_header), 0, 0, NULL, NULL, "header naming the event type" },
	{ "generic.event_json", "GENERIC_EVENT_JSON", NULL, CONFIG_STRING,
	  OFF(generic_event_json), 0, 0, NULL, NULL,
	  "dotted path of the event type in a JSON body (without either: webhook)" },
	{ "webhooks.timestamp_tolerance", "HOOKQ_TIMESTAMP_TOLERANCE", NULL, CONFIG_DURATION,
	  OFF(timestamp_tolerance_ms), 1000, 86400000, NULL, "5m",
	  "how far a signed timestamp (Slack, Stripe, Standard Webhooks) may be from now" },
	{ "authz.allowed_orgs", "ALLOWED_ORGS", NULL, CONFIG_STRING, OFF(allowed_orgs), 0, 0,
	  NULL, NULL, "repository owners (organizations) whose events may trigger work" },
	{ "authz.allowed_users", "ALLOWED_USERS", NULL, CONFIG_STRING, OFF(allowed_users), 0, 0,
	  NULL, NULL, "repository owners (users) whose events may trigger work" },
	{ "authz.trigger_users", "AUTHORIZED_TRIGGER_USERS", NULL, CONFIG_STRING,
	  OFF(trigger_users), 0, 0, NULL, NULL, "the only accounts whose events trigger work" },
	{ "authz.mentioned_user", "GITHUB_MENTIONED_USER", NULL, CONFIG_STRING,
	  OFF(mentioned_user), 0, 0, NULL, NULL,
	  "when set, only texts that @mention this login trigger work" },
	{ "authz.bot_login", "HOOKQ_BOT_LOGIN", NULL, CONFIG_STRING, OFF(bot_login), 0, 0, NULL,
	  NULL, "hookq's own account: its events never trigger work" },
	{ "replies.comment", "REPLY_COMMENT", NULL, CONFIG_ENUM, OFF(reply_comment), 0, 0,
	  comment_names, "always",
	  "when a task's end is commented on its issue: always, on_failure, never" },
	{ "replies.comment_template", "REPLY_COMMENT_TEMPLATE", NULL, CONFIG_STRING,
	  OFF(reply_template), 0, 0, NULL, NULL,
	  "the result comment as a template ({{task.status}}, {{output}}, ...); empty: built in" },
	{ "replies.reactions", "REPLY_REACTIONS", NULL, CONFIG_BOOL, OFF(reply_reactions), 0, 0,
	  NULL, "true", "react on GitHub: eyes when a task is made, rocket or confused at its end" },
	{ "replies.output_max", "REPLY_OUTPUT_MAX", NULL, CONFIG_SIZE, OFF(reply_output_max), 256,
	  60 * 1024, NULL, "4KiB", "the tail of an agent's output quoted in a reply" },
	{ "outbox.senders", "OUTBOX_SENDERS", NULL, CONFIG_COUNT, OFF(outbox_senders), 1, 16,
	  NULL, "2", "threads that send replies" },
	{ "outbox.max_attempts", "OUTBOX_MAX_ATTEMPTS", NULL, CONFIG_COUNT,
	  OFF(outbox_max_attempts), 1, 100, NULL, "10",
	  "attempts at sending a reply before it is dead" },
	{ "outbox.timeout", "OUTBOX_TIMEOUT", NULL, CONFIG_DURATION, OFF(outbox_timeout_ms), 1000,
	  300000, NULL, "30s", "limit of each request that sends a reply" },
	{ "github.api_url", "GITHUB_API_URL", NULL, CONFIG_STRING, OFF(github_api_url), 0, 0,
	  NULL, "https://api.github.com",
	  "GitHub's REST API (GitHub Enterprise Server: https://HOST/api/v3)" },
	{ "github.app_id", "GITHUB_APP_ID", NULL, CONFIG_STRING, OFF(github_app_id), 0, 0, NULL,
	  NULL, "reply as this GitHub App (with its private key) instead of GITHUB_TOKEN" },
	{ "github.app_private_key", "GITHUB_APP_PRIVATE_KEY", NULL, CONFIG_SECRET,
	  OFF(github_app_key), 0, 0, NULL, NULL,
	  "the GitHub App's private key: PEM text, or the path of a PEM file" },
	{ "github.app_private_key_file", "GITHUB_APP_PRIVATE_KEY_FILE", NULL, CONFIG_PATH,
	  OFF(github_app_key_file), 0, 0, NULL, NULL, "file holding the GitHub App's private key" },
	{ "github.app_installation_id", "GITHUB_APP_INSTALLATION_ID", NULL, CONFIG_COUNT,
	  OFF(github_app_installation_id), 0, 9007199254740991ull, NULL, "0",
	  "the App's installation when an event does not name one (0: from the event)" },
	{ "slack.bot_token", "SLACK_BOT_TOKEN", NULL, CONFIG_SECRET, OFF(slack_bot_token), 0, 0,
	  NULL, NULL, "Slack bot token: replies in threads with chat.postMessage" },
	{ "slack.bot_token_file", "SLACK_BOT_TOKEN_FILE", NULL, CONFIG_PATH,
	  OFF(slack_bot_token_file), 0, 0, NULL, NULL, "file holding the Slack bot token" },
	{ "slack.api_url", "SLACK_API_URL", NULL, CONFIG_STRING, OFF(slack_api_url), 0, 0, NULL,
	  "https://slack.com/api", "Slack's Web API" },
	{ "slack.response_url_prefix", "SLACK_RESPONSE_URL_PREFIX", NULL, CONFIG_STRING,
	  OFF(slack_response_prefix), 0, 0, NULL, "https://hooks.slack.com/",
	  "a slash command's response_url must start with this to be answered" },
	{ "jira.base_url", "JIRA_BASE_URL", NULL, CONFIG_STRING, OFF(jira_base_url), 0, 0, NULL,
	  NULL, "Jira site for replies (https://your-site.atlassian.net)" },
	{ "jira.email", "JIRA_EMAIL", NULL, CONFIG_STRING, OFF(jira_email), 0, 0, NULL, NULL,
	  "the Jira account replies are posted as" },
	{ "jira.api_token", "JIRA_API_TOKEN", NULL, CONFIG_SECRET, OFF(jira_api_token), 0, 0,
	  NULL, NULL, "that account's API token" },
	{ "jira.api_token_file", "JIRA_API_TOKEN_FILE", NULL, CONFIG_PATH,
	  OFF(jira_api_token_file), 0, 0, NULL, NULL, "file holding the Jira API token" },
	{ "admin.username", "ADMIN_USERNAME", NULL, CONFIG_STRING, OFF(admin_username),
	  0, 0, NULL, "admin", "admin API user name" },
	{ "admin.password", "ADMIN_PASSWORD", NULL, CONFIG_SECRET, OFF(admin_password),
	  0, 0, NULL, NULL, "admin API password" },
	{ "admin.password_file", "ADMIN_PASSWORD_FILE", NULL, CONFIG_PATH,
	  OFF(admin_password_file), 0, 0, NULL, NULL, "file holding the admin password" },
	{ "dev", "DEV_MODE", "dev", CONFIG_BOOL, OFF(dev), 0, 0, NULL, "false",
	  "development mode: start without secrets (loud warning)" },
	{ "task_source", "TASK_SOURCE", "source", CONFIG_STRING, OFF(task_source), 0, 0, NULL,
	  "webhook", "where events come from: webhook, sqs, or webhook,sqs" },
	{ "sqs.queue_url", "AWS_SQS_QUEUE_URL", NULL, CONFIG_STRING, OFF(sqs_queue_url), 0, 0,
	  NULL, NULL, "the SQS queue the sqs source polls" },
	{ "sqs.dlq_url", "AWS_SQS_DLQ_URL", NULL, CONFIG_STRING, OFF(sqs_dlq_url), 0, 0, NULL,
	  NULL, "where messages that cannot be read go (optional)" },
	{ "sqs.output_url", "AWS_SQS_OUTPUT_URL", NULL, CONFIG_STRING, OFF(sqs_output_url), 0, 0,
	  NULL, NULL, "a queue that receives every task's result (optional)" },
	{ "sqs.region", "AWS_REGION", NULL, CONFIG_STRING, OFF(sqs_region), 0, 0, NULL, NULL,
	  "the AWS region of the queues" },
	{ "sqs.endpoint", "AWS_ENDPOINT_URL_SQS", NULL, CONFIG_STRING, OFF(sqs_endpoint), 0, 0,
	  NULL, NULL, "SQS endpoint (else AWS_ENDPOINT_URL, else AWS's for the region)" },
	{ "aws.endpoint", "AWS_ENDPOINT_URL", NULL, CONFIG_STRING, OFF(aws_endpoint), 0, 0, NULL,
	  NULL, "endpoint for every AWS service (a local stand-in)" },
	{ "sqs.wait_time", "SQS_WAIT_TIME_SECONDS", NULL, CONFIG_COUNT, OFF(sqs_wait_s), 1, 20,
	  NULL, "20", "long-poll wait of each receive, in seconds" },
	{ "sqs.pollers", "SQS_POLLERS", NULL, CONFIG_COUNT, OFF(sqs_pollers), 1, 32, NULL, "2",
	  "receive loops this node runs on the queue" },
	{ "sqs.visibility_timeout", "SQS_VISIBILITY_TIMEOUT", NULL, CONFIG_DURATION,
	  OFF(sqs_visibility_ms), 0, 43200000, NULL, "0",
	  "how long a received message stays hidden (0: the queue's own)" },
	{ "sqs.verify_signatures", "SQS_VERIFY_SIGNATURES", NULL, CONFIG_BOOL,
	  OFF(sqs_verify), 0, 0, NULL, "false",
	  "check the providers' signatures on messages too (needs the raw body)" },
	{ "sqs.provider", "SQS_DEFAULT_PROVIDER", NULL, CONFIG_STRING, OFF(sqs_provider), 0, 0,
	  NULL, "github", "the provider of a message whose headers name none" },
	{ "log.format", "HOOKQ_LOG_FORMAT", "log-format", CONFIG_ENUM, OFF(log_format),
	  0, 0, log_format_names, "kv", "log lines as key=value (kv) or json" },
	{ "log.level", "HOOKQ_LOG_LEVEL", "log-level", CONFIG_ENUM, OFF(log_level), 0, 0,
	  log_level_names, "info", "least severe level logged" },
	{ NULL, NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

static void err_set(struct config_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void err_set(struct config_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		err->msg[0] = '\0';
}

const struct config_option *config_find_key(const char *key)
{
	for (const struct config_option *o = config_options; o->key; o++)
		if (strcmp(o->key, key) == 0)
			return o;
	return NULL;
}

const struct config_option *config_find_flag(const char *flag)
{
	for (const struct config_option *o = config_options; o->key; o++)
		if (o->flag && strcmp(o->flag, flag) == 0)
			return o;
	return NULL;
}

const char *config_enum_name(const struct config_option *o, int value)
{
	for (int i = 0; o->choices && o->choices[i]; i++)
		if (i == value)
			return o->choices[i];
	return "?";
}

static char **field_str(struct config *c, const struct config_option *o)
{
	return (char **)(void *)((char *)c + o->offset);
}

static void str_free(char *s, bool secret)
{
	if (s && secret)
		crypto_cleanse(s, strlen(s));
	free(s);
}

/* Records (where != NULL) or forgets that option o's secret came inline
 * from the configuration file. */
static void inline_secret_mark(struct config *c, const struct config_option *o,
			       const char *where)
{
	int idx = (int)(o - config_options);
	int slot = -1;
	for (int i = 0; i < CONFIG_MAX_SECRETS; i++)
		if (c->inline_secret_at[i][0] && c->inline_secret_opt[i] == idx)
			slot = i;
	if (!where) {
		if (slot >= 0)
			c->inline_secret_at[slot][0] = '\0';
		return;
	}
	for (int i = 0; slot < 0 && i < CONFIG_MAX_SECRETS; i++)
		if (!c->inline_secret_at[i][0])
			slot = i;
	if (slot < 0)
		abort(); /* more secret options than CONFIG_MAX_SECRETS */
	c->inline_secret_opt[slot] = idx;
	snprintf(c->inline_secret_at[slot], sizeof(c->inline_secret_at[slot]), "%s", where);
}

static bool is_string_type(enum config_type t)
{
	return t == CONFIG_STRING || t == CONFIG_SECRET || t == CONFIG_PATH || t == CONFIG_LIST;
}

void config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	size_t count = 0;
	for (const struct config_option *o = config_options; o->key; o++)
		count++;
	if (count > CONFIG_MAX_OPTIONS)
		abort(); /* raise CONFIG_MAX_OPTIONS */
	for (const struct config_option *o = config_options; o->key; o++) {
		if (!o->def)
			continue;
		/* Defaults are part of the table, so they go through the same
		 * parser as user input; a bad default is a programming error. */
		struct config_error err;
		if (config_set(c, o, o->def, CONFIG_ORIGIN_DEFAULT, "default", &err) < 0)
			abort();
	}
}

void config_release(struct config *c)
{
	if (!c)
		return;
	for (const struct config_option *o = config_options; o->key; o++) {
		if (!is_string_type(o->type))
			continue;
		char **p = field_str(c, o);
		str_free(*p, o->type == CONFIG_SECRET);
		*p = NULL;
	}
}

static const char *enum_choices(const struct config_option *o, char *out, size_t size)
{
	size_t used = 0;
	out[0] = '\0';
	for (int i = 0; o->choices[i]; i++) {
		int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "",
				 o->choices[i]);
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
	return out;
}

static int config_parse_into(struct config *c, const struct config_option *o,
			     const char *value, const char *where, struct config_error *err);

/* A secret and the file that holds it are one setting. */
static const char *const twins[][2] = {
	{ "github.secret", "github.secret_file" },
	{ "gitlab.secret", "gitlab.secret_file" },
	{ "slack.signing_secret", "slack.signing_secret_file" },
	{ "sentry.client_secret", "sentry.client_secret_file" },
	{ "jira.secret", "jira.secret_file" },
	{ "linear.secret", "linear.secret_file" },
	{ "stripe.secret", "stripe.secret_file" },
	{ "standard.secret", "standard.secret_file" },
	{ "generic.secret", "generic.secret_file" },
	{ "admin.password", "admin.password_file" },
	{ "github.token", "github.token_file" },
	{ "github.app_private_key", "github.app_private_key_file" },
	{ "slack.bot_token", "slack.bot_token_file" },
	{ "jira.api_token", "jira.api_token_file" },
};
#define TWINS (sizeof(twins) / sizeof(twins[0]))
/* The webhook secrets among the twins: the first ones (then come the
 * admin password and the credentials hookq replies with). */
#define PROVIDER_TWINS (TWINS - 5)

static const struct config_option *twin_of(const struct config_option *o)
{
	for (size_t i = 0; i < TWINS; i++) {
		if (strcmp(o->key, twins[i][0]) == 0)
			return config_find_key(twins[i][1]);
		if (strcmp(o->key, twins[i][1]) == 0)
			return config_find_key(twins[i][0]);
	}
	return NULL;
}

static size_t option_index(const struct config_option *o)
{
	return (size_t)(o - config_options);
}

int config_set(struct config *c, const struct config_option *o, const char *value,
	       enum config_origin origin, const char *where, struct config_error *err)
{
	int r = config_parse_into(c, o, value, where, err);
	if (r < 0)
		return r;
	c->origin[option_index(o)] = (unsigned char)origin;
	const struct config_option *twin = twin_of(o);
	if (twin && c->origin[option_index(twin)] < origin) {
		char **p = field_str(c, twin);
		str_free(*p, twin->type == CONFIG_SECRET);
		*p = NULL;
		if (twin->type == CONFIG_SECRET)
			inline_secret_mark(c, twin, NULL);
	}
	return 0;
}

static int config_parse_into(struct config *c, const struct config_option *o,
			     const char *value, const char *where, struct config_error *err)
{
	void *field = (char *)c + o->offset;
	uint64_t v = 0;

	switch (o->type) {
	case CONFIG_STRING:
	case CONFIG_PATH:
	case CONFIG_SECRET:
	case CONFIG_LIST: {
		if (value[0] == '\0' && (o->type == CONFIG_PATH || o->type == CONFIG_SECRET)) {
			err_set(err, "%s: must not be empty", where);
			return HQ_E_CONFIG;
		}
		if (o->type == CONFIG_LIST) {
			/* Checked here, where the source is known, so the error
			 * names the variable or the file's line. */
			char why[200];
			char **names;
			size_t count;
			int r = config_list_split(value, &names, &count, why, sizeof(why));
			if (r == HQ_E_NOMEM)
				return r;
			if (r < 0) {
				err_set(err, "%s: %s", where, why);
				return HQ_E_CONFIG;
			}
			free(names);
		}
		char *copy = strdup(value);
		if (!copy)
			return HQ_E_NOMEM;
		char **p = field;
		str_free(*p, o->type == CONFIG_SECRET);
		*p = copy;
		/* A secret set later (environment, flag) replaces an inline one;
		 * the YAML walker marks inline secrets after this call. */
		if (o->type == CONFIG_SECRET)
			inline_secret_mark(c, o, NULL);
		return 0;
	}
	case CONFIG_PORT: {
		uint16_t port;
		/* 0 asks the kernel for a free port (tests use it). */
		if (strcmp(value, "0") == 0)
			port = 0;
		else if (parse_port(value, &port) < 0) {
			err_set(err, "%s: not a port number: '%.64s'", where, value);
			return HQ_E_CONFIG;
		}
		*(uint16_t *)field = port;
		return 0;
	}
	case CONFIG_SIZE:
		if (parse_size(value, &v) < 0) {
			err_set(err, "%s: not a size (like 512KiB, 25MiB): '%.64s'", where,
				value);
			return HQ_E_CONFIG;
		}
		break;
	case CONFIG_DURATION:
		if (parse_duration_ms(value, &v) < 0) {
			err_set(err, "%s: not a duration (like 500ms, 30s, 5m): '%.64s'",
				where, value);
			return HQ_E_CONFIG;
		}
		break;
	case CONFIG_COUNT:
		if (parse_u64(value, 0, UINT64_MAX, &v) < 0) {
			err_set(err, "%s: not a whole number: '%.64s'", where, value);
			return HQ_E_CONFIG;
		}
		break;
	case CONFIG_BOOL: {
		bool b;
		if (parse_bool(value, &b) < 0) {
			err_set(err, "%s: not a boolean (true or false): '%.64s'", where,
				value);
			return HQ_E_CONFIG;
		}
		*(bool *)field = b;
		return 0;
	}
	case CONFIG_ENUM:
		for (int i = 0; o->choices[i]; i++) {
			if (strcmp(o->choices[i], value) == 0) {
				*(int *)field = i;
				return 0;
			}
		}
		char list[256];
		err_set(err, "%s: unknown value '%.64s' (expected one of: %s)", where,
			value, enum_choices(o, list, sizeof(list)));
		return HQ_E_CONFIG;
	}

	if (v < o->min || v > o->max) {
		err_set(err, "%s: '%.64s' is out of range (%llu to %llu%s)", where, value,
			(unsigned long long)o->min, (unsigned long long)o->max,
			o->type == CONFIG_SIZE ? " bytes" :
			o->type == CONFIG_DURATION ? " ms" : "");
		return HQ_E_CONFIG;
	}
	*(uint64_t *)field = v;
	return 0;
}

int config_load_env(struct config *c, config_lookup_fn lookup, void *ctx,
		    struct config_error *err)
{
	for (const struct config_option *o = config_options; o->key; o++) {
		if (!o->env)
			continue;
		const char *v = lookup(ctx, o->env);
		if (!v)
			continue;
		if (!*v)
			continue;
		int r = config_set(c, o, v, CONFIG_ORIGIN_ENV, o->env, err);
		if (r < 0)
			return r;
	}
	/* DATABASE_URL, the name platforms and other tools use, when
	 * HOOKQ_DB does not say otherwise. */
	const struct config_option *db = config_find_key("store.db");
	const char *url = lookup(ctx, "DATABASE_URL");
	if (url && *url && c->origin[option_index(db)] < CONFIG_ORIGIN_ENV)
		return config_set(c, db, url, CONFIG_ORIGIN_ENV, "DATABASE_URL", err);
	return 0;
}

/* YAML: the document is a mapping whose values are scalars or mappings of
 * scalars; keys join with '.' into the option table's keys. */
#define YAML_MAX_DEPTH 4

struct yaml_walk {
	yaml_parser_t parser;
	const char *filename;
	struct config *c;
	struct config_error *err;
	char prefix[YAML_MAX_DEPTH][64];
	int depth;
	unsigned char seen[CONFIG_MAX_OPTIONS];
};

static void walk_where(struct yaml_walk *w, const yaml_mark_t *m, char *out, size_t size)
{
	int n = snprintf(out, size, "%s:%zu:%zu", w->filename, m->line + 1, m->column + 1);
	if (n < 0)
		out[0] = '\0';
}

static int walk_next(struct yaml_walk *w, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&w->parser, ev)) {
		err_set(w->err, "%s:%zu:%zu: invalid YAML: %s", w->filename,
			w->parser.problem_mark.line + 1, w->parser.problem_mark.column + 1,
			w->parser.problem ? w->parser.problem : "syntax error");
		return HQ_E_CONFIG;
	}
	return 0;
}

static int walk_mapping(struct yaml_walk *w);

/* An empty plain scalar ("key:"), "~" or "null" means no value. */
static bool scalar_is_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0);
}

/* A section is a proper prefix of some option key ("server"). */
static bool is_section(const char *path)
{
	size_t plen = strlen(path);
	for (const struct config_option *o = config_options; o->key; o++)
		if (strncmp(o->key, path, plen) == 0 && o->key[plen] == '.')
			return true;
	return false;
}

static int walk_value(struct yaml_walk *w, const char *key, const yaml_mark_t *key_mark)
{
	char path[256];
	char where[300];
	int n;
	if (w->depth == 0)
		n = snprintf(path, sizeof(path), "%s", key);
	else
		n = snprintf(path, sizeof(path), "%s.%s", w->prefix[w->depth - 1], key);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		walk_where(w, key_mark, where, sizeof(where));
		err_set(w->err, "%s: key too long", where);
		return HQ_E_CONFIG;
	}

	yaml_event_t ev;
	int r = walk_next(w, &ev);
	if (r < 0)
		return r;
	walk_where(w, &ev.start_mark, where, sizeof(where));

	/* The routes (a list) and the agents (a mapping) are read from the
	 * same file by core/route and core/agent: skipped here, whole. */
	if (w->depth == 0 && (strcmp(key, "routes") == 0 || strcmp(key, "agents") == 0)) {
		int depth = ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT;
		yaml_event_delete(&ev);
		while (r == 0 && depth > 0) {
			if ((r = walk_next(w, &ev)) < 0)
				break;
			if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)
				depth++;
			else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
				depth--;
			yaml_event_delete(&ev);
		}
		return r;
	}

	if (ev.type == YAML_MAPPING_START_EVENT) {
		yaml_event_delete(&ev);
		size_t plen = strlen(path);
		if (!is_section(path)) {
			walk_where(w, key_mark, where, sizeof(where));
			err_set(w->err, "%s: unknown section '%s'", where, path);
			return HQ_E_CONFIG;
		}
		if (w->depth + 1 >= YAML_MAX_DEPTH || plen >= sizeof(w->prefix[0])) {
			err_set(w->err, "%s: nested too deeply", where);
			return HQ_E_CONFIG;
		}
		memcpy(w->prefix[w->depth], path, plen + 1);
		w->depth++;
		r = walk_mapping(w);
		w->depth--;
		return r;
	}

	const struct config_option *o = config_find_key(path);
	if (!o && ev.type == YAML_SCALAR_EVENT && scalar_is_null(&ev) && is_section(path)) {
		/* "github:" followed only by comments: an empty section. */
		yaml_event_delete(&ev);
		return 0;
	}
	if (!o) {
		yaml_event_delete(&ev);
		walk_where(w, key_mark, where, sizeof(where));
		if (is_section(path))
			err_set(w->err, "%s: '%s' is a section: expected settings under it, "
					"like '%s:' then '  key: value'", where, path, path);
		else
			err_set(w->err, "%s: unknown key '%s'", where, path);
		return HQ_E_CONFIG;
	}
	if (ev.type != YAML_SCALAR_EVENT) {
		yaml_event_delete(&ev);
		err_set(w->err, "%s: %s: expected a single value", where, path);
		return HQ_E_CONFIG;
	}
	size_t idx = (size_t)(o - config_options);
	if (idx < sizeof(w->seen) && w->seen[idx]) {
		yaml_event_delete(&ev);
		walk_where(w, key_mark, where, sizeof(where));
		err_set(w->err, "%s: duplicate key '%s'", where, path);
		return HQ_E_CONFIG;
	}
	if (idx < sizeof(w->seen))
		w->seen[idx] = 1;

	char label[400];
	n = snprintf(label, sizeof(label), "%s: %s", where, path);
	if (n < 0)
		label[0] = '\0';
	const char *value = (const char *)ev.data.scalar.value;
	bool is_null = scalar_is_null(&ev);
	if (!is_null)
		r = config_set(w->c, o, value, CONFIG_ORIGIN_FILE, label, w->err);
	if (r == 0 && !is_null && o->type == CONFIG_SECRET)
		inline_secret_mark(w->c, o, label);
	yaml_event_delete(&ev);
	return r;
}

static int walk_mapping(struct yaml_walk *w)
{
	for (;;) {
		yaml_event_t ev;
		int r = walk_next(w, &ev);
		if (r < 0)
			return r;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			char where[300];
			walk_where(w, &ev.start_mark, where, sizeof(where));
			yaml_event_delete(&ev);
			err_set(w->err, "%s: expected a key", where);
			return HQ_E_CONFIG;
		}
		char key[64];
		yaml_mark_t mark = ev.start_mark;
		int n = snprintf(key, sizeof(key), "%s", (const char *)ev.data.scalar.value);
		yaml_event_delete(&ev);
		if (n < 0 || (size_t)n >= sizeof(key)) {
			char where[300];
			walk_where(w, &mark, where, sizeof(where));
			err_set(w->err, "%s: key too long", where);
			return HQ_E_CONFIG;
		}
		r = walk_value(w, key, &mark);
		if (r < 0)
			return r;
	}
}

int config_load_yaml(struct config *c, const char *text, size_t len,
		     const char *filename, struct config_error *err)
{
	struct yaml_walk w;
	memset(&w, 0, sizeof(w));
	w.filename = filename;
	w.c = c;
	w.err = err;
	if (!yaml_parser_initialize(&w.parser))
		return HQ_E_NOMEM;
	yaml_parser_set_input_string(&w.parser, (const unsigned char *)text, len);

	int r = 0;
	bool in_doc = false;
	for (;;) {
		yaml_event_t ev;
		r = walk_next(&w, &ev);
		if (r < 0)
			break;
		yaml_event_type_t t = ev.type;
		yaml_mark_t mark = ev.start_mark;
		yaml_event_delete(&ev);
		if (t == YAML_STREAM_END_EVENT)
			break;
		if (t == YAML_DOCUMENT_START_EVENT) {
			if (in_doc) {
				err_set(err, "%s:%zu:%zu: only one YAML document is allowed",
					filename, mark.line + 1, mark.column + 1);
				r = HQ_E_CONFIG;
				break;
			}
			continue;
		}
		if (t == YAML_DOCUMENT_END_EVENT) {
			in_doc = true;
			continue;
		}
		if (t == YAML_MAPPING_START_EVENT) {
			r = walk_mapping(&w);
			if (r < 0)
				break;
			continue;
		}
		if (t == YAML_SCALAR_EVENT || t == YAML_SEQUENCE_START_EVENT) {
			err_set(err, "%s:%zu:%zu: the file must be a mapping of settings",
				filename, mark.line + 1, mark.column + 1);
			r = HQ_E_CONFIG;
			break;
		}
	}
	yaml_parser_delete(&w.parser);
	return r;
}

int config_sources(const struct config *c, unsigned *ret, struct config_error *err)
{
	const char *p = c->task_source && *c->task_source ? c->task_source : "webhook";
	unsigned mask = 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		const char *w = p;
		size_t wl = n;
		while (wl && (*w == ' ' || *w == '\t')) {
			w++;
			wl--;
		}
		while (wl && (w[wl - 1] == ' ' || w[wl - 1] == '\t'))
			wl--;
		if ((wl == 7 && strncmp(w, "webhook", 7) == 0) || (wl == 4 && strncmp(w, "http", 4) == 0))
			mask |= CONFIG_SOURCE_WEBHOOK;
		else if (wl == 3 && strncmp(w, "sqs", 3) == 0)
			mask |= CONFIG_SOURCE_SQS;
		else {
			err_set(err, "task_source (TASK_SOURCE): unknown source '%.*s' (expected "
				     "webhook, sqs, or both: webhook,sqs)",
				(int)(wl > 32 ? 32 : wl), w);
			return HQ_E_CONFIG;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	if (!mask) {
		err_set(err, "task_source (TASK_SOURCE) names no source");
		return HQ_E_CONFIG;
	}
	*ret = mask;
	return 0;
}

int config_validate(const struct config *c, struct config_error *err)
{
	for (size_t i = 0; i < TWINS; i++) {
		const struct config_option *a = config_find_key(twins[i][0]);
		const struct config_option *b = config_find_key(twins[i][1]);
		if (*field_str((struct config *)(uintptr_t)c, a) &&
		    *field_str((struct config *)(uintptr_t)c, b)) {
			err_set(err, "%s (%s) and %s (%s) are both set at the same level; keep one",
				a->key, a->env, b->key, b->env);
			return HQ_E_CONFIG;
		}
	}
	if (c->max_pending_bytes < c->max_body) {
		err_set(err,
			"server.max_pending_bytes (%llu) must be at least server.max_body (%llu), "
			"or no webhook of the largest allowed size could ever be accepted",
			(unsigned long long)c->max_pending_bytes,
			(unsigned long long)c->max_body);
		return HQ_E_CONFIG;
	}
	if (c->backoff_cap_ms < c->backoff_base_ms) {
		err_set(err, "processor.backoff_cap (%llu ms) is below processor.backoff_base (%llu ms)",
			(unsigned long long)c->backoff_cap_ms,
			(unsigned long long)c->backoff_base_ms);
		return HQ_E_CONFIG;
	}
	unsigned sources = 0;
	if (config_sources(c, &sources, err) < 0)
		return HQ_E_CONFIG;
	if ((sources & CONFIG_SOURCE_SQS) && (!c->sqs_queue_url || !*c->sqs_queue_url)) {
		err_set(err, "the sqs source needs a queue: set AWS_SQS_QUEUE_URL (sqs.queue_url)");
		return HQ_E_CONFIG;
	}
	if ((sources & CONFIG_SOURCE_SQS || (c->sqs_output_url && *c->sqs_output_url)) &&
	    (!c->sqs_region || !*c->sqs_region)) {
		err_set(err, "SQS needs a region: set AWS_REGION (sqs.region)");
		return HQ_E_CONFIG;
	}
	if (c->sqs_visibility_ms % 1000 != 0) {
		err_set(err, "sqs.visibility_timeout (SQS_VISIBILITY_TIMEOUT): SQS counts whole "
			     "seconds: %llu ms is not (use 0 for the queue's own, or 1s to 12h)",
			(unsigned long long)c->sqs_visibility_ms);
		return HQ_E_CONFIG;
	}
	if (!c->pool_workers || !c->pool_workers[strspn(c->pool_workers, " \t")]) {
		err_set(err, "pool.workers (CONTAINER_POOL) names no worker: give at least one, "
			     "such as 'local'");
		return HQ_E_CONFIG;
	}
	if (c->dev)
		return 0;
	if (c->fail_first_attempts > 0) {
		err_set(err, "processor.fail_first_attempts is a testing aid: it needs dev mode");
		return HQ_E_CONFIG;
	}
	for (int i = 0; i < CONFIG_MAX_SECRETS; i++) {
		if (!c->inline_secret_at[i][0])
			continue;
		err_set(err,
			"%s: secrets written in the configuration file are refused outside "
			"dev mode; use an environment variable or a *_file setting",
			c->inline_secret_at[i]);
		return HQ_E_CONFIG;
	}
	bool any = !(sources & CONFIG_SOURCE_WEBHOOK); /* only webhooks need one */
	for (size_t i = 0; i < PROVIDER_TWINS; i++)
		any |= *field_str((struct config *)(uintptr_t)c, config_find_key(twins[i][0])) ||
		       *field_str((struct config *)(uintptr_t)c, config_find_key(twins[i][1]));
	if (!any) {
		err_set(err, "no webhook secret: set GITHUB_WEBHOOK_SECRET or "
			     "github.secret_file, or another provider's secret (or run with "
			     "--dev to accept unsigned webhooks)");
		return HQ_E_CONFIG;
	}
	if (!c->admin_password && !c->admin_password_file) {
		err_set(err, "no admin password: set ADMIN_PASSWORD or "
			     "admin.password_file (or run with --dev)");
		return HQ_E_CONFIG;
	}
	if (!c->admin_username || !c->admin_username[0]) {
		err_set(err, "admin.username: must not be empty");
		return HQ_E_CONFIG;
	}
	return 0;
}

char **config_provider_secret(struct config *c, const char *provider)
{
	size_t n = strlen(provider);
	for (size_t i = 0; i < PROVIDER_TWINS; i++)
		if (strncmp(twins[i][0], provider, n) == 0 && twins[i][0][n] == '.')
			return field_str(c, config_find_key(twins[i][0]));
	return NULL;
}

int config_secret_files(struct config *c,
			int (*read)(const char *file_key, const char *path, char **ret))
{
	for (size_t i = 0; i < TWINS; i++) {
		char **value = field_str(c, config_find_key(twins[i][0]));
		char **file = field_str(c, config_find_key(twins[i][1]));
		if (*value || !*file)
			continue;
		int r = read(twins[i][1], *file, value);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool worker_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

int config_list_split(const char *list, char ***ret, size_t *n, char *err, size_t err_size)
{
	static const char blank[] = " \t";
	size_t len = strlen(list), slots = 1;
	for (const char *p = list; *p; p++)
		slots += *p == ',';
	/* The pointers, then a copy of the list cut into names in place. */
	char **names = malloc((slots + 1) * sizeof(*names) + len + 1);
	if (!names)
		return HQ_E_NOMEM;
	char *copy = (char *)(names + slots + 1);
	memcpy(copy, list, len + 1);
	size_t count = 0;
	bool empty_list = copy[strspn(copy, blank)] == '\0';
	for (char *tok = copy; !empty_list && tok;) {
		char *comma = strchr(tok, ',');
		if (comma)
			*comma = '\0';
		tok += strspn(tok, blank);
		size_t tlen = strlen(tok);
		while (tlen && (tok[tlen - 1] == ' ' || tok[tlen - 1] == '\t'))
			tok[--tlen] = '\0';
		if (tlen == 0) {
			snprintf(err, err_size,
				 "empty worker name (two commas in a row, or one at an end)");
			goto out_free_names;
		}
		if (!worker_name_valid(tok, tlen)) {
			snprintf(err, err_size,
				 "worker name '%.64s' must be 1-64 letters, digits, '.', '-' or '_' "
				 "(names are separated by commas)",
				 tok);
			goto out_free_names;
		}
		for (size_t i = 0; i < count; i++) {
			if (strcmp(names[i], tok) == 0) {
				snprintf(err, err_size, "duplicate worker '%s'", tok);
				goto out_free_names;
			}
		}
		if (count == CONFIG_LIST_MAX) {
			snprintf(err, err_size, "more than %d workers", CONFIG_LIST_MAX);
			goto out_free_names;
		}
		names[count++] = tok;
		tok = comma ? comma + 1 : NULL;
	}
	names[count] = NULL;
	*ret = names;
	*n = count;
	return 0;

out_free_names:
	free(names);
	return HQ_E_CONFIG;
}
