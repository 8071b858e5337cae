#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "engine/taskfiles.h"
#include "store/store.h"
#include "util/error.h"

#define T0 1795395723456LL /* 2026-11-23T01:02:03.456Z */

struct fixture {
	char root[64];	 /* holds the database and the task directory */
	char db[128];
	char dir[128];	 /* the task directory */
	struct store *store;
	struct taskfiles *tf;
};

static const struct store_options opts = { STORE_SYNC_FULL, 5000 };
static const unsigned char token_hash[32] = { 1, 2, 3 };

static void remove_tree(const char *path)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", path, path);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->root, sizeof(f->root), "/tmp/hookq-taskfiles-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/t.db", f->root);
	snprintf(f->dir, sizeof(f->dir), "%s/claude/tasks", f->root);
	struct store_error err;
	if (store_open(f->db, &opts, &f->store, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	char msg[256];
	if (taskfiles_new(f->dir, &f->tf, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "%s\n", msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	taskfiles_free(f->tf);
	store_close(f->store);
	remove_tree(f->root);
	free(f);
	return 0;
}

static int64_t create(struct fixture *f, const char *origin, int64_t parent_id, const char *title,
		      int64_t now_ms)
{
	struct store_task_in in;
	memset(&in, 0, sizeof(in));
	in.origin = origin;
	in.parent_id = parent_id;
	if (!parent_id) {
		in.flow_id = "flow-0123456789ab";
		in.external_id = "github:o/r#12";
	}
	in.agent = "planning";
	in.title = title;
	in.prompt = "do it";
	struct store_error err;
	int r = store_create_tasks(f->store, &in, 1, now_ms, &err);
	if (r < 0)
		fail_msg("%s", err.msg);
	return in.id;
}

static void start(struct fixture *f, int64_t id, int64_t now_ms)
{
	struct store_task t;
	struct store_error err;
	int r = store_task_start(f->store, id, "harry", "node-1", "host-1", token_hash, now_ms,
				 60000, 0, &t, &err);
	if (r < 0)
		fail_msg("%s", err.msg);
	store_task_release(&t);
}

static void finish(struct fixture *f, int64_t id, const char *status, int exit_code,
		   int64_t now_ms)
{
	struct store_task_end end;
	memset(&end, 0, sizeof(end));
	end.status = status;
	end.has_exit_code = true;
	end.exit_code = exit_code;
	struct store_error err;
	struct store_task_detail d;
	if (store_get_task(f->store, id, &d, &err) < 0)
		fail_msg("%s", err.msg);
	int attempt = d.task.attempts;
	store_task_detail_release(&d);
	int r = store_task_finish(f->store, id, "node-1", "harry", attempt, &end, now_ms, 0, &err);
	if (r < 0)
		fail_msg("%s", err.msg);
}

static size_t sync_ok(struct fixture *f)
{
	size_t written = 12345;
	char err[512];
	int r = taskfiles_sync(f->tf, f->store, &written, err, sizeof(err));
	if (r < 0)
		fail_msg("%s", err);
	return written;
}

/* The parsed file of task id in dir; NULL when there is none. */
static json_t *load_in(const char *dir, int64_t id)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/hookq-task-%lld.json", dir, (long long)id);
	json_error_t jerr;
	return json_load_file(path, 0, &jerr);
}

static json_t *load(struct fixture *f, int64_t id)
{
	json_t *doc = load_in(f->dir, id);
	assert_non_null(doc);
	return doc;
}

static const char *str(json_t *doc, const char *path)
{
	const char *dot = strchr(path, '.');
	json_t *v = dot ? json_object_get(json_object_get(doc, "metadata"), dot + 1) :
			  json_object_get(doc, path);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

static json_t *meta(json_t *doc, const char *key)
{
	json_t *v = json_object_get(json_object_get(doc, "metadata"), key);
	assert_non_null(v);
	return v;
}

/* How many entries dir holds, and whether any is not a task file. */
static size_t entries(const char *dir, size_t *strays)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	*strays = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n++;
		size_t len = strlen(e->d_name);
		if (strncmp(e->d_name, "hookq-task-", 11) != 0 || len < 5 ||
		    strcmp(e->d_name + len - 5, ".json") != 0)
			(*strays)++;
	}
	closedir(d);
	return n;
}

static void a_new_task_gets_a_file_with_its_fields(void **state)
{
	struct fixture *f = *state;
	int64_t id = create(f, "o1", 0, "fix: Crash on empty config", T0);
	assert_int_equal(sync_ok(f), 1);

	json_t *doc = load(f, id);
	char want[64];
	snprintf(want, sizeof(want), "hookq-task-%lld", (long long)id);
	assert_string_equal(str(doc, "id"), want);
	assert_string_equal(str(doc, "title"), "fix: Crash on empty config");
	assert_string_equal(str(doc, "status"), "pending");
	assert_true(json_is_array(json_object_get(doc, "dependencies")));
	assert_int_equal(json_array_size(json_object_get(doc, "dependencies")), 0);
	snprintf(want, sizeof(want), "%lld", (long long)id);
	assert_string_equal(str(doc, "m.orchestration_task_id"), want);
	assert_string_equal(str(doc, "m.flow_id"), "flow-0123456789ab");
	assert_int_equal(strncmp(str(doc, "m.conversation_id"), "conv-", 5), 0);
	assert_string_equal(str(doc, "m.hookq_status"), "queued");
	assert_string_equal(str(doc, "m.agent"), "planning");
	assert_true(json_is_null(meta(doc, "worker")));
	assert_string_equal(str(doc, "m.external_id"), "github:o/r#12");
	assert_int_equal(json_integer_value(meta(doc, "attempts")), 0);
	assert_true(json_is_null(meta(doc, "exit_code")));
	assert_string_equal(str(doc, "m.updated_at"), "2026-11-23T01:02:03.456Z");
	json_decref(doc);

	struct stat st;
	char path[256];
	snprintf(path, sizeof(path), "%s/hookq-task-%lld.json", f->dir, (long long)id);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
}

static void keys_come_in_the_documented_order(void **state)
{
	struct fixture *f = *state;
	int64_t id = create(f, "o1", 0, "t", T0);
	assert_int_equal(sync_ok(f), 1);
	json_t *doc = load(f, id);
	const char *top[] = { "id", "title", "status", "dependencies", "metadata" };
	const char *in_meta[] = { "orchestration_task_id", "flow_id", "conversation_id",
				  "hookq_status", "agent", "worker", "external_id",
				  "attempts", "exit_code", "updated_at" };
	size_t i = 0;
	const char *key;
	json_t *v;
	json_object_foreach(doc, key, v)
	{
		assert_true(i < 5);
		assert_string_equal(key, top[i++]);
	}
	assert_int_equal(i, 5);
	i = 0;
	json_object_foreach(json_object_get(doc, "metadata"), key, v)
	{
		assert_true(i < 10);
		assert_string_equal(key, in_meta[i++]);
	}
	assert_int_equal(i, 10);
	json_decref(doc);
}

static void a_child_depends_on_its_parent(void **state)
{
	struct fixture *f = *state;
	int64_t parent = create(f, "o1", 0, "parent", T0);
	int64_t child = create(f, "o2", parent, "child", T0 + 1);
	assert_int_equal(sync_ok(f), 2);
	json_t *doc = load(f, child);
	json_t *deps = json_object_get(doc, "dependencies");
	assert_int_equal(json_array_size(deps), 1);
	char want[64];
	snprintf(want, sizeof(want), "hookq-task-%lld", (long long)parent);
	assert_string_equal(json_string_value(json_array_get(deps, 0)), want);
	/* The parent's flow wins. */
	assert_string_equal(str(doc, "m.flow_id"), "flow-0123456789ab");
	json_decref(doc);
}

static void a_status_change_rewrites_only_the_changed_task(void **state)
{
	struct fixture *f = *state;
	int64_t a = create(f, "o1", 0, "a", T0);
	int64_t b = create(f, "o2", 0, "b", T0);
	int64_t c = create(f, "o3", 0, "c", T0);
	assert_int_equal(sync_ok(f), 3);
	assert_int_equal(sync_ok(f), 0);

	start(f, b, T0 + 1000);
	assert_int_equal(sync_ok(f), 1);
	json_t *doc = load(f, b);
	assert_string_equal(str(doc, "status"), "in_progress");
	assert_string_equal(str(doc, "m.hookq_status"), "running");
	assert_string_equal(str(doc, "m.worker"), "harry");
	assert_int_equal(json_integer_value(meta(doc, "attempts")), 1);
	json_decref(doc);

	finish(f, b, "succeeded", 0, T0 + 2000);
	start(f, c, T0 + 2000);
	finish(f, c, "timed_out", 137, T0 + 3000);
	assert_int_equal(sync_ok(f), 2);
	doc = load(f, b);
	assert_string_equal(str(doc, "status"), "completed");
	assert_int_equal(json_integer_value(meta(doc, "exit_code")), 0);
	assert_string_equal(str(doc, "m.updated_at"), "2026-11-23T01:02:05.456Z");
	json_decref(doc);
	doc = load(f, c);
	assert_string_equal(str(doc, "status"), "failed");
	assert_string_equal(str(doc, "m.hookq_status"), "timed_out");
	assert_int_equal(json_integer_value(meta(doc, "exit_code")), 137);
	json_decref(doc);
	doc = load(f, a);
	assert_string_equal(str(doc, "status"), "pending");
	json_decref(doc);
	assert_int_equal(sync_ok(f), 0);
}

static void every_hookq_status_maps_to_a_claude_status(void **state)
{
	(void)state;
	const char *map[][2] = {
		{ "queued", "pending" },       { "running", "in_progress" },
		{ "succeeded", "completed" },  { "failed", "failed" },
		{ "timed_out", "failed" },     { "dead_letter", "failed" },
		{ "cancelled", "cancelled" },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		struct store_task t;
		memset(&t, 0, sizeof(t));
		t.id = 7;
		t.status = (char *)(uintptr_t)map[i][0];
		t.agent = (char *)(uintptr_t)"planning";
		t.title = (char *)(uintptr_t)"x";
		char *s = taskfiles_render(&t);
		assert_non_null(s);
		json_t *doc = json_loads(s, 0, NULL);
		assert_non_null(doc);
		assert_string_equal(str(doc, "status"), map[i][1]);
		assert_string_equal(str(doc, "m.hookq_status"), map[i][0]);
		json_decref(doc);
		free(s);
	}
}

static void no_temporary_files_are_left_behind(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 5; i++) {
		char origin[16];
		snprintf(origin, sizeof(origin), "o%d", i);
		create(f, origin, 0, "t", T0 + i);
	}
	assert_int_equal(sync_ok(f), 5);
	size_t strays;
	assert_int_equal(entries(f->dir, &strays), 5);
	assert_int_equal(strays, 0);
}

static void invalid_utf8_and_controls_in_a_title_still_make_valid_json(void **state)
{
	struct fixture *f = *state;
	/* a lone continuation, an overlong '/', a surrogate, a cut sequence,
	 * a byte that starts nothing; controls, quote, backslash; valid é and 😀 */
	const char *title = "a\x80 b\xC0\xAF c\xED\xA0\x80 d\xE2\x82 e\xFF"
			    " \x01\x1B[31m\t\"\\ \xC3\xA9\xF0\x9F\x98\x80";
	const char *want = "a\xEF\xBF\xBD b\xEF\xBF\xBD\xEF\xBF\xBD c\xEF\xBF\xBD\xEF\xBF\xBD"
			   "\xEF\xBF\xBD d\xEF\xBF\xBD e\xEF\xBF\xBD"
			   " \x01\x1B[31m\t\"\\ \xC3\xA9\xF0\x9F\x98\x80";
	int64_t id = create(f, "o1", 0, title, T0);
	assert_int_equal(sync_ok(f), 1);
	json_t *doc = load(f, id);
	assert_string_equal(str(doc, "title"), want);
	json_decref(doc);
}

/* Makes the task directory refuse new files. Root ignores mode bits, so
 * there the directory is swapped for a plain file instead. */
static void make_unwritable(struct fixture *f, bool *swapped)
{
	assert_int_equal(chmod(f->dir, 0500), 0);
	char probe[192];
	snprintf(probe, sizeof(probe), "%s/probe", f->dir);
	FILE *p = fopen(probe, "w");
	*swapped = p != NULL;
	if (!p)
		return;
	fclose(p);
	unlink(probe);
	char away[192];
	snprintf(away, sizeof(away), "%s.away", f->dir);
	assert_int_equal(chmod(f->dir, 0700), 0);
	assert_int_equal(rename(f->dir, away), 0);
	p = fopen(f->dir, "w");
	assert_non_null(p);
	fclose(p);
}

static void make_writable(struct fixture *f, bool swapped)
{
	if (swapped) {
		char away[192];
		snprintf(away, sizeof(away), "%s.away", f->dir);
		assert_int_equal(unlink(f->dir), 0);
		assert_int_equal(rename(away, f->dir), 0);
	}
	assert_int_equal(chmod(f->dir, 0700), 0);
}

static void an_unwritable_dir_fails_naming_the_file_and_the_next_call_catches_up(void **state)
{
	struct fixture *f = *state;
	int64_t a = create(f, "o1", 0, "a", T0);
	int64_t b = create(f, "o2", 0, "b", T0 + 1);
	assert_int_equal(sync_ok(f), 2);

	start(f, a, T0 + 1000);
	start(f, b, T0 + 1001);
	bool swapped;
	make_unwritable(f, &swapped);
	size_t written = 12345;
	char err[512] = "";
	assert_int_equal(taskfiles_sync(f->tf, f->store, &written, err, sizeof(err)), HQ_E_IO);
	assert_int_equal(written, 12345); /* untouched on failure */
	char want[256];
	snprintf(want, sizeof(want), "cannot write task file '%s/hookq-task-%lld.json': ", f->dir,
		 (long long)a);
	assert_int_equal(strncmp(err, want, strlen(want)), 0);

	make_writable(f, swapped);
	assert_int_equal(sync_ok(f), 2);
	json_t *doc = load(f, a);
	assert_string_equal(str(doc, "status"), "in_progress");
	json_decref(doc);
	doc = load(f, b);
	assert_string_equal(str(doc, "status"), "in_progress");
	json_decref(doc);
	size_t strays;
	assert_int_equal(entries(f->dir, &strays), 2);
	assert_int_equal(strays, 0);
	assert_int_equal(sync_ok(f), 0);
}

static void more_than_a_page_of_changes_is_written_in_one_call(void **state)
{
	struct fixture *f = *state;
	size_t n = TASKFILES_PAGE * 2 + 7;
	for (size_t i = 0; i < n; i++) {
		char origin[16];
		snprintf(origin, sizeof(origin), "o%zu", i);
		/* Several share a millisecond: the cursor's id breaks ties. */
		create(f, origin, 0, "t", T0 + (int64_t)(i / 3));
	}
	assert_int_equal(sync_ok(f), n);
	size_t strays;
	assert_int_equal(entries(f->dir, &strays), n);
	assert_int_equal(sync_ok(f), 0);
}

static void a_restart_rewrites_every_file_once(void **state)
{
	struct fixture *f = *state;
	create(f, "o1", 0, "a", T0);
	create(f, "o2", 0, "b", T0);
	assert_int_equal(sync_ok(f), 2);
	taskfiles_free(f->tf);
	f->tf = NULL;
	char err[256];
	assert_int_equal(taskfiles_new(f->dir, &f->tf, err, sizeof(err)), 0);
	assert_int_equal(sync_ok(f), 2);
	assert_int_equal(sync_ok(f), 0);
}

static void a_tilde_dir_is_under_home_and_created_with_its_parents(void **state)
{
	struct fixture *f = *state;
	char home[192], want[256];
	snprintf(home, sizeof(home), "%s/home", f->root);
	assert_int_equal(mkdir(home, 0700), 0);
	char *old = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	assert_int_equal(setenv("HOME", home, 1), 0);
	struct taskfiles *tf = NULL;
	char err[256];
	int r = taskfiles_new("~/x/y/", &tf, err, sizeof(err));
	if (old)
		setenv("HOME", old, 1);
	else
		unsetenv("HOME");
	free(old);
	assert_int_equal(r, 0);

	struct stat st;
	snprintf(want, sizeof(want), "%s/x", home);
	assert_int_equal(stat(want, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(want, sizeof(want), "%s/x/y", home);
	assert_int_equal(stat(want, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	int64_t id = create(f, "o1", 0, "t", T0);
	size_t written = 0;
	assert_int_equal(taskfiles_sync(tf, f->store, &written, err, sizeof(err)), 0);
	assert_int_equal(written, 1);
	json_t *doc = load_in(want, id);
	assert_non_null(doc);
	json_decref(doc);
	taskfiles_free(tf);
}

static void a_dir_that_cannot_be_created_is_named_in_the_error(void **state)
{
	struct fixture *f = *state;
	char file[192], dir[256];
	snprintf(file, sizeof(file), "%s/plain", f->root);
	FILE *p = fopen(file, "w");
	assert_non_null(p);
	fclose(p);
	snprintf(dir, sizeof(dir), "%s/tasks", file);
	struct taskfiles *tf = NULL;
	char err[512];
	assert_int_equal(taskfiles_new(dir, &tf, err, sizeof(err)), HQ_E_IO);
	assert_null(tf);
	assert_non_null(strstr(err, dir));
	assert_int_equal(taskfiles_new(file, &tf, err, sizeof(err)), HQ_E_IO);
	assert_non_null(strstr(err, "Not a directory"));
	assert_int_equal(taskfiles_new("", &tf, err, sizeof(err)), HQ_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_new_task_gets_a_file_with_its_fields, setup,
						teardown),
		cmocka_unit_test_setup_teardown(keys_come_in_the_documented_order, setup, teardown),
		cmocka_unit_test_setup_teardown(a_child_depends_on_its_parent, setup, teardown),
		cmocka_unit_test_setup_teardown(a_status_change_rewrites_only_the_changed_task,
						setup, teardown),
		cmocka_unit_test(every_hookq_status_maps_to_a_claude_status),
		cmocka_unit_test_setup_teardown(no_temporary_files_are_left_behind, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			invalid_utf8_and_controls_in_a_title_still_make_valid_json, setup, teardown),
		cmocka_unit_test_setup_teardown(
			an_unwritable_dir_fails_naming_the_file_and_the_next_call_catches_up, setup,
			teardown),
		cmocka_unit_test_setup_teardown(more_than_a_page_of_changes_is_written_in_one_call,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_restart_rewrites_every_file_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			a_tilde_dir_is_under_home_and_created_with_its_parents, setup, teardown),
		cmocka_unit_test_setup_teardown(a_dir_that_cannot_be_created_is_named_in_the_error,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
