#!/usr/bin/env python3
"""One table and one JSON file from the benchmarks' output: every `{"bench": ...}` line of the log bench/run
writes, each figure next to the baseline measured in the same run and their ratio.

  bench/summary.py LOG --json OUT.json
"""
import argparse
import json
import sys


def rows(r):
    """(figure, ASO's value, baseline, unit) for one benchmark's result."""
    b = r["bench"]
    if b == "store":
        n = f"{r['rows']:,}"
        return [
            (f"store: insert {n} transfer requests, 1 writer", r["insert_1_writer_rows_per_s"], r["copy_rows_per_s"],
             "rows/s", "raw COPY"),
            (f"store: insert {n} transfer requests, 4 writers", r["insert_4_writers_rows_per_s"],
             r["copy_rows_per_s"], "rows/s", "raw COPY"),
            ("store: claim cycle, full queue vs 10k queued", r["claim_full_queue_rows_per_s"],
             r["claim_10k_queue_rows_per_s"], "rows/s", "10k queued"),
        ]
    if b == "ingest":
        n = f"{r['files']:,}"
        return [
            (f"ingest: SubmitTransfers over gRPC+TLS, {n} files, 1 client", r["submit_1_client_files_per_s"],
             r["copy_rows_per_s"], "files/s", "raw COPY"),
            (f"ingest: SubmitTransfers over gRPC+TLS, {n} files, 4 clients", r["submit_4_clients_files_per_s"],
             r["copy_rows_per_s"], "files/s", "raw COPY"),
        ]
    if b == "scheduler":
        return [
            (f"scheduler: dispatch decisions, {r['files']:,} queued ({r['links']:,} links, {r['users']:,} users)",
             r["decisions_per_s"], r["decisions_per_s_10k"], "/s", "10k queued (about one per link)"),
            ("scheduler: idle latency, new file -> dispatched (p50 ms)", r["latency_p50_ms"], None, "ms", ""),
            ("scheduler: peak memory with the full queue (MiB)", r["peak_memory_mib"], None, "MiB", ""),
        ]
    if b == "copy":
        return [
            (f"copy: one {r['large_mib']} MiB file, gfal2 backend vs xrdcp", r["gfal2_mb_per_s"], r["xrdcp_mb_per_s"],
             "MB/s", "xrdcp"),
            (f"copy: {r['small_files']:,} files of 1 KiB, gfal2 backend with {r['workers']} copiers",
             r["gfal2_small_files_per_s"], r["xrdcp_small_files_per_s"], "files/s", "xrdcp, a process per file"),
        ]
    if b == "stage_out":
        return [(f"end to end: {r['files']:,} files of 1 KiB through the five services",
                 r["stage_out_files_per_s"], r["copier_files_per_s"], "files/s", "copier alone")]
    if b == "services":
        base = r["baseline_grpc_call_ms"]["p50"]
        out = [
            ("latency: SubmitTransfers reply -> copy start (p50 ms)", r["reply_to_copy_start_ms"]["p50"], base, "ms",
             "one gRPC call"),
            ("latency: SubmitTransfers reply -> copy start (p99 ms)", r["reply_to_copy_start_ms"]["p99"],
             r["baseline_grpc_call_ms"]["p99"], "ms", "one gRPC call"),
            ("latency: copy end -> WatchTask event (p50 ms)", r["copy_end_to_watch_event_ms"]["p50"], base, "ms",
             "one gRPC call"),
            ("latency: copy end -> WatchTask event (p99 ms)", r["copy_end_to_watch_event_ms"]["p99"],
             r["baseline_grpc_call_ms"]["p99"], "ms", "one gRPC call"),
        ]
        for s, mib in r["peak_rss_mib_queued"].items():
            out.append((f"memory: {s} peak RSS with {r['queued']:,} queued (MiB)", mib, r["peak_rss_mib_idle"][s],
                        "MiB", "idle"))
        return out
    if b == "sim":
        return [
            (f"simulator: {r['scenario']}, {r['simulated_hours']:.1f} h simulated, wall seconds", r["wall_seconds"],
             None, "s", ""),
            (f"simulator: {r['scenario']}, files DONE per day", r["files_per_day"], None, "files/day", ""),
            (f"simulator: {r['scenario']}, files lost", r["lost"], None, "", ""),
            (f"simulator: {r['scenario']}, queue time p50 (s)", r["queue_p50_s"], None, "s", ""),
            (f"simulator: {r['scenario']}, queue time p99 (s)", r["queue_p99_s"], None, "s", ""),
        ]
    return []


def fmt(v):
    if v is None:
        return ""
    if isinstance(v, float) and abs(v) < 100:
        return f"{v:,.1f}"
    return f"{v:,.0f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    results = []
    with open(args.log) as f:
        for line in f:
            line = line.strip()
            if line.startswith('{"bench"'):
                results.append(json.loads(line))
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    table = [r for res in results for r in rows(res)]
    width = max([len(t[0]) for t in table] + [10])
    print(f"{'figure':<{width}} {'ASO':>12} {'baseline':>12} {'ratio':>7}  baseline is")
    for name, value, base, _unit, base_name in table:
        ratio = f"{value / base:7.2f}" if base else ""
        print(f"{name:<{width}} {fmt(value):>12} {fmt(base):>12} {ratio:>7}  {base_name}")
    print(f"\n{len(results)} benchmarks; JSON: {args.json}")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
