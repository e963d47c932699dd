/* SPDX-License-Identifier: MIT */
/*
 * inngest-host: serves the app's functions over the Inngest serve protocol with civetweb.
 *
 *   inngest-host [--host ADDR] [--port N] [--path /api/inngest] [--dev] [--fixtures]
 *   inngest-host ingest [--store PATH] [--force] PATH...   (see host/ingest_cli.h)
 *
 * Configuration comes from the environment (INNGEST_*, OPENAI_*, RAG_*, CHAT_*, PORT,
 * HOST); flags win.
 */
#include "fmacros.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <inngest/inngest.h>

#include "chat.h"
#include "examples.h"
#include "host/ai_setup.h"
#include "host/chat_routes.h"
#include "host/guard.h"
#include "host/ingest_cli.h"
#include "host/log.h"
#include "host/relay.h"
#include "host/routes.h"
#if __has_include("fixtures.h")
#include "fixtures.h"
#define HOST_HAS_FIXTURES 1
#endif

/* The app id the host syncs as when INNGEST_APP_ID is not set. */
#define HOST_DEFAULT_APP_ID "inngest-c-ai-chat"

#define HOST_THREADS       128
#define HOST_SERVE_RESERVE 16

struct host_args {
    const char *host;
    int port;
    const char *path;
    int dev;
    int fixtures;
};

static void usage(FILE *to) {
    fprintf(to,
            "usage: inngest-host [options]\n"
            "       inngest-host ingest [--store PATH] [--force] PATH...  (ingest --help)\n"
            "  --host ADDR     listen address (env HOST, default 127.0.0.1)\n"
            "  --port N        listen port (env PORT, default 3000)\n"
            "  --path PATH     serve path (default /api/inngest)\n"
            "  --dev           dev mode, as INNGEST_DEV=1 (no signature checks)\n"
            "  --fixtures      serve the conformance test fixtures (instead of the chat\n"
            "                  functions handle-chat and ingest-document)\n"
            "  --version       print the version\n"
            "Environment: INNGEST_DEV, INNGEST_SIGNING_KEY, INNGEST_SIGNING_KEY_FALLBACK,\n"
            "INNGEST_EVENT_KEY, INNGEST_BASE_URL, INNGEST_API_BASE_URL,\n"
            "INNGEST_EVENT_API_BASE_URL, INNGEST_ENV, INNGEST_APP_ID, INNGEST_SERVE_ORIGIN,\n"
            "INNGEST_SERVE_PATH, INNGEST_ALLOW_IN_BAND_SYNC, INNGEST_LOG_LEVEL.\n"
            "Exposure: HOST_AUTH_TOKEN (needed to listen beyond loopback), HOST_ALLOWED_HOSTS,\n"
            "HOST_ALLOW_UNAUTHENTICATED=1 (listen beyond loopback without a token).\n"
            "Chat and RAG: OPENAI_API_KEY (unset: offline answers), OPENAI_BASE_URL,\n"
            "OPENAI_MODEL, OPENAI_EMBEDDING_MODEL, OPENAI_EMBEDDING_DIMENSIONS, OPENAI_MAX_TOKENS,\n"
            "OPENAI_TEMPERATURE, OPENAI_TOKEN_LIMIT_FIELD, OPENAI_AUTH_STYLE, OPENAI_API_VERSION,\n"
            "OPENAI_TIMEOUT_MS, OPENAI_MAX_RETRIES, RAG_STORE_URL (postgresql://... shared by\n"
            "replicas, or sqlite:PATH), RAG_STORE_POOL_SIZE (default 8), RAG_STORE_PATH\n"
            "(default data/rag-<embedder>.db), RAG_EMBEDDER (auto, openai, hash), CHAT_GENERATE_MODE\n"
            "(infer, run), CHAT_TOP_K, CHAT_CONTEXT_BUDGET.\n");
}

static int parse_port(const char *s, int *port) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

/* Returns 0 to run, 1 to exit successfully, 2 on a usage error. */
static int parse_args(int argc, char **argv, struct host_args *a) {
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'h'}, {"port", required_argument, NULL, 'p'},
        {"path", required_argument, NULL, 'P'}, {"dev", no_argument, NULL, 'd'},
        {"fixtures", no_argument, NULL, 'f'},   {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, '?'},       {NULL, 0, NULL, 0}};
    const char *host = inngest_env_get(NULL, NULL, "HOST");
    const char *port = inngest_env_get(NULL, NULL, "PORT");
    a->host = host ? host : "127.0.0.1";
    a->port = 3000;
    a->path = "/api/inngest";
    if (port && parse_port(port, &a->port)) {
        fprintf(stderr, "inngest-host: PORT must be a number from 0 to 65535\n");
        return 2;
    }
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
            case 'h':
                a->host = optarg;
                break;
            case 'p':
                if (parse_port(optarg, &a->port)) {
                    fprintf(stderr, "inngest-host: --port must be a number from 0 to 65535\n");
                    return 2;
                }
                break;
            case 'P':
                if (optarg[0] != '/') {
                    fprintf(stderr, "inngest-host: --path must start with '/'\n");
                    return 2;
                }
                a->path = optarg;
                break;
            case 'd':
                a->dev = 1;
                break;
            case 'f':
                a->fixtures = 1;
                break;
            case 'v':
                printf("inngest-host %s (%s)\n", INNGEST_VERSION, INNGEST_SDK_HEADER);
                return 1;
            default:
                usage(c == '?' && optopt == 0 ? stdout : stderr);
                return c == '?' && optopt == 0 && !strcmp(argv[optind - 1], "--help") ? 1 : 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "inngest-host: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return 0;
}

static int register_functions(inngest_app *app, const struct host_args *a,
                              const struct chat_env *env, inngest_error *err) {
    int rc = examples_register(app, err);
    /* The conformance suite compares this app's functions with a reference app that has
     * no chat functions yet, so --fixtures serves the fixtures in their place. */
    if (!rc && !a->fixtures)
        rc = chat_register(app, env, err);
    if (rc)
        return rc;
    if (a->fixtures) {
#ifdef HOST_HAS_FIXTURES
        rc = fixtures_register(app, err);
#else
        rc = inngest_error_set(err, INNGEST_ECONFIG, "this build has no fixtures");
#endif
    }
    return rc;
}

static void print_startup(const inngest_app *app, const struct host_args *a, int port) {
    const char *shown = !strcmp(a->host, "0.0.0.0") ? "localhost" : a->host;
    char url[512];
    snprintf(url, sizeof(url), "http://%s:%d%s", shown, port, a->path);
    json_t *fns = json_array();
    for (size_t i = 0; i < inngest_app_function_count(app); i++)
        json_array_append_new(fns, json_string(inngest_app_function_slug(app, i)));
    log_json(LOG_INFO, "listening",
             json_pack("{s:s,s:s,s:s,s:s,s:o}", "url", url, "mode",
                       inngest_app_is_dev(app) ? "dev" : "cloud", "app_id", inngest_app_id(app),
                       "api", inngest_app_api_base_url(app), "functions", fns));
    /* A plain line for people (and scripts waiting for readiness). */
    fprintf(stderr, "inngest-host %s listening on %s (%s mode, %zu functions)\n",
            INNGEST_VERSION, url, inngest_app_is_dev(app) ? "dev" : "cloud",
            inngest_app_function_count(app));
    /* Which of two settings that disagree wins, and what cloud mode without a public
     * origin does, said at start rather than discovered later. */
    if (inngest_env_get(NULL, NULL, "INNGEST_SIGNING_KEY") &&
        (a->dev || inngest_env_get(NULL, NULL, "INNGEST_DEV")))
        log_msg(inngest_app_is_dev(app) ? LOG_WARN : LOG_INFO,
                inngest_app_is_dev(app)
                    ? "%s and INNGEST_SIGNING_KEY are both set: dev mode wins, so requests to "
                      "%s are NOT verified; unset %s to verify them"
                    : "%s and INNGEST_SIGNING_KEY are both set: INNGEST_DEV is false, so cloud "
                      "mode wins and requests to %s are verified with the signing key%s",
                a->dev ? "--dev" : "INNGEST_DEV", a->path,
                inngest_app_is_dev(app) ? (a->dev ? "--dev" : "INNGEST_DEV") : "");
    if (!inngest_app_is_dev(app) && !inngest_app_serve_origin(app))
        log_msg(LOG_WARN, "cloud mode without INNGEST_SERVE_ORIGIN: a sync registers the URL "
                          "built from the request's Host and X-Forwarded-Proto headers; set "
                          "INNGEST_SERVE_ORIGIN to this app's public origin (e.g. "
                          "https://app.example.com)");
    if (inngest_app_is_dev(app))
        fprintf(stderr, "  run the dev server beside it: npx inngest-cli@latest dev -u %s\n", url);
    else if (!inngest_app_has_signing_key(app))
        fprintf(stderr, "  warning: cloud mode without INNGEST_SIGNING_KEY refuses every call; "
                        "set the key or INNGEST_DEV=1\n");
    fflush(stderr);
}

/* Bound to an address other machines reach, the chat, document and metrics routes are
 * open to them unless a token guards them: refuse to start, unless told in so many words.
 * Returns 0 to go on. */
static int check_exposure(const struct host_args *a, const struct host_guard *g) {
    if (g->token || host_guard_is_loopback(a->host))
        return 0;
    const char *opt = inngest_env_get(NULL, NULL, "HOST_ALLOW_UNAUTHENTICATED");
    if (opt && !strcmp(opt, "1")) {
        log_msg(LOG_WARN, "HOST_ALLOW_UNAUTHENTICATED=1: listening on %s WITHOUT a token; anyone "
                          "who can reach this address can use /api/chat, change the knowledge "
                          "base through /api/rag/documents and read /metrics",
                a->host);
        return 0;
    }
    log_msg(LOG_ERROR, "refusing to listen on %s without HOST_AUTH_TOKEN: /api/chat, "
                       "/api/rag/documents and /metrics would be open to every machine that "
                       "reaches it. Set HOST_AUTH_TOKEN to a long random secret (e.g. "
                       "HOST_AUTH_TOKEN=$(openssl rand -hex 24)), listen on 127.0.0.1, or set "
                       "HOST_ALLOW_UNAUTHENTICATED=1 to accept the exposure",
            a->host);
    return 1;
}

/* Opens the model client, embedder and store, fills the chat environment, and seeds an
 * empty store with the built-in corpus. */
static int open_chat(struct host_ai *ai, struct chat_env *env, inngest_error *err) {
    /* A database that is down now does not stop the server: 503 until it is back. */
    int rc = host_ai_open(ai, NULL, 1, err);
    if (rc)
        return rc;
    memset(env, 0, sizeof(*env));
    rc = chat_env_from_environment(env, err);
    if (rc)
        return rc;
    env->client = ai->client;
    env->store = ai->store;
    env->embedder = ai->embedder;
    host_ai_log(ai, env->generate == CHAT_GENERATE_RUN ? "run" : "infer");
    size_t docs = 0, chunks = 0;
    double t0 = host_mono_s();
    inngest_error serr;
    inngest_error_clear(&serr);
    if (host_ai_seed(ai, &docs, &chunks, &serr) != INNGEST_OK)
        log_json(LOG_WARN, "could not ingest the built-in documents; chat answers come from an "
                           "empty knowledge base until this is fixed (restart, or run: "
                           "inngest-host ingest docs)",
                 json_pack("{s:s,s:s}", "store", ai->store_path, "error", serr.message));
    else if (docs)
        log_json(LOG_INFO, "ingested the built-in documents into an empty store",
                 json_pack("{s:I,s:I,s:s,s:f}", "documents", (json_int_t)docs, "chunks",
                           (json_int_t)chunks, "store", ai->store_path, "seconds",
                           host_mono_s() - t0));
    return INNGEST_OK;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "ingest")) {
        if (log_init(getenv("INNGEST_LOG_LEVEL")) != 0 || inngest_global_init() != INNGEST_OK) {
            fprintf(stderr, "inngest-host: bad INNGEST_LOG_LEVEL, or libcurl failed to start\n");
            return 2;
        }
        int rc = host_ingest_main(argc - 1, argv + 1);
        inngest_global_cleanup();
        return rc;
    }
    struct host_args args = {0};
    int prc = parse_args(argc, argv, &args);
    if (prc)
        return prc == 1 ? 0 : 2;
    if (log_init(getenv("INNGEST_LOG_LEVEL")) != 0) {
        fprintf(stderr, "inngest-host: INNGEST_LOG_LEVEL must be debug, info, warn or error\n");
        return 2;
    }
    if (inngest_global_init() != INNGEST_OK) {
        fprintf(stderr, "inngest-host: cannot initialise libcurl\n");
        return 1;
    }

    /* Block the stop signals before any thread starts, so only sigwait() sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = 1;
    inngest_error err;
    inngest_error_clear(&err);
    inngest_app_opts opts = {.mode = args.dev ? INNGEST_MODE_DEV : INNGEST_MODE_FROM_ENV};
    /* The host's own default app id (the SDK's is "inngest-c-app"); INNGEST_APP_ID wins. */
    if (!inngest_env_get(NULL, NULL, "INNGEST_APP_ID"))
        opts.app_id = HOST_DEFAULT_APP_ID;
    inngest_app *app = inngest_app_create(&opts, &err);
    inngest_server *srv = NULL;
    struct host_routes routes = {0};
    struct host_ai ai = {0};
    struct chat_env env = {0};
    struct host_chat chat = {0};
    struct host_guard guard = {0};
    struct chat_tokens tokens = {0};
    host_relay *relay = host_relay_create(0, 0, 0);
    if (!app || !relay) {
        if (!relay)
            inngest_error_set(&err, INNGEST_ENOMEM, "out of memory");
        log_msg(LOG_ERROR, "configuration error: %s", err.message);
        goto out;
    }
    if (host_guard_init(&guard, app, args.path, NULL, NULL, &err) != INNGEST_OK) {
        log_msg(LOG_ERROR, "configuration error: %s", err.message);
        goto out;
    }
    if (check_exposure(&args, &guard) != 0)
        goto out;

    if (open_chat(&ai, &env, &err) != INNGEST_OK) {
        log_msg(LOG_ERROR, "cannot set up the chat: %s", err.message);
        goto out;
    }
    /* Run mode streams the answer to the result streams of this process (relay.h), and of
     * the other replicas when the RAG store is shared (PostgreSQL). */
    host_relay_chat_tokens(relay, &tokens);
    host_relay_share(relay, ai.store);
    env.tokens = &tokens;
    if (register_functions(app, &args, &env, &err) != INNGEST_OK) {
        log_msg(LOG_ERROR, "cannot register functions: %s", err.message);
        goto out;
    }
    inngest_app_set_observer(app, host_observe, NULL);
    inngest_app_freeze(app);

    routes.app = app;
    routes.relay = relay;
    chat = (struct host_chat){.env = &env, .ai = &ai, .app = app};
    routes.chat_direct = host_chat_route;
    routes.chat_direct_user = &chat;
    routes.rag_documents = host_documents_route;
    routes.rag_documents_user = &chat;
    inngest_server_opts sopts = {.host = args.host,
                                 .port = args.port,
                                 .serve_path = args.path,
                                 .on_request = host_on_request,
                                 /* Slow clients hold a worker each (civetweb is thread per
                                  * connection): many cheap threads, and a reserve that only
                                  * /api/inngest may use. See docs/security.md. */
                                 .num_threads = HOST_THREADS,
                                 .serve_reserve = HOST_SERVE_RESERVE,
                                 .admit = host_guard_admit,
                                 .admit_user = &guard};
    srv = inngest_server_create(app, &sopts, &err);
    if (srv && (inngest_server_add_route(srv, "/login", host_guard_login_route, &guard) ||
                host_routes_add(srv, &routes) != INNGEST_OK))
        inngest_error_set(&err, INNGEST_ENOMEM, "cannot add the routes");
    if (!srv || err.code || inngest_server_start(srv, &err) != INNGEST_OK) {
        log_msg(LOG_ERROR, "cannot start the server: %s", err.message);
        goto out;
    }
    print_startup(app, &args, inngest_server_port(srv));

    int sig = 0;
    sigwait(&stop, &sig);
    log_msg(LOG_INFO, "received %s, finishing in-flight requests",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    __atomic_store_n(&routes.stopping, 1, __ATOMIC_RELAXED);
    status = 0;
out:
    inngest_server_destroy(srv); /* waits for in-flight requests */
    if (status == 0)
        log_msg(LOG_INFO, "stopped");
    inngest_app_destroy(app);
    host_guard_cleanup(&guard);
    host_relay_share(relay, NULL); /* before the store closes */
    host_ai_close(&ai); /* after the app: its functions borrow the store */
    host_relay_destroy(relay); /* after the server and the app: both use it */
    inngest_global_cleanup();
    return status;
}
