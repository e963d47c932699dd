/* SPDX-License-Identifier: MIT */
/*
 * What the chat files share and nobody else needs. Public headers only, like the rest of
 * functions/. Who does what:
 *
 *   chat_request.c   the request check and the settings (each limit typed once)
 *   chat_retrieve.c  retrieve-context: hybrid search plus the caller's ragContext
 *   chat_prompt.c    the system prompt and conversation; the offline answer
 *   chat_generate.c  generate-response: ai.infer, step.run with our client, or offline
 *   chat.c           handle-chat: the two steps and the result
 *   ingest_document.c  ingest-document
 *   chat_register.c  the one place that adds both functions to an app
 *   chat_util.c      the helpers below
 */
#ifndef FUNCTIONS_CHAT_INTERNAL_H
#define FUNCTIONS_CHAT_INTERNAL_H

#include <stddef.h>

#include "chat.h"

/* The handlers, each with the chat_env as its userdata; chat_register() (chat_register.c)
 * is the one place that adds them to an app. */
int chat_handle_message(inngest_ctx *ctx, json_t **result);  /* handle-chat (chat.c) */
int chat_ingest_document(inngest_ctx *ctx, json_t **result); /* ingest-document */

/*
 * handle-chat's generate-response step for a checked request and its retrieve-context
 * value (both borrowed), in the way `env` says (chat_generate.c). Returns INNGEST_OK with
 * `*answer` a new reference {response, model, usage, ...}, or the step status to return
 * from the handler at once (pending, or the run's failure).
 */
int chat_generate_response(inngest_ctx *ctx, const struct chat_env *env, json_t *request,
                           json_t *context, json_t **answer);

/* ---- chat_util.c ---- */

/* Non-zero when `s` is empty or only whitespace. */
int chat_is_blank(const char *s);

/* Fills `err` with ENOMEM and returns it. */
int chat_oom(inngest_error *err);

/* Borrowed string member `key` of `obj`, or `fallback` when it is missing or no string. */
const char *chat_str(json_t *obj, const char *key, const char *fallback);

#endif
