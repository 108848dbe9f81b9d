/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A near-free S3 backend for tests/bench/perf.sh. It serves the requests
 * that s3seal and curl make (PutObject, GetObject with one byte range,
 * HeadObject, DeleteObject, CreateBucket, CreateMultipartUpload, UploadPart,
 * CompleteMultipartUpload) and spends as little CPU as it can. It checks no
 * signature, keeps each object as one file (metadata, then body) in a folder
 * (put it on tmpfs), and sends bodies with sendfile(2). ETags are unique hex strings but no MD5,
 * because hashing would cost more than the rest of the request.
 *
 * Keys that start with "sink/" are not stored: their bodies are read and
 * dropped, so parallel uploads of large objects need no memory.
 *
 * Usage: s3seal-bench-backend PORT FOLDER
 * Listens on 127.0.0.1:PORT, one thread per connection, HTTP/1.1 with
 * keep-alive and Content-Length bodies (no chunked request bodies).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD_MAX 16384
#define IO_BUF 262144
#define META_MAX 8192
#define SINK_PREFIX "sink/"

struct request {
    char method[16];
    char path[2048]; /* "/bucket/key", still percent-encoded */
    char query[1024];
    char range[128];
    char meta[META_MAX]; /* the x-amz-meta-* header lines, ready to send back */
    size_t meta_len;
    uint64_t content_length;
    bool expect_continue;
    bool chunked;
    bool close;
};

static const char *g_folder;
static atomic_uint_fast64_t g_counter;

static bool send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

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

/* Maps "/bucket/key" to a file name in the folder: '/' becomes "%2F", which a percent-encoded path cannot hold. */
static bool object_file(const char *path, const char *suffix, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "%s/", g_folder);

    for (const char *p = path + 1; *p != '\0'; p++) {
        if (n + 4 >= cap) {
            return false;
        }
        if (*p == '/') {
            memcpy(out + n, "%2F", 3);
            n += 3;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    return n + strlen(suffix) < cap && strcat(out, suffix) != NULL;
}

static bool is_sink(const char *path)
{
    const char *key = strchr(path + 1, '/');

    return key != NULL && strncmp(key + 1, SINK_PREFIX, strlen(SINK_PREFIX)) == 0;
}

static bool has_key(const char *path)
{
    const char *key = strchr(path + 1, '/');

    return key != NULL && key[1] != '\0';
}

static const char *query_value(const struct request *r, const char *name, char *out, size_t cap)
{
    size_t name_len = strlen(name);

    for (const char *p = r->query; *p != '\0';) {
        const char *end = strchr(p, '&');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

        if (len >= name_len && strncmp(p, name, name_len) == 0 && (len == name_len || p[name_len] == '=')) {
            size_t value_len = len > name_len ? len - name_len - 1 : 0;

            if (value_len >= cap) {
                return NULL;
            }
            memcpy(out, p + len - value_len, value_len);
            out[value_len] = '\0';
            return out;
        }
        p += len + (end != NULL ? 1 : 0);
    }
    return NULL;
}

static void parse_header(struct request *r, char *name, char *value)
{
    if (strcasecmp(name, "content-length") == 0) {
        r->content_length = strtoull(value, NULL, 10);
    } else if (strcasecmp(name, "expect") == 0 && strcasecmp(value, "100-continue") == 0) {
        r->expect_continue = true;
    } else if (strcasecmp(name, "transfer-encoding") == 0) {
        r->chunked = true;
    } else if (strcasecmp(name, "connection") == 0 && strcasecmp(value, "close") == 0) {
        r->close = true;
    } else if (strcasecmp(name, "range") == 0) {
        snprintf(r->range, sizeof(r->range), "%s", value);
    } else if (strncasecmp(name, "x-amz-meta-", 11) == 0 || strcasecmp(name, "content-type") == 0) {
        int n = snprintf(r->meta + r->meta_len, sizeof(r->meta) - r->meta_len, "%s: %s\r\n", name, value);

        if (n > 0 && (size_t)n < sizeof(r->meta) - r->meta_len) {
            r->meta_len += (size_t)n;
        }
    }
}

/* Parses the head in buf[0..len) into r. Returns false on a malformed head. */
static bool parse_head(char *buf, struct request *r)
{
    char *line_end = strstr(buf, "\r\n");
    char *target;
    char *question;

    memset(r, 0, sizeof(*r));
    if (line_end == NULL) {
        return false;
    }
    *line_end = '\0';
    target = strchr(buf, ' ');
    if (target == NULL || (size_t)(target - buf) >= sizeof(r->method)) {
        return false;
    }
    memcpy(r->method, buf, (size_t)(target - buf));
    target++;
    *strchrnul(target, ' ') = '\0';
    question = strchr(target, '?');
    if (question != NULL) {
        *question = '\0';
        snprintf(r->query, sizeof(r->query), "%s", question + 1);
    }
    if (target[0] != '/' || strlen(target) >= sizeof(r->path)) {
        return false;
    }
    snprintf(r->path, sizeof(r->path), "%s", target);

    for (char *line = line_end + 2; *line != '\0' && strncmp(line, "\r\n", 2) != 0;) {
        char *end = strstr(line, "\r\n");
        char *colon;
        char *value;

        if (end == NULL) {
            return false;
        }
        *end = '\0';
        colon = strchr(line, ':');
        if (colon != NULL) {
            *colon = '\0';
            value = colon + 1;
            while (*value == ' ') {
                value++;
            }
            parse_header(r, line, value);
        }
        line = end + 2;
    }
    return true;
}

static bool send_status(int fd, int status, const char *reason, const char *extra, const char *body)
{
    char head[1024];
    size_t body_len = body != NULL ? strlen(body) : 0;
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n%sContent-Length: %zu\r\n\r\n", status, reason,
                     extra != NULL ? extra : "", body_len);

    return send_all(fd, head, (size_t)n) && send_all(fd, body, body_len);
}

static void make_etag(char out[40])
{
    uint64_t n = atomic_fetch_add(&g_counter, 1) + 1;

    snprintf(out, 40, "\"%016" PRIx64 "%016" PRIx64 "\"", n, (uint64_t)getpid());
}

/*
 * Moves the body from the socket to file fd_out, or drops it when fd_out is
 * -1. pending contains body bytes already read with the head.
 */
static bool receive_body(int fd, int fd_out, uint64_t length, const char *pending, size_t pending_len,
                         char *buf)
{
    if (pending_len > 0) {
        if (fd_out >= 0 && write(fd_out, pending, pending_len) != (ssize_t)pending_len) {
            return false;
        }
        length -= pending_len;
    }
    while (length > 0) {
        size_t want = length < IO_BUF ? (size_t)length : IO_BUF;
        ssize_t n = recv(fd, buf, want, 0);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        if (fd_out >= 0 && write(fd_out, buf, (size_t)n) != n) {
            return false;
        }
        length -= (uint64_t)n;
    }
    return true;
}

/*
 * Starts an object file: a 4-byte length and the metadata header lines come
 * before the body, so one rename(2) replaces data and metadata together, as
 * S3 replaces an object, even while other requests write the same key.
 */
static bool write_meta_prefix(int fd, const char *meta, size_t len)
{
    uint32_t n = (uint32_t)len;

    return write(fd, &n, sizeof(n)) == (ssize_t)sizeof(n) && write(fd, meta, len) == (ssize_t)len;
}

/* Reads the metadata file an upload got at CreateMultipartUpload. */
static size_t read_upload_meta(const char *upload_id, char *out, size_t cap)
{
    char name[4096];
    int fd;
    ssize_t n;

    snprintf(name, sizeof(name), "%s/upload-%s.meta", g_folder, upload_id);
    if ((fd = open(name, O_RDONLY)) < 0) {
        return 0;
    }
    n = read(fd, out, cap);
    close(fd);
    return n > 0 ? (size_t)n : 0;
}

/*
 * Handles PutObject and UploadPart. The body goes to a temporary file that
 * is renamed into place. Part 1 of an upload starts with the upload's
 * metadata, so completing the upload is a rename too.
 */
static bool handle_put(int fd, struct request *r, const char *pending, size_t pending_len, char *buf)
{
    char name[4096];
    char temp[4200];
    char upload_id[128];
    char part[16];
    char etag[40];
    char extra[128];
    char meta[META_MAX];
    size_t meta_len = r->meta_len;
    int out = -1;
    bool sink = is_sink(r->path);
    bool is_part = query_value(r, "uploadId", upload_id, sizeof(upload_id)) != NULL &&
                   query_value(r, "partNumber", part, sizeof(part)) != NULL;

    if (!has_key(r->path)) {
        /* CreateBucket: every bucket exists */
        return receive_body(fd, -1, r->content_length, pending, pending_len, buf) &&
               send_status(fd, 200, "OK", NULL, NULL);
    }
    if (!sink) {
        if (is_part) {
            snprintf(name, sizeof(name), "%s/upload-%s.part%s", g_folder, upload_id, part);
            meta_len = strcmp(part, "1") == 0 ? read_upload_meta(upload_id, meta, sizeof(meta)) : 0;
        } else if (!object_file(r->path, "", name, sizeof(name))) {
            return false;
        } else {
            memcpy(meta, r->meta, meta_len);
        }
        snprintf(temp, sizeof(temp), "%s.tmp%" PRIu64, name, (uint64_t)atomic_fetch_add(&g_counter, 1));
        out = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out < 0 || ((!is_part || strcmp(part, "1") == 0) && !write_meta_prefix(out, meta, meta_len))) {
            send_status(fd, 500, "Internal Server Error", "Connection: close\r\n", NULL);
            return false; /* the body is still unread */
        }
    }
    if (!receive_body(fd, out, r->content_length, pending, pending_len, buf)) {
        if (out >= 0) {
            close(out);
            unlink(temp);
        }
        return false;
    }
    if (out >= 0 && (close(out) != 0 || rename(temp, name) != 0)) {
        return send_status(fd, 500, "Internal Server Error", NULL, NULL);
    }
    make_etag(etag);
    snprintf(extra, sizeof(extra), "ETag: %s\r\n", etag);
    return send_status(fd, 200, "OK", extra, NULL);
}

/* Handles CreateMultipartUpload: the upload id is a counter, the metadata waits in a file. */
static bool handle_create_upload(int fd, struct request *r)
{
    char upload_id[40];
    char name[4096];
    char body[4096];
    FILE *f;

    snprintf(upload_id, sizeof(upload_id), "%" PRIu64, (uint64_t)atomic_fetch_add(&g_counter, 1) + 1);
    snprintf(name, sizeof(name), "%s/upload-%s.meta", g_folder, upload_id);
    f = fopen(name, "w");
    if (f == NULL || fwrite(r->meta, 1, r->meta_len, f) != r->meta_len || fclose(f) != 0) {
        return send_status(fd, 500, "Internal Server Error", NULL, NULL);
    }
    snprintf(body, sizeof(body),
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult>"
             "<Bucket>b</Bucket><Key>k</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>",
             upload_id);
    return send_status(fd, 200, "OK", "Content-Type: application/xml\r\n", body);
}

/* Appends part file part_name to object file out and removes the part. */
static bool append_part(int out, const char *part_name)
{
    int in = open(part_name, O_RDONLY);
    struct stat st;
    off_t offset = 0;
    bool ok;

    if (in < 0 || fstat(in, &st) != 0) {
        return false;
    }
    ok = true;
    while (ok && offset < st.st_size) {
        ssize_t n = copy_file_range(in, &offset, out, NULL, (size_t)(st.st_size - offset), 0);

        ok = n > 0;
    }
    close(in);
    unlink(part_name);
    return ok;
}

/*
 * Joins the parts of an upload into part 1's file, which already starts
 * with the metadata, and renames it to the object. Returns the part count,
 * or 0 on failure.
 */
static int join_parts(const char *upload_id, const char *object)
{
    char first[4096];
    char name[4096];
    int out;
    int part = 2;

    snprintf(first, sizeof(first), "%s/upload-%s.part1", g_folder, upload_id);
    out = open(first, O_WRONLY | O_APPEND);
    if (out < 0) {
        return 0;
    }
    for (;; part++) {
        snprintf(name, sizeof(name), "%s/upload-%s.part%d", g_folder, upload_id, part);
        if (access(name, F_OK) != 0) {
            break;
        }
        if (!append_part(out, name)) {
            close(out);
            return 0;
        }
    }
    if (close(out) != 0 || rename(first, object) != 0) {
        return 0;
    }
    return part - 1;
}

/*
 * Handles CompleteMultipartUpload. This backend joins every part file it
 * holds for the upload in part-number order and does not read the part
 * list in the body: s3seal's requests list exactly the parts it uploaded.
 */
static bool handle_complete(int fd, struct request *r, const char *pending, size_t pending_len, char *buf,
                            const char *upload_id)
{
    char object[4096];
    char meta[4096];
    char body[1024];
    char etag[40];
    int parts = 1;

    if (!receive_body(fd, -1, r->content_length, pending, pending_len, buf)) {
        return false;
    }
    if (!is_sink(r->path)) {
        if (!object_file(r->path, "", object, sizeof(object)) || (parts = join_parts(upload_id, object)) == 0) {
            return send_status(fd, 500, "Internal Server Error", NULL, NULL);
        }
    }
    snprintf(meta, sizeof(meta), "%s/upload-%s.meta", g_folder, upload_id);
    unlink(meta);
    make_etag(etag);
    snprintf(body, sizeof(body),
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult>"
             "<Bucket>b</Bucket><Key>k</Key><ETag>&quot;%.32s-%d&quot;</ETag></CompleteMultipartUploadResult>",
             etag + 1, parts);
    return send_status(fd, 200, "OK", "Content-Type: application/xml\r\n", body);
}

/* Reads the metadata at the start of object file fd into out and returns where the body starts. */
static off_t read_meta_prefix(int fd, char *out, size_t cap)
{
    uint32_t len = 0;

    if (read(fd, &len, sizeof(len)) != (ssize_t)sizeof(len) || len >= cap ||
        read(fd, out, len) != (ssize_t)len) {
        return -1;
    }
    out[len] = '\0';
    return (off_t)(sizeof(len) + len);
}

/* Parses "bytes=a-b", "bytes=a-" or "bytes=-n" against size into [first, last]. */
static bool parse_range(const char *range, uint64_t size, uint64_t *first, uint64_t *last)
{
    char *end;

    if (strncmp(range, "bytes=", 6) != 0 || size == 0) {
        return false;
    }
    range += 6;
    if (*range == '-') {
        uint64_t n = strtoull(range + 1, &end, 10);

        *first = n >= size ? 0 : size - n;
        *last = size - 1;
        return n > 0;
    }
    *first = strtoull(range, &end, 10);
    if (*end != '-' || *first >= size) {
        return false;
    }
    *last = end[1] == '\0' ? size - 1 : strtoull(end + 1, NULL, 10);
    if (*last >= size) {
        *last = size - 1;
    }
    return *last >= *first;
}

/* Handles GetObject and HeadObject: headers from the metadata file, the body with sendfile. */
static bool handle_get(int fd, struct request *r, bool head_only)
{
    char name[4096];
    char meta[META_MAX];
    char head[META_MAX + 1024];
    struct stat st;
    uint64_t first = 0;
    uint64_t last = 0;
    off_t offset;
    uint64_t length;
    uint64_t size;
    off_t body_start;
    int in;
    int n;
    bool partial = false;

    if (!object_file(r->path, "", name, sizeof(name)) || (in = open(name, O_RDONLY)) < 0) {
        return send_status(fd, 404, "Not Found", "Content-Type: application/xml\r\n",
                           head_only ? NULL : "<Error><Code>NoSuchKey</Code></Error>");
    }
    body_start = read_meta_prefix(in, meta, sizeof(meta));
    if (fstat(in, &st) != 0 || body_start < 0) {
        close(in);
        return send_status(fd, 500, "Internal Server Error", NULL, NULL);
    }
    size = (uint64_t)(st.st_size - body_start);
    length = size;
    if (r->range[0] != '\0') {
        if (!parse_range(r->range, size, &first, &last)) {
            close(in);
            return send_status(fd, 416, "Range Not Satisfiable", NULL, NULL);
        }
        partial = true;
        length = last - first + 1;
    }
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 %s\r\nETag: \"%016" PRIx64 "%016" PRIx64 "\"\r\n"
                 "Last-Modified: Thu, 03 Dec 2026 00:00:00 GMT\r\nAccept-Ranges: bytes\r\n%s",
                 partial ? "206 Partial Content" : "200 OK", (uint64_t)st.st_ino, size, meta);
    if (partial) {
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n",
                      first, last, size);
    }
    n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %" PRIu64 "\r\n\r\n", length);
    if (!send_all(fd, head, (size_t)n) || head_only) {
        close(in);
        return head_only;
    }
    offset = body_start + (off_t)first;
    while (length > 0) {
        ssize_t sent = sendfile(fd, in, &offset, length < (1u << 30) ? (size_t)length : (1u << 30));

        if (sent < 0 && errno == EINTR) {
            continue;
        }
        if (sent <= 0) {
            close(in);
            return false;
        }
        length -= (uint64_t)sent;
    }
    close(in);
    return true;
}

static bool handle_delete(int fd, struct request *r)
{
    char name[4096];
    char upload_id[128];

    if (query_value(r, "uploadId", upload_id, sizeof(upload_id)) != NULL) {
        return send_status(fd, 204, "No Content", NULL, NULL); /* AbortMultipartUpload */
    }
    if (object_file(r->path, "", name, sizeof(name))) {
        unlink(name);
    }
    return send_status(fd, 204, "No Content", NULL, NULL);
}

/* Runs one request whose head is parsed; returns false when the connection must close. */
static bool dispatch(int fd, struct request *r, const char *pending, size_t pending_len, char *buf)
{
    char upload_id[128];

    if (r->chunked) {
        send_status(fd, 501, "Not Implemented", "Connection: close\r\n", "chunked request bodies are not supported");
        return false;
    }
    if (r->expect_continue && r->content_length > 0 && !send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25)) {
        return false;
    }
    if (strcmp(r->method, "PUT") == 0) {
        return handle_put(fd, r, pending, pending_len, buf);
    }
    if (strcmp(r->method, "POST") == 0 && query_value(r, "uploads", upload_id, sizeof(upload_id)) != NULL) {
        return receive_body(fd, -1, r->content_length, pending, pending_len, buf) && handle_create_upload(fd, r);
    }
    if (strcmp(r->method, "POST") == 0 && query_value(r, "uploadId", upload_id, sizeof(upload_id)) != NULL) {
        return handle_complete(fd, r, pending, pending_len, buf, upload_id);
    }
    if (!receive_body(fd, -1, r->content_length, pending, pending_len, buf)) {
        return false;
    }
    if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) {
        return handle_get(fd, r, r->method[0] == 'H');
    }
    if (strcmp(r->method, "DELETE") == 0) {
        return handle_delete(fd, r);
    }
    return send_status(fd, 501, "Not Implemented", NULL, NULL);
}

/* Serves one keep-alive connection: reads a head, runs it, keeps the bytes after it. */
static void *serve_connection(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(IO_BUF);
    char head[HEAD_MAX + 1];
    size_t have = 0;
    struct request *r = malloc(sizeof(*r));

    while (buf != NULL && r != NULL) {
        char *end = NULL;
        ssize_t n;
        size_t head_len;
        size_t body_now;

        head[have] = '\0';
        while ((end = strstr(head, "\r\n\r\n")) == NULL) {
            if (have == HEAD_MAX) {
                goto out;
            }
            n = recv(fd, head + have, HEAD_MAX - have, 0);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                goto out;
            }
            have += (size_t)n;
            head[have] = '\0';
        }
        head_len = (size_t)(end - head) + 4;
        end[2] = '\0';
        if (!parse_head(head, r)) {
            send_status(fd, 400, "Bad Request", "Connection: close\r\n", NULL);
            goto out;
        }
        body_now = have - head_len;
        if (body_now > r->content_length) {
            body_now = (size_t)r->content_length;
        }
        if (!dispatch(fd, r, head + head_len, body_now, buf) || r->close) {
            goto out;
        }
        memmove(head, head + head_len + body_now, have - head_len - body_now);
        have -= head_len + body_now;
    }
out:
    free(r);
    free(buf);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    pthread_attr_t attr;
    int one = 1;
    int listener;

    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT FOLDER\n", argv[0]);
        return 2;
    }
    g_folder = argv[2];
    addr.sin_port = htons((uint16_t)atoi(argv[1]));
    signal(SIGPIPE, SIG_IGN);
    listener = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(listener, 1024) != 0) {
        fprintf(stderr, "s3seal-bench-backend: cannot listen on 127.0.0.1:%s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (;;) {
        pthread_t thread;
        int fd = accept(listener, NULL, NULL);

        if (fd < 0) {
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (pthread_create(&thread, &attr, serve_connection, (void *)(intptr_t)fd) != 0) {
            close(fd);
        }
    }
}
