#include "engine/workspace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "engine/runner.h"
#include "util/error.h"
#include "util/file.h"

#define REPOSITORY_MAX 200
#define REF_MAX 255
#define WORKER_MAX 64
/* From SIGTERM to SIGKILL when a git command times out. */
#define KILL_GRACE_MS 2000
/* The clone's temporary name is the final one with this around it:
 * ".<name>.clone-XXXXXX". A repository segment never starts with '.', so
 * it can never be a checkout's name. */
#define CLONE_SUFFIX ".clone-"
#define CLONE_TEMP_EXTRA (1 + sizeof(CLONE_SUFFIX) - 1 + 6)

/* A fixed string of hookq's, run by git with sh: it hands git the token
 * from the environment, so the token is never in argv, the URL or the
 * repository's config. No payload text ever goes in it. It is scoped to
 * git_base ("credential.https://github.com.helper"): a checkout whose
 * config an agent rewrote (url.*.insteadOf, another remote) sends it to no
 * other host. The empty credential.helper before it clears every helper
 * configured before (the user's, or one an agent added to the checkout:
 * helpers are also told the password once it worked). */
static const char helper_reset[] = "credential.helper=";
static const char helper_body[] =
	"helper=!f() { echo username=x-access-token; echo password=\"$HOOKQ_GIT_TOKEN\"; }; f";
/* An agent can write its checkout's .git: hooks, fsmonitor and the ext
 * transport would run its commands in the git processes hookq starts
 * there. */
static const char no_hooks[] = "core.hooksPath=/dev/null";
static const char no_fsmonitor[] = "core.fsmonitor=false";
static const char no_ext[] = "protocol.ext.allow=never";

static bool name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

bool workspace_worker_valid(const char *worker)
{
	if (!worker)
		return false;
	size_t n = strlen(worker);
	if (n == 0 || n > WORKER_MAX || strcmp(worker, ".") == 0 || strcmp(worker, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(worker[i]))
			return false;
	return true;
}

bool workspace_repository_valid(const char *repository)
{
	if (!repository)
		return false;
	size_t n = strlen(repository);
	if (n == 0 || n > REPOSITORY_MAX || strstr(repository, ".."))
		return false;
	size_t segments = 0;
	const char *p = repository;
	for (;;) {
		/* Each segment: non-empty, no leading '.' (no "." or ".."
		 * path step, no hidden name) or '-' (never an option). */
		if (*p == '\0' || *p == '/' || *p == '.' || *p == '-')
			return false;
		while (*p && *p != '/') {
			if (!name_char(*p))
				return false;
			p++;
		}
		segments++;
		if (*p == '\0')
			break;
		p++;
	}
	return segments >= 2;
}

bool workspace_ref_valid(const char *ref)
{
	if (!ref)
		return false;
	size_t n = strlen(ref);
	/* Beyond the rules that keep a ref from being an option or a path
	 * trick, names git itself refuses (a component starting with '.', a
	 * trailing '.') are refused here, so that they fail once instead of
	 * being retried. */
	if (n == 0 || n > REF_MAX || ref[0] == '-' || ref[0] == '/' || ref[0] == '.' ||
	    ref[n - 1] == '/' || ref[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(ref[i]) && ref[i] != '/')
			return false;
	if (strstr(ref, "..") || strstr(ref, "//") || strstr(ref, "@{") || strstr(ref, "/."))
		return false;
	if (n >= 5 && strcmp(ref + n - 5, ".lock") == 0)
		return false;
	return true;
}

/* Copies untrusted text for a message: printable ASCII only, cut short. */
static void quote_safe(char *dst, size_t dst_size, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 4 < dst_size && i < 64; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	if (src && src[i] && i + 4 < dst_size) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
}

static char *concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);
	if (!s)
		return NULL;
	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

/* The environment of every git command. */
#define ENV_MAX 12
struct git_env {
	char *owned[ENV_MAX]; /* malloc'd entries; token_i is wiped on free */
	const char *envp[ENV_MAX];
	int token_i;
};

static void git_env_release(struct git_env *e)
{
	for (int i = 0; i < ENV_MAX; i++) {
		if (e->owned[i] && i == e->token_i)
			OPENSSL_cleanse(e->owned[i], strlen(e->owned[i]));
		free(e->owned[i]);
		e->owned[i] = NULL;
	}
}

static int git_env_init(struct git_env *e, const char *token, const char *protocols)
{
	memset(e, 0, sizeof(*e));
	e->token_i = -1;
	int n = 0;
	const char *path = getenv("PATH"), *home = getenv("HOME");
	if (path && !(e->envp[n] = e->owned[n] = concat("PATH=", path)))
		goto out_nomem;
	n += path != NULL;
	if (home && !(e->envp[n] = e->owned[n] = concat("HOME=", home)))
		goto out_nomem;
	n += home != NULL;
	/* Never wait for a password on a terminal or a GUI prompt: a task
	 * without credentials fails at once. LANG=C keeps git's messages
	 * stable for err. */
	e->envp[n++] = "GIT_TERMINAL_PROMPT=0";
	e->envp[n++] = "GIT_ASKPASS=";
	e->envp[n++] = "LANG=C";
	/* Only hookq's settings: not the system's or a (shared) home's, which
	 * an agent running as this user could have written. */
	e->envp[n++] = "GIT_CONFIG_NOSYSTEM=1";
	e->envp[n++] = "GIT_CONFIG_GLOBAL=/dev/null";
	/* Only git_base's transport: no ssh (and its sshCommand), no ext. */
	if (!(e->envp[n] = e->owned[n] = concat("GIT_ALLOW_PROTOCOL=", protocols)))
		goto out_nomem;
	n++;
	if (token) {
		if (!(e->envp[n] = e->owned[n] = concat("HOOKQ_GIT_TOKEN=", token)))
			goto out_nomem;
		e->token_i = n++;
	}
	e->envp[n] = NULL;
	return 0;
out_nomem:
	git_env_release(e);
	return HQ_E_NOMEM;
}

/* Copies git's output to a new string with every occurrence of token
 * replaced by "***" and control characters by spaces. When the output was
 * cut, its start may be the end of a token: that part is masked too. */
static char *scrub(const char *out, size_t len, bool cut, const char *token)
{
	size_t tl = token ? strlen(token) : 0;
	char *s = malloc(len * 3 + 4);
	if (!s)
		return NULL;
	size_t i = 0, w = 0;
	if (cut && tl > 1) {
		for (size_t k = tl - 1; k > 0; k--) {
			if (k <= len && memcmp(out, token + tl - k, k) == 0) {
				memcpy(s, "***", 3);
				w = 3;
				i = k;
				break;
			}
		}
	}
	while (i < len) {
		if (tl > 0 && len - i >= tl && memcmp(out + i, token, tl) == 0) {
			memcpy(s + w, "***", 3);
			w += 3;
			i += tl;
			continue;
		}
		unsigned char c = (unsigned char)out[i++];
		s[w++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	while (w > 0 && s[w - 1] == ' ')
		w--;
	s[w] = '\0';
	return s;
}

/* Writes "<step> failed (<how>): <end of output>" to err. */
static void git_failure(char *err, size_t err_size, const char *step, const char *how,
			const struct runner_result *res, const char *token)
{
	if (!err || err_size == 0)
		return;
	char *text = scrub(res->output, res->output_len, res->output_truncated, token);
	hq_set_err(err, err_size, "%s failed (%s)%s", step, how, text && *text ? ": " : "");
	size_t used = strlen(err);
	if (!text || !*text || used + 1 >= err_size) {
		free(text);
		return;
	}
	/* The end of git's output says why it failed ("fatal: ..."): keep
	 * the end when it does not all fit, from a UTF-8 boundary. */
	const char *t = text;
	size_t tl = strlen(text), room = err_size - used - 1;
	if (tl > room && room > 3) {
		t = text + tl - (room - 3);
		while (((unsigned char)*t & 0xC0) == 0x80)
			t++;
		memcpy(err + used, "...", 3);
		used += 3;
	} else if (tl > room) {
		t = text + tl; /* no room for anything useful */
	}
	snprintf(err + used, err_size - used, "%s", t);
	free(text);
}

struct prep {
	const struct workspace_options *o;
	const char *token; /* NULL when none */
	struct git_env env;   /* with the token: clone and fetch */
	struct git_env plain; /* without: checkout and clean */
	char url[PATH_MAX + REPOSITORY_MAX + 8];
	char helper[PATH_MAX + sizeof(helper_body) + 16];
	char *err;
	size_t err_size;
};

/* Runs one git command (with the token in its environment only when it
 * talks to the remote); step names it in err. */
static int run_git(struct prep *p, const char *step, const char *const *argv, bool remote)
{
	struct runner_spec spec;
	memset(&spec, 0, sizeof(spec));
	spec.argv = argv;
	spec.envp = remote ? p->env.envp : p->plain.envp;
	spec.output_max = WORKSPACE_OUTPUT_MAX;
	spec.timeout_ms = p->o->timeout_ms;
	spec.kill_grace_ms = KILL_GRACE_MS;
	struct runner *r = NULL;
	char rerr[256];
	int rc = runner_start(&spec, &r, rerr, sizeof(rerr));
	if (rc < 0) {
		hq_set_err(p->err, p->err_size, "%s: %s", step, rerr);
		return rc == HQ_E_NOMEM ? HQ_E_NOMEM : HQ_E_RETRY;
	}
	/* The caller may end it (a cancel, a shutdown) while it runs. */
	if (p->o->on_git)
		p->o->on_git(p->o->on_git_ctx, r);
	struct runner_result res;
	rc = runner_wait(r, &res);
	if (p->o->on_git)
		p->o->on_git(p->o->on_git_ctx, NULL);
	runner_free(r);
	if (rc < 0) {
		hq_set_err(p->err, p->err_size, "%s: cannot supervise git: %s", step,
			   hq_strerror(rc));
		return HQ_E_RETRY;
	}
	if (res.end == RUNNER_EXITED && res.exit_code == 0) {
		rc = 0;
		goto out;
	}
	char how[64];
	if (res.end == RUNNER_EXITED)
		snprintf(how, sizeof(how), "exit %d", res.exit_code);
	else if (res.end == RUNNER_TIMED_OUT)
		snprintf(how, sizeof(how), "timed out after %llu ms",
			 (unsigned long long)p->o->timeout_ms);
	else
		snprintf(how, sizeof(how), "signal %d", res.signal);
	git_failure(p->err, p->err_size, step, how, &res, p->token);
	rc = HQ_E_RETRY;
out:
	/* Git does not print the password, but the output is wiped anyway
	 * in case something did. */
	if (p->token && res.output)
		OPENSSL_cleanse(res.output, res.output_len);
	runner_result_release(&res);
	return rc;
}

/* Every step from start on in path must be a real directory, not a
 * symlink: with nested repositories ("group/sub" and "group/sub/app") a
 * checkout's content sits on the way to another checkout, and a symlink
 * there must not carry git outside the root. */
static int check_no_symlinks(char *path, size_t start)
{
	struct stat st;
	for (char *p = path + start + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = lstat(path, &st);
		*p = '/';
		if (rc < 0)
			return -1;
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return -1;
		}
	}
	if (lstat(path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf without following symlinks. */
static int remove_tree(const char *path)
{
	return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Removes what a killed clone left in parent: temporary names of this
 * checkout are ours alone, since one prepare at a time uses it. */
static void remove_stale_clones(const char *parent, const char *name)
{
	DIR *d = opendir(parent);
	if (!d)
		return;
	size_t nl = strlen(name);
	char full[PATH_MAX];
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *s = de->d_name;
		if (s[0] != '.' || strncmp(s + 1, name, nl) != 0 ||
		    strncmp(s + 1 + nl, CLONE_SUFFIX, sizeof(CLONE_SUFFIX) - 1) != 0 ||
		    strlen(s + 1 + nl + sizeof(CLONE_SUFFIX) - 1) != 6)
			continue;
		int n = snprintf(full, sizeof(full), "%s/%s", parent, s);
		if (n > 0 && (size_t)n < sizeof(full))
			remove_tree(full);
	}
	closedir(d);
}

static int clone_into(struct prep *p, const char *dir, const char *parent, const char *name,
		      const char *repository)
{
	const char *git = p->o->git ? p->o->git : "git";
	const char *url = p->url;
	int n;
	char tmp[PATH_MAX];
	n = snprintf(tmp, sizeof(tmp), "%s/.%s" CLONE_SUFFIX "XXXXXX", parent, name);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return HQ_E_TOOBIG; /* checked by the caller */
	if (!mkdtemp(tmp)) {
		hq_set_err(p->err, p->err_size, "cannot create '%s': %s", tmp, strerror(errno));
		return HQ_E_IO;
	}
	/* Into a temporary name, renamed once complete: a killed clone never
	 * leaves a directory that looks like a checkout. */
	char step[REPOSITORY_MAX + 32];
	snprintf(step, sizeof(step), "git clone of '%s'", repository);
	const char *const argv[] = { git,	   "-c",	  helper_reset,	 "-c", p->helper,
				     "-c",	   no_hooks,	  "-c",		 no_fsmonitor,
				     "-c",	   no_ext,	  "clone",	 "--no-checkout",
				     "--origin", "origin",	  "--",		 url,
				     tmp,	   NULL };
	int rc = run_git(p, step, argv, true);
	if (rc == 0 && rename(tmp, dir) < 0) {
		hq_set_err(p->err, p->err_size, "cannot rename '%s' to '%s': %s", tmp, dir,
			   strerror(errno));
		rc = HQ_E_IO;
	}
	if (rc < 0)
		remove_tree(tmp);
	return rc;
}

/* Writes the checkout's .git/config afresh (temp file, rename over it)
 * and drops .git/info/attributes: nothing an agent wrote there reaches the
 * git commands hookq runs. */
static int reset_config(struct prep *p, const char *dir)
{
	if (strpbrk(p->url, "\"\n\r\\")) {
		hq_set_err(p->err, p->err_size, "git base '%s' cannot be written to a git config",
			   p->o->git_base);
		return HQ_E_INVAL;
	}
	char tmp[PATH_MAX + 32], cfg[PATH_MAX + 16], attrs[PATH_MAX + 32];
	int n1 = snprintf(tmp, sizeof(tmp), "%s/.git/config.hookq-XXXXXX", dir);
	int n2 = snprintf(cfg, sizeof(cfg), "%s/.git/config", dir);
	int n3 = snprintf(attrs, sizeof(attrs), "%s/.git/info/attributes", dir);
	if (n1 < 0 || (size_t)n1 >= sizeof(tmp) || n2 < 0 || (size_t)n2 >= sizeof(cfg) || n3 < 0 ||
	    (size_t)n3 >= sizeof(attrs))
		return HQ_E_TOOBIG;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		hq_set_err(p->err, p->err_size, "cannot write '%s': %s", tmp, strerror(errno));
		return HQ_E_IO;
	}
	char text[PATH_MAX + 512];
	int len = snprintf(text, sizeof(text),
			   "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n"
			   "\tbare = false\n\tlogallrefupdates = true\n"
			   "[remote \"origin\"]\n\turl = %s\n"
			   "\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
			   p->url);
	bool ok = len > 0 && (size_t)len < sizeof(text) &&
		  write(fd, text, (size_t)len) == (ssize_t)len;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, cfg) < 0) {
		hq_set_err(p->err, p->err_size, "cannot write '%s': %s", cfg, strerror(errno));
		unlink(tmp);
		return HQ_E_IO;
	}
	if (unlink(attrs) < 0 && errno != ENOENT) {
		hq_set_err(p->err, p->err_size, "cannot remove '%s': %s", attrs, strerror(errno));
		return HQ_E_IO;
	}
	return 0;
}

static int update(struct prep *p, const char *dir, const char *ref)
{
	const char *git = p->o->git ? p->o->git : "git";
	char step[REF_MAX + 32];
	snprintf(step, sizeof(step), "git fetch of '%s'", ref ? ref : "HEAD");
	/* From hookq's own URL, not the checkout's "origin" (an agent can
	 * point that anywhere). */
	const char *const fetch[] = { git,	    "-C",	dir,	      "-c", helper_reset,
				      "-c",	    p->helper,	"-c",	      no_hooks,
				      "-c",	    no_fsmonitor, "-c",	      no_ext,
				      "fetch",	    "--no-tags", "--",	      p->url,
				      ref ? ref : "HEAD", NULL };
	int rc = run_git(p, step, fetch, true);
	if (rc < 0)
		return rc;
	const char *const checkout[] = { git,	      "-C",	   dir,		 "-c",
					 no_hooks,    "-c",	   no_fsmonitor, "checkout",
					 "--force", "--detach", "FETCH_HEAD", NULL };
	rc = run_git(p, "git checkout", checkout, false);
	if (rc < 0)
		return rc;
	/* -ff also removes untracked nested repositories; without -x,
	 * ignored files such as build caches stay warm. */
	const char *const clean[] = { git,	    "-C", dir,	  "-c", no_hooks, "-c",
				      no_fsmonitor, "clean", "-ffd", NULL };
	return run_git(p, "git clean", clean, false);
}

int workspace_prepare(const struct workspace_options *o, const char *worker,
		      const char *repository, const char *ref, char *path, size_t path_size,
		      char *err, size_t err_size)
{
	if (err && err_size > 0)
		err[0] = '\0';
	char q[80];
	if (!o || !o->root || !*o->root || !o->git_base || !*o->git_base || !path) {
		hq_set_err(err, err_size, "workspace options are incomplete");
		return HQ_E_INVAL;
	}
	if (!workspace_worker_valid(worker)) {
		quote_safe(q, sizeof(q), worker);
		hq_set_err(err, err_size, "unsafe worker name '%s'", q);
		return HQ_E_INVAL;
	}
	if (!workspace_repository_valid(repository)) {
		quote_safe(q, sizeof(q), repository);
		hq_set_err(err, err_size, "unsafe repository name '%s'", q);
		return HQ_E_INVAL;
	}
	if (ref && !workspace_ref_valid(ref)) {
		quote_safe(q, sizeof(q), ref);
		hq_set_err(err, err_size, "unsafe ref '%s'", q);
		return HQ_E_INVAL;
	}

	size_t rl = strlen(o->root);
	while (rl > 0 && o->root[rl - 1] == '/')
		rl--; /* "/" becomes "", so the path starts "/<worker>" */
	char dir[PATH_MAX];
	int n = snprintf(dir, sizeof(dir), "%.*s/%s/%s", (int)rl, o->root, worker, repository);
	if (n < 0 || (size_t)n + CLONE_TEMP_EXTRA >= sizeof(dir) || (size_t)n >= path_size) {
		hq_set_err(err, err_size, "workspace path of '%s' under '%s' is too long",
			   repository, o->root);
		return HQ_E_TOOBIG;
	}
	char parent[PATH_MAX];
	memcpy(parent, dir, (size_t)n + 1);
	char *slash = strrchr(parent, '/');
	*slash = '\0';
	const char *name = slash + 1;
	/* root and the directories above it are the operator's and may be
	 * symlinks; from the worker's directory down, everything is ours. */
	if (file_mkdirs(parent) < 0 || check_no_symlinks(parent, rl) < 0) {
		hq_set_err(err, err_size, "cannot create workspace directory '%s': %s", parent,
			   strerror(errno));
		return HQ_E_IO;
	}

	struct prep p = { .o = o, .token = o->token && *o->token ? o->token : NULL,
			  .err = err, .err_size = err_size };
	size_t bl = strlen(o->git_base);
	while (bl > 0 && o->git_base[bl - 1] == '/')
		bl--;
	int un = snprintf(p.url, sizeof(p.url), "%.*s/%s.git", (int)bl, o->git_base, repository);
	int hn = snprintf(p.helper, sizeof(p.helper), "credential.%.*s.%s", (int)bl, o->git_base,
			  helper_body);
	if (un < 0 || (size_t)un >= sizeof(p.url) || hn < 0 || (size_t)hn >= sizeof(p.helper)) {
		hq_set_err(err, err_size, "git base '%s' is too long", o->git_base);
		return HQ_E_TOOBIG;
	}
	/* The transport git_base names, and file for the checkout itself. */
	const char *protocols = strncmp(o->git_base, "https://", 8) == 0 ? "https:file" :
				strncmp(o->git_base, "http://", 7) == 0	 ? "http:file" :
									   "file";
	int rc = git_env_init(&p.env, p.token, protocols);
	if (rc == 0 && (rc = git_env_init(&p.plain, NULL, protocols)) < 0)
		git_env_release(&p.env);
	if (rc < 0) {
		hq_set_err(err, err_size, "out of memory");
		return rc;
	}
	remove_stale_clones(parent, name);
	char git_dir[PATH_MAX + 8];
	snprintf(git_dir, sizeof(git_dir), "%s/.git", dir);
	struct stat st;
	if (lstat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode) || lstat(git_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			hq_set_err(err, err_size, "workspace '%s' exists but is not a git checkout",
				   dir);
			rc = HQ_E_IO;
			goto out;
		}
		/* A git command killed at its timeout leaves its lock behind,
		 * and every later checkout would fail on it. No other git
		 * runs here: one prepare at a time uses the checkout, and
		 * its agent starts only after. */
		char lock[PATH_MAX + 32];
		int ln = snprintf(lock, sizeof(lock), "%s/.git/index.lock", dir);
		if (ln > 0 && (size_t)ln < sizeof(lock))
			unlink(lock);
		/* The agent could write this checkout's .git: its config (an
		 * insteadOf to another host, an sshCommand, a filter driver, a
		 * proxy) would run in hookq's git. hookq writes it anew. */
		if ((rc = reset_config(&p, dir)) < 0)
			goto out;
	} else if (errno != ENOENT) {
		hq_set_err(err, err_size, "cannot inspect workspace '%s': %s", dir,
			   strerror(errno));
		rc = HQ_E_IO;
		goto out;
	} else {
		rc = clone_into(&p, dir, parent, name, repository);
		if (rc < 0)
			goto out;
	}
	rc = update(&p, dir, ref);
	if (rc == 0)
		memcpy(path, dir, (size_t)n + 1);
out:
	git_env_release(&p.env);
	git_env_release(&p.plain);
	return rc;
}
