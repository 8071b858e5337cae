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
	}
	free(info->tasks);
	info->tasks = NULL;
	info->n_tasks = 0;
	free(info->routing);
	info->routing = NULL;
}
