/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state file of "s3seal rewrap", which lets an interrupted run continue
 * after the last finished object, and the ETag form check the command uses.
 * The file is text: a format line, then "name value" lines whose values are
 * percent-encoded, so that any object key fits on one line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/proxy_rewrap.h"
#include "s3/s3_op.h"
#include "s3/s3_uri.h"

#define STATE_FORMAT_LINE "s3seal-rewrap-state-v1"
#define STATE_LINE_MAX (3 * S3_KEY_MAX + 64)

void proxy_rewrap_state_cleanup(struct proxy_rewrap_state *state)
{
    free(state->bucket);
    free(state->prefix);
    free(state->target);
    free(state->last_key);
    memset(state, 0, sizeof(*state));
}

/* Decodes a percent-encoded value into a new string; NULL for an invalid escape or no memory. */
static char *decode_value(const char *value)
{
    size_t len = strlen(value);
    char *out = malloc(len + 1);
    size_t out_len = 0;

    if (out == NULL) {
        return NULL;
    }
    if (s3_uri_decode(value, len, out, len + 1, &out_len) != CORE_OK || memchr(out, '\0', out_len) != NULL) {
        free(out);
        return NULL;
    }
    out[out_len] = '\0';
    return out;
}

static char **field_of(struct proxy_rewrap_state *state, const char *name)
{
    if (strcmp(name, "bucket") == 0) {
        return &state->bucket;
    }
    if (strcmp(name, "prefix") == 0) {
        return &state->prefix;
    }
    if (strcmp(name, "target") == 0) {
        return &state->target;
    }
    if (strcmp(name, "last-key") == 0) {
        return &state->last_key;
    }
    return NULL;
}

/* Parses one "name value" line into its field of state. */
static enum core_err parse_line(struct proxy_rewrap_state *state, char *line, const char *path, unsigned line_no,
                                char *err, size_t err_cap)
{
    char *space = strchr(line, ' ');
    const char *value = space != NULL ? space + 1 : "";
    char **field;

    if (space != NULL) {
        *space = '\0';
    }
    field = field_of(state, line);
    if (field == NULL || *field != NULL) {
        snprintf(err, err_cap, "state file %s line %u: %s field '%.64s'", path, line_no,
                 field == NULL ? "unknown" : "repeated", line);
        return CORE_CONFIG;
    }
    *field = decode_value(value);
    if (*field == NULL) {
        snprintf(err, err_cap, "state file %s line %u: the value of '%s' is not percent-encoded text", path,
                 line_no, line);
        return CORE_CONFIG;
    }
    return CORE_OK;
}

static enum core_err parse_file(FILE *f, struct proxy_rewrap_state *state, const char *path, char *err,
                                size_t err_cap)
{
    char line[STATE_LINE_MAX];
    unsigned line_no = 0;

    while (fgets(line, sizeof(line), f) != NULL) {
        size_t len = strlen(line);

        line_no++;
        if (len == 0 || line[len - 1] != '\n') {
            snprintf(err, err_cap, "state file %s line %u: too long or without a line end", path, line_no);
            return CORE_CONFIG;
        }
        line[len - 1] = '\0';
        if (line_no == 1) {
            if (strcmp(line, STATE_FORMAT_LINE) != 0) {
                snprintf(err, err_cap, "%s is not an s3seal rewrap state file: line 1 is not '%s'", path,
                         STATE_FORMAT_LINE);
                return CORE_CONFIG;
            }
            continue;
        }
        CORE_TRY(parse_line(state, line, path, line_no, err, err_cap));
    }
    if (ferror(f)) {
        snprintf(err, err_cap, "cannot read state file %s: %s", path, strerror(errno));
        return CORE_IO;
    }
    if (line_no == 0 || state->bucket == NULL || state->prefix == NULL || state->target == NULL) {
        snprintf(err, err_cap, "state file %s lacks the format line or one of bucket, prefix and target", path);
        return CORE_CONFIG;
    }
    return CORE_OK;
}

enum core_err proxy_rewrap_state_load(const char *path, struct proxy_rewrap_state *state, bool *found,
                                      char *err, size_t err_cap)
{
    FILE *f = fopen(path, "r");
    enum core_err rc;

    memset(state, 0, sizeof(*state));
    *found = false;
    if (f == NULL && errno == ENOENT) {
        return CORE_OK;
    }
    if (f == NULL) {
        snprintf(err, err_cap, "cannot open state file %s: %s", path, strerror(errno));
        return CORE_IO;
    }
    *found = true;
    rc = parse_file(f, state, path, err, err_cap);
    fclose(f);
    return rc;
}

/* Writes "name value" with value percent-encoded. */
static bool write_field(FILE *f, const char *name, const char *value)
{
    size_t len = strlen(value);
    size_t cap = 3 * len + 1;
    char *encoded = malloc(cap);
    size_t encoded_len = 0;
    bool ok;

    if (encoded == NULL) {
        return false;
    }
    ok = s3_uri_encode(value, len, false, encoded, cap, &encoded_len) == CORE_OK &&
         fprintf(f, "%s %.*s\n", name, (int)encoded_len, encoded) > 0;
    free(encoded);
    return ok;
}

enum core_err proxy_rewrap_state_save(const char *path, const struct proxy_rewrap_state *state, char *err,
                                      size_t err_cap)
{
    char *temp = NULL;
    FILE *f;
    bool ok;

    if (asprintf(&temp, "%s.tmp", path) < 0) {
        return CORE_NOMEM;
    }
    f = fopen(temp, "w");
    if (f == NULL) {
        snprintf(err, err_cap, "cannot write state file %s: %s", temp, strerror(errno));
        free(temp);
        return CORE_IO;
    }
    ok = fprintf(f, "%s\n", STATE_FORMAT_LINE) > 0 && write_field(f, "bucket", state->bucket) &&
         write_field(f, "prefix", state->prefix) && write_field(f, "target", state->target) &&
         (state->last_key == NULL || write_field(f, "last-key", state->last_key));
    ok = fclose(f) == 0 && ok;

    /* no fsync: a state lost in a crash only makes the next run examine a few objects again */
    if (!ok || rename(temp, path) != 0) {
        snprintf(err, err_cap, "cannot write state file %s: %s", path, strerror(errno));
        unlink(temp);
        free(temp);
        return CORE_IO;
    }
    free(temp);
    return CORE_OK;
}

bool proxy_rewrap_etag_is_multipart(const char *etag)
{
    size_t len = strlen(etag);
    size_t digits = 0;
    unsigned long parts = 0;

    if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"') {
        etag++;
        len -= 2;
    }
    for (size_t i = 0; i < 32; i++) {
        if (i >= len || s3_hex_value(etag[i]) < 0) {
            return false;
        }
    }
    if (len < 34 || etag[32] != '-') {
        return false;
    }
    for (size_t i = 33; i < len; i++) {
        if (etag[i] < '0' || etag[i] > '9' || ++digits > 5) {
            return false;
        }
        parts = parts * 10 + (unsigned long)(etag[i] - '0');
    }
    return etag[33] != '0' && parts >= 1 && parts <= 10000;
}
