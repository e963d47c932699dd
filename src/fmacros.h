/* SPDX-License-Identifier: MIT */
/* Feature-test macros, included first by every source file (C11 without extensions plus
 * the POSIX and BSD interfaces we use: strdup, strncasecmp, clock_gettime, timegm). */
#ifndef ING_FMACROS_H
#define ING_FMACROS_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE 1
#endif

#endif
