/* slack: replies to Slack, through a slash command's or interaction's
 * response_url or through chat.postMessage with a bot token, classified
 * for the outbox as done, retry (when) or failed.
 *
 * Classification:
 *   2xx (chat.postMessage: with "ok": true)  CLIENT_OK
 *   "ok": false with "ratelimited"           CLIENT_RETRY at Retry-After (else 0)
 *   "ok": false with "internal_error", "fatal_error", "service_unavailable",
 *            "request_timeout"               CLIENT_RETRY, uncertain (Slack says part
 *                                            of the work may have been done)
 *   "ok": false with another error (invalid_auth, channel_not_found,
 *            not_in_channel, ...)            CLIENT_FAILED, the error in error
 *   429                                      CLIENT_RETRY at Retry-After (else 0)
 *   408, 5xx, no response                    CLIENT_RETRY; uncertain when the message
 *                                            may have been posted (a transport failure
 *                                            after sending, a 5xx other than 503)
 *   other 4xx (response_url: 404 expired_url, used_url, ...)
 *                                            CLIENT_FAILED, Slack's text in error
 * retry_at_ms is on the wall clock (clock_now_ms). Errors never hold the
 * token; a response_url is a credential too and never appears in them. */
#ifndef HOOKQ_CLIENTS_SLACK_H
#define HOOKQ_CLIENTS_SLACK_H

#include "clients/result.h"

/* Posts text to response_url (any http(s) URL: the caller checks it is
 * Slack's) as {"text": ..., "response_type": "in_channel"}. Returns 0
 * with ret filled; HQ_E_INVAL when ret is NULL. */
int slack_respond(const char *response_url, const char *text, long timeout_ms,
		  struct client_result *ret);

/* Posts text to channel (in the thread of thread_ts unless NULL) with
 * {api_url}/chat.postMessage ("https://slack.com/api") and a bot token;
 * ret->ts is the new message's ts. Returns 0 with ret filled; HQ_E_INVAL
 * when ret is NULL. */
int slack_post_message(const char *api_url, const char *bot_token, const char *channel,
		       const char *thread_ts, const char *text, long timeout_ms,
		       struct client_result *ret);

#endif
