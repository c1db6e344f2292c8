#!/usr/bin/env python3
"""Two processes of every service against one PostgreSQL and one set of storage endpoints, on the local stack.

Replica A of each service is the local stack's (scripts/aso-local up); replica B is started beside it on its
own ports, wired to the other B services (scheduler B -> adapter B -> bookkeeping B). 5,000 files of 1 KiB,
to be published in a dataset, are submitted half through ingest A and half through ingest B, on a link whose
ceiling is 40 files in flight. When a third of them are DONE, replica A of every service is killed (SIGKILL),
the adapter while it holds leased files; replica B finishes the work (the dead adapter's leased files are
copied by adapter B once their leases run out: the copy timeout is 10 s here, so a lease is 50 s).

The checks read the database and the storage, not the services' claims:
  - every file DONE, its copy at the destination with the source's adler32;
  - no file dispatched twice: no (transfer, attempt) in two of the adapter's jobs;
  - no file copied twice: one successful copy and one DONE attempt per file;
  - no file published twice: one catalog entry per file and per stored copy, one announcement key per file;
  - the throttle never exceeded: files in flight on the link, sampled every 50 ms, never above 40;
  - both adapters copied before the kill, replica B dispatched, copied and applied after it (its own
    metrics), and B survived.

  replicas_e2e.py --repo REPO --build BUILD [--files 5000] [--keep]
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stage_out_e2e import (CatalogReceiver, Stack, adler32_of, free_port_base, kill_service,  # noqa: E402
                           log, wait_for)

SERVICES = ("ingest", "scheduler", "fts-adapter", "bookkeeping", "monitoring")
BINARY = {"ingest": "ingest/aso-ingest", "scheduler": "scheduler/aso-scheduler",
          "fts-adapter": "fts_adapter/aso-fts-adapter", "bookkeeping": "bookkeeping/aso-bookkeeping",
          "monitoring": "monitoring/aso-monitoring"}
LINK_LIMIT = 40
DATASET = "/Replicas/alice-replicas-v1/USER"


def metric(url, name):
    """The sum of a metric's series on a /metrics page (0 when absent or unreachable)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)$", line)
        if m:
            total += float(m.group(2))
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--keep", action="store_true", help="leave the stack and files for inspection")
    args = ap.parse_args()
    repo, build = os.path.abspath(args.repo), os.path.abspath(args.build)

    workdir = tempfile.mkdtemp(prefix="aso-replicas-")
    os.chmod(workdir, 0o755)
    base = free_port_base()
    stack = Stack(repo, build, workdir, base)
    # Short leases, so the dead adapter's files run again within a minute; a few copy workers per adapter.
    stack.env.update(ASO_COPY_TIMEOUT="10s", ASO_COPY_WORKERS="4")
    # Announcements the killed bookkeeping took for delivery are sent again by the other after 15 s.
    stack.env.update(ASO_PUBLISH_HOLD="15s")
    catalog = CatalogReceiver(base + 47)
    stack.env.update(ASO_PUBLISH_WEBHOOK=catalog.url)
    grpc_b = {s: base + 21 + i for i, s in enumerate(SERVICES)}
    metrics_b = {s: base + 41 + i for i, s in enumerate(SERVICES)}
    dsn = f"postgresql://postgres@127.0.0.1:{stack.pg_port}/aso"
    replicas_b = {}
    failures = []

    def check(cond, what):
        log(("ok: " if cond else "FAILED: ") + what)
        if not cond:
            failures.append(what)

    def count(query):
        return int(stack.sql(query) or 0)

    def start_b(name):
        peer = {"scheduler": ["--adapter", f"127.0.0.1:{grpc_b['fts-adapter']}"],
                "fts-adapter": ["--bookkeeping", f"127.0.0.1:{grpc_b['bookkeeping']}"],
                "bookkeeping": ["--adapter", f"127.0.0.1:{grpc_b['fts-adapter']}"]}.get(name, [])
        cmd = [f"{build}/services/{BINARY[name]}", "--db", dsn, "--listen", f"127.0.0.1:{grpc_b[name]}",
               "--metrics_listen", f"127.0.0.1:{metrics_b[name]}", *peer, *stack.service_tls,
               "--jwt_keys", f"{stack.certs}/token-issuer.pem", "--jwt_issuers", "https://aso.dev-certs.invalid",
               "--jwt_audience", "aso"]
        replicas_b[name] = subprocess.Popen(cmd, env=stack.env, stdout=open(f"{workdir}/logs/{name}-b.log", "w"),
                                            stderr=subprocess.STDOUT, start_new_session=True)

    peak = {"in_flight": 0, "samples": 0}
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            try:
                n = count("SELECT count(*) FROM transfer_live WHERE source_site = 'local-disk' "
                          "AND destination_site = 'site-b'")
                peak["in_flight"] = max(peak["in_flight"], n)
                peak["samples"] += 1
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        stack.up()
        ctl = [f"{build}/services/asoctl/asoctl", "--ingest", stack.ingest, "--scheduler", f"127.0.0.1:{base + 2}",
               "--bookkeeping", f"127.0.0.1:{base + 4}"]
        r = subprocess.run([*ctl, "links", "set-limit", "local-disk", "site-b", str(LINK_LIMIT)],
                           env=stack.client_env, text=True, capture_output=True)
        check(r.returncode == 0, f"the link's ceiling set to {LINK_LIMIT} ({r.stderr.strip()})")
        for name in SERVICES:
            start_b(name)
        up_b = wait_for("replica B of every service", lambda: all(
            metric(f"http://127.0.0.1:{metrics_b[s]}/metrics", "aso_build_info") > 0 for s in SERVICES), 30)
        check(up_b, "replica B of every service serves")

        # The files: 1 KiB each on local disk, to site-b, published in one dataset; five tasks, alternately
        # through ingest A and ingest B.
        plan = []
        for i in range(args.files):
            src = f"{stack.local}/store/temp/user/alice/replicas/f_{i}.root"
            dst = f"{stack.site_b}/store/user/alice/replicas/f_{i}.root"
            path = stack.path_of(src)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(os.urandom(1024))
            plan.append((src, dst, adler32_of(path)))
        sampler.start()
        tasks = 5
        per_task = (args.files + tasks - 1) // tasks
        for t in range(tasks):
            request = {"task_id": f"replicas-{t}", "user": "alice",
                       "files": [{"source_url": s, "destination_url": d, "publish": True, "dataset": DATASET}
                                 for s, d, _ in plan[t * per_task:(t + 1) * per_task]]}
            with open(f"{workdir}/task-{t}.json", "w") as f:
                json.dump(request, f)
            via = stack.ingest if t % 2 == 0 else f"127.0.0.1:{grpc_b['ingest']}"
            r = stack.submit("--json", f"{workdir}/task-{t}.json", "--ingest", via)
            check(r.returncode == 0, f"task replicas-{t} submitted through {via} ({r.stderr.strip()[-200:]})")

        third = args.files // 3
        check(wait_for("a third of the files DONE", lambda: count(
            "SELECT count(*) FROM transfers WHERE state = 'DONE'") >= third, 300), f"{third} files DONE")
        worked = {
            "scheduler B dispatched": metric(f"http://127.0.0.1:{metrics_b['scheduler']}/metrics",
                                             "aso_scheduler_files_dispatched_total"),
            "adapter B copied": metric(f"http://127.0.0.1:{metrics_b['fts-adapter']}/metrics",
                                       "aso_adapter_copies_total"),
            "bookkeeping B applied": metric(f"http://127.0.0.1:{metrics_b['bookkeeping']}/metrics",
                                            "aso_bookkeeping_outcomes_total"),
            "scheduler A dispatched": metric(f"http://127.0.0.1:{base + 12}/metrics",
                                             "aso_scheduler_files_dispatched_total"),
            "adapter A copied": metric(f"http://127.0.0.1:{base + 13}/metrics", "aso_adapter_copies_total"),
        }
        log(f"before the kill: {worked}")
        check(worked["scheduler A dispatched"] + worked["scheduler B dispatched"] > 0 and
              worked["adapter A copied"] > 0 and worked["adapter B copied"] > 0,
              "both adapters copied files before the kill; the schedulers dispatched")
        # The adapter A is killed while it holds leases (copies in its hands), then the rest of replica A.
        pid_a = int(open(f"{workdir}/run/fts-adapter.pid").read())
        held_by_a = f"SELECT transfer_id FROM backend_job_files WHERE state = 'ACTIVE' AND lease_owner LIKE '%/{pid_a}/%'"
        leased = []
        deadline = time.time() + 60
        while not leased and time.time() < deadline:
            leased = [int(x) for x in stack.sql(held_by_a).split()]
        os.kill(pid_a, signal.SIGKILL)
        check(bool(leased), f"adapter A killed holding {len(leased)} leased file(s)")
        orphaned = [int(x) for x in stack.sql(held_by_a).split()] if leased else []
        log(f"adapter A held {leased} at its kill; {orphaned} still leased to it after")
        done_at_kill = count("SELECT count(*) FROM transfers WHERE state = 'DONE'")
        for name in SERVICES:
            kill_service(workdir, name)
        log(f"replica A of every service killed with {done_at_kill} files DONE")

        finished = wait_for("every file DONE", lambda: count(
            "SELECT count(*) FROM transfers WHERE state = 'DONE'") == args.files, 600)
        check(finished, f"all {args.files} files DONE after the kill, by replica B")
        check(wait_for("every file published and announced", lambda: count(
            "SELECT count(*) FROM catalog_entries") >= args.files and
            len({k for k, _ in catalog.received}) >= args.files, 180), "every file catalogued and announced")
        sampling.set()
        sampler.join(5)

        check(count("SELECT count(*) FROM transfers WHERE state <> 'DONE'") == 0, "no file in another state")
        dispatched_twice = count("SELECT count(*) FROM (SELECT transfer_id, attempt FROM backend_job_files "
                                 "GROUP BY 1, 2 HAVING count(*) > 1) x")
        check(dispatched_twice == 0, f"no file dispatched twice under one attempt ({dispatched_twice})")
        copied_twice = count("SELECT count(*) FROM (SELECT transfer_id FROM backend_job_files "
                             "WHERE state = 'FINISHED' GROUP BY 1 HAVING count(*) > 1) x")
        check(copied_twice == 0, f"no file copied successfully twice ({copied_twice})")
        done_twice = count("SELECT count(*) FROM (SELECT transfer_id FROM attempts WHERE result = 'DONE' "
                           "GROUP BY 1 HAVING count(*) <> 1) x")
        check(done_twice == 0, f"one DONE attempt per file ({done_twice} others)")
        entries = count("SELECT count(*) FROM catalog_entries")
        distinct = count("SELECT count(DISTINCT transfer_id) FROM catalog_entries")
        urls = count("SELECT count(DISTINCT (site, url)) FROM catalog_entries")
        check(entries == args.files == distinct == urls,
              f"one catalog entry per file and per stored copy ({entries} entries, {distinct} files, {urls} copies)")
        keys = [k for k, _ in catalog.received]
        check(len(set(keys)) == args.files,
              f"one announcement key per file ({len(set(keys))} keys, {len(keys)} deliveries)")
        check(0 < peak["in_flight"] <= LINK_LIMIT,
              f"files in flight on the link never above {LINK_LIMIT} (peak {peak['in_flight']} over "
              f"{peak['samples']} samples)")
        bad = [d for _, d, a in plan if not os.path.exists(stack.path_of(d)) or adler32_of(stack.path_of(d)) != a]
        check(not bad, f"every destination holds its source's bytes ({len(bad)} missing or different)")
        # (A file adapter A finished in the instant before the kill keeps A's lease; the others were orphaned.)
        if orphaned:
            ids = ",".join(map(str, orphaned))
            taken_over = count(f"SELECT count(*) FROM backend_job_files WHERE transfer_id IN ({ids}) "
                               f"AND state = 'FINISHED' AND lease_owner NOT LIKE '%/{pid_a}/%'")
            check(taken_over == len(orphaned), f"the {len(orphaned)} file(s) adapter A was copying when it died "
                                               f"were copied by adapter B once its leases ran out ({taken_over})")
        retried = count("SELECT count(*) FROM attempts WHERE result <> 'DONE'")
        log(f"{retried} attempt(s) did not end DONE (copies cut short by the kill)")
        after = {what: metric(f"http://127.0.0.1:{metrics_b[svc]}/metrics", name) for what, svc, name in (
            ("scheduler B dispatched", "scheduler", "aso_scheduler_files_dispatched_total"),
            ("adapter B copied", "fts-adapter", "aso_adapter_copies_total"),
            ("bookkeeping B applied", "bookkeeping", "aso_bookkeeping_outcomes_total"))}
        log(f"at the end: {after}")
        check(all(after[w] > worked[w] for w in after), "replica B dispatched, copied and applied after the kill")
        check(all(p.poll() is None for p in replicas_b.values()), "replica B of every service still runs")
    finally:
        sampling.set()
        catalog.stop()
        stack.teardown(args.keep, list(replicas_b.values()))

    if failures:
        log(f"{len(failures)} check(s) FAILED")
        return 1
    log("replicas e2e: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
