/* SPDX-License-Identifier: MIT */
/*
 * The retry policy of the official OpenAI clients, as pure functions: which failures to
 * retry, how to read retry-after-ms / retry-after (seconds or an HTTP date), and the
 * exponential backoff with jitter used when the server gives no delay.
 */
#include "fmacros.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ai/ai_internal.h"

/* A server delay above this is not honoured in process (the SDKs' MAX_RETRY_AFTER). */
#define MAX_RETRY_AFTER_MS 120000L
#define INITIAL_BACKOFF_MS 500.0
#define MAX_BACKOFF_MS 8000.0

static int parse_number(const char *s, double *out) {
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return -1;
    double v = strtod(s, &end);
    while (isspace((unsigned char)*end))
        end++;
    if (*end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* "Wed, 21 Oct 2015 07:28:00 GMT" (IMF-fixdate) to epoch seconds, or -1. */
static long parse_http_date(const char *s) {
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char wd[4], mon[4], zone[4];
    int day, year, hh, mm, ss;
    if (sscanf(s, "%3s, %d %3s %d %d:%d:%d %3s", wd, &day, mon, &year, &hh, &mm, &ss, zone) != 8)
        return -1;
    int m = -1;
    for (int i = 0; i < 12; i++)
        if (!strcasecmp(mon, months[i]))
            m = i;
    if (m < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || year < 1970)
        return -1;
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = m;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    return (long)timegm(&tm);
}

long ing_retry_after_ms(const char *retry_after_ms, const char *retry_after, long now_s) {
    double v;
    if (retry_after_ms && parse_number(retry_after_ms, &v) == 0 && v >= 0)
        return (long)ceil(v);
    if (retry_after) {
        if (parse_number(retry_after, &v) == 0)
            return v >= 0 ? (long)ceil(v * 1000.0) : -1;
        /* "Wed, 21 Oct 2015 07:28:00 GMT": with the comma the number parse failed. */
        long t = parse_http_date(retry_after);
        if (t >= 0)
            return t > now_s ? (t - now_s) * 1000L : 0;
    }
    return -1;
}

int ing_retry_retriable(int status, const char *should_retry, const char *error_code) {
    if (error_code && !strcmp(error_code, "insufficient_quota"))
        return 0; /* a billing problem: no amount of waiting fixes it */
    if (should_retry && !strcasecmp(should_retry, "true"))
        return 1;
    if (should_retry && !strcasecmp(should_retry, "false"))
        return 0;
    return status == 0 || status == 408 || status == 409 || status == 429 || status >= 500;
}

long ing_retry_delay_ms(const struct ing_retry_in *in) {
    if (in->attempt >= in->max_retries)
        return -1;
    long server = ing_retry_after_ms(in->retry_after_ms, in->retry_after, in->now_s);
    /* Checked before x-should-retry, as the SDKs do: an hour-long delay is not worth a
     * held connection. */
    if (server > MAX_RETRY_AFTER_MS)
        return -1;
    if (!ing_retry_retriable(in->status, in->should_retry, in->error_code))
        return -1;
    if (server > 0)
        return server;
    double backoff = INITIAL_BACKOFF_MS * pow(2.0, in->attempt);
    if (backoff > MAX_BACKOFF_MS)
        backoff = MAX_BACKOFF_MS;
    double r = in->rand01 < 0 ? 0 : in->rand01 >= 1 ? 0.999999 : in->rand01;
    return (long)(backoff * (1.0 - 0.25 * r));
}
