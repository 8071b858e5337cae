#include "core/event.h"

#include <stdlib.h>

void event_info_release(struct event_info *info)
{
	if (!info)
		return;
	for (size_t i = 0; i < info->n_tasks; i++) {
		struct event_task *t = &info->tasks[i];
		free(t->origin);
		free(t->route);
		free(t->command);
		free(t->agent);
		free(t->prompt);
		free(t->title);
		free(t->external_id);
		free(t->metadata_json);
		for (size_t j = 0; j < t->n_replies; j++) {
			free(t->replies[j].name);
			free(t->replies[j].kind);
			free(t->replies[j].target_json);
			free(t->replies[j].body_json);
		}
	}
	free(info->tasks);
	info->tasks = NULL;
	info->n_tasks = 0;
	free(info->routing);
	info->routing = NULL;
}
