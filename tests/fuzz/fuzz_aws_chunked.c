/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the aws-chunked decoder. The first input byte picks
 * the mode and the declared trailer, the next ones the piece sizes, and the
 * rest is the body, fed in those pieces. The signing key and seed are
 * fixed, so only unsigned framing and the rejection paths of the signed
 * modes are reachable, which is where untrusted bytes are parsed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3_chunked.h"

static enum core_err discard(void *arg, const uint8_t *data, size_t len)
{
    uint64_t *total = arg;

    (void)data;
    *total += len;
    return CORE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const declared[] = {NULL, "x-amz-checksum-crc32",
                                           "x-amz-checksum-crc32c,x-amz-checksum-sha1"};
    struct s3_auth auth;
    struct s3_chunked *d = NULL;
    enum s3_chunked_mode mode;
    uint64_t total = 0;
    uint8_t steps[4];
    size_t step = 0;
    enum core_err err = CORE_OK;

    if (size < 1 + sizeof(steps)) {
        return 0;
    }
    mode = (enum s3_chunked_mode)(1 + data[0] % 3);
    memcpy(steps, data + 1, sizeof(steps));
    memset(&auth, 0, sizeof(auth));
    memset(auth.signature, 'a', 64);
    memcpy(auth.request_time, "20130524T000000Z", 17);
    memcpy(auth.scope, "20130524/us-east-1/s3/aws4_request", 35);

    if (s3_chunked_new(mode, &auth, mode == S3_CHUNKED_SIGNED ? NULL : declared[(data[0] / 3) % 3], &d) !=
        CORE_OK) {
        return 0;
    }
    data += 1 + sizeof(steps);
    size -= 1 + sizeof(steps);
    while (size > 0 && err == CORE_OK) {
        size_t n = 1 + steps[step++ % sizeof(steps)];

        n = n > size ? size : n;
        err = s3_chunked_feed(d, data, n, discard, &total);
        data += n;
        size -= n;
    }
    if (s3_chunked_finish(d) == CORE_OK &&
        (!s3_chunked_is_done(d) || s3_chunked_decoded_length(d) != total)) {
        abort();
    }
    s3_chunked_free(d);
    return 0;
}
