/* SPDX-License-Identifier: MIT */
/* Process-wide set-up of the two adapters (libcurl, civetweb). */
#ifndef ING_NET_H
#define ING_NET_H

int ing_curl_global_init(void);
void ing_curl_global_cleanup(void);
int ing_civetweb_global_init(void);
void ing_civetweb_global_cleanup(void);

#endif
