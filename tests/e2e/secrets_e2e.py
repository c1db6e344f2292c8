#!/usr/bin/env python3
"""No secret appears in ASO's logs, metrics or error messages.

The local stack (the five services with TLS and token authentication, the FTS3 test server behind the adapter)
is given secrets of every kind and made to use them and to fail with them: a database password in the DSN
(working, refused, malformed, in URI and keyword form), bearer tokens (valid, forged, expired, for another
audience), an X.509 proxy with its private key, the service's own key for FTS3. Then every service log, every
client's output and every service's /metrics page is searched for each secret.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stage_out_e2e import Stack, free_port_base, log, wait_for  # noqa: E402

PASSWORD = "Pw-7d1f2c9e-not-for-logs"


def key_lines(path):
    """The base64 lines of the private key blocks in a PEM file: each alone identifies the key."""
    lines, inside = [], False
    for line in open(path):
        line = line.strip()
        if line.startswith("-----BEGIN") and "PRIVATE KEY" in line:
            inside = True
        elif line.startswith("-----END"):
            inside = False
        elif inside and len(line) >= 40:
            lines.append(line)
    return lines


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()
    except OSError as e:
        return f"(unreachable: {e})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--build", required=True)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="aso-secrets-")
    os.chmod(workdir, 0o755)
    stack = Stack(os.path.abspath(args.repo), os.path.abspath(args.build), workdir, free_port_base())
    certs, base, build = stack.certs, stack.base, stack.build
    fts3_port = base + 46
    stack.env.update(ASO_BACKEND_ROUTES=f"site-b:site-a=https://127.0.0.1:{fts3_port}",
                     ASO_FTS3_CERT=f"{certs}/aso-service.pem", ASO_FTS3_KEY=f"{certs}/aso-service.key",
                     ASO_FTS3_CA_FILE=f"{certs}/ca.pem")
    outputs = []  # (what, text) of every client and process run here
    failures = []
    processes = []

    def check(cond, what):
        log(("ok: " if cond else "FAILED: ") + what)
        if not cond:
            failures.append(what)

    def run(what, cmd, env):
        r = subprocess.run(cmd, text=True, capture_output=True, env=env, timeout=300)
        outputs.append((what, r.stdout + r.stderr))
        return r

    def token(user, *extra):
        return subprocess.run([f"{stack.repo}/scripts/dev-token", "--dir", certs, *extra, user], check=True,
                              text=True, capture_output=True).stdout.strip()

    def submit(what, task, pairs, **env_extra):
        env = dict(stack.client_env, **env_extra)
        if "BEARER_TOKEN" in env_extra or "X509_USER_PROXY" in env_extra:
            env.pop("ASO_TLS_CERT"), env.pop("ASO_TLS_KEY")
        return run(what, [f"{build}/services/aso_submit/aso-submit", "--ingest", stack.ingest, "--task", task,
                          "--job_id", "1", *pairs], env)

    try:
        stack.up()
        processes.append(stack.start_fts3(fts3_port))

        # Bearer tokens: one that works, and three that must be refused.
        good = token("alice")
        forged = good.rsplit(".", 1)[0] + "." + token("bob").rsplit(".", 1)[1]
        expired = token("alice", "--ttl", "-600")
        other_aud = token("alice", "--aud", "someone-else")
        files = []
        for i in range(3):
            src = f"{stack.local}/store/temp/user/alice/s_{i}.root"
            stack.write_source(src, 1024)
            files += [src, f"{stack.site_a}/store/user/alice/s_{i}.root"]
        r = submit("aso-submit with a valid token", "secrets-token", files, BEARER_TOKEN=good)
        check(r.returncode == 0, f"a valid token submits ({r.stderr.strip()[:200]})")
        for what, bad in (("forged", forged), ("expired", expired), ("other audience", other_aud)):
            r = submit(f"aso-submit with a {what} token", f"secrets-{what.replace(' ', '-')}",
                       [f"{stack.site_b}/store/temp/x.root", f"{stack.site_a}/store/user/alice/x.root"],
                       BEARER_TOKEN=bad)
            check(r.returncode != 0 and "UNAUTHENTICATED" in r.stderr, f"the {what} token is refused ({r.stderr.strip()[:200]})")

        # A proxy, and a file through FTS3 (the adapter authenticates with the service's key).
        src = f"{stack.site_b}/store/temp/user/alice/fts3.root"
        stack.write_source(src, 2048)
        r = submit("aso-submit with a proxy", "secrets-proxy", [src, f"{stack.site_a}/store/user/alice/fts3.root"],
                   X509_USER_PROXY=f"{certs}/alice-proxy.pem")
        check(r.returncode == 0, f"a proxy submits ({r.stderr.strip()[:200]})")
        check(wait_for("4 files DONE", lambda: stack.sql("SELECT count(*) FROM transfers WHERE state = 'DONE'") == "4",
                       timeout=180), "the files moved (gfal2 and FTS3)")

        # The database password: a service and asoctl given DSNs that work, are refused and are malformed.
        ctl_env = dict(stack.client_env)
        dsns = {"working URI": f"postgresql://postgres:{PASSWORD}@127.0.0.1:{stack.pg_port}/aso",
                "refused URI": f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/aso",
                "malformed URI": f"postgresql://postgres:{PASSWORD}@[::1/aso",
                "refused keywords": f"host=127.0.0.1 port=1 user=postgres password={PASSWORD} dbname=aso",
                "malformed keywords": f"host=127.0.0.1 password={PASSWORD} dbnme=aso"}
        for what, dsn in dsns.items():
            r = run(f"asoctl db status, {what}", [f"{build}/services/asoctl/asoctl", "db", "status", "--db", dsn],
                    ctl_env)
            check((r.returncode == 0) == (what == "working URI"), f"asoctl db status with a {what} DSN: rc {r.returncode}")
            if what != "working URI":  # a service that cannot start on it says why
                r = run(f"aso-monitoring, {what}", [f"{build}/services/monitoring/aso-monitoring", "--db", dsn,
                                                    "--insecure", "--listen", f"127.0.0.1:{base + 48}",
                                                    "--metrics_listen", f"127.0.0.1:{base + 49}"], stack.env)
                check(r.returncode != 0, f"aso-monitoring refuses to start on a {what} DSN")
        # A service running on a DSN with a password: its log and metrics.
        mon_log = f"{workdir}/logs/monitoring-password.log"
        mon = subprocess.Popen([f"{build}/services/monitoring/aso-monitoring", "--db", dsns["working URI"],
                                "--insecure", "--listen", f"127.0.0.1:{base + 48}",
                                "--metrics_listen", f"127.0.0.1:{base + 49}", "--log_level", "debug"],
                               stdout=open(mon_log, "w"), stderr=subprocess.STDOUT, env=stack.env)
        processes.append(mon)
        check(wait_for("monitoring on a password DSN", lambda: "aso_build_info" in fetch(
            f"http://127.0.0.1:{base + 49}/metrics"), timeout=30), "a service runs on a DSN with a password")
        time.sleep(2)

        # Everything ASO wrote or served.
        texts = list(outputs)
        for name in sorted(os.listdir(f"{workdir}/logs")):
            if name != "fts3.log":  # the FTS3 test server's own log is not ASO's
                texts.append((f"log {name}", open(f"{workdir}/logs/{name}", errors="replace").read()))
        for port in [*range(base + 11, base + 16), base + 49]:
            texts.append((f"metrics :{port}", fetch(f"http://127.0.0.1:{port}/metrics")))
        secrets = {"the database password": [PASSWORD],
                   "a valid token": [good, good.rsplit(".", 1)[1]],
                   "a forged token": [forged], "an expired token": [expired.rsplit(".", 1)[1]],
                   "a token for another audience": [other_aud.rsplit(".", 1)[1]],
                   "the proxy's private key": key_lines(f"{certs}/alice-proxy.pem"),
                   "the service's FTS3 key": key_lines(f"{certs}/aso-service.key"),
                   "the server's TLS key": key_lines(f"{certs}/server.key")}
        check(all(secrets.values()), "every secret has text to look for")
        joined = "\n".join(t for _, t in texts)
        check("cannot connect to PostgreSQL" in joined and "UNAUTHENTICATED" in joined and "aso_build_info" in joined,
              f"the search covers the refusals and the metrics ({len(texts)} texts, {len(joined)} bytes)")
        for secret, needles in secrets.items():
            leaks = sorted({what for what, text in texts for n in needles if n in text})
            check(not leaks, f"{secret} appears nowhere" + (f" (found in: {', '.join(leaks)})" if leaks else ""))
    finally:
        stack.teardown(args.keep or bool(failures), processes)
    if failures:
        print(f"{len(failures)} checks FAILED (stack left in {workdir}):", *failures, sep="\n  ")
        return 1
    print("secrets test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
