#!/usr/bin/env python3
"""Every gRPC call ASO makes carries a deadline, so no client, service or CLI waits forever on a peer that
hangs. Each `grpc::ClientContext NAME;` in the sources of libs/, services/ and bench/ (tests excepted) must be
given one within the next lines: `NAME.set_deadline(...)`, or asoctl's `ctx.Prepare(NAME)`, which sets
--timeout. Prints every context without one and exits 1; prints the count checked otherwise.

  tests/security/check_call_deadlines.py REPO
"""
import os
import re
import sys

CONTEXT = re.compile(r"grpc::ClientContext\s+(\w+)\s*;")
WINDOW = 8  # lines after the declaration


def main():
    repo = sys.argv[1]
    checked, missing = 0, []
    for top in ("libs", "services", "bench"):
        for folder, _, files in os.walk(os.path.join(repo, top)):
            for name in files:
                if not name.endswith(".cc") or name.endswith("_test.cc") or name.endswith("_pgtest.cc"):
                    continue
                path = os.path.join(folder, name)
                lines = open(path).read().splitlines()
                for i, line in enumerate(lines):
                    m = CONTEXT.search(line)
                    if not m:
                        continue
                    checked += 1
                    var = m.group(1)
                    after = "\n".join(lines[i + 1:i + 1 + WINDOW])
                    if f"{var}.set_deadline(" not in after and f"Prepare({var})" not in after:
                        missing.append(f"{os.path.relpath(path, repo)}:{i + 1}: grpc::ClientContext {var} has no deadline")
    if checked == 0:
        print("no grpc::ClientContext found: the check looks in the wrong place")
        return 1
    for m in missing:
        print(m)
    if missing:
        return 1
    print(f"{checked} client contexts, each with a deadline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
