/* SPDX-License-Identifier: MIT */
#include "define.h"

int functions_add(inngest_app *app, const char *id, const char *name, const char *event,
                  inngest_handler_fn handler, void *userdata, inngest_error *err) {
    inngest_function *f = inngest_function_create(id, handler, err);
    if (!f)
        return err && err->code ? err->code : INNGEST_ENOMEM;
    int rc = inngest_function_set_name(f, name);
    if (!rc)
        rc = inngest_function_add_event_trigger(f, event, NULL);
    if (rc) {
        inngest_function_destroy(f);
        return inngest_error_set(err, rc, "cannot define %s", id);
    }
    if (userdata)
        inngest_function_set_userdata(f, userdata);
    rc = inngest_app_add_function(app, f);
    return rc ? inngest_error_set(err, rc, "cannot add %s", id) : INNGEST_OK;
}
