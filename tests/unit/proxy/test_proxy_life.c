/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the limits and lifecycle state: the request head limits of
 * proxy/proxy_head.c, the new settings of proxy/proxy_config.c, the
 * configuration generations and fixed settings of proxy/proxy_reload.c, and
 * the connection count and configuration swap of proxy/proxy_life.c on a
 * worker without sockets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy.h"
#include "proxy/proxy_reload.h"
#include "../crypto/test_check.h"

static int feed(struct proxy_head *h, int (*fn)(struct proxy_head *, const char *, size_t), const char *s)
{
    return fn(h, s, strlen(s));
}

static void test_head_rejects_long_url(void)
{
    struct proxy_head h = {0};
    char url[300];

    memset(url, 'u', sizeof(url) - 1);
    url[sizeof(url) - 1] = '\0';
    proxy_head_set_limits(&h, 4096, 10, 256);

    /* case: the target arrives in pieces; the limit counts them together */
    CHECK(proxy_head_on_url(&h, url, 200) == 0);
    CHECK(!proxy_head_over_limit(&h));
    CHECK(proxy_head_on_url(&h, url, 57) == -1);
    CHECK(h.url_too_long);
    CHECK(proxy_head_over_limit(&h));
    proxy_head_cleanup(&h);
}

static void test_head_rejects_many_fields(void)
{
    struct proxy_head h = {0};

    proxy_head_set_limits(&h, 4096, 2, 256);
    CHECK(feed(&h, proxy_head_on_url, "/b/k") == 0);
    CHECK(feed(&h, proxy_head_on_field, "a") == 0);
    CHECK(feed(&h, proxy_head_on_value, "1") == 0);
    CHECK(feed(&h, proxy_head_on_field, "b") == 0);
    CHECK(feed(&h, proxy_head_on_value, "2") == 0);
    CHECK(!proxy_head_over_limit(&h));

    /* case: a third field passes the count of 2 */
    CHECK(feed(&h, proxy_head_on_field, "c") == -1);
    CHECK(h.too_many);
    CHECK(!h.too_large);
    proxy_head_cleanup(&h);
}

static void test_head_rejects_large_head(void)
{
    struct proxy_head h = {0};
    char value[1100];

    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    proxy_head_set_limits(&h, 1024, 10, 0);
    CHECK(feed(&h, proxy_head_on_url, "/b/k") == 0);
    CHECK(feed(&h, proxy_head_on_field, "x-big") == 0);
    CHECK(feed(&h, proxy_head_on_value, value) == -1);
    CHECK(h.too_large);
    CHECK(proxy_head_over_limit(&h));
    proxy_head_cleanup(&h);
}

static void test_head_limits_are_capped_and_survive_reset(void)
{
    struct proxy_head h = {0};

    proxy_head_set_limits(&h, 1u << 30, 100000, 512);
    CHECK(h.max_len == PROXY_HEAD_MAX);
    CHECK(h.max_count == PROXY_HEADERS_MAX);
    CHECK(feed(&h, proxy_head_on_url, "/b/k") == 0);
    proxy_head_reset(&h);
    CHECK(h.max_len == PROXY_HEAD_MAX);
    CHECK(h.max_count == PROXY_HEADERS_MAX);
    CHECK(h.max_url == 512);
    CHECK(h.url_len == 0);
    CHECK(h.len == 0);
    proxy_head_cleanup(&h);
}

static void set_base_env(void)
{
    setenv("S3SEAL_BACKEND_URL", "http://127.0.0.1:9000", 1);
    setenv("S3SEAL_BACKEND_ACCESS_KEY_ID", "backend", 1);
    setenv("S3SEAL_BACKEND_SECRET_ACCESS_KEY", "backendsecret", 1);
    setenv("S3SEAL_ACCESS_KEY_ID", "client", 1);
    setenv("S3SEAL_SECRET_ACCESS_KEY", "clientsecret", 1);
    setenv("S3SEAL_KEY_FILE", "/nonexistent/key", 1);
}

static void test_config_limits_have_defaults(void)
{
    struct proxy_config *cfg = NULL;
    char err[512] = "";

    set_base_env();
    setenv("S3SEAL_CLIENT_TIMEOUT", "45", 1);
    CHECK(proxy_config_load(NULL, &cfg, err, sizeof(err)) == CORE_OK);
    if (cfg == NULL) {
        fprintf(stderr, "load failed: %s\n", err);
        return;
    }
    CHECK(cfg->header_timeout_s == 20);
    CHECK(cfg->drain_timeout_s == 30);
    CHECK(cfg->backend_connect_timeout_s == 10);
    CHECK(cfg->max_header_size == 16384);
    CHECK(cfg->max_header_count == 100);
    CHECK(cfg->max_url_length == 8192);
    CHECK(cfg->max_connections == 1024);

    /* case: the body and keep-alive timeouts follow S3SEAL_CLIENT_TIMEOUT when unset */
    CHECK(cfg->body_timeout_s == 45);
    CHECK(cfg->keepalive_timeout_s == 45);
    proxy_config_free(cfg);
    unsetenv("S3SEAL_CLIENT_TIMEOUT");
}

static void test_config_limits_reject_bad_values(void)
{
    static const struct {
        const char *name;
        const char *value;
    } cases[] = {
        {"S3SEAL_MAX_HEADER_COUNT", "129"}, {"S3SEAL_MAX_HEADER_COUNT", "0"},   {"S3SEAL_MAX_HEADER_SIZE", "1023"},
        {"S3SEAL_MAX_URL_LENGTH", "abc"},   {"S3SEAL_HEADER_TIMEOUT", "0"},     {"S3SEAL_DRAIN_TIMEOUT", "-1"},
        {"S3SEAL_MAX_CONNECTIONS", "0"},    {"S3SEAL_KEEPALIVE_TIMEOUT", "1x"},
    };

    set_base_env();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct proxy_config *cfg = NULL;
        char err[512] = "";

        setenv(cases[i].name, cases[i].value, 1);
        CHECK(proxy_config_load(NULL, &cfg, err, sizeof(err)) == CORE_CONFIG);
        CHECK(strstr(err, cases[i].name) != NULL);
        CHECK(cfg == NULL);
        unsetenv(cases[i].name);
    }

    /* case: a drain timeout of 0 cuts at once and is allowed */
    {
        struct proxy_config *cfg = NULL;
        char err[512] = "";

        setenv("S3SEAL_DRAIN_TIMEOUT", "0", 1);
        CHECK(proxy_config_load(NULL, &cfg, err, sizeof(err)) == CORE_OK);
        CHECK(cfg != NULL && cfg->drain_timeout_s == 0);
        proxy_config_free(cfg);
        unsetenv("S3SEAL_DRAIN_TIMEOUT");
    }
}

static struct proxy_config *load_config(void)
{
    struct proxy_config *cfg = NULL;
    char err[512] = "";

    set_base_env();
    CHECK(proxy_config_load(NULL, &cfg, err, sizeof(err)) == CORE_OK);
    return cfg;
}

static void test_reload_keeps_fixed_settings(void)
{
    struct proxy_config *old = load_config();
    struct proxy_config *next = load_config();
    char ignored[512];

    if (old == NULL || next == NULL) {
        proxy_config_free(old);
        proxy_config_free(next);
        return;
    }

    /* case: nothing differs, nothing is ignored */
    CHECK(proxy_reload_keep_fixed(old, next, ignored, sizeof(ignored)) == CORE_OK);
    CHECK(strcmp(ignored, "") == 0);

    /* case: listen address, workers and the key file differ; the limits may change */
    free(next->listen_port);
    next->listen_port = strdup("9999");
    next->workers = old->workers + 3;
    free(next->key_file);
    next->key_file = NULL;
    next->max_connections = 7;
    CHECK(proxy_reload_keep_fixed(old, next, ignored, sizeof(ignored)) == CORE_OK);
    CHECK(strcmp(ignored, "S3SEAL_LISTEN,S3SEAL_KEY_FILE,S3SEAL_WORKERS") == 0);
    CHECK(strcmp(next->listen_port, old->listen_port) == 0);
    CHECK(next->workers == old->workers);
    CHECK(next->key_file != NULL && strcmp(next->key_file, old->key_file) == 0);
    CHECK(next->max_connections == 7);
    proxy_config_free(old);
    proxy_config_free(next);
}

static void test_generation_lives_until_last_reference(void)
{
    struct proxy_config *cfg = load_config();
    struct proxy_generation *g = proxy_gen_new(NULL, cfg, NULL, 4);

    CHECK(g != NULL);
    if (g == NULL) {
        proxy_config_free(cfg);
        return;
    }
    CHECK(g->cfg == cfg);
    CHECK(g->number == 4);
    CHECK(proxy_gen_ref(g) == g);
    CHECK(atomic_load(&g->refs) == 2);
    proxy_gen_unref(g);
    CHECK(atomic_load(&g->refs) == 1);

    /* the last reference frees the configuration too; ASan reports a leak or a double free */
    proxy_gen_unref(g);
    proxy_gen_unref(NULL);
}

static void test_reload_build_takes_valid_and_rejects_invalid(void)
{
    struct proxy_config *start = load_config();
    struct proxy_generation *old = proxy_gen_new(start, NULL, NULL, 6);
    struct proxy_generation *next = NULL;
    char err[512];
    char ignored[256];

    /* case: a changed limit and a changed worker count; the count needs a restart */
    setenv("S3SEAL_MAX_CONNECTIONS", "9", 1);
    setenv("S3SEAL_WORKERS", "3", 1);
    CHECK(proxy_reload_build(NULL, old, NULL, &next, err, sizeof(err), ignored, sizeof(ignored)) == CORE_OK);
    CHECK(next != NULL && next->number == 7);
    CHECK(next != NULL && next->cfg->max_connections == 9);
    CHECK(next != NULL && next->cfg->workers == start->workers);
    CHECK(strcmp(ignored, start->workers == 3 ? "" : "S3SEAL_WORKERS") == 0);
    proxy_gen_unref(next);
    next = NULL;

    /* case: an invalid value leaves nothing built and names the setting */
    setenv("S3SEAL_MAX_CONNECTIONS", "lots", 1);
    CHECK(proxy_reload_build(NULL, old, NULL, &next, err, sizeof(err), ignored, sizeof(ignored)) == CORE_CONFIG);
    CHECK(next == NULL);
    CHECK(strstr(err, "S3SEAL_MAX_CONNECTIONS") != NULL);

    unsetenv("S3SEAL_MAX_CONNECTIONS");
    unsetenv("S3SEAL_WORKERS");
    proxy_gen_unref(old);
    proxy_config_free(start);
}

/* A worker with an event base and no sockets, for the connection list and the swap. */
static void worker_init(struct proxy_worker *w, struct proxy_generation *gen)
{
    memset(w, 0, sizeof(*w));
    w->base = event_base_new();
    w->gen = proxy_gen_ref(gen);
    w->cfg = gen->cfg;
    CHECK(proxy_life_worker_init(w) == CORE_OK);
}

static void test_connections_beyond_limit_are_marked(void)
{
    struct proxy_config *cfg = load_config();
    struct proxy_generation *g;
    struct proxy_worker w;
    struct proxy_conn conns[4];

    if (cfg == NULL) {
        return;
    }
    cfg->max_connections = 2;
    g = proxy_gen_new(NULL, cfg, NULL, 0);
    worker_init(&w, g);
    memset(conns, 0, sizeof(conns));
    for (int i = 0; i < 4; i++) {
        conns[i].worker = &w;
        proxy_life_conn_added(&conns[i]);
    }
    CHECK(w.conn_count == 4);
    CHECK(!conns[0].over_limit);
    CHECK(!conns[1].over_limit);
    CHECK(conns[2].over_limit);
    CHECK(conns[3].over_limit);
    CHECK(proxy_life_accept_allowed(&w));

    /* case: removal from the middle and the ends keeps the list whole */
    proxy_life_conn_removed(&conns[1]);
    proxy_life_conn_removed(&conns[3]);
    CHECK(w.conn_count == 2);
    CHECK(w.conns == &conns[2]);
    CHECK(conns[2].next == &conns[0]);
    CHECK(conns[0].next == NULL);
    proxy_life_conn_removed(&conns[2]);
    proxy_life_conn_removed(&conns[0]);
    CHECK(w.conn_count == 0);
    CHECK(w.conns == NULL);

    /* case: a draining worker accepts nothing */
    w.draining = true;
    CHECK(!proxy_life_accept_allowed(&w));

    proxy_life_worker_cleanup(&w);
    event_base_free(w.base);
    proxy_gen_unref(g);
}

static void test_reload_command_swaps_generation(void)
{
    struct proxy_config *first = load_config();
    struct proxy_config *second = load_config();
    struct proxy_config *third = load_config();
    struct proxy_generation *g1 = proxy_gen_new(NULL, first, NULL, 0);
    struct proxy_generation *g2 = proxy_gen_new(NULL, second, NULL, 1);
    struct proxy_generation *g3 = proxy_gen_new(NULL, third, NULL, 2);
    struct proxy_generation *running_request;
    struct proxy_worker w;

    worker_init(&w, g1);

    /* a request that started under g1 keeps it */
    running_request = proxy_gen_ref(w.gen);

    /* case: two reloads before the worker woke up; it takes the newer */
    proxy_life_post_generation(&w, g2);
    proxy_life_post_generation(&w, g3);
    CHECK(atomic_load(&g2->refs) == 1);
    proxy_life_on_command(&w, PROXY_CMD_RELOAD);
    CHECK(w.gen == g3);
    CHECK(w.cfg == third);
    CHECK(w.pending_gen == NULL);
    CHECK(atomic_load(&g1->refs) == 2);

    /* case: a reload command with nothing posted changes nothing */
    proxy_life_on_command(&w, PROXY_CMD_RELOAD);
    CHECK(w.gen == g3);

    proxy_gen_unref(g1);
    proxy_gen_unref(g2);
    proxy_gen_unref(g3);
    CHECK(running_request->cfg == first);
    proxy_gen_unref(running_request);
    proxy_life_worker_cleanup(&w);
    event_base_free(w.base);
}

int main(void)
{
    RUN(test_head_rejects_long_url);
    RUN(test_head_rejects_many_fields);
    RUN(test_head_rejects_large_head);
    RUN(test_head_limits_are_capped_and_survive_reset);
    RUN(test_config_limits_have_defaults);
    RUN(test_config_limits_reject_bad_values);
    RUN(test_reload_keeps_fixed_settings);
    RUN(test_generation_lives_until_last_reference);
    RUN(test_reload_build_takes_valid_and_rejects_invalid);
    RUN(test_connections_beyond_limit_are_marked);
    RUN(test_reload_command_swaps_generation);
    return TEST_RESULT();
}
