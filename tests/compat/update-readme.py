"""Copy the client compatibility table of the last tests/compat/run.sh run
into README.md, between the lines <!-- compat-table:start --> and
<!-- compat-table:end -->.

Usage: python3 tests/compat/update-readme.py [RESULTS_FILE]
RESULTS_FILE defaults to tests/compat/results.md. Exits 1 when a file or a
marker is missing.
"""

import os
import sys

START = "<!-- compat-table:start -->"
END = "<!-- compat-table:end -->"


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    results_path = argv[1] if len(argv) > 1 else os.path.join(here, "results.md")
    readme_path = os.path.join(here, "..", "..", "README.md")
    try:
        with open(results_path, encoding="utf-8") as f:
            results = f.read().strip()
        with open(readme_path, encoding="utf-8") as f:
            readme = f.read()
    except OSError as err:
        print(f"update-readme: cannot read {err.filename}: {err.strerror}; run tests/compat/run.sh first",
              file=sys.stderr)
        return 1

    start = readme.find(START)
    end = readme.find(END)
    if start < 0 or end < start:
        print(f"update-readme: README.md has no {START} ... {END} block", file=sys.stderr)
        return 1
    updated = readme[: start + len(START)] + "\n" + results + "\n" + readme[end:]
    with open(readme_path, "w", encoding="utf-8") as f:
        f.write(updated)
    print(f"update-readme: copied {results_path} into README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
