/* SPDX-License-Identifier: MIT */
/*
 * generate-response: the answer to a chat message from its retrieved context, one of
 * three ways (chat_generate_response):
 *
 *   CHAT_GENERATE_INFER  step.ai.infer: the Inngest server calls the model (the default)
 *   CHAT_GENERATE_RUN    step.run with this host's own client, streaming the answer to
 *                        env->tokens while it is written
 *   no API key           step.run that answers with the passages themselves
 *                        (chat_offline_answer): never an invented answer
 *
 * Public headers and the C library only.
 */
#include "chat.h"
#include "chat_internal.h"

#include <stdlib.h>

/* Room for the model's chat/completions URL (OPENAI_BASE_URL and the path). */
#define MODEL_URL_BYTES 2048
/* The name of the step, whichever way it is carried out. */
#define STEP_ID "generate-response"

static int has_key(const struct chat_env *env) {
    return env->client && inngest_ai_client_has_key(env->client);
}

/* The prompt of a request as the client's message array. `*msgs_out` (new reference) owns
 * the strings `*out` points into. */
static int prompt_messages(const struct chat_env *env, json_t *request, json_t *context,
                           json_t **msgs_out, inngest_ai_message **out, size_t *n,
                           inngest_error *err) {
    json_t *msgs = chat_build_messages(env, request, context);
    size_t count = json_array_size(msgs);
    inngest_ai_message *m = msgs ? calloc(count ? count : 1, sizeof(*m)) : NULL;
    if (!m) {
        json_decref(msgs);
        return chat_oom(err);
    }
    for (size_t i = 0; i < count; i++) {
        m[i].role = chat_str(json_array_get(msgs, i), "role", "");
        m[i].content = chat_str(json_array_get(msgs, i), "content", "");
    }
    *msgs_out = msgs;
    *out = m;
    *n = count;
    return INNGEST_OK;
}

/* {response, model, usage, finishReason} from a chat result. Returns a new reference. */
static json_t *answer_json(const inngest_ai_chat_result *r, const char *fallback_model) {
    const char *text = r->content && *r->content ? r->content : r->refusal ? r->refusal : "";
    json_t *usage =
        r->has_usage
            ? json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)r->usage.prompt_tokens,
                        "completion_tokens", (json_int_t)r->usage.completion_tokens, "total_tokens",
                        (json_int_t)r->usage.total_tokens)
            : json_null();
    if (!usage)
        return NULL;
    return json_pack("{s:s,s:s,s:o,s:o}", "response", text, "model",
                     r->model && *r->model ? r->model : fallback_model, "usage", usage,
                     "finishReason",
                     r->finish_reason ? json_string(r->finish_reason) : json_null());
}

/* ---- CHAT_GENERATE_RUN -------------------------------------------------------------------- */

struct generate_args {
    const struct chat_env *env;
    json_t *request;      /* borrowed: the event data */
    json_t *context;      /* borrowed: the retrieve-context result */
    const char *event_id; /* borrowed: the chat/message event's id, or NULL */
};

static int publish_delta(void *user, const char *text, size_t len) {
    const struct generate_args *a = user;
    a->env->tokens->delta(a->env->tokens->user, a->event_id, text, len);
    return 0;
}

/* This host calls the model, streaming the answer to env->tokens when there is somewhere
 * to send it. The client's error record already says whether a retry can help
 * (err->no_retry) and how long to wait (err->retry_after), so it becomes the step error as
 * it is. */
static int generate_run(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    const struct generate_args *a = arg;
    const struct chat_tokens *tokens = a->event_id ? a->env->tokens : NULL;
    json_t *msgs = NULL; /* new reference, released at cleanup */
    inngest_ai_message *m = NULL;
    size_t n = 0;
    inngest_ai_chat_result r = {0};
    int rc = prompt_messages(a->env, a->request, a->context, &msgs, &m, &n, err);
    if (rc)
        goto cleanup;
    inngest_ai_chat_request req = {.messages = m, .message_count = n};
    if (tokens) {
        tokens->begin(tokens->user, a->event_id);
        rc = inngest_ai_chat_stream(a->env->client, &req, publish_delta, (void *)a, &r, NULL, err);
        tokens->end(tokens->user, a->event_id);
    } else {
        rc = inngest_ai_chat(a->env->client, &req, &r, NULL, err);
    }
    if (rc)
        goto cleanup;
    *out = answer_json(&r, inngest_ai_client_chat_model(a->env->client));
    if (!*out)
        rc = chat_oom(err);
cleanup:
    inngest_ai_chat_result_cleanup(&r);
    free(m);
    json_decref(msgs);
    return rc;
}

/* ---- no API key --------------------------------------------------------------------------- */

/* The passages, never a made-up answer. */
static int generate_offline(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    char *text = chat_offline_answer(arg);
    *out = text ? json_string(text) : NULL;
    free(text);
    return *out ? INNGEST_OK : chat_oom(err);
}

/* ---- CHAT_GENERATE_INFER ------------------------------------------------------------------ */

/* The Inngest server calls the model and saves its raw answer; this host only builds the
 * request and reads the result. `*answer` is a new reference. */
static int generate_infer(inngest_ctx *ctx, const struct chat_env *env, json_t *request,
                          json_t *context, json_t **answer) {
    inngest_error err;
    inngest_error_clear(&err);
    json_t *msgs = NULL, *body = NULL, *headers = NULL; /* new references, released below */
    json_t *saved = NULL;                               /* borrowed from the engine */
    inngest_ai_message *m = NULL;
    inngest_ai_chat_result r = {0};
    size_t n = 0;
    char url[MODEL_URL_BYTES];
    int rc = prompt_messages(env, request, context, &msgs, &m, &n, &err);
    if (rc)
        goto fail;
    inngest_ai_chat_request req = {.messages = m, .message_count = n};
    if (!(body = inngest_ai_chat_body(env->client, &req, 0, &err))) {
        err.no_retry = 1; /* the same request would be built again */
        goto fail;
    }
    if (inngest_ai_client_url(env->client, "chat/completions", url, sizeof(url)) < 0) {
        inngest_error_set(&err, INNGEST_ECONFIG, "OPENAI_BASE_URL is too long");
        err.no_retry = 1;
        goto fail;
    }
    if (!(headers = inngest_ai_client_auth_headers(env->client))) {
        chat_oom(&err);
        goto fail;
    }
    /* The key travels once: as auth_key (a bearer token) or, for the api-key style
     * (Azure), in the headers; sending both would hand Azure a bogus bearer token. */
    int in_headers = json_object_size(headers) > 0;
    inngest_ai_infer_opts o = {
        .url = url,
        .auth_key = in_headers ? NULL : inngest_ai_client_api_key(env->client),
        .format = "openai-chat",
        .body = body,
        .headers = in_headers ? headers : NULL,
    };
    rc = inngest_step_ai_infer(ctx, STEP_ID, &o, &saved);
    if (rc != INNGEST_OK)
        goto cleanup; /* pending, or INNGEST_ESTEP: the saved error fails the run */
    if ((rc = inngest_ai_chat_parse(saved, &r, &err))) {
        /* The answer is saved: every retry would read the same error object. */
        err.no_retry = 1;
        goto fail;
    }
    if (!(*answer = answer_json(&r, inngest_ai_client_chat_model(env->client)))) {
        chat_oom(&err);
        goto fail;
    }
    rc = INNGEST_OK;
    goto cleanup;
fail:
    rc = inngest_ctx_fail_with(ctx, &err);
cleanup:
    inngest_ai_chat_result_cleanup(&r);
    free(m);
    json_decref(headers);
    json_decref(body);
    json_decref(msgs);
    return rc;
}

/* ---- the step ----------------------------------------------------------------------------- */

int chat_generate_response(inngest_ctx *ctx, const struct chat_env *env, json_t *request,
                           json_t *context, json_t **answer) {
    json_t *gen = NULL; /* borrowed from the engine */
    *answer = NULL;
    if (!has_key(env)) {
        INNGEST_STEP(inngest_step_run(ctx, STEP_ID, generate_offline, context, &gen));
        *answer = json_pack("{s:O,s:s,s:n}", "response", gen, "model", "offline", "usage");
    } else if (env->generate == CHAT_GENERATE_RUN) {
        const char *event_id = json_string_value(json_object_get(inngest_ctx_event(ctx), "id"));
        struct generate_args args = {env, request, context, event_id};
        INNGEST_STEP(inngest_step_run(ctx, STEP_ID, generate_run, &args, &gen));
        *answer = json_incref(gen);
    } else {
        INNGEST_STEP(generate_infer(ctx, env, request, context, answer));
    }
    return *answer ? INNGEST_OK : inngest_ctx_fail(ctx, 0, "out of memory");
}
