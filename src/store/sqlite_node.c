/* SQLite backend, nodes: heartbeats and the rescue of a dead node's work.
 * One node is the usual case here; the rescue then takes up the work of
 * a previous process that was killed, as soon as its heartbeat is late. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite.h"
#include "util/error.h"

/* Runs sql on the writer (open under the caller's lock) with text and
 * integer parameters: texts first (?1, ?2, ...), then integers.
 * *changed (may be NULL) gets the rows it changed. */
static int node_run(struct sqlite_store *s, const char *sql, const char *const *texts,
		    int n_texts, const int64_t *ints, int n_ints, const char *what, int *changed,
		    struct store_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->writer, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		for (int i = 0; i < n_texts; i++)
			sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_STATIC);
		for (int i = 0; i < n_ints; i++)
			sqlite3_bind_int64(st, n_texts + i + 1, ints[i]);
		rc = sqlite3_step(st);
	}
	int r = rc == SQLITE_DONE ? 0 : sqlite_fail(s->writer, rc, what, err);
	if (r == 0 && changed)
		*changed = sqlite3_changes(s->writer);
	sqlite3_finalize(st);
	return r;
}

static int sqlite_node_beat(struct store *base, const struct store_node *n, int64_t now_ms,
			    bool *was_rescued, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite_background_lock(s);
	int r = sqlite_exec(s->writer, "BEGIN IMMEDIATE", err);
	sqlite3_stmt *st = NULL;
	if (r == 0) {
		int rc = sqlite3_prepare_v2(s->writer, "SELECT ended_by FROM nodes WHERE id = ?1",
					    -1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, n->id, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
		}
		if (rc == SQLITE_ROW) {
			const char *by = (const char *)sqlite3_column_text(st, 0);
			*was_rescued = by && strcmp(by, n->id) != 0;
		} else if (rc != SQLITE_DONE) {
			r = sqlite_fail(s->writer, rc, "reading this node", err);
		}
		sqlite3_finalize(st);
	}
	const char *texts[] = { n->id, n->host, n->version };
	const int64_t ints[] = { n->pid, now_ms };
	if (r == 0)
		r = node_run(s,
			     "INSERT INTO nodes (id, host, version, pid, started_at, heartbeat_at)"
			     " VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (id) DO UPDATE"
			     " SET heartbeat_at = excluded.heartbeat_at, ended_at = NULL,"
			     " ended_by = NULL",
			     texts, 3, ints, 2, "recording this node's heartbeat", NULL, err);
	if (r == 0)
		r = sqlite_exec(s->writer, "COMMIT", err);
	if (r < 0)
		sqlite_exec(s->writer, "ROLLBACK", NULL);
	sqlite_background_unlock(s);
	return r;
}

static int sqlite_node_stop(struct store *base, const char *id, int64_t now_ms,
			    struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite_background_lock(s);
	const char *texts[] = { id };
	int r = node_run(s, "UPDATE nodes SET ended_at = ?2, ended_by = ?1 WHERE id = ?1", texts,
			 1, &now_ms, 1, "recording this node's stop", NULL, err);
	sqlite_background_unlock(s);
	return r;
}

/* The statements of one node's rescue: ?1 the dead node, ?2 `by`, ?3 now. */
static const char *const rescue_sql[] = {
	"UPDATE events SET lease_expires_at = ?3 WHERE status = 'processing'"
	" AND lease_expires_at > ?3 AND " STORE_RESCUE_OWNED("?1"),
	"UPDATE tasks SET lease_expires_at = ?3 WHERE status = 'running' AND lease_owner = ?1"
	" AND lease_expires_at > ?3",
	"UPDATE outbox SET lease_expires_at = ?3 WHERE status = 'sending'"
	" AND lease_expires_at > ?3 AND " STORE_RESCUE_OWNED("?1"),
	"DELETE FROM claims WHERE node = ?1",
	"UPDATE nodes SET ended_at = ?3, ended_by = ?2 WHERE id = ?1 AND ended_at IS NULL",
};

static int sqlite_nodes_rescue(struct store *base, const char *by, int64_t now_ms,
			       int64_t timeout_ms, char ***ids, size_t *n, struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	char **dead = NULL;
	size_t n_dead = 0;
	sqlite_background_lock(s);
	int r = sqlite_exec(s->writer, "BEGIN IMMEDIATE", err);
	sqlite3_stmt *st = NULL;
	if (r == 0) {
		int rc = sqlite3_prepare_v2(s->writer,
					    "SELECT id FROM nodes WHERE ended_at IS NULL"
					    " AND heartbeat_at < ?1 AND id <> ?2 ORDER BY id",
					    -1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, now_ms - timeout_ms);
			sqlite3_bind_text(st, 2, by, -1, SQLITE_STATIC);
		}
		while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			char **grown = realloc(dead, (n_dead + 1) * sizeof(*dead));
			char *id = grown ? column_dup(st, 0) : NULL;
			if (grown)
				dead = grown;
			if (!id) {
				r = HQ_E_NOMEM;
				break;
			}
			dead[n_dead++] = id;
			rc = SQLITE_OK;
		}
		if (r == 0 && rc != SQLITE_DONE)
			r = sqlite_fail(s->writer, rc, "finding dead nodes", err);
		sqlite3_finalize(st);
	}
	for (size_t i = 0; r == 0 && i < n_dead; i++) {
		const char *texts[] = { dead[i], by };
		for (size_t j = 0; r == 0 && j < sizeof(rescue_sql) / sizeof(*rescue_sql); j++)
			r = node_run(s, rescue_sql[j], texts, 2, &now_ms, 1,
				     "rescuing a dead node's work", NULL, err);
	}
	const int64_t forget = now_ms - STORE_NODE_RETENTION_MS;
	if (r == 0)
		r = node_run(s, "DELETE FROM nodes WHERE ended_at < ?1", NULL, 0, &forget, 1,
			     "forgetting old nodes", NULL, err);
	if (r == 0)
		r = sqlite_exec(s->writer, "COMMIT", err);
	if (r < 0)
		sqlite_exec(s->writer, "ROLLBACK", NULL);
	sqlite_background_unlock(s);
	if (r < 0 || !ids) {
		store_strings_release(dead, n_dead);
		dead = NULL;
	}
	if (ids)
		*ids = dead;
	*n = r == 0 ? n_dead : 0;
	return r;
}

static int sqlite_nodes_list(struct store *base, struct store_node **ret, size_t *n,
			     struct store_error *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->read_lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->reader, "SELECT " STORE_NODE_COLUMNS " FROM nodes"
					       " ORDER BY started_at, id",
				    -1, &st, NULL);
	struct store_node *v = NULL;
	size_t count = 0;
	int r = 0;
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_node *grown = realloc(v, (count + 1) * sizeof(*v));
		if (!grown) {
			r = HQ_E_NOMEM;
			break;
		}
		v = grown;
		struct store_node *x = &v[count++];
		bool nomem = false;
		memset(x, 0, sizeof(*x));
		x->id = column_dup(st, 0);
		x->host = column_dup(st, 1);
		x->version = column_dup(st, 2);
		x->pid = sqlite3_column_int64(st, 3);
		x->started_at_ms = sqlite3_column_int64(st, 4);
		x->heartbeat_at_ms = sqlite3_column_int64(st, 5);
		x->ended_at_ms = sqlite3_column_int64(st, 6);
		x->ended_by = column_dup_opt(st, 7, &nomem);
		if (nomem || !x->id || !x->host || !x->version) {
			r = HQ_E_NOMEM;
			break;
		}
		rc = SQLITE_OK;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_fail(s->reader, rc, "listing nodes", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->read_lock);
	if (r < 0) {
		store_nodes_release(v, count);
		return r;
	}
	*ret = v;
	*n = count;
	return 0;
}

const struct store_node_ops sqlite_node_ops = {
	.beat = sqlite_node_beat,
	.stop = sqlite_node_stop,
	.rescue = sqlite_nodes_rescue,
	.list = sqlite_nodes_list,
};
