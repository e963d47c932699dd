/* SPDX-License-Identifier: MIT */
/*
 * What the chat functions accept: the chat request (chat_check_request, for handle-chat's
 * event and the host's direct mode alike) and the settings read from the environment.
 * Each limit is typed once, here; the messages quote the constants.
 * Public headers and the C library only.
 */
#include "chat.h"
#include "chat_internal.h"

#include <string.h>

/* What CHAT_TOP_K and CHAT_CONTEXT_BUDGET may say. */
#define CHAT_TOP_K_MIN          1
#define CHAT_TOP_K_MAX          50
#define CHAT_CONTEXT_BUDGET_MIN 500
#define CHAT_CONTEXT_BUDGET_MAX 200000
/* Request limits: a chat page sends its whole history, so these are generous. */
#define MAX_MESSAGES      200
#define MAX_CONTENT_BYTES 100000
#define MAX_RAG_CONTEXT   20
#define MAX_SELECTED      100
#define MAX_ID_BYTES      256

#define STR_(x) #x
#define STR(x)  STR_(x) /* a limit's digits, for the messages */

/* ---- configuration ------------------------------------------------------------------------ */

int chat_env_from_environment(struct chat_env *env, inngest_error *err) {
    static const char *const modes[] = {"infer", "run", NULL};
    int mode = -1;
    long top_k, budget;
    int rc = inngest_env_choice(NULL, NULL, "CHAT_GENERATE_MODE", modes, -1, &mode, err);
    rc = rc ? rc
            : inngest_env_long(NULL, NULL, "CHAT_TOP_K", env->top_k, CHAT_TOP_K_MIN,
                               CHAT_TOP_K_MAX, &top_k, err);
    rc = rc ? rc
            : inngest_env_long(NULL, NULL, "CHAT_CONTEXT_BUDGET", (long)env->context_budget,
                               CHAT_CONTEXT_BUDGET_MIN, CHAT_CONTEXT_BUDGET_MAX, &budget, err);
    if (rc)
        return rc;
    if (mode >= 0)
        env->generate = mode == 0 ? CHAT_GENERATE_INFER : CHAT_GENERATE_RUN;
    env->top_k = (int)top_k;
    env->context_budget = (size_t)budget;
    return INNGEST_OK;
}

/* ---- the request -------------------------------------------------------------------------- */

static int optional_string(json_t *v) {
    return !v || json_is_null(v) || (json_is_string(v) && json_string_length(v) <= MAX_ID_BYTES);
}

static int string_array(json_t *v, size_t max) {
    if (!json_is_array(v) || json_array_size(v) > max)
        return 0;
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s) || json_string_length(s) > MAX_CONTENT_BYTES)
            return 0;
    }
    return 1;
}

const char *chat_check_request(json_t *body) {
    if (!json_is_object(body))
        return "the request must be a JSON object";
    json_t *msgs = json_object_get(body, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return "messages must be a non-empty array of {role, content}";
    if (json_array_size(msgs) > MAX_MESSAGES)
        return "messages has more than " STR(MAX_MESSAGES) " entries";
    const char *last_user = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m))
            return "each message must be an object {role, content}";
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || (strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "system")))
            return "a message role must be \"user\", \"assistant\" or \"system\"";
        json_t *content = json_object_get(m, "content");
        if (!json_is_string(content))
            return "a message content must be a string";
        if (json_string_length(content) > MAX_CONTENT_BYTES)
            return "a message content is longer than " STR(MAX_CONTENT_BYTES) " bytes";
        if (strlen(json_string_value(content)) != json_string_length(content))
            return "a message content must not contain NUL characters";
        if (!strcmp(role, "user"))
            last_user = json_string_value(content);
    }
    if (!last_user)
        return "messages must contain a user message";
    if (chat_is_blank(last_user))
        return "the last user message is empty";
    if (!optional_string(json_object_get(body, "sessionId")))
        return "sessionId must be a string of at most " STR(MAX_ID_BYTES) " bytes";
    if (!optional_string(json_object_get(body, "chatId")))
        return "chatId must be a string of at most " STR(MAX_ID_BYTES) " bytes";
    json_t *rag = json_object_get(body, "ragContext");
    if (rag && !json_is_null(rag) &&
        !(json_is_string(rag) && json_string_length(rag) <= MAX_CONTENT_BYTES) &&
        !string_array(rag, MAX_RAG_CONTEXT))
        return "ragContext must be a string or an array of at most " STR(MAX_RAG_CONTEXT)
               " strings";
    json_t *sel = json_object_get(body, "selectedFilePathnames");
    if (sel && !json_is_null(sel) && !string_array(sel, MAX_SELECTED))
        return "selectedFilePathnames must be an array of at most " STR(MAX_SELECTED) " strings";
    return NULL;
}
