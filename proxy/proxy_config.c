/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration loading. Every setting has one row in the settings table
 * below: its environment variable, its place in the INI file, its default and
 * its help text, so the help output and the parser cannot drift apart.
 */
#include "proxy/proxy_config.h"

#include <ini.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core_log.h"

enum setting_id {
    SET_LISTEN = 0,
    SET_WORKERS,
    SET_BACKEND_URL,
    SET_BACKEND_CA_FILE,
    SET_BACKEND_TLS_INSECURE,
    SET_BACKEND_REGION,
    SET_BACKEND_ACCESS_KEY_ID,
    SET_BACKEND_SECRET_ACCESS_KEY,
    SET_REGION,
    SET_BASE_DOMAINS,
    SET_PLAINTEXT_PREFIXES,
    SET_UNENCRYPTED_READS,
    SET_ACCESS_KEY_ID,
    SET_SECRET_ACCESS_KEY,
    SET_CREDENTIALS_FILE,
    SET_KEY_FILE,
    SET_KMS_PROVIDER,
    SET_PKCS11_MODULE,
    SET_PKCS11_TOKEN_LABEL,
    SET_PKCS11_PIN_FILE,
    SET_PKCS11_PIN,
    SET_PKCS11_KEY_LABEL,
    SET_PKCS11_MECHANISM,
    SET_KEY_POLICY,
    SET_KMS_THREADS,
    SET_KMS_QUEUE_MAX,
    SET_KMS_RETRIES,
    SET_KEY_CACHE_SIZE,
    SET_KEY_CACHE_TTL,
    SET_KMS_CONTEXT,
    SET_VAULT_ADDR,
    SET_VAULT_MOUNT,
    SET_VAULT_KEY_NAME,
    SET_VAULT_TOKEN,
    SET_VAULT_TOKEN_FILE,
    SET_VAULT_ROLE_ID,
    SET_VAULT_SECRET_ID,
    SET_VAULT_SECRET_ID_FILE,
    SET_VAULT_NAMESPACE,
    SET_VAULT_CA_FILE,
    SET_VAULT_TIMEOUT_MS,
    SET_AWSKMS_ENDPOINT,
    SET_AWSKMS_REGION,
    SET_AWSKMS_KEY_ID,
    SET_AWSKMS_ACCESS_KEY_ID,
    SET_AWSKMS_SECRET_ACCESS_KEY,
    SET_AWSKMS_SESSION_TOKEN,
    SET_AWSKMS_CA_FILE,
    SET_AWSKMS_TIMEOUT_MS,
    SET_KMIP_HOST,
    SET_KMIP_PORT,
    SET_KMIP_CA_FILE,
    SET_KMIP_CERT_FILE,
    SET_KMIP_KEY_FILE,
    SET_KMIP_KEY_ID,
    SET_KMIP_TIMEOUT_MS,
    SET_TLS_CERT_FILE,
    SET_TLS_KEY_FILE,
    SET_TLS_CLIENT_CA_FILE,
    SET_LOG_LEVEL,
    SET_CLIENT_TIMEOUT,
    SET_BACKEND_TIMEOUT,
    SET_BACKEND_CONNECT_TIMEOUT,
    SET_HEADER_TIMEOUT,
    SET_BODY_TIMEOUT,
    SET_KEEPALIVE_TIMEOUT,
    SET_DRAIN_TIMEOUT,
    SET_MAX_HEADER_SIZE,
    SET_MAX_HEADER_COUNT,
    SET_MAX_URL_LENGTH,
    SET_MAX_CONNECTIONS,
    SET_ADMIN_LISTEN,
    SET_ACCESS_LOG,
    SET_COUNT,
};

struct setting {
    const char *env;
    const char *section;
    const char *key;
    const char *default_value; /* NULL = no default */
    const char *help;
};

static const struct setting settings[SET_COUNT] = {
    [SET_LISTEN] = {"S3SEAL_LISTEN", "server", "listen", "127.0.0.1:8080",
                    "Address and port to accept S3 clients on (IPv6 as [::1]:8080)."},
    [SET_WORKERS] = {"S3SEAL_WORKERS", "server", "workers", NULL,
                     "Number of worker threads, each with its own event loop (default: one per CPU)."},
    [SET_BACKEND_URL] = {"S3SEAL_BACKEND_URL", "backend", "url", NULL,
                         "Required. Base URL of the S3 backend, for example http://127.0.0.1:9000 or "
                         "https://s3.example.com. An https:// URL uses TLS 1.2 or newer and verifies the "
                         "backend's certificate and host name."},
    [SET_BACKEND_CA_FILE] = {"S3SEAL_BACKEND_CA_FILE", "backend", "ca_file", NULL,
                             "PEM file of the CA certificates that an https:// backend's certificate must chain "
                             "to (default: the system CA store)."},
    [SET_BACKEND_TLS_INSECURE] = {"S3SEAL_BACKEND_TLS_INSECURE", "backend", "tls_insecure", "false",
                                  "true turns off the certificate and host name checks of an https:// "
                                  "backend. UNSAFE: anyone on the network path can then pose as the backend and "
                                  "read and change its traffic. For tests only."},
    [SET_BACKEND_REGION] = {"S3SEAL_BACKEND_REGION", "backend", "region", "us-east-1",
                            "Region that requests to the backend are signed for."},
    [SET_BACKEND_ACCESS_KEY_ID] = {"S3SEAL_BACKEND_ACCESS_KEY_ID", "backend", "access_key_id", NULL,
                                   "Required. Access key id s3seal signs backend requests with."},
    [SET_BACKEND_SECRET_ACCESS_KEY] = {"S3SEAL_BACKEND_SECRET_ACCESS_KEY", "backend", "secret_access_key", NULL,
                                       "Required. Secret access key for the backend access key id."},
    [SET_REGION] = {"S3SEAL_REGION", "clients", "region", NULL,
                    "Region clients must sign for (default: the backend region)."},
    [SET_UNENCRYPTED_READS] = {"S3SEAL_UNENCRYPTED_READS", "policy", "unencrypted_reads", "allow",
                                "allow: objects without an s3seal envelope (written before s3seal, or under "
                                "S3SEAL_PLAINTEXT_PREFIXES) are returned as stored. reject: outside "
                                "S3SEAL_PLAINTEXT_PREFIXES they get 500 InternalError, so a backend that strips "
                                "an envelope cannot serve bytes of its own."},
    [SET_PLAINTEXT_PREFIXES] = {"S3SEAL_PLAINTEXT_PREFIXES", "policy", "plaintext_prefixes", NULL,
                                 "Comma-separated BUCKET/PREFIX entries whose new objects are stored WITHOUT "
                                 "encryption (BUCKET/ alone covers the whole bucket). Default: none, every "
                                 "write is encrypted."},
    [SET_BASE_DOMAINS] = {"S3SEAL_BASE_DOMAINS", "clients", "base_domains", NULL,
                           "Comma-separated domains for virtual-hosted-style requests: a Host of "
                           "BUCKET.DOMAIN names the bucket. Path-style requests always work."},
    [SET_ACCESS_KEY_ID] = {"S3SEAL_ACCESS_KEY_ID", "clients", "access_key_id", NULL,
                           "Access key id that clients sign with. This or a credentials file is required."},
    [SET_SECRET_ACCESS_KEY] = {"S3SEAL_SECRET_ACCESS_KEY", "clients", "secret_access_key", NULL,
                               "Secret access key for S3SEAL_ACCESS_KEY_ID."},
    [SET_CREDENTIALS_FILE] = {"S3SEAL_CREDENTIALS_FILE", "clients", "credentials_file", NULL,
                              "File with one client per line: '<access key id> <secret access key>'; "
                              "must not be readable by group or others."},
    [SET_KEY_FILE] = {"S3SEAL_KEY_FILE", "kms", "key_file", NULL,
                      "Master key file made by 's3seal keygen'; must have mode 0600 or stricter. Required "
                      "when S3SEAL_KMS_PROVIDER is file. With pkcs11, vault, awskms or kmip it is optional and only "
                      "unwraps the data keys of objects written before the move to that provider."},
    [SET_KMS_PROVIDER] = {"S3SEAL_KMS_PROVIDER", "kms", "provider", "file",
                          "Key provider that wraps the data keys of new objects: file (S3SEAL_KEY_FILE), "
                          "pkcs11 (a key on a PKCS#11 token, set with the S3SEAL_PKCS11_* settings), vault "
                          "(a HashiCorp Vault or OpenBao transit key, set with the S3SEAL_VAULT_* settings), "
                          "awskms (a key in AWS KMS, set with the S3SEAL_AWSKMS_* settings) or kmip (a key on a "
                          "KMIP 1.4 server, set with the S3SEAL_KMIP_* settings)."},
    [SET_PKCS11_MODULE] = {"S3SEAL_PKCS11_MODULE", "kms", "pkcs11_module", NULL,
                           "Path of the PKCS#11 module to load, such as /usr/lib/softhsm/libsofthsm2.so."},
    [SET_PKCS11_TOKEN_LABEL] = {"S3SEAL_PKCS11_TOKEN_LABEL", "kms", "pkcs11_token_label", NULL,
                                "Label of the PKCS#11 token that holds the master key."},
    [SET_PKCS11_PIN_FILE] = {"S3SEAL_PKCS11_PIN_FILE", "kms", "pkcs11_pin_file", NULL,
                             "File holding the token's user PIN; must have mode 0600 or stricter. Set this or "
                             "S3SEAL_PKCS11_PIN."},
    [SET_PKCS11_PIN] = {"S3SEAL_PKCS11_PIN", "kms", "pkcs11_pin", NULL,
                        "The token's user PIN, when no PIN file is used."},
    [SET_PKCS11_KEY_LABEL] = {"S3SEAL_PKCS11_KEY_LABEL", "kms", "pkcs11_key_label", NULL,
                              "CKA_LABEL of the AES-256 key on the token; it must be sensitive and not "
                              "extractable. New objects get s3seal-kms p11:<label>."},
    [SET_PKCS11_MECHANISM] = {"S3SEAL_PKCS11_MECHANISM", "kms", "pkcs11_mechanism", "aes-gcm",
                              "Mechanism that wraps data keys on the token: aes-gcm (CKM_AES_GCM, the key must "
                              "encrypt and decrypt) or aes-key-wrap-pad (CKM_AES_KEY_WRAP_PAD, RFC 5649, the key "
                              "must wrap and unwrap). Objects wrapped under either stay readable."},
    [SET_KEY_POLICY] = {"S3SEAL_KEY_POLICY", "kms", "key_policy", NULL,
                        "Comma-separated BUCKET/PREFIX=PROVIDER:KEY entries that choose the master key for new "
                        "objects, such as logs/=file:k2,finance/2026/=p11:kek-finance (BUCKET/ alone covers the "
                        "whole bucket; the longest matching entry wins). Other objects use the active "
                        "provider's key. Reads always use the key the object's envelope names."},
    [SET_KMS_THREADS] = {"S3SEAL_KMS_THREADS", "kms", "threads", "4",
                         "Threads that make KMS calls, so that no event loop waits on a KMS (1 to 256)."},
    [SET_KMS_QUEUE_MAX] = {"S3SEAL_KMS_QUEUE_MAX", "kms", "queue_max", "1024",
                           "KMS calls that may wait for a KMS thread; beyond that requests get 503 "
                           "ServiceUnavailable."},
    [SET_KMS_RETRIES] = {"S3SEAL_KMS_RETRIES", "kms", "retries", "2",
                         "Retries of an unwrap that found the KMS unavailable, 50 ms and then four times longer "
                         "apart (0 to 5). Wraps are not retried: the client retries the upload."},
    [SET_KEY_CACHE_SIZE] = {"S3SEAL_KEY_CACHE_SIZE", "kms", "key_cache_size", "4096",
                            "Unwrapped data keys kept in memory, so repeated reads of an object need no KMS "
                            "call; 0 turns the cache off. Entries are wiped when evicted."},
    [SET_KMS_CONTEXT] = {"S3SEAL_KMS_CONTEXT", "kms", "context", "plain",
                         "plain: the KMS receives the wrap context (bucket and key names) as associated data "
                         "or encryption context. sha256: it receives a SHA-256 digest of it, for KMSs that "
                         "log contexts in clear; objects record which form they use, so both stay readable."},
    [SET_KEY_CACHE_TTL] = {"S3SEAL_KEY_CACHE_TTL", "kms", "key_cache_ttl", "300",
                           "Seconds a cached data key stays usable; 0 turns the cache off. A key revoked in "
                           "the KMS keeps opening its objects for at most this long."},
    [SET_VAULT_ADDR] = {"S3SEAL_VAULT_ADDR", "kms", "vault_addr", NULL,
                        "Required with the vault provider. URL of the Vault or OpenBao server, such as "
                        "https://vault.example:8200; http:// only to a loopback address."},
    [SET_VAULT_MOUNT] = {"S3SEAL_VAULT_MOUNT", "kms", "vault_mount", "transit",
                         "Path where the transit secrets engine is mounted."},
    [SET_VAULT_KEY_NAME] = {"S3SEAL_VAULT_KEY_NAME", "kms", "vault_key_name", NULL,
                            "Required with the vault provider. Transit key (type aes256-gcm96, not derived) that "
                            "wraps new data keys. New objects get s3seal-kms vault:<name>."},
    [SET_VAULT_TOKEN] = {"S3SEAL_VAULT_TOKEN", "kms", "vault_token", NULL,
                         "Vault token sent as X-Vault-Token. Set this, S3SEAL_VAULT_TOKEN_FILE or the AppRole "
                         "settings."},
    [SET_VAULT_TOKEN_FILE] = {"S3SEAL_VAULT_TOKEN_FILE", "kms", "vault_token_file", NULL,
                              "File holding the Vault token; it must not be readable by others."},
    [SET_VAULT_ROLE_ID] = {"S3SEAL_VAULT_ROLE_ID", "kms", "vault_role_id", NULL,
                           "AppRole role ID; s3seal logs in at auth/approle/login and again when the token's "
                           "lease runs low or a call gets 403."},
    [SET_VAULT_SECRET_ID] = {"S3SEAL_VAULT_SECRET_ID", "kms", "vault_secret_id", NULL,
                             "AppRole secret ID, when no secret ID file is used."},
    [SET_VAULT_SECRET_ID_FILE] = {"S3SEAL_VAULT_SECRET_ID_FILE", "kms", "vault_secret_id_file", NULL,
                                  "File holding the AppRole secret ID; it must not be readable by others."},
    [SET_VAULT_NAMESPACE] = {"S3SEAL_VAULT_NAMESPACE", "kms", "vault_namespace", NULL,
                             "Namespace sent as X-Vault-Namespace (Vault Enterprise, OpenBao namespaces)."},
    [SET_VAULT_CA_FILE] = {"S3SEAL_VAULT_CA_FILE", "kms", "vault_ca_file", NULL,
                           "PEM file of CA certificates to verify the server with, in place of the system "
                           "store. Verification is always on."},
    [SET_VAULT_TIMEOUT_MS] = {"S3SEAL_VAULT_TIMEOUT_MS", "kms", "vault_timeout_ms", "5000",
                              "Milliseconds one wrap or unwrap may take, AppRole login and its retry included; "
                              "past it the request gets 503."},
    [SET_AWSKMS_ENDPOINT] = {"S3SEAL_AWSKMS_ENDPOINT", "kms", "awskms_endpoint", NULL,
                             "Required for awskms. Base URL of AWS KMS, such as https://kms.eu-west-1.amazonaws.com; "
                             "there is no default."},
    [SET_AWSKMS_REGION] = {"S3SEAL_AWSKMS_REGION", "kms", "awskms_region", NULL,
                           "Required for awskms. Region that KMS requests are signed for, such as eu-west-1."},
    [SET_AWSKMS_KEY_ID] = {"S3SEAL_AWSKMS_KEY_ID", "kms", "awskms_key_id", NULL,
                           "Required for awskms. Key id, key ARN, alias name (alias/NAME) or alias ARN of the "
                           "symmetric KMS key that wraps new data keys. Objects get s3seal-kms awskms:<key ARN>."},
    [SET_AWSKMS_ACCESS_KEY_ID] = {"S3SEAL_AWSKMS_ACCESS_KEY_ID", "kms", "awskms_access_key_id", NULL,
                                  "Required for awskms. AWS access key id that KMS requests are signed with."},
    [SET_AWSKMS_SECRET_ACCESS_KEY] = {"S3SEAL_AWSKMS_SECRET_ACCESS_KEY", "kms", "awskms_secret_access_key", NULL,
                                      "Required for awskms. Secret access key of S3SEAL_AWSKMS_ACCESS_KEY_ID; never "
                                      "logged."},
    [SET_AWSKMS_SESSION_TOKEN] = {"S3SEAL_AWSKMS_SESSION_TOKEN", "kms", "awskms_session_token", NULL,
                                  "Session token of temporary credentials, sent as X-Amz-Security-Token; never "
                                  "logged."},
    [SET_AWSKMS_CA_FILE] = {"S3SEAL_AWSKMS_CA_FILE", "kms", "awskms_ca_file", NULL,
                            "PEM CA bundle that verifies an https KMS endpoint (default: the system store)."},
    [SET_AWSKMS_TIMEOUT_MS] = {"S3SEAL_AWSKMS_TIMEOUT_MS", "kms", "awskms_timeout_ms", "5000",
                               "Milliseconds one KMS request may take, connecting included; a request that "
                               "takes longer fails with 503 ServiceUnavailable."},
    [SET_KMIP_HOST] = {"S3SEAL_KMIP_HOST", "kms", "kmip_host", NULL,
                       "Required for kmip. KMIP server name or address; its TLS certificate must name it (an IP "
                       "address needs an IP subject alternative name)."},
    [SET_KMIP_PORT] = {"S3SEAL_KMIP_PORT", "kms", "kmip_port", "5696", "TCP port of the KMIP server."},
    [SET_KMIP_CA_FILE] = {"S3SEAL_KMIP_CA_FILE", "kms", "kmip_ca_file", NULL,
                          "Required for kmip. PEM file of the CA certificates that sign the KMIP server's "
                          "certificate."},
    [SET_KMIP_CERT_FILE] = {"S3SEAL_KMIP_CERT_FILE", "kms", "kmip_cert_file", NULL,
                            "Required for kmip. PEM client certificate that s3seal presents to the KMIP server; it "
                            "needs the clientAuth extended key usage."},
    [SET_KMIP_KEY_FILE] = {"S3SEAL_KMIP_KEY_FILE", "kms", "kmip_key_file", NULL,
                           "Required for kmip. Unencrypted PEM private key of S3SEAL_KMIP_CERT_FILE; must have "
                           "mode 0600 or stricter."},
    [SET_KMIP_KEY_ID] = {"S3SEAL_KMIP_KEY_ID", "kms", "kmip_key_id", NULL,
                         "Required for kmip. Unique Identifier of the Active AES-256 key on the KMIP server that "
                         "wraps data keys. New objects get s3seal-kms kmip:<identifier>."},
    [SET_KMIP_TIMEOUT_MS] = {"S3SEAL_KMIP_TIMEOUT_MS", "kms", "kmip_timeout_ms", "5000",
                             "Milliseconds one KMIP call may take in all: connect, TLS handshake, request and "
                             "response. A call that takes longer fails with 503 ServiceUnavailable."},
    [SET_TLS_CERT_FILE] = {"S3SEAL_TLS_CERT_FILE", "server", "tls_cert_file", NULL,
                           "PEM certificate chain for the listener; with S3SEAL_TLS_KEY_FILE, clients must use "
                           "HTTPS (TLS 1.2 or 1.3)."},
    [SET_TLS_KEY_FILE] = {"S3SEAL_TLS_KEY_FILE", "server", "tls_key_file", NULL,
                          "PEM private key of the listener certificate."},
    [SET_TLS_CLIENT_CA_FILE] = {"S3SEAL_TLS_CLIENT_CA_FILE", "server", "tls_client_ca_file", NULL,
                                "PEM CA certificates; when set, every HTTPS client must present a certificate "
                                "they issued, or the handshake fails. The client still signs its requests."},
    [SET_LOG_LEVEL] = {"S3SEAL_LOG_LEVEL", "server", "log_level", "notice",
                       "One of error, warn, notice, info, debug."},
    [SET_CLIENT_TIMEOUT] = {"S3SEAL_CLIENT_TIMEOUT", "server", "client_timeout", "60",
                            "Seconds a client may stall while it receives a response; also the default of "
                            "S3SEAL_BODY_TIMEOUT and S3SEAL_KEEPALIVE_TIMEOUT."},
    [SET_BACKEND_TIMEOUT] = {"S3SEAL_BACKEND_TIMEOUT", "backend", "timeout", "60",
                             "Seconds to wait for the backend to accept data or answer (see "
                             "S3SEAL_BACKEND_CONNECT_TIMEOUT for the connection)."},
    [SET_BACKEND_CONNECT_TIMEOUT] = {"S3SEAL_BACKEND_CONNECT_TIMEOUT", "backend", "connect_timeout", "10",
                                     "Seconds a new backend connection may take to open; past it the request "
                                     "gets 503 ServiceUnavailable."},
    [SET_HEADER_TIMEOUT] = {"S3SEAL_HEADER_TIMEOUT", "server", "header_timeout", "20",
                            "Seconds from the first byte of a request to the end of its headers; a slower "
                            "client gets 400 RequestTimeout and the connection is closed."},
    [SET_BODY_TIMEOUT] = {"S3SEAL_BODY_TIMEOUT", "server", "body_timeout", NULL,
                          "Seconds a request body may stall between two reads; then the client gets 400 "
                          "RequestTimeout and the connection is closed (default: S3SEAL_CLIENT_TIMEOUT)."},
    [SET_KEEPALIVE_TIMEOUT] = {"S3SEAL_KEEPALIVE_TIMEOUT", "server", "keepalive_timeout", NULL,
                               "Seconds an idle keep-alive connection stays open before s3seal closes it "
                               "without a response (default: S3SEAL_CLIENT_TIMEOUT)."},
    [SET_DRAIN_TIMEOUT] = {"S3SEAL_DRAIN_TIMEOUT", "server", "drain_timeout", "30",
                           "Seconds that requests in flight at SIGTERM or SIGINT may take to finish; requests "
                           "still running then are cut and logged."},
    [SET_MAX_HEADER_SIZE] = {"S3SEAL_MAX_HEADER_SIZE", "server", "max_header_size", "16384",
                             "Bytes of a request line and headers together (1024 to 65536); a larger request "
                             "gets 400 RequestHeaderSectionTooLarge."},
    [SET_MAX_HEADER_COUNT] = {"S3SEAL_MAX_HEADER_COUNT", "server", "max_header_count", "100",
                              "Header fields in one request (1 to 128); more get 400 "
                              "RequestHeaderSectionTooLarge."},
    [SET_MAX_URL_LENGTH] = {"S3SEAL_MAX_URL_LENGTH", "server", "max_url_length", "8192",
                            "Bytes of the request target, path and query together (256 to 65536); a longer "
                            "one gets 400 RequestHeaderSectionTooLarge."},
    [SET_MAX_CONNECTIONS] = {"S3SEAL_MAX_CONNECTIONS", "server", "max_connections", "1024",
                             "Client connections one worker serves at once (1 to 1000000); a request on a "
                             "connection beyond it gets 503 SlowDown and the connection is closed."},
    [SET_ADMIN_LISTEN] = {"S3SEAL_ADMIN_LISTEN", "server", "admin_listen", NULL,
                          "Address and port of the admin listener that serves GET /metrics (Prometheus), "
                          "/healthz and /readyz over plain HTTP, such as 127.0.0.1:9090. Default: off. Keep it "
                          "on a loopback or private address: it has no authentication."},
    [SET_ACCESS_LOG] = {"S3SEAL_ACCESS_LOG", "server", "access_log", "on",
                        "on: one key=value line per request at level notice, module access. off: none."},
};

struct raw_config {
    char *values[SET_COUNT]; /* owned; NULL when unset */
    char *origin[SET_COUNT]; /* owned; where the value came from, for messages */
    const char *path;
    int parse_error;
    bool file_has_secret; /* the INI file sets a secret access key or the PKCS#11 PIN */
};

static void raw_set(struct raw_config *raw, enum setting_id id, const char *value, const char *origin)
{
    if (raw->values[id] != NULL) {
        OPENSSL_clear_free(raw->values[id], strlen(raw->values[id]));
    }
    free(raw->origin[id]);
    raw->values[id] = strdup(value);
    raw->origin[id] = strdup(origin);
}

static void raw_cleanup(struct raw_config *raw)
{
    for (int i = 0; i < SET_COUNT; i++) {
        if (raw->values[i] != NULL) {
            OPENSSL_clear_free(raw->values[i], strlen(raw->values[i]));
        }
        free(raw->origin[i]);
    }
}

static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
    struct raw_config *raw = user;

    for (int i = 0; i < SET_COUNT; i++) {
        if (strcmp(settings[i].section, section) == 0 && strcmp(settings[i].key, name) == 0) {
            char origin[512];

            snprintf(origin, sizeof(origin), "[%s] %s in %s", section, name, raw->path);
            raw_set(raw, (enum setting_id)i, value, origin);
            if (i == SET_BACKEND_SECRET_ACCESS_KEY || i == SET_SECRET_ACCESS_KEY || i == SET_PKCS11_PIN ||
                i == SET_VAULT_TOKEN || i == SET_VAULT_SECRET_ID || i == SET_AWSKMS_SECRET_ACCESS_KEY ||
                i == SET_AWSKMS_SESSION_TOKEN) {
                raw->file_has_secret = true;
            }
            return 1;
        }
    }
    core_log(CORE_LOG_ERROR, "config", "unknown setting [%s] %s in %s", section, name, raw->path);
    raw->parse_error = 1;
    return 0;
}

/* A configuration file that contains secrets must be as private as the key file. */
static enum core_err check_secret_file_mode(const struct raw_config *raw, const char *path, char *err,
                                            size_t err_cap)
{
    struct stat st;

    if (!raw->file_has_secret || stat(path, &st) != 0 || (st.st_mode & 077) == 0) {
        return CORE_OK;
    }
    snprintf(err, err_cap,
             "configuration file %s holds secrets but is readable by group or others (mode %04o); "
             "run chmod 600 %s",
             path, (unsigned)(st.st_mode & 07777), path);
    return CORE_CONFIG;
}

static enum core_err read_sources(const char *config_path, struct raw_config *raw, char *err, size_t err_cap)
{
    for (int i = 0; i < SET_COUNT; i++) {
        if (settings[i].default_value != NULL) {
            raw_set(raw, (enum setting_id)i, settings[i].default_value, "the default");
        }
    }

    if (config_path != NULL) {
        int line;

        raw->path = config_path;
        line = ini_parse(config_path, on_ini_entry, raw);
        if (line < 0) {
            snprintf(err, err_cap, "cannot open configuration file %s; check the path given to --config",
                     config_path);
            return CORE_CONFIG;
        }
        if (line > 0) {
            snprintf(err, err_cap, "configuration file %s line %d: invalid or unknown setting", config_path,
                     line);
            return CORE_CONFIG;
        }
        CORE_TRY(check_secret_file_mode(raw, config_path, err, err_cap));
    }

    for (int i = 0; i < SET_COUNT; i++) {
        const char *value = getenv(settings[i].env);

        if (value != NULL && value[0] != '\0') {
            raw_set(raw, (enum setting_id)i, value, settings[i].env);
        }
    }
    return CORE_OK;
}

static enum core_err parse_host_port(const char *value, char **host, char **port)
{
    const char *colon;
    const char *host_start = value;
    size_t host_len;

    if (value[0] == '[') {
        const char *close = strchr(value, ']');

        if (close == NULL || close[1] != ':') {
            return CORE_CONFIG;
        }
        host_start = value + 1;
        host_len = (size_t)(close - host_start);
        colon = close + 1;
    } else {
        colon = strrchr(value, ':');
        if (colon == NULL) {
            return CORE_CONFIG;
        }
        host_len = (size_t)(colon - value);
    }
    if (host_len == 0 || colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
        atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535) {
        return CORE_CONFIG;
    }
    *host = strndup(host_start, host_len);
    *port = strdup(colon + 1);
    return CORE_OK;
}

static enum core_err parse_backend_url(struct proxy_config *cfg, const char *url, char *err, size_t err_cap,
                                       const char *origin)
{
    const char *authority;
    const char *default_port;
    size_t authority_len;
    char *hostport;
    enum core_err rc;

    if (strncasecmp(url, "https://", 8) == 0) {
        cfg->backend_tls = true;
        authority = url + 8;
        default_port = "443";
    } else if (strncasecmp(url, "http://", 7) == 0) {
        authority = url + 7;
        default_port = "80";
    } else {
        snprintf(err, err_cap, "%s: invalid backend URL '%s'; expected http://HOST[:PORT] or https://HOST[:PORT]",
                 origin, url);
        return CORE_CONFIG;
    }
    authority_len = strcspn(authority, "/");
    if (authority[authority_len] == '/' && authority[authority_len + 1] != '\0') {
        snprintf(err, err_cap, "%s: backend URL '%s' has a path; give only the scheme, HOST and PORT", origin, url);
        return CORE_CONFIG;
    }
    cfg->backend_host_header = strndup(authority, authority_len);
    if (cfg->backend_host_header == NULL) {
        return CORE_NOMEM;
    }

    /* without a port the URL means the scheme's port, which is also what the Host header then omits */
    if (strchr(cfg->backend_host_header, ':') == NULL || cfg->backend_host_header[authority_len - 1] == ']') {
        if (asprintf(&hostport, "%s:%s", cfg->backend_host_header, default_port) < 0) {
            return CORE_NOMEM;
        }
    } else {
        hostport = strdup(cfg->backend_host_header);
    }
    rc = hostport != NULL ? parse_host_port(hostport, &cfg->backend_host, &cfg->backend_port) : CORE_NOMEM;
    free(hostport);
    if (rc == CORE_CONFIG) {
        snprintf(err, err_cap, "%s: invalid backend URL '%s'; expected http://HOST[:PORT] or https://HOST[:PORT]",
                 origin, url);
    }
    return rc;
}

/* Parses the TLS settings of an https:// backend. An http:// backend rejects them, because they would do nothing. */
static enum core_err apply_backend_tls(struct proxy_config *cfg, const struct raw_config *raw, char *err,
                                       size_t err_cap)
{
    const char *insecure = raw->values[SET_BACKEND_TLS_INSECURE];

    if (strcmp(insecure, "true") == 0) {
        cfg->backend_tls_insecure = true;
    } else if (strcmp(insecure, "false") != 0) {
        snprintf(err, err_cap, "%s: invalid value '%s'; expected true or false", raw->origin[SET_BACKEND_TLS_INSECURE],
                 insecure);
        return CORE_CONFIG;
    }
    if (!cfg->backend_tls && (cfg->backend_tls_insecure || raw->values[SET_BACKEND_CA_FILE] != NULL)) {
        snprintf(err, err_cap, "S3SEAL_BACKEND_CA_FILE and S3SEAL_BACKEND_TLS_INSECURE apply only to an https:// "
                 "S3SEAL_BACKEND_URL; remove them or use https://");
        return CORE_CONFIG;
    }
    if (raw->values[SET_BACKEND_CA_FILE] != NULL) {
        cfg->backend_ca_file = strdup(raw->values[SET_BACKEND_CA_FILE]);
        if (cfg->backend_ca_file == NULL) {
            return CORE_NOMEM;
        }
    }
    return CORE_OK;
}

static enum core_err parse_positive(const char *value, int max, int *out)
{
    char *end;
    long v = strtol(value, &end, 10);

    if (*value == '\0' || *end != '\0' || v <= 0 || v > max) {
        return CORE_CONFIG;
    }
    *out = (int)v;
    return CORE_OK;
}

/* Like parse_positive, but 0 is allowed too. */
static enum core_err parse_count(const char *value, int max, int *out)
{
    if (strcmp(value, "0") == 0) {
        *out = 0;
        return CORE_OK;
    }
    return parse_positive(value, max, out);
}

static enum core_err add_client(struct proxy_config *cfg, const char *id, const char *secret)
{
    struct proxy_client_credential *grown;

    grown = realloc(cfg->clients, (cfg->client_count + 1) * sizeof(*grown));
    if (grown == NULL) {
        return CORE_NOMEM;
    }
    cfg->clients = grown;
    grown[cfg->client_count].access_key_id = strdup(id);
    grown[cfg->client_count].secret_access_key = strdup(secret);
    cfg->client_count++;
    return CORE_OK;
}

static enum core_err load_credentials_file(struct proxy_config *cfg, const char *path, char *err, size_t err_cap)
{
    char line[1024];
    int lineno = 0;
    struct stat st;
    FILE *f = fopen(path, "r");
    enum core_err rc = CORE_OK;

    if (f == NULL) {
        snprintf(err, err_cap, "cannot open credentials file %s; check S3SEAL_CREDENTIALS_FILE", path);
        return CORE_CONFIG;
    }
    if (fstat(fileno(f), &st) != 0 || (st.st_mode & 077) != 0) {
        snprintf(err, err_cap, "credentials file %s is readable by group or others (mode %04o); run chmod 600 %s",
                 path, (unsigned)(st.st_mode & 07777), path);
        fclose(f);
        return CORE_CONFIG;
    }
    while (rc == CORE_OK && fgets(line, sizeof(line), f) != NULL) {
        char id[256];
        char secret[256];
        char extra[2];

        lineno++;
        if (line[strspn(line, " \t\r\n")] == '\0' || line[strspn(line, " \t")] == '#') {
            continue;
        }
        if (sscanf(line, "%255s %255s %1s", id, secret, extra) != 2) {
            snprintf(err, err_cap, "credentials file %s line %d: expected '<access key id> <secret access key>'",
                     path, lineno);
            rc = CORE_CONFIG;
        } else {
            rc = add_client(cfg, id, secret);
        }
        OPENSSL_cleanse(secret, sizeof(secret));
    }
    OPENSSL_cleanse(line, sizeof(line));
    fclose(f);
    return rc;
}

static enum core_err require(const struct raw_config *raw, enum setting_id id, char *err, size_t err_cap)
{
    if (raw->values[id] == NULL) {
        snprintf(err, err_cap, "missing setting %s (or [%s] %s in the configuration file): %s", settings[id].env,
                 settings[id].section, settings[id].key, settings[id].help);
        return CORE_CONFIG;
    }
    return CORE_OK;
}

/* Reads the admin listener address and the access log switch. */
static enum core_err apply_observability(struct proxy_config *cfg, const struct raw_config *raw, char *err,
                                         size_t err_cap)
{
    const char *access_log = raw->values[SET_ACCESS_LOG];

    if (raw->values[SET_ADMIN_LISTEN] != NULL &&
        parse_host_port(raw->values[SET_ADMIN_LISTEN], &cfg->admin_host, &cfg->admin_port) != CORE_OK) {
        snprintf(err, err_cap, "%s: invalid admin listen address '%s'; expected HOST:PORT such as 127.0.0.1:9090",
                 raw->origin[SET_ADMIN_LISTEN], raw->values[SET_ADMIN_LISTEN]);
        return CORE_CONFIG;
    }
    if (strcmp(access_log, "on") != 0 && strcmp(access_log, "off") != 0) {
        snprintf(err, err_cap, "%s: invalid access log switch '%s'; expected on or off", raw->origin[SET_ACCESS_LOG],
                 access_log);
        return CORE_CONFIG;
    }
    cfg->access_log = strcmp(access_log, "on") == 0;
    return CORE_OK;
}

static enum core_err apply_server(struct proxy_config *cfg, const struct raw_config *raw, char *err, size_t err_cap)
{
    int level;

    if (parse_host_port(raw->values[SET_LISTEN], &cfg->listen_host, &cfg->listen_port) != CORE_OK) {
        snprintf(err, err_cap, "%s: invalid listen address '%s'; expected HOST:PORT such as 127.0.0.1:8080",
                 raw->origin[SET_LISTEN], raw->values[SET_LISTEN]);
        return CORE_CONFIG;
    }

    cfg->workers = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (cfg->workers < 1) {
        cfg->workers = 1;
    }
    if (raw->values[SET_WORKERS] != NULL && parse_positive(raw->values[SET_WORKERS], 256, &cfg->workers) != CORE_OK) {
        snprintf(err, err_cap, "%s: invalid worker count '%s'; expected 1 to 256", raw->origin[SET_WORKERS],
                 raw->values[SET_WORKERS]);
        return CORE_CONFIG;
    }

    if ((raw->values[SET_TLS_CERT_FILE] == NULL) != (raw->values[SET_TLS_KEY_FILE] == NULL)) {
        snprintf(err, err_cap, "S3SEAL_TLS_CERT_FILE and S3SEAL_TLS_KEY_FILE must be set together");
        return CORE_CONFIG;
    }
    if (raw->values[SET_TLS_CERT_FILE] != NULL) {
        cfg->tls_cert_file = strdup(raw->values[SET_TLS_CERT_FILE]);
        cfg->tls_key_file = strdup(raw->values[SET_TLS_KEY_FILE]);
    }
    if (raw->values[SET_TLS_CLIENT_CA_FILE] != NULL && raw->values[SET_TLS_CERT_FILE] == NULL) {
        snprintf(err, err_cap, "S3SEAL_TLS_CLIENT_CA_FILE needs S3SEAL_TLS_CERT_FILE and S3SEAL_TLS_KEY_FILE: client "
                 "certificates are checked on an HTTPS listener only");
        return CORE_CONFIG;
    }
    if (raw->values[SET_TLS_CLIENT_CA_FILE] != NULL) {
        cfg->tls_client_ca_file = strdup(raw->values[SET_TLS_CLIENT_CA_FILE]);
    }

    level = core_log_level_parse(raw->values[SET_LOG_LEVEL]);
    if (level < 0) {
        snprintf(err, err_cap, "%s: invalid log level '%s'; expected error, warn, notice, info or debug",
                 raw->origin[SET_LOG_LEVEL], raw->values[SET_LOG_LEVEL]);
        return CORE_CONFIG;
    }
    cfg->log_level = level;
    CORE_TRY(apply_observability(cfg, raw, err, err_cap));

    if (parse_positive(raw->values[SET_CLIENT_TIMEOUT], 86400, &cfg->client_timeout_s) != CORE_OK) {
        snprintf(err, err_cap, "%s: invalid timeout '%s'; expected whole seconds from 1 to 86400",
                 raw->origin[SET_CLIENT_TIMEOUT], raw->values[SET_CLIENT_TIMEOUT]);
        return CORE_CONFIG;
    }
    if (parse_positive(raw->values[SET_BACKEND_TIMEOUT], 86400, &cfg->backend_timeout_s) != CORE_OK) {
        snprintf(err, err_cap, "%s: invalid timeout '%s'; expected whole seconds from 1 to 86400",
                 raw->origin[SET_BACKEND_TIMEOUT], raw->values[SET_BACKEND_TIMEOUT]);
        return CORE_CONFIG;
    }
    return CORE_OK;
}

/* Parses the limits and the timeouts of client connections; unset timeouts take S3SEAL_CLIENT_TIMEOUT. */
static enum core_err apply_limits(struct proxy_config *cfg, const struct raw_config *raw, char *err, size_t err_cap)
{
    static const struct {
        enum setting_id id;
        int min;
        int max;
    } limits[] = {
        {SET_BACKEND_CONNECT_TIMEOUT, 1, 86400}, {SET_HEADER_TIMEOUT, 1, 86400}, {SET_BODY_TIMEOUT, 1, 86400},
        {SET_KEEPALIVE_TIMEOUT, 1, 86400},       {SET_DRAIN_TIMEOUT, 0, 86400},  {SET_MAX_HEADER_SIZE, 1024, 65536},
        {SET_MAX_HEADER_COUNT, 1, 128},          {SET_MAX_URL_LENGTH, 256, 65536}, {SET_MAX_CONNECTIONS, 1, 1000000},
    };
    int *targets[] = {&cfg->backend_connect_timeout_s, &cfg->header_timeout_s, &cfg->body_timeout_s,
                      &cfg->keepalive_timeout_s,       &cfg->drain_timeout_s,  &cfg->max_header_size,
                      &cfg->max_header_count,          &cfg->max_url_length,   &cfg->max_connections};

    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        const char *value = raw->values[limits[i].id];

        if (value == NULL) {
            *targets[i] = cfg->client_timeout_s;
            continue;
        }
        if (parse_count(value, limits[i].max, targets[i]) != CORE_OK || *targets[i] < limits[i].min) {
            snprintf(err, err_cap, "%s: invalid value '%s'; expected a whole number from %d to %d",
                     raw->origin[limits[i].id], value, limits[i].min, limits[i].max);
            return CORE_CONFIG;
        }
    }
    return CORE_OK;
}

static enum core_err apply_backend(struct proxy_config *cfg, const struct raw_config *raw, char *err,
                                   size_t err_cap)
{
    CORE_TRY(require(raw, SET_BACKEND_URL, err, err_cap));
    CORE_TRY(require(raw, SET_BACKEND_ACCESS_KEY_ID, err, err_cap));
    CORE_TRY(require(raw, SET_BACKEND_SECRET_ACCESS_KEY, err, err_cap));
    CORE_TRY(parse_backend_url(cfg, raw->values[SET_BACKEND_URL], err, err_cap, raw->origin[SET_BACKEND_URL]));
    CORE_TRY(apply_backend_tls(cfg, raw, err, err_cap));

    cfg->backend_region = strdup(raw->values[SET_BACKEND_REGION]);
    cfg->backend_access_key_id = strdup(raw->values[SET_BACKEND_ACCESS_KEY_ID]);
    cfg->backend_secret_access_key = strdup(raw->values[SET_BACKEND_SECRET_ACCESS_KEY]);
    return CORE_OK;
}

static enum core_err parse_base_domains(struct proxy_config *cfg, const char *value, char *err, size_t err_cap)
{
    const char *p = value;

    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        size_t start = 0;
        char **grown;

        while (start < len && p[start] == ' ') {
            start++;
        }
        while (len > start && p[len - 1] == ' ') {
            len--;
        }
        if (len == start || memchr(p + start, '/', len - start) != NULL || memchr(p + start, ':', len - start) != NULL) {
            snprintf(err, err_cap, "S3SEAL_BASE_DOMAINS: invalid domain in '%s'; expected names like s3.example.com",
                     value);
            return CORE_CONFIG;
        }
        grown = realloc(cfg->base_domains, (cfg->base_domain_count + 1) * sizeof(*grown));
        if (grown == NULL) {
            return CORE_NOMEM;
        }
        cfg->base_domains = grown;
        cfg->base_domains[cfg->base_domain_count++] = strndup(p + start, len - start);
        p += strcspn(p, ",");
        if (*p == ',') {
            p++;
        }
    }
    return CORE_OK;
}

/* Parses "bucket/prefix" entries; a bucket is required, the prefix may be empty. */
static enum core_err parse_plaintext_prefixes(struct proxy_config *cfg, const char *value, char *err,
                                              size_t err_cap)
{
    const char *p = value;

    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        const char *slash = memchr(p, '/', len);
        char **grown;

        if (slash == NULL || slash == p) {
            snprintf(err, err_cap,
                     "S3SEAL_PLAINTEXT_PREFIXES: invalid entry in '%s'; expected BUCKET/PREFIX, or BUCKET/ for a "
                     "whole bucket",
                     value);
            return CORE_CONFIG;
        }
        grown = realloc(cfg->plaintext_prefixes, (cfg->plaintext_prefix_count + 1) * sizeof(*grown));
        if (grown == NULL) {
            return CORE_NOMEM;
        }
        cfg->plaintext_prefixes = grown;
        cfg->plaintext_prefixes[cfg->plaintext_prefix_count++] = strndup(p, len);
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    return CORE_OK;
}

/* Parses "bucket/prefix=provider:key" entries of the key policy. */
static enum core_err parse_key_policy(struct proxy_config *cfg, const char *value, char *err, size_t err_cap)
{
    const char *p = value;

    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        const char *slash = memchr(p, '/', len);
        struct proxy_key_rule *grown;

        if (eq == NULL || slash == NULL || slash == p || slash > eq || memchr(eq, ':', len - (size_t)(eq - p)) == NULL ||
            eq[1] == ':' || p[len - 1] == ':') {
            snprintf(err, err_cap,
                     "S3SEAL_KEY_POLICY: invalid entry '%.*s'; expected BUCKET/PREFIX=PROVIDER:KEY, such as "
                     "logs/=file:k2",
                     (int)len, p);
            return CORE_CONFIG;
        }
        grown = realloc(cfg->key_rules, (cfg->key_rule_count + 1) * sizeof(*grown));
        if (grown == NULL) {
            return CORE_NOMEM;
        }
        cfg->key_rules = grown;
        grown[cfg->key_rule_count].prefix = strndup(p, (size_t)(eq - p));
        grown[cfg->key_rule_count].key_ref = strndup(eq + 1, len - (size_t)(eq - p) - 1);
        cfg->key_rule_count++;
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    return CORE_OK;
}

/* True when entry ("bucket/prefix") covers the object; *prefix_len gets the length of its prefix part. */
static bool entry_covers(const char *entry, const char *bucket, const char *key, size_t key_len, size_t *prefix_len)
{
    size_t bucket_len = strlen(bucket);

    if (strncmp(entry, bucket, bucket_len) != 0 || entry[bucket_len] != '/') {
        return false;
    }
    *prefix_len = strlen(entry) - bucket_len - 1;
    return key_len >= *prefix_len && memcmp(key, entry + bucket_len + 1, *prefix_len) == 0;
}

const char *proxy_config_key_ref(const struct proxy_config *cfg, const char *bucket, const char *key,
                                 size_t key_len)
{
    const char *best = NULL;
    size_t best_len = 0;

    if (bucket == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < cfg->key_rule_count; i++) {
        size_t prefix_len = 0;

        if (entry_covers(cfg->key_rules[i].prefix, bucket, key, key_len, &prefix_len) &&
            (best == NULL || prefix_len > best_len)) {
            best = cfg->key_rules[i].key_ref;
            best_len = prefix_len;
        }
    }
    return best;
}

bool proxy_config_wrap_ref(const struct proxy_config *cfg, const char *ref, char *out, size_t out_cap)
{
    const char *colon = strchr(ref, ':');
    int n;

    if (colon == NULL) {
        return false;
    }
    if (!cfg->kms_hashed_context) {
        n = snprintf(out, out_cap, "%s", ref);
    } else {
        n = snprintf(out, out_cap, "%.*s+h%s", (int)(colon - ref), ref, colon);
    }
    return n >= 0 && (size_t)n < out_cap;
}

bool proxy_config_is_plaintext(const struct proxy_config *cfg, const char *bucket, const char *key,
                               size_t key_len)
{
    size_t prefix_len = 0;

    for (size_t i = 0; i < cfg->plaintext_prefix_count; i++) {
        if (entry_covers(cfg->plaintext_prefixes[i], bucket, key, key_len, &prefix_len)) {
            return true;
        }
    }
    return false;
}

static enum core_err apply_clients(struct proxy_config *cfg, const struct raw_config *raw, char *err,
                                   size_t err_cap)
{
    const char *region = raw->values[SET_REGION] ? raw->values[SET_REGION] : raw->values[SET_BACKEND_REGION];

    cfg->region = strdup(region);
    if (raw->values[SET_BASE_DOMAINS] != NULL) {
        CORE_TRY(parse_base_domains(cfg, raw->values[SET_BASE_DOMAINS], err, err_cap));
    }
    if (strcmp(raw->values[SET_UNENCRYPTED_READS], "reject") == 0) {
        cfg->reject_unencrypted_reads = true;
    } else if (strcmp(raw->values[SET_UNENCRYPTED_READS], "allow") != 0) {
        snprintf(err, err_cap, "%s: invalid value '%s'; expected allow or reject", raw->origin[SET_UNENCRYPTED_READS],
                 raw->values[SET_UNENCRYPTED_READS]);
        return CORE_CONFIG;
    }
    if (raw->values[SET_PLAINTEXT_PREFIXES] != NULL) {
        CORE_TRY(parse_plaintext_prefixes(cfg, raw->values[SET_PLAINTEXT_PREFIXES], err, err_cap));
    }

    if ((raw->values[SET_ACCESS_KEY_ID] == NULL) != (raw->values[SET_SECRET_ACCESS_KEY] == NULL)) {
        snprintf(err, err_cap, "S3SEAL_ACCESS_KEY_ID and S3SEAL_SECRET_ACCESS_KEY must be set together");
        return CORE_CONFIG;
    }
    if (raw->values[SET_ACCESS_KEY_ID] != NULL) {
        CORE_TRY(add_client(cfg, raw->values[SET_ACCESS_KEY_ID], raw->values[SET_SECRET_ACCESS_KEY]));
    }
    if (raw->values[SET_CREDENTIALS_FILE] != NULL) {
        CORE_TRY(load_credentials_file(cfg, raw->values[SET_CREDENTIALS_FILE], err, err_cap));
    }
    if (cfg->client_count == 0) {
        snprintf(err, err_cap,
                 "no client credentials: set S3SEAL_ACCESS_KEY_ID and S3SEAL_SECRET_ACCESS_KEY, "
                 "or S3SEAL_CREDENTIALS_FILE");
        return CORE_CONFIG;
    }

    return CORE_OK;
}

static char *strdup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* Parses the KMS thread pool and data key cache settings. */
static enum core_err apply_key_service(struct proxy_config *cfg, const struct raw_config *raw, char *err,
                                       size_t err_cap)
{
    static const struct {
        enum setting_id id;
        int min;
        int max;
    } limits[] = {
        {SET_KMS_THREADS, 1, 256},   {SET_KMS_QUEUE_MAX, 1, 1000000}, {SET_KMS_RETRIES, 0, 5},
        {SET_KEY_CACHE_SIZE, 0, 1000000}, {SET_KEY_CACHE_TTL, 0, 86400},
    };
    int *targets[] = {&cfg->kms_threads, &cfg->kms_queue_max, &cfg->kms_retries, &cfg->key_cache_size,
                      &cfg->key_cache_ttl_s};

    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        const char *value = raw->values[limits[i].id];

        if (parse_count(value, limits[i].max, targets[i]) != CORE_OK || *targets[i] < limits[i].min) {
            snprintf(err, err_cap, "%s: invalid value '%s'; expected a whole number from %d to %d",
                     raw->origin[limits[i].id], value, limits[i].min, limits[i].max);
            return CORE_CONFIG;
        }
    }
    if (raw->values[SET_KEY_POLICY] != NULL) {
        CORE_TRY(parse_key_policy(cfg, raw->values[SET_KEY_POLICY], err, err_cap));
    }
    if (strcmp(raw->values[SET_KMS_CONTEXT], "sha256") == 0) {
        cfg->kms_hashed_context = true;
    } else if (strcmp(raw->values[SET_KMS_CONTEXT], "plain") != 0) {
        snprintf(err, err_cap, "%s: invalid value '%s'; expected plain or sha256", raw->origin[SET_KMS_CONTEXT],
                 raw->values[SET_KMS_CONTEXT]);
        return CORE_CONFIG;
    }
    return CORE_OK;
}

/* Checks the presence of the Vault settings; kms_vault_load checks their values. */
static enum core_err apply_vault(struct proxy_config *cfg, const struct raw_config *raw, char *err, size_t err_cap)
{
    CORE_TRY(require(raw, SET_VAULT_ADDR, err, err_cap));
    CORE_TRY(require(raw, SET_VAULT_KEY_NAME, err, err_cap));
    if (parse_positive(raw->values[SET_VAULT_TIMEOUT_MS], 600000, &cfg->vault_timeout_ms) != CORE_OK) {
        snprintf(err, err_cap, "%s: invalid timeout '%s'; expected whole milliseconds from 1 to 600000",
                 raw->origin[SET_VAULT_TIMEOUT_MS], raw->values[SET_VAULT_TIMEOUT_MS]);
        return CORE_CONFIG;
    }

    cfg->vault_addr = strdup_or_null(raw->values[SET_VAULT_ADDR]);
    cfg->vault_mount = strdup_or_null(raw->values[SET_VAULT_MOUNT]);
    cfg->vault_key_name = strdup_or_null(raw->values[SET_VAULT_KEY_NAME]);
    cfg->vault_token = strdup_or_null(raw->values[SET_VAULT_TOKEN]);
    cfg->vault_token_file = strdup_or_null(raw->values[SET_VAULT_TOKEN_FILE]);
    cfg->vault_role_id = strdup_or_null(raw->values[SET_VAULT_ROLE_ID]);
    cfg->vault_secret_id = strdup_or_null(raw->values[SET_VAULT_SECRET_ID]);
    cfg->vault_secret_id_file = strdup_or_null(raw->values[SET_VAULT_SECRET_ID_FILE]);
    cfg->vault_namespace = strdup_or_null(raw->values[SET_VAULT_NAMESPACE]);
    cfg->vault_ca_file = strdup_or_null(raw->values[SET_VAULT_CA_FILE]);
    return CORE_OK;
}

/* Checks the key provider settings; kms_pkcs11_load and kms_vault_load check the values themselves. */
/* Checks and copies the S3SEAL_AWSKMS_* settings; kms_awskms_load checks the values themselves. */
static enum core_err apply_awskms(struct proxy_config *cfg, const struct raw_config *raw, char *err,
                                  size_t err_cap)
{
    static const enum setting_id required[] = {SET_AWSKMS_ENDPOINT, SET_AWSKMS_REGION, SET_AWSKMS_KEY_ID,
                                               SET_AWSKMS_ACCESS_KEY_ID, SET_AWSKMS_SECRET_ACCESS_KEY};
    int timeout_ms = 0;

    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        CORE_TRY(require(raw, required[i], err, err_cap));
    }
    if (parse_positive(raw->values[SET_AWSKMS_TIMEOUT_MS], 600000, &timeout_ms) != CORE_OK) {
        snprintf(err, err_cap, "%s: invalid timeout '%s'; expected milliseconds from 1 to 600000, such as 5000",
                 raw->origin[SET_AWSKMS_TIMEOUT_MS], raw->values[SET_AWSKMS_TIMEOUT_MS]);
        return CORE_CONFIG;
    }

    cfg->awskms_endpoint = strdup_or_null(raw->values[SET_AWSKMS_ENDPOINT]);
    cfg->awskms_region = strdup_or_null(raw->values[SET_AWSKMS_REGION]);
    cfg->awskms_key_id = strdup_or_null(raw->values[SET_AWSKMS_KEY_ID]);
    cfg->awskms_access_key_id = strdup_or_null(raw->values[SET_AWSKMS_ACCESS_KEY_ID]);
    cfg->awskms_secret_access_key = strdup_or_null(raw->values[SET_AWSKMS_SECRET_ACCESS_KEY]);
    cfg->awskms_session_token = strdup_or_null(raw->values[SET_AWSKMS_SESSION_TOKEN]);
    cfg->awskms_ca_file = strdup_or_null(raw->values[SET_AWSKMS_CA_FILE]);
    cfg->awskms_timeout_ms = timeout_ms;
    return CORE_OK;
}

/* Checks and copies the S3SEAL_KMIP_* settings; kms_kmip_load checks the values themselves. */
static enum core_err apply_kmip(struct proxy_config *cfg, const struct raw_config *raw, char *err, size_t err_cap)
{
    static const enum setting_id required[] = {SET_KMIP_HOST, SET_KMIP_CA_FILE, SET_KMIP_CERT_FILE,
                                               SET_KMIP_KEY_FILE, SET_KMIP_KEY_ID};

    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        CORE_TRY(require(raw, required[i], err, err_cap));
    }
    if (parse_positive(raw->values[SET_KMIP_TIMEOUT_MS], 600000, &cfg->kmip_timeout_ms) != CORE_OK) {
        snprintf(err, err_cap, "%s: invalid timeout '%s'; expected milliseconds from 1 to 600000, such as 5000",
                 raw->origin[SET_KMIP_TIMEOUT_MS], raw->values[SET_KMIP_TIMEOUT_MS]);
        return CORE_CONFIG;
    }

    cfg->kmip_host = strdup_or_null(raw->values[SET_KMIP_HOST]);
    cfg->kmip_port = strdup_or_null(raw->values[SET_KMIP_PORT]);
    cfg->kmip_ca_file = strdup_or_null(raw->values[SET_KMIP_CA_FILE]);
    cfg->kmip_cert_file = strdup_or_null(raw->values[SET_KMIP_CERT_FILE]);
    cfg->kmip_key_file = strdup_or_null(raw->values[SET_KMIP_KEY_FILE]);
    cfg->kmip_key_id = strdup_or_null(raw->values[SET_KMIP_KEY_ID]);
    return CORE_OK;
}

/*
 * Checks the key provider settings; kms_pkcs11_load, kms_awskms_load and kms_kmip_load check the values
 * themselves.
 */
static enum core_err apply_kms(struct proxy_config *cfg, const struct raw_config *raw, char *err, size_t err_cap)
{
    CORE_TRY(apply_key_service(cfg, raw, err, err_cap));
    const char *provider = raw->values[SET_KMS_PROVIDER];

    if (strcmp(provider, "file") == 0) {
        CORE_TRY(require(raw, SET_KEY_FILE, err, err_cap));
    } else if (strcmp(provider, "pkcs11") == 0) {
        CORE_TRY(require(raw, SET_PKCS11_MODULE, err, err_cap));
        CORE_TRY(require(raw, SET_PKCS11_TOKEN_LABEL, err, err_cap));
        CORE_TRY(require(raw, SET_PKCS11_KEY_LABEL, err, err_cap));
        if ((raw->values[SET_PKCS11_PIN_FILE] == NULL) == (raw->values[SET_PKCS11_PIN] == NULL)) {
            snprintf(err, err_cap, "set exactly one of S3SEAL_PKCS11_PIN_FILE and S3SEAL_PKCS11_PIN (or "
                     "[kms] pkcs11_pin_file and pkcs11_pin); a PIN file with mode 0600 keeps the PIN out of the "
                     "environment");
            return CORE_CONFIG;
        }
    } else if (strcmp(provider, "vault") == 0) {
        CORE_TRY(apply_vault(cfg, raw, err, err_cap));
    } else if (strcmp(provider, "awskms") == 0) {
        CORE_TRY(apply_awskms(cfg, raw, err, err_cap));
    } else if (strcmp(provider, "kmip") == 0) {
        CORE_TRY(apply_kmip(cfg, raw, err, err_cap));
    } else {
        snprintf(err, err_cap, "%s: invalid key provider '%s'; expected file, pkcs11, vault, awskms or kmip",
                 raw->origin[SET_KMS_PROVIDER], provider);
        return CORE_CONFIG;
    }

    cfg->kms_provider = strdup(provider);
    cfg->key_file = strdup_or_null(raw->values[SET_KEY_FILE]);
    cfg->pkcs11_module = strdup_or_null(raw->values[SET_PKCS11_MODULE]);
    cfg->pkcs11_token_label = strdup_or_null(raw->values[SET_PKCS11_TOKEN_LABEL]);
    cfg->pkcs11_pin_file = strdup_or_null(raw->values[SET_PKCS11_PIN_FILE]);
    cfg->pkcs11_pin = strdup_or_null(raw->values[SET_PKCS11_PIN]);
    cfg->pkcs11_key_label = strdup_or_null(raw->values[SET_PKCS11_KEY_LABEL]);
    cfg->pkcs11_mechanism = strdup_or_null(raw->values[SET_PKCS11_MECHANISM]);
    return CORE_OK;
}

enum core_err proxy_config_load(const char *config_path, struct proxy_config **out, char *err, size_t err_cap)
{
    struct raw_config raw = {0};
    struct proxy_config *cfg = calloc(1, sizeof(*cfg));
    enum core_err rc;

    if (cfg == NULL) {
        return CORE_NOMEM;
    }

    rc = read_sources(config_path, &raw, err, err_cap);
    if (rc == CORE_OK) {
        rc = apply_server(cfg, &raw, err, err_cap);
    }
    if (rc == CORE_OK) {
        rc = apply_limits(cfg, &raw, err, err_cap);
    }
    if (rc == CORE_OK) {
        rc = apply_backend(cfg, &raw, err, err_cap);
    }
    if (rc == CORE_OK) {
        rc = apply_clients(cfg, &raw, err, err_cap);
    }
    if (rc == CORE_OK) {
        rc = apply_kms(cfg, &raw, err, err_cap);
    }

    raw_cleanup(&raw);
    if (rc != CORE_OK) {
        proxy_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return CORE_OK;
}

enum core_err proxy_config_load_kms(struct proxy_config **out, char *err, size_t err_cap)
{
    struct raw_config raw = {0};
    struct proxy_config *cfg = calloc(1, sizeof(*cfg));
    enum core_err rc;

    if (cfg == NULL) {
        return CORE_NOMEM;
    }
    rc = read_sources(NULL, &raw, err, err_cap);
    if (rc == CORE_OK) {
        rc = apply_kms(cfg, &raw, err, err_cap);
    }
    raw_cleanup(&raw);
    if (rc != CORE_OK) {
        proxy_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return CORE_OK;
}

static void free_secret(char *s)
{
    if (s != NULL) {
        OPENSSL_clear_free(s, strlen(s));
    }
}

void proxy_config_free(struct proxy_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < cfg->client_count; i++) {
        free(cfg->clients[i].access_key_id);
        free_secret(cfg->clients[i].secret_access_key);
    }
    free(cfg->clients);
    free(cfg->listen_host);
    free(cfg->admin_host);
    free(cfg->admin_port);
    free(cfg->listen_port);
    free(cfg->backend_host);
    free(cfg->backend_port);
    free(cfg->backend_host_header);
    free(cfg->backend_ca_file);
    free(cfg->backend_region);
    free(cfg->backend_access_key_id);
    free_secret(cfg->backend_secret_access_key);
    free(cfg->region);
    for (size_t i = 0; i < cfg->base_domain_count; i++) {
        free(cfg->base_domains[i]);
    }
    for (size_t i = 0; i < cfg->plaintext_prefix_count; i++) {
        free(cfg->plaintext_prefixes[i]);
    }
    free(cfg->plaintext_prefixes);
    free(cfg->base_domains);
    free(cfg->key_file);
    free(cfg->kms_provider);
    free(cfg->pkcs11_module);
    free(cfg->pkcs11_token_label);
    free(cfg->pkcs11_pin_file);
    free_secret(cfg->pkcs11_pin);
    free(cfg->pkcs11_key_label);
    free(cfg->pkcs11_mechanism);
    for (size_t i = 0; i < cfg->key_rule_count; i++) {
        free(cfg->key_rules[i].prefix);
        free(cfg->key_rules[i].key_ref);
    }
    free(cfg->key_rules);
    free(cfg->vault_addr);
    free(cfg->vault_mount);
    free(cfg->vault_key_name);
    free_secret(cfg->vault_token);
    free(cfg->vault_token_file);
    free(cfg->vault_role_id);
    free_secret(cfg->vault_secret_id);
    free(cfg->vault_secret_id_file);
    free(cfg->vault_namespace);
    free(cfg->vault_ca_file);
    free(cfg->awskms_endpoint);
    free(cfg->awskms_region);
    free(cfg->awskms_key_id);
    free(cfg->awskms_access_key_id);
    free_secret(cfg->awskms_secret_access_key);
    free_secret(cfg->awskms_session_token);
    free(cfg->awskms_ca_file);
    free(cfg->kmip_host);
    free(cfg->kmip_port);
    free(cfg->kmip_ca_file);
    free(cfg->kmip_cert_file);
    free(cfg->kmip_key_file);
    free(cfg->kmip_key_id);
    free(cfg->tls_cert_file);
    free(cfg->tls_key_file);
    free(cfg->tls_client_ca_file);
    free(cfg);
}

const char *proxy_config_find_secret(const struct proxy_config *cfg, const char *access_key_id)
{
    for (size_t i = 0; i < cfg->client_count; i++) {
        if (strcmp(cfg->clients[i].access_key_id, access_key_id) == 0) {
            return cfg->clients[i].secret_access_key;
        }
    }
    return NULL;
}

void proxy_config_print_help(FILE *out)
{
    fprintf(out, "Settings (environment variable, then its place in the --config INI file):\n\n");
    for (int i = 0; i < SET_COUNT; i++) {
        fprintf(out, "  %s  ([%s] %s)\n      %s\n", settings[i].env, settings[i].section, settings[i].key,
                settings[i].help);
        if (settings[i].default_value != NULL) {
            fprintf(out, "      Default: %s\n", settings[i].default_value);
        }
    }
    fprintf(out, "\nEnvironment variables override the configuration file.\n");
}
