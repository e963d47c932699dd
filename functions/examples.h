/* SPDX-License-Identifier: MIT */
/* The seed app's example functions: hello-world and process-data. */
#ifndef FUNCTIONS_EXAMPLES_H
#define FUNCTIONS_EXAMPLES_H

#include <inngest/inngest.h>

/* Adds hello-world and process-data to `app`. */
int examples_register(inngest_app *app, inngest_error *err);

#endif
