/* SPDX-License-Identifier: MIT */
/* The embedder backed by an OpenAI-compatible /embeddings endpoint. */
#include "fmacros.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inngest/ai.h"
#include "inngest/rag.h"

struct openai_embedder {
    inngest_rag_embedder base; /* first member */
    inngest_ai_client *client; /* borrowed */
};

static int openai_embed(inngest_rag_embedder *self, const char *const *texts, size_t n,
                        float *out, inngest_error *err) {
    struct openai_embedder *e = (struct openai_embedder *)self;
    return inngest_ai_embed(e->client, texts, n, self->dim, out, NULL, NULL, err);
}

static void openai_destroy(inngest_rag_embedder *self) {
    free(self);
}

inngest_rag_embedder *inngest_rag_openai_embedder_create(inngest_ai_client *client, int dim,
                                                         inngest_error *err) {
    if (!client) {
        inngest_error_set(err, INNGEST_EINVAL, "the OpenAI embedder needs a client");
        return NULL;
    }
    const char *model = inngest_ai_client_embedding_model(client);
    if (dim <= 0)
        dim = inngest_ai_client_embedding_dimensions(client);
    if (dim <= 0)
        dim = inngest_ai_embedding_model_dim(model);
    if (dim <= 0) {
        /* An unknown model (nomic-embed-text, bge-m3, …): ask the server once. The server
         * answers at most 65536 dimensions, as inngest_ai_embeddings_parse checks. */
        float *probe = malloc(sizeof(float) * 65536); /* the parser's limit */
        const char *text = "dimension probe";
        if (!probe) {
            inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
            return NULL;
        }
        int rc = inngest_ai_embed(client, &text, 1, 0, probe, &dim, NULL, err);
        free(probe);
        if (rc != INNGEST_OK)
            return NULL;
    }
    struct openai_embedder *e = calloc(1, sizeof(*e));
    if (!e) {
        inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        return NULL;
    }
    /* The id names the model, and the dimension is checked separately: a shortened
     * text-embedding-3 vector is a different space from the full one. */
    snprintf(e->base.id, sizeof(e->base.id), "openai:%s", model);
    e->base.dim = dim;
    e->base.max_batch = 128; /* well under the API's 2048 inputs and 300k tokens */
    e->base.embed = openai_embed;
    e->base.destroy = openai_destroy;
    e->client = client;
    return &e->base;
}
