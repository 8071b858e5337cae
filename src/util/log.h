/* log: one line per event, key=value (logfmt) or JSON, written with one
 * write(2) so lines from different threads never interleave.
 * Callers pass key/value string pairs ending with NULL; library layers do
 * not log, the caller that decides does, once. Never pass a secret. */
#ifndef HOOKQ_UTIL_LOG_H
#define HOOKQ_UTIL_LOG_H

enum log_level { HQ_LOG_DEBUG, HQ_LOG_INFO, HQ_LOG_WARN, HQ_LOG_ERROR };
enum log_format { HQ_LOG_KV, HQ_LOG_JSON };

void log_setup(enum log_format format, enum log_level min_level, int fd);
int log_enabled(enum log_level level);
/* log_msg(HQ_LOG_INFO, "webhook accepted", "delivery_id", id, NULL) */
void log_msg(enum log_level level, const char *msg, ...)
	__attribute__((sentinel));

#endif
