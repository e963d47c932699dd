/* SPDX-License-Identifier: MIT */
/* One helper every file of functions/ uses to define an event-triggered function. */
#ifndef FUNCTIONS_DEFINE_H
#define FUNCTIONS_DEFINE_H

#include <inngest/inngest.h>

/* Creates function `id` (display name `name`, triggered by `event`, with `userdata`,
 * which may be NULL) and adds it to `app`. Fills `err` on failure. */
int functions_add(inngest_app *app, const char *id, const char *name, const char *event,
                  inngest_handler_fn handler, void *userdata, inngest_error *err);

#endif
