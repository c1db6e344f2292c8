#!/usr/bin/env python3
"""docs/asoctl.md carries the output of `asoctl help all` (every command's usage, flags and examples)
between two markers; this check fails when the two differ, so the documentation follows the commands.

  check_help_doc.py --asoctl build/services/asoctl/asoctl --doc docs/asoctl.md [--update]

--update rewrites the block in the document from the binary.
"""
import argparse
import difflib
import subprocess
import sys

BEGIN = "<!-- BEGIN: output of `asoctl help all`; tests/services/asoctl/check_help_doc.py --update -->"
END = "<!-- END: output of `asoctl help all` -->"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--asoctl", required=True)
    parser.add_argument("--doc", required=True)
    parser.add_argument("--update", action="store_true")
    args = parser.parse_args()

    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}  # no config file, no ASO_* settings
    out = subprocess.run([args.asoctl, "help", "all"], check=True, text=True, capture_output=True, env=env).stdout
    block = f"{BEGIN}\n```text\n{out}```\n{END}"
    doc = open(args.doc).read()
    if BEGIN not in doc or END not in doc:
        print(f"{args.doc}: the markers of the help block are missing", file=sys.stderr)
        return 1
    start, end = doc.index(BEGIN), doc.index(END) + len(END)
    if doc[start:end] == block:
        print(f"{args.doc}: the help of {out.count('Usage: asoctl ') - 1} commands matches asoctl help all")
        return 0
    if args.update:
        with open(args.doc, "w") as f:
            f.write(doc[:start] + block + doc[end:])
        print(f"{args.doc}: help block updated")
        return 0
    diff = difflib.unified_diff(doc[start:end].splitlines(), block.splitlines(), "docs", "asoctl help all",
                                lineterm="")
    print("\n".join(list(diff)[:80]))
    print(f"{args.doc} differs from `asoctl help all`: run {sys.argv[0]} --asoctl {args.asoctl} --doc {args.doc} "
          "--update", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
