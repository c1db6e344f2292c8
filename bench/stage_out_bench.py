#!/usr/bin/env python3
"""End-to-end stage-out rate of small files through the whole suite, against the copier alone.

Brings up the local stack (scripts/aso-local: PostgreSQL, two XRootD sites, the five services with the
gfal2 backend) in its own folder and ports, then:
  baseline  bench/copy_bench's small-file phase between the same two sites: --workers copiers (the adapter's
            --copy_workers) copying 1 KiB files root -> root with adler32 checked on both ends, nothing
            else (no database, no services);
  stage-out N files of 1 KiB submitted with aso-submit (site-a -> site-b, one task), timed from the
            submission until every file is DONE in PostgreSQL: ingest, scheduling, the adapter's copies,
            outcome reports and bookkeeping's state changes, all on this machine.
Prints a table and one JSON line; the ratio says what the services cost over bare copies.

  bench/stage_out_bench.py [--files 5000] [--workers 8] [--link_max_active 200] [--build DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
from stage_out_e2e import KIB, fresh_stack  # noqa: E402

DIR = "/var/tmp/aso-bench-stack"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--link_max_active", type=int, default=200)
    ap.add_argument("--build", default=os.environ.get("ASO_BUILD_DIR", os.path.join(REPO, "build")))
    args = ap.parse_args()
    build = os.path.abspath(args.build)

    stack = fresh_stack(REPO, build, DIR)
    stack.env["ASO_COPY_WORKERS"] = str(args.workers)
    # One link carries the whole load here: its ceiling is raised from the default 100 files in flight, as
    # an operator would for a busy local link (asoctl links set ... --max_active). Files in flight, not
    # CPU, bound one link's rate: rate = files in flight / (copy + report + scheduling round trip).
    stack.env.setdefault("ASO_LINK_MAX_ACTIVE", str(args.link_max_active))
    try:
        up = stack.local_stack("up", "--no-deps", "--no-build", "--no-demo", check=False)
        if up.returncode != 0:
            sys.exit(f"aso-local up failed:\n{up.stdout}\n{up.stderr}")

        # Baseline: the copier alone, between the same sites.
        env = dict(os.environ, ASO_BENCH_SITE_A=stack.site_a, ASO_BENCH_SITE_B=stack.site_b,
                   ASO_BENCH_SITE_A_DIR=f"{DIR}/sites/site-a/root/data")
        out = subprocess.run([f"{build}/bench/copy_bench", "--large_mib", "1", "--repeat", "1", "--small_files",
                              str(min(args.files, 2000)), "--workers", str(args.workers),
                              "--xrdcp_small_files", "10"],
                             env=env, check=True, text=True, capture_output=True).stdout
        copier_rate = json.loads(out.strip().splitlines()[-1])["gfal2_small_files_per_s"]

        # Stage-out through the suite.
        task = f"bench-{int(time.time())}"
        src_dir = f"{DIR}/sites/site-a/root/data/store/temp/user/bench/{task}"
        os.makedirs(src_dir)
        listing = f"{DIR}/run/{task}.txt"
        with open(listing, "w") as lst:
            for i in range(args.files):
                with open(f"{src_dir}/f_{i}.root", "wb") as f:
                    f.write(os.urandom(KIB))
                lst.write(f"{stack.site_a}/store/temp/user/bench/{task}/f_{i}.root "
                          f"{stack.site_b}/store/user/bench/{task}/f_{i}.root {KIB}\n")
        start = time.monotonic()
        r = stack.submit("--task", task, "--user", "bench", "--files", listing)
        if r.returncode != 0:
            sys.exit(f"aso-submit failed: {r.stderr}")
        submitted = time.monotonic() - start
        done = 0
        while done < args.files:
            time.sleep(0.5)
            states = dict(line.split("|") for line in stack.sql(
                f"SELECT state, count(*) FROM transfers WHERE task_id = '{task}' GROUP BY 1").splitlines())
            done = int(states.get("DONE", 0))
            if int(states.get("FAILED", 0)) > 0:
                sys.exit(f"files failed: {states}")
            if time.monotonic() - start > 1800:
                sys.exit(f"not done after 30 min: {states}")
        elapsed = time.monotonic() - start
        rate = args.files / elapsed
    finally:
        stack.local_stack("down", check=False)

    print(f"{'figure':<58} {'value':>10} {'baseline':>10} {'ratio':>7}")
    print(f"{f'stage-out of {args.files} files of 1 KiB, files/s (vs copier alone)':<58} "
          f"{rate:>10.1f} {copier_rate:>10.1f} {rate / copier_rate:>7.2f}")
    print(f"{'  of which the submission (aso-submit), s':<58} {submitted:>10.2f}")
    print(json.dumps({"bench": "stage_out", "files": args.files, "workers": args.workers,
                      "link_max_active": int(stack.env["ASO_LINK_MAX_ACTIVE"]),
                      "stage_out_files_per_s": round(rate, 1), "copier_files_per_s": round(copier_rate, 1),
                      "submit_seconds": round(submitted, 2), "ratio": round(rate / copier_rate, 3)}))


if __name__ == "__main__":
    main()
