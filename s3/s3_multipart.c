/* SPDX-License-Identifier: Apache-2.0 */
/* Upload ids, multipart XML bodies, the multipart ETag and query parameters. */
#include "s3/s3_multipart.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "s3/s3_buf.h"
#include "s3/s3_uri.h"
#include "s3/s3_xml.h"

/* no XML_PARSE_NOENT: entities stay unexpanded; no XML_PARSE_DTDLOAD: nothing external is read */
#define MULTIPART_PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

#define UPLOAD_ID_PREFIX "s3s1."
#define S3_NAMESPACE "http://s3.amazonaws.com/doc/2006-03-01/"
#define MD5_LEN 16

/* ---- base64url (RFC 4648 section 5) without padding ---- */

static const char base64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t base64url_encoded_len(size_t n)
{
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

/* Writes base64url_encoded_len(n) characters; the caller has checked the room. */
static void base64url_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i = 0;

    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

        *out++ = base64url_alphabet[v >> 18 & 63];
        *out++ = base64url_alphabet[v >> 12 & 63];
        *out++ = base64url_alphabet[v >> 6 & 63];
        *out++ = base64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;

        *out++ = base64url_alphabet[v >> 18 & 63];
        *out++ = base64url_alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

        *out++ = base64url_alphabet[v >> 18 & 63];
        *out++ = base64url_alphabet[v >> 12 & 63];
        *out++ = base64url_alphabet[v >> 6 & 63];
    }
}

static int base64url_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}

/*
 * Decodes unpadded base64url. Rejects a length of 4k+1, characters outside
 * the alphabet and nonzero unused bits in the last group, so that every
 * byte string has exactly one accepted spelling.
 */
static bool base64url_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t n = 0;

    if (len % 4 == 1) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        int v = base64url_value(in[i]);

        if (v < 0) {
            return false;
        }
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == cap) {
                return false;
            }
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0) {
        return false;
    }
    *out_len = n;
    return true;
}

/* ---- upload ids ---- */

static bool has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f) {
            return true;
        }
    }
    return false;
}

enum core_err s3_upload_id_encode(const char *backend_id, const char *kms_id, const uint8_t *wrapped,
                                  size_t wrapped_len, char *out, size_t cap)
{
    size_t backend_len = strlen(backend_id);
    size_t kms_len = strlen(kms_id);
    size_t prefix_len = strlen(UPLOAD_ID_PREFIX);
    size_t kms_enc_len;
    size_t wrapped_enc_len;
    size_t total;
    char *p = out;

    CORE_ENSURE(backend_len > 0 && !has_control(backend_id, backend_len), CORE_UPSTREAM);
    CORE_ENSURE(kms_len > 0 && !has_control(kms_id, kms_len), CORE_INTERNAL);
    CORE_ENSURE(wrapped_len > 0, CORE_INTERNAL);
    /* bounds the arithmetic below before any length can wrap */
    CORE_ENSURE(backend_len <= S3_UPLOAD_ID_MAX && kms_len <= S3_UPLOAD_ID_MAX &&
                    wrapped_len <= S3_UPLOAD_ID_MAX,
                CORE_TOO_LARGE);

    kms_enc_len = base64url_encoded_len(kms_len);
    wrapped_enc_len = base64url_encoded_len(wrapped_len);
    total = prefix_len + kms_enc_len + 1 + wrapped_enc_len + 1 + backend_len;
    CORE_ENSURE(total <= S3_UPLOAD_ID_MAX && total < cap, CORE_TOO_LARGE);

    memcpy(p, UPLOAD_ID_PREFIX, prefix_len);
    p += prefix_len;
    base64url_encode((const uint8_t *)kms_id, kms_len, p);
    p += kms_enc_len;
    *p++ = '.';
    base64url_encode(wrapped, wrapped_len, p);
    p += wrapped_enc_len;
    *p++ = '.';
    memcpy(p, backend_id, backend_len);
    p[backend_len] = '\0';
    return CORE_OK;
}

/* Finds the next '.' in s[0..len); returns its offset, or len when there is none. */
static size_t find_dot(const char *s, size_t len)
{
    const char *dot = memchr(s, '.', len);

    return dot ? (size_t)(dot - s) : len;
}

enum core_err s3_upload_id_decode(const char *id, size_t len, char *backend_id, size_t backend_cap,
                                  char *kms_id, size_t kms_cap, uint8_t *wrapped, size_t wrapped_cap,
                                  size_t *wrapped_len)
{
    size_t prefix_len = strlen(UPLOAD_ID_PREFIX);
    const char *kms_enc;
    const char *wrapped_enc;
    const char *backend;
    size_t kms_enc_len;
    size_t wrapped_enc_len;
    size_t backend_len;
    size_t kms_len;
    size_t rest;

    CORE_ENSURE(len <= S3_UPLOAD_ID_MAX && len > prefix_len, CORE_CLIENT);
    CORE_ENSURE(memcmp(id, UPLOAD_ID_PREFIX, prefix_len) == 0, CORE_CLIENT);
    /* NUL counts as a control character here, so the strings below cannot be cut short */
    CORE_ENSURE(!has_control(id, len), CORE_CLIENT);

    kms_enc = id + prefix_len;
    rest = len - prefix_len;
    kms_enc_len = find_dot(kms_enc, rest);
    CORE_ENSURE(kms_enc_len > 0 && kms_enc_len < rest, CORE_CLIENT);

    wrapped_enc = kms_enc + kms_enc_len + 1;
    rest -= kms_enc_len + 1;
    wrapped_enc_len = find_dot(wrapped_enc, rest);
    CORE_ENSURE(wrapped_enc_len > 0 && wrapped_enc_len < rest, CORE_CLIENT);

    backend = wrapped_enc + wrapped_enc_len + 1;
    backend_len = rest - wrapped_enc_len - 1;
    CORE_ENSURE(backend_len > 0 && backend_len < backend_cap, CORE_CLIENT);

    /* one byte stays free for the NUL */
    CORE_ENSURE(kms_cap > 0, CORE_CLIENT);
    CORE_ENSURE(base64url_decode(kms_enc, kms_enc_len, (uint8_t *)kms_id, kms_cap - 1, &kms_len),
                CORE_CLIENT);
    CORE_ENSURE(!has_control(kms_id, kms_len), CORE_CLIENT);
    kms_id[kms_len] = '\0';

    CORE_ENSURE(base64url_decode(wrapped_enc, wrapped_enc_len, wrapped, wrapped_cap, wrapped_len),
                CORE_CLIENT);

    memcpy(backend_id, backend, backend_len);
    backend_id[backend_len] = '\0';
    return CORE_OK;
}

/* ---- XML helpers ---- */

static bool is_element(const xmlNode *node, const char *name)
{
    return node->type == XML_ELEMENT_NODE && xmlStrcmp(node->name, (const xmlChar *)name) == 0;
}

static bool is_xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Parses a body and rejects a DOCTYPE, which S3 bodies never have, so no
 * entity declaration can take effect. Leading whitespace is skipped when
 * skip_space is set because S3 may send it ahead of a late response.
 * Returns NULL for input that is not well-formed.
 */
static xmlDoc *parse_body(const char *xml, size_t len, bool skip_space)
{
    xmlDoc *doc;

    while (skip_space && len > 0 && is_xml_space(*xml)) {
        xml++;
        len--;
    }
    xmlInitParser();
    doc = xmlReadMemory(xml, (int)len, NULL, NULL, MULTIPART_PARSE_OPTIONS);
    if (doc == NULL) {
        return NULL;
    }
    if (xmlDocGetRootElement(doc) == NULL || doc->intSubset != NULL || doc->extSubset != NULL) {
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

static xmlNode *find_child(xmlNode *parent, const char *name)
{
    for (xmlNode *child = parent->children; child; child = child->next) {
        if (is_element(child, name)) {
            return child;
        }
    }
    return NULL;
}

/* Replaces the children of node by one text node; unlike xmlNodeSetContent, '&' in text stays literal. */
static enum core_err set_text(xmlNode *node, const char *text)
{
    xmlNodeSetContent(node, NULL);
    xmlNodeAddContent(node, (const xmlChar *)text);
    CORE_ENSURE(node->children != NULL || text[0] == '\0', CORE_NOMEM);
    return CORE_OK;
}

/* Copies the text content of node into out with a NUL; fails for empty text or text that does not fit. */
static enum core_err copy_text(xmlNode *node, char *out, size_t cap, enum core_err invalid)
{
    xmlChar *text = xmlNodeGetContent(node);
    size_t n;

    CORE_ENSURE(text != NULL, CORE_NOMEM);
    n = strlen((const char *)text);
    if (n == 0 || n >= cap) {
        xmlFree(text);
        return invalid;
    }
    memcpy(out, text, n + 1);
    xmlFree(text);
    return CORE_OK;
}

static enum core_err copy_body(const char *xml, size_t len, char **out, size_t *out_len)
{
    char *copy = malloc(len + 1);

    CORE_ENSURE(copy != NULL, CORE_NOMEM);
    memcpy(copy, xml, len);
    copy[len] = '\0';
    *out = copy;
    *out_len = len;
    return CORE_OK;
}

/* ---- backend responses ---- */

/* Copies the text of the child element of the root, for a root of the given name. */
static enum core_err read_root_child(const char *xml, size_t len, const char *root_name,
                                     const char *child_name, char *out, size_t cap)
{
    enum core_err err = CORE_UPSTREAM;
    xmlDoc *doc;
    xmlNode *root;
    xmlNode *child;

    CORE_ENSURE(len <= S3_MULTIPART_XML_MAX, CORE_TOO_LARGE);
    doc = parse_body(xml, len, true);
    CORE_ENSURE(doc != NULL, CORE_UPSTREAM);

    root = xmlDocGetRootElement(doc);
    if (is_element(root, root_name)) {
        child = find_child(root, child_name);
        if (child != NULL) {
            err = copy_text(child, out, cap, CORE_UPSTREAM);
        }
    }
    xmlFreeDoc(doc);
    return err;
}

enum core_err s3_multipart_parse_initiate(const char *xml, size_t len, char *upload_id, size_t cap)
{
    return read_root_child(xml, len, "InitiateMultipartUploadResult", "UploadId", upload_id, cap);
}

enum core_err s3_multipart_parse_copy_part_etag(const char *xml, size_t len, char *etag, size_t cap)
{
    return read_root_child(xml, len, "CopyPartResult", "ETag", etag, cap);
}

enum core_err s3_multipart_parse_copy_object_etag(const char *xml, size_t len, char *etag, size_t cap)
{
    return read_root_child(xml, len, "CopyObjectResult", "ETag", etag, cap);
}

enum core_err s3_multipart_parse_error_code(const char *xml, size_t len, char *code, size_t cap)
{
    return read_root_child(xml, len, "Error", "Code", code, cap);
}

enum core_err s3_multipart_replace_upload_id(const char *xml, size_t len, const char *new_id, char **out,
                                             size_t *out_len)
{
    enum core_err err;
    xmlDoc *doc;
    xmlNode *upload_id;

    *out = NULL;
    *out_len = 0;
    CORE_ENSURE(len <= S3_MULTIPART_XML_MAX, CORE_TOO_LARGE);
    doc = parse_body(xml, len, true);
    CORE_ENSURE(doc != NULL, CORE_UPSTREAM);

    upload_id = find_child(xmlDocGetRootElement(doc), "UploadId");
    if (upload_id == NULL) {
        err = CORE_UPSTREAM;
        goto out;
    }
    err = set_text(upload_id, new_id);
    if (err == CORE_OK) {
        err = s3_xml_serialise(doc, out, out_len);
    }

out:
    xmlFreeDoc(doc);
    return err;
}

static bool is_blank_text(const xmlChar *text)
{
    for (; *text; text++) {
        if (!is_xml_space((char)*text)) {
            return false;
        }
    }
    return true;
}

/* Adds an ETag element in the root's namespace after Key, or last when there is no Key. */
static enum core_err insert_etag(xmlNode *root, const char *etag)
{
    xmlNode *key = find_child(root, "Key");
    xmlNode *node = xmlNewDocNode(root->doc, root->ns, (const xmlChar *)"ETag", NULL);

    CORE_ENSURE(node != NULL, CORE_NOMEM);
    if (set_text(node, etag) != CORE_OK) {
        xmlFreeNode(node);
        return CORE_NOMEM;
    }
    if (key != NULL) {
        xmlAddNextSibling(key, node);
    } else {
        xmlAddChild(root, node);
    }
    return CORE_OK;
}

/* Sets *changed when the document needed an ETag. */
static enum core_err fill_etag(xmlNode *root, const char *etag, bool *changed)
{
    xmlNode *node = find_child(root, "ETag");
    xmlChar *text;
    bool blank;

    *changed = false;
    if (node == NULL) {
        *changed = true;
        return insert_etag(root, etag);
    }

    text = xmlNodeGetContent(node);
    CORE_ENSURE(text != NULL, CORE_NOMEM);
    blank = is_blank_text(text);
    xmlFree(text);
    if (!blank) {
        return CORE_OK;
    }
    *changed = true;
    return set_text(node, etag);
}

enum core_err s3_multipart_fill_complete_etag(const char *xml, size_t len, const char *etag, char **out,
                                              size_t *out_len)
{
    enum core_err err = CORE_OK;
    bool changed = false;
    xmlDoc *doc;
    xmlNode *root;

    *out = NULL;
    *out_len = 0;
    CORE_ENSURE(len <= S3_MULTIPART_XML_MAX, CORE_TOO_LARGE);
    doc = parse_body(xml, len, true);
    CORE_ENSURE(doc != NULL, CORE_UPSTREAM);

    root = xmlDocGetRootElement(doc);
    if (is_element(root, "CompleteMultipartUploadResult")) {
        err = fill_etag(root, etag, &changed);
    }
    if (err == CORE_OK) {
        err = changed ? s3_xml_serialise(doc, out, out_len) : copy_body(xml, len, out, out_len);
    }
    xmlFreeDoc(doc);
    return err;
}

/* ---- CompleteMultipartUpload request ---- */

static bool is_checksum_element(const xmlNode *node)
{
    static const char *const names[] = {"ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME",
                                        "ChecksumSHA1", "ChecksumSHA256"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (is_element(node, names[i])) {
            return true;
        }
    }
    return false;
}

/* Parses a part number: decimal digits with optional surrounding XML whitespace, value in 1..10000. */
static bool parse_part_number(const char *s, uint32_t *number)
{
    uint32_t v = 0;
    size_t digits = 0;

    while (is_xml_space(*s)) {
        s++;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (uint32_t)(*s - '0');
        digits++;
        if (v > S3_MULTIPART_MAX_PARTS) {
            return false;
        }
    }
    while (is_xml_space(*s)) {
        s++;
    }
    if (*s != '\0' || digits == 0 || v == 0) {
        return false;
    }
    *number = v;
    return true;
}

static enum core_err read_part_number(xmlNode *node, uint32_t *number)
{
    xmlChar *text = xmlNodeGetContent(node);
    bool valid;

    CORE_ENSURE(text != NULL, CORE_NOMEM);
    valid = parse_part_number((const char *)text, number);
    xmlFree(text);
    return valid ? CORE_OK : CORE_CLIENT;
}

/* Removes the checksum children of one Part and reads its PartNumber and ETag into slot i of parts. */
static enum core_err rewrite_part(xmlNode *part, struct s3_complete_parts *parts, size_t i)
{
    xmlNode *number_node = NULL;
    xmlNode *etag_node = NULL;
    xmlNode *next;

    for (xmlNode *child = part->children; child; child = next) {
        next = child->next;
        if (is_checksum_element(child)) {
            xmlUnlinkNode(child);
            xmlFreeNode(child);
        } else if (is_element(child, "PartNumber")) {
            CORE_ENSURE(number_node == NULL, CORE_CLIENT);
            number_node = child;
        } else if (is_element(child, "ETag")) {
            CORE_ENSURE(etag_node == NULL, CORE_CLIENT);
            etag_node = child;
        }
    }
    CORE_ENSURE(number_node != NULL && etag_node != NULL, CORE_CLIENT);

    CORE_TRY(read_part_number(number_node, &parts->numbers[i]));
    return copy_text(etag_node, parts->etags[i], sizeof(parts->etags[i]), CORE_CLIENT);
}

static enum core_err rewrite_parts(xmlNode *root, struct s3_complete_parts *parts)
{
    size_t count = 0;

    for (xmlNode *child = root->children; child; child = child->next) {
        if (is_element(child, "Part")) {
            count++;
        }
    }
    CORE_ENSURE(count > 0 && count <= S3_MULTIPART_MAX_PARTS, CORE_CLIENT);

    parts->numbers = calloc(count, sizeof(parts->numbers[0]));
    parts->etags = calloc(count, sizeof(parts->etags[0]));
    CORE_ENSURE(parts->numbers != NULL && parts->etags != NULL, CORE_NOMEM);

    for (xmlNode *child = root->children; child; child = child->next) {
        if (!is_element(child, "Part")) {
            continue;
        }
        CORE_TRY(rewrite_part(child, parts, parts->count));
        /* S3 requires ascending order, and s3seal builds the object ETag from this list */
        CORE_ENSURE(parts->count == 0 || parts->numbers[parts->count] > parts->numbers[parts->count - 1],
                    CORE_CLIENT);
        parts->count++;
    }
    return CORE_OK;
}

enum core_err s3_multipart_rewrite_complete(const char *xml, size_t len, char **out, size_t *out_len,
                                            struct s3_complete_parts *parts)
{
    enum core_err err;
    xmlDoc *doc;
    xmlNode *root;

    *out = NULL;
    *out_len = 0;
    memset(parts, 0, sizeof(*parts));
    CORE_ENSURE(len <= S3_COMPLETE_XML_MAX, CORE_CLIENT);
    doc = parse_body(xml, len, false);
    CORE_ENSURE(doc != NULL, CORE_CLIENT);

    root = xmlDocGetRootElement(doc);
    err = is_element(root, "CompleteMultipartUpload") ? rewrite_parts(root, parts) : CORE_CLIENT;
    if (err == CORE_OK) {
        err = s3_xml_serialise(doc, out, out_len);
    }
    if (err != CORE_OK) {
        s3_complete_parts_cleanup(parts);
    }
    xmlFreeDoc(doc);
    return err;
}

void s3_complete_parts_cleanup(struct s3_complete_parts *parts)
{
    if (parts == NULL) {
        return;
    }
    free(parts->numbers);
    free(parts->etags);
    memset(parts, 0, sizeof(*parts));
}

/* ---- multipart ETag ---- */

/* Reads 32 hex digits, optionally inside double quotes, into 16 bytes. */
static bool parse_md5_etag(const char *etag, uint8_t md5[MD5_LEN])
{
    size_t len = strlen(etag);

    if (len == 2 * MD5_LEN + 2 && etag[0] == '"' && etag[len - 1] == '"') {
        etag++;
        len -= 2;
    }
    if (len != 2 * MD5_LEN) {
        return false;
    }
    for (size_t i = 0; i < MD5_LEN; i++) {
        int hi = s3_hex_value(etag[2 * i]);
        int lo = s3_hex_value(etag[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return false;
        }
        md5[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static enum core_err digest_part_md5s(EVP_MD_CTX *ctx, const char *const *part_etags, size_t count,
                                      uint8_t digest[MD5_LEN])
{
    unsigned digest_len = 0;

    CORE_ENSURE(EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1, CORE_CRYPTO);
    for (size_t i = 0; i < count; i++) {
        uint8_t md5[MD5_LEN];

        CORE_ENSURE(parse_md5_etag(part_etags[i], md5), CORE_CLIENT);
        CORE_ENSURE(EVP_DigestUpdate(ctx, md5, sizeof(md5)) == 1, CORE_CRYPTO);
    }
    CORE_ENSURE(EVP_DigestFinal_ex(ctx, digest, &digest_len) == 1 && digest_len == MD5_LEN, CORE_CRYPTO);
    return CORE_OK;
}

enum core_err s3_multipart_etag(const char *const *part_etags, size_t count, char *out, size_t cap)
{
    uint8_t digest[MD5_LEN];
    char hex[2 * MD5_LEN + 1];
    EVP_MD_CTX *ctx;
    enum core_err err;
    int n;

    CORE_ENSURE(count > 0 && count <= S3_MULTIPART_MAX_PARTS, CORE_CLIENT);
    ctx = EVP_MD_CTX_new();
    CORE_ENSURE(ctx != NULL, CORE_NOMEM);
    err = digest_part_md5s(ctx, part_etags, count, digest);
    EVP_MD_CTX_free(ctx);
    CORE_TRY(err);

    for (size_t i = 0; i < MD5_LEN; i++) {
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    }
    n = snprintf(out, cap, "\"%s-%zu\"", hex, count);
    CORE_ENSURE(n > 0 && (size_t)n < cap, CORE_TOO_LARGE);
    return CORE_OK;
}

/* ---- CompleteMultipartUpload request built by s3seal ---- */

static enum core_err append_escaped(struct s3_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '&') {
            CORE_TRY(s3_buf_append_str(b, "&amp;"));
        } else if (*s == '<') {
            CORE_TRY(s3_buf_append_str(b, "&lt;"));
        } else if (*s == '>') {
            CORE_TRY(s3_buf_append_str(b, "&gt;"));
        } else {
            CORE_TRY(s3_buf_append_char(b, *s));
        }
    }
    return CORE_OK;
}

static enum core_err append_part(struct s3_buf *b, uint32_t number, const char *etag)
{
    size_t etag_len = strlen(etag);
    bool quoted = etag_len >= 2 && etag[0] == '"' && etag[etag_len - 1] == '"';
    char digits[16];

    snprintf(digits, sizeof(digits), "%" PRIu32, number);
    CORE_TRY(s3_buf_append_str(b, "<Part><PartNumber>"));
    CORE_TRY(s3_buf_append_str(b, digits));
    CORE_TRY(s3_buf_append_str(b, quoted ? "</PartNumber><ETag>" : "</PartNumber><ETag>\""));
    CORE_TRY(append_escaped(b, etag));
    CORE_TRY(s3_buf_append_str(b, quoted ? "</ETag></Part>" : "\"</ETag></Part>"));
    return CORE_OK;
}

static enum core_err check_build_input(const uint32_t *numbers, const char *const *etags, size_t count)
{
    CORE_ENSURE(count > 0 && count <= S3_MULTIPART_MAX_PARTS, CORE_INTERNAL);
    for (size_t i = 0; i < count; i++) {
        size_t etag_len = strlen(etags[i]);

        CORE_ENSURE(numbers[i] >= 1 && numbers[i] <= S3_MULTIPART_MAX_PARTS, CORE_INTERNAL);
        CORE_ENSURE(i == 0 || numbers[i] > numbers[i - 1], CORE_INTERNAL);
        CORE_ENSURE(etag_len > 0 && !has_control(etags[i], etag_len), CORE_INTERNAL);
    }
    return CORE_OK;
}

static enum core_err build_complete(struct s3_buf *b, const uint32_t *numbers, const char *const *etags,
                                    size_t count)
{
    CORE_TRY(s3_buf_append_str(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                  "<CompleteMultipartUpload xmlns=\"" S3_NAMESPACE "\">"));
    for (size_t i = 0; i < count; i++) {
        CORE_TRY(append_part(b, numbers[i], etags[i]));
    }
    return s3_buf_append_str(b, "</CompleteMultipartUpload>");
}

enum core_err s3_multipart_build_complete(const uint32_t *numbers, const char *const *etags, size_t count,
                                          char **out, size_t *out_len)
{
    struct s3_buf b;
    enum core_err err;

    *out = NULL;
    *out_len = 0;
    CORE_TRY(check_build_input(numbers, etags, count));

    s3_buf_init(&b, S3_COMPLETE_XML_MAX);
    err = build_complete(&b, numbers, etags, count);
    if (err == CORE_OK) {
        err = s3_buf_take(&b, out, out_len);
    }
    s3_buf_cleanup(&b);
    return err;
}

/* ---- query parameters ---- */

/* One parameter of a raw query: the name and, after '=', the value, both still percent-encoded. */
struct raw_param {
    const char *name;
    size_t name_len;
    const char *value; /* NULL when the parameter has no '=' */
    size_t value_len;
};

/* Splits off the parameter that starts at q[*pos] and moves *pos past it and its '&'. */
static void next_param(const char *q, size_t len, size_t *pos, struct raw_param *p)
{
    size_t start = *pos;
    size_t end = start;
    const char *eq;

    while (end < len && q[end] != '&') {
        end++;
    }
    *pos = end < len ? end + 1 : end;

    p->name = q + start;
    eq = memchr(p->name, '=', end - start);
    if (eq == NULL) {
        p->name_len = end - start;
        p->value = NULL;
        p->value_len = 0;
        return;
    }
    p->name_len = (size_t)(eq - p->name);
    p->value = eq + 1;
    p->value_len = end - start - p->name_len - 1;
}

/*
 * Compares a percent-encoded name with a plain one without a buffer.
 * Returns 1 on a match, 0 otherwise, -1 for an invalid escape.
 */
static int name_matches(const char *raw, size_t raw_len, const char *name)
{
    size_t i = 0;
    int match = 1;

    while (i < raw_len) {
        char c = raw[i];

        if (c == '%') {
            int hi = i + 2 < raw_len ? s3_hex_value(raw[i + 1]) : -1;
            int lo = i + 2 < raw_len ? s3_hex_value(raw[i + 2]) : -1;

            if (hi < 0 || lo < 0) {
                return -1;
            }
            c = (char)(hi << 4 | lo);
            i += 3;
        } else {
            i++;
        }
        if (match && *name == c) {
            name++;
        } else {
            match = 0;
        }
    }
    return match && *name == '\0';
}

bool s3_query_get(const char *query, size_t len, const char *name, char *value, size_t cap)
{
    size_t pos = 0;

    while (pos < len) {
        struct raw_param p;
        size_t n = 0;

        next_param(query, len, &pos, &p);
        if (name_matches(p.name, p.name_len, name) != 1) {
            continue;
        }
        if (cap == 0 || s3_uri_decode(p.value ? p.value : "", p.value_len, value, cap, &n) != CORE_OK) {
            return false;
        }
        return memchr(value, '\0', n) == NULL;
    }
    return false;
}

static enum core_err put(char *out, size_t cap, size_t *pos, const char *p, size_t n)
{
    CORE_ENSURE(n < cap - *pos, CORE_TOO_LARGE);
    memcpy(out + *pos, p, n);
    *pos += n;
    return CORE_OK;
}

/* Appends name=encoded, or the parameter unchanged when replace is false. */
static enum core_err put_param(const struct raw_param *p, bool replace, const char *encoded,
                               size_t encoded_len, char *out, size_t cap, size_t *pos)
{
    CORE_TRY(put(out, cap, pos, p->name, p->name_len));
    if (replace) {
        CORE_TRY(put(out, cap, pos, "=", 1));
        return put(out, cap, pos, encoded, encoded_len);
    }
    if (p->value != NULL) {
        CORE_TRY(put(out, cap, pos, "=", 1));
        CORE_TRY(put(out, cap, pos, p->value, p->value_len));
    }
    return CORE_OK;
}

enum core_err s3_query_replace(const char *query, size_t len, const char *name, const char *new_value,
                               char *out, size_t cap, size_t *out_len)
{
    size_t value_len = strlen(new_value);
    size_t encoded_len = 0;
    size_t in_pos = 0;
    size_t out_pos = 0;
    bool found = false;
    char *encoded;
    enum core_err err = CORE_OK;

    CORE_ENSURE(cap > 0, CORE_TOO_LARGE);
    CORE_ENSURE(value_len <= (SIZE_MAX - 1) / 3, CORE_TOO_LARGE);
    encoded = malloc(3 * value_len + 1);
    CORE_ENSURE(encoded != NULL, CORE_NOMEM);
    err = s3_uri_encode(new_value, value_len, false, encoded, 3 * value_len + 1, &encoded_len);

    while (err == CORE_OK && in_pos < len) {
        struct raw_param p;
        bool first = in_pos == 0;
        int match;

        next_param(query, len, &in_pos, &p);
        match = name_matches(p.name, p.name_len, name);
        if (match < 0) {
            err = CORE_CLIENT;
            break;
        }
        found = found || match == 1;
        if (!first) {
            err = put(out, cap, &out_pos, "&", 1);
        }
        if (err == CORE_OK) {
            err = put_param(&p, match == 1, encoded, encoded_len, out, cap, &out_pos);
        }
    }
    /* the loop drops a trailing empty parameter, so its '&' is put back here */
    if (err == CORE_OK && len > 0 && query[len - 1] == '&') {
        err = put(out, cap, &out_pos, "&", 1);
    }
    free(encoded);
    CORE_TRY(err);
    CORE_ENSURE(found, CORE_CLIENT);
    out[out_pos] = '\0';
    *out_len = out_pos;
    return CORE_OK;
}

static enum core_err read_listed_part(xmlNode *part, struct s3_listed_part *out)
{
    xmlNode *number = find_child(part, "PartNumber");
    xmlNode *size = find_child(part, "Size");
    char text[32];
    char *end = NULL;

    if (number == NULL || size == NULL || read_part_number(number, &out->number) != CORE_OK ||
        copy_text(size, text, sizeof(text), CORE_UPSTREAM) != CORE_OK) {
        return CORE_UPSTREAM;
    }
    out->size = strtoull(text, &end, 10);
    return *end == '\0' && text[0] >= '0' && text[0] <= '9' ? CORE_OK : CORE_UPSTREAM;
}

static enum core_err read_listed_parts(xmlNode *root, struct s3_listed_part **parts, size_t *count)
{
    size_t n = 0;
    size_t i = 0;

    for (xmlNode *child = root->children; child != NULL; child = child->next) {
        n += is_element(child, "Part") ? 1 : 0;
    }
    CORE_ENSURE(n <= S3_MULTIPART_MAX_PARTS, CORE_UPSTREAM);
    *parts = calloc(n > 0 ? n : 1, sizeof(**parts));
    CORE_ENSURE(*parts != NULL, CORE_NOMEM);
    for (xmlNode *child = root->children; child != NULL; child = child->next) {
        if (is_element(child, "Part")) {
            CORE_TRY(read_listed_part(child, &(*parts)[i++]));
        }
    }
    *count = n;
    return CORE_OK;
}

enum core_err s3_multipart_parse_list_parts(const char *xml, size_t len, struct s3_listed_part **parts,
                                            size_t *count, bool *truncated)
{
    xmlDoc *doc;
    xmlNode *root;
    xmlNode *flag;
    enum core_err err;

    *parts = NULL;
    *count = 0;
    CORE_ENSURE(len <= S3_MULTIPART_XML_MAX, CORE_TOO_LARGE);
    doc = parse_body(xml, len, true);
    CORE_ENSURE(doc != NULL, CORE_UPSTREAM);
    root = xmlDocGetRootElement(doc);
    if (!is_element(root, "ListPartsResult")) {
        xmlFreeDoc(doc);
        return CORE_UPSTREAM;
    }
    flag = find_child(root, "IsTruncated");
    *truncated = false;
    if (flag != NULL) {
        xmlChar *text = xmlNodeGetContent(flag);

        *truncated = text != NULL && xmlStrcmp(text, (const xmlChar *)"true") == 0;
        xmlFree(text);
    }
    err = read_listed_parts(root, parts, count);
    xmlFreeDoc(doc);
    if (err != CORE_OK) {
        free(*parts);
        *parts = NULL;
        *count = 0;
    }
    return err;
}
