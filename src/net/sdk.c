/* SPDX-License-Identifier: MIT */
/*
 * What libinngest adds to the core: the libcurl transport as the app's default, and the
 * process-wide set-up of the two adapters. The core (src/core) knows neither adapter; it
 * takes its transport from here, or from the caller's options.
 */
#include "fmacros.h"

#include "core/app.h"
#include "inngest/app.h"
#include "inngest/http.h"
#include "net/net.h"

inngest_app *inngest_app_create(const inngest_app_opts *opts, inngest_error *err) {
    return ing_app_create(opts, inngest_transport_curl_create, err);
}

int inngest_global_init(void) {
    int rc = ing_curl_global_init();
    return rc ? rc : ing_civetweb_global_init();
}

void inngest_global_cleanup(void) {
    ing_civetweb_global_cleanup();
    ing_curl_global_cleanup();
}
