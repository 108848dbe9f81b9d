/* SPDX-License-Identifier: Apache-2.0 */
/* Size rewriting in ListObjects, ListObjectsV2, ListObjectVersions and ListParts bodies with libxml2. */
#include "s3/s3_list.h"
#include "s3/s3_xml.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

/* no XML_PARSE_NOENT: entities stay unexpanded; no XML_PARSE_DTDLOAD: nothing external is read */
#define LIST_PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

static bool is_element(const xmlNode *node, const char *name)
{
    return node->type == XML_ELEMENT_NODE && xmlStrcmp(node->name, (const xmlChar *)name) == 0;
}

/* Parses a decimal uint64 with no sign, blanks or leading '+'. */
static bool parse_u64(const char *s, uint64_t *value)
{
    uint64_t v = 0;

    if (*s == '\0') {
        return false;
    }
    for (; *s; s++) {
        unsigned digit;

        if (*s < '0' || *s > '9') {
            return false;
        }
        digit = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - digit) / 10) {
            return false;
        }
        v = v * 10 + digit;
    }
    *value = v;
    return true;
}

static enum core_err rewrite_size(xmlNode *size, s3_size_map_fn map, void *arg)
{
    xmlChar *text = xmlNodeGetContent(size);
    uint64_t stored;
    uint64_t client;
    char digits[24];
    bool valid;

    CORE_ENSURE(text != NULL, CORE_NOMEM);
    valid = parse_u64((const char *)text, &stored);
    xmlFree(text);
    CORE_ENSURE(valid, CORE_UPSTREAM);

    if (!map(arg, stored, &client)) {
        return CORE_OK;
    }
    snprintf(digits, sizeof(digits), "%" PRIu64, client);
    xmlNodeSetContent(size, (const xmlChar *)digits);
    return CORE_OK;
}

/* Adapts a keyed map to the size-only callback for one entry. */
struct keyed_call {
    s3_keyed_size_map_fn map;
    void *arg;
    const char *key; /* text of the entry's Key element, or NULL */
};

static bool call_keyed(void *arg, uint64_t stored, uint64_t *client)
{
    struct keyed_call *call = arg;

    return call->map(call->arg, call->key, stored, client);
}

static enum core_err rewrite_entry(xmlNode *entry, s3_keyed_size_map_fn map, void *arg)
{
    struct keyed_call call = {map, arg, NULL};
    xmlChar *key = NULL;
    enum core_err err = CORE_OK;

    for (xmlNode *child = entry->children; child; child = child->next) {
        if (is_element(child, "Key") && key == NULL) {
            key = xmlNodeGetContent(child);
        }
    }
    call.key = (const char *)key;
    for (xmlNode *child = entry->children; child && err == CORE_OK; child = child->next) {
        if (is_element(child, "Size")) {
            err = rewrite_size(child, call_keyed, &call);
        }
    }
    xmlFree(key);
    return err;
}

static enum core_err rewrite_root(xmlNode *root, s3_keyed_size_map_fn map, void *arg)
{
    const char *entry_name;

    if (is_element(root, "ListBucketResult")) {
        entry_name = "Contents";
    } else if (is_element(root, "ListVersionsResult")) {
        entry_name = "Version";
    } else if (is_element(root, "ListPartsResult")) {
        entry_name = "Part";
    } else {
        return CORE_UPSTREAM;
    }

    for (xmlNode *child = root->children; child; child = child->next) {
        if (is_element(child, entry_name)) {
            CORE_TRY(rewrite_entry(child, map, arg));
        }
    }
    return CORE_OK;
}

/* Adapts the size-only callback of s3_list_rewrite_sizes to the keyed walk. */
struct unkeyed_call {
    s3_size_map_fn map;
    void *arg;
};

static bool call_unkeyed(void *arg, const char *key, uint64_t stored, uint64_t *client)
{
    struct unkeyed_call *call = arg;

    (void)key;
    return call->map(call->arg, stored, client);
}

enum core_err s3_list_rewrite_sizes(const char *xml, size_t len, s3_size_map_fn map, void *arg, char **out,
                                    size_t *out_len)
{
    struct unkeyed_call call = {map, arg};

    return s3_list_rewrite_sizes_keyed(xml, len, call_unkeyed, &call, out, out_len);
}

enum core_err s3_list_rewrite_sizes_keyed(const char *xml, size_t len, s3_keyed_size_map_fn map, void *arg,
                                          char **out, size_t *out_len)
{
    enum core_err err = CORE_OK;
    xmlDoc *doc = NULL;
    xmlNode *root;

    *out = NULL;
    *out_len = 0;
    if (len > S3_LIST_XML_MAX) {
        return CORE_TOO_LARGE;
    }

    xmlInitParser();
    doc = xmlReadMemory(xml, (int)len, NULL, NULL, LIST_PARSE_OPTIONS);
    if (doc == NULL) {
        return CORE_UPSTREAM;
    }

    /* a listing never has a DOCTYPE; refusing one rules out entity tricks entirely */
    root = xmlDocGetRootElement(doc);
    if (root == NULL || doc->intSubset != NULL || doc->extSubset != NULL) {
        err = CORE_UPSTREAM;
        goto out;
    }

    err = rewrite_root(root, map, arg);
    if (err != CORE_OK) {
        goto out;
    }
    err = s3_xml_serialise(doc, out, out_len);

out:
    xmlFreeDoc(doc);
    return err;
}

/* ---- ListObjectsV2 pages ---- */

/* Copies the text of node into a new string; NULL when out of memory. */
static char *node_text(const xmlNode *node)
{
    xmlChar *text = xmlNodeGetContent(node);
    char *copy;

    if (text == NULL) {
        return NULL;
    }
    copy = strdup((const char *)text);
    xmlFree(text);
    return copy;
}

static enum core_err parse_entry(const xmlNode *contents, struct s3_list_entry *entry)
{
    bool have_size = false;

    for (const xmlNode *child = contents->children; child; child = child->next) {
        if (is_element(child, "Key") && entry->key == NULL) {
            entry->key = node_text(child);
            CORE_ENSURE(entry->key != NULL, CORE_NOMEM);
        } else if (is_element(child, "Size")) {
            char *text = node_text(child);
            bool valid;

            CORE_ENSURE(text != NULL, CORE_NOMEM);
            valid = parse_u64(text, &entry->size);
            free(text);
            CORE_ENSURE(valid, CORE_UPSTREAM);
            have_size = true;
        } else if (is_element(child, "ETag")) {
            char *text = node_text(child);
            size_t text_len;

            CORE_ENSURE(text != NULL, CORE_NOMEM);
            text_len = strlen(text);
            if (text_len >= sizeof(entry->etag)) {
                free(text);
                return CORE_UPSTREAM;
            }
            memcpy(entry->etag, text, text_len + 1);
            free(text);
        }
    }
    CORE_ENSURE(entry->key != NULL && have_size, CORE_UPSTREAM);
    return CORE_OK;
}

static size_t count_elements(const xmlNode *root, const char *name)
{
    size_t count = 0;

    for (const xmlNode *child = root->children; child; child = child->next) {
        count += is_element(child, name) ? 1 : 0;
    }
    return count;
}

static enum core_err parse_page_root(const xmlNode *root, struct s3_list_page *page)
{
    size_t capacity = count_elements(root, "Contents");

    CORE_ENSURE(is_element(root, "ListBucketResult"), CORE_UPSTREAM);
    page->entries = calloc(capacity + 1, sizeof(*page->entries));
    CORE_ENSURE(page->entries != NULL, CORE_NOMEM);

    for (const xmlNode *child = root->children; child; child = child->next) {
        if (is_element(child, "Contents")) {
            /* count first, so that cleanup frees a key of a half-parsed entry */
            page->count++;
            CORE_TRY(parse_entry(child, &page->entries[page->count - 1]));
        } else if (is_element(child, "IsTruncated")) {
            char *text = node_text(child);

            CORE_ENSURE(text != NULL, CORE_NOMEM);
            page->truncated = strcmp(text, "true") == 0;
            free(text);
        } else if (is_element(child, "NextContinuationToken") && page->next_token == NULL) {
            page->next_token = node_text(child);
            CORE_ENSURE(page->next_token != NULL, CORE_NOMEM);
        }
    }

    /* without a token a truncated listing could only restart, which would never end */
    CORE_ENSURE(!page->truncated || (page->next_token != NULL && page->next_token[0] != '\0'), CORE_UPSTREAM);
    return CORE_OK;
}

enum core_err s3_list_parse_page(const char *xml, size_t len, struct s3_list_page *page)
{
    enum core_err err;
    xmlDoc *doc;
    xmlNode *root;

    memset(page, 0, sizeof(*page));
    CORE_ENSURE(len <= S3_LIST_XML_MAX, CORE_TOO_LARGE);

    xmlInitParser();
    doc = xmlReadMemory(xml, (int)len, NULL, NULL, LIST_PARSE_OPTIONS);
    CORE_ENSURE(doc != NULL, CORE_UPSTREAM);
    root = xmlDocGetRootElement(doc);
    if (root == NULL || doc->intSubset != NULL || doc->extSubset != NULL) {
        err = CORE_UPSTREAM;
    } else {
        err = parse_page_root(root, page);
    }
    xmlFreeDoc(doc);
    return err;
}

void s3_list_page_cleanup(struct s3_list_page *page)
{
    for (size_t i = 0; i < page->count; i++) {
        free(page->entries[i].key);
    }
    free(page->entries);
    free(page->next_token);
    memset(page, 0, sizeof(*page));
}
