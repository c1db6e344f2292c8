#!/usr/bin/env python3
"""The adapter and bookkeeping killed (SIGKILL) in the middle of a task, on the whole local stack.

One adapter serves two backends: local-disk -> site-b is copied in-process with gfal2, site-a -> site-b is
routed to the FTS3 test server (tests/fts3/fts3_server.py), whose copies are held until the adapter is
dead. Then:
  1. SIGKILL the adapter and bookkeeping while gfal2 copies run and FTS3 jobs are live;
  2. FTS3 finishes its jobs while the adapter is dead;
  3. the adapter comes back alone: it takes back its dead predecessor's leases, finishes the gfal2 files,
     re-polls the FTS3 jobs, and keeps every outcome while bookkeeping is down;
  4. bookkeeping comes back and receives the buffered outcomes.
Every file must end DONE with its checksum at the destination, with one attempt, one backend job and one
FTS3 job per bulk job (no duplicate submission), and every outcome applied once.
"""
import argparse
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stage_out_e2e import (MIB, CatalogReceiver, Stack, adler32_of, free_port_base, kill_service,  # noqa: E402
                           log, wait_for)

GFAL2_FILES = 240
FTS3_FILES = 60
TASK = "crash-e2e"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--build", required=True)
    parser.add_argument("--keep", action="store_true", help="leave the stack and files for inspection")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="aso-crash-")
    os.chmod(workdir, 0o755)
    base = free_port_base()
    stack = Stack(os.path.abspath(args.repo), os.path.abspath(args.build), workdir, base)
    fts3_port = base + 46
    fts3 = f"https://127.0.0.1:{fts3_port}"
    certs = stack.certs
    # Only the adapter reads these: site-a -> site-b goes to the FTS3 test server, the rest to gfal2.
    stack.env.update(ASO_BACKEND_ROUTES=f"site-a:site-b={fts3}", ASO_FTS3_CERT=f"{certs}/aso-service.pem",
                     ASO_FTS3_KEY=f"{certs}/aso-service.key", ASO_FTS3_CA_FILE=f"{certs}/ca.pem",
                     ASO_FTS3_POLL_INTERVAL="500ms", ASO_COPY_WORKERS="2")
    # The external catalog bookkeeping announces published files to.
    catalog = CatalogReceiver(base + 47)
    stack.env.update(ASO_PUBLISH_WEBHOOK=catalog.url)
    failures = []
    fts3_server = None

    def check(cond, what):
        log(("ok: " if cond else "FAILED: ") + what)
        if not cond:
            failures.append(what)

    def fts3_call(method, path, body=None):
        ctx = ssl.create_default_context(cafile=f"{certs}/ca.pem")
        ctx.load_cert_chain(f"{certs}/aso-service.pem", f"{certs}/aso-service.key")
        req = urllib.request.Request(fts3 + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def kill(service):
        kill_service(workdir, service)

    def count(query):
        return int(stack.sql(query) or 0)

    try:
        log(f"FTS3 test server on {fts3_port}")
        stack.up()
        fts3_server = stack.start_fts3(fts3_port)
        if not wait_for("the FTS3 test server", lambda: _answers(fts3_call), 20):
            raise RuntimeError("the FTS3 test server did not start")
        fts3_call("POST", "/_test/faults", {"pause_copies": True})

        # 240 files of 1 MiB local-disk -> site-b (gfal2) and 60 site-a -> site-b (FTS3).
        plan = []
        for i in range(GFAL2_FILES + FTS3_FILES):
            src_base = stack.local if i < GFAL2_FILES else stack.site_a
            src = f"{src_base}/store/temp/user/alice/crash/f_{i}.root"
            dst = f"{stack.site_b}/store/user/alice/crash/f_{i}.root"
            path = stack.path_of(src)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(os.urandom(MIB))
            plan.append((src, dst, adler32_of(path)))
        # The FTS3 files first: their jobs are live in FTS3 (copies held) before the gfal2 files start.
        with open(f"{workdir}/fts3.txt", "w") as f:
            for src, dst, _ in plan[GFAL2_FILES:]:
                f.write(f"{src} {dst} {MIB}\n")
        with open(f"{workdir}/gfal2.txt", "w") as f:
            for src, dst, _ in plan[:GFAL2_FILES]:
                f.write(f"{src} {dst} {MIB}\n")
        r = stack.submit("--task", TASK, "--user", "alice", "--files", f"{workdir}/fts3.txt")
        check(r.returncode == 0, f"{FTS3_FILES} files for FTS3 submitted ({r.stderr.strip()[-200:]})")
        fts3_live = ("SELECT count(*) FROM backend_job_files f JOIN backend_jobs b USING (job_id) "
                     "WHERE b.backend LIKE 'fts3:%' AND b.external_id IS NOT NULL")
        check(wait_for("FTS3 to hold files", lambda: count(fts3_live) > 0), "FTS3 jobs submitted")
        r = stack.submit("--task", TASK, "--user", "alice", "--files", f"{workdir}/gfal2.txt")
        check(r.returncode == 0, f"{GFAL2_FILES} files for gfal2 submitted ({r.stderr.strip()[-200:]})")
        gfal2_done = ("SELECT count(*) FROM backend_job_files f JOIN backend_jobs b USING (job_id) "
                      "WHERE b.backend = 'gfal2' AND f.state = 'FINISHED'")
        check(wait_for("gfal2 copies to run", lambda: count(gfal2_done) >= 10), "gfal2 copies running")
        kill("fts-adapter")
        kill("bookkeeping")
        done_at_kill = count(gfal2_done)
        leased = count("SELECT count(*) FROM backend_job_files WHERE in_process AND state = 'ACTIVE'")
        log(f"killed with {leased} gfal2 file(s) leased by the dead adapter")
        check(done_at_kill < GFAL2_FILES, f"the adapter was killed mid-task ({done_at_kill}/{GFAL2_FILES} "
                                          "gfal2 files copied)")
        fts3_call("POST", "/_test/faults", {"pause_copies": False})
        jobs = fts3_call("GET", "/jobs?state_in=SUBMITTED,ACTIVE,FINISHED,FAILED,FINISHEDDIRTY,CANCELED"
                                "&fields=job_id,job_state,job_metadata&limit=500")
        ours = [j for j in jobs if j.get("job_metadata", {}).get("task") == TASK]
        check(len(ours) >= 1, f"FTS3 holds the task's jobs ({len(ours)})")
        finished = wait_for("FTS3 to finish while the adapter is dead", lambda: all(
            fts3_call("GET", f"/jobs/{j['job_id']}")["job_state"] == "FINISHED" for j in ours), 60)
        check(finished, "FTS3 finished the jobs while the adapter was dead")

        # The adapter alone: everything gets copied and recorded, nothing reaches bookkeeping.
        stack.local_stack("start", "fts-adapter")
        in_adapter = count("SELECT count(*) FROM backend_job_files")
        all_terminal = wait_for("the restarted adapter to finish every file it holds",
                                lambda: count("SELECT count(*) FROM backend_job_files "
                                              "WHERE state IN ('SUBMITTED', 'ACTIVE')") == 0, 180)
        check(all_terminal, f"the restarted adapter copied the rest and re-polled FTS3's jobs ({in_adapter} files)")
        unreported = count("SELECT count(*) FROM backend_job_files WHERE state <> reported_state")
        not_done = count(f"SELECT count(*) FROM transfers WHERE task_id = '{TASK}' AND state <> 'DONE'")
        check(unreported > 0 and not_done >= unreported,
              f"{unreported} outcomes wait in the adapter while bookkeeping is down")

        stack.local_stack("start", "bookkeeping")
        w = stack.submit("--task", TASK, "--wait", "--timeout", "5m")
        check(w.returncode == 0, f"the task completes once bookkeeping is back (rc={w.returncode}: "
                                 f"{w.stdout.strip()[-300:]})")

        done = count(f"SELECT count(*) FROM transfers WHERE task_id = '{TASK}' AND state = 'DONE'")
        check(done == len(plan), f"every file DONE ({done}/{len(plan)})")
        attempts = stack.sql(f"SELECT count(*) || ' ' || count(DISTINCT a.transfer_id) || ' ' || max(t.attempt) "
                             f"FROM attempts a JOIN transfers t ON t.id = a.transfer_id WHERE t.task_id = '{TASK}'")
        check(attempts == f"{len(plan)} {len(plan)} 1", f"one attempt per file, applied once ({attempts})")
        dup = count("SELECT count(*) FROM (SELECT transfer_id FROM backend_job_files GROUP BY 1 "
                    "HAVING count(*) > 1) d")
        check(dup == 0, "no file in two backend jobs")
        ours = [j for j in fts3_call("GET", "/jobs?state_in=SUBMITTED,ACTIVE,FINISHED,FAILED,FINISHEDDIRTY,"
                                            "CANCELED&fields=job_id,job_metadata&limit=500")
                if j.get("job_metadata", {}).get("task") == TASK]
        fts3_backend_jobs = count("SELECT count(*) FROM backend_jobs WHERE backend LIKE 'fts3:%'")
        check(len(ours) == fts3_backend_jobs, f"one FTS3 job per bulk job ({len(ours)} in FTS3, "
                                              f"{fts3_backend_jobs} recorded)")
        bad = [d for _, d, sum_ in plan if adler32_of(stack.path_of(d)) != sum_]
        check(not bad, f"every destination has its source's adler32 ({bad[:3]})")

        # Publication across a SIGKILL of bookkeeping between the catalog entry and its delivery: the
        # external catalog refuses, the entries wait in the outbox, bookkeeping dies and comes back, the
        # catalog accepts. Every file is catalogued once and announced (the idempotency key is the transfer).
        catalog.down = True
        request = {"task_id": "crash-publish", "user": "alice", "files": []}
        for i in range(5):
            src = f"{workdir}/sites/local-disk/store/temp/user/alice/pub/p_{i}.root"
            os.makedirs(os.path.dirname(src), exist_ok=True)
            with open(src, "wb") as f:
                f.write(os.urandom(1024))
            request["files"].append({"source_url": f"file://{src}", "destination_url":
                                     f"{stack.site_b}/store/user/alice/pub/p_{i}.root", "publish": True,
                                     "dataset": "/Crash/alice-v1/USER"})
        with open(f"{workdir}/publish.json", "w") as f:
            json.dump(request, f)
        r = stack.submit("--json", f"{workdir}/publish.json", "--wait", "--timeout", "2m")
        check(r.returncode == 0, f"files to publish staged out ({r.stderr.strip()[-200:]})")
        waiting = wait_for("the catalog entries to wait in the outbox", lambda: count(
            "SELECT count(*) FROM publication_outbox o JOIN transfers t ON t.id = o.transfer_id "
            "WHERE t.task_id = 'crash-publish' AND o.delivered IS NULL AND o.attempts > 0") == 5, 60)
        check(waiting, "catalogued files wait in the outbox while the external catalog refuses")
        kill("bookkeeping")
        catalog.down = False
        stack.local_stack("start", "bookkeeping")
        delivered = wait_for("the outbox to be delivered", lambda: count(
            "SELECT count(*) FROM publication_outbox o JOIN transfers t ON t.id = o.transfer_id "
            "WHERE t.task_id = 'crash-publish' AND o.delivered IS NOT NULL") == 5, 120)
        check(delivered, "the restarted bookkeeping delivered the outbox")
        entries = count("SELECT count(*) FROM catalog_entries WHERE task_id = 'crash-publish'")
        keys = {k for k, e in catalog.received if e.get("task_id") == "crash-publish"}
        check(entries == 5 and len(keys) == 5, f"each file catalogued once ({entries}) and announced ({len(keys)})")
    finally:
        catalog.stop()
        stack.teardown(args.keep, [fts3_server])

    if failures:
        log(f"{len(failures)} check(s) failed")
        return 1
    log("all checks passed")
    return 0


def _answers(call):
    try:
        call("GET", "/whoami")
        return True
    except Exception:  # noqa: BLE001 - not up yet
        return False


if __name__ == "__main__":
    sys.exit(main())
