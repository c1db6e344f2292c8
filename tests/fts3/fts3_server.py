#!/usr/bin/env python3
"""A test FTS3 server that follows ../shared/FTS3_REST.md: the REST API of FTS3 over HTTPS with X.509 client
certificates (or a bearer token), whose transfers really copy between XRootD endpoints with `xrdcp`.

    tests/fts3/fts3_server.py --port N --cert server.pem --key server.key --ca ca.pem [--workers 4]

What it implements, as FTS3 does:
  POST /jobs                 submission; `id_generator: deterministic` + `sid` give
                             job_id = uuid5(uuid5(BASE, vo), sid), and a second submission of a sid is 409;
                             `file://` URLs are refused (400); checksum `adler32:...` verified at the
                             destination when `verify_checksum` asks for it; `overwrite` false refuses an
                             existing destination (DESTINATION [17] ... File exists).
  GET /jobs/{id}             job object with `files`; several ids: 207 with an `http_status` per item.
  GET /jobs/{id}/files       file objects.
  GET /jobs?state_in=..&fields=..&limit=N   (limit <= 500; without state_in only unfinished jobs)
  DELETE /jobs/{id}[,{id2}]  cancel; a terminal job answers 200 with "http_status": "304 Not Modified".
  DELETE /jobs/{id}/files/{fid}[,..]  cancel files.
  GET /whoami                the caller's DN and delegation id (the first 16 hex digits of the SHA-1 of the
                             DN, proxy CNs stripped).
  GET /delegation/{id}       the caller's delegated credential: {"termination_time": ...}, or null.
  GET /delegation/{id}/request   a PEM certificate request for a key the server keeps (text/plain).
  PUT /delegation/{id}/credential   the proxy signed for that request, then its chain (PEM): checked with
                             `openssl verify -allow_proxy_certs` against the CA, for the request's key and
                             for the caller's own DN; 201. DELETE /delegation/{id} drops it.
  A client authenticated by certificate must hold a delegated credential with more than an hour left to
  submit (POST /jobs), else 419; a bearer token needs none. A file may carry `source_tokens` and
  `destination_tokens` (one token per source and per destination, as FTS3's token transfers take them);
  the file object then shows whose they are as `source_token_sub` / `destination_token_sub` (the tokens'
  "sub", an extra of this server; the tokens themselves are never shown).

Also (an OAuth2 token issuer's endpoint, for the refresh of tokens delegated to ASO; not part of FTS3):
  POST /token  grant_type=refresh_token&refresh_token=rt-<user>-<n>&client_id=aso-client: a new access
               token for <user> (a JWT of the dev token issuer, scripts/dev-token, audience
               https://storage.example, 1 h) and the next refresh token rt-<user>-<n+1>; a refresh token
               used before, or another client, is refused (400 invalid_grant, 401 invalid_client).
Job states SUBMITTED -> ACTIVE -> FINISHED / FAILED / FINISHEDDIRTY / CANCELED; file reasons read
"SCOPE [errno] message".

Fault injection for tests (not part of FTS3), under /_test:
  POST /_test/faults {"status": 503, "count": 2}   the next 2 requests answer 503 (or 419, 500, ...)
  POST /_test/faults {"pause_copies": true}         copies wait until {"pause_copies": false}
  POST /_test/faults {"hang_seconds": 35, "hang_for": 20}
                                                    requests arriving in the next 20 s are carried out at
                                                    once but answered 35 s late (a server that stops
                                                    answering in time; a late submission is stored)
  POST /_test/faults {"lose_jobs": 1}               the next job submitted is accepted (200, its job_id)
                                                    and then forgotten: never copied, 404 on status
  POST /_test/faults {"fail_files": 3}              the next 3 copies fail at once, recoverable:
                                                    "TRANSFER [111] Connection refused (injected ...)"
  GET  /_test/faults                                what was injected and what of it was served
  GET  /_test/requests                              how many requests of each kind were served
"""

import argparse
import base64
import hashlib
import json
import os
import re
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

# FTS3 derives deterministic ids from a fixed namespace and the VO; the test server uses its own.
BASE = uuid.UUID("6f1c8d50-3b1e-5c6e-9d2a-0a5e5f0e7a11")
TERMINAL_JOB = {"FINISHED", "FAILED", "FINISHEDDIRTY", "CANCELED"}
TERMINAL_FILE = {"FINISHED", "FAILED", "CANCELED"}
XRDCP_TIMEOUT = 600


def owner_dn(dn):
    """The DN of the certificate behind a proxy: its subject without the proxy's numeric CNs."""
    while re.search(r"/CN=\d+$", dn):
        dn = re.sub(r"/CN=\d+$", "", dn)
    return dn


def token_sub(tokens):
    """The "sub" of the first of a file's tokens (read, not verified), or None."""
    if not tokens:
        return None
    try:
        payload = tokens[0].split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("sub")
    except (IndexError, ValueError):
        return "(unreadable)"


def delegation_id(dn):
    return hashlib.sha1(owner_dn(dn).encode()).hexdigest()[:16]


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, text=True, timeout=30)


def now_text():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def error(status, message):
    return status, {"status": f"{status} {STATUS_TEXT.get(status, '')}".strip(), "message": message}


STATUS_TEXT = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 419: "Authentication Timeout",
               500: "Internal Server Error", 503: "Service Unavailable", 207: "Multi-Status", 304: "Not Modified"}


class Store:
    def __init__(self, workers):
        self.lock = threading.Condition()
        self.jobs = {}          # job_id -> job dict (with "files": [file dicts])
        self.order = []         # job ids in submission order
        self.next_file_id = 1
        self.queue = []         # (job_id, file index) waiting for a copy slot
        self.faults = []        # statuses to answer next
        self.pause = False
        self.requests = {}
        self.hang_seconds, self.hang_until = 0.0, 0.0  # answers of requests arriving before hang_until wait
        self.lose_jobs, self.fail_files = 0, 0          # jobs to forget, copies to fail (next ones)
        self.served = {"status": 0, "hung": 0, "lost_jobs": [], "failed_files": 0}
        self.delegations = {}   # delegation id -> termination time (Unix seconds)
        self.refresh_generation = {}  # user -> the generation of refresh token that is valid (POST /token)
        self.pending_keys = {}  # delegation id -> PEM private key of the request issued
        self.ca = None          # CA file the delegated chains are verified against
        self.workers = [threading.Thread(target=self.copy_loop, daemon=True) for _ in range(workers)]
        for w in self.workers:
            w.start()

    # -- copies -----------------------------------------------------------------------------------
    def copy_loop(self):
        while True:
            with self.lock:
                while not self.queue or self.pause:
                    self.lock.wait()
                job_id, index = self.queue.pop(0)
                job = self.jobs[job_id]
                f = job["files"][index]
                if f["file_state"] != "SUBMITTED":
                    continue
                f["file_state"] = "ACTIVE"
                f["start_time"] = now_text()
                job["job_state"] = "ACTIVE"
                params = job["params"]
                fail = self.fail_files > 0
                if fail:
                    self.fail_files -= 1
                    self.served["failed_files"] += 1
            started = time.time()
            if fail:
                state, reason, recoverable = \
                    "FAILED", "TRANSFER [111] Connection refused (injected by the FTS3 test server)", True
            else:
                state, reason, recoverable = self.copy(f, params)
            with self.lock:
                if f["file_state"] == "CANCELED":  # cancelled while copying: the copy's result is void
                    continue
                f["file_state"] = state
                f["reason"] = reason
                f["recoverable"] = recoverable
                f["finish_time"] = now_text()
                f["tx_duration"] = round(time.time() - started, 3)
                if state == "FINISHED":
                    f["filesize"] = f["user_filesize"]
                    f["throughput"] = (f["filesize"] / 1048576) / max(f["tx_duration"], 1e-3)
                self.update_job(job)
                self.lock.notify_all()

    def copy(self, f, params):
        src, dst = f["source_surl"], f["dest_surl"]
        cmd = ["xrdcp", "--silent", "--path"]
        if params.get("overwrite"):
            cmd.append("--force")
        verify = params.get("verify_checksum", "none")
        if verify is True:
            verify = "both"
        checksum = f.get("checksum") or ""
        if verify in ("both", "target", "destination") and checksum.lower().startswith("adler32:"):
            cmd += ["--cksum", "adler32:" + checksum.split(":", 1)[1].lower()]
        elif verify in ("both", "target", "destination"):
            cmd += ["--cksum", "adler32:source"]
        cmd += [src, dst]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=params.get("timeout") or XRDCP_TIMEOUT)
        except subprocess.TimeoutExpired:
            return "FAILED", "TRANSFER [110] Operation timeout: the copy took longer than the timeout", True
        if out.returncode == 0:
            return "FINISHED", "", False
        return ("FAILED",) + classify(out.stderr.strip() or out.stdout.strip(), checksum)

    def update_job(self, job):
        states = [f["file_state"] for f in job["files"]]
        if all(s in TERMINAL_FILE for s in states):
            if all(s == "FINISHED" for s in states):
                job["job_state"] = "FINISHED"
            elif all(s == "CANCELED" for s in states):
                job["job_state"] = "CANCELED"
            elif any(s == "FINISHED" for s in states):
                job["job_state"] = "FINISHEDDIRTY"
            else:
                job["job_state"] = "FAILED"
            job["job_finished"] = now_text()
            failed = [f for f in job["files"] if f["file_state"] == "FAILED"]
            job["reason"] = f"One or more files failed. Please have a look at the details for more information" \
                if failed else ""

    # -- API --------------------------------------------------------------------------------------
    def submit(self, body, dn):
        files = body.get("files")
        params = body.get("params") or {}
        if not isinstance(files, list) or not files:
            return error(400, "No transfers or namespace operations specified")
        vo = "aso"
        if params.get("id_generator") == "deterministic":
            sid = params.get("sid")
            if not sid:
                return error(400, "Deterministic job id generator requires a sid")
            job_id = str(uuid.uuid5(uuid.uuid5(BASE, vo), str(sid)))
        else:
            job_id = str(uuid.uuid1())
        entries = []
        for i, f in enumerate(files):
            sources, destinations = f.get("sources") or [], f.get("destinations") or []
            if len(sources) != 1 or len(destinations) != 1:
                return error(400, f"files[{i}]: exactly one source and one destination are supported here")
            for url in (sources[0], destinations[0]):
                u = urlparse(url)
                if u.scheme == "file":
                    return error(400, f"Can not transfer local files: {url}")
                if not u.scheme or not u.netloc or not u.path:
                    return error(400, f"Invalid URL: {url}")
            for field in ("source_tokens", "destination_tokens"):
                if field in f and (not isinstance(f[field], list) or len(f[field]) != 1
                                   or not isinstance(f[field][0], str) or not f[field][0]):
                    return error(400, f"files[{i}]: {field} must hold one token per "
                                      f"{'source' if field.startswith('source') else 'destination'}")
            entries.append((i, f, sources[0], destinations[0]))
        with self.lock:
            if job_id in self.jobs:
                return error(409, f"The sid provided by the user is duplicated: job {job_id} already exists")
            if self.lose_jobs > 0:  # accepted, then lost (test fault): never copied, unknown afterwards
                self.lose_jobs -= 1
                self.served["lost_jobs"].append(job_id)
                return 200, {"job_id": job_id}
            job = {"job_id": job_id, "job_state": "SUBMITTED", "job_type": "N", "source_se": se(entries[0][2]),
                   "dest_se": se(entries[0][3]), "user_dn": dn, "vo_name": vo,
                   "priority": params.get("priority", 3), "retry": params.get("retry", 0), "reason": "",
                   "submit_time": now_text(), "job_finished": None, "job_metadata": params.get("job_metadata"),
                   "cancel_job": False, "params": params, "files": []}
            for i, f, src, dst in entries:
                job["files"].append({
                    "file_id": self.next_file_id, "file_index": i, "job_id": job_id, "file_state": "SUBMITTED",
                    "reason": "", "source_surl": src, "dest_surl": dst, "source_se": se(src), "dest_se": se(dst),
                    "checksum": f.get("checksum", ""), "user_filesize": int(f.get("filesize") or 0), "filesize": 0,
                    "start_time": None, "finish_time": None, "tx_duration": 0, "throughput": 0, "retry": 0,
                    "recoverable": False, "file_metadata": f.get("metadata"), "activity": f.get("activity", ""),
                    "source_token_sub": token_sub(f.get("source_tokens")),
                    "destination_token_sub": token_sub(f.get("destination_tokens"))})
                self.next_file_id += 1
                self.queue.append((job_id, len(job["files"]) - 1))
            self.jobs[job_id] = job
            self.order.append(job_id)
            self.lock.notify_all()
        return 200, {"job_id": job_id}

    def view(self, job, fields=None, with_files=True):
        out = {k: v for k, v in job.items() if k not in ("params", "files")}
        if with_files:
            out["files"] = [dict(f) for f in job["files"]]
            if fields:
                out["files"] = [{k: f[k] for k in fields if k in f} for f in out["files"]]
        return out

    def get_jobs(self, ids, file_fields):
        with self.lock:
            if len(ids) == 1:
                job = self.jobs.get(ids[0])
                if job is None:
                    return error(404, f"No job with the id {ids[0]} has been found")
                return 200, self.view(job, file_fields)
            items = []
            for i in ids:
                job = self.jobs.get(i)
                if job is None:
                    items.append({"job_id": i, "http_status": "404 Not Found"})
                else:
                    item = self.view(job, file_fields)
                    item["http_status"] = "200 Ok"
                    items.append(item)
            return 207, items

    def list_jobs(self, query):
        states = set(query.get("state_in", [""])[0].split(",")) - {""}
        limit = min(int(query.get("limit", ["100"])[0]), 500)
        fields = [x for x in query.get("fields", [""])[0].split(",") if x]
        out = []
        with self.lock:
            for job_id in reversed(self.order):
                job = self.jobs[job_id]
                if states and job["job_state"] not in states:
                    continue
                if not states and job["job_state"] in TERMINAL_JOB:
                    continue
                item = self.view(job, with_files=False)
                if fields:
                    item = {k: item[k] for k in fields if k in item}
                out.append(item)
                if len(out) >= limit:
                    break
        return 200, out

    def cancel_jobs(self, ids):
        results = []
        with self.lock:
            for i in ids:
                job = self.jobs.get(i)
                if job is None:
                    results.append({"job_id": i, "http_status": "404 Not Found"})
                    continue
                if job["job_state"] in TERMINAL_JOB:
                    results.append({"job_id": i, "job_state": job["job_state"], "http_status": "304 Not Modified"})
                    continue
                for f in job["files"]:
                    if f["file_state"] not in TERMINAL_FILE:
                        f["file_state"] = "CANCELED"
                        f["reason"] = "TRANSFER [125] Transfer canceled by the user"
                        f["finish_time"] = now_text()
                job["cancel_job"] = True
                self.update_job(job)
                results.append({"job_id": i, "job_state": job["job_state"], "http_status": "200 Ok"})
        if len(ids) == 1:
            r = results[0]
            if r["http_status"].startswith("404"):
                return error(404, f"No job with the id {ids[0]} has been found")
            return 200, r
        return 207, results

    def cancel_files(self, job_id, file_ids):
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return error(404, f"No job with the id {job_id} has been found")
            out = []
            for fid in file_ids:
                f = next((x for x in job["files"] if str(x["file_id"]) == fid), None)
                if f is None:
                    out.append("File not found")
                elif f["file_state"] in TERMINAL_FILE:
                    out.append(f["file_state"])
                else:
                    f["file_state"] = "CANCELED"
                    f["reason"] = "TRANSFER [125] Transfer canceled by the user"
                    f["finish_time"] = now_text()
                    out.append("CANCELED")
            self.update_job(job)
        return 200, out[0] if len(out) == 1 else out


# Grid DNs use the short attribute names.
SHORT_NAMES = {"domainComponent": "DC", "organizationalUnitName": "OU", "commonName": "CN", "organizationName": "O",
               "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST"}


def se(url):
    u = urlparse(url)
    return f"{u.scheme}://{u.hostname}"


def classify(message, checksum):
    """An xrdcp failure as FTS3 reports it: "SCOPE [errno] message" and the transfer agent's verdict."""
    m = message.replace("\n", " ").replace("\x00", "")  # xrdcp ends some messages with a NUL
    low = m.lower()
    if "checksum" in low and ("mismatch" in low or "differ" in low or "do not match" in low or "error" in low):
        return f"TRANSFER [5] CHECKSUM MISMATCH User defined checksum and destination checksum do not match ({m})", False
    if "no such file" in low or "not found" in low:
        scope = "SOURCE" if "[3011]" in m or "source" in low or "open" in low else "TRANSFER"
        return f"{scope} [2] No such file or directory: {m}", False
    if "file exists" in low or "[3018]" in m:
        return f"DESTINATION [17] File exists and overwrite is not enabled: {m}", False
    if "permission denied" in low or "not authorized" in low:
        return f"DESTINATION [13] Permission denied: {m}", False
    if "no space" in low:
        return f"DESTINATION [28] No space left on device: {m}", False
    if "connection refused" in low or "unable to connect" in low or "[3009]" in m or "network" in low:
        return f"TRANSFER [111] Connection refused: {m}", True
    if "timeout" in low or "timed out" in low:
        return f"TRANSFER [110] Operation timeout: {m}", True
    return f"TRANSFER [5] {m}", True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fts3-test/3.14"

    def log_message(self, fmt, *args):  # quiet unless asked
        if self.server.verbose:
            super().log_message(fmt, *args)

    def caller(self):
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return "token:" + auth[len("Bearer "):][:16]
        cert = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        if not cert:
            return None
        return "/" + "/".join(f"{SHORT_NAMES.get(k, k)}={v}" for rdn in cert.get("subject", ()) for k, v in rdn)

    def reply(self, status, body):
        data = json.dumps(body).encode()
        if getattr(self, "hang", 0):  # test fault: carried out, answered late (the client may be gone)
            time.sleep(self.hang)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw or b"{}")

    def handle_any(self, method):
        store = self.server.store
        url = urlparse(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = parse_qs(url.query)
        if parts[:1] == ["_test"]:
            return self.test_control(method, parts[1:])
        if parts == ["token"] and method == "POST":
            return self.token_endpoint()
        self.hang = 0
        with store.lock:
            if time.time() < store.hang_until:
                self.hang = store.hang_seconds
                store.served["hung"] += 1
            store.requests[method + " " + (parts[0] if parts else "/")] = \
                store.requests.get(method + " " + (parts[0] if parts else "/"), 0) + 1
            fault = store.faults.pop(0) if store.faults else None
            if fault is not None:
                store.served["status"] += 1
        if fault is not None:
            return self.reply(*error(fault, {419: "The delegated credential expired or does not exist",
                                             503: "The server is overloaded; try again later"}
                                     .get(fault, "injected failure")))
        dn = self.caller()
        if dn is None:
            return self.reply(*error(403, "No client certificate or token"))
        try:
            if parts == ["whoami"] and method == "GET":
                return self.reply(200, {"dn": [owner_dn(dn)], "user_dn": owner_dn(dn), "vos": ["aso"],
                                        "delegation_id": delegation_id(dn),
                                        "method": "certificate" if not dn.startswith("token:") else "oauth2"})
            if parts[:1] == ["delegation"] and len(parts) >= 2:
                return self.delegation(method, parts[1], parts[2:], dn)
            if parts == ["jobs"] and method == "POST":
                if not dn.startswith("token:"):
                    with store.lock:
                        until = store.delegations.get(delegation_id(dn), 0)
                    if until - time.time() < 3600:
                        return self.reply(*error(419, "The delegated credential expired or does not exist"
                                                 if until else "No delegated credential for " + owner_dn(dn)))
                return self.reply(*store.submit(self.body(), dn))
            if parts == ["jobs"] and method == "GET":
                return self.reply(*store.list_jobs(query))
            if len(parts) >= 2 and parts[0] == "jobs":
                ids = parts[1].split(",")
                if method == "GET" and len(parts) == 2:
                    fields = [x for x in query.get("files", [""])[0].split(",") if x]
                    return self.reply(*store.get_jobs(ids, fields))
                if method == "GET" and len(parts) == 3 and parts[2] == "files":
                    status, job = store.get_jobs(ids[:1], None)
                    return self.reply(status, job.get("files", job) if status == 200 else job)
                if method == "DELETE" and len(parts) == 2:
                    return self.reply(*store.cancel_jobs(ids))
                if method == "DELETE" and len(parts) == 4 and parts[2] == "files":
                    return self.reply(*store.cancel_files(ids[0], parts[3].split(",")))
            return self.reply(*error(404, f"No route for {method} {url.path}"))
        except (ValueError, json.JSONDecodeError) as e:
            return self.reply(*error(400, f"Malformed request: {e}"))

    def token_endpoint(self):
        """OAuth2 refresh_token grant with rotation (not part of FTS3: the issuer of users' tokens)."""
        store = self.server.store
        n = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs((self.rfile.read(n) if n else b"").decode()).items()}
        if form.get("client_id") != "aso-client":
            return self.reply(401, {"error": "invalid_client", "error_description": "unknown client"})
        m = re.fullmatch(r"rt-([A-Za-z0-9._-]+)-(\d+)", form.get("refresh_token", ""))
        if form.get("grant_type") != "refresh_token" or m is None:
            return self.reply(400, {"error": "invalid_grant", "error_description": "not a refresh token of ours"})
        user, generation = m.group(1), int(m.group(2))
        with store.lock:
            if generation != store.refresh_generation.get(user, 1):
                return self.reply(400, {"error": "invalid_grant", "error_description": "refresh token already used"})
            store.refresh_generation[user] = generation + 1
            store.served["token_refreshes"] = store.served.get("token_refreshes", 0) + 1
        certs = os.path.dirname(os.path.abspath(store.ca))
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        minted = subprocess.run([f"{repo}/scripts/dev-token", "--dir", certs, "--ttl", "3600", "--aud",
                                 "https://storage.example", user], capture_output=True, text=True, timeout=30)
        if minted.returncode != 0:
            return self.reply(500, {"error": "server_error", "error_description": minted.stderr.strip()})
        return self.reply(200, {"access_token": minted.stdout.strip(), "token_type": "Bearer", "expires_in": 3600,
                                "refresh_token": f"rt-{user}-{generation + 1}"})

    def delegation(self, method, dlg_id, rest, dn):
        store = self.server.store
        if dn.startswith("token:") or dlg_id != delegation_id(dn):
            return self.reply(*error(403, f"The delegation {dlg_id} is not yours"))
        if method == "GET" and not rest:
            with store.lock:
                until = store.delegations.get(dlg_id)
            if until is None:
                return self.reply(200, None)
            return self.reply(200, {"delegation_id": dlg_id, "user_dn": owner_dn(dn),
                                    "termination_time": datetime.fromtimestamp(until, timezone.utc)
                                    .strftime("%Y-%m-%dT%H:%M:%S")})
        if method == "GET" and rest == ["request"]:
            with tempfile.TemporaryDirectory() as d:
                r = openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=proxy",
                            "-keyout", f"{d}/key.pem", "-out", f"{d}/req.pem")
                if r.returncode != 0:
                    return self.reply(*error(500, "could not make a request: " + r.stderr))
                key, csr = open(f"{d}/key.pem").read(), open(f"{d}/req.pem").read()
            with store.lock:
                store.pending_keys[dlg_id] = key
            return self.reply_text(200, csr)
        if method == "PUT" and rest == ["credential"]:
            chain = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode(errors="replace")
            with store.lock:
                key = store.pending_keys.get(dlg_id)
            if key is None:
                return self.reply(*error(400, "No certificate request was issued for this delegation"))
            certs = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", chain, re.S)
            if not certs:
                return self.reply(*error(400, "The body holds no PEM certificate"))
            with tempfile.TemporaryDirectory() as d:
                open(f"{d}/leaf.pem", "w").write(certs[0] + "\n")
                open(f"{d}/chain.pem", "w").write("\n".join(certs[1:]) + "\n")
                open(f"{d}/key.pem", "w").write(key)
                leaf_key = openssl("x509", "-in", f"{d}/leaf.pem", "-noout", "-pubkey").stdout
                our_key = openssl("pkey", "-in", f"{d}/key.pem", "-pubout").stdout
                if not leaf_key or leaf_key != our_key:
                    return self.reply(*error(400, "The certificate is not for the key of this delegation's request"))
                verify = openssl("verify", "-CAfile", store.ca, "-allow_proxy_certs",
                                 *(["-untrusted", f"{d}/chain.pem"] if len(certs) > 1 else []), f"{d}/leaf.pem")
                if verify.returncode != 0:
                    return self.reply(*error(400, "The delegated chain does not verify: "
                                             + (verify.stdout + verify.stderr).strip()[-200:]))
                subject = openssl("x509", "-in", f"{d}/leaf.pem", "-noout", "-subject", "-nameopt", "compat")
                end = openssl("x509", "-in", f"{d}/leaf.pem", "-noout", "-enddate").stdout.strip()
            leaf_dn = subject.stdout.strip().removeprefix("subject=").strip()
            if owner_dn(leaf_dn) != owner_dn(dn):
                return self.reply(*error(403, f"The delegated proxy of {owner_dn(leaf_dn)} is not {owner_dn(dn)}'s"))
            until = datetime.strptime(end.removeprefix("notAfter="), "%b %d %H:%M:%S %Y %Z") \
                .replace(tzinfo=timezone.utc).timestamp()
            with store.lock:
                store.delegations[dlg_id] = until
                store.pending_keys.pop(dlg_id, None)
            return self.reply_text(201, "")
        if method == "DELETE" and not rest:
            with store.lock:
                store.delegations.pop(dlg_id, None)
            return self.reply_text(204, "")
        return self.reply(*error(404, f"No route for {method} /delegation/{dlg_id}/{'/'.join(rest)}"))

    def reply_text(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def test_control(self, method, parts):
        store = self.server.store
        if parts == ["faults"] and method == "POST":
            body = self.body()
            with store.lock:
                if "status" in body:
                    store.faults += [int(body["status"])] * int(body.get("count", 1))
                if "pause_copies" in body:
                    store.pause = bool(body["pause_copies"])
                    store.lock.notify_all()
                if "hang_seconds" in body:
                    store.hang_seconds = float(body["hang_seconds"])
                    store.hang_until = time.time() + float(body.get("hang_for", 0))
                store.lose_jobs += int(body.get("lose_jobs", 0))
                store.fail_files += int(body.get("fail_files", 0))
            return self.reply(200, {"ok": True})
        if parts == ["faults"] and method == "GET":
            with store.lock:
                return self.reply(200, {"pending_statuses": list(store.faults), "lose_jobs": store.lose_jobs,
                                        "fail_files": store.fail_files,
                                        "hanging": max(0.0, store.hang_until - time.time()),
                                        "served": store.served})
        if parts == ["requests"] and method == "GET":
            with store.lock:
                return self.reply(200, dict(store.requests))
        return self.reply(*error(404, "unknown test control"))

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def do_PUT(self):
        self.handle_any("PUT")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.load_verify_locations(args.ca)
    ctx.verify_mode = ssl.CERT_OPTIONAL  # a client certificate, or a bearer token
    ctx.verify_flags |= ssl.VERIFY_ALLOW_PROXY_CERTS  # grid proxies, as FTS3 accepts them
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.store = Store(args.workers)
    server.store.ca = args.ca
    server.verbose = args.verbose
    print(f"fts3 test server on https://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
