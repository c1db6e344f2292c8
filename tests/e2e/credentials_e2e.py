#!/usr/bin/env python3
"""Users delegate their grid proxies to ASO with the real clients, on the local stack run with
--user_credentials (files move only for users with a valid delegated proxy).

alice's files wait, held with a reason telling her to delegate, until she delegates; then they are copied.
alice delegates with her proxy ($X509_USER_PROXY) and bob with his certificate (aso-submit --delegate); what
ASO stored is listed by asoctl (alice sees hers, the admin everyone's, --expiring filters); bob sending a
proxy signed with alice's credential is refused by name and
changes nothing; the stored proxies are sealed in PostgreSQL; no byte of any key or proxy
appears in a log, a client's output or a /metrics page; aso-monitoring exports each user's proxy expiry.

The adapter copies as each file's owner (ASO_USER_CREDENTIALS applies to it too): on an XRootD site that takes
GSI proxies only and lets user U write below /data/user/U (scripts/xrootd-site --gsi), alice's files land in
her folder, logged in as alice, and bob's file aimed at alice's folder is refused by the site and FAILED.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stage_out_e2e import Stack, free_port_base, log, wait_for  # noqa: E402
from secrets_e2e import key_lines  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--build", required=True)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="aso-credentials-")
    os.chmod(workdir, 0o755)
    stack = Stack(os.path.abspath(args.repo), os.path.abspath(args.build), workdir, free_port_base())
    certs, build = stack.certs, stack.build
    stack.env.update(ASO_USER_CREDENTIALS="true", ASO_CREDENTIAL_MIN_REMAINING="1h")
    # A GSI-only site, started once the stack made its certificates; the adapter trusts it through the CA
    # folder the site keeps (read at the first connection).
    gsi_dir, gsi_port = f"{workdir}/sites/site-gsi", stack.base + 33
    gsi_url = f"root://localhost:{gsi_port}//data"
    stack.env["X509_CERT_DIR"] = f"{gsi_dir}/gsi/ca"
    failures, outputs, secrets_extra = [], [], []

    def check(cond, what):
        log(("ok: " if cond else "FAILED: ") + what)
        if not cond:
            failures.append(what)

    def client(tool, *argv, as_user=None, proxy=None, token=None):
        env = dict(stack.client_env, ASO_BOOKKEEPING=f"127.0.0.1:{stack.base + 4}")  # asoctl sites
        if token:
            env.pop("ASO_TLS_CERT"), env.pop("ASO_TLS_KEY")
            env["BEARER_TOKEN"] = token
        elif proxy:
            env.pop("ASO_TLS_CERT"), env.pop("ASO_TLS_KEY")
            env["X509_USER_PROXY"] = proxy
        elif as_user:
            env["ASO_TLS_CERT"], env["ASO_TLS_KEY"] = f"{certs}/{as_user}.pem", f"{certs}/{as_user}.key"
        binary = {"aso-submit": f"{build}/services/aso_submit/aso-submit",
                  "asoctl": f"{build}/services/asoctl/asoctl"}[tool]
        cmd = [binary, "--ingest", stack.ingest, *argv]
        r = subprocess.run(cmd, text=True, capture_output=True, env=env, timeout=120)
        outputs.append((" ".join([tool, *argv]), r.stdout + r.stderr))
        return r

    try:
        stack.up()
        # alice submits before delegating: her files are held, not failed, and say why.
        files = []
        for i in range(3):
            src = f"{stack.local}/store/temp/user/alice/c_{i}.root"
            stack.write_source(src, 4096)
            files += [src, f"{stack.site_a}/store/user/alice/c_{i}.root"]
        r = client("aso-submit", "--task", "cred-alice", *files, proxy=f"{certs}/alice-proxy.pem")
        check(r.returncode == 0, f"alice submits 3 files ({r.stderr.strip()[:200]})")

        def reasons():
            out = client("asoctl", "transfers", "list", "--task", "cred-alice", "-o", "json")
            return [(t.get("state"), t.get("waiting_reason", "")) for t in json.loads(out.stdout).get("transfers", [])]
        check(wait_for("alice's files held", lambda: all("no delegated credential: alice must delegate" in w
                                                         for _, w in reasons()) and len(reasons()) == 3, timeout=30),
              f"alice's files are held with a reason naming what to do: {reasons()[:1]}")
        check(all(state.endswith("QUEUED") for state, _ in reasons()), "held files stay QUEUED (not failed)")
        r = client("aso-submit", "--delegate", "--delegation_lifetime", "12h", proxy=f"{certs}/alice-proxy.pem")
        check(r.returncode == 0 and "delegated to ASO for alice" in r.stdout,
              f"alice delegates with her proxy: {r.stdout.strip()} {r.stderr.strip()[:200]}")
        r = client("aso-submit", "--delegate", "--output", "json", as_user="bob")
        bob = json.loads(r.stdout) if r.returncode == 0 else {}
        check(bob.get("user") == "bob" and "/CN=bob/CN=" in bob.get("subject", ""),
              f"bob delegates with his certificate (json: {r.stdout.strip()[:200]} {r.stderr.strip()[:200]})")

        check(wait_for("alice's files DONE", lambda: stack.sql(
            "SELECT count(*) FROM transfers WHERE task_id = 'cred-alice' AND state = 'DONE'") == "3", timeout=90),
              "once she delegated, alice's files are copied")
        check(wait_for("the expiry metric", lambda: 'aso_user_credential_expiry_timestamp_seconds{user="alice"}'
                       in stack.metrics(), timeout=30),
              "aso-monitoring exports alice's proxy expiry (aso_user_credential_expiry_timestamp_seconds)")
        # Copies as the files' owners, on a site that authorizes by DN.
        subprocess.run([f"{stack.repo}/scripts/xrootd-site", "start", "site-gsi", "--dir", gsi_dir, "--port",
                        str(gsi_port), "--gsi", "--tls", certs], check=True, capture_output=True)
        r = client("asoctl", "sites", "set", "site-gsi", "--prefix", f"{gsi_url}/")
        check(r.returncode == 0, f"the GSI site is registered ({r.stderr.strip()[:200]})")
        files = []
        for i in range(2):
            src = f"{stack.local}/store/temp/user/alice/g_{i}.root"
            stack.write_source(src, 2048)
            files += [src, f"{gsi_url}/user/alice/g_{i}.root"]
        r = client("aso-submit", "--task", "gsi-alice", *files, proxy=f"{certs}/alice-proxy.pem")
        check(r.returncode == 0, f"alice submits 2 files to her folder of the GSI site ({r.stderr.strip()[:200]})")
        src = f"{stack.local}/store/temp/user/bob/g_0.root"
        stack.write_source(src, 2048)
        r = client("aso-submit", "--task", "gsi-bob", src, f"{gsi_url}/user/alice/from-bob.root", as_user="bob")
        check(r.returncode == 0, f"bob submits a file aimed at alice's folder ({r.stderr.strip()[:200]})")
        check(wait_for("alice's GSI files DONE", lambda: stack.sql(
            "SELECT count(*) FROM transfers WHERE task_id = 'gsi-alice' AND state = 'DONE'") == "2", timeout=90),
              "alice's files are copied into her folder of the GSI site")
        check(all(os.path.getsize(f"{gsi_dir}/root/data/user/alice/g_{i}.root") == 2048 for i in range(2)),
              "alice's files are on the GSI site's disk")
        site_log = open(f"{gsi_dir}/site.log", errors="replace").read()
        check("login as alice" in site_log, "the GSI site saw the copies log in as alice (her own proxy)")
        check(wait_for("bob's file FAILED", lambda: stack.sql(
            "SELECT state || ' ' || failure_class FROM transfers WHERE task_id = 'gsi-bob'")
                       == "FAILED DESTINATION_PERMISSION", timeout=90),
              "bob's file aimed at alice's folder is refused by the site (copied with bob's proxy): "
              + stack.sql("SELECT state || ' ' || failure_class || ' ' || failure_reason FROM transfers "
                          "WHERE task_id = 'gsi-bob'")[:300])
        check("login as bob" in open(f"{gsi_dir}/site.log", errors="replace").read()
              and not os.path.exists(f"{gsi_dir}/root/data/user/alice/from-bob.root"),
              "the site knew bob by his DN and wrote nothing into alice's folder")

        r = client("asoctl", "credentials", "list", as_user="alice")
        check(r.returncode == 0 and "alice" in r.stdout and "bob" not in r.stdout,
              f"alice lists her own credential only:\n{r.stdout}{r.stderr}")
        r = client("asoctl", "credentials", "list", "-o", "json")
        listed = json.loads(r.stdout).get("credentials", []) if r.returncode == 0 else []
        check([c["user"] for c in listed] == ["alice", "bob"],
              f"the admin lists both, soonest expiry first: {[c.get('user') for c in listed]}")
        r = client("asoctl", "credentials", "list", "--expiring", "24h", "-o", "json")
        listed = json.loads(r.stdout).get("credentials", []) if r.returncode == 0 else []
        check([c["user"] for c in listed] == ["alice"], f"--expiring 24h lists alice's 12 h proxy only: {listed}")

        # bob sends a proxy signed with alice's credential: refused by name, nothing changes.
        before = stack.sql("SELECT string_agg(username || sealed, ',' ORDER BY username) FROM user_credentials")
        r = client("aso-submit", "--delegate", "--delegate_from", f"{certs}/alice-proxy.pem", as_user="bob")
        check(r.returncode == 2 and "belongs to alice" in r.stderr and "not to bob" in r.stderr,
              f"bob cannot delegate alice's proxy (rc={r.returncode}): {r.stderr.strip()[:300]}")
        after = stack.sql("SELECT string_agg(username || sealed, ',' ORDER BY username) FROM user_credentials")
        check(before == after, "the refused delegation changed nothing")
        # Sealed values are "v1:" + base64 of random-looking bytes; a plain PEM would carry the lines of
        # alice's own proxy (the chain of the delegated one) and a BEGIN marker.
        sealed = stack.sql("SELECT string_agg(sealed, ' ') FROM user_credentials").split()
        pem_lines = [line.strip() for line in open(f"{certs}/alice-proxy.pem")
                     if len(line.strip()) >= 40 and not line.startswith("-----")]
        check(len(sealed) == 2 and all(v.startswith("v1:") and "BEGIN" not in v for v in sealed)
              and not any(line in v for v in sealed for line in pem_lines),
              "the stored proxies are sealed (no PEM marker, no line of the delegating proxy in the database)")

        # A user with a bearer token only: tina stores the token she authenticates with, and her file moves.
        tina_token = subprocess.run([f"{stack.repo}/scripts/dev-token", "--dir", certs, "--ttl", "7200", "tina"],
                                    check=True, text=True, capture_output=True).stdout.strip()
        r = client("aso-submit", "--delegate_token", "--output", "json", token=tina_token)
        tina = json.loads(r.stdout) if r.returncode == 0 else {}
        check(tina.get("user") == "tina" and tina.get("kind") == "bearer_token",
              f"tina stores her bearer token (aso-submit --delegate_token): {r.stdout.strip()[:200]} "
              f"{r.stderr.strip()[:200]}")
        src = f"{stack.local}/store/temp/user/tina/t_0.root"
        stack.write_source(src, 1024)
        r = client("aso-submit", "--task", "tok-tina", src, f"{stack.site_a}/store/user/tina/t_0.root", token=tina_token)
        check(r.returncode == 0, f"tina submits a file ({r.stderr.strip()[:200]})")
        check(wait_for("tina's file DONE", lambda: stack.sql(
            "SELECT count(*) FROM transfers WHERE task_id = 'tok-tina' AND state = 'DONE'") == "1", timeout=90),
              "tina's file moves with her token (not held: a token is a credential)")
        check(tina_token not in stack.sql("SELECT string_agg(sealed, ' ') FROM user_credentials"),
              "tina's token is stored sealed")
        secrets_extra.append(tina_token)

        # No key, no proxy in any log, client output or metrics page.
        # (A token's signature part identifies it; its header and payload are not secret.)
        secrets = (key_lines(f"{certs}/alice-proxy.pem") + key_lines(f"{certs}/bob.key")
                   + [t.rsplit(".", 1)[-1] for t in secrets_extra])
        texts = [(f"log {n}", open(f"{workdir}/logs/{n}", errors="replace").read())
                 for n in os.listdir(f"{workdir}/logs")]
        for port in range(stack.base + 11, stack.base + 16):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as m:
                    texts.append((f"metrics :{port}", m.read().decode()))
            except OSError:
                pass
        texts += outputs
        leaks = [f"{what}" for what, text in texts for s in secrets if s in text]
        check(not leaks and len(texts) > 6, f"no key bytes in {len(texts)} logs, outputs and /metrics pages "
                                            f"(leaks: {leaks[:5]})")
        check(any("stored the delegated proxy of alice" in t for w, t in texts if w.startswith("log ingest")),
              "aso-ingest logs each stored delegation (who, subject, expiry)")

    finally:
        subprocess.run([f"{stack.repo}/scripts/xrootd-site", "stop", "site-gsi", "--dir", gsi_dir],
                       check=False, capture_output=True)
        stack.teardown(args.keep)
    if failures:
        log(f"{len(failures)} check(s) failed")
        return 1
    log("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
