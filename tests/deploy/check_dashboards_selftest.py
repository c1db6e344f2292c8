#!/usr/bin/env python3
"""Negative self-check of tests/deploy/check_dashboards.py: it must refuse what it exists to catch.

Copies the repository's deploy/ and docs/metrics.md into a temporary folder, checks that the copy passes,
then breaks the copy one way at a time and checks that check_dashboards.py exits 1 and names the problem:
a panel querying an undocumented metric, a broken JSON file, an empty expr, duplicate panel ids, a
selector with an undocumented label, a grouping by a label no metric has, alert rules (block and plain
scalars) using an undocumented metric, and (with --scrape) a used metric missing from the scrapes.

  tests/deploy/check_dashboards_selftest.py [--repo DIR]
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKER = HERE / "check_dashboards.py"
REPO = HERE.parents[1]
BOGUS = "aso_not_a_metric_total"


class CheckDashboardsSelfTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="aso-check-dashboards-"))
        shutil.copytree(REPO / "deploy", self.tmp / "deploy")
        (self.tmp / "docs").mkdir()
        shutil.copy2(REPO / "docs" / "metrics.md", self.tmp / "docs" / "metrics.md")
        self.dashboard = self.tmp / "deploy" / "grafana" / "aso-overview.json"
        self.rules = self.tmp / "deploy" / "prometheus" / "aso-alerts.yml"

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_checker(self, *extra):
        p = subprocess.run([sys.executable, str(CHECKER), "--repo", str(self.tmp), *extra],
                           capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout + p.stderr

    def assert_refused(self, *names, extra=()):
        rc, out = self.run_checker(*extra)
        self.assertEqual(rc, 1, f"check_dashboards.py accepted a broken tree:\n{out}")
        for name in names:
            self.assertIn(name, out, f"check_dashboards.py did not name {name}:\n{out}")
        return out

    def edit_dashboard(self, change):
        dash = json.loads(self.dashboard.read_text(encoding="utf-8"))
        change(dash)
        self.dashboard.write_text(json.dumps(dash, indent=2), encoding="utf-8")

    def test_copy_passes(self):
        rc, out = self.run_checker()
        self.assertEqual(rc, 0, out)
        self.assertIn("OK", out)

    def test_undocumented_metric_in_panel(self):
        def add_panel(dash):
            next_id = max(p["id"] for p in dash["panels"]) + 1
            dash["panels"].append({
                "id": next_id, "type": "timeseries", "title": "Bogus",
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"h": 8, "w": 12, "x": 0, "y": 1000},
                "targets": [{"refId": "A", "expr": f"sum(rate({BOGUS}[5m]))"}]})
        self.edit_dashboard(add_panel)
        self.assert_refused(BOGUS, "aso-overview.json")

    def test_broken_json(self):
        (self.tmp / "deploy" / "grafana" / "broken.json").write_text('{"uid": "broken", "panels": [',
                                                                      encoding="utf-8")
        self.assert_refused("broken.json", "not valid JSON")

    def test_empty_expr(self):
        def empty(dash):
            panel = next(p for p in dash["panels"] if p.get("targets"))
            panel["targets"][0]["expr"] = " "
        self.edit_dashboard(empty)
        self.assert_refused("has no expr")

    def test_duplicate_panel_ids(self):
        def duplicate(dash):
            dash["panels"][2]["id"] = dash["panels"][1]["id"]
        self.edit_dashboard(duplicate)
        self.assert_refused("panel id")

    def test_undocumented_label(self):
        def add_label(dash):
            panel = next(p for p in dash["panels"] if p.get("targets"))
            panel["targets"][0]["expr"] = 'sum(rate(aso_transferred_bytes_total{link="x"}[5m]))'
        self.edit_dashboard(add_label)
        self.assert_refused("no label link")

    def test_grouping_label_of_no_metric(self):
        def group(dash):
            panel = next(p for p in dash["panels"] if p.get("targets"))
            panel["targets"][0]["expr"] = "sum by (source) (aso_transfers)"
        self.edit_dashboard(group)
        self.assert_refused("label source in a grouping")

    def test_undocumented_metric_in_block_expr(self):
        text = self.rules.read_text(encoding="utf-8")
        marker = "max by (source_site, destination_site) (aso_link_oldest_in_flight_seconds)"
        self.assertIn(marker, text)
        self.rules.write_text(text.replace(marker, f"max by (source_site, destination_site) ({BOGUS})", 1),
                              encoding="utf-8")
        self.assert_refused(BOGUS, "aso-alerts.yml")

    def test_undocumented_metric_in_plain_expr(self):
        text = self.rules.read_text(encoding="utf-8")
        marker = "expr: aso_fts3_up == 0"
        self.assertIn(marker, text)
        self.rules.write_text(text.replace(marker, f"expr: {BOGUS} == 0", 1), encoding="utf-8")
        self.assert_refused(BOGUS, "ASOFTS3Unreachable")

    def test_scrape(self):
        documented = self.tmp / "docs" / "metrics.md"
        names = [line.split("`")[1] for line in documented.read_text(encoding="utf-8").splitlines()
                 if line.startswith("| `")]
        self.assertIn("aso_fts3_up", names)
        full = self.tmp / "full.prom"
        full.write_text("".join(f"# TYPE {n} gauge\n{n} 1\n" for n in names), encoding="utf-8")
        rc, out = self.run_checker("--scrape", str(full))
        self.assertEqual(rc, 0, out)
        part = self.tmp / "part.prom"
        part.write_text("".join(f"# TYPE {n} gauge\n" for n in names if n != "aso_fts3_up"), encoding="utf-8")
        self.assert_refused("aso_fts3_up", "none of the scrapes", extra=("--scrape", str(part)))


def main():
    global REPO
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, default=REPO, help="repository root (default: this script's)")
    args, rest = ap.parse_known_args()
    REPO = args.repo.resolve()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
