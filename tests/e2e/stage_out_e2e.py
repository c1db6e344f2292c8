#!/usr/bin/env python3
"""End-to-end stage-out: the five service processes on a private PostgreSQL, two XRootD servers and a
local folder as three sites, driven by the real aso-submit. Checks what the storage and the database
hold, not what the services claim:

  * 200 files of 0 B, 1 KiB and 10 MiB, two users, three links, all DONE with the right size and adler32;
  * a file whose source does not exist ends FAILED with its reason visible through aso-submit, and the
    others are unaffected;
  * a repeated submission returns the same transfer ids and creates nothing;
  * a malformed request is refused with the field named and changes nothing;
  * /metrics of aso-monitoring counts exactly what was moved; every metric the Grafana dashboards and
    alert rules (deploy/) query appears in a real scrape of the five services;
  * SIGTERM drains every service cleanly.

Usage: stage_out_e2e.py --repo REPO --build BUILD_DIR
"""
import argparse
import http.server
import json
import os
import threading
import random
import re
import shutil
import signal
import socket
import getpass
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib

USERS = ("alice", "bob")
KIB, MIB = 1024, 1024 * 1024


def log(msg):
    print(f"[e2e] {msg}", flush=True)


def wait_for(what, cond, timeout=120, step=0.1):
    """Polls cond() until it is true (True) or `timeout` seconds pass (False, logged); a condition that
    raises (a service or the database not answering yet) counts as false."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if cond():
                return True
        except (OSError, subprocess.CalledProcessError):
            pass
        time.sleep(step)
    log(f"timed out waiting for {what}")
    return False


def kill_service(workdir, service):
    """SIGKILL the local stack's `service` (its pid file in workdir/run) and wait until it is gone."""
    pid = int(open(f"{workdir}/run/{service}.pid").read())
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:  # already gone
        pass
    wait_for(f"{service} to die", lambda: not os.path.exists(f"/proc/{pid}") or
             open(f"/proc/{pid}/stat").read().split()[2] == "Z", 10)
    return pid


def free_port_base():
    """A base B such that B+1..B+49 are free on loopback, below the ephemeral ports (32768 and up) so no
    client connection takes one of them meanwhile."""
    for _ in range(50):
        base = random.randrange(10000, 32700, 50)
        ok = True
        for p in range(base + 1, base + 50):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


class CatalogReceiver:
    """An external catalog on loopback for bookkeeping's publication webhook: records each announcement as
    (Idempotency-Key, entry); answers 503 while `down` is set."""

    def __init__(self, port):
        self.received, self.down = [], False
        self.url = f"http://127.0.0.1:{port}/catalog"
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.down:
                    self.send_response(503)
                else:
                    outer.received.append((self.headers.get("Idempotency-Key"), json.loads(body)))
                    self.send_response(201)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def adler32_of(path):
    value = 1
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            value = zlib.adler32(chunk, value)
    return f"{value & 0xffffffff:08x}"


class Stack:
    def __init__(self, repo, build, workdir, base):
        self.repo, self.build, self.dir, self.base = repo, build, workdir, base
        self.env = dict(os.environ, ASO_BUILD_DIR=build)
        self.ingest = f"127.0.0.1:{base + 1}"
        self.metrics_monitoring = f"http://127.0.0.1:{base + 15}/metrics"
        self.pg_port = base + 20
        self.site_a = f"root://127.0.0.1:{base + 31}//data"
        self.site_b = f"root://127.0.0.1:{base + 32}//data"
        self.local = f"file://{workdir}/sites/local-disk"
        # aso-local serves TLS with a private CA; the local account is an admin (scripts/aso-local env).
        self.certs = f"{workdir}/certs"
        user = getpass.getuser()
        self.client_env = dict(self.env, ASO_TLS_CA=f"{self.certs}/ca.pem", ASO_TLS_CERT=f"{self.certs}/{user}.pem",
                               ASO_TLS_KEY=f"{self.certs}/{user}.key")
        for v in ("X509_USER_PROXY", "BEARER_TOKEN", "BEARER_TOKEN_FILE"):
            self.client_env.pop(v, None)
        self.service_tls = ["--tls_cert", f"{self.certs}/server.pem", "--tls_key", f"{self.certs}/server.key",
                            "--tls_ca", f"{self.certs}/ca.pem", "--gridmap", f"{self.certs}/gridmap",
                            "--admins", user]

    def up(self):
        """Brings the local stack up on the built binaries; on failure prints its output and the services'
        logs, and raises."""
        log(f"starting the stack in {self.dir} (port base {self.base})")
        up = self.local_stack("up", "--no-deps", "--no-build", "--no-demo", check=False)
        if up.returncode != 0:
            print(up.stdout, up.stderr)
            if os.path.isdir(f"{self.dir}/logs"):
                for name in os.listdir(f"{self.dir}/logs"):
                    print(f"--- {name}\n" + open(f"{self.dir}/logs/{name}").read()[-3000:])
            raise RuntimeError("aso-local up failed")

    def start_fts3(self, port):
        """The FTS3 test server (tests/fts3/fts3_server.py) on `port`, with the stack's certificates."""
        return subprocess.Popen(
            [sys.executable, f"{self.repo}/tests/fts3/fts3_server.py", "--port", str(port), "--cert",
             f"{self.certs}/server.pem", "--key", f"{self.certs}/server.key", "--ca", f"{self.certs}/ca.pem"],
            stdout=open(f"{self.dir}/logs/fts3.log", "w"), stderr=subprocess.STDOUT)

    def teardown(self, keep, processes=()):
        """Stops the test's own processes (SIGTERM), then the stack and its folder unless `keep`."""
        for p in processes:
            if p is not None and p.poll() is None:
                p.terminate()
        for p in processes:
            if p is None:
                continue
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        if keep:
            log(f"left in {self.dir}")
            return
        self.local_stack("down", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def local_stack(self, *args, check=True):
        cmd = [f"{self.repo}/scripts/aso-local", *args, "--dir", self.dir, "--port-base", str(self.base)]
        return subprocess.run(cmd, env=self.env, check=check, text=True, capture_output=True)

    def path_of(self, url):
        """Where a site URL lives on this machine's disk."""
        for prefix, folder in ((self.site_a, "site-a"), (self.site_b, "site-b")):
            if url.startswith(prefix):
                return f"{self.dir}/sites/{folder}/root/data" + url[len(prefix):]
        assert url.startswith("file://"), url
        return url[len("file://"):]

    def write_source(self, url, size):
        """Writes `size` random bytes at a site URL (its folders made); returns the file's path."""
        path = self.path_of(url)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        return path

    def submit(self, *args, as_user=None):
        """aso-submit as the local admin, or with the named test user's certificate (or "alice-proxy")."""
        env = dict(self.client_env)
        if as_user == "alice-proxy":
            env.pop("ASO_TLS_CERT"), env.pop("ASO_TLS_KEY")
            env["X509_USER_PROXY"] = f"{self.certs}/alice-proxy.pem"
        elif as_user and as_user.startswith("token:"):  # token:USER[:TTL]
            _, user, *ttl = as_user.split(":")
            env.pop("ASO_TLS_CERT"), env.pop("ASO_TLS_KEY")
            env["BEARER_TOKEN"] = subprocess.run(
                [f"{self.repo}/scripts/dev-token", "--dir", self.certs, "--ttl", ttl[0] if ttl else "600", user],
                check=True, text=True, capture_output=True).stdout.strip()
        elif as_user:
            env["ASO_TLS_CERT"], env["ASO_TLS_KEY"] = f"{self.certs}/{as_user}.pem", f"{self.certs}/{as_user}.key"
        cmd = [f"{self.build}/services/aso_submit/aso-submit", "--ingest", self.ingest, *args]
        return subprocess.run(cmd, text=True, capture_output=True, timeout=900, env=env)

    def sql(self, query):
        out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", "-d", "aso",
                              "-At", "-c", query], check=True, text=True, capture_output=True)
        return out.stdout.strip()

    def metrics(self):
        with urllib.request.urlopen(self.metrics_monitoring, timeout=5) as r:
            return r.read().decode()


def fresh_stack(repo, build, directory):
    """A Stack in `directory` on free ports, after stopping whatever an interrupted run left there and
    emptying it (for the benchmarks, whose folders are fixed)."""
    if os.path.isdir(f"{directory}/run"):
        for pidfile in os.listdir(f"{directory}/run"):
            if pidfile.endswith(".pid"):
                subprocess.run(["pkill", "-F", f"{directory}/run/{pidfile}"], check=False)
    for site in ("site-a", "site-b"):
        subprocess.run([f"{repo}/scripts/xrootd-site", "stop", site, "--dir", f"{directory}/sites/{site}"],
                       check=False, capture_output=True)
    subprocess.run([f"{repo}/scripts/pg-local", "stop", "--dir", f"{directory}/pg"], check=False,
                   capture_output=True)
    stack = Stack(repo, build, directory, free_port_base())
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    os.chmod(directory, 0o755)
    return stack


def metric_sum(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--build", required=True)
    parser.add_argument("--keep", action="store_true", help="leave the stack and files for inspection")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="aso-e2e-")
    os.chmod(workdir, 0o755)
    stack = Stack(os.path.abspath(args.repo), os.path.abspath(args.build), workdir, free_port_base())
    # An external catalog (webhook) that records what bookkeeping publishes to it.
    catalog = CatalogReceiver(stack.base + 47)
    published = catalog.received
    stack.env["ASO_PUBLISH_WEBHOOK"] = catalog.url
    # The adapter also routes one link no file takes (site-b -> site-a) to the FTS3 test server, so its
    # FTS3 metrics are live too.
    fts3_port = stack.base + 46
    certs = stack.certs
    stack.env.update(ASO_BACKEND_ROUTES=f"site-b:site-a=https://127.0.0.1:{fts3_port}",
                     ASO_FTS3_CERT=f"{certs}/aso-service.pem", ASO_FTS3_KEY=f"{certs}/aso-service.key",
                     ASO_FTS3_CA_FILE=f"{certs}/ca.pem")
    fts3_server = None
    failures = []

    def check(cond, what):
        if cond:
            log(f"ok: {what}")
        else:
            log(f"FAILED: {what}")
            failures.append(what)

    try:
        stack.up()
        fts3_server = stack.start_fts3(fts3_port)

        # 200 files: three links (local-disk -> site-a, site-a -> site-b, site-b -> local-disk),
        # two users, sizes 0 B, 1 KiB, 1 KiB, 10 MiB in turn.
        links = [(stack.local, stack.site_a), (stack.site_a, stack.site_b), (stack.site_b, stack.local)]
        sizes = [0, KIB, KIB, 10 * MIB]
        plan = {u: [] for u in USERS}
        rnd = random.Random(7)
        for i in range(200):
            user = USERS[i % 2]
            src_base, dst_base = links[i % 3]
            size = sizes[i % 4]
            src = f"{src_base}/store/temp/user/{user}/e2e/out_{i}.root"
            dst = f"{dst_base}/store/user/{user}/e2e/out_{i}.root"
            path = stack.path_of(src)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(rnd.randbytes(size))
            # Half the files bring their checksum, as a CRAB job would; the rest are checked end to end.
            plan[user].append((src, dst, size, adler32_of(path) if i % 2 == 0 else None))
        missing_src = f"{stack.site_a}/store/temp/user/alice/e2e/never_written.root"
        missing_dst = f"{stack.site_b}/store/user/alice/e2e/never_written.root"

        lists = {}
        for user in USERS:
            lists[user] = f"{workdir}/{user}.txt"
            with open(lists[user], "w") as f:
                for src, dst, size, sum_ in plan[user]:
                    f.write(f"{src} {dst}" + (f" adler32:{sum_} {size}" if sum_ else "") + "\n")
                if user == "alice":
                    f.write(f"{missing_src} {missing_dst}\n")

        # Bad input through the real client: refused, named, nothing stored.
        bad = stack.submit("--task", "bad", "--user", "alice", "root://127.0.0.1:1//x", "ftp://nowhere/y")
        check(bad.returncode == 2 and "files[0]" in bad.stderr and "INVALID_ARGUMENT" in bad.stderr,
              f"malformed request refused with the file named (rc={bad.returncode}: {bad.stderr.strip()})")
        check(stack.sql("SELECT count(*) FROM transfers") == "0", "the refused request stored nothing")

        started = time.time()
        first_ids = {}
        for user in USERS:
            r = stack.submit("--task", f"e2e-{user}", "--user", user, "--job_id", "1", "--files", lists[user])
            check(r.returncode == 0, f"{user}'s files accepted ({r.stdout.strip()} {r.stderr.strip()})")
            first_ids[user] = r.stdout.strip()

        results = {}
        for user in USERS:
            r = stack.submit("--task", f"e2e-{user}", "--wait", "--timeout", "10m")
            results[user] = r
            log(f"{user}: rc={r.returncode}\n{r.stdout}")
        elapsed = time.time() - started
        log(f"all tasks finished in {elapsed:.1f} s")
        check(results["bob"].returncode == 0, "bob's task ended with every file DONE (exit 0)")
        check(results["alice"].returncode == 1, "alice's task reports its failed file (exit 1)")
        check(re.search(r"FAILED transfer \d+ .*never_written\.root .*SOURCE: .*(No such file|not found)",
                        results["alice"].stdout, re.I) is not None,
              "the missing source's reason is shown by aso-submit")

        # The storage: every destination present with the right size and adler32.
        bad_files = []
        for user in USERS:
            for src, dst, size, _ in plan[user]:
                path = stack.path_of(dst)
                if not os.path.exists(path):
                    bad_files.append(f"missing {dst}")
                elif os.path.getsize(path) != size or adler32_of(path) != adler32_of(stack.path_of(src)):
                    bad_files.append(f"corrupt {dst}")
        check(not bad_files, f"200 destination files with matching size and adler32 {bad_files[:5]}")
        check(not os.path.exists(stack.path_of(missing_dst)), "nothing written for the missing source")

        # The database.
        check(stack.sql("SELECT count(*) FROM transfers WHERE state = 'DONE'") == "200", "200 transfers DONE")
        check(stack.sql("SELECT count(*) FROM transfers WHERE state = 'FAILED' AND failure_class = 'SOURCE'") == "1",
              "one transfer FAILED with class SOURCE")
        check(stack.sql("SELECT count(*) FROM attempts") == "201", "one attempt per transfer, none applied twice")
        check(stack.sql("SELECT count(DISTINCT username) FROM transfers") == "2", "two users")

        # Idempotency through the real client.
        again = stack.submit("--task", "e2e-bob", "--user", "bob", "--job_id", "1", "--files", lists["bob"])
        check(again.returncode == 0 and again.stdout.strip() == first_ids["bob"],
              "re-submitting bob's files returns the same transfer ids")
        check(stack.sql("SELECT count(*) FROM transfers") == "201", "and creates nothing")

        # Monitoring, from its /metrics endpoint (refreshed every 5 s).
        total_bytes = sum(size for u in USERS for _, _, size, _ in plan[u])
        deadline = time.time() + 30
        while True:
            text = stack.metrics()
            done = metric_sum(text, "aso_transfer_attempts_total", result="done")
            if done >= 200 or time.time() > deadline:
                break
            time.sleep(1)
        check(done == 200, f"aso_transfer_attempts_total done = {done}")
        moved = metric_sum(text, "aso_transferred_bytes_total")
        check(moved == total_bytes, f"aso_transferred_bytes_total = {moved:.0f} (expected {total_bytes})")
        check(metric_sum(text, "aso_transfer_failures_total", failure_class="SOURCE", source_site="site-a") == 1,
              "aso_transfer_failures_total{failure_class=SOURCE,source_site=site-a} = 1")
        for src_site, dst_site, expected in (("local-disk", "site-a", 67), ("site-a", "site-b", 67),
                                             ("site-b", "local-disk", 66)):
            got = metric_sum(text, "aso_transfer_attempts_total", source_site=src_site,
                             destination_site=dst_site, result="done")
            check(got == expected, f"{src_site} -> {dst_site}: {got:.0f} done attempts (expected {expected})")
        for (src_base, dst_base), (src_site, dst_site) in zip(
                links, (("local-disk", "site-a"), ("site-a", "site-b"), ("site-b", "local-disk"))):
            expected = sum(size for u in USERS for s_, d_, size, _ in plan[u]
                           if s_.startswith(src_base + "/") and d_.startswith(dst_base + "/"))
            got = metric_sum(text, "aso_transferred_bytes_total", source_site=src_site, destination_site=dst_site)
            check(got == expected, f"{src_site} -> {dst_site}: {got:.0f} bytes (expected {expected})")
        check(metric_sum(text, "aso_transfer_failures_total") == 1, "one failed attempt in all, no other class")
        check(metric_sum(text, "aso_transfer_attempts_total", result="failed") == 1, "one failed attempt")
        check("\naso_transfer_size_bytes_count 200\n" in text, "200 file sizes in aso_transfer_size_bytes")
        check(metric_sum(text, "aso_transfers") == 0, "nothing queued or in flight: aso_transfers sums to 0")
        check(metric_sum(text, "aso_link_active_transfers") == 0, "aso_link_active_transfers are 0")
        check(metric_sum(text, "aso_user_queued_files") == 0, "no user backlog")
        rate_1h = metric_sum(text, "aso_link_throughput_bytes_per_second", window="1h")
        check(abs(rate_1h - total_bytes / 3600) < 1, f"1 h throughput {rate_1h:.1f} B/s = all bytes / 3600 s")
        # The same figures over gRPC through asoctl.
        ctl = f"{stack.build}/services/asoctl/asoctl"
        mon = ["--monitoring", f"127.0.0.1:{stack.base + 5}"]
        r = subprocess.run([ctl, "stats", "links", *mon], text=True, capture_output=True, env=stack.client_env)
        row = next((l for l in r.stdout.splitlines() if l.split()[:2] == ["site-a", "site-b"]), "")
        check(r.returncode == 0 and row.split()[6:9] == ["67", "1", "99%"],
              f"asoctl stats links: site-a -> site-b 67 done, 1 failed, 99% ({row or r.stderr.strip()})")
        r = subprocess.run([ctl, "stats", "sites", *mon], text=True, capture_output=True, env=stack.client_env)
        check(r.returncode == 0 and re.search(r"^site-b\s+66\s", r.stdout, re.M) is not None,
              f"asoctl stats sites: site-b sent 66 files ({r.stdout.strip()[-300:]} {r.stderr.strip()})")

        # alice delegates her proxy (docs/credentials.md): aso-monitoring then exports its expiry.
        r = stack.submit("--delegate", as_user="alice-proxy")
        check(r.returncode == 0 and "delegated to ASO for alice" in r.stdout,
              f"alice delegates her proxy ({r.stdout.strip()} {r.stderr.strip()[:200]})")
        # Every service's scrape: the refusal above is counted under its reason, the FTS3 server is up, and
        # every metric the dashboards and alert rules query exists.
        scrapes = []
        deadline = time.time() + 30
        while True:
            texts = {}
            for i, name in enumerate(("ingest", "scheduler", "fts-adapter", "bookkeeping", "monitoring")):
                with urllib.request.urlopen(f"http://127.0.0.1:{stack.base + 11 + i}/metrics", timeout=5) as m:
                    texts[name] = m.read().decode()
            if (metric_sum(texts["fts-adapter"], "aso_fts3_up") == 1
                    and "aso_user_credential_expiry_timestamp_seconds{" in texts["monitoring"]) \
                    or time.time() > deadline:
                break
            time.sleep(1)
        for name, text_ in texts.items():
            scrapes.append(f"{workdir}/{name}.metrics")
            with open(scrapes[-1], "w") as f:
                f.write(text_)
        check(metric_sum(texts["ingest"], "aso_ingest_submissions_refused_total", reason="invalid_files") == 1,
              "ingest counted the malformed request under reason invalid_files")
        check(metric_sum(texts["fts-adapter"], "aso_fts3_up") == 1, "aso_fts3_up = 1 for the FTS3 test server")
        check(metric_sum(texts["scheduler"], "aso_scheduler_files_dispatched_total") == 201,
              "the scheduler dispatched 201 files")
        check(metric_sum(texts["bookkeeping"], "aso_bookkeeping_outcomes_total", decision="done") == 200,
              "bookkeeping applied 200 DONE outcomes")
        for name in texts:
            check('aso_credential_expiry_timestamp_seconds{credential="server_tls"}' in texts[name],
                  f"{name} exports its TLS certificate's expiry")
        dash = subprocess.run([sys.executable, f"{stack.repo}/tests/deploy/check_dashboards.py", "--repo",
                               stack.repo, "--scrape", *scrapes], text=True, capture_output=True)
        check(dash.returncode == 0, f"every metric the dashboards and alerts use is in a real scrape "
                                    f"({(dash.stdout + dash.stderr).strip()[-800:]})")

        # A task killed right after submission: every file ends DONE or KILLED, none is left behind,
        # and a killed file was not written.
        kill_list = f"{workdir}/kill.txt"
        kill_files = []
        with open(kill_list, "w") as f:
            for i in range(30):
                src = f"{stack.local}/store/temp/user/alice/kill/k_{i}.root"
                dst = f"{stack.site_a}/store/user/alice/kill/k_{i}.root"
                os.makedirs(os.path.dirname(stack.path_of(src)), exist_ok=True)
                with open(stack.path_of(src), "wb") as out:
                    out.write(rnd.randbytes(10 * MIB))
                f.write(f"{src} {dst}\n")
                kill_files.append((src, dst))
        r = stack.submit("--task", "e2e-kill", "--user", "alice", "--files", kill_list)
        k = stack.submit("--task", "e2e-kill", "--user", "alice", "--kill", "--reason", "wrong dataset")
        check(r.returncode == 0 and k.returncode == 0, f"kill accepted: {k.stdout.strip()} {k.stderr.strip()}")
        w = stack.submit("--task", "e2e-kill", "--wait", "--timeout", "5m")
        states = stack.sql("SELECT string_agg(state || ':' || n, ',' ORDER BY state) FROM "
                           "(SELECT state, count(*) n FROM transfers WHERE task_id = 'e2e-kill' GROUP BY state) x")
        killed = int(stack.sql("SELECT count(*) FROM transfers WHERE task_id = 'e2e-kill' AND state = 'KILLED'"))
        done = int(stack.sql("SELECT count(*) FROM transfers WHERE task_id = 'e2e-kill' AND state = 'DONE'"))
        check(killed + done == 30 and killed >= 1, f"killed task ends in DONE/KILLED only ({states})")
        check(w.returncode == 1 and "wrong dataset" in w.stdout, "aso-submit shows the kill reason")
        leaked = [d for s_, d in kill_files
                  if stack.sql(f"SELECT state FROM transfers WHERE destination_url = '{d}'") == "KILLED"
                  and os.path.exists(stack.path_of(d))]
        check(not leaked, f"no killed file was written {leaked[:3]}")

        # The admin CLI sees the catalog and the links.
        ctl = f"{stack.build}/services/asoctl/asoctl"
        sites = subprocess.run([ctl, "sites", "list", "--bookkeeping", f"127.0.0.1:{stack.base + 4}"],
                               text=True, capture_output=True, env=stack.client_env)
        check(sites.returncode == 0 and all(n in sites.stdout for n in ("site-a", "site-b", "local-disk")),
              "asoctl sites list shows the three sites")

        # The site catalog as one YAML file: export, change, import (dry run first); a bad rule is refused
        # with its site and nothing changes.
        bk = ["--bookkeeping", f"127.0.0.1:{stack.base + 4}"]
        exported = subprocess.run([ctl, "sites", "export", *bk], text=True, capture_output=True, env=stack.client_env)
        check(exported.returncode == 0 and all(f"name: {n}" in exported.stdout for n in ("site-a", "site-b", "local-disk")),
              f"asoctl sites export ({exported.stderr.strip()})")
        grid = f"{workdir}/grid.yaml"
        changed = exported.stdout.replace("max_active_inbound: 0", "max_active_inbound: 0", 2).replace(
            "max_active_inbound: 0", "max_active_inbound: 150", 3)
        with open(grid, "w") as f:
            f.write(changed)
        dry = subprocess.run([ctl, "sites", "import", grid, "--dry_run", *bk], text=True, capture_output=True,
                             env=stack.client_env)
        check(dry.returncode == 0 and "would import: 0 created, 3 updated" in dry.stdout,
              f"asoctl sites import --dry_run ({dry.stdout.strip()} {dry.stderr.strip()})")
        imported = subprocess.run([ctl, "sites", "import", grid, *bk], text=True, capture_output=True,
                                  env=stack.client_env)
        again = subprocess.run([ctl, "sites", "import", grid, *bk], text=True, capture_output=True, env=stack.client_env)
        check(imported.returncode == 0 and "3 updated" in imported.stdout and "3 unchanged" in again.stdout and
              stack.sql("SELECT min(max_active_inbound) FROM sites") == "150",
              f"asoctl sites import ({imported.stdout.strip()} / {again.stdout.strip()})")
        with open(f"{workdir}/bad-grid.yaml", "w") as f:
            f.write("sites:\n  - name: site-new\n    url_prefixes: [root://new.example//data/]\n"
                    "  - name: site-bad\n    url_prefixes: [root://bad.example//data/]\n"
                    "    lfn_rules:\n      - {protocol: root, match: \"/store/(.*\", pfn: \"root://bad.example//\\\\1\"}\n")
        bad = subprocess.run([ctl, "sites", "import", f"{workdir}/bad-grid.yaml", *bk], text=True, capture_output=True,
                             env=stack.client_env)
        check(bad.returncode != 0 and "sites[1] (site-bad): site.lfn_rules" in bad.stderr and
              stack.sql("SELECT count(*) FROM sites WHERE name IN ('site-new', 'site-bad')") == "0",
              f"a bad rule refuses the whole import, naming the site ({bad.stderr.strip()})")

        # The scheduler's admin controls over gRPC: a paused link holds new files and says so, resuming it
        # lets them go; limits, the backend and the queue are visible; a non-admin is refused.
        sched = ["--scheduler", f"127.0.0.1:{stack.base + 2}"]

        def ctl_run(*args, env=None):
            return subprocess.run([ctl, *args, *sched], text=True, capture_output=True,
                                  env=env or stack.client_env)

        r = ctl_run("links", "pause", "local-disk", "site-b")
        check(r.returncode == 0 and "PAUSED" in r.stdout, f"asoctl links pause ({r.stderr.strip()[-200:]})")
        src = f"{stack.dir}/sites/local-disk/paused-src.txt"
        with open(src, "w") as f:
            f.write("held by a paused link\n")
        p = stack.submit("--task", "e2e-paused", f"file://{src}", f"{stack.site_b}/store/user/admin/paused.txt")
        check(p.returncode == 0, f"submission on a paused link accepted ({p.stderr.strip()[-200:]})")
        time.sleep(2)
        held = stack.sql("SELECT id FROM transfers WHERE task_id = 'e2e-paused'")
        st = subprocess.run([ctl, "transfers", "show", held, "--ingest", stack.ingest], text=True,
                            capture_output=True, env=stack.client_env)
        check("QUEUED" in st.stdout and "link local-disk -> site-b is paused by an administrator" in st.stdout,
              f"a paused link holds the file and says why ({st.stdout.strip()[-300:]} {st.stderr.strip()})")
        r = ctl_run("links", "set", "local-disk", "site-b", "--max_active", "7")
        check(r.returncode == 0 and " 7 " in r.stdout, f"asoctl links set --max_active ({r.stdout.strip()})")
        r = ctl_run("queue", "--by", "user")
        check(r.returncode == 0 and "QUEUED" in r.stdout, f"asoctl queue --by user ({r.stderr.strip()[-200:]})")
        r = ctl_run("backend")
        check(r.returncode == 0 and "available" in r.stdout, f"asoctl backend ({r.stdout.strip()})")
        bob_env = dict(stack.client_env, ASO_TLS_CERT=f"{stack.certs}/bob.pem", ASO_TLS_KEY=f"{stack.certs}/bob.key")
        r = ctl_run("links", "resume", "local-disk", "site-b", env=bob_env)
        check(r.returncode == 1 and "is for admin callers" in r.stderr, f"a user may not resume a link ({r.stderr})")
        r = ctl_run("links", "resume", "local-disk", "site-b")
        check(r.returncode == 0 and "ENABLED" in r.stdout, "asoctl links resume")
        w = stack.submit("--task", "e2e-paused", "--wait", "--timeout", "2m")
        check(w.returncode == 0, f"the held file moves once the link is resumed (rc={w.returncode})")
        st = subprocess.run([ctl, "transfers", "show", held, "--ingest", stack.ingest], text=True,
                            capture_output=True, env=stack.client_env)
        check("the link had been held: link local-disk -> site-b is paused by an administrator" in st.stdout,
              f"the timeline tells what held the attempt ({st.stdout.strip()[-400:]})")

        # Source cleanup: once local-disk deletes its temporary files, a file staged out from it is
        # deleted there (through the adapter) after its copy is verified; the copy stays.
        r = subprocess.run([ctl, "sites", "set", "local-disk", "--prefix", f"{stack.local}/", "--cleanup_source",
                            "--bookkeeping", f"127.0.0.1:{stack.base + 4}"], text=True, capture_output=True,
                           env=stack.client_env)
        check(r.returncode == 0 and "cleans up sources" in r.stdout, f"asoctl sites set --cleanup_source ({r.stderr})")
        cleaned = []
        with open(f"{workdir}/cleanup.txt", "w") as f:
            for i in range(3):
                src = f"{stack.local}/store/temp/user/alice/clean/c_{i}.root"
                dst = f"{stack.site_a}/store/user/alice/clean/c_{i}.root"
                os.makedirs(os.path.dirname(stack.path_of(src)), exist_ok=True)
                with open(stack.path_of(src), "wb") as out:
                    out.write(os.urandom(4096))
                cleaned.append((src, dst, adler32_of(stack.path_of(src))))
                f.write(f"{src} {dst}\n")
        r = stack.submit("--task", "e2e-cleanup", "--user", "alice", "--files", f"{workdir}/cleanup.txt", "--wait",
                         "--timeout", "2m")
        check(r.returncode == 0, f"files from a cleaning site staged out ({r.stderr.strip()[-200:]})")
        deadline = time.time() + 60
        while time.time() < deadline and stack.sql(
                "SELECT count(*) FROM transfers WHERE task_id = 'e2e-cleanup' AND cleanup_state = 'DONE'") != "3":
            time.sleep(0.5)
        states = stack.sql("SELECT string_agg(cleanup_state, ',') FROM transfers WHERE task_id = 'e2e-cleanup'")
        check(states == "DONE,DONE,DONE", f"their cleanup is DONE ({states})")
        check(not any(os.path.exists(stack.path_of(s_)) for s_, _, _ in cleaned), "the temporary sources are gone")
        check(all(adler32_of(stack.path_of(d)) == a for _, d, a in cleaned), "their copies are intact")

        # Publication: files that ask for it are entered in the file catalog in their dataset's block and
        # announced once each to the external catalog.
        request = {"task_id": "e2e-publish", "user": "alice", "files": []}
        for i in range(4):
            src = f"{stack.dir}/sites/local-disk/store/temp/user/alice/pub/p_{i}.root"
            os.makedirs(os.path.dirname(src), exist_ok=True)
            with open(src, "wb") as out:
                out.write(os.urandom(2048))
            request["files"].append({"source_url": f"file://{src}", "destination_url":
                                     f"{stack.site_b}/store/user/alice/pub/p_{i}.root", "publish": True,
                                     "dataset": "/Prim/alice-e2e-v1/USER", "metadata": {"run": str(i)}})
        with open(f"{workdir}/publish.json", "w") as f:
            json.dump(request, f)
        r = stack.submit("--json", f"{workdir}/publish.json", "--wait", "--timeout", "2m")
        check(r.returncode == 0, f"files to publish staged out ({r.stderr.strip()[-200:]})")
        deadline = time.time() + 60
        while time.time() < deadline and len({k for k, _ in published}) < 4:
            time.sleep(0.5)
        cat = subprocess.run([ctl, "catalog", "--dataset", "/Prim/alice-e2e-v1/USER", "--bookkeeping",
                              f"127.0.0.1:{stack.base + 4}"], text=True, capture_output=True, env=stack.client_env)
        check(cat.returncode == 0 and cat.stdout.count("/Prim/alice-e2e-v1/USER") == 4,
              f"asoctl catalog lists the dataset's 4 files ({cat.stdout.strip()[-400:]} {cat.stderr.strip()})")
        keys = [k for k, _ in published]
        check(len(keys) == 4 and len(set(keys)) == 4 and all(k.startswith("aso-transfer-") for k in keys),
              f"each file announced once to the external catalog ({keys})")
        check(all(e["dataset"] == "/Prim/alice-e2e-v1/USER" and e["checksum"].startswith("adler32:")
                  for _, e in published), "announcements carry the dataset and the checksum")
        # Its source (local-disk cleans up) is deleted once the file is published; transfers show tells both.
        deadline = time.time() + 60
        while time.time() < deadline and stack.sql(
                "SELECT count(*) FROM transfers WHERE task_id = 'e2e-publish' AND cleanup_state = 'DONE'") != "4":
            time.sleep(0.5)
        pub_id = stack.sql("SELECT min(id) FROM transfers WHERE task_id = 'e2e-publish'")
        st = subprocess.run([ctl, "transfers", "show", pub_id, "--ingest", stack.ingest], text=True,
                            capture_output=True, env=stack.client_env)
        check("publication DONE (dataset /Prim/alice-e2e-v1/USER)" in st.stdout and "source cleanup DONE" in st.stdout,
              f"asoctl transfers show tells publication and cleanup ({st.stdout.strip()[-300:]} {st.stderr.strip()})")

        # Who may do what, over the stack's real TLS: a grid proxy acts as its owner, another user is refused
        # on that owner's task, a certificate from an unknown CA is not authenticated, and plaintext is
        # refused off loopback.
        src = f"{stack.dir}/sites/local-disk/proxy-src.txt"
        with open(src, "w") as f:
            f.write("from a grid proxy\n")
        p = stack.submit("--task", "e2e-proxy", f"file://{src}", f"{stack.site_a}/store/user/alice/proxy.txt",
                         "--wait", "--timeout", "5m", as_user="alice-proxy")
        check(p.returncode == 0 and stack.sql("SELECT username FROM tasks WHERE task_id = 'e2e-proxy'") == "alice",
              f"a job's grid proxy submits as its owner (rc={p.returncode} {p.stderr.strip()[-200:]})")
        t = stack.submit("--task", "e2e-proxy", "--status", "--output", "json", as_user="token:alice")
        check(t.returncode == 0 and '"user":"alice"' in t.stdout,
              f"a bearer token authenticates its subject ({t.stderr.strip()[-200:]})")
        x = stack.submit("--task", "e2e-proxy", "--status", as_user="token:alice:-120")
        check(x.returncode == 2 and "UNAUTHENTICATED" in x.stderr and "expired" in x.stderr,
              f"an expired token is refused ({x.stderr.strip()[-200:]})")
        b = stack.submit("--task", "e2e-proxy", "--status", as_user="bob")
        check(b.returncode == 2 and "PERMISSION_DENIED" in b.stderr, f"bob may not read alice's task ({b.stderr.strip()})")
        m = stack.submit("--task", "e2e-proxy", "--status", as_user="mallory")
        check(m.returncode == 2 and "UNAUTHENTICATED" in m.stderr,
              f"a certificate from an unknown CA is refused ({m.stderr.strip()[-200:]})")
        plain = subprocess.run([f"{stack.build}/services/ingest/aso-ingest", "--db", "postgresql://unused",
                                "--insecure", "--listen", f"0.0.0.0:{stack.base + 44}"],
                               text=True, capture_output=True, timeout=30)
        check(plain.returncode == 2 and "loopback" in plain.stderr,
              f"--insecure is refused off loopback (rc={plain.returncode}: {plain.stderr.strip()})")

        # A service refuses a database whose schema is not migrated, and says how to migrate it.
        stack.sql("CREATE DATABASE aso_unmigrated")
        empty_dsn = f"postgresql://postgres@127.0.0.1:{stack.pg_port}/aso_unmigrated"
        refused = subprocess.run([f"{stack.build}/services/ingest/aso-ingest", "--db", empty_dsn,
                                  "--listen", f"127.0.0.1:{stack.base + 40}",
                                  "--metrics_listen", f"127.0.0.1:{stack.base + 42}"],
                                 text=True, capture_output=True, timeout=30)
        check(refused.returncode == 1 and "asoctl db migrate" in refused.stderr,
              f"aso-ingest refuses an unmigrated schema (rc={refused.returncode}: {refused.stderr.strip()})")

        # A service started directly exits 0 after SIGTERM.
        extra = subprocess.Popen([f"{stack.build}/services/bookkeeping/aso-bookkeeping", "--db",
                                  f"postgresql://postgres@127.0.0.1:{stack.pg_port}/aso",
                                  "--listen", f"127.0.0.1:{stack.base + 41}",
                                  "--metrics_listen", f"127.0.0.1:{stack.base + 43}", *stack.service_tls],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ready = False
        for _ in range(50):
            probe = subprocess.run([ctl, "sites", "list", "--bookkeeping", f"127.0.0.1:{stack.base + 41}"],
                                   capture_output=True, env=stack.client_env)
            if probe.returncode == 0:
                ready = True
                break
            time.sleep(0.2)
        extra.terminate()
        try:
            rc = extra.wait(timeout=20)
        except subprocess.TimeoutExpired:
            extra.kill()
            rc = "timeout"
        check(ready and rc == 0, f"a second aso-bookkeeping served, then exited {rc} on SIGTERM")

        # SIGTERM drains every service.
        down = stack.local_stack("down", check=False)
        check(down.returncode == 0, "aso-local down")
        for name in ("ingest", "scheduler", "fts-adapter", "bookkeeping", "monitoring"):
            text = open(f"{workdir}/logs/{name}.log").read()
            check("SIGTERM received: draining" in text and "stopped cleanly" in text,
                  f"{name} drained on SIGTERM")
    finally:
        stack.teardown(args.keep, [fts3_server])

    if failures:
        log(f"{len(failures)} check(s) failed")
        return 1
    log("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
