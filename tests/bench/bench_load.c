/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load generator for tests/bench/perf.sh: CONNECTIONS keep-alive
 * connections, one thread each, send the same request back to back for
 * SECONDS seconds, and the tool prints the request rate and the latency
 * percentiles. It exists because wrk 4.1 cannot read the response to a HEAD
 * request, and it takes presigned URLs because it does not sign.
 *
 * Usage: s3seal-bench-load METHOD URL CONNECTIONS SECONDS [BODY_BYTES]
 *   METHOD      GET, HEAD or PUT
 *   URL         http://127.0.0.1:PORT/PATH?QUERY (loopback only)
 *   BODY_BYTES  size of each PUT body (0)
 * Output, one line: "requests=N rate=R p50_us=A p99_us=B errors=E"
 * where errors counts responses other than 2xx and failed connections. The
 * exit status is 1 when any request failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 262144
#define HEAD_MAX 16384

struct worker {
    pthread_t thread;
    uint64_t *latencies_ns; /* one per completed request, grown as needed */
    size_t count;
    size_t cap;
    uint64_t errors;
};

static struct sockaddr_in g_addr;
static char *g_request; /* head and body of the request, sent as is */
static size_t g_request_len;
static bool g_head_method;
static uint64_t g_deadline_ns;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int connect_loopback(void)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&g_addr, sizeof(g_addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

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

/*
 * Reads one response: the head, then Content-Length bytes of body unless
 * the request was a HEAD. Sets *status. Returns false when the connection
 * failed or the response has no Content-Length.
 */
static bool read_response(int fd, char *buf, int *status)
{
    size_t have = 0;
    char *end = NULL;
    char *cl;
    uint64_t body;
    uint64_t body_have;

    while (end == NULL) {
        ssize_t n;

        if (have == HEAD_MAX) {
            return false;
        }
        n = recv(fd, buf + have, HEAD_MAX - have, 0);
        if (n <= 0) {
            return false;
        }
        have += (size_t)n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    *status = atoi(buf + 9);
    *end = '\0';
    cl = strcasestr(buf, "\r\ncontent-length:");
    if (cl == NULL) {
        return false;
    }
    body = g_head_method ? 0 : strtoull(cl + 17, NULL, 10);
    body_have = have - (size_t)(end + 4 - buf);
    while (body_have < body) {
        ssize_t n = recv(fd, buf, BUF_SIZE, 0);

        if (n <= 0) {
            return false;
        }
        body_have += (uint64_t)n;
    }
    return body_have == body; /* no pipelining, so nothing may follow */
}

static bool record(struct worker *w, uint64_t ns)
{
    if (w->count == w->cap) {
        size_t cap = w->cap != 0 ? w->cap * 2 : 65536;
        uint64_t *grown = realloc(w->latencies_ns, cap * sizeof(*grown));

        if (grown == NULL) {
            return false;
        }
        w->latencies_ns = grown;
        w->cap = cap;
    }
    w->latencies_ns[w->count++] = ns;
    return true;
}

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    char *buf = malloc(BUF_SIZE + 1);
    int fd = -1;

    while (buf != NULL && now_ns() < g_deadline_ns) {
        uint64_t start;
        int status = 0;

        if (fd < 0 && (fd = connect_loopback()) < 0) {
            w->errors++;
            usleep(1000);
            continue;
        }
        start = now_ns();
        if (!send_all(fd, g_request, g_request_len) || !read_response(fd, buf, &status)) {
            w->errors++;
            close(fd);
            fd = -1;
            continue;
        }
        if (status < 200 || status > 299) {
            w->errors++;
        } else if (!record(w, now_ns() - start)) {
            w->errors++;
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
    return NULL;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Splits "http://127.0.0.1:PORT/PATH" into the address and the request target. */
static bool parse_url(const char *url, char *host, size_t host_cap, const char **target)
{
    const char *p = url + 7;
    const char *slash;
    const char *colon;
    size_t len;

    if (strncmp(url, "http://", 7) != 0 || (slash = strchr(p, '/')) == NULL) {
        return false;
    }
    len = (size_t)(slash - p);
    if (len >= host_cap) {
        return false;
    }
    memcpy(host, p, len);
    host[len] = '\0';
    colon = strchr(host, ':');
    if (colon == NULL) {
        return false;
    }
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)atoi(colon + 1));
    *target = slash;
    return inet_pton(AF_INET, "127.0.0.1", &g_addr.sin_addr) == 1 && strncmp(host, "127.0.0.1:", 10) == 0;
}

static bool build_request(const char *method, const char *host, const char *target, size_t body_bytes)
{
    size_t cap = strlen(target) + strlen(host) + 256 + body_bytes;
    int n;

    g_request = malloc(cap);
    if (g_request == NULL) {
        return false;
    }
    n = snprintf(g_request, cap, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %zu\r\n\r\n", method, target, host,
                 body_bytes);
    if (n < 0 || (size_t)n + body_bytes >= cap) {
        return false;
    }
    memset(g_request + n, 's', body_bytes);
    g_request_len = (size_t)n + body_bytes;
    return true;
}

int main(int argc, char **argv)
{
    char host[256];
    const char *target;
    int connections;
    double seconds;
    size_t body_bytes;
    struct worker *workers;
    uint64_t *all;
    size_t total = 0;
    uint64_t errors = 0;
    uint64_t start;
    double elapsed;

    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: %s METHOD URL CONNECTIONS SECONDS [BODY_BYTES]\n", argv[0]);
        return 2;
    }
    connections = atoi(argv[3]);
    seconds = atof(argv[4]);
    body_bytes = argc == 6 ? (size_t)strtoull(argv[5], NULL, 10) : 0;
    g_head_method = strcmp(argv[1], "HEAD") == 0;
    if (connections < 1 || connections > 4096 || seconds <= 0) {
        fprintf(stderr, "s3seal-bench-load: CONNECTIONS must be 1 to 4096 and SECONDS above 0\n");
        return 2;
    }
    if (!parse_url(argv[2], host, sizeof(host), &target)) {
        fprintf(stderr, "s3seal-bench-load: URL must be http://127.0.0.1:PORT/PATH, got %s\n", argv[2]);
        return 2;
    }
    if (!build_request(argv[1], host, target, body_bytes)) {
        fprintf(stderr, "s3seal-bench-load: out of memory for a %zu-byte body\n", body_bytes);
        return 2;
    }

    workers = calloc((size_t)connections, sizeof(*workers));
    if (workers == NULL) {
        return 2;
    }
    start = now_ns();
    g_deadline_ns = start + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < connections; i++) {
        if (pthread_create(&workers[i].thread, NULL, run_worker, &workers[i]) != 0) {
            fprintf(stderr, "s3seal-bench-load: cannot start thread %d\n", i);
            return 2;
        }
    }
    for (int i = 0; i < connections; i++) {
        pthread_join(workers[i].thread, NULL);
        total += workers[i].count;
        errors += workers[i].errors;
    }
    elapsed = (double)(now_ns() - start) / 1e9;

    all = malloc((total + 1) * sizeof(*all));
    if (all == NULL) {
        return 2;
    }
    total = 0;
    for (int i = 0; i < connections; i++) {
        memcpy(all + total, workers[i].latencies_ns, workers[i].count * sizeof(*all));
        total += workers[i].count;
        free(workers[i].latencies_ns);
    }
    qsort(all, total, sizeof(*all), compare_u64);
    printf("requests=%zu rate=%.0f p50_us=%.0f p99_us=%.0f errors=%" PRIu64 "\n", total, (double)total / elapsed,
           total > 0 ? (double)all[total / 2] / 1000.0 : 0.0,
           total > 0 ? (double)all[(size_t)((double)(total - 1) * 0.99)] / 1000.0 : 0.0, errors);
    free(all);
    free(workers);
    free(g_request);
    return errors > 0 || total == 0 ? 1 : 0;
}
