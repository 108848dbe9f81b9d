/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the backend settings (proxy/proxy_config.h): http:// and https://
 * URLs with and without a port, the Host header each one signs, the TLS
 * settings and their checks, and the client TLS context that
 * proxy_upstream_tls_new builds from them. Settings come from the
 * environment, as for "s3seal serve"; nothing connects anywhere.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy.h"
#include "proxy/proxy_config.h"

static int failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

#define CHECK_STR(got, want) CHECK((got) != NULL && strcmp((got), (want)) == 0)

/* Sets the settings every load needs, so that each case varies only the backend ones. */
static void set_base_env(void)
{
    setenv("S3SEAL_BACKEND_ACCESS_KEY_ID", "BACKENDKEY", 1);
    setenv("S3SEAL_BACKEND_SECRET_ACCESS_KEY", "BACKENDSECRET", 1);
    setenv("S3SEAL_ACCESS_KEY_ID", "CLIENTKEY", 1);
    setenv("S3SEAL_SECRET_ACCESS_KEY", "CLIENTSECRET", 1);
    setenv("S3SEAL_KEY_FILE", "/nonexistent/s3seal.key", 1);
    unsetenv("S3SEAL_BACKEND_CA_FILE");
    unsetenv("S3SEAL_BACKEND_TLS_INSECURE");
}

static struct proxy_config *load_with_url(const char *url, char *err, size_t err_cap)
{
    struct proxy_config *cfg = NULL;

    setenv("S3SEAL_BACKEND_URL", url, 1);
    err[0] = '\0';
    if (proxy_config_load(NULL, &cfg, err, err_cap) != CORE_OK) {
        return NULL;
    }
    return cfg;
}

static void test_backend_url_forms(void)
{
    static const struct {
        const char *url;
        bool tls;
        const char *host;
        const char *port;
        const char *host_header;
    } cases[] = {
        {"http://127.0.0.1:9000", false, "127.0.0.1", "9000", "127.0.0.1:9000"},
        {"http://s3.example.test", false, "s3.example.test", "80", "s3.example.test"},
        {"https://s3.example.test", true, "s3.example.test", "443", "s3.example.test"},
        {"https://s3.example.test/", true, "s3.example.test", "443", "s3.example.test"},
        {"HTTPS://127.0.0.1:8443", true, "127.0.0.1", "8443", "127.0.0.1:8443"},
        {"https://[::1]", true, "::1", "443", "[::1]"},
        {"https://[::1]:9443", true, "::1", "9443", "[::1]:9443"},
    };
    char err[512];

    set_base_env();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct proxy_config *cfg = load_with_url(cases[i].url, err, sizeof(err));

        CHECK(cfg != NULL);
        if (cfg == NULL) {
            fprintf(stderr, "  case %s: %s\n", cases[i].url, err);
            continue;
        }
        CHECK(cfg->backend_tls == cases[i].tls);
        CHECK_STR(cfg->backend_host, cases[i].host);
        CHECK_STR(cfg->backend_port, cases[i].port);
        CHECK_STR(cfg->backend_host_header, cases[i].host_header);
        CHECK(!cfg->backend_tls_insecure);
        CHECK(cfg->backend_ca_file == NULL);
        proxy_config_free(cfg);
    }
}

static void test_backend_url_rejected(void)
{
    static const char *const urls[] = {
        "ftp://127.0.0.1:21", "127.0.0.1:9000", "https://", "https://host:0", "https://host:99999",
        "https://host/bucket", "https://[::1", "http//host",
    };
    char err[512];

    set_base_env();
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        struct proxy_config *cfg = load_with_url(urls[i], err, sizeof(err));

        CHECK(cfg == NULL);
        CHECK(strstr(err, "S3SEAL_BACKEND_URL") != NULL);
        proxy_config_free(cfg);
    }
}

static void test_backend_tls_settings(void)
{
    struct proxy_config *cfg;
    char err[512];

    /* case: a CA file and the insecure switch are kept for an https:// backend */
    set_base_env();
    setenv("S3SEAL_BACKEND_CA_FILE", "/etc/s3seal/backend-ca.pem", 1);
    cfg = load_with_url("https://127.0.0.1:8443", err, sizeof(err));
    CHECK(cfg != NULL);
    if (cfg != NULL) {
        CHECK_STR(cfg->backend_ca_file, "/etc/s3seal/backend-ca.pem");
        CHECK(!cfg->backend_tls_insecure);
    }
    proxy_config_free(cfg);

    set_base_env();
    setenv("S3SEAL_BACKEND_TLS_INSECURE", "true", 1);
    cfg = load_with_url("https://127.0.0.1:8443", err, sizeof(err));
    CHECK(cfg != NULL);
    if (cfg != NULL) {
        CHECK(cfg->backend_tls_insecure);
    }
    proxy_config_free(cfg);

    /* case: only true and false are accepted */
    set_base_env();
    setenv("S3SEAL_BACKEND_TLS_INSECURE", "yes", 1);
    cfg = load_with_url("https://127.0.0.1:8443", err, sizeof(err));
    CHECK(cfg == NULL);
    CHECK(strstr(err, "S3SEAL_BACKEND_TLS_INSECURE") != NULL);
    proxy_config_free(cfg);

    /* case: TLS settings for an http:// backend would do nothing, so they are rejected */
    set_base_env();
    setenv("S3SEAL_BACKEND_CA_FILE", "/etc/s3seal/backend-ca.pem", 1);
    cfg = load_with_url("http://127.0.0.1:9000", err, sizeof(err));
    CHECK(cfg == NULL);
    CHECK(strstr(err, "S3SEAL_BACKEND_CA_FILE") != NULL);
    proxy_config_free(cfg);

    set_base_env();
    setenv("S3SEAL_BACKEND_TLS_INSECURE", "true", 1);
    cfg = load_with_url("http://127.0.0.1:9000", err, sizeof(err));
    CHECK(cfg == NULL);
    proxy_config_free(cfg);
}

static void test_backend_tls_context(const char *ca_file)
{
    struct proxy_config *cfg;
    SSL_CTX *ctx = NULL;
    char err[512];

    /* case: a readable CA file gives a context that verifies the peer, with TLS 1.2 as the minimum */
    set_base_env();
    setenv("S3SEAL_BACKEND_CA_FILE", ca_file, 1);
    cfg = load_with_url("https://127.0.0.1:8443", err, sizeof(err));
    CHECK(cfg != NULL);
    if (cfg != NULL) {
        CHECK(proxy_upstream_tls_new(cfg, &ctx) == CORE_OK);
        CHECK(ctx != NULL);
        if (ctx != NULL) {
            CHECK(SSL_CTX_get_verify_mode(ctx) == SSL_VERIFY_PEER);
            CHECK(SSL_CTX_get_min_proto_version(ctx) == TLS1_2_VERSION);
        }
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
    proxy_config_free(cfg);

    /* case: a CA file that cannot be read stops start-up */
    set_base_env();
    setenv("S3SEAL_BACKEND_CA_FILE", "/nonexistent/backend-ca.pem", 1);
    cfg = load_with_url("https://127.0.0.1:8443", err, sizeof(err));
    CHECK(cfg != NULL);
    if (cfg != NULL) {
        CHECK(proxy_upstream_tls_new(cfg, &ctx) == CORE_CONFIG);
        CHECK(ctx == NULL);
    }
    proxy_config_free(cfg);

    /* case: the insecure switch turns verification off */
    set_base_env();
    setenv("S3SEAL_BACKEND_TLS_INSECURE", "true", 1);
    cfg = load_with_url("https://127.0.0.1:8443", err, sizeof(err));
    CHECK(cfg != NULL);
    if (cfg != NULL) {
        CHECK(proxy_upstream_tls_new(cfg, &ctx) == CORE_OK);
        CHECK(ctx != NULL);
        if (ctx != NULL) {
            CHECK(SSL_CTX_get_verify_mode(ctx) == SSL_VERIFY_NONE);
        }
        SSL_CTX_free(ctx);
    }
    proxy_config_free(cfg);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CA_PEM_FILE\n", argv[0]);
        return 2;
    }
    test_backend_url_forms();
    test_backend_url_rejected();
    test_backend_tls_settings();
    test_backend_tls_context(argv[1]);
    if (failures > 0) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("all backend configuration checks passed\n");
    return 0;
}
