/* sqs: the Amazon SQS calls hookq makes (receive with long polling,
 * delete in batches, send, change visibility) over the SQS JSON protocol,
 * signed by libcurl (CURLOPT_AWS_SIGV4) with credentials from
 * clients/aws, each answer classified for the caller as done, retry or
 * failed.
 *
 * Classification:
 *   2xx                                      CLIENT_OK
 *   no response, 5xx, 408, 429               CLIENT_RETRY at the caller's backoff; on a
 *                                            write, uncertain when the server may have
 *                                            acted (see clients/result.h)
 *   400 throttling (ThrottlingException, RequestThrottled, KmsThrottled,
 *       OverLimit, ...)                      CLIENT_RETRY
 *   ExpiredToken with container credentials  CLIENT_RETRY (fetched again next time)
 *   403/400 credential errors (InvalidClientTokenId, SignatureDoesNotMatch,
 *       ExpiredToken, AccessDenied, ...)     CLIENT_FAILED, saying what to check
 *   QueueDoesNotExist / NonExistentQueue     CLIENT_FAILED
 *   other 4xx                                CLIENT_FAILED with SQS's type and message
 *   credentials missing                      CLIENT_FAILED; container endpoint down:
 *                                            CLIENT_RETRY
 *   arguments that cannot work               CLIENT_FAILED, status 0
 * Errors never hold a secret key or session token. */
#ifndef HOOKQ_CLIENTS_SQS_H
#define HOOKQ_CLIENTS_SQS_H

#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>

#include "clients/aws.h"
#include "clients/result.h"

/* An answer is read up to this size: ten messages of SQS_BODY_MAX, each
 * escaped as a JSON string (up to twice its size for JSON payloads), with
 * their attributes. Past it a receive is CLIENT_RETRY (the messages come
 * back after their visibility timeout). */
#define SQS_ANSWER_MAX (10 * 2 * SQS_BODY_MAX + 1024 * 1024)
/* SQS's largest message body (1 MiB since 2025; a queue may set less). */
#define SQS_BODY_MAX (1024 * 1024)
#define SQS_BATCH_MAX 10
#define SQS_WAIT_MAX_S 20
#define SQS_VISIBILITY_MAX_S 43200
#define SQS_MESSAGE_ID_MAX 128

struct sqs_client_options {
	/* AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL as the caller found them;
	 * NULL: https://sqs.<region>.amazonaws.com (.amazonaws.com.cn in
	 * cn-* regions). */
	const char *endpoint;
	const char *region;		     /* required: it is part of the signature */
	struct aws_provider *credentials;    /* borrowed; outlives the client */
	long timeout_ms;		     /* per request, added to a long poll's wait; 0: 30 s */
};

struct sqs_client;

/* Checks and copies the options. HQ_E_CONFIG with err ("AWS_REGION:
 * missing") when they cannot work. The client is shared by threads. */
int sqs_client_new(const struct sqs_client_options *o, struct sqs_client **ret, char *err,
		   size_t err_size);
void sqs_client_free(struct sqs_client *c);

struct sqs_message {
	char *message_id;
	char *receipt_handle;
	char *body; /* NUL-terminated; body_len bytes */
	size_t body_len;
	int receive_count; /* ApproximateReceiveCount, 0 when SQS did not say */
	char *attributes_json; /* MessageAttributes as compact JSON, NULL when none */
};

/* Every call returns 0 with res filled (any outcome), HQ_E_INVAL only
 * when c or res is NULL. queue_url is the queue's URL as SQS gives it. */

/* Receives up to max (1..10) messages, waiting up to wait_s (0..20) for
 * the first; visibility_s (1..43200) overrides the queue's visibility
 * timeout, 0 keeps it. On CLIENT_OK *ret holds *n messages (NULL and 0
 * for none); release them with sqs_messages_release(). A message whose
 * body does not match MD5OfBody, or that lacks an id, handle or body, is
 * left out (it comes back after its visibility timeout, and SQS's redrive
 * policy takes it in the end): then res->error names it although the
 * outcome is CLIENT_OK. */
int sqs_receive(struct sqs_client *c, const char *queue_url, int max, int wait_s,
		int visibility_s, struct sqs_message **ret, size_t *n, struct client_result *res);
/* The same; a wait SQS has not answered yet is given up once *stop is
 * set (CLIENT_RETRY, nothing received): a node stops without waiting out
 * a 20 s long poll. */
int sqs_receive_stoppable(struct sqs_client *c, const char *queue_url, int max, int wait_s,
			  int visibility_s, const atomic_bool *stop, struct sqs_message **ret,
			  size_t *n, struct client_result *res);
/* Frees the n messages and the array sqs_receive() returned. Accepts NULL. */
void sqs_messages_release(struct sqs_message *m, size_t n);

/* Deletes up to 10 messages by receipt handle. failed[i] says whether
 * entry i is still on the queue as far as we know: all false on
 * CLIENT_OK, all true when the call itself failed. When only some failed,
 * the outcome is CLIENT_RETRY if one of them was SQS's fault (or not
 * reported), CLIENT_FAILED if all were ours (ReceiptHandleIsInvalid: the
 * message comes back and is deduplicated), and res->error names the first. */
int sqs_delete_batch(struct sqs_client *c, const char *queue_url,
		     const char *const *receipt_handles, size_t n, bool *failed,
		     struct client_result *res);

/* Sends body (valid UTF-8, at most SQS_BODY_MAX bytes). FIFO queues need
 * group_id and, without content-based deduplication, dedup_id (each
 * 1..128 printable ASCII characters); NULL for standard queues. On
 * CLIENT_OK, ret_message_id (SQS_MESSAGE_ID_MAX bytes; may be NULL) gets
 * SQS's MessageId. Not idempotent on a standard queue: after an uncertain
 * failure the message may be there twice, which receivers deduplicate. An
 * MD5OfMessageBody that does not match what was sent is CLIENT_RETRY,
 * uncertain. */
int sqs_send(struct sqs_client *c, const char *queue_url, const char *body, size_t len,
	     const char *dedup_id, const char *group_id, char *ret_message_id,
	     struct client_result *res);

/* Makes a received message visible again after visibility_s (0..43200;
 * 0: at once), e.g. to retry it later than the queue's timeout. */
int sqs_change_visibility(struct sqs_client *c, const char *queue_url,
			  const char *receipt_handle, int visibility_s, struct client_result *res);

#endif
