/* SPDX-License-Identifier: MIT */
/*
 * What chat.c and ingest_document.c share and nobody else needs. Public headers only,
 * like the rest of functions/.
 */
#ifndef FUNCTIONS_CHAT_INTERNAL_H
#define FUNCTIONS_CHAT_INTERNAL_H

#include <stddef.h>

#include "chat.h"

/* The handlers, each with the chat_env as its userdata; chat_register() (chat_register.c)
 * is the one place that adds them to an app. */
int chat_handle_message(inngest_ctx *ctx, json_t **result); /* handle-chat (chat.c) */
int chat_ingest_document(inngest_ctx *ctx, json_t **result); /* ingest-document */

/* Non-zero when `s` is empty or only whitespace. */
int chat_is_blank(const char *s);

/* Fills `err` with ENOMEM and returns it. */
int chat_oom(inngest_error *err);

#endif
