/* SPDX-License-Identifier: MIT */
/*
 * What chat.c and ingest_document.c share and nobody else needs. Public headers only,
 * like the rest of functions/.
 */
#ifndef FUNCTIONS_CHAT_INTERNAL_H
#define FUNCTIONS_CHAT_INTERNAL_H

#include <stddef.h>

#include "chat.h"

/* Creates function `id` (display name `name`, triggered by `event`) with `env` as its
 * userdata and adds it to `app`. Fills `err` on failure. */
int chat_add_function(inngest_app *app, const char *id, const char *name, const char *event,
                      inngest_handler_fn handler, const struct chat_env *env, inngest_error *err);

/* Adds ingest-document (ingest_document.c). */
int chat_ingest_register(inngest_app *app, const struct chat_env *env, inngest_error *err);

/* Fills `err` with ENOMEM and returns it. */
int chat_oom(inngest_error *err);

#endif
