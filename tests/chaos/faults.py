#!/usr/bin/env python3
"""Fault injection against the whole local stack (scripts/aso-local: PostgreSQL, two XRootD sites, a local-disk
site, the five services; the FTS3 test server where a scenario routes files through it). Each scenario ends by
checking from the database and the storage, not from the services' own claims, that every file is in the right
terminal state with a visible reason:

  postgres_restart  the private PostgreSQL cluster stopped and started while files move (gfal2 in-process),
                    with copies under way (site-b frozen a moment so they are): every file DONE, its destination holds the source's adler32, one DONE attempt per file,
                    and the five services still serve, the same processes.
  storage_down      the destination XRootD server stopped for --outage-seconds while files move to it, then
                    started again on its port and folder: every file DONE, some retried with the connection
                    failure visible in their attempts, none lost, none copied twice as DONE.
  fts3_faults       files routed through the FTS3 test server while it (a) answers 503/500 to the next
                    requests, (b) answers later than the adapter's FTS3 timeout for a while, (c) loses a job it
                    accepted (404 on status): (a) and (b) end DONE; the files of (c) must end terminal with a
                    reason naming the lost job (or DONE on a later attempt).
  sigstop           the fts-adapter stopped (SIGSTOP) while it holds leases, for longer than they last (copy
                    timeout 2 s: 34 s), then continued: every file DONE, no file with two DONE attempts, no (transfer, attempt) in two backend jobs.
  clock_skew        the adapter run 30 s ahead (libfaketime), then the scheduler 30 s behind, while files
                    move and some are retried: every file DONE once, no double attempts; the skew is measured
                    in the database (the adapter stamps leases, the scheduler claims, each with its own clock).

Common checks (every scenario): no file lost, every file DONE, each destination holds its source's adler32,
exactly one DONE attempt per file, at most one FINISHED copy per file, no (transfer, attempt) in two backend
jobs. Each scenario prints one "summary" line of figures.

  tests/chaos/faults.py --repo REPO --build BUILD [--scenario NAME]... [--files 300] [--outage-seconds 60]
                        [--stop-seconds 40] [--hang-seconds 20] [--lost-job-wait 45] [--drain-timeout 90] [--keep]
"""
import argparse
import contextlib
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from stage_out_e2e import Stack, adler32_of, free_port_base, kill_service, log, wait_for  # noqa: E402

SERVICES = ("ingest", "scheduler", "fts-adapter", "bookkeeping", "monitoring")
LIVE = "state IN ('QUEUED', 'SUBMITTING', 'SUBMITTED', 'ACTIVE')"
FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
CONNECTION = re.compile(r"connect|refused|network|unreachable|socket|reset by peer", re.I)


class Run:
    """One scenario: its own stack (and FTS3 test server), the files it submitted per task, its checks."""

    def __init__(self, args, name, env, fts3=False):
        self.args, self.name, self.failures, self.plan, self.fts3_server = args, name, [], {}, None
        self.workdir = tempfile.mkdtemp(prefix=f"aso-faults-{name}-")
        os.chmod(self.workdir, 0o755)
        self.base = free_port_base()
        self.stack = st = Stack(args.repo, args.build, self.workdir, self.base)
        self.fts3 = f"https://127.0.0.1:{self.base + 46}" if fts3 else None
        if fts3:  # site-a -> site-b goes to the FTS3 test server, the rest is copied in-process
            st.env.update(ASO_BACKEND_ROUTES=f"site-a:site-b={self.fts3}", ASO_FTS3_CERT=f"{st.certs}/aso-service.pem",
                          ASO_FTS3_KEY=f"{st.certs}/aso-service.key", ASO_FTS3_CA_FILE=f"{st.certs}/ca.pem",
                          ASO_FTS3_POLL_INTERVAL="500ms")
        st.env.update(env)
        ports = {s: f"127.0.0.1:{self.base + 1 + i}" for i, s in enumerate(SERVICES)}
        self.ctl_env = dict(st.client_env, ASO_INGEST=ports["ingest"], ASO_SCHEDULER=ports["scheduler"],
                            ASO_FTS_ADAPTER=ports["fts-adapter"], ASO_BOOKKEEPING=ports["bookkeeping"],
                            ASO_MONITORING=ports["monitoring"])

    def __enter__(self):
        log(f"=== {self.name}")
        self.stack.up()
        if self.fts3:
            self.fts3_server = self.stack.start_fts3(self.base + 46)
            if not wait_for("the FTS3 test server", lambda: self.fts3_call("GET", "/whoami"), 20):
                raise RuntimeError("the FTS3 test server did not start")
        return self

    def __exit__(self, *exc):
        self.stack.teardown(self.args.keep, [self.fts3_server])

    # -- helpers ------------------------------------------------------------------------------------
    def check(self, cond, what):
        log(f"[{self.name}] " + ("ok: " if cond else "FAILED: ") + what)
        if not cond:
            self.failures.append(what)
        return cond

    def sql(self, query):
        return self.stack.sql(query)

    def count(self, query):
        return int(self.sql(query) or 0)

    def fts3_call(self, method, path, body=None):
        ctx = ssl.create_default_context(cafile=f"{self.stack.certs}/ca.pem")
        ctx.load_cert_chain(f"{self.stack.certs}/aso-service.pem", f"{self.stack.certs}/aso-service.key")
        req = urllib.request.Request(self.fts3 + path, method=method, headers={"Content-Type": "application/json"},
                                     data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def pids(self):
        return {s: int(open(f"{self.workdir}/run/{s}.pid").read()) for s in SERVICES}

    def serving(self, service):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.base + 11 + SERVICES.index(service)}/metrics",
                                    timeout=2) as r:
            return r.read().decode()

    def health(self):
        return subprocess.run([f"{self.stack.build}/services/asoctl/asoctl", "health"], env=self.ctl_env,
                              text=True, capture_output=True, timeout=60)

    def restart(self, service, **env):
        """SIGKILLs `service` and starts it again with `env` added to the stack's environment."""
        kill_service(self.workdir, service)
        saved, self.stack.env = self.stack.env, dict(self.stack.env, **env)
        try:
            r = self.stack.local_stack("start", service, check=False)
        finally:
            self.stack.env = saved
        if not wait_for(f"{service} to serve", lambda: self.serving(service), 30):
            raise RuntimeError(f"{service} did not come back: {r.stderr.strip()[-300:]}")

    def log_lines(self, service, pattern):
        return [line for line in open(f"{self.workdir}/logs/{service}.log", errors="replace")
                if re.search(pattern, line)]

    def where(self, tasks):
        return "t.task_id IN (" + ",".join(f"'{x}'" for x in tasks) + ")"

    def submit(self, task, n, site_a_every=0, size=1024):
        """n files of `size` to size + 976 bytes to site-b: from local-disk, or from site-a every
        site_a_every-th (FTS3 where the scenario routes site-a -> site-b there, else a gfal2 third-party copy)."""
        st, plan = self.stack, []
        for i in range(n):
            from_a = site_a_every and i % site_a_every == site_a_every - 1
            src = f"{st.site_a if from_a else st.local}/store/temp/user/alice/{task}/f_{i}.root"
            dst = f"{st.site_b}/store/user/alice/{task}/f_{i}.root"
            plan.append((src, dst, adler32_of(st.write_source(src, size + i % 977))))
        self.plan[task] = plan
        request = {"task_id": task, "user": "alice", "files": [
            {"source_url": s, "destination_url": d, "checksum": f"adler32:{a}"} for s, d, a in plan]}
        with open(f"{self.workdir}/{task}.json", "w") as f:
            json.dump(request, f)
        r = st.submit("--json", f"{self.workdir}/{task}.json")
        self.check(r.returncode == 0, f"task {task} ({n} files) submitted ({r.stderr.strip()[-200:]})")
        return time.time()

    def progress(self, tasks, fraction, timeout=120):
        """Waits until `fraction` of the tasks' files are DONE; returns how many are still live then."""
        total = sum(len(self.plan[t]) for t in tasks)
        wait_for(f"{fraction:.0%} of the files DONE", lambda: self.count(
            f"SELECT count(*) FROM transfers t WHERE {self.where(tasks)} AND state = 'DONE'") >= total * fraction,
            timeout, step=0.05)
        return self.count(f"SELECT count(*) FROM transfers t WHERE {self.where(tasks)} AND {LIVE}")

    def copying(self, timeout=30):
        """Waits until copies run (files leased by the adapter's workers); returns how many."""
        q = "SELECT count(*) FROM backend_job_files WHERE state = 'ACTIVE'"
        wait_for("copies running", lambda: self.count(q) > 0, timeout, step=0.01)
        return self.count(q)

    @contextlib.contextmanager
    def copies_held(self):
        """site-b frozen (SIGSTOP) for the block: copies to it are under way and wait; yields how many."""
        pid = int(open(f"{self.workdir}/sites/site-b/run/xrootd.pid").read().split()[0])
        os.kill(pid, signal.SIGSTOP)
        try:
            yield self.copying()
        finally:
            os.kill(pid, signal.SIGCONT)

    def drain(self, tasks, since, timeout=None):
        """Waits until no file of `tasks` is live; returns the seconds since `since` (None if it never did)."""
        timeout = timeout or self.args.drain_timeout
        where = self.where(tasks)
        if wait_for("every file terminal", lambda: self.count(
                f"SELECT count(*) FROM transfers t WHERE {where} AND {LIVE}") == 0, timeout, step=0.2):
            return time.time() - since
        rows = self.sql(
            f"SELECT t.id, t.state, t.attempt, f.job_id, f.state, f.lease_owner, f.lease_until, now() FROM transfers t "
            f"LEFT JOIN backend_job_files f ON f.transfer_id = t.id AND f.job_id = t.backend_job_id WHERE {where} "
            f"AND t.{LIVE} ORDER BY t.id").splitlines()
        ids = [r.split("|")[0] for r in rows[:3]]
        lines = [x.strip()[:300] for i in ids for x in self.log_lines("fts-adapter", f"transfer={i} ")]
        self.stuck = (f"{len(rows)} live after {timeout} s, e.g. (id|state|attempt|job|job file state|lease owner|"
                      f"lease until|now) {rows[:3]}; {self.workdir}/logs/fts-adapter.log: {lines[:4]}")
        log(f"[{self.name}] {self.stuck}")
        return None

    def verify(self, tasks, label, drained):
        """The common checks on the files of `tasks`; returns the figures."""
        where = self.where(tasks)
        planned = [p for t in tasks for p in self.plan[t]]
        n = len(planned)
        self.check(drained is not None, f"{label}: every file terminal"
                   + (f" ({self.stuck})" if drained is None else f" after {drained:.0f} s"))
        stored = self.count(f"SELECT count(*) FROM transfers t WHERE {where}")
        self.check(stored == n, f"{label}: no file lost ({stored} stored of {n} submitted)")
        states = dict(r.split("|", 1) for r in self.sql(
            f"SELECT destination_url, state FROM transfers t WHERE {where}").splitlines())
        others = self.sql(f"SELECT string_agg(x, ' | ') FROM (SELECT t.state || ' ' || count(*) || ' ' || "
                          f"t.failure_class || ': ' || left(t.failure_reason, 200) AS x FROM transfers t WHERE "
                          f"{where} AND t.state <> 'DONE' GROUP BY t.state, t.failure_class, t.failure_reason) y")
        done = sum(1 for s in states.values() if s == "DONE")
        self.check(done == n, f"{label}: every file DONE ({done}/{n}{'; ' + others if others else ''})")
        bad = [d for _, d, a in planned if states.get(d) == "DONE" and not (
            os.path.exists(self.stack.path_of(d)) and adler32_of(self.stack.path_of(d)) == a)]
        self.check(not bad, f"{label}: every DONE file's destination holds its source's adler32 ({bad[:3]})")
        twice = self.count(f"SELECT count(*) FROM transfers t WHERE {where} AND (SELECT count(*) FROM attempts a "
                           f"WHERE a.transfer_id = t.id AND a.result = 'DONE') <> (t.state = 'DONE')::int")
        self.check(twice == 0, f"{label}: exactly one DONE attempt per DONE file, none for others ({twice} not)")
        copied = self.count(f"SELECT count(*) FROM (SELECT f.transfer_id FROM backend_job_files f JOIN transfers t "
                            f"ON t.id = f.transfer_id WHERE {where} AND f.state = 'FINISHED' GROUP BY 1 "
                            f"HAVING count(*) > 1) x")
        self.check(copied == 0, f"{label}: no file copied twice as FINISHED ({copied})")
        in_two = self.count(f"SELECT count(*) FROM (SELECT f.transfer_id, f.attempt FROM backend_job_files f JOIN "
                            f"transfers t ON t.id = f.transfer_id WHERE {where} GROUP BY 1, 2 "
                            f"HAVING count(*) > 1) x")
        self.check(in_two == 0, f"{label}: no (transfer, attempt) in two backend jobs ({in_two})")
        attempts, failed, retried, most = (int(x or 0) for x in self.sql(
            f"SELECT count(*), count(*) FILTER (WHERE a.result = 'FAILED'), count(DISTINCT a.transfer_id) FILTER "
            f"(WHERE a.attempt > 1), max(a.attempt) FROM attempts a JOIN transfers t ON t.id = a.transfer_id "
            f"WHERE {where}").split("|"))
        return {"files": n, "attempts/file": f"{attempts / max(n, 1):.3f}", "max attempt": most,
                "retried files": retried, "failed attempts": failed,
                "drain": "never" if drained is None else f"{drained:.0f}s"}

    def summary(self, figures, **extra):
        log(f"summary {self.name}: " + ", ".join(f"{k} {v}" for k, v in {**figures, **extra}.items()))


# -- scenarios ----------------------------------------------------------------------------------------
def postgres_restart(args):
    # Two copy workers, always busy; site-b frozen (SIGSTOP) a moment so copies are under way when the database
    # goes away, and finish while it is down.
    with Run(args, "postgres_restart", {"ASO_COPY_WORKERS": "2"}) as run:
        pg = [f"{run.stack.repo}/scripts/pg-local", "--dir", f"{run.workdir}/pg", "--port", str(run.stack.pg_port)]
        since = run.submit("pg", args.files, size=256 << 10)
        before = run.pids()
        live = run.progress(["pg"], 0.15)
        with run.copies_held() as copying:
            down = time.time()
            subprocess.run([*pg, "stop"], check=True, capture_output=True)
        time.sleep(args.pg_down_seconds)
        subprocess.run([*pg, "start"], check=True, capture_output=True)
        down = time.time() - down
        run.check(live > 0 and copying > 0, f"PostgreSQL stopped for {down:.1f} s with {live} files live, "
                                            f"{copying} being copied")
        figures = run.verify(["pg"], "after the restart", run.drain(["pg"], since))
        after = run.pids()
        run.check(before == after and all(os.path.exists(f"/proc/{p}") for p in after.values()),
                  f"no service restarted ({before} -> {after})")
        h = run.health()
        run.check(h.returncode == 0, f"all five services serve ({(h.stdout + h.stderr).strip()[-300:]})")
        run.summary(figures, **{"db down": f"{down:.1f}s", "live at stop": live, "copying at stop": copying})
        return run.failures


def storage_down(args):
    env = {"ASO_RETRY_DELAY": "10s", "ASO_MAX_ATTEMPTS": "8"}  # a budget that outlasts the outage
    with Run(args, "storage_down", env) as run:
        site = [f"{run.stack.repo}/scripts/xrootd-site", "site-b", "--dir", f"{run.workdir}/sites/site-b"]
        since = run.submit("outage", args.files)
        live = run.progress(["outage"], 0.1)
        subprocess.run([*site[:1], "stop", *site[1:]], check=True, capture_output=True)
        log(f"site-b stopped for {args.outage_seconds} s with {live} files live")
        time.sleep(args.outage_seconds)
        subprocess.run([*site[:1], "start", *site[1:], "--port", str(run.base + 32)], check=True, capture_output=True)
        figures = run.verify(["outage"], "after the outage", run.drain(["outage"], since))
        errors = run.sql("SELECT a.failure_class || ': ' || a.error FROM attempts a JOIN transfers t ON "
                         f"t.id = a.transfer_id WHERE {run.where(['outage'])} AND a.result = 'FAILED'").splitlines()
        run.check(figures["retried files"] > 0, f"files failed during the outage were retried "
                                                f"({figures['retried files']} files, {len(errors)} failed attempts)")
        unnamed = [e for e in errors if not CONNECTION.search(e)]
        run.check(errors and not unnamed, f"every failed attempt names the connection problem "
                                          f"({len(unnamed)} do not: {sorted(set(unnamed))[:3]}; e.g. {errors[:1]})")
        run.summary(figures, outage=f"{args.outage_seconds}s", **{"live at stop": live})
        return run.failures


def fts3_faults(args):
    with Run(args, "fts3_faults", {}, fts3=True) as run:
        n = max(args.files // 10, 20)
        # (a) 503 and 500 to the next requests: the submission first, then the status polls.
        run.fts3_call("POST", "/_test/faults", {"status": 503, "count": 3})
        run.fts3_call("POST", "/_test/faults", {"status": 500, "count": 3})
        since = run.submit("errors", n, site_a_every=1)
        wait_for("the job in FTS3", lambda: run.fts3_call("GET", "/_test/faults")["pending_statuses"] == [], 60)
        run.fts3_call("POST", "/_test/faults", {"status": 500, "count": 4})
        fa = run.verify(["errors"], "(a) 5xx answers", run.drain(["errors"], since))
        served = run.fts3_call("GET", "/_test/faults")["served"]
        run.check(served["status"] == 10, f"(a) the FTS3 server answered the 10 injected errors ({served})")
        # (b) answers later than the adapter's FTS3 timeout (30 s, Fts3Config::timeout) for a while.
        run.fts3_call("POST", "/_test/faults", {"hang_seconds": 35, "hang_for": args.hang_seconds})
        since = run.submit("hang", n, site_a_every=1)
        fb = run.verify(["hang"], "(b) a hanging server", run.drain(["hang"], since))
        hung = run.fts3_call("GET", "/_test/faults")["served"]["hung"]
        run.check(hung > 0, f"(b) {hung} answers came later than the client's timeout")
        adopted = sum(float(m.rsplit(" ", 1)[1]) for m in run.serving("fts-adapter").splitlines()
                      if m.startswith("aso_fts3_requests_total{") and 'result="adopted"' in m)
        # (c) a job accepted, then lost: 404 on status.
        run.fts3_call("POST", "/_test/faults", {"lose_jobs": 1})
        since = run.submit("lost", n, site_a_every=1)
        drained = run.drain(["lost"], since, timeout=args.lost_job_wait)
        lost = run.fts3_call("GET", "/_test/faults")["served"]["lost_jobs"]
        where = run.where(["lost"])
        stuck = run.sql(f"SELECT t.state || ' ' || count(*) FROM transfers t WHERE {where} AND {LIVE} GROUP BY "
                        "t.state")
        warned = run.log_lines("fts-adapter", "FTS3 does not know its job")
        run.check(lost and drained is not None, f"(c) the files of the job FTS3 lost ({lost}) end terminal within "
                  f"{args.lost_job_wait} s (still live: {stuck or 'none'}; the adapter logged 'FTS3 does not know its "
                  f"job' {len(warned)} times, e.g. {warned[-1].strip() if warned else '-'} in "
                  f"{run.workdir}/logs/fts-adapter.log)")
        reasons = run.sql(f"SELECT string_agg(DISTINCT t.state || ': ' || t.failure_reason, ' | ') FROM transfers t "
                          f"WHERE {where} AND t.state <> 'DONE'")
        if drained is not None:
            run.check(not reasons or re.search(r"lost|404|not know|unknown", reasons, re.I),
                      f"(c) the reason names the lost job ({reasons or 'all DONE'})")
        run.summary({k: f"{fa[k]}/{fb[k]}" for k in fa}, **{"hung answers": hung, "adopted submissions":
                    int(adopted), "lost job files": f"{stuck or 'none live'} after {args.lost_job_wait}s"})
        return run.failures


def sigstop(args):
    # Leases are twice the copy timeout plus 30 s (services/fts_adapter/copy_worker.cc): 2 s gives 34 s.
    with Run(args, "sigstop", {"ASO_COPY_TIMEOUT": "2s"}, fts3=True) as run:
        since = run.submit("stop", args.files, site_a_every=10)
        live = run.progress(["stop"], 0.1)
        pid = run.pids()["fts-adapter"]
        with run.copies_held() as copying:  # the adapter stops while it holds leases
            os.kill(pid, signal.SIGSTOP)
        log(f"fts-adapter (pid {pid}) stopped for {args.stop_seconds} s with {live} files live, {copying} copying")
        time.sleep(args.stop_seconds)
        os.kill(pid, signal.SIGCONT)
        figures = run.verify(["stop"], "after SIGCONT", run.drain(["stop"], since))
        run.check(run.pids()["fts-adapter"] == pid, "the same adapter process finished the run")
        run.check(copying > 0, f"the adapter was stopped holding {copying} leases")
        run.summary(figures, stopped=f"{args.stop_seconds}s", **{"copying at stop": copying,
            "leases lost": len(run.log_lines("fts-adapter", r"lease .* was lost")),
            "jobs not confirmed (re-sent)": len(run.log_lines("scheduler", "will re-send"))})
        return run.failures


def clock_skew(args):
    if not os.path.exists(FAKETIME):
        log(f"[clock_skew] FAILED: {FAKETIME} missing (scripts/install-deps installs faketime)")
        return ["libfaketime missing"]
    skew_env = lambda offset: {"LD_PRELOAD": FAKETIME, "FAKETIME": offset}
    # Leases of 40 s (copy timeout 5 s) outlast the 30 s skew; retried files come back after 5 s.
    with Run(args, "clock_skew", {"ASO_COPY_TIMEOUT": "5s", "ASO_RETRY_DELAY": "5s"}, fts3=True) as run:
        n, figures = max(args.files // 3, 50), {}
        for task, service, offset in (("adapter", "fts-adapter", "+30s"), ("scheduler", "scheduler", "-30s")):
            if service == "scheduler":
                run.restart("fts-adapter")  # back on the true time
                # A clock 30 s behind sees certificates younger than 30 s as not yet valid.
                time.sleep(max(0.0, os.path.getmtime(f"{run.stack.certs}/server.pem") + 35 - time.time()))
            run.restart(service, **skew_env(offset))
            run.fts3_call("POST", "/_test/faults", {"fail_files": 5})  # the FTS3 path's first copies fail
            since = run.submit(task, n, site_a_every=5)
            # Under libfaketime a process running ahead also sleeps the offset longer in every timed wait (the
            # kernel's timeouts keep the true time), so its loops are slower: a longer drain is allowed.
            drained = run.drain([task], since, timeout=max(args.drain_timeout, 300))
            f = figures[task] = run.verify([task], f"{service} at {offset}", drained)
            # The adapter stamps a copy's lease, the scheduler its claim: both clocks are in the database.
            apart = float(run.sql(
                "SELECT round(min(extract(epoch FROM f.started - t.claimed_at)), 1) FROM backend_job_files f JOIN "
                f"transfers t ON t.id = f.transfer_id AND t.attempt = f.attempt WHERE {run.where([task])} "
                "AND t.source_site = 'local-disk'") or 0)
            run.check(25 < apart < 35, f"{service} at {offset}: the adapter's clock ran {apart:+.1f} s from the "
                                       "scheduler's (leases started minus claims)")
            run.check(f["retried files"] >= 5, f"{service} at {offset}: the failed copies were retried "
                                               f"({f['retried files']} files)")
            f["adapter-scheduler clocks"] = f"{apart:+.1f}s"
        run.summary({k: "/".join(str(f[k]) for f in figures.values()) for k in figures["adapter"]})
        return run.failures


SCENARIOS = {f.__name__: f for f in (postgres_restart, storage_down, fts3_faults, sigstop, clock_skew)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="default: all, in order")
    ap.add_argument("--files", type=int, default=300, help="files per scenario (fts3_faults, clock_skew: fewer)")
    ap.add_argument("--outage-seconds", type=int, default=60, help="storage_down: how long site-b is down")
    ap.add_argument("--pg-down-seconds", type=float, default=3, help="postgres_restart: between stop and start")
    ap.add_argument("--stop-seconds", type=int, default=40, help="sigstop: longer than the adapter's 34 s leases")
    ap.add_argument("--hang-seconds", type=int, default=20, help="fts3_faults: how long FTS3 answers late")
    ap.add_argument("--lost-job-wait", type=int, default=45, help="fts3_faults: how long the lost job may take")
    ap.add_argument("--drain-timeout", type=int, default=90, help="longest wait for a scenario's files")
    ap.add_argument("--keep", action="store_true", help="leave the stacks and files for inspection")
    args = ap.parse_args()
    args.repo, args.build = os.path.abspath(args.repo), os.path.abspath(args.build)
    results = {}
    for name in args.scenario or SCENARIOS:
        started = time.time()
        try:
            failed = SCENARIOS[name](args)
        except Exception as e:  # a scenario that could not run is a failed one; the others still run
            log(f"[{name}] FAILED: {type(e).__name__}: {e}")
            failed = [str(e)]
        results[name] = (failed, time.time() - started)
    for name, (failed, took) in results.items():
        log(f"{name}: {'ok' if not failed else f'{len(failed)} check(s) FAILED'} ({took:.0f} s)"
            + "".join(f"\n    - {f}" for f in failed))
    return 1 if any(f for f, _ in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
