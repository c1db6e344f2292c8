#!/usr/bin/env python3
"""Sustained load: submissions at a fixed rate for minutes while the files are copied, on the whole local stack.

Brings up the local stack (scripts/aso-local) in its own folder and ports; aso-load (bench/aso_load.cc) submits
1 KiB files (local disk -> site-a over XRootD, gfal2 in the adapter) at --rate files/s for --minutes, in batches,
from two clients over TLS, while every service's resident memory (VmRSS) and the files done are sampled every
5 s. Then the queue drains. Reported: submission errors (must be 0), reply latency p50/p99, files copied per
second, every service's memory in the first and the last minute of the run (flat: the last minute's peak within
20% of the first's, after a minute of warm-up), and that every file ended DONE. One table and one JSON line.

  bench/sustained_load.py [--minutes 5] [--rate 500] [--build DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
from stage_out_e2e import fresh_stack  # noqa: E402

SERVICES = ("ingest", "scheduler", "fts-adapter", "bookkeeping", "monitoring")


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--rate", type=float, default=500, help="files per second")
    ap.add_argument("--drain-minutes", type=float, default=10, help="longest wait for the queue to empty")
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--dir", default="/var/tmp/aso-bench-load")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    stack = fresh_stack(REPO, build, args.dir)
    samples = []  # (seconds since start, {service: rss KiB}, done)
    ok = True
    try:
        stack.up()
        pids = {s: int(open(f"{stack.dir}/run/{s}.pid").read()) for s in SERVICES}
        sources = []
        for i in range(16):
            url = f"{stack.local}/store/temp/load/src_{i}.root"
            stack.write_source(url, 1024)
            sources.append(url)
        user = stack.client_env.get("USER") or os.environ.get("USER", "root")
        load = subprocess.Popen(
            [f"{build}/bench/aso-load", "--ingest", stack.ingest, "--rate", str(args.rate), "--batch", "100",
             "--clients", "2", "--duration", f"{int(args.minutes * 60)}s", "--sources", ",".join(sources),
             "--destination", f"{stack.site_a}/store/user/{user}", "--run", "load"],
            env=stack.client_env, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        start = time.time()
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                done = int(stack.sql("SELECT count(*) FROM transfers WHERE state = 'DONE'"))
                samples.append((time.time() - start, {s: rss_kib(p) for s, p in pids.items()}, done))
                stop.wait(5)

        sampler = threading.Thread(target=sample)
        sampler.start()
        out, _ = load.communicate(timeout=args.minutes * 60 + 600)
        submitted_at = time.time() - start
        result = json.loads(out.strip().splitlines()[-1])
        deadline = time.time() + args.drain_minutes * 60
        while time.time() < deadline and stack.sql("SELECT count(*) FROM transfers WHERE live") != "0":
            time.sleep(5)
        drained_at = time.time() - start
        stop.set()
        sampler.join()
        total = int(stack.sql("SELECT count(*) FROM transfers"))
        done = int(stack.sql("SELECT count(*) FROM transfers WHERE state = 'DONE'"))
        attempts = int(stack.sql("SELECT count(*) FROM attempts"))

        # Memory: the first minute after a minute of warm-up against the last minute of submissions.
        during = [s for s in samples if s[0] <= submitted_at]
        warm = [s for s in during if 60 <= s[0] < 120] or during[: max(1, len(during) // 3)]
        last = [s for s in during if s[0] >= submitted_at - 60] or during[-max(1, len(during) // 3):]
        memory = {}
        for s in SERVICES:
            first_peak = max(x[1][s] for x in warm) / 1024
            last_peak = max(x[1][s] for x in last) / 1024
            memory[s] = {"first_mib": round(first_peak, 1), "last_mib": round(last_peak, 1),
                         "flat": last_peak <= first_peak * 1.2 + 2}
        copy_rate = done / drained_at if drained_at > 0 else 0
        checks = {"no submission errors": result["errors"] == 0,
                  "every file submitted is in the database": total == result["files"],
                  "every file DONE": done == total,
                  "memory flat": all(m["flat"] for m in memory.values()) if args.minutes >= 3 else True}
        ok = all(checks.values())

        print(f"\nSustained load: {args.rate:.0f} files/s asked for {args.minutes:g} min, 1 KiB files local disk -> "
              "site-a (XRootD), 2 clients over TLS")
        print(f"  submitted            {result['files']} files at {result['rate']:.1f} files/s, "
              f"{result['errors']} errors ({result['calls']} calls)")
        print(f"  reply latency        p50 {result['latency_p50_ms']:.1f} ms, p99 {result['latency_p99_ms']:.1f} ms, "
              f"max {result['latency_max_ms']:.1f} ms")
        print(f"  copied               {done} of {total} DONE ({attempts} attempts), all done {drained_at:.0f} s "
              f"after the start ({copy_rate:.0f} files/s)")
        print(f"  {'service':<14}{'RSS first min':>14}{'RSS last min':>14}  flat")
        for s, m in memory.items():
            print(f"  {s:<14}{m['first_mib']:>11.1f} MiB{m['last_mib']:>11.1f} MiB  {'yes' if m['flat'] else 'NO'}")
        for what, passed in checks.items():
            print(f"  {'ok' if passed else 'FAILED'}: {what}")
        print(json.dumps({"bench": "sustained_load", "minutes": args.minutes, "rate_asked": args.rate,
                          "submitted": result["files"], "rate": result["rate"], "errors": result["errors"],
                          "latency_p50_ms": result["latency_p50_ms"], "latency_p99_ms": result["latency_p99_ms"],
                          "done": done, "attempts": attempts, "drained_s": round(drained_at), "memory": memory,
                          "ok": ok}))
    finally:
        stack.teardown(args.keep or not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
