#!/usr/bin/env python3
"""The runtime image's package list (deploy/docker/Dockerfile, between the "runtime packages" markers) matches
what the built binaries link: every library a binary names in DT_NEEDED (objdump -p) comes from a package on
the list, and every package on the list provides such a library or is one of the run-time extras (gfal2's
protocol plugins, loaded with dlopen, and the CA bundle). Also: the binaries the Dockerfile copies are the ones
the build makes, and the image runs as a non-root user.

  check_image_packages.py --repo REPO --build BUILD
"""
import argparse
import os
import re
import subprocess
import sys

BINARIES = {
    "aso-ingest": "services/ingest/aso-ingest",
    "aso-scheduler": "services/scheduler/aso-scheduler",
    "aso-fts-adapter": "services/fts_adapter/aso-fts-adapter",
    "aso-bookkeeping": "services/bookkeeping/aso-bookkeeping",
    "aso-monitoring": "services/monitoring/aso-monitoring",
    "asoctl": "services/asoctl/asoctl",
    "aso-submit": "services/aso_submit/aso-submit",
}
# Not linked, needed at run time.
EXTRAS = {"gfal2-plugin-xrootd", "gfal2-plugin-http", "gfal2-plugin-file", "ca-certificates"}


def runtime_packages(dockerfile):
    text = open(dockerfile).read()
    m = re.search(r"# runtime packages \(begin\).*?\n(.*?)# runtime packages \(end\)", text, re.S)
    if not m:
        sys.exit("no '# runtime packages (begin)' ... '(end)' block in the Dockerfile")
    block = m.group(1).split("--no-install-recommends", 1)[1].split("&&", 1)[0]
    return set(block.replace("\\", " ").split())


def library_package(name):
    """The Debian package holding the shared library `name` (as found by the dynamic linker)."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    paths = [line.split("=>")[1].strip() for line in out.splitlines()
             if line.strip().startswith(name + " ") and "x86-64" in line]
    for path in paths:
        real = os.path.realpath(path)
        for candidate in {path, real, real.replace("/usr/lib/", "/lib/", 1), path.replace("/usr/lib/", "/lib/", 1)}:
            r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if r.returncode == 0:
                return r.stdout.split(":", 1)[0].strip()
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    dockerfile = os.path.join(args.repo, "deploy/docker/Dockerfile")
    listed = runtime_packages(dockerfile)
    text = open(dockerfile).read()
    errors = []

    needed = {}  # library -> binaries
    for name, rel in BINARIES.items():
        path = os.path.join(args.build, rel)
        if not os.path.exists(path):
            errors.append(f"{path} not built")
            continue
        if f"/build/{rel}" not in text:
            errors.append(f"the Dockerfile does not copy {name} (/build/{rel})")
        dump = subprocess.run(["objdump", "-p", path], capture_output=True, text=True, check=True).stdout
        for lib in re.findall(r"^\s*NEEDED\s+(\S+)", dump, re.M):
            needed.setdefault(lib, set()).add(name)

    providers = {}
    for lib, users in sorted(needed.items()):
        pkg = library_package(lib)
        if pkg is None:
            errors.append(f"no Debian package holds {lib} (needed by {', '.join(sorted(users))})")
            continue
        providers.setdefault(pkg, set()).add(lib)
        if pkg not in listed:
            errors.append(f"{lib} (needed by {', '.join(sorted(users))}) comes from {pkg}, "
                          "missing from the runtime packages")
    for pkg in sorted(listed - set(providers) - EXTRAS):
        errors.append(f"runtime package {pkg} provides no library the binaries link (and is not a run-time extra)")
    for pkg in sorted(EXTRAS - listed):
        errors.append(f"run-time extra {pkg} is missing from the runtime packages")
    if not re.search(r"^USER 10001:10001$", text, re.M):
        errors.append("the runtime image must run as USER 10001:10001 (non-root)")
    if not re.search(r"^FROM debian:12-slim$", text, re.M):
        errors.append("the runtime stage must be FROM debian:12-slim")

    for pkg, libs in sorted(providers.items()):
        print(f"{pkg:28} {' '.join(sorted(libs))}")
    if errors:
        print("\nFAILED:\n  " + "\n  ".join(errors))
        return 1
    print(f"\n{len(needed)} libraries from {len(providers)} packages; {len(listed)} runtime packages listed: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
