// Swift's view of libcurl's easy API, plus typed wrappers for its variadic functions.
// Only the HTTP module imports this.
#ifndef CLOUDTASK_CCURL_SHIM_H
#define CLOUDTASK_CCURL_SHIM_H

#include <curl/curl.h>

// curl_easy_setopt is variadic: the variant for long options (flags, timeouts, sizes).
static inline CURLcode ct_curl_easy_setopt_long(CURL *curl, CURLoption option, long value) {
    return curl_easy_setopt(curl, option, value);
}

// curl_easy_setopt is variadic: the variant for pointer options (strings, lists, buffers, callback data).
static inline CURLcode ct_curl_easy_setopt_pointer(CURL *curl, CURLoption option, const void *value) {
    return curl_easy_setopt(curl, option, value);
}

// curl_easy_setopt is variadic: the variant for data callbacks (write, header and read functions share one type).
static inline CURLcode ct_curl_easy_setopt_callback(CURL *curl, CURLoption option, curl_write_callback value) {
    return curl_easy_setopt(curl, option, value);
}

// curl_easy_getinfo is variadic: the variant for long results (response code).
static inline CURLcode ct_curl_easy_getinfo_long(CURL *curl, CURLINFO info, long *value) {
    return curl_easy_getinfo(curl, info, value);
}

#endif
