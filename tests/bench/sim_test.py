#!/usr/bin/env python3
"""aso-sim on a small grid (tests/bench/small.yaml) through the real scheduler and bookkeeping on the test
PostgreSQL: every file submitted ends DONE or FAILED (none lost, none left), the outage's files fail over and
are retried, no site runs above its limit, the table and the JSON agree; and bench/summary.py turns the JSON
line into its table and bench.json.

  sim_test.py --sim BUILD/bench/aso-sim --repo REPO     (needs $ASO_TEST_PG)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim", required=True)
    ap.add_argument("--repo", required=True)
    args = ap.parse_args()
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)

    with tempfile.TemporaryDirectory() as tmp:
        out_json = os.path.join(tmp, "small.json")
        run = subprocess.run([args.sim, "--scenario", os.path.join(args.repo, "tests/bench/small.yaml"),
                              "--json", out_json], capture_output=True, text=True, timeout=600)
        print(run.stdout)
        if run.returncode != 0:
            sys.exit(f"aso-sim exited {run.returncode}:\n{run.stderr}")
        r = json.load(open(out_json))
        line = json.loads([ln for ln in run.stdout.splitlines() if ln.startswith('{"bench"')][-1])

        check(r["submitted"] > 1000, f"a few thousand files arrive: {r['submitted']}")
        check(r["lost"] == 0, f"no file lost: {r['lost']}")
        check(r["not_finished"] == 0, f"every file finished after the drain: {r['not_finished']}")
        check(r["done"] + r["failed"] == r["submitted"], "DONE + FAILED = submitted")
        # SOURCE failures (1%) are final; NETWORK ones (2%, and every copy to or from the site while it is
        # down) are retried, so there are more attempts than files and fewer failed files than 2%.
        check(r["attempts"] > r["submitted"], "failed copies were retried")
        check(0 < r["failed"] < 0.03 * r["submitted"], f"failed files: {r['failed']}")
        outage_hours = [h for h in r["hourly"] if h["hour"] == 0]
        check(outage_hours and outage_hours[0]["failed_attempts"] > 0, "attempts failed during the first hour")
        check(all(0 <= u <= 1 for u in r["site_utilization"].values()), "no site above its limit")
        check(set(r["site_utilization"]) == {f"T2_S{i:03d}" for i in range(10)}, "every site reported")
        check(len(r["queue_p50_by_user"]) == 50, f"users with queue times: {len(r['queue_p50_by_user'])}")
        check(0.9 <= r["fairness_jain"] <= 1.0, f"fairness: {r['fairness_jain']}")
        check(r["queue_seconds"]["p50"] <= r["queue_seconds"]["p90"] <= r["queue_seconds"]["p99"], "percentiles")
        for key in ("submitted", "done", "failed", "lost", "not_finished"):
            check(line[key] == r[key], f"the JSON line and the file agree on {key}")
        check(f"{r['done']} DONE, {r['failed']} FAILED, 0 not finished" in run.stdout, "the table")

        # bench/summary.py: the log's JSON lines become one table and bench.json.
        log = os.path.join(tmp, "bench.log")
        with open(log, "w") as f:
            f.write("some table\n" + json.dumps(line) + "\n")
            f.write(json.dumps({"bench": "copy", "large_mib": 1024, "gfal2_mb_per_s": 220.0, "xrdcp_mb_per_s": 200.0,
                                "large_ratio": 1.1, "small_files": 2000, "workers": 8,
                                "gfal2_small_files_per_s": 1400.0, "xrdcp_small_files_per_s": 700.0}) + "\n")
        summary = subprocess.run([sys.executable, os.path.join(args.repo, "bench/summary.py"), log, "--json",
                                  os.path.join(tmp, "bench.json")], capture_output=True, text=True)
        print(summary.stdout)
        check(summary.returncode == 0, f"summary.py exited {summary.returncode}: {summary.stderr}")
        check("copy: one 1024 MiB file, gfal2 backend vs xrdcp" in summary.stdout and "1.10" in summary.stdout,
              "the copy figure with its ratio")
        check(f"simulator: small, files lost" in summary.stdout, "the simulator's figures")
        collected = json.load(open(os.path.join(tmp, "bench.json")))
        check([c["bench"] for c in collected] == ["sim", "copy"], "bench.json holds both results")

    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("sim_test: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
