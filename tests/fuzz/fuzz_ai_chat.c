/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the OpenAI chat answer parser (inngest_ai_chat_parse on whatever JSON the
 * bytes hold) and the error-answer reader (inngest_ai_error_from_response on the same bytes
 * as the body of a failed answer). Input: a model server's response body.
 * Properties: success gives a NUL-terminated content (never NULL) and no error; failure
 * leaves the result empty and says why; an error answer always becomes INNGEST_EUPSTREAM
 * with a message and the status it came with.
 */
#include "fmacros.h"

#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "inngest/ai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
    inngest_ai_chat_result r;
    inngest_error err;
    inngest_error_clear(&err);
    int rc = inngest_ai_chat_parse(root, &r, &err);
    if (rc == INNGEST_OK) {
        FUZZ_ASSERT(r.content != NULL);
        FUZZ_ASSERT(strlen(r.content) <= size);
        FUZZ_ASSERT(err.message[0] == '\0');
    } else {
        FUZZ_ASSERT(rc == INNGEST_EPARSE || rc == INNGEST_EUPSTREAM || rc == INNGEST_ENOMEM);
        FUZZ_ASSERT(r.content == NULL && r.id == NULL && r.model == NULL);
        FUZZ_ASSERT(err.message[0] != '\0');
    }
    inngest_ai_chat_result_cleanup(&r);
    json_decref(root);

    /* The same bytes as the body of a failed answer, with the status from the first byte. */
    inngest_http_response res = {.status = 400 + (size ? data[0] % 200 : 29)};
    if (inngest_http_response_add_header(&res, "Content-Type", "application/json") ||
        inngest_http_response_add_header(&res, "x-request-id", "req_fuzz") ||
        (size > 1 && (data[1] & 1) &&
         inngest_http_response_add_header(&res, "retry-after",
                                          size > 2 && data[2] & 1 ? "3" : "x")) ||
        inngest_http_response_set_body(&res, (const char *)data, size))
        abort(); /* out of memory in the harness */
    inngest_ai_call_info info;
    memset(&info, 0, sizeof(info));
    inngest_error_clear(&err);
    rc = inngest_ai_error_from_response(&res, &err, &info);
    FUZZ_ASSERT(rc == INNGEST_EUPSTREAM && err.code == INNGEST_EUPSTREAM);
    FUZZ_ASSERT(err.message[0] != '\0' && info.http_status == res.status);
    FUZZ_ASSERT(memchr(info.error_type, '\0', sizeof(info.error_type)) != NULL);
    inngest_http_response_cleanup(&res);
    return 0;
}
