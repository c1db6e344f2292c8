#!/usr/bin/env python3
"""SIGKILL a random service at a random moment of a 10,000-file run, restart it, repeat; then check the
guarantees of ../shared/DESIGN.md from the database and the storage, not from the services' own claims.

The whole local stack (scripts/aso-local: PostgreSQL, two XRootD sites and a local-disk site, the five
services) plus the FTS3 test server: 90% of the files go local-disk -> site-b, copied in-process with gfal2,
from a site that deletes its temporary copies once the destination is verified; 10% go site-a -> site-b
through the FTS3 test server. Every file asks to be published in one dataset, announced to a webhook.

Checked at the end:
  - every file terminal (none left QUEUED, SUBMITTING, SUBMITTED or ACTIVE), and DONE;
  - no destination written by two copies: at most one finished copy per file in the adapter's jobs, one
    FTS3 job per bulk job sent to FTS3;
  - no outcome applied twice: exactly one DONE attempt per DONE file;
  - no file published twice: one catalog entry per DONE file, one announcement key per file;
  - no source deleted before its destination was verified: every source that is gone belongs to a DONE file
    whose destination holds the source's adler32; every local-disk source is eventually deleted.
Prints the kills per service and the figures.

  tests/chaos/kill_restart.py --repo REPO --build BUILD [--files 10000] [--cycles 10] [--seed N] [--keep]

CI runs 10 cycles (ctest chaos_kill_restart); the long run is `--cycles 100` (docs/reliability.md).
"""
import argparse
import json
import os
import random
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO_TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e")
sys.path.insert(0, REPO_TESTS)
from stage_out_e2e import (CatalogReceiver, Stack, adler32_of, free_port_base, kill_service,  # noqa: E402
                           log, wait_for)

SERVICES = ("ingest", "scheduler", "fts-adapter", "bookkeeping", "monitoring")
METRICS_OFFSET = {s: 11 + i for i, s in enumerate(SERVICES)}
DATASET = "/Chaos/alice-chaos-v1/USER"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--keep", action="store_true", help="leave the stack and files for inspection")
    args = ap.parse_args()
    repo, build = os.path.abspath(args.repo), os.path.abspath(args.build)
    rng = random.Random(args.seed)
    log(f"seed {args.seed} (rerun the same kills with --seed {args.seed})")

    workdir = tempfile.mkdtemp(prefix="aso-chaos-")
    os.chmod(workdir, 0o755)
    base = free_port_base()
    stack = Stack(repo, build, workdir, base)
    certs = stack.certs
    fts3_port = base + 46
    fts3 = f"https://127.0.0.1:{fts3_port}"
    catalog = CatalogReceiver(base + 47)
    stack.env.update(ASO_BACKEND_ROUTES=f"site-a:site-b={fts3}", ASO_FTS3_CERT=f"{certs}/aso-service.pem",
                     ASO_FTS3_KEY=f"{certs}/aso-service.key", ASO_FTS3_CA_FILE=f"{certs}/ca.pem",
                     ASO_FTS3_POLL_INTERVAL="500ms", ASO_COPY_WORKERS="4", ASO_PUBLISH_WEBHOOK=catalog.url,
                     ASO_PUBLISH_HOLD="10s", ASO_CLEANUP_HOLD="10s", ASO_CLEANUP_INTERVAL="1s")
    failures = []
    fts3_server = None

    def check(cond, what):
        log(("ok: " if cond else "FAILED: ") + what)
        if not cond:
            failures.append(what)

    def count(query):
        return int(stack.sql(query) or 0)

    def fts3_call(method, path):
        ctx = ssl.create_default_context(cafile=f"{certs}/ca.pem")
        ctx.load_cert_chain(f"{certs}/aso-service.pem", f"{certs}/aso-service.key")
        req = urllib.request.Request(fts3 + path, method=method)
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def serving(service):
        with urllib.request.urlopen(f"http://127.0.0.1:{base + METRICS_OFFSET[service]}/metrics", timeout=2):
            return True

    live = "SELECT count(*) FROM transfers WHERE state IN ('QUEUED', 'SUBMITTING', 'SUBMITTED', 'ACTIVE')"
    try:
        log(f"FTS3 test server on {fts3_port}")
        stack.up()
        fts3_server = stack.start_fts3(fts3_port)
        if not wait_for("the FTS3 test server", lambda: fts3_call("GET", "/whoami") is not None, 20):
            raise RuntimeError("the FTS3 test server did not start")
        ctl = [f"{build}/services/asoctl/asoctl", "--ingest", stack.ingest, "--scheduler", f"127.0.0.1:{base + 2}",
               "--bookkeeping", f"127.0.0.1:{base + 4}"]
        r = subprocess.run([*ctl, "sites", "set", "local-disk", "--prefix", f"{stack.local}/", "--cleanup_source"],
                           env=stack.client_env, text=True, capture_output=True)
        check(r.returncode == 0, f"local-disk deletes its temporary copies once verified ({r.stderr.strip()})")

        plan = []  # (source URL, destination URL, adler32)
        for i in range(args.files):
            via_fts3 = i % 10 == 9
            src = f"{stack.site_a if via_fts3 else stack.local}/store/temp/user/alice/chaos/f_{i}.root"
            dst = f"{stack.site_b}/store/user/alice/chaos/f_{i}.root"
            path = stack.path_of(src)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(os.urandom(1024 + i % 977))
            plan.append((src, dst, adler32_of(path)))
        per_task = 1000
        started = time.time()
        for t in range(0, args.files, per_task):
            request = {"task_id": f"chaos-{t // per_task}", "user": "alice",
                       "files": [{"source_url": s, "destination_url": d, "checksum": f"adler32:{a}",
                                  "publish": True, "dataset": DATASET} for s, d, a in plan[t:t + per_task]]}
            with open(f"{workdir}/task-{t}.json", "w") as f:
                json.dump(request, f)
            r = stack.submit("--json", f"{workdir}/task-{t}.json")
            check(r.returncode == 0, f"task chaos-{t // per_task} submitted ({r.stderr.strip()[-200:]})")

        kills = {s: 0 for s in SERVICES}
        during = 0
        for cycle in range(args.cycles):
            time.sleep(rng.uniform(0.3, 2.0))
            service = rng.choice(SERVICES)
            remaining = count(live)
            during += remaining > 0
            kill_service(workdir, service)
            kills[service] += 1
            time.sleep(rng.uniform(0.0, 1.0))
            r = stack.local_stack("start", service, check=False)
            back = wait_for(f"{service} to serve again", lambda s=service: serving(s), 30)
            log(f"cycle {cycle + 1}: killed and restarted {service} with {remaining} files live "
                f"({'serving' if back else 'NOT serving'})")
            if not back:
                check(False, f"{service} serves again after its restart ({r.stderr.strip()[-200:]})")
        check(during >= min(args.cycles, 5), f"{during} of {args.cycles} kills hit the run while files were live")

        drained = wait_for("every file terminal", lambda: count(live) == 0, 900)
        elapsed = time.time() - started
        check(drained, f"every file terminal after {args.cycles} kills ({elapsed:.0f} s)")
        done = count("SELECT count(*) FROM transfers WHERE state = 'DONE'")
        failed = stack.sql("SELECT string_agg(DISTINCT failure_class || ': ' || failure_reason, ' | ') "
                           "FROM transfers WHERE state <> 'DONE'")
        check(done == args.files, f"every file DONE ({done}/{args.files}{'; ' + failed if failed else ''})")
        local_done = sum(1 for s, _, _ in plan if s.startswith("file://"))
        wait_for("the local sources cleaned up", lambda: count(
            "SELECT count(*) FROM transfers WHERE source_site = 'local-disk' AND cleanup_state = 'DONE'")
            >= local_done, 180)
        wait_for("every announcement", lambda: len({k for k, _ in catalog.received}) >= done, 120)

        copied_twice = count("SELECT count(*) FROM (SELECT transfer_id FROM backend_job_files "
                             "WHERE state = 'FINISHED' GROUP BY 1 HAVING count(*) > 1) x")
        check(copied_twice == 0, f"no destination written by two finished copies ({copied_twice})")
        in_two = count("SELECT count(*) FROM (SELECT transfer_id, attempt FROM backend_job_files "
                       "GROUP BY 1, 2 HAVING count(*) > 1) x")
        check(in_two == 0, f"no file in two backend jobs under one attempt ({in_two})")
        # The FTS3 test server is this run's alone: every job it holds is one the adapter recorded, once.
        in_fts3 = sorted(j["job_id"] for j in fts3_call(
            "GET", "/jobs?state_in=SUBMITTED,ACTIVE,FINISHED,FAILED,FINISHEDDIRTY,CANCELED&fields=job_id&limit=500"))
        recorded = sorted(stack.sql("SELECT external_id FROM backend_jobs WHERE backend LIKE 'fts3:%' "
                                    "AND external_id IS NOT NULL").split())
        check(in_fts3 == recorded and len(set(in_fts3)) == len(in_fts3),
              f"one FTS3 job per bulk job sent to FTS3 ({len(in_fts3)} in FTS3, {len(recorded)} recorded)")
        applied_twice = count("SELECT count(*) FROM transfers t WHERE state = 'DONE' AND (SELECT count(*) "
                              "FROM attempts a WHERE a.transfer_id = t.id AND a.result = 'DONE') <> 1")
        check(applied_twice == 0, f"exactly one DONE attempt per DONE file ({applied_twice} others)")
        entries = count("SELECT count(*) FROM catalog_entries")
        distinct = count("SELECT count(DISTINCT transfer_id) FROM catalog_entries")
        check(entries == distinct == done, f"one catalog entry per DONE file ({entries} entries, {distinct} files)")
        keys = {k for k, _ in catalog.received}
        check(len(keys) == done, f"one announcement key per file ({len(keys)} keys, "
                                 f"{len(catalog.received)} deliveries)")
        states = {}
        for row in stack.sql("SELECT source_url || ' ' || state || ' ' || cleanup_state FROM transfers").splitlines():
            url, state, cleanup = row.rsplit(" ", 2)
            states[url] = (state, cleanup)
        early, bad_copy, not_cleaned = [], [], []
        for src, dst, a in plan:
            gone = not os.path.exists(stack.path_of(src))
            dst_path = stack.path_of(dst)
            verified = os.path.exists(dst_path) and adler32_of(dst_path) == a
            if gone and not (states.get(src, ("", ""))[0] == "DONE" and verified):
                early.append(src)
            if states.get(src, ("", ""))[0] == "DONE" and not verified:
                bad_copy.append(dst)
            if src.startswith("file://") and not gone:
                not_cleaned.append(src)
        check(not early, f"no source deleted before its destination was verified ({len(early)}: {early[:3]})")
        check(not bad_copy, f"every DONE file's destination holds its source's adler32 ({len(bad_copy)} not)")
        check(not not_cleaned, f"every local-disk source deleted once verified ({len(not_cleaned)} left)")
        attempts = count("SELECT count(*) FROM attempts")
        log(f"figures: {args.files} files, {args.cycles} kills {kills}, {elapsed:.0f} s to drain, "
            f"{attempts / max(args.files, 1):.3f} attempts per file")
    finally:
        catalog.stop()
        stack.teardown(args.keep, [fts3_server])

    if failures:
        log(f"{len(failures)} check(s) FAILED (seed {args.seed})")
        return 1
    log("chaos kill/restart: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
