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
#include "proxy/proxy_version.h"

/*
 * Exit statuses shared by every command: 0 success, 1 the command ran and
 * failed (invalid settings, a rejected key file, an object that failed
 * verification), 2 the command line itself is wrong. docs/OPERATIONS.md
 * lists them per command; scripts and service managers rely on them.
 */
#define EXIT_USAGE 2

static void print_usage(FILE *out)
{
    fprintf(out,
            "Usage: s3seal COMMAND [OPTIONS]\n"
            "\n"
            "s3seal is an S3 reverse proxy that encrypts object bodies on their way to an S3\n"
            "backend and decrypts them on their way back.\n"
            "\n"
            "Commands:\n"
            "  serve [--config FILE]        Run the proxy.\n"
            "  check-config [--config FILE] Load the settings and the key providers, report problems, exit.\n"
            "  keygen --out FILE [--key-id ID]\n"
            "                               Write a new master key file with mode 0600.\n"
            "  inspect --metadata FILE      Print an object's envelope, optionally verify it.\n"
            "  decrypt --key-file FILE ...  Decrypt an object copied from the backend, offline.\n"
            "  rewrap --bucket NAME ...     Wrap existing objects' data keys under another master key.\n"
            "  version, --version           Print the version, commit, build type and library versions.\n"
            "  help [COMMAND], --help       Print this text, or the help of COMMAND.\n"
            "\n"
            "'s3seal COMMAND --help' prints the options of each command; 's3seal serve --help'\n"
            "lists every setting with its default.\n"
            "\n"
            "Exit status: 0 success, 1 the command failed (the message on stderr says why),\n"
            "2 usage error. docs/OPERATIONS.md lists the statuses of each command.\n");
}

static void print_serve_help(FILE *out)
{
    fprintf(out,
            "Usage: s3seal serve [--config FILE]\n"
            "\n"
            "Accepts S3 requests, verifies their AWS Signature Version 4, encrypts object bodies\n"
            "with AES-256-GCM under a fresh data key per object, and forwards the requests to the\n"
            "backend signed with the backend credentials. Runs in the foreground and logs to\n"
            "stderr. SIGINT or SIGTERM stops it after the requests in flight finished\n"
            "(S3SEAL_DRAIN_TIMEOUT); SIGHUP reloads the settings.\n"
            "\n"
            "  --config FILE   INI file with the settings below (S3SEAL_CONFIG also sets it).\n"
            "\n"
            "Exit status: 0 stopped by SIGINT or SIGTERM, 1 a setting, the key file, the listen\n"
            "address or the backend name was rejected at start (the message says which),\n"
            "2 usage error.\n"
            "\n");
    proxy_config_print_help(out);
}

static void print_check_config_help(FILE *out)
{
    fprintf(out,
            "Usage: s3seal check-config [--config FILE]\n"
            "\n"
            "Loads the settings exactly as 's3seal serve' does, from FILE and the S3SEAL_*\n"
            "environment, checks every value, opens the key providers (the key file, PKCS#11\n"
            "token, Vault or AWS KMS) and exits without listening. Run it with the service's\n"
            "environment before a start and after every change. 's3seal serve --help' lists\n"
            "the settings.\n"
            "\n"
            "  --config FILE   INI file with the settings (S3SEAL_CONFIG also sets it).\n"
            "\n"
            "Exit status: 0 prints 'configuration and key file are valid', 1 a setting or the\n"
            "key providers were rejected (the message names the setting and the value),\n"
            "2 usage error.\n");
}

static void print_keygen_help(FILE *out)
{
    fprintf(out,
            "Usage: s3seal keygen --out FILE [--key-id ID]\n"
            "\n"
            "Writes a new key file holding one random 256-bit master key, with mode 0600. The\n"
            "file must not exist yet, so an existing key is never overwritten. docs/KEYS.md\n"
            "describes the format and how to add a key for rotation.\n"
            "\n"
            "  --out FILE      Where to write the key file.\n"
            "  --key-id ID     Id of the key, recorded in every object it wraps (default: k and\n"
            "                  8 random hex digits).\n"
            "\n"
            "Exit status: 0 written, 1 the file exists or cannot be written, 2 usage error.\n");
}

static void print_version_help(FILE *out)
{
    fprintf(out,
            "Usage: s3seal version   (or: s3seal --version)\n"
            "\n"
            "Prints the s3seal version, the commit it was built from ('unknown' when the source\n"
            "had no git metadata, '-dirty' when it had local changes), the build type, and the\n"
            "versions of OpenSSL, libevent, libcurl, libxml2, jansson and llhttp, both those it\n"
            "runs with and those it was built with.\n"
            "\n"
            "Exit status: 0.\n");
}

/* Prints a usage error the same way every command does: what was wrong and where the help is. */
static int usage_error(const char *cmd, const char *what, const char *value)
{
    if (value != NULL) {
        fprintf(stderr, "s3seal %s: %s '%s'; see 's3seal %s --help'\n", cmd, what, value, cmd);
    } else {
        fprintf(stderr, "s3seal %s: %s; see 's3seal %s --help'\n", cmd, what, cmd);
    }
    return EXIT_USAGE;
}

/* Parses --config FILE; returns 0, 1 for --help, or -1 after printing a usage error. */
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
            /* getopt has printed which option was wrong */
            usage_error(argv[0], "invalid option", NULL);
            return -1;
        }
    }
    if (optind != argc) {
        usage_error(argv[0], "unexpected argument", argv[optind]);
        return -1;
    }
    return 0;
}

static int load_all(int argc, char **argv, bool check_only, struct proxy_config **cfg, struct kms_provider **kms,
                    const char **config_path)
{
    char err[1024] = "";
    int rc = parse_config_option(argc, argv, config_path);

    if (rc == 1) {
        if (check_only) {
            print_check_config_help(stdout);
        } else {
            print_serve_help(stdout);
        }
        return 0;
    }
    if (rc < 0) {
        return EXIT_USAGE;
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
    int rc = load_all(argc, argv, check_only, &cfg, &kms, &config_path);

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
        } else if (opt == 'h') {
            print_keygen_help(stdout);
            return 0;
        } else {
            return usage_error("keygen", "invalid option", NULL);
        }
    }
    if (optind != argc) {
        return usage_error("keygen", "unexpected argument", argv[optind]);
    }
    if (out == NULL || out[0] == '\0') {
        return usage_error("keygen", "missing --out FILE", NULL);
    }
    if (kms_keyfile_generate(out, key_id, err, sizeof(err)) != CORE_OK) {
        fprintf(stderr, "s3seal keygen: %s\n", err[0] ? err : "cannot write the key file");
        return 1;
    }
    printf("wrote a new master key to %s\n", out);
    return 0;
}

static int cmd_version(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        print_version_help(stdout);
        return 0;
    }
    if (argc > 1) {
        return usage_error("version", "unexpected argument", argv[1]);
    }
    proxy_version_print(stdout);
    return 0;
}

static int cmd_check_config(int argc, char **argv)
{
    return cmd_serve(argc, argv, true);
}

static int cmd_run_server(int argc, char **argv)
{
    return cmd_serve(argc, argv, false);
}

struct command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

static const struct command commands[] = {
    {"serve", cmd_run_server},
    {"check-config", cmd_check_config},
    {"keygen", cmd_keygen},
    {"inspect", proxy_admin_inspect_main},
    {"decrypt", proxy_admin_decrypt_main},
    {"rewrap", proxy_rewrap_main},
    {"version", cmd_version},
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

static int unknown_command(const char *name)
{
    fprintf(stderr, "s3seal: unknown command '%s'; the commands are serve, check-config, keygen, inspect, "
                    "decrypt, rewrap, version and help; see 's3seal --help'\n", name);
    return EXIT_USAGE;
}

/* "s3seal help COMMAND" is "s3seal COMMAND --help", so each command keeps its help in one place. */
static int cmd_help(int argc, char **argv)
{
    const struct command *c;
    char help_option[] = "--help"; /* writable: the commands take char ** as main does */
    char *help_argv[3];

    if (argc < 2) {
        print_usage(stdout);
        return 0;
    }
    if (argc > 2) {
        return usage_error("help", "unexpected argument", argv[2]);
    }
    c = find_command(argv[1]);
    if (c == NULL) {
        return unknown_command(argv[1]);
    }
    help_argv[0] = argv[1];
    help_argv[1] = help_option;
    help_argv[2] = NULL;
    return c->run(2, help_argv);
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;
    const struct command *c;

    if (cmd == NULL) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        return cmd_version(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        return cmd_help(argc - 1, argv + 1);
    }
    c = find_command(cmd);
    if (c == NULL) {
        return unknown_command(cmd);
    }
    return c->run(argc - 1, argv + 1);
}
