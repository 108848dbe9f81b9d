#!/usr/bin/python3
"""Stand-in for the `vault` command line, to run deploy/vault-init.sh without Vault.

This is a stub, not Vault: no Vault server or binary can be installed on the
test machines. It implements only the subcommands, flags and paths that
deploy/vault-init.sh uses, with the behaviour the Vault documentation gives
for them, and keeps the server's state in a JSON file:

- `status`: exit 0 unsealed, 2 sealed (also before init), 1 no answer;
- `operator init -status`: exit 0 initialized, 2 not;
  `operator init -key-shares=N -key-threshold=N -format=json`;
- `write [-force|-f] [-field=F] [-format=json] PATH k=v...`, where a value "-"
  is read from stdin as it is (no trailing newline removed), for
  sys/unseal, <mount>/keys/<name>, auth/approle/role/<role>,
  .../role-id, .../secret-id and .../secret-id/lookup;
- `read [-field=F] PATH` for <mount>/keys/<name>: exit 2 when there is none;
- `secrets list -format=json`, `secrets enable -path=P transit`,
  `auth list -format=json`, `auth enable approle`, `policy write NAME -`.

Anything else, an unknown flag included, fails with exit status 1, so a
script that strays from the documented interface fails here too. Every call
is also refused when a secret the stub handed out (unseal key, root token,
secret ID) appears on its command line.

Environment: VAULT_STUB_STATE (the state file, required), VAULT_STUB_DOWN
(number of calls that fail as if the server were not up yet),
VAULT_ADDR and VAULT_CACERT (must be set; the CA file must exist).
"""

import base64
import json
import os
import secrets
import sys

SECRET_KEYS = ("unseal_key", "root_token")


def die(msg, code=1):
    sys.stderr.write(f"vault-stub: {msg}\n")
    sys.exit(code)


def load(path):
    if not os.path.exists(path):
        return {"initialized": False, "sealed": True, "mounts": {}, "auths": {}, "keys": {}, "policies": {},
                "roles": {}, "role_ids": {}, "secret_ids": {}, "down": None, "calls": []}
    with open(path) as f:
        return json.load(f)


def save(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def split_flags(args, allowed):
    """Splits leading -flag[=value] arguments; returns ({name: value}, rest)."""
    flags = {}
    rest = list(args)
    while rest and rest[0].startswith("-") and rest[0] != "-":
        name, _, value = rest.pop(0).lstrip("-").partition("=")
        if name not in allowed:
            die(f"flag provided but not defined: -{name}")
        flags[name] = value if value else "true"
    return flags, rest


def parse_data(pairs):
    data = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            die(f"invalid key/value pair {pair!r}")
        if value == "-":
            value = sys.stdin.read()
        data[key] = value
    return data


class Stub:
    def __init__(self, state):
        self.s = state

    def require_server(self):
        if not self.s["initialized"] or self.s["sealed"]:
            die("Error making API request. Code: 503. Errors: * Vault is sealed", 2)

    def require_token(self):
        self.require_server()
        if os.environ.get("VAULT_TOKEN") != self.s.get("root_token"):
            die("Error making API request. Code: 403. Errors: * permission denied", 2)

    def status(self, args):
        split_flags(args, {"format"})
        s = self.s
        print(f"Initialized     {str(s['initialized']).lower()}\nSealed          {str(s['sealed']).lower()}")
        return 0 if s["initialized"] and not s["sealed"] else 2

    def operator(self, args):
        if not args or args[0] != "init":
            die(f"unsupported: operator {' '.join(args[:1])}")
        flags, rest = split_flags(args[1:], {"status", "key-shares", "key-threshold", "format"})
        if rest:
            die(f"operator init takes no arguments, got {rest}")
        if "status" in flags:
            return 0 if self.s["initialized"] else 2
        if self.s["initialized"]:
            die("Error initializing: Error making API request. Code: 400. Errors: * Vault is already initialized", 2)
        shares, threshold = int(flags.get("key-shares", 5)), int(flags.get("key-threshold", 3))
        if flags.get("format") != "json" or shares != 1 or threshold != 1:
            die("this stub only answers -key-shares=1 -key-threshold=1 -format=json")
        key = secrets.token_bytes(32)
        self.s.update(initialized=True, sealed=True, unseal_key=base64.b64encode(key).decode(),
                      root_token="hvs." + secrets.token_urlsafe(18),
                      mounts={"cubbyhole/": {"type": "cubbyhole"}, "identity/": {"type": "identity"},
                              "sys/": {"type": "system"}},
                      auths={"token/": {"type": "token"}})
        out = {"unseal_keys_b64": [self.s["unseal_key"]], "unseal_keys_hex": [key.hex()], "unseal_shares": 1,
               "unseal_threshold": 1, "recovery_keys_b64": [], "recovery_keys_hex": [], "recovery_keys_shares": 0,
               "recovery_keys_threshold": 0, "root_token": self.s["root_token"]}
        print(json.dumps(out, indent=2))
        return 0

    def transit_mount(self, path):
        """Returns (mount, key name) when path is <mount>/keys/<name> on a transit mount."""
        mount, sep, name = path.rpartition("/keys/")
        if not sep or "/" in name or self.s["mounts"].get(mount + "/", {}).get("type") != "transit":
            return None, None
        return mount, name

    def write(self, args):
        flags, rest = split_flags(args, {"force", "f", "field", "format"})
        if not rest:
            die("write needs a path")
        path, data = rest[0], parse_data(rest[1:])
        if not data and "force" not in flags and "f" not in flags:
            die("Must supply data or use -force")
        if path == "sys/unseal":
            if not self.s["initialized"]:
                die("Error writing data to sys/unseal: Code: 400. Errors: * Vault is not initialized", 2)
            if data.get("key") != self.s["unseal_key"]:
                die("Error writing data to sys/unseal: Code: 400. Errors: * invalid key", 2)
            self.s["sealed"] = False
            return 0
        self.require_token()
        mount, name = self.transit_mount(path)
        if mount is not None:
            if set(data) - {"type"} or data.get("type", "aes256-gcm96") not in ("aes256-gcm96", "aes128-gcm96"):
                die(f"unsupported transit key settings {data}")
            self.s["keys"].setdefault(path, data.get("type", "aes256-gcm96"))
            return 0
        parts = path.split("/")
        if parts[:3] != ["auth", "approle", "role"] or len(parts) < 4 or "approle/" not in self.s["auths"]:
            die(f"Error writing data to {path}: Code: 404. Errors: * no handler for route", 2)
        role, tail = parts[3], "/".join(parts[4:])
        if tail == "":
            allowed = {"token_policies", "token_no_default_policy", "token_ttl", "token_max_ttl", "secret_id_ttl",
                       "secret_id_num_uses", "token_type", "bind_secret_id"}
            if set(data) - allowed:
                die(f"unknown role parameters {sorted(set(data) - allowed)}", 2)
            self.s["roles"].setdefault(role, {}).update(data)
            return 0
        if role not in self.s["roles"]:
            die(f"Error writing data to {path}: Code: 400. Errors: * role {role!r} does not exist", 2)
        if tail == "role-id":
            if set(data) != {"role_id"} or not data["role_id"]:
                die("role-id takes role_id only", 2)
            self.s["role_ids"][role] = data["role_id"]
            return 0
        if tail == "secret-id":
            secret_id = secrets.token_hex(18)
            self.s["secret_ids"].setdefault(role, []).append(secret_id)
            if flags.get("field") == "secret_id":
                sys.stdout.write(secret_id)
            elif flags.get("field"):
                die(f"Field {flags['field']} not present in secret", 1)
            else:
                print(json.dumps({"data": {"secret_id": secret_id}}))
            return 0
        if tail == "secret-id/lookup":
            if set(data) != {"secret_id"}:
                die("lookup takes secret_id only", 2)
            if data["secret_id"] not in self.s["secret_ids"].get(role, []):
                # Vault's AppRole returns no data for an unknown ID
                return 0
            print(json.dumps({"data": {"secret_id_accessor": "acc-" + data["secret_id"][:8], "secret_id_ttl": 0}},
                             indent=2))
            return 0
        die(f"Error writing data to {path}: Code: 404. Errors: * no handler for route", 2)

    def read(self, args):
        flags, rest = split_flags(args, {"field", "format"})
        if len(rest) != 1:
            die("read takes one path")
        self.require_token()
        path = rest[0]
        mount, _ = self.transit_mount(path)
        if mount is None or path not in self.s["keys"]:
            sys.stderr.write(f"No value found at {path}\n")
            return 2
        if flags.get("field") == "type":
            sys.stdout.write(self.s["keys"][path])
        elif flags.get("field"):
            die(f"Field {flags['field']} not present in secret")
        else:
            print(json.dumps({"data": {"type": self.s["keys"][path]}}))
        return 0

    def listing(self, kind, args):
        flags, rest = split_flags(args, {"format", "detailed"})
        if rest or flags.get("format") != "json":
            die(f"{kind} list: this stub answers -format=json only")
        self.require_token()
        print(json.dumps(self.s["mounts" if kind == "secrets" else "auths"], indent=2))
        return 0

    def secrets(self, args):
        if args[:1] == ["list"]:
            return self.listing("secrets", args[1:])
        if args[:1] != ["enable"]:
            die(f"unsupported: secrets {' '.join(args[:1])}")
        flags, rest = split_flags(args[1:], {"path", "description"})
        if rest != ["transit"]:
            die(f"this stub enables the transit engine only, got {rest}")
        self.require_token()
        path = flags.get("path", "transit").strip("/") + "/"
        if path in self.s["mounts"]:
            die(f"Error enabling: Code: 400. Errors: * path is already in use at {path}", 2)
        self.s["mounts"][path] = {"type": "transit"}
        return 0

    def auth(self, args):
        if args[:1] == ["list"]:
            return self.listing("auth", args[1:])
        if args[:1] != ["enable"]:
            die(f"unsupported: auth {' '.join(args[:1])}")
        flags, rest = split_flags(args[1:], {"path", "description"})
        if rest != ["approle"]:
            die(f"this stub enables approle only, got {rest}")
        self.require_token()
        path = flags.get("path", "approle").strip("/") + "/"
        if path in self.s["auths"]:
            die(f"Error enabling approle auth: Code: 400. Errors: * path is already in use at {path}", 2)
        self.s["auths"][path] = {"type": "approle"}
        return 0

    def policy(self, args):
        if args[:1] != ["write"] or len(args) != 3:
            die(f"unsupported: policy {' '.join(args)}")
        self.require_token()
        text = sys.stdin.read() if args[2] == "-" else open(args[2]).read()
        self.s["policies"][args[1]] = text
        return 0


def main():
    state_path = os.environ.get("VAULT_STUB_STATE") or die("VAULT_STUB_STATE is not set")
    state = load(state_path)
    args = sys.argv[1:]
    state["calls"].append(" ".join(a.split("=", 1)[0] for a in args))
    known = [state.get(k) for k in SECRET_KEYS] + [s for ids in state["secret_ids"].values() for s in ids]
    if any(k and any(k in a for a in args) for k in known):
        save(state_path, state)
        die("a secret was given on the command line, where every process can read it")
    if not os.environ.get("VAULT_ADDR", "").startswith("https://"):
        die("VAULT_ADDR must be an https:// address")
    if not os.path.isfile(os.environ.get("VAULT_CACERT", "")):
        die("VAULT_CACERT must name the CA file")
    if state["down"] is None:
        state["down"] = int(os.environ.get("VAULT_STUB_DOWN", "0"))
    if state["down"] > 0:
        state["down"] -= 1
        save(state_path, state)
        die("Error checking seal status: dial tcp: connect: connection refused", 1)
    stub = Stub(state)
    commands = {"status": stub.status, "operator": stub.operator, "write": stub.write, "read": stub.read,
                "secrets": stub.secrets, "auth": stub.auth, "policy": stub.policy}
    if not args or args[0] not in commands:
        die(f"unsupported command {args[:1]}")
    try:
        rc = commands[args[0]](args[1:])
    except SystemExit:
        save(state_path, state)
        raise
    save(state_path, state)
    return rc


if __name__ == "__main__":
    sys.exit(main())
