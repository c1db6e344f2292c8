// Validates Kubernetes manifests rendered by `helm template` offline, and turns YAML into JSON for
// tests/deploy/check_helm.py (whose Python has no YAML parser).
//
//   node validate_manifests.mjs --modules DIR/node_modules validate FILE...   manifests (multi-document YAML)
//   node validate_manifests.mjs --modules DIR/node_modules parse FILE...      any YAML files
//
// Prints one JSON object on stdout: {"files": {FILE: [ {"doc": ..., "apiVersion", "kind", "name",
// "errors": [...]} ]}} (parse: {"files": {FILE: [doc, ...]}}). Exit 0 even when documents are invalid
// (the caller reads "errors"); exit 2 on a usage error or unreadable file.
//
// validate checks each document:
//   - Kubernetes API objects: the model class of kubernetes-models (by apiVersion and kind) is built and
//     its .validate() run (JSON schema: types, required fields, enums); then every field name is checked
//     against the model's TypeScript declarations, so a misspelt or misplaced field is an error too (the
//     JSON schemas accept unknown fields, the API server would drop them silently);
//   - custom resources kubernetes-models does not know (ServiceMonitor, PrometheusRule, CloudNativePG's
//     Cluster): structurally (apiVersion, kind, metadata.name, spec, and the fields the chart relies on).
// Modules (yaml, kubernetes-models) come from --modules (scripts/install-helm-tools installs them).

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

function usage(msg) {
  process.stderr.write(`validate_manifests: ${msg}\n` +
    "usage: node validate_manifests.mjs --modules DIR/node_modules (validate|parse) FILE...\n");
  process.exit(2);
}

const argv = process.argv.slice(2);
let modules = null;
if (argv[0] === "--modules") {
  modules = argv[1];
  argv.splice(0, 2);
}
if (!modules) usage("--modules DIR is required");
const mode = argv.shift();
if (mode !== "validate" && mode !== "parse") usage(`unknown mode ${mode}`);
if (argv.length === 0) usage("no file given");

const modulesDir = path.resolve(modules);
const require = createRequire(path.join(modulesDir, "noop.js"));
let YAML;
try {
  YAML = require("yaml");
} catch (e) {
  usage(`cannot load the yaml package from ${modulesDir} (run scripts/install-helm-tools): ${e.message}`);
}

function readDocuments(file) {
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    usage(`cannot read ${file}: ${e.message}`);
  }
  const out = [];
  for (const d of YAML.parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true })) {
    const errors = d.errors.map((e) => `YAML: ${e.message}`);
    const js = errors.length ? null : d.toJS({ maxAliasCount: 100 });
    if (js === null && errors.length === 0) continue; // empty document (between two ---)
    out.push({ doc: js, errors });
  }
  return out;
}

// ---- strict field names, from the TypeScript declarations of kubernetes-models -------------------------

const modelsDir = path.join(modulesDir, "kubernetes-models");
const declCache = new Map();

// Splits TEXT at top-level occurrences of SEP (outside {}, <>, ()).
function splitTop(text, sep) {
  const parts = [];
  let depth = 0;
  let cur = "";
  for (const ch of text) {
    if ("{<(".includes(ch)) depth++;
    if ("}>)".includes(ch)) depth--;
    if (ch === sep && depth === 0) {
      parts.push(cur);
      cur = "";
    } else {
      cur += ch;
    }
  }
  if (cur.trim()) parts.push(cur);
  return parts;
}

// The properties of the first exported interface of a .d.ts file: Map name -> type text; and its imports.
function loadDecl(file) {
  if (declCache.has(file)) return declCache.get(file);
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    declCache.set(file, null);
    return null;
  }
  text = text.replace(/\/\*[\s\S]*?\*\//g, "");
  const imports = new Map();
  for (const m of text.matchAll(/import \{ ([^}]+) \} from "([^"]+)";/g)) {
    for (const name of m[1].split(",").map((s) => s.trim())) {
      let target = m[2];
      if (target.startsWith("@kubernetes-models/")) target = path.join(modulesDir, target);
      else target = path.resolve(path.dirname(file), target);
      imports.set(name, target + ".d.ts");
    }
  }
  const start = text.search(/export interface I\w+( extends [\w, ]+)? \{/);
  let props = null;
  if (start >= 0) {
    const open = text.indexOf("{", start);
    let depth = 0;
    let end = open;
    for (; end < text.length; end++) {
      if (text[end] === "{") depth++;
      if (text[end] === "}" && --depth === 0) break;
    }
    props = new Map();
    for (const entry of splitTop(text.slice(open + 1, end), ";")) {
      const m = entry.trim().match(/^"([^"]+)"\??:\s*([\s\S]+)$/);
      if (m) props.set(m[1], m[2].replace(/\s+/g, ""));
    }
  }
  const decl = props ? { props, imports } : null;
  declCache.set(file, decl);
  return decl;
}

// Checks that every key of VALUE is a field of the type TYPE (text of a declaration, in the context of
// DECL's imports). Appends to ERRORS.
function checkType(value, type, decl, where, errors) {
  if (value === null || value === undefined) return;
  let m;
  if ((m = type.match(/^Array<(.+)>$/))) {
    if (Array.isArray(value)) value.forEach((v, i) => checkType(v, m[1], decl, `${where}[${i}]`, errors));
    return;
  }
  if ((m = type.match(/^\{\[key:string\]:(.+);?\}$/))) {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      const inner = m[1].replace(/;$/, "");
      for (const [k, v] of Object.entries(value)) checkType(v, inner, decl, `${where}.${k}`, errors);
    }
    return;
  }
  if (/^I\w+$/.test(type) && decl.imports.has(type)) {
    checkObject(value, decl.imports.get(type), where, errors);
  }
}

function checkObject(value, declFile, where, errors) {
  if (!value || typeof value !== "object" || Array.isArray(value)) return;
  const decl = loadDecl(declFile);
  if (!decl) return; // a type alias (IntOrString, Quantity, Time, ...): nothing to check by name
  for (const [k, v] of Object.entries(value)) {
    if (!decl.props.has(k)) {
      const type = path.basename(declFile, ".d.ts");
      errors.push(`${where ? where + "." : ""}${k}: unknown field (not in ${type})`);
      continue;
    }
    checkType(v, decl.props.get(k), decl, where ? `${where}.${k}` : k, errors);
  }
}

// ---- custom resources --------------------------------------------------------------------------------

function isObj(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const customResources = {
  "monitoring.coreos.com/v1/ServiceMonitor"(spec, errors) {
    if (!isObj(spec.selector)) errors.push("spec.selector: required object");
    if (!Array.isArray(spec.endpoints) || spec.endpoints.length === 0) {
      errors.push("spec.endpoints: required non-empty list");
    } else {
      spec.endpoints.forEach((e, i) => {
        if (!isObj(e) || (typeof e.port !== "string" && typeof e.targetPort === "undefined"))
          errors.push(`spec.endpoints[${i}]: needs port (name) or targetPort`);
        for (const [j, r] of (e.relabelings || []).entries()) {
          if (r.action && !["replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep",
            "lowercase", "uppercase", "keepequal", "dropequal"].includes(r.action))
            errors.push(`spec.endpoints[${i}].relabelings[${j}].action: unknown action ${r.action}`);
        }
      });
    }
  },
  "monitoring.coreos.com/v1/PrometheusRule"(spec, errors) {
    if (!Array.isArray(spec.groups) || spec.groups.length === 0) {
      errors.push("spec.groups: required non-empty list");
      return;
    }
    spec.groups.forEach((g, i) => {
      if (!isObj(g) || typeof g.name !== "string" || !g.name) errors.push(`spec.groups[${i}].name: required`);
      if (!Array.isArray(g.rules) || g.rules.length === 0) {
        errors.push(`spec.groups[${i}].rules: required non-empty list`);
        return;
      }
      g.rules.forEach((r, j) => {
        const at = `spec.groups[${i}].rules[${j}]`;
        if (!isObj(r)) return errors.push(`${at}: not an object`);
        if (typeof r.alert !== "string" && typeof r.record !== "string")
          errors.push(`${at}: needs alert or record`);
        if (typeof r.expr !== "string" || !r.expr.trim()) errors.push(`${at}.expr: required string`);
        for (const k of Object.keys(r)) {
          if (!["alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"].includes(k))
            errors.push(`${at}.${k}: unknown field`);
        }
        for (const k of ["labels", "annotations"]) {
          if (r[k] !== undefined && (!isObj(r[k]) || Object.values(r[k]).some((v) => typeof v !== "string")))
            errors.push(`${at}.${k}: must be a map of strings`);
        }
      });
    });
  },
  "postgresql.cnpg.io/v1/Cluster"(spec, errors) {
    if (!Number.isInteger(spec.instances) || spec.instances < 1)
      errors.push("spec.instances: integer >= 1 required");
    if (!isObj(spec.storage) || typeof spec.storage.size !== "string")
      errors.push("spec.storage.size: required string");
    if (spec.bootstrap !== undefined) {
      const initdb = spec.bootstrap && spec.bootstrap.initdb;
      if (!isObj(initdb) || typeof initdb.database !== "string" || typeof initdb.owner !== "string")
        errors.push("spec.bootstrap.initdb: database and owner required");
    }
    const params = spec.postgresql && spec.postgresql.parameters;
    if (params !== undefined && (!isObj(params) || Object.values(params).some((v) => typeof v !== "string")))
      errors.push("spec.postgresql.parameters: must be a map of strings");
  },
};

// ---- Kubernetes API objects --------------------------------------------------------------------------

function modelFor(apiVersion, kind) {
  const dir = apiVersion.includes("/") ? apiVersion : `${apiVersion}`; // "apps/v1" or "v1"
  if (!/^[a-z0-9.\-]+(\/[a-z0-9]+)?$/.test(dir) || !/^[A-Za-z0-9]+$/.test(kind)) return null;
  const declFile = path.join(modelsDir, dir, `${kind}.d.ts`);
  if (!fs.existsSync(declFile)) return null;
  const mod = require(`kubernetes-models/${dir}`);
  const Cls = mod[kind];
  if (typeof Cls !== "function") return null;
  return { Cls, declFile };
}

function validateDocument(doc) {
  const errors = [];
  if (!isObj(doc)) return ["document is not a mapping"];
  const { apiVersion, kind } = doc;
  if (typeof apiVersion !== "string" || typeof kind !== "string") return ["apiVersion and kind are required"];
  if (!isObj(doc.metadata) || typeof doc.metadata.name !== "string" || !doc.metadata.name)
    errors.push("metadata.name: required");
  else if (doc.metadata.name.length > 63 && kind !== "ConfigMap" && kind !== "Secret")
    errors.push(`metadata.name: "${doc.metadata.name}" is longer than 63 characters`);

  const custom = customResources[`${apiVersion}/${kind}`];
  if (custom) {
    if (!isObj(doc.spec)) errors.push("spec: required object");
    else custom(doc.spec, errors);
    return errors;
  }
  const model = modelFor(apiVersion, kind);
  if (!model)
    return [...errors, `no model for ${apiVersion} ${kind} in kubernetes-models, and not a known custom resource`];
  try {
    new model.Cls(doc).validate();
  } catch (e) {
    const list = Array.isArray(e.errors) && e.errors.length
      ? e.errors
      : [{ instancePath: "", message: e.message }];
    for (const err of list) {
      const where = (err.instancePath || "").replace(/^\//, "").replace(/\//g, ".") || "(document)";
      const extra = err.params && err.params.missingProperty ? ` (${err.params.missingProperty})` : "";
      const allowed = err.params && err.params.allowedValues
        ? ` ${JSON.stringify(err.params.allowedValues)}`
        : "";
      errors.push(`${where}: ${err.message}${extra}${allowed}`);
    }
  }
  checkObject(doc, model.declFile, "", errors);
  return errors;
}

const result = { files: {} };
for (const file of argv) {
  const docs = readDocuments(file);
  if (mode === "parse") {
    const bad = docs.filter((d) => d.errors.length);
    if (bad.length) usage(`${file}: ${bad[0].errors.join("; ")}`);
    result.files[file] = docs.map((d) => d.doc);
    continue;
  }
  result.files[file] = docs.map(({ doc, errors }) => {
    const all = errors.length ? errors : validateDocument(doc);
    return {
      apiVersion: doc && doc.apiVersion,
      kind: doc && doc.kind,
      name: doc && doc.metadata && doc.metadata.name,
      errors: all,
      doc,
    };
  });
}
process.stdout.write(JSON.stringify(result));
