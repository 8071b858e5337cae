/* workspace: gives an agent a checkout of its repository at the event's
 * ref, in a directory per worker (<root>/<worker>/<owner>/<repo>), so the
 * worker that holds a project's claim reuses a warm checkout. Git is
 * started through engine/runner with argv vectors, never a shell line; the
 * token reaches git only through a fixed credential helper that reads it
 * from the environment, never in argv, the remote URL, the repository's
 * config or err. */
#ifndef HOOKQ_ENGINE_WORKSPACE_H
#define HOOKQ_ENGINE_WORKSPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of each git command's output kept; err gets the end of it. */
#define WORKSPACE_OUTPUT_MAX 4096

struct runner;

struct workspace_options {
	const char *root;     /* directory of all workspaces (created 0700 if missing) */
	const char *git_base; /* "https://github.com" or "file:///srv/git": the remote
			       * is <git_base>/<owner>/<repo>.git */
	/* NULL or "": none. Given to git as the password of user
	 * x-access-token through a credential helper that reads it from the
	 * environment variable HOOKQ_GIT_TOKEN. */
	const char *token;
	uint64_t timeout_ms; /* per git command; 0: none */
	const char *git;     /* the git program; NULL: "git" from hookq's PATH */
	/* Told of each git process when it starts (and NULL when it ended),
	 * so a cancel or a shutdown can end it; NULL: not told. */
	void (*on_git)(void *ctx, struct runner *r);
	void *on_git_ctx;
};

/* Clones (first time) or fetches the repository, then checks out ref
 * detached, discarding local changes (checkout --force, clean -ffd:
 * untracked files go, ignored ones such as build caches stay). ref: a
 * branch or tag name, "refs/...", or a full commit sha; NULL: the remote's
 * default branch (HEAD). Writes the checkout's path to path.
 * HQ_E_INVAL for a worker, repository or ref that is not safe (nothing is
 * run), HQ_E_RETRY when git fails (err holds which step and the tail of
 * git's output, with any occurrence of the token replaced by ***),
 * HQ_E_IO for directory problems, HQ_E_TOOBIG when the path does not fit
 * PATH_MAX or path_size, HQ_E_NOMEM.
 * Callers must not prepare the same worker and repository from two threads
 * at once: the worker's claim on the project normally ensures that. */
int workspace_prepare(const struct workspace_options *o, const char *worker,
		      const char *repository, const char *ref, char *path, size_t path_size,
		      char *err, size_t err_size);

/* owner/name[/sub...]: segments of [A-Za-z0-9._-], none empty or starting
 * with '.' or '-' (so no ".."), at most 200 characters. */
bool workspace_repository_valid(const char *repository);
/* [A-Za-z0-9._/-]+, not starting with '-' or '/', no "..", "//" or "@{",
 * not ending with ".lock" or '/', at most 255 characters; like git, no
 * component starting with '.' and no trailing '.'. */
bool workspace_ref_valid(const char *ref);
/* [A-Za-z0-9._-]{1,64}, and not "." or "..", which would leave the root. */
bool workspace_worker_valid(const char *worker);

#endif
