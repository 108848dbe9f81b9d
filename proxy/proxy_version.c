/* SPDX-License-Identifier: Apache-2.0 */
/* Build facts and library versions for "s3seal --version"; see proxy_version.h. */
#include "proxy/proxy_version.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <libxml/xmlversion.h>
#include <llhttp.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "s3seal_build_info.h"

/* llhttp is linked statically (built in, or a static system library), so its header version is what runs. */
#define LLHTTP_VERSION_TEXT_(a, b, c) #a "." #b "." #c
#define LLHTTP_VERSION_TEXT(a, b, c) LLHTTP_VERSION_TEXT_(a, b, c)

#ifdef __clang__
#define COMPILER_NAME "clang"
#else
#define COMPILER_NAME "gcc"
#endif

#ifdef S3SEAL_LLHTTP_BUILTIN
#define LLHTTP_ORIGIN "compiled from the node-llhttp sources"
#else
#define LLHTTP_ORIGIN "system library"
#endif

void proxy_version_print(FILE *out)
{
    const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);

    fprintf(out, "s3seal %s\n", S3SEAL_BUILD_VERSION);
    fprintf(out, "commit: %s\n", S3SEAL_BUILD_COMMIT);
    fprintf(out, "build type: %s, sanitizers: %s, compiler: " COMPILER_NAME " %s\n", S3SEAL_BUILD_TYPE, S3SEAL_BUILD_SANITIZERS,
            __VERSION__);

    /* Shared libraries: the running version first, because that is what a bug report needs. */
    fprintf(out, "OpenSSL: %s (built with %s)\n", OpenSSL_version(OPENSSL_VERSION), OPENSSL_VERSION_TEXT);
    fprintf(out, "libevent: %s (built with %s)\n", event_get_version(), LIBEVENT_VERSION);
    fprintf(out, "libcurl: %s (built with %s)\n", curl != NULL ? curl->version : "unknown", LIBCURL_VERSION);
    fprintf(out, "libxml2: built with %s\n", LIBXML_DOTTED_VERSION);
    fprintf(out, "jansson: %s (built with %s)\n", jansson_version_str(), JANSSON_VERSION);
    fprintf(out, "llhttp: %s, %s\n",
            LLHTTP_VERSION_TEXT(LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH), LLHTTP_ORIGIN);
}
