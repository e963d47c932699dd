/* SPDX-License-Identifier: MIT */
/*
 * handle-chat: answers a chat message from the RAG store, in two durable steps.
 *
 *   retrieve-context   hybrid search on the last user message (chat_retrieve.c)
 *   generate-response  the model's answer, or the passages without an API key
 *                      (chat_generate.c, with the prompt of chat_prompt.c)
 *
 * The request check and the configuration are in chat_request.c, the registration in
 * chat_register.c. Public headers and the C library only.
 */
#include "chat.h"
#include "chat_internal.h"

static int retrieve_step(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    const struct chat_env *env = inngest_ctx_userdata(ctx);
    *out = chat_retrieve(env, arg, err);
    return *out ? INNGEST_OK : err && err->code ? err->code : INNGEST_EINTERNAL;
}

int chat_handle_message(inngest_ctx *ctx, json_t **result) {
    const struct chat_env *env = inngest_ctx_userdata(ctx);
    json_t *data = json_object_get(inngest_ctx_event(ctx), "data");
    const char *bad = chat_check_request(data);
    if (bad)
        return inngest_ctx_fail(ctx, INNGEST_FAIL_NO_RETRY, "invalid chat/message data: %s", bad);

    json_t *context = NULL; /* borrowed from the engine */
    INNGEST_STEP(inngest_step_run(ctx, "retrieve-context", retrieve_step, data, &context));
    json_t *answer = NULL; /* new reference {response, model, usage, …} */
    INNGEST_STEP(chat_generate_response(ctx, env, data, context, &answer));

    json_t *session = json_object_get(data, "sessionId");
    json_t *usage = json_object_get(answer, "usage");
    *result = json_pack("{s:O,s:O,s:o,s:s,s:O}", "response", json_object_get(answer, "response"),
                        "sessionId", json_is_string(session) ? session : json_null(), "sources",
                        chat_sources(context), "model", chat_str(answer, "model", "offline"),
                        "usage", usage ? usage : json_null());
    json_decref(answer);
    return *result ? INNGEST_OK : inngest_ctx_fail(ctx, 0, "out of memory");
}
