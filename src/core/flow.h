/* flow: where a task belongs. A flow is every task about one external
 * thing (an issue, a ticket, a Slack thread), named by a stable hash of
 * its external id; the texts that ask for a fresh conversation inside it;
 * and the project key that pins a project's tasks to a worker. Pure. */
#ifndef HOOKQ_CORE_FLOW_H
#define HOOKQ_CORE_FLOW_H

#include <stdbool.h>
#include <stddef.h>

#define FLOW_ID_MAX 24 /* "flow-" + 12 hex, NUL */

/* "flow-" + the first 12 hex digits of SHA-256(external_id): the same
 * external id always names the same flow. HQ_E_INVAL for an empty one. */
int flow_id_of(const char *external_id, char out[FLOW_ID_MAX]);

/* Whether text asks for a new conversation: "new conversation", "start
 * fresh", "new context" or "reset conversation", in any case, as words
 * (runs of spaces between them count as one). */
bool flow_wants_new_conversation(const char *text, size_t len);

/* The project a task works on, for claims and serialization: the
 * repository when the event names one ("owner/repo"), else what the
 * external id says ("jira:PROJ" for jira:PROJ-12, "linear:ENG" for
 * linear:ENG-7, "slack:T1/C2" for a Slack thread); "" when nothing does. */
void flow_project_of(const char *external_id, const char *repository, char *out, size_t size);

#endif
