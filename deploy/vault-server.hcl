# Configuration of the Vault server in deploy/docker-compose.yml, mounted
# read-only at /vault/config/vault-server.hcl and started with
# "vault server -config=/vault/config/vault-server.hcl". Vault holds the
# transit key that wraps s3seal's data keys, so its storage and its unseal
# key are what must be backed up (docs/OPERATIONS.md, section Backup).

# The file storage keeps everything in the vault-data volume, encrypted by
# Vault; it survives restarts, unlike "vault server -dev", which keeps keys
# in memory only. It has no high availability: one server only.
storage "file" {
  path = "/vault/file"
}

# TLS with the certificate that deploy/compose-certs.sh makes (names vault,
# localhost and 127.0.0.1). s3seal and the init job reach it at
# https://vault:8200 on the Compose network; the port is not published.
listener "tcp" {
  address       = "0.0.0.0:8200"
  tls_cert_file = "/vault/tls/vault.pem"
  tls_key_file  = "/vault/tls/vault.key"
}

# The address Vault gives clients for itself, the Compose service name.
api_addr = "https://vault:8200"

# No web UI: s3seal and the init job use the API only.
ui = false

# Vault runs as uid 100 with every capability dropped (see the vault
# service in docker-compose.yml), so it cannot lock its memory: mlock needs
# CAP_IPC_LOCK, which Docker does not pass to a non-root process, and the
# image's way around that (a file capability that its entry script sets as
# root) does not work under no-new-privileges. Without this line Vault
# would refuse to start. The cost: Vault's memory, with its keys, can be
# written to swap. Run the host without swap or with encrypted swap, which
# is what the Vault documentation asks of any server with mlock disabled.
disable_mlock = true
