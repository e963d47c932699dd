/* SPDX-License-Identifier: MIT */
/*
 * Conformance fixtures: functions the conformance suite (tests/conformance) drives through
 * the executor emulator, side by side with the same functions written on the official JS
 * SDK (tests/conformance/ref-app/app.mjs). The host registers them with --fixtures only.
 */
#ifndef FUNCTIONS_FIXTURES_H
#define FUNCTIONS_FIXTURES_H

#include <inngest/inngest.h>

/* Adds every fixture function to `app` (not frozen yet). Returns INNGEST_OK, or a negative
 * code with `err` filled. */
int fixtures_register(inngest_app *app, inngest_error *err);

#endif
