/* SPDX-License-Identifier: MIT */
/* The functions of the engine tests (see engine_app.c). */
#ifndef ENGINE_APP_H
#define ENGINE_APP_H

#include <inngest/inngest.h>

/* Adds every test function to `app` (not frozen). Returns INNGEST_OK or the first error;
 * on error the app keeps what was added and frees what was not. */
int engine_app_add_functions(inngest_app *app);

/* Adds only "echo" (trigger test/echo), which answers {"got": <event data>}. */
int engine_app_add_echo(inngest_app *app);

#endif
