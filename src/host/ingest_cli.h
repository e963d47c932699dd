/* SPDX-License-Identifier: MIT */
/*
 * inngest-host ingest [--store PATH] [--force] PATH...   ingest files and folders
 * inngest-host ingest [--store PATH] --list              list the documents
 * inngest-host ingest [--store PATH] --delete KEY        remove one
 *
 * Same client, embedder and store as the server (host/ai_setup.h), same ingestion code as
 * POST /api/rag/documents (inngest_rag_ingest_document). A progress bar on a terminal, a
 * line per file otherwise; a summary on stdout. Exit status 0, 1 when any file failed,
 * 2 on a usage error.
 */
#ifndef HOST_INGEST_CLI_H
#define HOST_INGEST_CLI_H

/* argv[0] is "ingest". */
int host_ingest_main(int argc, char **argv);

#endif
