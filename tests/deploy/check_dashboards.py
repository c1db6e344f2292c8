#!/usr/bin/env python3
"""Checks ASO's Grafana dashboards and Prometheus alert rules against the documented metrics.

Reads every deploy/grafana/*.json and deploy/prometheus/aso-alerts.yml of a repository and checks:

  * each dashboard parses as JSON and has a uid (unique across dashboards), a title, the tag `aso`,
    schemaVersion 36 or later, a `datasource` template variable of type datasource, and panels; panel
    ids are unique within the dashboard (rows' nested panels included) and every target of a panel has a
    non-empty `expr`;
  * every metric an expression uses (PromQL of panel targets, of template variable queries and of alert
    rules) is listed in docs/metrics.md. Metric names are the identifiers `aso_...` and `process_...`
    outside string literals; `_bucket`, `_sum` and `_count` are stripped from histograms documented as
    such. Prometheus's own `up` series is allowed;
  * every label matched in a selector of a documented metric (`aso_x{label="..."}`) is one of its
    documented labels, or `job`, `instance` (added by the scrape), or `le` (histogram buckets); and every
    label named in `by (...)`, `without (...)`, `on (...)`, `ignoring (...)` or `group_left/right (...)`
    belongs to at least one metric of the expression.

With --scrape FILE..., files holding Prometheus text exposition taken from real scrapes, it also checks
that each metric used appears in at least one of them (a family is present if a `# TYPE name` line is).

The alert rules are read without a YAML library: `expr:` keys with a plain, quoted, or block (`|`, `>`)
scalar, as Prometheus rule files write them.

Exit status 0 with a one-line summary when everything holds; 1 with one line per problem otherwise.

  tests/deploy/check_dashboards.py [--repo DIR] [--scrape FILE...]
"""

import argparse
import json
import re
import sys
from pathlib import Path

METRIC_RE = re.compile(r"(?<![A-Za-z0-9_:])((?:aso|process)_[a-z0-9_]+)")
SELECTOR_RE = re.compile(r"(?<![A-Za-z0-9_:])((?:aso|process)_[a-z0-9_]+)\s*\{([^}]*)\}")
MATCHER_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING_RE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
SCRAPE_LABELS = {"job", "instance"}
# Functions that make labels of their own: grouping by such a label is not checked.
LABEL_MAKERS = ("label_replace", "label_join", "count_values")
TYPE_RE = re.compile(r"^#\s*TYPE\s+([A-Za-z_:][A-Za-z0-9_:]*)\s+(\S+)")


class Problems:
    def __init__(self):
        self.items = []

    def add(self, where, what):
        self.items.append(f"{where}: {what}")


def read_documented(path):
    """Returns {metric: (type, set of labels)} from the tables of docs/metrics.md."""
    documented = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3:
            continue
        m = re.fullmatch(r"`([A-Za-z_:][A-Za-z0-9_:]*)`", cells[0])
        if not m:
            continue
        labels = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cells[2])) if len(cells) > 3 else set()
        documented[m.group(1)] = (cells[1].lower(), labels)
    return documented


def strip_strings_and_comments(expr):
    """PromQL with every string literal emptied (quotes kept) and `#` comments removed."""
    out = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            j = i + 1
            while j < n and expr[j] != c:
                j += 2 if expr[j] == "\\" and c != "`" else 1
            out.append(c + c)
            i = j + 1
        elif c == "#":
            while i < n and expr[i] != "\n":
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def base_metric(name, documented):
    """The documented family a series name belongs to (histogram series map to their histogram)."""
    if name in documented:
        return name
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if documented.get(base, ("",))[0] == "histogram":
                return base
    return name


def check_expr(expr, where, documented, problems, used):
    """Checks one PromQL expression; adds the families it uses to `used` ({family: first place used})."""
    code = strip_strings_and_comments(expr)
    families = set()
    for name in METRIC_RE.findall(code):
        family = base_metric(name, documented)
        families.add(family)
        used.setdefault(family, where)
        if family not in documented:
            problems.add(where, f"metric {name} is not listed in docs/metrics.md")
    for name, matchers in SELECTOR_RE.findall(code):
        family = base_metric(name, documented)
        if family not in documented:
            continue
        allowed = documented[family][1] | SCRAPE_LABELS | {"__name__"}
        if name.endswith("_bucket") and family != name:
            allowed = allowed | {"le"}
        for label in MATCHER_RE.findall(matchers):
            if label not in allowed:
                problems.add(where, f"{name} has no label {label} (documented: "
                             f"{', '.join(sorted(documented[family][1])) or 'none'})")
    if any(f + "(" in code.replace(" ", "") for f in LABEL_MAKERS):
        return
    known = set(SCRAPE_LABELS)
    for family in families:
        if family in documented:
            known |= documented[family][1]
            if documented[family][0] == "histogram":
                known.add("le")
    for _, labels in GROUPING_RE.findall(code):
        for label in (l.strip() for l in labels.split(",")):
            if label and label not in known:
                problems.add(where, f"label {label} in a grouping belongs to none of the metrics used")


def walk_panels(panels):
    for p in panels:
        if not isinstance(p, dict):
            continue
        yield p
        yield from walk_panels(p.get("panels") or [])


def check_dashboard(path, rel, documented, problems, used, uids):
    """Returns (panels, exprs) counted in one dashboard file."""
    try:
        dash = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        problems.add(rel, f"not valid JSON: {e}")
        return 0, 0
    if not isinstance(dash, dict):
        problems.add(rel, "not a JSON object")
        return 0, 0
    for key in ("uid", "title"):
        if not isinstance(dash.get(key), str) or not dash.get(key).strip():
            problems.add(rel, f"no {key}")
    uid = dash.get("uid")
    if isinstance(uid, str) and uid:
        if uid in uids:
            problems.add(rel, f"uid {uid} also used by {uids[uid]}")
        uids.setdefault(uid, rel)
    if "aso" not in (dash.get("tags") or []):
        problems.add(rel, 'tags lack "aso"')
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        problems.add(rel, f"schemaVersion {dash.get('schemaVersion')!r}: 36 or later expected")
    variables = (dash.get("templating") or {}).get("list") or []
    if not any(v.get("name") == "datasource" and v.get("type") == "datasource" for v in variables):
        problems.add(rel, "no `datasource` template variable of type datasource")
    exprs = 0
    for v in variables:
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if not isinstance(q, str) or not q.strip():
            problems.add(rel, f"template variable {v.get('name')}: no query")
            continue
        exprs += 1
        check_expr(q, f"{rel} variable {v.get('name')}", documented, problems, used)

    panels = dash.get("panels")
    if not isinstance(panels, list) or not panels:
        problems.add(rel, "no panels")
        return 0, exprs
    ids = {}
    count = 0
    for p in walk_panels(panels):
        count += 1
        title = p.get("title", "?")
        pid = p.get("id")
        if not isinstance(pid, int):
            problems.add(rel, f"panel {title!r} has no integer id")
        elif pid in ids:
            problems.add(rel, f"panel id {pid} used by {ids[pid]!r} and {title!r}")
        else:
            ids[pid] = title
        if "targets" not in p:
            continue
        targets = p["targets"]
        if not isinstance(targets, list) or not targets:
            problems.add(rel, f"panel {pid} {title!r}: empty targets")
            continue
        for t in targets:
            expr = t.get("expr") if isinstance(t, dict) else None
            where = f"{rel} panel {pid} {title!r}"
            if not isinstance(expr, str) or not expr.strip():
                problems.add(where, f"target {t.get('refId', '?') if isinstance(t, dict) else t!r} has no expr")
                continue
            exprs += 1
            check_expr(expr, where, documented, problems, used)
    return count, exprs


def unquote(value):
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return json.loads(value)
    return value


def rule_exprs(text):
    """[(line number, alert or record name, expr)] of a Prometheus rule file, read without YAML."""
    lines = text.splitlines()
    found = []
    name = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\s*)(-\s+)?(alert|record|expr):\s*(.*?)\s*$", line)
        if not m:
            i += 1
            continue
        key_col = len(m.group(1)) + len(m.group(2) or "")
        key, value = m.group(3), m.group(4)
        start = i + 1
        i += 1
        if value[:1] in ("|", ">"):
            block = []
            while i < len(lines) and (not lines[i].strip() or
                                      len(lines[i]) - len(lines[i].lstrip()) > key_col):
                block.append(lines[i].strip())
                i += 1
            value = "\n".join(block).strip()
        else:
            value = re.sub(r"\s+#.*$", "", value) if value[:1] not in "'\"" else value
            # A plain or quoted scalar continued on more indented lines.
            while (i < len(lines) and lines[i].strip() and
                   len(lines[i]) - len(lines[i].lstrip()) > key_col and
                   not re.match(r"^\s*[A-Za-z_]+:(\s|$)", lines[i])):
                value += " " + lines[i].strip()
                i += 1
            value = unquote(value.strip())
        if key in ("alert", "record"):
            name = value
        else:
            found.append((start, name, value))
    return found


def scraped_families(paths, problems):
    families = set()
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            problems.add(path, f"cannot read scrape: {e}")
            continue
        for line in text.splitlines():
            m = TYPE_RE.match(line)
            if m:
                families.add(m.group(1))
    return families


def main(argv=None):
    default_repo = Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, default=default_repo,
                    help="repository root (default: the one this script is in)")
    ap.add_argument("--scrape", nargs="+", default=[], metavar="FILE",
                    help="Prometheus text exposition from real scrapes: every metric used must appear")
    args = ap.parse_args(argv)
    repo = args.repo.resolve()
    problems = Problems()

    docs = repo / "docs" / "metrics.md"
    if not docs.is_file():
        print(f"check_dashboards: {docs} not found", file=sys.stderr)
        return 1
    documented = read_documented(docs)
    if not documented:
        problems.add("docs/metrics.md", "no metric found in its tables")

    used = {}
    uids = {}
    dashboards = sorted((repo / "deploy" / "grafana").glob("*.json"))
    if not dashboards:
        problems.add("deploy/grafana", "no dashboard (*.json)")
    n_panels = n_dash_exprs = 0
    for path in dashboards:
        panels, exprs = check_dashboard(path, str(path.relative_to(repo)), documented, problems, used, uids)
        n_panels += panels
        n_dash_exprs += exprs

    rules_rel = "deploy/prometheus/aso-alerts.yml"
    rules = repo / rules_rel
    n_rule_exprs = 0
    if not rules.is_file():
        problems.add(rules_rel, "not found")
    else:
        found = rule_exprs(rules.read_text(encoding="utf-8"))
        if not found:
            problems.add(rules_rel, "no expr found")
        for line, name, expr in found:
            where = f"{rules_rel}:{line} {name or '?'}"
            if not expr:
                problems.add(where, "empty expr")
                continue
            n_rule_exprs += 1
            check_expr(expr, where, documented, problems, used)

    if args.scrape:
        present = scraped_families(args.scrape, problems)
        for family in sorted(used):
            # The text format names counters with _total; OpenMetrics names their family without it.
            alternatives = {family, family[: -len("_total")] if family.endswith("_total") else family}
            if not alternatives & present:
                problems.add(used[family], f"metric {family} appears in none of the scrapes "
                             f"({', '.join(args.scrape)})")

    if problems.items:
        print(f"check_dashboards: {len(problems.items)} problem(s):")
        for item in problems.items:
            print(f"  {item}")
        return 1
    scraped = f", all in {len(args.scrape)} scrape(s)" if args.scrape else ""
    print(f"check_dashboards: OK: {len(dashboards)} dashboards, {n_panels} panels, "
          f"{n_dash_exprs + n_rule_exprs} exprs ({n_dash_exprs} in dashboards, {n_rule_exprs} in alert rules), "
          f"{len(used)} metrics, all documented{scraped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
