/* config: hookq's settings, their defaults, and how each is set.
 * One table names every option with its YAML key, environment variable
 * and flag; precedence is flags > environment > YAML file > defaults.
 * Pure: the YAML text and the environment come in as arguments. */
#ifndef HOOKQ_CORE_CONFIG_H
#define HOOKQ_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum config_sync { CONFIG_SYNC_OFF, CONFIG_SYNC_NORMAL, CONFIG_SYNC_FULL, CONFIG_SYNC_EXTRA };
/* Where events come from: bits of config_sources(). */
enum config_source { CONFIG_SOURCE_WEBHOOK = 1, CONFIG_SOURCE_SQS = 2 };
enum config_compression { CONFIG_COMPRESSION_ZSTD, CONFIG_COMPRESSION_NONE };
enum config_log_format { CONFIG_LOG_KV, CONFIG_LOG_JSON };
enum config_log_level { CONFIG_LOG_DEBUG, CONFIG_LOG_INFO, CONFIG_LOG_WARN, CONFIG_LOG_ERROR };
enum config_algorithm { CONFIG_ALG_SHA1, CONFIG_ALG_SHA256, CONFIG_ALG_SHA512 };
enum config_encoding { CONFIG_ENC_HEX, CONFIG_ENC_BASE64 };
enum config_comment { CONFIG_COMMENT_ALWAYS, CONFIG_COMMENT_ON_FAILURE, CONFIG_COMMENT_NEVER };

#define CONFIG_MAX_SECRETS 24
#define CONFIG_MAX_OPTIONS 128
#define CONFIG_LIST_MAX 64 /* names in a list option (pool.workers) */

/* Where a setting came from, in rising precedence. */
enum config_origin { CONFIG_ORIGIN_DEFAULT, CONFIG_ORIGIN_FILE, CONFIG_ORIGIN_ENV, CONFIG_ORIGIN_FLAG };

struct config {
	/* server */
	char *host;
	uint16_t port;
	uint64_t max_body;
	uint64_t max_connections;
	uint64_t connection_timeout_ms;
	uint64_t threads;
	uint64_t max_pending_bytes;
	uint64_t max_header_size;
	/* store */
	char *db;
	int synchronous; /* enum config_sync */
	uint64_t busy_timeout_ms;
	uint64_t node_timeout_ms;
	uint64_t commit_batch;
	int compression; /* enum config_compression */
	/* processing */
	bool processor_enabled;
	uint64_t processor_batch;
	uint64_t processor_concurrency;
	uint64_t lease_ms;
	uint64_t poll_ms;
	uint64_t max_attempts;
	uint64_t backoff_base_ms;
	uint64_t backoff_cap_ms;
	uint64_t retention_ms;
	uint64_t fail_first_attempts;
	/* pool: the named workers that run agents */
	char *pool_workers;    /* comma-separated names: see config_list_split */
	char *pool_ci_workers; /* NULL or empty: test tasks use pool_workers */
	uint64_t pool_claim_ttl_ms; /* 0: no claims */
	bool pool_single_queue;
	/* tasks */
	uint64_t task_lease_ms;
	uint64_t task_shutdown_grace_ms;
	bool task_files;
	char *task_files_dir; /* as written: the caller expands a leading ~ with HOME */
	/* workspaces: checkouts for agents with workspace: true */
	char *workspace_root;
	char *workspace_git_base;
	uint64_t workspace_timeout_ms;
	char *github_token, *github_token_file;
	/* replies */
	int reply_comment; /* enum config_comment */
	char *reply_template; /* NULL: the built-in comment */
	bool reply_reactions;
	uint64_t reply_output_max;
	uint64_t outbox_senders, outbox_max_attempts, outbox_timeout_ms;
	char *github_api_url, *github_app_id, *github_app_key, *github_app_key_file;
	uint64_t github_app_installation_id;
	char *slack_bot_token, *slack_bot_token_file, *slack_api_url, *slack_response_prefix;
	char *jira_base_url, *jira_email, *jira_api_token, *jira_api_token_file;
	char *test_agent;     /* NULL or empty: the first agent defined */
	/* secrets and credentials */
	char *github_secret;
	char *github_secret_file;
	char *gitlab_secret, *gitlab_secret_file;
	char *slack_secret, *slack_secret_file;
	char *sentry_secret, *sentry_secret_file;
	char *jira_secret, *jira_secret_file;
	char *linear_secret, *linear_secret_file;
	char *stripe_secret, *stripe_secret_file;
	char *standard_secret, *standard_secret_file;
	char *generic_secret, *generic_secret_file;
	/* providers */
	uint64_t timestamp_tolerance_ms;
	uint64_t linear_tolerance_ms;
	char *slack_ack_text;
	char *generic_signature_header;
	int generic_algorithm; /* enum config_algorithm */
	int generic_encoding;  /* enum config_encoding */
	char *generic_signature_prefix;
	char *generic_token_header;
	char *generic_delivery_header, *generic_delivery_json;
	char *generic_event_header, *generic_event_json;
	/* authorization */
	char *allowed_orgs, *allowed_users, *trigger_users, *mentioned_user, *bot_login;
	char *admin_username;
	char *admin_password;
	char *admin_password_file;
	/* mode and logging */
	bool dev;
	char *task_source; /* "webhook", "sqs", "webhook,sqs": see config_sources */
	/* SQS */
	char *sqs_queue_url, *sqs_dlq_url, *sqs_output_url, *sqs_region, *sqs_endpoint;
	char *aws_endpoint, *sqs_provider;
	uint64_t sqs_wait_s, sqs_pollers, sqs_visibility_ms;
	bool sqs_verify;
	int log_format;	 /* enum config_log_format */
	int log_level;	 /* enum config_log_level */

	/* Secrets read from the YAML file, by option index, with where they
	 * were ("hookq.yaml:4:11: github.secret") so validation can name them;
	 * cleared when the environment or a flag sets the same option. */
	char inline_secret_at[CONFIG_MAX_SECRETS][400];
	int inline_secret_opt[CONFIG_MAX_SECRETS];
	/* enum config_origin of each option, by index in config_options. */
	unsigned char origin[CONFIG_MAX_OPTIONS];
};

#define CONFIG_ERROR_MAX 512
struct config_error {
	char msg[CONFIG_ERROR_MAX];
};

enum config_type {
	CONFIG_STRING,
	CONFIG_SECRET,
	CONFIG_PATH,
	CONFIG_PORT,
	CONFIG_SIZE,
	CONFIG_DURATION,
	CONFIG_COUNT,
	CONFIG_BOOL,
	CONFIG_ENUM,
	CONFIG_LIST, /* comma-separated names, checked when set (config_list_split) */
};

struct config_option {
	const char *key;  /* YAML path: "server.port" */
	const char *env;  /* environment variable, or NULL */
	const char *flag; /* long flag without dashes, or NULL */
	enum config_type type;
	size_t offset;
	uint64_t min, max;	     /* COUNT, SIZE, DURATION bounds */
	const char *const *choices; /* ENUM names, NULL-terminated */
	const char *def;	     /* default, as text; NULL for none */
	const char *help;
};

/* The option table, terminated by an entry whose key is NULL. */
extern const struct config_option config_options[];

const struct config_option *config_find_key(const char *key);
const struct config_option *config_find_flag(const char *flag);

/* Fills c with the defaults; config_release frees what c owns (and wipes
 * secrets). */
void config_init(struct config *c);
void config_release(struct config *c);

/* Sets one option from text; where names the source for errors
 * ("--port", "WEBHOOK_PORT", "hookq.yaml:3:9"). A secret and its *_file
 * twin are one setting: setting either from a source of higher precedence
 * than the other's drops the other. */
int config_set(struct config *c, const struct config_option *o, const char *value,
	       enum config_origin origin, const char *where, struct config_error *err);

/* Applies a YAML document (a mapping of sections to mappings of scalars). */
int config_load_yaml(struct config *c, const char *text, size_t len,
		     const char *filename, struct config_error *err);

/* Applies every option whose environment variable lookup() finds set to
 * a non-empty value (an empty variable counts as unset, as env files
 * write "DEV_MODE="). */
typedef const char *(*config_lookup_fn)(void *ctx, const char *name);
int config_load_env(struct config *c, config_lookup_fn lookup, void *ctx,
		    struct config_error *err);

/* Checks the combination of settings: production mode needs a webhook
 * secret and an admin password, and refuses inline secrets. */
int config_validate(const struct config *c, struct config_error *err);

/* The webhook secret of a provider ("github", "slack", ...) as loaded,
 * or NULL when none is set (its *_file twin is read by the caller into
 * the same place: see config_secret_files). */
char **config_provider_secret(struct config *c, const char *provider);

/* For each secret whose value is unset but whose *_file twin is set,
 * calls read(key of the file option, path, &value) to fill it. Stops at
 * the first failure and returns it. */
int config_secret_files(struct config *c,
			int (*read)(const char *file_key, const char *path, char **ret));

/* Splits a comma-separated list of worker names ("harry, ron,hermione";
 * spaces and tabs around commas are ignored). Each name is 1-64 letters,
 * digits, '.', '-' or '_', none twice, at most CONFIG_LIST_MAX of them; an
 * empty or blank list gives *n = 0. *ret is a NULL-terminated array in one
 * allocation: free() it. HQ_E_CONFIG with the reason in err ("duplicate
 * worker 'harry'"), HQ_E_NOMEM; *ret and *n are written only on success. */
int config_list_split(const char *list, char ***ret, size_t *n, char *err, size_t err_size);

/* The sources TASK_SOURCE names, as bits of enum config_source
 * ("webhook" or its old name "http", "sqs", comma-separated). */
int config_sources(const struct config *c, unsigned *ret, struct config_error *err);

/* Text of an enum option's current value. */
const char *config_enum_name(const struct config_option *o, int value);

#endif
