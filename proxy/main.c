/* SPDX-License-Identifier: Apache-2.0 */
/* The s3seal command: the server and its administration commands. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_log.h"
#include "kms/kms_keyfile.h"
#include "proxy/proxy_admin.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_kms.h"
#include "proxy/proxy_rewrap.h"
#include "proxy/proxy_server.h"

#define S3SEAL_VERSION "0.1.0"

static void print_usage(FILE *out)
{
    fprintf(out,
            "Usage: s3seal COMMAND [OPTIONS]\n"
            "\n"
            "s3seal is an S3 reverse proxy that encrypts object bodies on their way to an S3\n"
            "backend and decrypts them on their way back.\n"
            "\n"
            "Commands:\n"
            "  serve [--config FILE]        Run the proxy (see 's3seal serve --help' for settings).\n"
            "  check-config [--config FILE] Load the settings and the key file, report problems, exit.\n"
            "  keygen --out FILE [--key-id ID]\n"
            "                               Write a new master key file with mode 0600.\n"
            "  inspect --metadata FILE      Print an object's envelope ('s3seal inspect --help').\n"
            "  decrypt --key-file FILE ...  Decrypt an object copied from the backend, offline\n"
            "                               ('s3seal decrypt --help').\n"
            "  version                      Print the version.\n"
            "  help                         Print this text.\n");
}

static void print_serve_help(FILE *out)
{
    fprintf(out,
            "Usage: s3seal serve [--config FILE]\n"
            "\n"
            "Accepts S3 requests, verifies their AWS Signature Version 4, encrypts object bodies\n"
            "with AES-256-GCM under a fresh data key per object, and forwards the requests to the\n"
            "backend signed with the backend credentials. SIGINT or SIGTERM stops it after the\n"
            "requests in flight finished (S3SEAL_DRAIN_TIMEOUT); SIGHUP reloads the settings.\n"
            "\n"
            "  --config FILE   INI file with the settings below (S3SEAL_CONFIG also sets it).\n"
            "\n");
    proxy_config_print_help(out);
}

/* Parses --config FILE; returns 0, 1 for --help, or -1 on a usage error. */
static int parse_config_option(int argc, char **argv, const char **config_path)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    *config_path = getenv("S3SEAL_CONFIG");
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        if (opt == 'c') {
            *config_path = optarg;
        } else if (opt == 'h') {
            return 1;
        } else {
            return -1;
        }
    }
    return optind == argc ? 0 : -1;
}

static int load_all(int argc, char **argv, struct proxy_config **cfg, struct kms_provider **kms,
                    const char **config_path)
{
    char err[1024] = "";
    int rc = parse_config_option(argc, argv, config_path);

    if (rc == 1) {
        print_serve_help(stdout);
        return 0;
    }
    if (rc < 0) {
        print_serve_help(stderr);
        return 2;
    }
    if (proxy_config_load(*config_path, cfg, err, sizeof(err)) != CORE_OK) {
        fprintf(stderr, "s3seal: %s\n", err[0] ? err : "cannot load the configuration");
        return 1;
    }
    core_log_set_level((enum core_log_level)(*cfg)->log_level);
    if (proxy_kms_load(*cfg, kms, err, sizeof(err)) != CORE_OK) {
        fprintf(stderr, "s3seal: %s\n", err[0] ? err : "cannot load the key providers");
        proxy_config_free(*cfg);
        *cfg = NULL;
        return 1;
    }
    return -1;
}

static int cmd_serve(int argc, char **argv, bool check_only)
{
    struct proxy_config *cfg = NULL;
    struct kms_provider *kms = NULL;
    const char *config_path = NULL;
    int rc = load_all(argc, argv, &cfg, &kms, &config_path);

    if (rc >= 0) {
        return rc;
    }
    if (check_only) {
        printf("configuration and key file are valid\n");
        rc = 0;
    } else {
        rc = proxy_server_run(cfg, kms, config_path) == CORE_OK ? 0 : 1;
    }
    kms_provider_free(kms);
    proxy_config_free(cfg);
    return rc;
}

static int cmd_keygen(int argc, char **argv)
{
    static const struct option options[] = {
        {"out", required_argument, NULL, 'o'},
        {"key-id", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    const char *key_id = NULL;
    char err[1024] = "";
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:k:h", options, NULL)) != -1) {
        if (opt == 'o') {
            out = optarg;
        } else if (opt == 'k') {
            key_id = optarg;
        } else {
            fprintf(opt == 'h' ? stdout : stderr,
                    "Usage: s3seal keygen --out FILE [--key-id ID]\n"
                    "Writes a new 256-bit master key to FILE (which must not exist) with mode 0600.\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (out == NULL || optind != argc) {
        fprintf(stderr, "s3seal keygen: missing --out FILE\n");
        return 2;
    }
    if (kms_keyfile_generate(out, key_id, err, sizeof(err)) != CORE_OK) {
        fprintf(stderr, "s3seal keygen: %s\n", err[0] ? err : "cannot write the key file");
        return 1;
    }
    printf("wrote a new master key to %s\n", out);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;

    if (cmd == NULL) {
        print_usage(stderr);
        return 2;
    }

    if (strcmp(cmd, "serve") == 0) {
        return cmd_serve(argc - 1, argv + 1, false);
    }
    if (strcmp(cmd, "check-config") == 0) {
        return cmd_serve(argc - 1, argv + 1, true);
    }
    if (strcmp(cmd, "keygen") == 0) {
        return cmd_keygen(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "inspect") == 0) {
        return proxy_admin_inspect_main(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "decrypt") == 0) {
        return proxy_admin_decrypt_main(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "rewrap") == 0) {
        return proxy_rewrap_main(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("s3seal %s\n", S3SEAL_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        print_usage(stdout);
        return 0;
    }
    fprintf(stderr, "s3seal: unknown command '%s'\n\n", cmd);
    print_usage(stderr);
    return 2;
}
