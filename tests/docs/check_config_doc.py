#!/usr/bin/env python3
"""Checks that docs/CONFIGURATION.md documents every setting of the binary.

"s3seal serve --help" prints the settings table of proxy/proxy_config.c.
Its list is compared with the settings table of CONFIGURATION.md: the same
environment variables, each with the same INI place, and where the binary
has a default, the same default. Run by ctest; prints one line per
mismatch and "N passed, N failed".

Usage: check_config_doc.py S3SEAL_BINARY docs/CONFIGURATION.md
"""
import re
import subprocess
import sys

HELP_SETTING = re.compile(r"^  (S3SEAL_[A-Z0-9_]+)  \(\[([a-z]+)\] ([a-z0-9_]+)\)$")
HELP_DEFAULT = re.compile(r"^      Default: (.*)$")
DOC_ROW = re.compile(r"^\| `(S3SEAL_[A-Z0-9_]+)` \| ([^|]*) \| ([^|]*) \| ([^|]*) \|$")


def settings_from_help(binary):
    """Returns {env: (ini place, default or None)} from the binary's help."""
    text = subprocess.run([binary, "serve", "--help"], check=True, capture_output=True, text=True).stdout
    settings = {}
    current = None
    for line in text.splitlines():
        m = HELP_SETTING.match(line)
        if m:
            current = m.group(1)
            settings[current] = (f"`[{m.group(2)}] {m.group(3)}`", None)
            continue
        m = HELP_DEFAULT.match(line)
        if m and current is not None:
            settings[current] = (settings[current][0], m.group(1))
    return settings, text


def settings_from_doc(path):
    """Returns {env: (ini place cell, default cell)} from the settings table."""
    rows = {}
    for line in open(path, encoding="utf-8"):
        m = DOC_ROW.match(line.rstrip("\n"))
        if m:
            rows[m.group(1)] = (m.group(2).strip(), m.group(3).strip())
    return rows


def main():
    binary, doc = sys.argv[1], sys.argv[2]
    in_help, help_text = settings_from_help(binary)
    in_doc = settings_from_doc(doc)
    problems = []
    checks = 0

    # S3SEAL_CONFIG names the file itself, so it is an option of serve, not a row of the settings table.
    checks += 1
    if "S3SEAL_CONFIG" not in in_doc or "S3SEAL_CONFIG" not in help_text:
        problems.append("S3SEAL_CONFIG must be in the table of the doc and in 's3seal serve --help'")
    in_doc.pop("S3SEAL_CONFIG", None)

    for env in sorted(set(in_help) | set(in_doc)):
        checks += 1
        if env not in in_doc:
            problems.append(f"{env} is a setting of the binary but has no row in {doc}")
            continue
        if env not in in_help:
            problems.append(f"{env} has a row in {doc} but 's3seal serve --help' does not list it")
            continue
        place, default = in_help[env]
        doc_place, doc_default = in_doc[env]
        if doc_place != place:
            problems.append(f"{env}: INI place is {place} in the binary, {doc_place} in {doc}")
        if default is not None and f"`{default}`" not in doc_default:
            problems.append(f"{env}: default is `{default}` in the binary, '{doc_default}' in {doc}")
        if default is None and re.fullmatch(r"`[^`]*`", doc_default):
            problems.append(f"{env}: the binary has no default, {doc} says {doc_default}")

    if len(in_help) < 10:
        problems.append(f"found only {len(in_help)} settings in 's3seal serve --help'; has its format changed?")
    for p in problems:
        print(f"config-doc: FAILED: {p}")
    print(f"{checks - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
