"""docs/grafana.md's tables of dashboards and of what each panel reads are the generator's, and
name the metrics the queries really use."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboards.grafana import docs_tables
from dashboards.grafana.cli import main

DOC = Path(__file__).resolve().parents[3] / "docs" / "grafana.md"


def test_committed_tables_are_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert docs_tables.replace_section(text, docs_tables.markdown()) == text, (
        "run `hostpulse-grafana docs-tables --write docs/grafana.md`"
    )


def test_every_panel_is_listed_with_what_it_reads() -> None:
    table = docs_tables.markdown()
    assert "| `hostpulse-host` | Disk I/O | Bps | `system_disk_io_bytes_total` |" in table
    network = "| `hostpulse-history` | Network traffic | Bps | `system_network_io_bytes_total` |"
    assert network in table
    assert "`grafana.process_snapshots`" in table
    assert "`grafana.alert_transitions`" in table
    # Label names (process_pid, system_device...) are not metrics.
    assert "`process_pid`" not in table
    assert "`system_device`" not in table


def test_check_and_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "grafana.md"
    doc.write_text(f"# intro\n\n{docs_tables.BEGIN}\nold\n{docs_tables.END}\ntail\n")
    assert main(["docs-tables", "--check", str(doc)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main(["docs-tables", "--write", str(doc)]) == 0
    assert main(["docs-tables", "--check", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# intro\n\n")
    assert text.endswith(f"{docs_tables.END}\ntail\n")
    (tmp_path / "plain.md").write_text("no markers\n")
    capsys.readouterr()
    assert main(["docs-tables", "--check", str(tmp_path / "plain.md")]) == 2
    assert "no generated section" in capsys.readouterr().err
