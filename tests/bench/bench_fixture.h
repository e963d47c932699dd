/* SPDX-License-Identifier: MIT */
/*
 * bench-many-steps, written here to the fixture's spec so the benchmark does not depend on
 * functions/fixtures.c: trigger bench/many-steps; n = event.data.n (default 1000);
 * step.run "s-<i>" returns {"i":i,"ok":true}; returns {"steps":n,"last":…}.
 */
#ifndef BENCH_FIXTURE_H
#define BENCH_FIXTURE_H

#include <inngest/inngest.h>

/* Adds bench-many-steps to `app` (not frozen yet). Returns INNGEST_OK or an error. */
int bench_fixture_register(inngest_app *app, inngest_error *err);

#endif
