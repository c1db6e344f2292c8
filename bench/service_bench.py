#!/usr/bin/env python3
"""Latencies on an idle system and the services' memory with a large queue, on the whole local stack.

Brings up the local stack (scripts/aso-local) in its own folder and ports, then:
  latency  --samples single 1 KiB files, one at a time (site-a -> site-b): from the SubmitTransfers reply
           (aso-submit returning its id) to the copy's start (the attempt's `started`, written by the
           adapter), and from the copy's end (`finished`) to the WatchTask event that tells the file is DONE
           (a running `aso-submit --wait`, which follows WatchTask, exiting). p50 and p99 of each; the
           baseline is an empty gRPC round trip (`asoctl whoami`, process start included) timed the same way.
  memory   --queued files queued at once (inserted straight into PostgreSQL, on a paused link so they stay
           queued), then every service's peak resident memory (VmHWM) after a minute of work with them,
           against its peak on the idle stack before.
Prints a table and one JSON line.

  bench/service_bench.py [--samples 50] [--queued 1000000] [--build DIR]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
from stage_out_e2e import fresh_stack  # noqa: E402

DIR = "/var/tmp/aso-bench-services"
SERVICES = ("ingest", "scheduler", "fts-adapter", "bookkeeping", "monitoring")


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p * len(v)))] if v else 0.0


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--queued", type=int, default=1_000_000)
    ap.add_argument("--build", default=os.environ.get("ASO_BUILD_DIR", os.path.join(REPO, "build")))
    args = ap.parse_args()
    build = os.path.abspath(args.build)

    stack = fresh_stack(REPO, build, DIR)
    ctl = [f"{build}/services/asoctl/asoctl", "--scheduler", f"127.0.0.1:{stack.base + 2}",
           "--ingest", stack.ingest]
    try:
        up = stack.local_stack("up", "--no-deps", "--no-build", "--no-demo", check=False)
        if up.returncode != 0:
            sys.exit(f"aso-local up failed:\n{up.stdout}\n{up.stderr}")
        pids = {s: int(open(f"{DIR}/run/{s}.pid").read()) for s in SERVICES}

        # Latency on an idle system.
        src_dir = f"{DIR}/sites/site-a/root/data/store/temp/user/bench"
        os.makedirs(src_dir, exist_ok=True)
        to_start, to_event, rtt = [], [], []
        for i in range(args.samples):
            with open(f"{src_dir}/l_{i}.root", "wb") as f:
                f.write(os.urandom(1024))
            t = time.time()
            subprocess.run(ctl + ["whoami"], check=True, capture_output=True, env=stack.client_env)
            rtt.append(time.time() - t)
            task = f"lat-{i}"
            r = stack.submit("--task", task, f"{stack.site_a}/store/temp/user/bench/l_{i}.root",
                             f"{stack.site_b}/store/user/bench/l_{i}.root")
            replied = time.time()
            if r.returncode != 0:
                sys.exit(f"submission failed: {r.stderr}")
            w = stack.submit("--task", task, "--wait", "--timeout", "1m")
            evented = time.time()
            if w.returncode != 0:
                sys.exit(f"wait failed: {w.stdout} {w.stderr}")
            started, finished = (float(x) for x in stack.sql(
                "SELECT extract(epoch FROM a.started) || ' ' || extract(epoch FROM a.finished) FROM attempts a "
                f"JOIN transfers t ON t.id = a.transfer_id WHERE t.task_id = '{task}'").split())
            to_start.append(started - replied)
            to_event.append(evented - finished)

        # Memory with a large queue: idle peaks first, then the queue on a paused link for a minute.
        idle = {s: peak_rss_mib(p) for s, p in pids.items()}
        subprocess.run(ctl + ["links", "pause", "site-a", "site-b"], check=True, capture_output=True,
                       env=stack.client_env)
        t = time.time()
        stack.sql("INSERT INTO tasks (task_id, username, created, updated) VALUES ('mem', 'alice', now(), now())")
        stack.sql(
            "INSERT INTO transfers (idempotency_key, task_id, username, source_site, source_url, destination_site, "
            "destination_url, size_bytes, priority, not_before, created, updated) "
            f"SELECT 'm' || g, 'mem', 'alice', 'site-a', '{stack.site_a}/store/temp/m/' || g, 'site-b', "
            f"'{stack.site_b}/store/user/m/' || g, 1024, 3, now(), now(), now() "
            f"FROM generate_series(1, {args.queued}) g")
        insert_s = time.time() - t
        time.sleep(60)
        loaded = {s: peak_rss_mib(p) for s, p in pids.items()}
        queued = int(stack.sql("SELECT count(*) FROM transfer_queue"))
    finally:
        stack.local_stack("down", check=False)
        shutil.rmtree(DIR, ignore_errors=True)

    result = {
        "bench": "services",
        "samples": args.samples,
        "reply_to_copy_start_ms": {"p50": 1000 * pct(to_start, 0.5), "p99": 1000 * pct(to_start, 0.99)},
        "copy_end_to_watch_event_ms": {"p50": 1000 * pct(to_event, 0.5), "p99": 1000 * pct(to_event, 0.99)},
        "baseline_grpc_call_ms": {"p50": 1000 * pct(rtt, 0.5), "p99": 1000 * pct(rtt, 0.99)},
        "queued": queued,
        "queue_insert_seconds": insert_s,
        "peak_rss_mib_idle": idle,
        "peak_rss_mib_queued": loaded,
    }
    print(f"{'latency (idle system, ' + str(args.samples) + ' files)':44} {'p50':>9} {'p99':>9}")
    for key, name in (("reply_to_copy_start_ms", "SubmitTransfers reply -> copy start"),
                      ("copy_end_to_watch_event_ms", "copy end -> WatchTask event"),
                      ("baseline_grpc_call_ms", "baseline: one asoctl call (process + RPC)")):
        print(f"{name:44} {result[key]['p50']:7.0f}ms {result[key]['p99']:7.0f}ms")
    print(f"\n{'peak RSS (MiB)':20} {'idle':>8} {f'{queued:,} queued':>16}")
    for s in SERVICES:
        print(f"{s:20} {idle[s]:8.1f} {loaded[s]:16.1f}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
