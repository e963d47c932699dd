/* SPDX-License-Identifier: MIT */
/*
 * The registration root of the chat app: handle-chat (chat.c) and ingest-document
 * (ingest_document.c) are added here, so neither file registers through the other.
 */
#include "chat.h"
#include "chat_internal.h"
#include "define.h"

int chat_register(inngest_app *app, const struct chat_env *env, inngest_error *err) {
    if (!app || !env)
        return inngest_error_set(err, INNGEST_EINVAL, "chat_register needs an app and an env");
    /* The handlers only read the env (see chat.h), so dropping const is safe. */
    void *userdata = (void *)env;
    int rc = functions_add(app, "handle-chat", "Handle chat message", "chat/message",
                           chat_handle_message, userdata, err);
    return rc ? rc
              : functions_add(app, "ingest-document", "Ingest document", "rag/document.added",
                              chat_ingest_document, userdata, err);
}
