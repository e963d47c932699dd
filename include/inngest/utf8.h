/* SPDX-License-Identifier: MIT */
/* UTF-8 helpers for function code that cuts text to a size (prompts, previews). */
#ifndef INNGEST_UTF8_H
#define INNGEST_UTF8_H

#include <stddef.h>

#include "inngest/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The length of the longest prefix of s[0..len) that is at most `max` bytes and does not
 * end inside a multi-byte character: `len` when it fits, else `max` moved back to the
 * start of the character it falls in. Pure. */
INNGEST_API size_t inngest_utf8_cut(const char *s, size_t len, size_t max);

#ifdef __cplusplus
}
#endif

#endif /* INNGEST_UTF8_H */
