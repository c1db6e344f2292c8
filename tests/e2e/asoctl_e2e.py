#!/usr/bin/env python3
"""asoctl against a live local stack (five services, PostgreSQL, XRootD, a local folder), for a known state:

  * task ctl-a of alice: 2 files local-disk -> site-a, DONE and published in a dataset, and 1 file
    site-b -> site-a whose source is missing (FAILED SOURCE);
  * every read command's table and JSON (and YAML) output for that state;
  * the changes (links set-limit/pause/resume, kill, retry, outbox retry) and their confirmation: without a
    terminal and without --yes a destructive command exits 4 and changes nothing;
  * refusals for a non-admin identity (bob), one line with the status code, exit 1;
  * exit codes for usage errors (2) and an unreachable service (3); the config file and its precedence;
    bash completion; --watch.

Usage: asoctl_e2e.py --repo REPO --build BUILD_DIR
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stage_out_e2e import CatalogReceiver, Stack, free_port_base, log  # noqa: E402

DATASET = "/Ctl/alice-ctl-v1/USER"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--build", required=True)
    parser.add_argument("--keep", action="store_true", help="leave the stack and files for inspection")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="aso-ctl-")
    os.chmod(workdir, 0o755)
    base = free_port_base()
    stack = Stack(os.path.abspath(args.repo), os.path.abspath(args.build), workdir, base)
    catalog = CatalogReceiver(base + 47)
    stack.env["ASO_PUBLISH_WEBHOOK"] = catalog.url
    ctl_bin = f"{stack.build}/services/asoctl/asoctl"
    endpoints = dict(ASO_INGEST=f"127.0.0.1:{base + 1}", ASO_SCHEDULER=f"127.0.0.1:{base + 2}",
                     ASO_FTS_ADAPTER=f"127.0.0.1:{base + 3}", ASO_BOOKKEEPING=f"127.0.0.1:{base + 4}",
                     ASO_MONITORING=f"127.0.0.1:{base + 5}", HOME=workdir, XDG_CONFIG_HOME="")
    admin_env = dict(stack.client_env, **endpoints)
    bob_env = dict(admin_env, ASO_TLS_CERT=f"{stack.certs}/bob.pem", ASO_TLS_KEY=f"{stack.certs}/bob.key")
    failures = []

    def check(cond, what):
        log(("ok: " if cond else "FAILED: ") + what)
        if not cond:
            failures.append(what)

    def ctl(*a, env=None, timeout=60):
        return subprocess.run([ctl_bin, *a], text=True, capture_output=True, env=env or admin_env,
                              stdin=subprocess.DEVNULL, timeout=timeout)

    def js(*a, env=None):
        r = ctl(*a, "-o", "json", env=env)
        try:
            return json.loads(r.stdout) if r.returncode == 0 else None
        except json.JSONDecodeError:
            return None

    def rows(text):
        """The rows of a table (header first) split on runs of two or more spaces."""
        return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]

    try:
        stack.up()

        # The known state: alice's task ctl-a, 2 files DONE and published, 1 FAILED (missing source).
        request = {"task_id": "ctl-a", "user": "alice", "files": []}
        for i in range(3):
            src = f"{workdir}/sites/local-disk/store/temp/user/alice/ctl/f_{i}.root"
            if i < 2:
                os.makedirs(os.path.dirname(src), exist_ok=True)
                with open(src, "wb") as out:
                    out.write(os.urandom(4096))
                src = f"file://{src}"
            else:
                src = f"{stack.site_b}/store/temp/user/alice/ctl/missing.root"
            request["files"].append({"source_url": src, "destination_url":
                                     f"{stack.site_a}/store/user/alice/ctl/f_{i}.root", "publish": True,
                                     "dataset": DATASET})
        with open(f"{workdir}/ctl-a.json", "w") as f:
            json.dump(request, f)
        r = stack.submit("--json", f"{workdir}/ctl-a.json", "--wait", "--timeout", "2m")
        check(r.returncode == 1, f"task ctl-a: two DONE, one FAILED (rc={r.returncode} {r.stderr.strip()[-200:]})")
        ids = [int(x) for x in stack.sql("SELECT string_agg(id::text, ' ' ORDER BY id) FROM transfers "
                                         "WHERE task_id = 'ctl-a'").split()]
        failed_id = int(stack.sql("SELECT id FROM transfers WHERE task_id = 'ctl-a' AND state = 'FAILED'"))
        deadline = time.time() + 60
        while time.time() < deadline and len(catalog.received) < 2:
            time.sleep(0.5)

        # whoami
        r = ctl("whoami")
        check(r.returncode == 0 and "(admin)" in r.stdout, f"whoami: the local account is an admin ({r.stdout.strip()})")
        w = js("whoami", env=bob_env)
        check(w is not None and w["name"] == "bob" and w["role"] == "user" and w["method"] == "x509",
              f"whoami -o json as bob: {w}")

        # health: five services, their version and the schema version
        r = ctl("health")
        check(r.returncode == 0 and r.stdout.count("SERVING") == 5, f"health: five services serving ({r.stdout.strip()})")
        h = js("health")
        schema = js("db", "status", "--db", f"postgresql://postgres@127.0.0.1:{stack.pg_port}/aso")
        check(h is not None and schema is not None and
              all(s["status"] == "SERVING" and s["version"] and s["schema_version"] == schema["schema_version"]
                  for s in h["services"]),
              f"health -o json: versions and schema version {schema and schema['schema_version']} ({h})")

        # transfers list with every kind of filter
        r = ctl("transfers", "list", "--task", "ctl-a")
        t = rows(r.stdout)
        check(r.returncode == 0 and t[0][:4] == ["ID", "TASK", "USER", "STATE"] and len(t) == 4,
              f"transfers list --task: header and 3 rows ({r.stdout.strip()})")
        check(sorted(row[3] for row in t[1:]) == ["DONE", "DONE", "FAILED"], "transfers list: 2 DONE, 1 FAILED")
        j = js("transfers", "list", "--task", "ctl-a")
        check(j is not None and [int(x["id"]) for x in j["transfers"]] == ids, "transfers list -o json: the 3 ids")
        j = js("transfers", "list", "--task", "ctl-a", "--state", "failed")
        check(j is not None and [int(x["id"]) for x in j["transfers"]] == [failed_id], "--state failed: the failed file")
        j = js("transfers", "list", "--failure_class", "SOURCE", "--source", "site-b", "--destination", "site-a")
        check(j is not None and [int(x["id"]) for x in j["transfers"]] == [failed_id],
              "--failure_class SOURCE --source site-b --destination site-a: the failed file")
        j = js("transfers", "list", "--task", "ctl-a", "--source", "local-disk")
        check(j is not None and [int(x["id"]) for x in j["transfers"]] == ids[:2], "--source local-disk: the two others")
        j = js("transfers", "list", "--task", "ctl-a", "--older_than", "1h")
        check(j is not None and j.get("transfers", []) == [], "--older_than 1h: none")
        r = ctl("transfers", "list", "--task", "ctl-a", "-o", "yaml")
        check(r.returncode == 0 and r.stdout.startswith("transfers:") and "state: TRANSFER_STATE_FAILED" in r.stdout,
              "transfers list -o yaml")
        r = ctl("transfers", "list", "--task", "ctl-a", "--limit", "2")
        check(r.returncode == 0 and len(rows(r.stdout)) == 4 and "raise --limit" in r.stdout,
              "--limit 2: two rows and a note that there are more")

        # transfers show and timeline
        r = ctl("transfers", "show", str(failed_id))
        check(r.returncode == 0 and "last failure SOURCE" in r.stdout and "timeline:" in r.stdout,
              f"transfers show: failure and timeline ({r.stdout.strip()[-300:]})")
        j = js("transfers", "show", str(failed_id))
        check(j is not None and j["failure_class"] == "FAILURE_CLASS_SOURCE" and len(j["attempts"]) == 1,
              "transfers show -o json: class and attempt")
        r = ctl("timeline", str(ids[0]))
        t = rows(r.stdout)
        check(r.returncode == 0 and t[0] == ["AT", "EVENT"] and any("submitted by" in x[-1] for x in t)
              and any("attempt 1 DONE" in x[-1] for x in t), f"timeline: submitted ... DONE ({r.stdout.strip()})")
        j = js("timeline", str(ids[0]))
        check(j is not None and any("scheduled after" in e["what"] for e in j["timeline"]),
              "timeline -o json: when the attempt was scheduled")

        # tasks
        r = ctl("tasks", "list", "--user", "alice")
        t = [x for x in rows(r.stdout) if x[0] == "ctl-a"]
        check(r.returncode == 0 and t and t[0][1:6] == ["alice", "3", "2", "1", "0"],
              f"tasks list: ctl-a alice 3 files, 2 done, 1 failed ({r.stdout.strip()})")
        j = js("tasks", "show", "ctl-a")
        check(j is not None and j["total_files"] == "3" and j["finished"] is True, "tasks show -o json")
        r = ctl("tasks", "show", "ctl-a")
        check(r.returncode == 0 and "1 x SOURCE" in r.stdout, "tasks show: the failure grouped by reason")

        # sites, links, queue
        j = js("sites", "list")
        check(j is not None and sorted(s["name"] for s in j["sites"]) == ["local-disk", "site-a", "site-b"],
              "sites list -o json: the three sites")
        r = ctl("sites", "show", "site-a")
        check(r.returncode == 0 and "name: site-a" in r.stdout, f"sites show: as YAML ({r.stdout.strip()[:200]})")
        r = ctl("links", "set-limit", "local-disk", "site-a", "9")
        t = rows(r.stdout)
        check(r.returncode == 0 and t[1][0:2] == ["local-disk", "site-a"] and t[1][6] == "9",
              f"links set-limit: ceiling 9 ({r.stdout.strip()})")
        j = js("links", "list")
        link = [x for x in j["links"] if x["source_site"] == "local-disk" and x["destination_site"] == "site-a"] if j else []
        check(link and link[0]["ceiling"] == 9, "links list -o json: the new ceiling")
        r = ctl("queue", "--by", "reason")
        check(r.returncode == 0 and rows(r.stdout)[0] == ["REASON", "QUEUED", "LINKS"], "queue --by reason")

        # stats (monitoring refreshes every 5 s)
        deadline = time.time() + 20
        while True:
            j = js("stats", "links", "--destination", "site-a")
            links = {x["source_site"]: x for x in (j or {}).get("links", [])}
            if ("local-disk" in links and links["local-disk"]["done_files"] == "2" and "site-b" in links
                    and links["site-b"]["failed_attempts"] == "1") or time.time() > deadline:
                break
            time.sleep(1)
        check(links.get("local-disk", {}).get("done_files") == "2" and
              links.get("site-b", {}).get("failures_by_class") == {"SOURCE": "1"},
              f"stats links -o json: local-disk -> site-a 2 done, site-b -> site-a 1 SOURCE ({links})")
        r = ctl("stats", "links")
        t = {x[0]: x for x in rows(r.stdout) if x[1] == "site-a"}
        check(t.get("local-disk", [])[6:9] == ["2", "0", "100%"] and t.get("site-b", [])[6:9] == ["0", "1", "0%"],
              f"stats links: 2 done 100% and 1 failed 0% ({r.stdout.strip()})")
        r = ctl("stats", "sites")
        t = {x[0]: x for x in rows(r.stdout)}
        check(t.get("local-disk", [""] * 4)[1] == "2" and t.get("site-b", [""] * 4)[3] == "1",
              f"stats sites: local-disk 2 done, site-b 1 failed ({r.stdout.strip()})")
        j = js("stats", "users")
        check(j is not None and j.get("users", []) == [], "stats users: no backlog")

        # catalog and outbox
        r = ctl("catalog", "list", "--task", "ctl-a")
        check(r.returncode == 0 and r.stdout.count(DATASET) == 2, f"catalog list: the 2 published files ({r.stdout.strip()})")
        url = f"{stack.site_a}/store/user/alice/ctl/f_0.root"
        j = js("catalog", "list", "--dataset", DATASET)
        check(j is not None and len(j["entries"]) == 2 and url in [e["url"] for e in j["entries"]],
              "catalog list -o json")
        j = js("outbox", "list")
        check(j is not None and len(j["entries"]) == 2 and all(e.get("delivered") for e in j["entries"]),
              f"outbox list -o json: 2 announcements delivered ({j})")
        r = ctl("outbox", "list", "--pending")
        check(r.returncode == 0 and len(rows(r.stdout)) == 1, "outbox list --pending: none")
        r = ctl("outbox", "retry")
        check(r.returncode == 4 and "add --yes" in r.stderr, f"outbox retry (all) without --yes: exit 4 ({r.stderr.strip()})")
        r = ctl("outbox", "retry", "--yes")
        check(r.returncode == 0 and "0 announcement(s)" in r.stdout, "outbox retry --yes: nothing pending")

        # Destructive commands: confirmation, kill and retry.
        r = ctl("links", "pause", "local-disk", "site-b")
        check(r.returncode == 0 and "PAUSED" in r.stdout, "links pause")
        src = f"{workdir}/sites/local-disk/store/temp/user/alice/ctl/k.root"
        with open(src, "wb") as out:
            out.write(b"x" * 100)
        p = stack.submit("--task", "ctl-kill", "--user", "alice", f"file://{src}",
                         f"{stack.site_b}/store/user/alice/ctl/k_0.root")
        check(p.returncode == 0, f"a file submitted on the paused link ({p.stderr.strip()[-200:]})")
        kill_id = int(stack.sql("SELECT id FROM transfers WHERE task_id = 'ctl-kill'") or 0)
        r = ctl("transfers", "kill", str(kill_id))
        state = stack.sql(f"SELECT state FROM transfers WHERE id = {kill_id}")
        check(r.returncode == 4 and state == "QUEUED", f"transfers kill without --yes off a terminal: exit 4, still {state}")
        r = ctl("transfers", "kill", str(kill_id), "--reason", "test kill", "--yes")
        state = stack.sql(f"SELECT state FROM transfers WHERE id = {kill_id}")
        check(r.returncode == 0 and "1 killed" in r.stdout and state == "KILLED", f"transfers kill --yes: {state}")
        r = ctl("tasks", "retry", "ctl-kill")
        check(r.returncode == 4 and stack.sql(f"SELECT state FROM transfers WHERE id = {kill_id}") == "KILLED",
              "tasks retry without --yes: exit 4, nothing requeued")
        j = js("tasks", "retry", "ctl-kill", "--yes")
        check(j is not None and j["requeued"] == 1 and stack.sql(f"SELECT state FROM transfers WHERE id = {kill_id}") == "QUEUED",
              f"tasks retry --yes -o json: requeued 1 ({j})")
        r = ctl("tasks", "kill", "ctl-kill", "--yes")
        check(r.returncode == 0 and stack.sql(f"SELECT state FROM transfers WHERE id = {kill_id}") == "KILLED", "tasks kill --yes")
        r = ctl("transfers", "retry", str(failed_id))
        check(r.returncode == 0 and "1 requeued" in r.stdout, f"transfers retry ID (no question for named ids): {r.stdout.strip()}")
        r = ctl("sites", "ban", "site-b")
        check(r.returncode == 4 and stack.sql("SELECT state FROM sites WHERE name = 'site-b'") == "ENABLED",
              "sites ban without --yes: exit 4, site still enabled")
        r = ctl("links", "resume", "local-disk", "site-b")
        check(r.returncode == 0 and "ENABLED" in r.stdout, "links resume")

        # Refusals for a non-admin identity: one line with the status code, exit 1.
        for cmd in (["links", "pause", "local-disk", "site-a"], ["outbox", "list"], ["sites", "drain", "site-a"],
                    ["transfers", "list", "--user", "alice"], ["users", "share", "bob", "5"]):
            r = ctl(*cmd, env=bob_env)
            check(r.returncode == 1 and r.stderr.startswith("asoctl: PERMISSION_DENIED: ") and r.stderr.count("\n") == 1,
                  f"bob: asoctl {' '.join(cmd)} refused on one line ({r.stderr.strip()})")
        j = js("tasks", "list", env=bob_env)
        check(j is not None and j.get("tasks", []) == [], "bob's tasks list shows only his (none)")

        # Exit codes: usage and unreachable.
        r = ctl("transfers", "show", "abc")
        check(r.returncode == 2 and "not a transfer id" in r.stderr, f"usage error: exit 2 ({r.stderr.strip()})")
        r = ctl("transfers", "frobnicate")
        check(r.returncode == 2 and "did you mean" in r.stderr, "unknown command: exit 2 with suggestions")
        r = ctl("whoami", "--ingest", "127.0.0.1:1", "--timeout", "2s")
        check(r.returncode == 3 and r.stderr.startswith("asoctl: UNAVAILABLE") or
              r.returncode == 3 and "DEADLINE_EXCEEDED" in r.stderr, f"unreachable service: exit 3 ({r.stderr.strip()})")
        r = ctl("-o", "xml", "whoami")
        check(r.returncode == 2 and "--output must be" in r.stderr, "bad output format: exit 2")

        # The config file: below the environment and the flags; unknown settings refused.
        cfg_dir = f"{workdir}/.config/aso"
        os.makedirs(cfg_dir, exist_ok=True)
        with open(f"{cfg_dir}/config.yaml", "w") as f:
            f.write(f"output: json\ningest: 127.0.0.1:{base + 1}\n")
        env = {k: v for k, v in admin_env.items() if k != "ASO_INGEST"}
        r = ctl("whoami", env=env)
        check(r.returncode == 0 and r.stdout.lstrip().startswith("{"), "~/.config/aso/config.yaml: output json, ingest address")
        r = ctl("whoami", env=dict(env, ASO_OUTPUT="table"))
        check(r.returncode == 0 and "(admin)" in r.stdout, "the environment overrides the config file")
        r = ctl("whoami", "-o", "yaml", env=dict(env, ASO_OUTPUT="table"))
        check(r.returncode == 0 and "role: admin" in r.stdout, "a flag overrides the environment")
        with open(f"{workdir}/bad.yaml", "w") as f:
            f.write("ingest: x\nfavourite_colour: blue\n")
        r = ctl("whoami", "--config", f"{workdir}/bad.yaml")
        check(r.returncode == 2 and "line 2" in r.stderr and "favourite_colour" in r.stderr,
              f"unknown config setting refused with its line ({r.stderr.strip()})")

        # Completion and --help.
        r = ctl("completion", "bash")
        script = f"{workdir}/asoctl.bash"
        with open(script, "w") as f:
            f.write(r.stdout)
        probe = subprocess.run(["bash", "-c", f"source {script}; COMP_WORDS=(asoctl tra); COMP_CWORD=1; _asoctl; "
                                f"echo ${{COMPREPLY[@]}}; COMP_WORDS=(asoctl transfers ''); COMP_CWORD=2; _asoctl; "
                                f"echo ${{COMPREPLY[@]}}; COMP_WORDS=(asoctl transfers list --fa); COMP_CWORD=3; "
                                f"_asoctl; echo ${{COMPREPLY[@]}}"], text=True, capture_output=True)
        lines = probe.stdout.splitlines()
        check(lines == ["transfers", "kill list retry show", "--failure_class"],
              f"bash completion: commands, subcommands, flags ({lines} {probe.stderr.strip()})")
        r = ctl("links", "pause", "--help")
        check(r.returncode == 0 and "Usage: asoctl links pause SOURCE DESTINATION" in r.stdout and "Examples:" in r.stdout,
              "links pause --help")

        # --watch redraws.
        w = subprocess.Popen([ctl_bin, "stats", "links", "--watch", "--interval", "1s"], text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=admin_env)
        time.sleep(2.5)
        w.send_signal(signal.SIGINT)
        out, _ = w.communicate(timeout=10)
        check(out.count("Every 1s: asoctl stats links") >= 2 and out.count("local-disk") >= 2,
              f"--watch redraws ({out.count('Every 1s')} times)")

        # Per-site credentials: set, shown, exported; a bad value changes nothing.
        r = ctl("sites", "set", "site-z", "--prefix", "root://z.example//store/", "--site_credentials", "owner")
        check(r.returncode == 0 and "SITE_CREDENTIALS_OWNER" in r.stdout
              and stack.sql("SELECT credentials FROM sites WHERE name = 'site-z'") == "owner",
              f"sites set --site_credentials owner ({r.stdout.strip()} {r.stderr.strip()})")
        j = js("sites", "list")
        check(j is not None and [s.get("credentials") for s in j["sites"] if s["name"] == "site-z"]
              == ["SITE_CREDENTIALS_OWNER"], "sites list -o json shows the credentials")
        r = ctl("sites", "export")
        check(r.returncode == 0 and "credentials: owner" in r.stdout and "credentials: default" in r.stdout,
              f"sites export: each site's credentials ({r.stdout.strip()[:300]})")
        r = ctl("sites", "set", "site-z", "--prefix", "root://z.example//store/", "--site_credentials", "mine")
        check(r.returncode == 2 and "--site_credentials must be" in r.stderr
              and stack.sql("SELECT credentials FROM sites WHERE name = 'site-z'") == "owner",
              f"sites set --site_credentials mine: exit 2, nothing changed ({r.stderr.strip()})")
    finally:
        catalog.stop()
        stack.teardown(args.keep)

    if failures:
        log(f"{len(failures)} check(s) failed")
        return 1
    log("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
