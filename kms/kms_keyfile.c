/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key file format: kms_keyfile_load reads and checks a key file, and kms_keyfile_generate writes a new
 * one. Each key line reads "s3seal-key-v1 <key id> <base64 of 32 bytes>"; '#' lines and blank lines are
 * skipped, and the last key line is the current key.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/core_log.h"
#include "crypto/crypto_base64.h"
#include "kms/kms_keyfile_impl.h"
#include "kms/kms_secmem.h"

#define LINE_TAG "s3seal-key-v1"
#define LINE_TAG_PREFIX "s3seal-key-"
#define KEYFILE_MAX_BYTES (1024 * 1024)
/* base64 of KMS_KEYFILE_KEY_LEN bytes plus the NUL that EVP_EncodeBlock appends */
#define KEY_BASE64_SIZE (4 * ((KMS_KEYFILE_KEY_LEN + 2) / 3) + 1)

#define FILE_HEADER                                                                      \
    "# s3seal key file. The last key line is the current key for new objects; keep\n" \
    "# every older line while objects wrapped under it exist. See docs/KEYS.md.\n"

/* The contents of a key file, in memory from kms_secmem_alloc because it contains base64 keys. */
struct file_text {
    char *data;
    size_t size; /* bytes allocated */
    size_t len;  /* bytes read */
    bool locked;
};

/* One line of the file, without its '\n'; the pointer is borrowed from struct file_text. */
struct line {
    const char *start;
    size_t len;
    size_t number; /* 1-based */
};

static void set_err(char *err, size_t err_cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_cap, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_cap == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, err_cap, fmt, ap);
    va_end(ap);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Returns NULL for a valid key id, otherwise what is wrong with it, without echoing it. */
static const char *key_id_problem(const char *id, size_t len)
{
    if (len == 0) {
        return "key id is empty";
    }
    if (len > KMS_KEYFILE_ID_MAX) {
        return "key id is longer than 64 characters";
    }
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';

        if (!ok) {
            return "key id may contain only A-Z, a-z, 0-9, '.', '_' and '-'";
        }
    }
    return NULL;
}

/* Advances *line to the next line of text; line->number counts from 1. */
static bool next_line(const struct file_text *text, size_t *pos, struct line *line)
{
    const char *start = text->data + *pos;
    const char *newline;

    if (*pos >= text->len) {
        return false;
    }
    newline = memchr(start, '\n', text->len - *pos);
    line->start = start;
    line->len = newline != NULL ? (size_t)(newline - start) : text->len - *pos;
    line->number++;
    *pos += line->len + 1;
    return true;
}

static bool is_key_line(const struct line *line)
{
    size_t i = 0;

    while (i < line->len && is_blank(line->start[i])) {
        i++;
    }
    return i < line->len && line->start[i] != '#';
}

/* Splits line at blanks into up to 3 fields; returns the field count, or 4 when there are more. */
static size_t split_fields(const struct line *line, const char *fields[3], size_t lens[3])
{
    size_t count = 0;
    size_t i = 0;

    while (i < line->len) {
        size_t start;

        while (i < line->len && is_blank(line->start[i])) {
            i++;
        }
        if (i == line->len) {
            break;
        }
        if (count == 3) {
            return 4;
        }
        start = i;
        while (i < line->len && !is_blank(line->start[i])) {
            i++;
        }
        fields[count] = line->start + start;
        lens[count] = i - start;
        count++;
    }
    return count;
}

static bool field_equals(const char *field, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(field, word, len) == 0;
}

static bool field_starts_with(const char *field, size_t len, const char *prefix)
{
    return len >= strlen(prefix) && memcmp(field, prefix, strlen(prefix)) == 0;
}

static const struct kms_keyfile_key *find_key_id(const struct kms_keyfile *kf, const char *id)
{
    for (size_t i = 0; i < kf->key_count; i++) {
        if (strcmp(kf->keys[i].id, id) == 0) {
            return &kf->keys[i];
        }
    }
    return NULL;
}

/* Checks the tag and key id of a key line and copies the id into key->id. */
static enum core_err parse_tag_and_id(const char *path, const struct line *line, const char *const fields[3],
                                      const size_t lens[3], struct kms_keyfile_key *key, char *err, size_t err_cap)
{
    const char *problem;

    if (!field_equals(fields[0], lens[0], LINE_TAG) && field_starts_with(fields[0], lens[0], LINE_TAG_PREFIX)) {
        set_err(err, err_cap, "key file %s line %zu: unsupported key line format; this s3seal reads only %s lines",
                path, line->number, LINE_TAG);
        return CORE_CONFIG;
    }
    if (!field_equals(fields[0], lens[0], LINE_TAG)) {
        set_err(err, err_cap, "key file %s line %zu: expected \"%s <key id> <base64 key>\"", path, line->number,
                LINE_TAG);
        return CORE_CONFIG;
    }

    problem = key_id_problem(fields[1], lens[1]);
    if (problem != NULL) {
        set_err(err, err_cap, "key file %s line %zu: %s", path, line->number, problem);
        return CORE_CONFIG;
    }
    memcpy(key->id, fields[1], lens[1]);
    key->id[lens[1]] = '\0';
    return CORE_OK;
}

/* Parses one key line into the next free entry of kf->keys. */
static enum core_err parse_key_line(const char *path, const struct line *line, struct kms_keyfile *kf, char *err,
                                    size_t err_cap)
{
    struct kms_keyfile_key *key = &kf->keys[kf->key_count];
    const struct kms_keyfile_key *first;
    const char *fields[3];
    size_t lens[3];
    size_t key_len = 0;
    uint8_t decoded[2 * KMS_KEYFILE_KEY_LEN];
    enum core_err decoded_err;

    if (split_fields(line, fields, lens) != 3) {
        set_err(err, err_cap, "key file %s line %zu: expected \"%s <key id> <base64 key>\"", path, line->number,
                LINE_TAG);
        return CORE_CONFIG;
    }
    CORE_TRY(parse_tag_and_id(path, line, fields, lens, key, err, err_cap));

    first = find_key_id(kf, key->id);
    if (first != NULL) {
        set_err(err, err_cap, "key file %s line %zu: duplicate key id \"%s\", first used on line %zu; give each "
                "key its own id", path, line->number, key->id, first->line);
        return CORE_CONFIG;
    }

    /* the strict decoder accepts one spelling per key; room for more than a key tells a long one apart */
    decoded_err = crypto_base64_decode(fields[2], lens[2], decoded, sizeof(decoded), &key_len);
    if (decoded_err == CORE_TOO_LARGE) {
        key_len = sizeof(decoded) + 1;
    } else if (decoded_err != CORE_OK) {
        OPENSSL_cleanse(decoded, sizeof(decoded));
        set_err(err, err_cap, "key file %s line %zu: invalid base64 key; expected padded standard base64 such as "
                "the output of openssl rand -base64 %d", path, line->number, KMS_KEYFILE_KEY_LEN);
        return CORE_CONFIG;
    }
    if (key_len != KMS_KEYFILE_KEY_LEN) {
        OPENSSL_cleanse(decoded, sizeof(decoded));
        set_err(err, err_cap, "key file %s line %zu: key is %s%zu bytes, expected %d; generate one with "
                "openssl rand -base64 %d", path, line->number, key_len > sizeof(decoded) ? "over " : "",
                key_len > sizeof(decoded) ? sizeof(decoded) : key_len, KMS_KEYFILE_KEY_LEN, KMS_KEYFILE_KEY_LEN);
        return CORE_CONFIG;
    }
    memcpy(key->key, decoded, KMS_KEYFILE_KEY_LEN);
    OPENSSL_cleanse(decoded, sizeof(decoded));

    key->line = line->number;
    kf->key_count++;
    return CORE_OK;
}

static size_t count_key_lines(const struct file_text *text)
{
    struct line line = { 0 };
    size_t pos = 0;
    size_t count = 0;

    while (next_line(text, &pos, &line)) {
        count += is_key_line(&line);
    }
    return count;
}

/* Parses every key line of text into a new provider. */
static enum core_err parse_key_file(const char *path, const struct file_text *text, struct kms_keyfile **out,
                                    char *err, size_t err_cap)
{
    size_t key_lines = count_key_lines(text);
    struct kms_keyfile *kf = NULL;
    struct line line = { 0 };
    enum core_err rc = CORE_OK;
    size_t pos = 0;

    if (key_lines == 0) {
        set_err(err, err_cap, "key file %s contains no key line; add a line \"%s <key id> <base64 key>\" as "
                "described in docs/KEYS.md", path, LINE_TAG);
        rc = CORE_CONFIG;
        goto out;
    }

    rc = kms_keyfile_new(key_lines, &kf);
    if (rc != CORE_OK) {
        set_err(err, err_cap, "failed to set up the provider for key file %s: %s", path, core_err_str(rc));
        goto out;
    }

    while (next_line(text, &pos, &line)) {
        if (!is_key_line(&line)) {
            continue;
        }
        rc = parse_key_line(path, &line, kf, err, err_cap);
        if (rc != CORE_OK) {
            goto out;
        }
    }

    *out = kf;
    kf = NULL;

out:
    kms_provider_free(kf != NULL ? &kf->base : NULL);
    return rc;
}

/*
 * O_NONBLOCK keeps a FIFO at path from blocking the open, and the checks run on the opened descriptor so
 * the file cannot be swapped between the check and the read.
 */
static enum core_err open_key_file(const char *path, int *fd_out, struct stat *st, char *err, size_t err_cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

    if (fd < 0 && errno == ENOENT) {
        set_err(err, err_cap, "key file %s not found; create one with s3seal keygen --out %s", path, path);
        return CORE_CONFIG;
    }
    if (fd < 0) {
        set_err(err, err_cap, "failed to open key file %s: %s", path, strerror(errno));
        return CORE_IO;
    }
    *fd_out = fd;

    if (fstat(fd, st) != 0) {
        set_err(err, err_cap, "failed to stat key file %s: %s", path, strerror(errno));
        return CORE_IO;
    }
    if (!S_ISREG(st->st_mode)) {
        set_err(err, err_cap, "key file %s is not a regular file; point s3seal at the key file itself", path);
        return CORE_CONFIG;
    }
    if ((st->st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        set_err(err, err_cap, "key file %s is accessible by group or others (mode %04o); run chmod 600 %s", path,
                (unsigned)(st->st_mode & 07777), path);
        return CORE_CONFIG;
    }
    return CORE_OK;
}

static enum core_err read_key_file(const char *path, int fd, const struct stat *st, struct file_text *text,
                                   char *err, size_t err_cap)
{
    void *data = NULL;

    if (st->st_size == 0) {
        set_err(err, err_cap, "key file %s is empty; remove it and create it again with s3seal keygen --out %s",
                path, path);
        return CORE_CONFIG;
    }
    if (st->st_size > KEYFILE_MAX_BYTES) {
        set_err(err, err_cap, "key file %s is %lld bytes, larger than the maximum of %d bytes", path,
                (long long)st->st_size, KEYFILE_MAX_BYTES);
        return CORE_TOO_LARGE;
    }

    /* one spare byte shows whether the file grew after fstat */
    text->size = (size_t)st->st_size + 1;
    if (kms_secmem_alloc(text->size, &data, &text->locked) != CORE_OK) {
        set_err(err, err_cap, "failed to allocate memory to read key file %s", path);
        return CORE_NOMEM;
    }
    text->data = data;

    while (text->len < text->size) {
        ssize_t n = read(fd, text->data + text->len, text->size - text->len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            set_err(err, err_cap, "failed to read key file %s: %s", path, strerror(errno));
            return CORE_IO;
        }
        if (n == 0) {
            break;
        }
        text->len += (size_t)n;
    }
    if (text->len == text->size) {
        set_err(err, err_cap, "key file %s grew while it was read; load it again once it is written", path);
        return CORE_IO;
    }
    return CORE_OK;
}

enum core_err kms_keyfile_load(const char *path, struct kms_provider **out, char *err, size_t err_cap)
{
    struct file_text text = { 0 };
    struct kms_keyfile *kf = NULL;
    enum core_err rc = CORE_OK;
    struct stat st;
    int fd = -1;

    CORE_ENSURE(path != NULL && out != NULL, CORE_INTERNAL);
    *out = NULL;
    set_err(err, err_cap, "%s", "");

    rc = open_key_file(path, &fd, &st, err, err_cap);
    if (rc != CORE_OK) {
        goto out;
    }
    rc = read_key_file(path, fd, &st, &text, err, err_cap);
    if (rc != CORE_OK) {
        goto out;
    }
    rc = parse_key_file(path, &text, &kf, err, err_cap);
    if (rc != CORE_OK) {
        goto out;
    }

    if (!text.locked || !kf->keys_locked) {
        core_log(CORE_LOG_WARN, "kms", "mlock failed, so keys may be written to swap; raise RLIMIT_MEMLOCK "
                 "path=%s", path);
    }
    core_log(CORE_LOG_NOTICE, "kms", "loaded key file path=%s keys=%zu current_key_id=%s", path, kf->key_count,
             kf->keys[kf->key_count - 1].id);
    *out = &kf->base;
    kf = NULL;

out:
    if (fd >= 0) {
        close(fd);
    }
    kms_secmem_free(text.data, text.size);
    return rc;
}

/* Copies key_id into id after checking it, or makes "k" + 8 random hex digits when key_id is NULL. */
static enum core_err choose_key_id(const char *key_id, char id[KMS_KEYFILE_ID_MAX + 1], char *err, size_t err_cap)
{
    const char *problem;
    uint8_t rnd[4];

    if (key_id == NULL) {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            set_err(err, err_cap, "failed to generate a random key id: the OpenSSL random generator failed");
            return CORE_CRYPTO;
        }
        snprintf(id, KMS_KEYFILE_ID_MAX + 1, "k%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
        return CORE_OK;
    }

    problem = key_id_problem(key_id, strnlen(key_id, KMS_KEYFILE_ID_MAX + 1));
    if (problem != NULL) {
        set_err(err, err_cap, "invalid key id '%.64s' for the new key file: %s", key_id, problem);
        return CORE_CONFIG;
    }
    memcpy(id, key_id, strlen(key_id) + 1);
    return CORE_OK;
}

/* Writes the whole key file text for one new random key; the caller wipes text. */
static enum core_err format_key_file(const char *id, char *text, size_t text_cap, size_t *text_len)
{
    uint8_t key[KMS_KEYFILE_KEY_LEN];
    unsigned char b64[KEY_BASE64_SIZE];
    enum core_err rc = CORE_OK;
    int n;

    if (RAND_bytes(key, sizeof(key)) != 1) {
        rc = CORE_CRYPTO;
        goto out;
    }
    EVP_EncodeBlock(b64, key, sizeof(key));
    n = snprintf(text, text_cap, "%s%s %s %s\n", FILE_HEADER, LINE_TAG, id, (const char *)b64);
    if (n < 0 || (size_t)n >= text_cap) {
        rc = CORE_INTERNAL;
        goto out;
    }
    *text_len = (size_t)n;

out:
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(b64, sizeof(b64));
    return rc;
}

static bool write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* Syncs the folder that contains path, so that the new directory entry survives a crash. */
static enum core_err sync_parent_folder(const char *path, char *err, size_t err_cap)
{
    enum core_err rc = CORE_OK;
    char *copy = strdup(path);
    const char *folder;
    int fd = -1;

    if (copy == NULL) {
        rc = CORE_NOMEM;
        goto out;
    }
    folder = dirname(copy);
    fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        set_err(err, err_cap, "failed to sync folder %s of key file %s: %s", folder, path, strerror(errno));
        rc = CORE_IO;
        goto out;
    }

out:
    if (fd >= 0) {
        close(fd);
    }
    free(copy);
    return rc;
}

/* Creates path with mode 0600, writes text and syncs it; fails if path exists. Sets *created on create. */
static enum core_err create_key_file(const char *path, const char *text, size_t text_len, bool *created,
                                     char *err, size_t err_cap)
{
    enum core_err rc = CORE_OK;
    int fd;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0 && errno == EEXIST) {
        set_err(err, err_cap, "key file %s already exists and is never overwritten, because that would lose "
                "its keys; choose another path", path);
        return CORE_CONFIG;
    }
    if (fd < 0) {
        set_err(err, err_cap, "failed to create key file %s: %s", path, strerror(errno));
        return CORE_IO;
    }
    *created = true;

    /* the umask may have cleared owner bits; the loader expects exactly what this sets */
    if (fchmod(fd, 0600) != 0 || !write_all(fd, text, text_len) || fsync(fd) != 0) {
        set_err(err, err_cap, "failed to write key file %s: %s", path, strerror(errno));
        rc = CORE_IO;
        goto out;
    }

out:
    if (close(fd) != 0 && rc == CORE_OK) {
        set_err(err, err_cap, "failed to write key file %s: %s", path, strerror(errno));
        rc = CORE_IO;
    }
    return rc;
}

enum core_err kms_keyfile_generate(const char *path, const char *key_id, char *err, size_t err_cap)
{
    char id[KMS_KEYFILE_ID_MAX + 1];
    char text[sizeof(FILE_HEADER) + sizeof(LINE_TAG) + sizeof(id) + KEY_BASE64_SIZE + 4];
    enum core_err rc = CORE_OK;
    bool created = false;
    size_t text_len = 0;

    CORE_ENSURE(path != NULL, CORE_INTERNAL);
    set_err(err, err_cap, "%s", "");

    rc = choose_key_id(key_id, id, err, err_cap);
    if (rc != CORE_OK) {
        goto out;
    }
    rc = format_key_file(id, text, sizeof(text), &text_len);
    if (rc != CORE_OK) {
        set_err(err, err_cap, "failed to generate a key for key file %s: %s", path, core_err_str(rc));
        goto out;
    }
    rc = create_key_file(path, text, text_len, &created, err, err_cap);
    if (rc != CORE_OK) {
        goto out;
    }
    rc = sync_parent_folder(path, err, err_cap);

out:
    /* O_EXCL guarantees that a file created here is ours to remove */
    if (rc != CORE_OK && created) {
        (void)unlink(path);
    }
    OPENSSL_cleanse(text, sizeof(text));
    return rc;
}
