/* SPDX-License-Identifier: MIT */
/* Symbol visibility for the public API. The library is built with -fvisibility=hidden, so
 * only declarations marked INNGEST_API are exported from the shared object. */
#ifndef INNGEST_EXPORT_H
#define INNGEST_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define INNGEST_API __attribute__((visibility("default")))
#define INNGEST_NODISCARD __attribute__((warn_unused_result))
#else
#define INNGEST_API
#define INNGEST_NODISCARD
#endif

#endif /* INNGEST_EXPORT_H */
