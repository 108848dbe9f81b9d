/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of upload ids, multipart XML bodies, the multipart ETag and query parameters. */
#include <stdlib.h>
#include <string.h>

#include "s3/s3_list.h"
#include "s3/s3_multipart.h"
#include "test_check.h"

#define NS "http://s3.amazonaws.com/doc/2006-03-01/"

static const char kms_arn[] = "arn:aws:kms:eu-west-1:1:key/ab";
static const uint8_t wrapped_key[] = {0xfb, 0xff, 0x00, 0x01, 0xfe};
/* base64url of kms_arn and wrapped_key, computed with Python's base64.urlsafe_b64encode */
#define KMS_B64 "YXJuOmF3czprbXM6ZXUtd2VzdC0xOjE6a2V5L2Fi"
#define WRAPPED_B64 "-_8AAf4"

struct decoded_id {
    char backend[S3_UPLOAD_ID_MAX + 1];
    char kms[512];
    uint8_t wrapped[1024];
    size_t wrapped_len;
};

static enum core_err decode_id(const char *id, struct decoded_id *d)
{
    return s3_upload_id_decode(id, strlen(id), d->backend, sizeof(d->backend), d->kms, sizeof(d->kms),
                               d->wrapped, sizeof(d->wrapped), &d->wrapped_len);
}

static void test_upload_id_round_trip(void)
{
    static const char backend[] = "2~Ab.c-d_e~f.g";
    char id[S3_UPLOAD_ID_MAX + 1];
    struct decoded_id d;

    CHECK(s3_upload_id_encode(backend, kms_arn, wrapped_key, sizeof(wrapped_key), id, sizeof(id)) == CORE_OK);
    CHECK_STR(id, "s3s1." KMS_B64 "." WRAPPED_B64 ".2~Ab.c-d_e~f.g");

    CHECK(decode_id(id, &d) == CORE_OK);
    CHECK_STR(d.backend, backend);
    CHECK_STR(d.kms, kms_arn);
    CHECK(d.wrapped_len == sizeof(wrapped_key));
    CHECK(memcmp(d.wrapped, wrapped_key, sizeof(wrapped_key)) == 0);
}

static void test_upload_id_all_tail_lengths(void)
{
    uint8_t key[64];
    char id[S3_UPLOAD_ID_MAX + 1];
    struct decoded_id d;

    for (size_t i = 0; i < sizeof(key); i++) {
        key[i] = (uint8_t)(i * 37 + 255);
    }
    /* every remainder of n mod 3 exercises another base64url tail */
    for (size_t n = 1; n <= sizeof(key); n++) {
        CHECK(s3_upload_id_encode("b", "k", key, n, id, sizeof(id)) == CORE_OK);
        CHECK(decode_id(id, &d) == CORE_OK);
        CHECK(d.wrapped_len == n);
        CHECK(memcmp(d.wrapped, key, n) == 0);
        CHECK_STR(d.kms, "k");
        CHECK_STR(d.backend, "b");
    }
}

static void test_upload_id_encode_limits(void)
{
    static uint8_t big[S3_UPLOAD_ID_MAX];
    char id[S3_UPLOAD_ID_MAX + 1];
    char small[16];

    CHECK(s3_upload_id_encode("b", "k", wrapped_key, sizeof(wrapped_key), small, sizeof(small)) ==
          CORE_TOO_LARGE);
    /* 1536 bytes encode to 2048 characters, which leaves no room for the rest */
    CHECK(s3_upload_id_encode("b", "k", big, 1536, id, sizeof(id)) == CORE_TOO_LARGE);
    CHECK(s3_upload_id_encode("b", "k", big, sizeof(big), id, sizeof(id)) == CORE_TOO_LARGE);
    CHECK(s3_upload_id_encode("", "k", wrapped_key, sizeof(wrapped_key), id, sizeof(id)) == CORE_UPSTREAM);
    CHECK(s3_upload_id_encode("a\nb", "k", wrapped_key, sizeof(wrapped_key), id, sizeof(id)) ==
          CORE_UPSTREAM);
    CHECK(s3_upload_id_encode("b", "", wrapped_key, sizeof(wrapped_key), id, sizeof(id)) == CORE_INTERNAL);
    CHECK(s3_upload_id_encode("b", "k\x01", wrapped_key, sizeof(wrapped_key), id, sizeof(id)) ==
          CORE_INTERNAL);
    CHECK(s3_upload_id_encode("b", "k", wrapped_key, 0, id, sizeof(id)) == CORE_INTERNAL);
}

static void test_upload_id_exact_max(void)
{
    char backend[S3_UPLOAD_ID_MAX];
    char id[S3_UPLOAD_ID_MAX + 1];
    struct decoded_id d;
    /* "s3s1." + "aw" (base64url of "k") + "." + "AQ" (of one byte) + "." is 11 characters */
    size_t backend_len = S3_UPLOAD_ID_MAX - 11;
    uint8_t one = 1;

    memset(backend, 'x', backend_len);
    backend[backend_len] = '\0';
    CHECK(s3_upload_id_encode(backend, "k", &one, 1, id, sizeof(id)) == CORE_OK);
    CHECK(strlen(id) == S3_UPLOAD_ID_MAX);
    CHECK(decode_id(id, &d) == CORE_OK);
    CHECK(strlen(d.backend) == backend_len);

    backend[backend_len] = 'x';
    backend[backend_len + 1] = '\0';
    CHECK(s3_upload_id_encode(backend, "k", &one, 1, id, sizeof(id)) == CORE_TOO_LARGE);
}

static void test_upload_id_rejects_foreign_ids(void)
{
    static const char *const bad[] = {
        "",
        "s3s1.",
        "s3s1...",
        "2~backend-id-from-rgw",
        "s3s2." KMS_B64 "." WRAPPED_B64 ".backend",
        "S3S1." KMS_B64 "." WRAPPED_B64 ".backend",
        "s3s1." KMS_B64 "." WRAPPED_B64,
        "s3s1." KMS_B64 "." WRAPPED_B64 ".",
        "s3s1.." WRAPPED_B64 ".backend",
        "s3s1." KMS_B64 "..backend",
        /* padding is never written */
        "s3s1.aw==." WRAPPED_B64 ".backend",
        /* standard base64 characters instead of the URL-safe ones */
        "s3s1." KMS_B64 ".+/8AAf4.backend",
        /* truncated to a length that no byte string encodes to */
        "s3s1." KMS_B64 ".-_8AA.backend",
        /* "-_8AAf5" differs from the canonical "-_8AAf4" only in unused bits */
        "s3s1." KMS_B64 ".-_8AAf5.backend",
        "s3s1." KMS_B64 ".-_8A f4.backend",
        "s3s1." KMS_B64 "." WRAPPED_B64 ".back\nend",
        "s3s1." KMS_B64 "." WRAPPED_B64 ".back\x7f"
        "end",
        /* base64url of "k\x00" and of "k\x01": NUL and control characters in the KMS key id */
        "s3s1.awA." WRAPPED_B64 ".backend",
        "s3s1.awE." WRAPPED_B64 ".backend",
    };
    struct decoded_id d;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum core_err err = decode_id(bad[i], &d);

        if (err != CORE_CLIENT) {
            fprintf(stderr, "bad id %zu returned %d\n", i, (int)err);
        }
        CHECK(err == CORE_CLIENT);
    }
}

static void test_upload_id_rejects_embedded_nul(void)
{
    static const char id[] = "s3s1." KMS_B64 "." WRAPPED_B64 ".back\0end";
    struct decoded_id d;

    CHECK(s3_upload_id_decode(id, sizeof(id) - 1, d.backend, sizeof(d.backend), d.kms, sizeof(d.kms),
                              d.wrapped, sizeof(d.wrapped), &d.wrapped_len) == CORE_CLIENT);
}

static void test_upload_id_tampered_key_decodes(void)
{
    /* the id carries no MAC: an edited key decodes, and the KMS unwrap is what fails later */
    struct decoded_id d;

    CHECK(decode_id("s3s1." KMS_B64 ".-_8AAf8.backend", &d) == CORE_OK);
    CHECK(d.wrapped_len == sizeof(wrapped_key));
    CHECK(memcmp(d.wrapped, wrapped_key, sizeof(wrapped_key)) != 0);
}

static void test_upload_id_rejects_oversize(void)
{
    static char id[S3_UPLOAD_ID_MAX + 2];
    char backend[8];
    char kms[8];
    uint8_t wrapped[4];
    size_t wrapped_len;
    struct decoded_id d;

    memset(id, 'x', sizeof(id) - 1);
    memcpy(id, "s3s1.aw.AQ.", 11);
    CHECK(decode_id(id, &d) == CORE_CLIENT);

    /* buffers smaller than the parts */
    CHECK(s3_upload_id_decode("s3s1.aw.AQ.backend-id", 21, backend, sizeof(backend), kms, sizeof(kms),
                              wrapped, sizeof(wrapped), &wrapped_len) == CORE_CLIENT);
    CHECK(s3_upload_id_decode("s3s1." KMS_B64 ".AQ.b", strlen("s3s1." KMS_B64 ".AQ.b"), backend,
                              sizeof(backend), kms, sizeof(kms), wrapped, sizeof(wrapped),
                              &wrapped_len) == CORE_CLIENT);
    CHECK(s3_upload_id_decode("s3s1.aw." WRAPPED_B64 ".b", strlen("s3s1.aw." WRAPPED_B64 ".b"), backend,
                              sizeof(backend), kms, sizeof(kms), wrapped, sizeof(wrapped),
                              &wrapped_len) == CORE_CLIENT);
    CHECK(s3_upload_id_decode("s3s1.aw.AQ.b", 12, backend, sizeof(backend), kms, sizeof(kms), wrapped,
                              sizeof(wrapped), &wrapped_len) == CORE_OK);
}

static const char initiate_body[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<InitiateMultipartUploadResult xmlns=\"" NS "\"><Bucket>bkt</Bucket><Key>a &amp; b</Key>"
    "<UploadId>2~VXBsb2Fk.id</UploadId></InitiateMultipartUploadResult>";

static void test_parse_copy_object_etag(void)
{
    static const char result[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                 "<CopyObjectResult xmlns=\"" NS "\"><LastModified>2026-01-01T00:00:00.000Z"
                                 "</LastModified><ETag>&quot;0123456789abcdef0123456789abcdef-2&quot;</ETag>"
                                 "</CopyObjectResult>";
    /* S3 sends whitespace while a copy runs, then an error with status 200 */
    static const char late_error[] = "   \n<Error><Code>InternalError</Code><ETag>x</ETag></Error>";
    static const char part_result[] = "<CopyPartResult><ETag>\"abc\"</ETag></CopyPartResult>";
    char etag[80];

    CHECK(s3_multipart_parse_copy_object_etag(result, strlen(result), etag, sizeof(etag)) == CORE_OK);
    CHECK_STR(etag, "\"0123456789abcdef0123456789abcdef-2\"");
    CHECK(s3_multipart_parse_copy_object_etag(late_error, strlen(late_error), etag, sizeof(etag)) == CORE_UPSTREAM);
    CHECK(s3_multipart_parse_copy_object_etag(part_result, strlen(part_result), etag, sizeof(etag)) ==
          CORE_UPSTREAM);
    CHECK(s3_multipart_parse_copy_object_etag("", 0, etag, sizeof(etag)) == CORE_UPSTREAM);
}

static void test_parse_initiate(void)
{
    static const char no_namespace[] =
        "<InitiateMultipartUploadResult><UploadId>abc</UploadId></InitiateMultipartUploadResult>";
    char id[64];

    CHECK(s3_multipart_parse_initiate(initiate_body, strlen(initiate_body), id, sizeof(id)) == CORE_OK);
    CHECK_STR(id, "2~VXBsb2Fk.id");
    CHECK(s3_multipart_parse_initiate(no_namespace, strlen(no_namespace), id, sizeof(id)) == CORE_OK);
    CHECK_STR(id, "abc");
    CHECK(s3_multipart_parse_initiate(initiate_body, strlen(initiate_body), id, 5) == CORE_UPSTREAM);
}

static void test_parse_initiate_rejects_bad_bodies(void)
{
    static const char *const bad[] = {
        "",
        "<InitiateMultipartUploadResult><UploadId>abc</UploadId>",
        "<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>",
        "<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>",
        "<Error><Code>AccessDenied</Code><UploadId>abc</UploadId></Error>",
        "<InitiateMultipartUploadResult><Upload><UploadId>abc</UploadId></Upload></"
        "InitiateMultipartUploadResult>",
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e \"x\">]>"
        "<InitiateMultipartUploadResult><UploadId>&e;</UploadId></InitiateMultipartUploadResult>",
    };
    char id[64];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum core_err err = s3_multipart_parse_initiate(bad[i], strlen(bad[i]), id, sizeof(id));

        if (err != CORE_UPSTREAM) {
            fprintf(stderr, "bad initiate body %zu returned %d\n", i, (int)err);
        }
        CHECK(err == CORE_UPSTREAM);
    }
    CHECK(s3_multipart_parse_initiate(initiate_body, (size_t)S3_MULTIPART_XML_MAX + 1, id, sizeof(id)) ==
          CORE_TOO_LARGE);
}

static void test_replace_upload_id_initiate(void)
{
    char *out = NULL;
    size_t out_len = 0;

    CHECK(s3_multipart_replace_upload_id(initiate_body, strlen(initiate_body), "s3s1.aw.AQ.2~x&<y>", &out,
                                         &out_len) == CORE_OK);
    CHECK(out != NULL);
    CHECK(out == NULL || out_len == strlen(out));
    CHECK_PREFIX(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    CHECK_CONTAINS(out, "<InitiateMultipartUploadResult xmlns=\"" NS "\">");
    /* the new id is text, so '&' and '<' come out escaped */
    CHECK_CONTAINS(out, "<UploadId>s3s1.aw.AQ.2~x&amp;&lt;y&gt;</UploadId>");
    CHECK_LACKS(out, "VXBsb2Fk");
    CHECK_CONTAINS(out, "<Bucket>bkt</Bucket><Key>a &amp; b</Key>");
    free(out);
}

static void test_replace_upload_id_list_parts(void)
{
    static const char body[] = "<ListPartsResult xmlns=\"" NS "\"><Bucket>b</Bucket><Key>k</Key>"
                               "<UploadId>backend</UploadId><Part><PartNumber>1</PartNumber>"
                               "<UploadId>nested</UploadId></Part></ListPartsResult>";
    static const char without[] = "<ListPartsResult><Part><UploadId>x</UploadId></Part></ListPartsResult>";
    char *out = NULL;
    size_t out_len = 0;

    CHECK(s3_multipart_replace_upload_id(body, strlen(body), "client-id", &out, &out_len) == CORE_OK);
    CHECK_CONTAINS(out, "<Key>k</Key><UploadId>client-id</UploadId><Part>");
    /* only the child of the root is the upload id */
    CHECK_CONTAINS(out, "<UploadId>nested</UploadId>");
    free(out);

    out = NULL;
    CHECK(s3_multipart_replace_upload_id(without, strlen(without), "c", &out, &out_len) == CORE_UPSTREAM);
    CHECK(out == NULL);
    CHECK(s3_multipart_replace_upload_id("<a>", 3, "c", &out, &out_len) == CORE_UPSTREAM);
    CHECK(out == NULL);
}

static const char complete_body[] =
    "<CompleteMultipartUpload xmlns=\"" NS "\">\n"
    "  <Part>\n"
    "    <ETag>\"5d41402abc4b2a76b9719d911017c592\"</ETag>\n"
    "    <ChecksumCRC32>AAAAAA==</ChecksumCRC32>\n"
    "    <PartNumber>1</PartNumber>\n"
    "    <ChecksumSHA256>n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=</ChecksumSHA256>\n"
    "  </Part>\n"
    "  <Part><PartNumber> 3 </PartNumber><ETag>7d793037a0760186574b0282f2f435e7</ETag>"
    "<ChecksumCRC32C>a</ChecksumCRC32C><ChecksumCRC64NVME>b</ChecksumCRC64NVME>"
    "<ChecksumSHA1>c</ChecksumSHA1></Part>\n"
    "</CompleteMultipartUpload>";

static void test_rewrite_complete_strips_checksums(void)
{
    struct s3_complete_parts parts;
    char *out = NULL;
    size_t out_len = 0;

    CHECK(s3_multipart_rewrite_complete(complete_body, strlen(complete_body), &out, &out_len, &parts) ==
          CORE_OK);
    CHECK(out != NULL);
    CHECK(out == NULL || out_len == strlen(out));
    CHECK_PREFIX(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    CHECK_CONTAINS(out, "<CompleteMultipartUpload xmlns=\"" NS "\">");
    CHECK_LACKS(out, "Checksum");
    CHECK_CONTAINS(out, "<ETag>\"5d41402abc4b2a76b9719d911017c592\"</ETag>");
    CHECK_CONTAINS(out, "<PartNumber>1</PartNumber>");
    CHECK_CONTAINS(out, "<PartNumber> 3 </PartNumber><ETag>7d793037a0760186574b0282f2f435e7</ETag></Part>");

    CHECK(parts.count == 2);
    if (parts.count == 2) {
        CHECK(parts.numbers[0] == 1);
        CHECK(parts.numbers[1] == 3);
        CHECK_STR(parts.etags[0], "\"5d41402abc4b2a76b9719d911017c592\"");
        CHECK_STR(parts.etags[1], "7d793037a0760186574b0282f2f435e7");
    }
    free(out);
    s3_complete_parts_cleanup(&parts);
    CHECK(parts.numbers == NULL);
    CHECK(parts.etags == NULL);
    CHECK(parts.count == 0);
}

static void test_rewrite_complete_prefixed_checksums(void)
{
    static const char body[] = "<s3:CompleteMultipartUpload xmlns:s3=\"" NS "\"><s3:Part>"
                               "<s3:PartNumber>10000</s3:PartNumber><s3:ETag>e</s3:ETag>"
                               "<s3:ChecksumSHA256>x</s3:ChecksumSHA256><s3:Other>kept</s3:Other>"
                               "</s3:Part></s3:CompleteMultipartUpload>";
    struct s3_complete_parts parts;
    char *out = NULL;
    size_t out_len = 0;

    CHECK(s3_multipart_rewrite_complete(body, strlen(body), &out, &out_len, &parts) == CORE_OK);
    CHECK_LACKS(out, "ChecksumSHA256");
    CHECK_CONTAINS(out, "<s3:PartNumber>10000</s3:PartNumber><s3:ETag>e</s3:ETag><s3:Other>kept</s3:Other>");
    CHECK(parts.count == 1);
    if (parts.count == 1) {
        CHECK(parts.numbers[0] == 10000);
    }
    free(out);
    s3_complete_parts_cleanup(&parts);
}

static void test_rewrite_complete_rejects_bad_bodies(void)
{
    static const char *const bad[] = {
        "",
        "not xml",
        "<CompleteMultipartUpload>",
        "<CompleteMultipartUpload></CompleteMultipartUpload>",
        "<Complete><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></Complete>",
        "<CompleteMultipartUpload><Part><ETag>e</ETag></Part></CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag></ETag></Part></"
        "CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>e</ETag></Part>"
        "</CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>10001</PartNumber><ETag>e</ETag></Part>"
        "</CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber><ETag>e</ETag></Part>"
        "</CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>1x</PartNumber><ETag>e</ETag></Part>"
        "</CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>99999999999999999999</PartNumber><ETag>e</ETag></Part>"
        "</CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>e</ETag>"
        "</Part></CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><ETag>f</ETag></Part>"
        "</CompleteMultipartUpload>",
        /* unordered and repeated part numbers */
        "<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>e</ETag></Part>"
        "<Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>e</ETag></Part>"
        "<Part><PartNumber>2</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"
        "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890"
        "</ETag></Part></CompleteMultipartUpload>",
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e \"1\">]><CompleteMultipartUpload><Part>"
        "<PartNumber>&e;</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
        "<?xml version=\"1.0\"?><!DOCTYPE r SYSTEM \"http://127.0.0.1:1/x.dtd\"><CompleteMultipartUpload/>",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct s3_complete_parts parts;
        char *out = NULL;
        size_t out_len = 0;
        enum core_err err = s3_multipart_rewrite_complete(bad[i], strlen(bad[i]), &out, &out_len, &parts);

        if (err != CORE_CLIENT) {
            fprintf(stderr, "bad complete body %zu returned %d\n", i, (int)err);
        }
        CHECK(err == CORE_CLIENT);
        CHECK(out == NULL);
        CHECK(parts.numbers == NULL);
        CHECK(parts.etags == NULL);
        CHECK(parts.count == 0);
    }
}

/* Appends count parts numbered from 1 to a CompleteMultipartUpload body in a malloc'd string. */
static char *complete_with_parts(size_t count)
{
    static const char part_fmt[] = "<Part><PartNumber>%zu</PartNumber><ETag>e</ETag></Part>";
    size_t cap = 64 + count * sizeof(part_fmt);
    char *body = malloc(cap);
    size_t len;

    if (body == NULL) {
        return NULL;
    }
    len = (size_t)snprintf(body, cap, "<CompleteMultipartUpload>");
    for (size_t i = 1; i <= count; i++) {
        /* numbers above 10000 repeat 10000, which the order check rejects after the count check */
        len += (size_t)snprintf(body + len, cap - len, part_fmt, i <= 10000 ? i : (size_t)10000);
    }
    snprintf(body + len, cap - len, "</CompleteMultipartUpload>");
    return body;
}

static void test_rewrite_complete_part_count_limit(void)
{
    struct s3_complete_parts parts;
    char *body = complete_with_parts(S3_MULTIPART_MAX_PARTS);
    char *out = NULL;
    size_t out_len = 0;

    CHECK(body != NULL);
    CHECK(s3_multipart_rewrite_complete(body, strlen(body), &out, &out_len, &parts) == CORE_OK);
    CHECK(parts.count == S3_MULTIPART_MAX_PARTS);
    if (parts.count == S3_MULTIPART_MAX_PARTS) {
        CHECK(parts.numbers[9999] == 10000);
    }
    free(out);
    free(body);
    s3_complete_parts_cleanup(&parts);

    out = NULL;
    body = complete_with_parts(S3_MULTIPART_MAX_PARTS + 1);
    CHECK(body != NULL);
    CHECK(s3_multipart_rewrite_complete(body, strlen(body), &out, &out_len, &parts) == CORE_CLIENT);
    CHECK(out == NULL);
    free(body);

    /* the size is checked before the bytes are read */
    CHECK(s3_multipart_rewrite_complete(complete_body, (size_t)S3_COMPLETE_XML_MAX + 1, &out, &out_len,
                                        &parts) == CORE_CLIENT);
}

/* md5("hello"), md5("world") and md5("a") */
#define MD5_HELLO "5d41402abc4b2a76b9719d911017c592"
#define MD5_WORLD "7d793037a0760186574b0282f2f435e7"
#define MD5_A "0cc175b9c0f1b6a831c399e269772661"

static void test_multipart_etag_known_values(void)
{
    /*
     * Expected values from /usr/bin/python3:
     * hashlib.md5(b"".join(bytes.fromhex(p) for p in parts)).hexdigest()
     */
    static const char *const three[] = {MD5_HELLO, "\"7D793037A0760186574B0282F2F435E7\"", "\"" MD5_A "\""};
    static const char *const one[] = {MD5_HELLO};
    char etag[48];

    CHECK(s3_multipart_etag(three, 3, etag, sizeof(etag)) == CORE_OK);
    CHECK_STR(etag, "\"c3b19bb65d486090f8ee9f2756b90bca-3\"");
    CHECK(s3_multipart_etag(one, 1, etag, sizeof(etag)) == CORE_OK);
    CHECK_STR(etag, "\"62109206880d38a4010a98e11243924a-1\"");
    CHECK(s3_multipart_etag(one, 1, etag, 10) == CORE_TOO_LARGE);
}

static void test_multipart_etag_rejects_bad_input(void)
{
    static const char *const bad[] = {
        "",
        "5d41402abc4b2a76b9719d911017c59",
        "5d41402abc4b2a76b9719d911017c5922",
        "5d41402abc4b2a76b9719d911017c59g",
        "\"5d41402abc4b2a76b9719d911017c592",
        "5d41402abc4b2a76b9719d911017c592\"",
        "\"5d41402abc4b2a76b9719d911017c592-2\"",
        "W/\"5d41402abc4b2a76b9719d911017c592\"",
    };
    static const char *const one[] = {MD5_HELLO};
    char etag[48];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *const input[] = {MD5_WORLD, bad[i]};

        CHECK(s3_multipart_etag(input, 2, etag, sizeof(etag)) == CORE_CLIENT);
    }
    CHECK(s3_multipart_etag(one, 0, etag, sizeof(etag)) == CORE_CLIENT);
}

static void test_build_complete(void)
{
    static const uint32_t numbers[] = {1, 2};
    static const char *const etags[] = {MD5_HELLO, "\"" MD5_WORLD "\""};
    struct s3_complete_parts parts;
    char *out = NULL;
    char *rewritten = NULL;
    size_t out_len = 0;
    size_t rewritten_len = 0;

    CHECK(s3_multipart_build_complete(numbers, etags, 2, &out, &out_len) == CORE_OK);
    CHECK_STR(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<CompleteMultipartUpload xmlns=\"" NS "\">"
                   "<Part><PartNumber>1</PartNumber><ETag>\"" MD5_HELLO "\"</ETag></Part>"
                   "<Part><PartNumber>2</PartNumber><ETag>\"" MD5_WORLD "\"</ETag></Part>"
                   "</CompleteMultipartUpload>");
    CHECK(out == NULL || out_len == strlen(out));

    /* the body built here passes the parser for client bodies */
    CHECK(out != NULL &&
          s3_multipart_rewrite_complete(out, out_len, &rewritten, &rewritten_len, &parts) == CORE_OK);
    CHECK(parts.count == 2);
    if (parts.count == 2) {
        CHECK_STR(parts.etags[0], "\"" MD5_HELLO "\"");
    }
    s3_complete_parts_cleanup(&parts);
    free(rewritten);
    free(out);
}

static void test_build_complete_rejects_bad_input(void)
{
    static const uint32_t unordered[] = {2, 1};
    static const uint32_t too_high[] = {10001};
    static const uint32_t zero[] = {0};
    static const char *const etags[] = {MD5_HELLO, MD5_WORLD};
    static const char *const empty[] = {""};
    static const char *const control[] = {"a\nb"};
    static const uint32_t one[] = {1};
    char *out = NULL;
    size_t out_len = 0;

    CHECK(s3_multipart_build_complete(unordered, etags, 2, &out, &out_len) == CORE_INTERNAL);
    CHECK(s3_multipart_build_complete(too_high, etags, 1, &out, &out_len) == CORE_INTERNAL);
    CHECK(s3_multipart_build_complete(zero, etags, 1, &out, &out_len) == CORE_INTERNAL);
    CHECK(s3_multipart_build_complete(one, empty, 1, &out, &out_len) == CORE_INTERNAL);
    CHECK(s3_multipart_build_complete(one, control, 1, &out, &out_len) == CORE_INTERNAL);
    CHECK(s3_multipart_build_complete(one, etags, 0, &out, &out_len) == CORE_INTERNAL);
    CHECK(out == NULL);
}

#define FILLED "\"c3b19bb65d486090f8ee9f2756b90bca-3\""

static void test_fill_complete_etag_empty(void)
{
    /* as Ceph RGW 16.2 sends it */
    static const char body[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<CompleteMultipartUploadResult xmlns=\"" NS "\"><Location>http://h/b/k</Location>"
        "<Bucket>b</Bucket><Key>k</Key><ETag></ETag></CompleteMultipartUploadResult>";
    static const char self_closed[] = "<CompleteMultipartUploadResult><Key>k</Key><ETag/>"
                                      "</CompleteMultipartUploadResult>";
    char *out = NULL;
    size_t out_len = 0;

    CHECK(s3_multipart_fill_complete_etag(body, strlen(body), FILLED, &out, &out_len) == CORE_OK);
    CHECK(out != NULL);
    CHECK(out == NULL || out_len == strlen(out));
    CHECK_CONTAINS(out, "<Key>k</Key><ETag>" FILLED "</ETag></CompleteMultipartUploadResult>");
    CHECK_CONTAINS(out, "<Location>http://h/b/k</Location>");
    free(out);

    out = NULL;
    CHECK(s3_multipart_fill_complete_etag(self_closed, strlen(self_closed), FILLED, &out, &out_len) ==
          CORE_OK);
    CHECK_CONTAINS(out, "<ETag>" FILLED "</ETag>");
    free(out);
}

static void test_fill_complete_etag_missing(void)
{
    static const char body[] =
        "<CompleteMultipartUploadResult xmlns=\"" NS "\"><Bucket>b</Bucket><Key>k</Key>"
        "<ChecksumCRC32>x</ChecksumCRC32></CompleteMultipartUploadResult>";
    static const char no_key[] = "<CompleteMultipartUploadResult><Bucket>b</Bucket>"
                                 "</CompleteMultipartUploadResult>";
    char *out = NULL;
    size_t out_len = 0;

    CHECK(s3_multipart_fill_complete_etag(body, strlen(body), FILLED, &out, &out_len) == CORE_OK);
    /* the inserted element takes the root's default namespace, so no xmlns appears on it */
    CHECK_CONTAINS(out, "<Key>k</Key><ETag>" FILLED "</ETag><ChecksumCRC32>");
    free(out);

    out = NULL;
    CHECK(s3_multipart_fill_complete_etag(no_key, strlen(no_key), FILLED, &out, &out_len) == CORE_OK);
    CHECK_CONTAINS(out, "<Bucket>b</Bucket><ETag>" FILLED "</ETag></CompleteMultipartUploadResult>");
    free(out);
}

static void test_fill_complete_etag_keeps_present(void)
{
    static const char body[] = "\n  <?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                               "<CompleteMultipartUploadResult><Key>k</Key><ETag>&quot;abc-2&quot;</ETag>"
                               "</CompleteMultipartUploadResult>";
    static const char error[] = "<Error><Code>InvalidPart</Code></Error>";
    static const char doctype[] = "<?xml version=\"1.0\"?><!DOCTYPE r><CompleteMultipartUploadResult/>";
    char *out = NULL;
    size_t out_len = 0;

    /* with the leading whitespace S3 sends while it completes the upload */
    CHECK(s3_multipart_fill_complete_etag(body, strlen(body), FILLED, &out, &out_len) == CORE_OK);
    CHECK_STR(out, body);
    CHECK(out_len == strlen(body));
    free(out);

    out = NULL;
    CHECK(s3_multipart_fill_complete_etag(error, strlen(error), FILLED, &out, &out_len) == CORE_OK);
    CHECK_STR(out, error);
    free(out);

    out = NULL;
    CHECK(s3_multipart_fill_complete_etag("<a>", 3, FILLED, &out, &out_len) == CORE_UPSTREAM);
    CHECK(out == NULL);
    CHECK(s3_multipart_fill_complete_etag(doctype, strlen(doctype), FILLED, &out, &out_len) == CORE_UPSTREAM);
}

static void test_parse_error_code(void)
{
    static const char body[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\n"
        "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message>"
        "</Error>";
    static const char padded[] = "        \n<Error><Code>SlowDown</Code></Error>";
    static const char *const bad[] = {
        "",
        "<Error><Message>m</Message></Error>",
        "<Error><Code></Code></Error>",
        "<CompleteMultipartUploadResult><Code>x</Code></CompleteMultipartUploadResult>",
        "<Error><Code>x</Code>",
    };
    char code[32];

    CHECK(s3_multipart_parse_error_code(body, strlen(body), code, sizeof(code)) == CORE_OK);
    CHECK_STR(code, "InternalError");
    CHECK(s3_multipart_parse_error_code(padded, strlen(padded), code, sizeof(code)) == CORE_OK);
    CHECK_STR(code, "SlowDown");
    CHECK(s3_multipart_parse_error_code(body, strlen(body), code, 4) == CORE_UPSTREAM);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(s3_multipart_parse_error_code(bad[i], strlen(bad[i]), code, sizeof(code)) == CORE_UPSTREAM);
    }
}

static bool halve(void *arg, uint64_t stored, uint64_t *client)
{
    (void)arg;
    *client = stored / 2;
    return true;
}

static void test_list_parts_sizes(void)
{
    static const char body[] = "<ListPartsResult xmlns=\"" NS "\"><UploadId>u</UploadId>"
                               "<Part><PartNumber>1</PartNumber><ETag>\"e\"</ETag><Size>200</Size></Part>"
                               "<Part><PartNumber>2</PartNumber><Size>50</Size></Part>"
                               "<Size>7</Size></ListPartsResult>";
    char *out = NULL;
    size_t out_len = 0;

    CHECK(s3_list_rewrite_sizes(body, strlen(body), halve, NULL, &out, &out_len) == CORE_OK);
    CHECK_CONTAINS(out, "<ETag>\"e\"</ETag><Size>100</Size></Part>");
    CHECK_CONTAINS(out, "<PartNumber>2</PartNumber><Size>25</Size>");
    /* a Size outside Part is left alone */
    CHECK_CONTAINS(out, "<Size>7</Size></ListPartsResult>");
    free(out);
}

static void test_query_get(void)
{
    static const char q[] = "partNumber=3&uploadId=s3s1.a%2Eb%7E.c&x&%75ploadId=second&empty=";
    char value[64];

    CHECK(s3_query_get(q, strlen(q), "uploadId", value, sizeof(value)));
    CHECK_STR(value, "s3s1.a.b~.c");
    CHECK(s3_query_get(q, strlen(q), "partNumber", value, sizeof(value)));
    CHECK_STR(value, "3");
    CHECK(s3_query_get(q, strlen(q), "x", value, sizeof(value)));
    CHECK_STR(value, "");
    CHECK(s3_query_get(q, strlen(q), "empty", value, sizeof(value)));
    CHECK_STR(value, "");
    CHECK(!s3_query_get(q, strlen(q), "missing", value, sizeof(value)));
    CHECK(!s3_query_get(q, strlen(q), "upload", value, sizeof(value)));
    CHECK(!s3_query_get(q, strlen(q), "uploadIdx", value, sizeof(value)));
    /* "s3s1.a.b~.c" needs 12 bytes with the NUL */
    CHECK(!s3_query_get(q, strlen(q), "uploadId", value, 11));
    CHECK(s3_query_get(q, strlen(q), "uploadId", value, 12));
    CHECK(!s3_query_get("a=%zz", 5, "a", value, sizeof(value)));
    CHECK(!s3_query_get("a=x%00y", 7, "a", value, sizeof(value)));
    /* an invalid escape in another name does not hide the parameter */
    CHECK(s3_query_get("%z=1&a=2", 8, "a", value, sizeof(value)));
    CHECK_STR(value, "2");
    CHECK(!s3_query_get("", 0, "a", value, sizeof(value)));
    /* the length bounds the query, not a NUL */
    CHECK(s3_query_get("a=1", 1, "a", value, sizeof(value)));
    CHECK_STR(value, "");
}

static void test_query_replace(void)
{
    static const char q[] = "partNumber=3&uploadId=client%2Eid&x-id=UploadPart&upload%49d&uploadId=again&";
    char out[256];
    size_t out_len = 0;

    CHECK(s3_query_replace(q, strlen(q), "uploadId", "2~a b/c+d", out, sizeof(out), &out_len) == CORE_OK);
    CHECK_STR(out, "partNumber=3&uploadId=2~a%20b%2Fc%2Bd&x-id=UploadPart&upload%49d=2~a%20b%2Fc%2Bd"
                   "&uploadId=2~a%20b%2Fc%2Bd&");
    CHECK(out_len == strlen(out));

    CHECK(s3_query_replace("a=1&&b=%41", 10, "b", "z", out, sizeof(out), &out_len) == CORE_OK);
    CHECK_STR(out, "a=1&&b=z");
    CHECK(s3_query_replace("a=1", 3, "b", "z", out, sizeof(out), &out_len) == CORE_CLIENT);
    CHECK(s3_query_replace("%zz=1&b=2", 9, "b", "z", out, sizeof(out), &out_len) == CORE_CLIENT);
    /* "b=zz" and a NUL need 5 bytes */
    CHECK(s3_query_replace("b=1", 3, "b", "zz", out, 4, &out_len) == CORE_TOO_LARGE);
    CHECK(s3_query_replace("b=1", 3, "b", "zz", out, 5, &out_len) == CORE_OK);
    CHECK_STR(out, "b=zz");
}

static void test_parse_list_parts(void)
{
    static const char xml[] = "<?xml version=\"1.0\"?><ListPartsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                              "<UploadId>u</UploadId><IsTruncated>true</IsTruncated>"
                              "<Part><PartNumber>2</PartNumber><ETag>\"a\"</ETag><Size>65572</Size></Part>"
                              "<Part><PartNumber>7</PartNumber><Size>37</Size></Part></ListPartsResult>";
    struct s3_listed_part *parts = NULL;
    size_t count = 0;
    bool truncated = false;

    CHECK(s3_multipart_parse_list_parts(xml, strlen(xml), &parts, &count, &truncated) == CORE_OK);
    CHECK(count == 2);
    CHECK(truncated);
    CHECK(parts != NULL);
    if (parts != NULL && count == 2) {
        CHECK(parts[0].number == 2);
        CHECK(parts[0].size == 65572);
        CHECK(parts[1].number == 7);
        CHECK(parts[1].size == 37);
    }
    free(parts);
}

static void test_parse_list_parts_rejects_bad_bodies(void)
{
    static const char *const bodies[] = {
        "<Error><Code>NoSuchUpload</Code></Error>",
        "<ListPartsResult><Part><PartNumber>1</PartNumber></Part></ListPartsResult>",
        "<ListPartsResult><Part><PartNumber>0</PartNumber><Size>1</Size></Part></ListPartsResult>",
        "<ListPartsResult><Part><PartNumber>1</PartNumber><Size>-1</Size></Part></ListPartsResult>",
        "not xml",
    };

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct s3_listed_part *parts = NULL;
        size_t count = 0;
        bool truncated = false;

        CHECK(s3_multipart_parse_list_parts(bodies[i], strlen(bodies[i]), &parts, &count, &truncated) ==
              CORE_UPSTREAM);
        CHECK(parts == NULL);
    }
}

int main(void)
{
    RUN_TEST(test_parse_list_parts);
    RUN_TEST(test_parse_list_parts_rejects_bad_bodies);
    RUN_TEST(test_upload_id_round_trip);
    RUN_TEST(test_upload_id_all_tail_lengths);
    RUN_TEST(test_upload_id_encode_limits);
    RUN_TEST(test_upload_id_exact_max);
    RUN_TEST(test_upload_id_rejects_foreign_ids);
    RUN_TEST(test_upload_id_rejects_embedded_nul);
    RUN_TEST(test_upload_id_tampered_key_decodes);
    RUN_TEST(test_upload_id_rejects_oversize);
    RUN_TEST(test_parse_initiate);
    RUN_TEST(test_parse_copy_object_etag);
    RUN_TEST(test_parse_initiate_rejects_bad_bodies);
    RUN_TEST(test_replace_upload_id_initiate);
    RUN_TEST(test_replace_upload_id_list_parts);
    RUN_TEST(test_rewrite_complete_strips_checksums);
    RUN_TEST(test_rewrite_complete_prefixed_checksums);
    RUN_TEST(test_rewrite_complete_rejects_bad_bodies);
    RUN_TEST(test_rewrite_complete_part_count_limit);
    RUN_TEST(test_multipart_etag_known_values);
    RUN_TEST(test_multipart_etag_rejects_bad_input);
    RUN_TEST(test_build_complete);
    RUN_TEST(test_build_complete_rejects_bad_input);
    RUN_TEST(test_fill_complete_etag_empty);
    RUN_TEST(test_fill_complete_etag_missing);
    RUN_TEST(test_fill_complete_etag_keeps_present);
    RUN_TEST(test_parse_error_code);
    RUN_TEST(test_list_parts_sizes);
    RUN_TEST(test_query_get);
    RUN_TEST(test_query_replace);
    return test_finish();
}
