#!/usr/bin/env python3
"""Offline checks of the Helm chart helm/aso.

    tests/deploy/check_helm.py --repo REPO --tools DIR

DIR holds the tools scripts/install-helm-tools installs (DIR/bin/helm, DIR/node_modules with
kubernetes-models and yaml); node comes from PATH. The checks:

  1. helm/aso/files/ holds exact copies of deploy/prometheus/aso-alerts.yml and deploy/grafana/*.json
     (deploy/ is the source of truth; Helm's .Files only sees files inside the chart);
  2. `helm lint --strict` with the default values and with each helm/aso/ci/*-values.yaml;
  3. `helm template` with each of them (and with --is-upgrade), every rendered manifest validated by
     tests/deploy/validate_manifests.mjs (kubernetes-models' schemas and field names; custom resources
     structurally);
  4. facts about the rendered objects (five Deployments with the replicas, ports, probes, security and
     settings the values ask for, no Secret, hooks of the migration and site-import Jobs, NetworkPolicies,
     PodDisruptionBudgets, HPA, ServiceMonitor, PrometheusRule equal to deploy/prometheus/aso-alerts.yml,
     dashboards equal to deploy/grafana, the CloudNativePG Cluster);
  5. NOTES.txt renders and says what to do next;
  6. each file of tests/deploy/helm-bad-values/ is refused by `helm template`, with an error naming the
     field (the file's "# expect:" lines).

Standard library only. Exits 1 listing every failure.
"""

import re
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

SERVICES = [
    # values key, name, binary, gRPC port, metrics port
    ("ingest", "ingest", "aso-ingest", 50051, 9101),
    ("scheduler", "scheduler", "aso-scheduler", 50052, 9102),
    ("ftsAdapter", "fts-adapter", "aso-fts-adapter", 50053, 9103),
    ("bookkeeping", "bookkeeping", "aso-bookkeeping", 50054, 9104),
    ("monitoring", "monitoring", "aso-monitoring", 50055, 9105),
]
HEALTH_PORT = 8086
IMAGE_USER = 10001
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "PriorityClass", "StorageClass", "Namespace"}


class Checker:
    def __init__(self, repo, tools):
        self.repo = os.path.abspath(repo)
        self.chart = os.path.join(self.repo, "helm", "aso")
        self.tools = os.path.abspath(tools)
        self.helm = os.path.join(self.tools, "bin", "helm")
        self.modules = os.path.join(self.tools, "node_modules")
        self.validator = os.path.join(self.repo, "tests", "deploy", "validate_manifests.mjs")
        self.failures = []
        self.passed = 0
        self.tmp = tempfile.mkdtemp(prefix="check_helm.")

    # ---- reporting -------------------------------------------------------------------------------------

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failures.append(what)
            print(f"FAIL: {what}", flush=True)
        return cond

    def fatal(self, what):
        print(f"check_helm: {what}", file=sys.stderr)
        sys.exit(1)

    # ---- tools -----------------------------------------------------------------------------------------

    def run(self, args, **kw):
        return subprocess.run(args, capture_output=True, text=True, **kw)

    def node_json(self, mode, files):
        r = self.run(["node", self.validator, "--modules", self.modules, mode, *files])
        if r.returncode != 0:
            self.fatal(f"validate_manifests.mjs {mode} failed (exit {r.returncode}):\n{r.stderr}")
        return json.loads(r.stdout)["files"]

    def parse_yaml(self, path):
        docs = self.node_json("parse", [path])[path]
        return docs[0] if docs else None

    def preflight(self):
        missing = [p for p in (self.helm, os.path.join(self.modules, "kubernetes-models"),
                               os.path.join(self.modules, "yaml")) if not os.path.exists(p)]
        if missing:
            self.fatal(f"missing {', '.join(missing)}: run scripts/install-helm-tools {self.tools}")
        if shutil.which("node") is None:
            self.fatal("node not found on PATH (Debian package nodejs)")
        if not os.path.isfile(os.path.join(self.chart, "Chart.yaml")):
            self.fatal(f"no chart at {self.chart}")
        r = self.run([self.helm, "version", "--short"])
        print(f"check_helm: helm {r.stdout.strip()}, chart {self.chart}")

    # ---- 1. copies of deploy/ ----------------------------------------------------------------------------

    def check_copies(self):
        pairs = [("deploy/prometheus", "helm/aso/files/prometheus", "aso-alerts.yml"),
                 ("deploy/grafana", "helm/aso/files/grafana", "*.json")]
        for src_dir, copy_dir, pattern in pairs:
            src = {os.path.basename(p) for p in glob.glob(os.path.join(self.repo, src_dir, pattern))}
            copy = {os.path.basename(p) for p in glob.glob(os.path.join(self.repo, copy_dir, pattern))}
            self.check(src, f"{src_dir}/{pattern}: no file")
            for name in sorted(src - copy):
                self.check(False, f"{copy_dir}/{name} is missing: cp {src_dir}/{name} {copy_dir}/")
            for name in sorted(copy - src):
                self.check(False, f"{copy_dir}/{name} has no source in {src_dir}/: remove it or add it there")
            for name in sorted(src & copy):
                with open(os.path.join(self.repo, src_dir, name), "rb") as a, \
                        open(os.path.join(self.repo, copy_dir, name), "rb") as b:
                    self.check(a.read() == b.read(),
                               f"{copy_dir}/{name} differs from {src_dir}/{name} (deploy/ is the source of "
                               f"truth): cp {src_dir}/{name} {copy_dir}/")
        print("check_helm: files/ copies checked against deploy/")

    # ---- 2./3. lint, template, validate ----------------------------------------------------------------

    def lint(self, values_file):
        args = [self.helm, "lint", "--strict", self.chart]
        if values_file:
            args += ["-f", values_file]
        r = self.run(args)
        label = os.path.relpath(values_file, self.repo) if values_file else "default values"
        self.check(r.returncode == 0, f"helm lint --strict ({label}) failed:\n{r.stdout}{r.stderr}")

    def template(self, release, namespace, values_file, upgrade=False):
        args = [self.helm, "template", release, self.chart, "--namespace", namespace]
        if values_file:
            args += ["-f", values_file]
        if upgrade:
            args.append("--is-upgrade")
        r = self.run(args)
        label = (os.path.relpath(values_file, self.repo) if values_file else "default values") + \
            (" --is-upgrade" if upgrade else "")
        if not self.check(r.returncode == 0, f"helm template ({label}) failed:\n{r.stderr}"):
            return None
        out = os.path.join(self.tmp, f"{release}{'-upgrade' if upgrade else ''}.yaml")
        with open(out, "w") as f:
            f.write(r.stdout)
        docs = self.node_json("validate", [out])[out]
        for d in docs:
            for e in d["errors"]:
                self.check(False, f"[{label}] {d.get('kind')} {d.get('name')}: {e}")
            if not d["errors"]:
                self.passed += 1
        print(f"check_helm: {label}: {len(docs)} manifests rendered and validated")
        return [d["doc"] for d in docs if d["doc"] is not None]

    # ---- 4. facts --------------------------------------------------------------------------------------

    @staticmethod
    def by_kind(docs, kind):
        return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}

    @staticmethod
    def hook(doc):
        return (doc.get("metadata", {}).get("annotations") or {}).get("helm.sh/hook")

    @staticmethod
    def selects(selector, labels):
        return all(labels.get(k) == v for k, v in (selector or {}).items())

    def fullname(self, release, values):
        if values.get("fullnameOverride"):
            return values["fullnameOverride"]
        return release if "aso" in release else f"{release}-aso"

    def check_render(self, label, docs, release, ns, values, upgrade=False):
        c = lambda cond, what: self.check(cond, f"[{label}] {what}")  # noqa: E731
        fn = self.fullname(release, values)
        svcs_v = values["services"]
        mode = values["postgresql"]["mode"]

        # Unique objects, namespaced where they should be, no Secret.
        seen = set()
        for d in docs:
            key = (d["apiVersion"], d["kind"], d["metadata"]["name"])
            c(key not in seen, f"{key} rendered twice")
            seen.add(key)
            if d["kind"] not in CLUSTER_SCOPED:
                c(d["metadata"].get("namespace"), f"{d['kind']} {d['metadata']['name']}: no metadata.namespace")
        c(not [d for d in docs if d["kind"] == "Secret"],
          "the chart renders a Secret: secrets must be referenced, never embedded")

        cms = self.by_kind(docs, "ConfigMap")
        deps = self.by_kind(docs, "Deployment")
        services = self.by_kind(docs, "Service")
        pdbs = self.by_kind(docs, "PodDisruptionBudget")
        nps = self.by_kind(docs, "NetworkPolicy")
        hpas = self.by_kind(docs, "HorizontalPodAutoscaler")
        jobs = self.by_kind(docs, "Job")

        common = cms.get(f"{fn}-common", {}).get("data", {})
        c(common, f"ConfigMap {fn}-common missing")
        c(common.get("ASO_HEALTH_LISTEN") == f"0.0.0.0:{HEALTH_PORT}",
          f"ASO_HEALTH_LISTEN is {common.get('ASO_HEALTH_LISTEN')!r}, want 0.0.0.0:{HEALTH_PORT}")
        c(common.get("ASO_TLS_CERT") == "/etc/aso/tls/tls.crt"
          and common.get("ASO_TLS_KEY") == "/etc/aso/tls/tls.key"
          and common.get("ASO_TLS_CA", "").startswith("/etc/aso/tls/"), "TLS files not under /etc/aso/tls")
        c("ASO_DB" not in common, "the database DSN is in a ConfigMap")
        c("ASO_INSECURE" not in common, "ASO_INSECURE set by the chart")

        if mode == "cnpg":
            cluster_name = values["postgresql"]["cnpg"].get("clusterName") or f"{fn}-pg"
            db_secret, db_key = f"{cluster_name}-app", "uri"
        else:
            db_secret = values["postgresql"]["external"]["existingSecret"]
            db_key = values["postgresql"]["external"]["secretKey"]

        def db_env_ok(container):
            for e in container.get("env", []):
                if e["name"] == "ASO_DB":
                    ref = e.get("valueFrom", {}).get("secretKeyRef", {})
                    return ref.get("name") == db_secret and ref.get("key") == db_key
            return False

        c(len(deps) == 5, f"{len(deps)} Deployments, want 5: {sorted(deps)}")
        image = f"{values['image']['repository']}:{values['image'].get('tag') or self.app_version}"
        for key, name, binary, grpc, metrics in SERVICES:
            sv = svcs_v[key]
            dname = f"{fn}-{name}"
            dep = deps.get(dname)
            if not c(dep, f"Deployment {dname} missing"):
                continue
            hpa_on = key == "ingest" and sv.get("autoscaling", {}).get("enabled")
            spec = dep["spec"]
            if hpa_on:
                c("replicas" not in spec, f"{dname}: replicas set although the HPA manages it")
            else:
                c(spec.get("replicas") == sv["replicas"],
                  f"{dname}: replicas {spec.get('replicas')}, want {sv['replicas']}")
            pod = spec["template"]["spec"]
            labels = spec["template"]["metadata"]["labels"]
            c(self.selects(spec["selector"]["matchLabels"], labels),
              f"{dname}: selector does not match its pods")
            c(labels.get("app.kubernetes.io/component") == name, f"{dname}: component label")
            ctrs = pod["containers"]
            c(len(ctrs) == 1, f"{dname}: {len(ctrs)} containers")
            ct = ctrs[0]
            c(ct.get("command") == [binary], f"{dname}: command {ct.get('command')}, want [{binary}]")
            c(ct.get("image") == image, f"{dname}: image {ct.get('image')}, want {image}")
            ports = {p["name"]: p["containerPort"] for p in ct.get("ports", [])}
            c(ports == {"grpc": grpc, "metrics": metrics, "health": HEALTH_PORT}, f"{dname}: ports {ports}")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                p = ct.get(probe) or {}
                c(p.get("grpc", {}).get("port") == HEALTH_PORT and not p.get("grpc", {}).get("service"),
                  f"{dname}: {probe} is not a gRPC probe on port {HEALTH_PORT}: {p}")
            c(db_env_ok(ct), f"{dname}: ASO_DB not from Secret {db_secret} key {db_key}")
            refs = [e["configMapRef"]["name"] for e in ct.get("envFrom", []) if "configMapRef" in e]
            c(refs == [f"{fn}-common", f"{fn}-{name}"], f"{dname}: envFrom {refs}")
            for r in refs:
                c(r in cms, f"{dname}: envFrom ConfigMap {r} is not rendered")
            own = cms.get(f"{fn}-{name}", {}).get("data", {})
            c(own.get("ASO_LISTEN") == f"0.0.0.0:{grpc}", f"{dname}: ASO_LISTEN {own.get('ASO_LISTEN')}")
            c(own.get("ASO_METRICS_LISTEN") == f"0.0.0.0:{metrics}", f"{dname}: ASO_METRICS_LISTEN")
            for k, v in (sv.get("env") or {}).items():
                want = str(v).lower() if isinstance(v, bool) else str(v)
                c(own.get(k) == want, f"{dname}: env {k}={own.get(k)!r}, want {want!r} (services.{key}.env)")
            c(ct.get("resources") == sv["resources"], f"{dname}: resources {ct.get('resources')} != values")
            # Security.
            psc, csc = pod.get("securityContext", {}), ct.get("securityContext", {})
            c(psc.get("runAsNonRoot") is True and csc.get("runAsNonRoot") is True, f"{dname}: runAsNonRoot")
            c(psc.get("runAsUser") == IMAGE_USER and psc.get("fsGroup") == IMAGE_USER,
              f"{dname}: not user/group {IMAGE_USER}")
            c(csc.get("readOnlyRootFilesystem") is True, f"{dname}: readOnlyRootFilesystem")
            c(csc.get("allowPrivilegeEscalation") is False, f"{dname}: allowPrivilegeEscalation")
            c(csc.get("capabilities", {}).get("drop") == ["ALL"], f"{dname}: capabilities not dropped")
            c(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{dname}: seccomp RuntimeDefault")
            mounts = {m["mountPath"]: m["name"] for m in ct.get("volumeMounts", [])}
            vols = {v["name"]: v for v in pod.get("volumes", [])}
            c("emptyDir" in vols.get(mounts.get("/tmp"), {}), f"{dname}: no emptyDir at /tmp")
            tls_vol = vols.get(mounts.get("/etc/aso/tls"), {})
            c(tls_vol.get("secret", {}).get("secretName") == values["tls"]["existingSecret"],
              f"{dname}: TLS Secret {values['tls']['existingSecret']} not mounted at /etc/aso/tls")
            for m in ct.get("volumeMounts", []):
                c(m["name"] in vols, f"{dname}: volumeMount {m['name']} has no volume")
            # Graceful stop.
            c(pod.get("terminationGracePeriodSeconds", 30) >= 30,
              f"{dname}: terminationGracePeriodSeconds < 30")
            c("sleep" in json.dumps(ct.get("lifecycle", {}).get("preStop", {})), f"{dname}: no preStop pause")
            c(pod.get("automountServiceAccountToken") is False, f"{dname}: service account token mounted")
            # Init container waits for the schema with the same DSN.
            for ic in pod.get("initContainers", []):
                c(db_env_ok(ic), f"{dname}: init container {ic['name']}: ASO_DB")
            # Its Service.
            s = services.get(dname)
            if c(s, f"Service {dname} missing"):
                sports = {p["name"]: p["port"] for p in s["spec"]["ports"]}
                c(sports == {"grpc": grpc, "metrics": metrics}, f"Service {dname}: ports {sports}")
                c(self.selects(s["spec"]["selector"], labels) and
                  s["spec"]["selector"].get("app.kubernetes.io/component") == name,
                  f"Service {dname}: selector does not select its pods only")
                if key != "ingest":
                    c(s["spec"].get("type", "ClusterIP") == "ClusterIP", f"Service {dname}: not ClusterIP")
            # Its PodDisruptionBudget.
            if values.get("podDisruptionBudget", {}).get("enabled", True):
                pdb = pdbs.get(dname)
                if c(pdb, f"PodDisruptionBudget {dname} missing"):
                    n = sv["autoscaling"]["minReplicas"] if hpa_on else sv["replicas"]
                    want = {"minAvailable": 1} if n > 1 else {"maxUnavailable": 1}
                    got = {k: pdb["spec"][k] for k in ("minAvailable", "maxUnavailable") if k in pdb["spec"]}
                    c(got == want, f"PodDisruptionBudget {dname}: {got}, want {want} ({n} replicas)")
                    c(self.selects(pdb["spec"]["selector"]["matchLabels"], labels), f"PDB {dname}: selector")

        # Addresses between services.
        addr = lambda name, port: f"{fn}-{name}.{ns}.svc:{port}"  # noqa: E731
        cm = lambda name: cms.get(f"{fn}-{name}", {}).get("data", {})  # noqa: E731
        c(cm("scheduler").get("ASO_ADAPTER") == addr("fts-adapter", 50053), "scheduler's ASO_ADAPTER")
        c(cm("bookkeeping").get("ASO_ADAPTER") == addr("fts-adapter", 50053), "bookkeeping's ASO_ADAPTER")
        c(cm("fts-adapter").get("ASO_BOOKKEEPING") == addr("bookkeeping", 50054),
          "fts-adapter's ASO_BOOKKEEPING")
        fa = svcs_v["ftsAdapter"]
        c(cm("fts-adapter").get("ASO_BACKEND") == fa["backend"], "fts-adapter's ASO_BACKEND")
        if fa["backend"] == "fts3":
            c(cm("fts-adapter").get("ASO_FTS3_ENDPOINT") == fa["fts3"]["endpoint"], "ASO_FTS3_ENDPOINT")
            creds = fa["fts3"]["credentials"]
            adapter_pod = deps[f"{fn}-fts-adapter"]["spec"]["template"]["spec"]
            secrets = [v["secret"]["secretName"] for v in adapter_pod["volumes"] if "secret" in v]
            c(creds["existingSecret"] in secrets,
              f"FTS3 credentials Secret {creds['existingSecret']} not mounted")
            fa_env = cm("fts-adapter")
            if creds.get("tokenKey"):
                c(fa_env.get("ASO_FTS3_TOKEN_FILE") == f"/etc/aso/fts3/{creds['tokenKey']}", "ASO_FTS3_TOKEN_FILE")
            else:
                c(fa_env.get("ASO_FTS3_CERT") == f"/etc/aso/fts3/{creds['certKey']}", "ASO_FTS3_CERT")
                c(fa_env.get("ASO_FTS3_KEY") == f"/etc/aso/fts3/{creds['keyKey']}", "ASO_FTS3_KEY")

        # Users' delegated proxies: the sealing key mounted into aso-ingest, and into the fts-adapter when it
        # moves files as their owners: by the deployment's choice, its own switch, or a site of values.sites.
        sites_v = values.get("sites") or []
        adapter_as_owners = bool(
            svcs_v["scheduler"].get("userCredentials", False)
            or svcs_v["ftsAdapter"].get("userCredentials", False)
            or (re.search(r"credentials:\s*[\"']?owner", sites_v) is not None if isinstance(sites_v, str)
                else any(s.get("credentials") == "owner" for s in sites_v)))
        key = svcs_v["ingest"].get("credentialKey", {})
        ingest_pod = deps[f"{fn}-ingest"]["spec"]["template"]["spec"]
        ingest_secrets = [v["secret"]["secretName"] for v in ingest_pod["volumes"] if "secret" in v]
        if key.get("existingSecret"):
            c(key["existingSecret"] in ingest_secrets, f"credential key Secret {key['existingSecret']} not mounted")
            c(cm("ingest").get("ASO_CREDENTIAL_KEY_FILE") == f"/etc/aso/credential-key/{key['key']}",
              f"ingest's ASO_CREDENTIAL_KEY_FILE: {cm('ingest').get('ASO_CREDENTIAL_KEY_FILE')}")
            # The adapter opens the users' proxies only when it copies as their owners.
            user_mode = adapter_as_owners
            fa_pod = deps[f"{fn}-fts-adapter"]["spec"]["template"]["spec"]
            fa_secrets = [v["secret"]["secretName"] for v in fa_pod["volumes"] if "secret" in v]
            c((key["existingSecret"] in fa_secrets) == user_mode,
              f"the credential key is mounted into fts-adapter exactly when userCredentials ({user_mode})")
            c((cm("fts-adapter").get("ASO_CREDENTIAL_KEY_FILE") == f"/etc/aso/credential-key/{key['key']}")
              == user_mode, "fts-adapter's ASO_CREDENTIAL_KEY_FILE follows userCredentials")
            for other in ("scheduler", "bookkeeping", "monitoring"):
                pod = deps[f"{fn}-{other}"]["spec"]["template"]["spec"]
                c(key["existingSecret"] not in [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v],
                  f"the credential key is mounted into {other}")
        else:
            c("ASO_CREDENTIAL_KEY_FILE" not in cm("ingest"), "ASO_CREDENTIAL_KEY_FILE set without a Secret")
        sch = svcs_v["scheduler"]
        c(cm("fts-adapter").get("ASO_USER_CREDENTIALS") == str(adapter_as_owners).lower(),
          f"fts-adapter's ASO_USER_CREDENTIALS: {cm('fts-adapter').get('ASO_USER_CREDENTIALS')}")
        c(cm("scheduler").get("ASO_USER_CREDENTIALS") == str(sch.get("userCredentials", False)).lower(),
          f"scheduler's ASO_USER_CREDENTIALS: {cm('scheduler').get('ASO_USER_CREDENTIALS')}")
        c(cm("scheduler").get("ASO_CREDENTIAL_MIN_REMAINING") == sch.get("credentialMinRemaining", "1h"),
          "scheduler's ASO_CREDENTIAL_MIN_REMAINING")

        # Migration Job(s).
        hook_jobs = {n: j for n, j in jobs.items() if self.hook(j)}
        migrate = jobs.get(f"{fn}-migrate")
        if c(migrate, f"migration Job {fn}-migrate missing"):
            ann = migrate["metadata"]["annotations"]
            want_hook = "pre-upgrade" if mode == "cnpg" else "pre-install,pre-upgrade"
            c(ann.get("helm.sh/hook") == want_hook,
              f"migration Job hook {ann.get('helm.sh/hook')!r}, want {want_hook!r}")
            c(ann.get("helm.sh/hook-delete-policy") == "before-hook-creation,hook-succeeded",
              f"migration Job hook-delete-policy {ann.get('helm.sh/hook-delete-policy')!r}")
            mc = migrate["spec"]["template"]["spec"]["containers"][0]
            c('asoctl db migrate --db "$ASO_DB"' in json.dumps(mc.get("command")).replace('\\"', '"'),
              "migration Job does not run asoctl db migrate --db \"$ASO_DB\"")
            c(db_env_ok(mc), f"migration Job: ASO_DB not from Secret {db_secret} key {db_key}")
        install_job = jobs.get(f"{fn}-migrate-install")
        if mode == "cnpg" and not upgrade:
            if c(install_job, "cnpg mode: no install-time migration Job"):
                c(not self.hook(install_job), "cnpg mode: the install-time migration Job must not be a hook")
                c(db_env_ok(install_job["spec"]["template"]["spec"]["containers"][0]),
                  "install-time migration Job: ASO_DB")
        else:
            c(install_job is None, f"{fn}-migrate-install rendered (only on a cnpg install)")

        # Site import.
        site_job = jobs.get(f"{fn}-site-import")
        sites = values.get("sites")
        if sites:
            if c(site_job, "sites given but no site-import Job"):
                ann = site_job["metadata"]["annotations"]
                c(ann.get("helm.sh/hook") == "post-install,post-upgrade",
                  f"site-import hook {ann.get('helm.sh/hook')!r}")
                c(ann.get("helm.sh/hook-delete-policy") == "before-hook-creation,hook-succeeded",
                  "site-import hook-delete-policy")
                sc = site_job["spec"]["template"]["spec"]["containers"][0]
                c("asoctl sites import /etc/aso/sites/sites.yaml" in json.dumps(sc.get("command")),
                  "site-import Job does not run asoctl sites import /etc/aso/sites/sites.yaml")
                env = {e["name"]: e.get("value") for e in sc.get("env", [])}
                c(env.get("ASO_BOOKKEEPING") == addr("bookkeeping", 50054), "site-import: ASO_BOOKKEEPING")
                c(env.get("ASO_TLS_CERT", "").startswith("/etc/aso/admin/"), "site-import: admin certificate")
                vols = site_job["spec"]["template"]["spec"]["volumes"]
                c(values["siteImport"]["adminSecret"] in [v.get("secret", {}).get("secretName") for v in vols],
                  "site-import: admin Secret not mounted")
            cmap = cms.get(f"{fn}-sites")
            if c(cmap, "sites given but no sites ConfigMap"):
                path = os.path.join(self.tmp, f"{label}-sites.yaml".replace(" ", "_").replace("/", "_"))
                with open(path, "w") as f:
                    f.write(cmap["data"]["sites.yaml"])
                parsed = self.parse_yaml(path)
                want = {"sites": sites} if isinstance(sites, list) else None
                if want is None:
                    wpath = path + ".want"
                    with open(wpath, "w") as f:
                        f.write(sites)
                    want = self.parse_yaml(wpath)
                c(parsed == want, "sites ConfigMap differs from values.sites")
        else:
            c(site_job is None and f"{fn}-sites" not in cms, "site import rendered without sites")
        c(set(hook_jobs) <= {f"{fn}-migrate", f"{fn}-site-import"}, f"unexpected hook Jobs {sorted(hook_jobs)}")

        # NetworkPolicies.
        npv = values.get("networkPolicy", {})
        if npv.get("enabled", True):
            c(len(nps) == 5, f"{len(nps)} NetworkPolicies, want 5")
            admin_from = npv.get("adminFrom") or []
            for key, name, _, grpc, metrics in SERVICES:
                p = nps.get(f"{fn}-{name}")
                if not c(p, f"NetworkPolicy {fn}-{name} missing"):
                    continue
                spec = p["spec"]
                c(spec.get("policyTypes") == ["Ingress"],
                  f"NetworkPolicy {name}: policyTypes {spec.get('policyTypes')} (egress must stay open)")
                c(spec["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == name,
                  f"NetworkPolicy {name}: podSelector")
                grpc_rules = [r for r in spec.get("ingress", [])
                              if any(pt.get("port") == grpc for pt in r.get("ports", []))]
                open_rules = [r for r in grpc_rules if not r.get("from")]
                if key == "ingest":
                    if npv.get("ingestFrom"):
                        c(any(r.get("from") == npv["ingestFrom"] for r in grpc_rules),
                          "ingest: ingestFrom not applied")
                        c(not open_rules, "ingest: gRPC open to all although ingestFrom is set")
                    else:
                        c(open_rules, "ingest: gRPC port not reachable from any namespace")
                else:
                    c(not open_rules, f"{name}: gRPC port open to every source")
                    for r in grpc_rules:
                        peers = r.get("from", [])
                        same_ns = all("podSelector" in pr and "namespaceSelector" not in pr
                                      and "ipBlock" not in pr for pr in peers)
                        c(same_ns or peers == admin_from,
                          f"{name}: gRPC reachable from outside the namespace: {peers}")
                    c(any(r.get("from") and all("namespaceSelector" not in pr for pr in r["from"])
                          for r in grpc_rules),
                      f"{name}: gRPC port not reachable from the ASO pods of the namespace")
                metrics_rules = [r for r in spec.get("ingress", [])
                                 if any(pt.get("port") == metrics for pt in r.get("ports", []))]
                prom = npv["metricsNamespaceSelector"]
                c(any(any(pr.get("namespaceSelector") == prom for pr in r.get("from", [])) for r in metrics_rules),
                  f"{name}: metrics port not reachable from the Prometheus namespace")
        else:
            c(not nps, "NetworkPolicies rendered although disabled")

        # HPA.
        auto = svcs_v["ingest"].get("autoscaling", {})
        if auto.get("enabled"):
            h = hpas.get(f"{fn}-ingest")
            if c(h and len(hpas) == 1, f"HPA {fn}-ingest missing (or more than one HPA: {sorted(hpas)})"):
                ref = h["spec"]["scaleTargetRef"]
                c(ref == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{fn}-ingest"},
                  f"HPA targets {ref}, want Deployment {fn}-ingest")
                c((h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) == (auto["minReplicas"], auto["maxReplicas"]),
                  "HPA min/max replicas")
                m = h["spec"]["metrics"][0]["resource"]
                c(m["name"] == "cpu"
                  and m["target"]["averageUtilization"] == auto["targetCPUUtilizationPercentage"],
                  "HPA CPU target")
        else:
            c(not hpas, "HPA rendered although disabled")

        # Metrics.
        met = values.get("metrics", {})
        sms = self.by_kind(docs, "ServiceMonitor")
        if met.get("serviceMonitor", {}).get("enabled"):
            sm = sms.get(fn)
            if c(sm, "ServiceMonitor missing"):
                sel = sm["spec"]["selector"]
                comps = next((e["values"] for e in sel.get("matchExpressions", [])
                              if e["key"] == "app.kubernetes.io/component"), [])
                picked = [n for n, s in services.items()
                          if self.selects(sel.get("matchLabels"), s["metadata"]["labels"])
                          and s["metadata"]["labels"].get("app.kubernetes.io/component") in comps]
                c(sorted(picked) == sorted(f"{fn}-{s[1]}" for s in SERVICES),
                  f"ServiceMonitor selects {picked}")
                ep = sm["spec"]["endpoints"]
                c(len(ep) == 1 and ep[0]["port"] == "metrics" and ep[0].get("path") == "/metrics",
                  "ServiceMonitor endpoint is not port metrics, /metrics")
                rl = ep[0].get("relabelings", [])
                c(any(r.get("targetLabel") == "job" and r.get("replacement") == "aso-$1" for r in rl),
                  "ServiceMonitor does not set job=aso-<service> (the alerts select on it)")
                c(sm["metadata"]["labels"].items() >= (met["serviceMonitor"].get("labels") or {}).items(),
                  "ServiceMonitor lacks metrics.serviceMonitor.labels")
        else:
            c(not sms, "ServiceMonitor rendered although disabled")

        rules = self.by_kind(docs, "PrometheusRule")
        if met.get("prometheusRule", {}).get("enabled"):
            pr = rules.get(fn)
            if c(pr, "PrometheusRule missing"):
                source = self.alerts
                got_alerts = [r.get("alert") for g in pr["spec"]["groups"] for r in g["rules"]]
                want_alerts = [r.get("alert") for g in source["groups"] for r in g["rules"]]
                missing = [a for a in want_alerts if a not in got_alerts]
                c(not missing, f"PrometheusRule lacks alerts {missing}")
                c(pr["spec"]["groups"] == source["groups"],
                  "PrometheusRule groups differ from deploy/prometheus/aso-alerts.yml")
        else:
            c(not rules, "PrometheusRule rendered although disabled")

        dash = {n: d for n, d in cms.items()
                if d["metadata"]["labels"].get("app.kubernetes.io/component") == "dashboards"}
        dv = met.get("dashboards", {})
        if dv.get("enabled"):
            files = sorted(glob.glob(os.path.join(self.repo, "deploy", "grafana", "*.json")))
            c(len(dash) == len(files), f"{len(dash)} dashboard ConfigMaps for {len(files)} dashboards")
            want_labels = dv.get("labels") or {"grafana_dashboard": "1"}
            by_file = {}
            for d in dash.values():
                c(d["metadata"]["labels"].items() >= want_labels.items(), f"{d['metadata']['name']}: labels")
                c(d["metadata"]["namespace"] == (dv.get("namespace") or ns),
                  f"{d['metadata']['name']}: namespace")
                by_file.update(d["data"])
            for path in files:
                name = os.path.basename(path)
                with open(path) as f:
                    want = json.load(f)
                try:
                    got = json.loads(by_file[name]) if name in by_file else None
                except ValueError as e:
                    got = f"invalid JSON: {e}"
                c(got == want, f"dashboard {name} missing or different from deploy/grafana/{name}")
        else:
            c(not dash, "dashboard ConfigMaps rendered although disabled")

        # PostgreSQL.
        clusters = self.by_kind(docs, "Cluster")
        if mode == "cnpg":
            cv = values["postgresql"]["cnpg"]
            cl = clusters.get(cluster_name)
            if c(cl and cl["apiVersion"] == "postgresql.cnpg.io/v1",
                 f"CloudNativePG Cluster {cluster_name} missing"):
                c(cl["spec"]["instances"] == cv["instances"], f"Cluster instances {cl['spec']['instances']}")
                c(cl["spec"]["storage"]["size"] == cv["storage"]["size"], "Cluster storage size")
                c(cl["spec"]["bootstrap"]["initdb"]["database"] == cv.get("database", "aso"),
                  "Cluster database")
                keep = (cl["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep"
                c(keep == bool(cv.get("keepOnUninstall", True)),
                  "Cluster: helm.sh/resource-policy keep not as in values")
        else:
            c(not clusters, "a Cluster rendered in external mode")

    # ---- 5. NOTES.txt ----------------------------------------------------------------------------------

    def check_notes(self, label, release, ns, values_file):
        """Renders NOTES.txt (helm template skips it) through a copy of the chart where a ConfigMap holds it."""
        copy = os.path.join(self.tmp, "notes-chart")
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(self.chart, copy)
        os.rename(os.path.join(copy, "templates", "NOTES.txt"), os.path.join(copy, "notes.tpl"))
        with open(os.path.join(copy, "templates", "zz-notes.yaml"), "w") as f:
            f.write('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n'
                    'data:\n  notes: {{ tpl (.Files.Get "notes.tpl") . | toJson }}\n')
        args = [self.helm, "template", release, copy, "-n", ns, "--show-only", "templates/zz-notes.yaml"]
        if values_file:
            args += ["-f", values_file]
        r = self.run(args)
        if not self.check(r.returncode == 0, f"[{label}] NOTES.txt does not render:\n{r.stderr}"):
            return
        out = os.path.join(self.tmp, "notes.yaml")
        with open(out, "w") as f:
            f.write(r.stdout)
        notes = self.parse_yaml(out)["data"]["notes"]
        for want in ("kubectl", "port-forward", "asoctl health", "aso-submit", "/metrics"):
            self.check(want in notes, f"[{label}] NOTES.txt does not mention {want!r}")

    # ---- 6. refused values -----------------------------------------------------------------------------

    def check_bad_values(self):
        files = sorted(glob.glob(os.path.join(self.repo, "tests", "deploy", "helm-bad-values", "*.yaml")))
        self.check(len(files) >= 3, f"only {len(files)} files in tests/deploy/helm-bad-values")
        for path in files:
            rel = os.path.relpath(path, self.repo)
            with open(path) as f:
                expect = [line.split(":", 1)[1].strip() for line in f if line.startswith("# expect:")]
            if not self.check(expect, f"{rel}: no '# expect: TEXT' line naming the error"):
                continue
            r = self.run([self.helm, "template", "bad", self.chart, "-f", path])
            if not self.check(r.returncode != 0, f"{rel}: accepted by helm template (must be refused)"):
                continue
            for e in expect:
                self.check(e in r.stderr, f"{rel}: error does not name {e!r}:\n{r.stderr.strip()}")
        print(f"check_helm: {len(files)} bad values files refused")

    # ---- main ------------------------------------------------------------------------------------------

    def main(self):
        try:
            return self.run_checks()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def run_checks(self):
        self.preflight()
        chart_meta = self.parse_yaml(os.path.join(self.chart, "Chart.yaml"))
        self.app_version = str(chart_meta["appVersion"])
        self.alerts = self.parse_yaml(os.path.join(self.repo, "deploy", "prometheus", "aso-alerts.yml"))
        defaults = self.parse_yaml(os.path.join(self.chart, "values.yaml"))

        self.check_copies()

        scenarios = [("default values", "aso", "aso", None)]
        for path in sorted(glob.glob(os.path.join(self.chart, "ci", "*-values.yaml"))):
            name = os.path.basename(path)[: -len("-values.yaml")]
            scenarios.append((os.path.relpath(path, self.repo), name, f"aso-{name}", path))
        self.check(any(s[3] and s[3].endswith("production-values.yaml") for s in scenarios),
                   "helm/aso/ci/production-values.yaml missing")

        for label, release, ns, path in scenarios:
            self.lint(path)
            values = merge(json.loads(json.dumps(defaults)), self.parse_yaml(path) if path else {})
            for upgrade in (False, True):
                docs = self.template(release, ns, path, upgrade)
                if docs is not None:
                    self.check_render(label + (" --is-upgrade" if upgrade else ""), docs, release, ns, values,
                                      upgrade)
            self.check_notes(label, release, ns, path)
            print(f"check_helm: {label}: facts checked")

        self.check_bad_values()

        if self.failures:
            print(f"check_helm: {len(self.failures)} failure(s), {self.passed} checks passed", file=sys.stderr)
            return 1
        print(f"check_helm: OK ({self.passed} checks passed)")
        return 0


def merge(base, override):
    """Helm's values merge: maps merge recursively, anything else replaces."""
    for k, v in (override or {}).items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v
    return base


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", required=True, help="root of the ASO repository")
    ap.add_argument("--tools", default=os.environ.get("ASO_HELM_TOOLS", "/var/tmp/aso-helm-tools"),
                    help="folder of scripts/install-helm-tools "
                         "(default $ASO_HELM_TOOLS or /var/tmp/aso-helm-tools)")
    a = ap.parse_args()
    sys.exit(Checker(a.repo, a.tools).main())
