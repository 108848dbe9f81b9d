/* SPDX-License-Identifier: Apache-2.0 */
/*
 * "s3seal rewrap": lists a bucket on the backend with ListObjectsV2 and
 * passes each object to proxy_rewrap_object.c, with the options, the state
 * file that makes a run resumable, the progress line and the summary.
 */
#include "proxy/proxy_rewrap.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/core_log.h"
#include "proxy/proxy_kms.h"
#include "proxy/proxy_rewrap_impl.h"
#include "s3/s3_list.h"
#include "s3/s3_op.h"
#include "s3/s3_uri.h"

#define LIST_PAGE_KEYS 1000

struct rewrap_options {
    const char *bucket;
    const char *prefix;
    const char *key_ref;
    const char *state_file;
    const char *config;
    uint64_t max_objects; /* 0: no limit */
    bool dry_run;
    bool multipart_copy;
};

struct rewrap_counts {
    uint64_t seen;
    uint64_t rewrapped;
    uint64_t plaintext;
    uint64_t current;
    uint64_t gone;
    uint64_t customer_key;
    uint64_t failed;
    uint64_t bytes; /* stored bytes of the objects rewrapped */
};

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static void print_help(FILE *out)
{
    fprintf(out,
            "Usage: s3seal rewrap --bucket NAME [--prefix PREFIX] [--key-ref PROVIDER:KEY] [--dry-run]\n"
            "                     [--state-file FILE] [--max-objects N] [--multipart-copy] [--config FILE]\n"
            "\n"
            "Wraps the data key of every encrypted object under the bucket and prefix again under the\n"
            "current master key, or the one --key-ref names, so that an old master key can be retired.\n"
            "Object bodies are not read or encrypted again: each object is copied onto itself on the\n"
            "backend with its new envelope, conditioned on the ETag read, and keeps its other metadata.\n"
            "Objects without an envelope and objects already under the target key are skipped.\n"
            "It reads the settings of 's3seal serve' (backend URL and credentials, key providers).\n"
            "\n"
            "  --bucket NAME        Bucket to rewrap.\n"
            "  --prefix PREFIX      Only objects whose key starts with PREFIX (default: all).\n"
            "  --key-ref REF        Master key to wrap under, such as file:k2 (default: the current\n"
            "                       key, the last line of the key file or the PKCS#11 key label).\n"
            "  --dry-run            Print 'would rewrap KEY (OLD -> NEW)' for each object that would\n"
            "                       change, and change nothing.\n"
            "  --state-file FILE    Record the last finished key in FILE after each object, and start\n"
            "                       after the key recorded there. A failed object stops the record,\n"
            "                       so a rerun examines it again. The file belongs to one bucket, prefix\n"
            "                       and target key; other values are refused.\n"
            "  --max-objects N      Stop after examining N objects (for batches with --state-file).\n"
            "  --multipart-copy     Write each object with CreateMultipartUpload and UploadPartCopy\n"
            "                       instead of CopyObject. Used anyway for objects over 5 GiB, and after\n"
            "                       the backend gives a copy a single-part ETag.\n"
            "  --config FILE        INI file with the settings (S3SEAL_CONFIG also sets it).\n"
            "\n"
            "A progress line goes to stderr when it is a terminal, each failure to stderr with the\n"
            "object key and the reason, and a summary to stdout. SIGINT or SIGTERM stops after the\n"
            "current object. Key material and wrapped keys are never printed.\n"
            "\n"
            "Exit status: 0 every object was rewrapped or skipped, 1 some objects failed, the listing\n"
            "failed or the run was interrupted, 2 usage or configuration error.\n");
}

/* Parses the options; returns 0, 1 for --help, or -1 after printing a usage error. */
static int parse_options(int argc, char **argv, struct rewrap_options *o)
{
    static const struct option options[] = {
        {"bucket", required_argument, NULL, 'b'},     {"prefix", required_argument, NULL, 'p'},
        {"key-ref", required_argument, NULL, 'k'},    {"dry-run", no_argument, NULL, 'n'},
        {"state-file", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
        {"max-objects", required_argument, NULL, 'm'}, {"multipart-copy", no_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    char *end = NULL;
    int opt;

    memset(o, 0, sizeof(*o));
    o->prefix = "";
    o->config = getenv("S3SEAL_CONFIG");
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'b':
            o->bucket = optarg;
            break;
        case 'p':
            o->prefix = optarg;
            break;
        case 'k':
            o->key_ref = optarg;
            break;
        case 'n':
            o->dry_run = true;
            break;
        case 's':
            o->state_file = optarg;
            break;
        case 'c':
            o->config = optarg;
            break;
        case 'm':
            o->max_objects = strtoull(optarg, &end, 10);
            if (end == optarg || *end != '\0' || o->max_objects == 0 || optarg[0] == '-') {
                fprintf(stderr, "s3seal rewrap: --max-objects must be a positive integer, not '%s'\n", optarg);
                return -1;
            }
            break;
        case 'M':
            o->multipart_copy = true;
            break;
        case 'h':
            return 1;
        default:
            fprintf(stderr, "s3seal rewrap: see 's3seal rewrap --help'\n");
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "s3seal rewrap: unexpected argument '%s'; see 's3seal rewrap --help'\n", argv[optind]);
        return -1;
    }
    if (o->bucket == NULL || o->bucket[0] == '\0') {
        fprintf(stderr, "s3seal rewrap: missing --bucket; see 's3seal rewrap --help'\n");
        return -1;
    }
    if (strlen(o->prefix) > S3_KEY_MAX) {
        fprintf(stderr, "s3seal rewrap: --prefix is longer than %d bytes\n", S3_KEY_MAX);
        return -1;
    }
    return 0;
}

/* Prints key with bytes outside printable ASCII escaped, so a key cannot send terminal controls. */
static void print_key(FILE *out, const char *key)
{
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
            fputc(*p, out);
        } else {
            fprintf(out, "\\x%02x", *p);
        }
    }
}

/*
 * Finds the kms_id that key_ref resolves to, by wrapping a random throwaway
 * key under it. That also proves the key exists before any object is touched.
 */
static enum core_err resolve_target(struct kms_provider *kms, const char *key_ref, char *target, size_t cap)
{
    static const uint8_t context[] = "s3seal rewrap: target key check";
    uint8_t dek[KMS_DEK_LEN];
    uint8_t wrapped[KMS_WRAPPED_MAX];
    size_t wrapped_len = 0;
    enum core_err err;

    CORE_ENSURE(RAND_bytes(dek, sizeof(dek)) == 1, CORE_INTERNAL);
    err = kms_wrap_with(kms, key_ref, dek, context, sizeof(context) - 1, wrapped, sizeof(wrapped), &wrapped_len,
                        target, cap);
    OPENSSL_cleanse(dek, sizeof(dek));
    return err;
}

/* ---- state file ---- */

/* Loads the state file and checks that it belongs to this run; sets *start_after (owned) to its key. */
static int open_state(const struct rewrap_options *o, const struct rewrap_run *run, struct proxy_rewrap_state *state)
{
    char err[1024] = "";
    bool found = false;

    if (proxy_rewrap_state_load(o->state_file, state, &found, err, sizeof(err)) != CORE_OK) {
        fprintf(stderr, "s3seal rewrap: %s\n", err[0] ? err : "cannot read the state file");
        return PROXY_REWRAP_EXIT_USAGE;
    }
    if (found && (strcmp(state->bucket, o->bucket) != 0 || strcmp(state->prefix, o->prefix) != 0 ||
                  strcmp(state->target, run->target) != 0)) {
        fprintf(stderr,
                "s3seal rewrap: state file %s belongs to another run (bucket %s, prefix '%s', target %s); "
                "give another --state-file or remove it\n",
                o->state_file, state->bucket, state->prefix, state->target);
        return PROXY_REWRAP_EXIT_USAGE;
    }
    if (!found) {
        state->bucket = strdup(o->bucket);
        state->prefix = strdup(o->prefix);
        state->target = strdup(run->target);
        if (state->bucket == NULL || state->prefix == NULL || state->target == NULL) {
            fprintf(stderr, "s3seal rewrap: out of memory\n");
            return PROXY_REWRAP_EXIT_FAILED;
        }
    }
    return PROXY_REWRAP_EXIT_OK;
}

static bool record_finished(const char *path, struct proxy_rewrap_state *state, const char *key)
{
    char err[1024] = "";
    char *copy = strdup(key);

    if (copy == NULL) {
        fprintf(stderr, "s3seal rewrap: out of memory\n");
        return false;
    }
    free(state->last_key);
    state->last_key = copy;
    if (proxy_rewrap_state_save(path, state, err, sizeof(err)) != CORE_OK) {
        fprintf(stderr, "s3seal rewrap: %s\n", err);
        return false;
    }
    return true;
}

/* ---- listing ---- */

/* Appends "&name=value" to query with value percent-encoded. */
static bool append_param(char *query, size_t cap, const char *name, const char *value)
{
    size_t used = strlen(query);
    size_t encoded_len = 0;
    int n = snprintf(query + used, cap - used, "&%s=", name);

    if (n < 0 || (size_t)n >= cap - used) {
        return false;
    }
    used += (size_t)n;
    return s3_uri_encode(value, strlen(value), false, query + used, cap - used - 1, &encoded_len) == CORE_OK &&
           (query[used + encoded_len] = '\0', true);
}

/* Fetches one ListObjectsV2 page; prints the failure. */
static bool list_page(struct rewrap_run *run, const char *prefix, const char *token, const char *start_after,
                      struct s3_list_page *page)
{
    char query[8 * S3_KEY_MAX];
    struct proxy_backend_response resp;
    enum core_err err;
    bool ok;

    snprintf(query, sizeof(query), "list-type=2&max-keys=%d", LIST_PAGE_KEYS);
    ok = append_param(query, sizeof(query), "prefix", prefix) &&
         (token == NULL || append_param(query, sizeof(query), "continuation-token", token)) &&
         (token != NULL || start_after == NULL || append_param(query, sizeof(query), "start-after", start_after));
    if (!ok) {
        fprintf(stderr, "s3seal rewrap: the listing query is too long\n");
        return false;
    }

    const struct proxy_backend_request req = {
        .method = "GET",
        .bucket = run->bucket,
        .query = query,
        .timeout_s = run->cfg->backend_timeout_s,
    };
    err = proxy_backend_send(run->backend, &req, &resp);
    if (err != CORE_OK) {
        fprintf(stderr, "s3seal rewrap: cannot list bucket %s: %s\n", run->bucket, resp.error);
    } else if (resp.status != 200) {
        fprintf(stderr, "s3seal rewrap: listing bucket %s returned status %ld; check the bucket name and the "
                        "backend credentials\n",
                run->bucket, resp.status);
        err = CORE_UPSTREAM;
    } else if ((err = s3_list_parse_page(resp.body != NULL ? resp.body : "", resp.body_len, page)) != CORE_OK) {
        fprintf(stderr, "s3seal rewrap: the backend's listing of bucket %s is not a valid ListObjectsV2 "
                        "response: %s\n",
                run->bucket, core_err_str(err));
    }
    proxy_backend_response_cleanup(&resp);
    return err == CORE_OK;
}

/* ---- the run ---- */

struct rewrap_loop {
    struct rewrap_run *run;
    const struct rewrap_options *o;
    struct proxy_rewrap_state *state; /* NULL without --state-file */
    struct rewrap_counts counts;
    bool progress; /* stderr is a terminal */
    bool record;   /* every object so far is finished, so the state may advance */
    bool stopped;  /* interrupted or --max-objects reached */
};

static void print_progress(const struct rewrap_loop *l, bool final)
{
    const struct rewrap_counts *c = &l->counts;

    if (!l->progress) {
        return;
    }
    fprintf(stderr, "\rrewrap: %" PRIu64 " done / %" PRIu64 " seen, %" PRIu64 " MiB rewrapped, %" PRIu64 " failed%s",
            c->rewrapped + c->plaintext + c->current + c->gone + c->customer_key, c->seen, c->bytes >> 20, c->failed, final ? "\n" : "");
}

static void count_result(struct rewrap_loop *l, const char *key, const struct rewrap_result *r)
{
    struct rewrap_counts *c = &l->counts;

    c->seen++;
    switch (r->outcome) {
    case REWRAP_OUTCOME_REWRAPPED:
        c->rewrapped++;
        c->bytes += r->stored_size;
        if (l->run->dry_run) {
            printf("would rewrap ");
            print_key(stdout, key);
            printf(" (%s -> %s)\n", r->old_kms, l->run->target);
        }
        break;
    case REWRAP_OUTCOME_PLAINTEXT:
        c->plaintext++;
        break;
    case REWRAP_OUTCOME_CURRENT:
        c->current++;
        break;
    case REWRAP_OUTCOME_GONE:
        c->gone++;
        break;
    case REWRAP_OUTCOME_CUSTOMER_KEY:
        c->customer_key++;
        break;
    default:
        c->failed++;
        if (l->progress) {
            fputc('\n', stderr);
        }
        fprintf(stderr, "s3seal rewrap: failed ");
        print_key(stderr, key);
        fprintf(stderr, ": %s\n", r->reason);
        break;
    }
}

/* Handles one listed object; returns false when the run must stop (the state file cannot be written). */
static bool handle_entry(struct rewrap_loop *l, const struct s3_list_entry *entry)
{
    struct rewrap_result result;

    proxy_rewrap_object(l->run, entry->key, &result);
    count_result(l, entry->key, &result);
    if (result.outcome == REWRAP_OUTCOME_FAILED) {
        l->record = false;
    }
    if (l->state != NULL && l->record && !l->run->dry_run && !record_finished(l->o->state_file, l->state, entry->key)) {
        return false;
    }
    print_progress(l, false);
    return true;
}

/* Lists and handles every object; returns false when the listing or the state file failed. */
static bool run_listing(struct rewrap_loop *l, const char *start_after)
{
    struct s3_list_page page = {0};
    char *token = NULL;
    bool ok = true;

    do {
        ok = list_page(l->run, l->o->prefix, token, start_after, &page);
        free(token);
        token = NULL;
        for (size_t i = 0; ok && i < page.count && !l->stopped; i++) {
            ok = handle_entry(l, &page.entries[i]);
            if (stop_signal != 0 || (l->o->max_objects > 0 && l->counts.seen >= l->o->max_objects)) {
                l->stopped = true;
            }
        }
        if (ok && page.truncated && !l->stopped) {
            token = page.next_token;
            page.next_token = NULL;
        }
        s3_list_page_cleanup(&page);
    } while (ok && token != NULL);
    return ok;
}

static void print_summary(const struct rewrap_loop *l, double seconds)
{
    const struct rewrap_counts *c = &l->counts;

    print_progress(l, true);
    printf("%s %" PRIu64 ", skipped %" PRIu64 " (%" PRIu64 " without envelope, %" PRIu64 " already under %s, %" PRIu64
           " deleted during the run, %" PRIu64 " under a customer key), failed %" PRIu64 "; %" PRIu64
           " objects, %" PRIu64 " stored bytes %s, %.2f s, %.1f objects/s\n",
           l->run->dry_run ? "would rewrap" : "rewrapped", c->rewrapped,
           c->plaintext + c->current + c->gone + c->customer_key, c->plaintext, c->current, l->run->target, c->gone,
           c->customer_key, c->failed, c->seen, c->bytes,
           l->run->dry_run ? "to rewrap" : "rewrapped", seconds, seconds > 0 ? (double)c->seen / seconds : 0.0);
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_rewrap(struct rewrap_run *run, const struct rewrap_options *o)
{
    struct proxy_rewrap_state state = {0};
    struct rewrap_loop loop = {.run = run, .o = o, .progress = isatty(STDERR_FILENO) == 1, .record = true};
    struct sigaction sa;
    double start = now_seconds();
    int status;
    bool ok;

    if (o->state_file != NULL) {
        status = open_state(o, run, &state);
        if (status != PROXY_REWRAP_EXIT_OK) {
            proxy_rewrap_state_cleanup(&state);
            return status;
        }
        loop.state = &state;
        if (state.last_key != NULL) {
            fprintf(stderr, "s3seal rewrap: continuing after ");
            print_key(stderr, state.last_key);
            fprintf(stderr, " (from %s)\n", o->state_file);
        }
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    ok = run_listing(&loop, state.last_key);
    print_summary(&loop, now_seconds() - start);
    if (stop_signal != 0) {
        fprintf(stderr, "s3seal rewrap: stopped by signal %d%s\n", (int)stop_signal,
                o->state_file != NULL ? "; run again with the same --state-file to continue" : "");
    } else if (loop.stopped) {
        fprintf(stderr, "s3seal rewrap: stopped after %" PRIu64 " objects (--max-objects)%s\n", loop.counts.seen,
                o->state_file != NULL ? "; run again with the same --state-file to continue" : "");
    }
    proxy_rewrap_state_cleanup(&state);
    if (!ok || loop.counts.failed > 0 || stop_signal != 0) {
        return PROXY_REWRAP_EXIT_FAILED;
    }
    return PROXY_REWRAP_EXIT_OK;
}

/* Loads the settings, the key providers and the backend client; prints what failed. */
static int setup(const struct rewrap_options *o, struct proxy_config **cfg, struct kms_provider **kms,
                 struct rewrap_run *run)
{
    char err[1024] = "";
    enum core_err rc;

    if (proxy_config_load(o->config, cfg, err, sizeof(err)) != CORE_OK) {
        fprintf(stderr, "s3seal rewrap: %s\n", err[0] ? err : "cannot load the configuration");
        return PROXY_REWRAP_EXIT_USAGE;
    }
    if (proxy_kms_load(*cfg, kms, err, sizeof(err)) != CORE_OK) {
        fprintf(stderr, "s3seal rewrap: %s\n", err[0] ? err : "cannot load the key providers");
        return PROXY_REWRAP_EXIT_USAGE;
    }
    rc = resolve_target(*kms, o->key_ref, run->target, sizeof(run->target));
    if (rc != CORE_OK) {
        fprintf(stderr, "s3seal rewrap: cannot wrap under %s: %s; check --key-ref and the key providers\n",
                o->key_ref != NULL ? o->key_ref : "the current key", core_err_str(rc));
        return PROXY_REWRAP_EXIT_USAGE;
    }
    if (proxy_backend_new(*cfg, &run->backend) != CORE_OK) {
        fprintf(stderr, "s3seal rewrap: cannot set up libcurl\n");
        return PROXY_REWRAP_EXIT_FAILED;
    }
    run->cfg = *cfg;
    run->kms = *kms;
    run->bucket = o->bucket;
    run->key_ref = o->key_ref;
    run->dry_run = o->dry_run;
    run->multipart_copy = o->multipart_copy;
    return PROXY_REWRAP_EXIT_OK;
}

int proxy_rewrap_main(int argc, char **argv)
{
    struct rewrap_options o;
    struct proxy_config *cfg = NULL;
    struct kms_provider *kms = NULL;
    struct rewrap_run run = {0};
    int parsed = parse_options(argc, argv, &o);
    int status;

    if (parsed != 0) {
        if (parsed > 0) {
            print_help(stdout);
        }
        return parsed > 0 ? PROXY_REWRAP_EXIT_OK : PROXY_REWRAP_EXIT_USAGE;
    }

    /* the key providers log notices on load, which are noise in a command's output */
    core_log_set_level(CORE_LOG_WARN);
    status = setup(&o, &cfg, &kms, &run);
    if (status == PROXY_REWRAP_EXIT_OK) {
        core_log_set_level(CORE_LOG_NOTICE);
        status = run_rewrap(&run, &o);
    }
    proxy_backend_free(run.backend);
    kms_provider_free(kms);
    proxy_config_free(cfg);
    return status;
}
