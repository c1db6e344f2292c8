#!/usr/bin/env python3
"""An HTML report (plots embedded as PNG) of aso-sim results.

  sim_report.py --out report.html result1.json [result2.json ...]

Per scenario: the summary figures, files arriving and finishing per hour with the files in flight, the
distribution of the users' median queue times, and each site's utilization against its limit.
"""
import argparse
import base64
import html
import io
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def section(r):
    rows = [("simulated hours", f"{r['simulated_hours']:.1f}"), ("wall seconds", f"{r['wall_seconds']:.1f}"),
            ("submitted", r["submitted"]), ("DONE", r["done"]), ("FAILED", r["failed"]),
            ("not finished", r["not_finished"]), ("attempts", r["attempts"]),
            ("queue time p50 / p90 / p99 (s)",
             " / ".join(f"{r['queue_seconds'][k]:.0f}" for k in ("p50", "p90", "p99"))),
            ("fairness (Jain)", f"{r['fairness_jain']:.4f}"), ("files lost", r["lost"])]
    out = [f"<h2>{html.escape(r['scenario'])}</h2><p>{html.escape(r['description'])}</p><table>"]
    out += [f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows]
    out.append("</table>")

    hourly = r["hourly"]
    if hourly:
        fig, ax = plt.subplots(figsize=(8, 3))
        hours = [h["hour"] for h in hourly]
        ax.plot(hours, [h["arrived"] for h in hourly], label="files arrived")
        ax.plot(hours, [h["done"] for h in hourly], label="files done")
        ax.plot(hours, [h["failed_attempts"] for h in hourly], label="failed attempts")
        ax.plot(hours, [h["in_flight"] for h in hourly], label="in flight (end of hour)", linestyle="--")
        ax.set_xlabel("hour")
        ax.set_ylabel("files per hour")
        ax.legend(fontsize=8)
        out.append(png(fig))

    users = list(r["queue_p50_by_user"].values())
    if users:
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.hist(users, bins=40)
        ax.set_xlabel("median queue time of a user (s)")
        ax.set_ylabel("users")
        out.append(png(fig))

    util = r["site_utilization"]
    if util:
        fig, ax = plt.subplots(figsize=(8, 3))
        names = list(util)
        ax.bar(range(len(names)), [100 * util[n] for n in names])
        ax.set_xticks(range(len(names)), [n.replace("T2_", "") for n in names], rotation=90, fontsize=6)
        ax.set_ylabel("mean outbound use of the limit (%)")
        ax.set_ylim(0, 100)
        out.append(png(fig))
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("results", nargs="+")
    args = parser.parse_args()
    body = [section(json.load(open(path))) for path in args.results]
    with open(args.out, "w") as f:
        f.write("<!doctype html><meta charset=utf-8><title>aso-sim</title>"
                "<style>body{font-family:sans-serif;max-width:60em}td{padding:0 1em}</style>"
                "<h1>aso-sim results</h1>" + "\n".join(body))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
