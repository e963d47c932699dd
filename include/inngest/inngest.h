/* SPDX-License-Identifier: MIT */
/* libinngest: an Inngest SDK in C. Include this umbrella header, or the parts you use. */
#ifndef INNGEST_INNGEST_H
#define INNGEST_INNGEST_H

#include "inngest/version.h"
#include "inngest/export.h"
#include "inngest/alloc.h"
#include "inngest/error.h"
#include "inngest/env.h"
#include "inngest/http.h"
#include "inngest/function.h"
#include "inngest/step.h"
#include "inngest/app.h"
#include "inngest/server.h"
#include "inngest/testing.h"
#include "inngest/utf8.h"

#endif /* INNGEST_INNGEST_H */
