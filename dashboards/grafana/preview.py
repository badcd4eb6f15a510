"""A plain HTML page of a dashboard's layout: each panel at its grid position (24 columns, 30 px
per grid row) with its title, type and unit. No Grafana can run where the dashboards are built,
so this is how to look at a layout without one (`hostpulse-grafana generate --preview-dir DIR`)."""

from __future__ import annotations

from html import escape

from dashboards.grafana.panels import GRID_COLUMNS, Json

ROW_PX = 30


def _panel(panel: Json) -> str:
    grid = panel["gridPos"]
    style = (
        f"left:{100 * grid['x'] / GRID_COLUMNS:.4f}%;width:{100 * grid['w'] / GRID_COLUMNS:.4f}%;"
        f"top:{grid['y'] * ROW_PX}px;height:{grid['h'] * ROW_PX - 4}px"
    )
    if panel["type"] == "row":
        return f'<div class="row" style="{style}">{escape(panel["title"])}</div>'
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    queries = len(panel.get("targets", []))
    return (
        f'<div class="panel {escape(panel["type"])}" style="{style}" '
        f'title="{escape(panel.get("description", ""))}">'
        f"<b>{escape(panel['title'])}</b><br><small>{escape(panel['type'])} · unit "
        f"{escape(unit)} · {queries} quer{'y' if queries == 1 else 'ies'}</small></div>"
    )


def html(dashboard: Json) -> str:
    panels = dashboard["panels"]
    bottom = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels), default=0)
    variables = ", ".join(v["name"] for v in dashboard["templating"]["list"])
    body = "\n".join(_panel(p) for p in panels)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(dashboard["title"])}: layout preview</title>
<style>
body {{ font: 13px sans-serif; margin: 16px; background: #111217; color: #ccccdc; }}
.grid {{ position: relative; height: {bottom * ROW_PX}px; }}
.panel, .row {{ position: absolute; box-sizing: border-box; padding: 6px; overflow: hidden; }}
.panel {{ background: #181b1f; border: 1px solid #2c3235; border-radius: 2px; }}
.row {{ font-weight: bold; border-bottom: 1px solid #2c3235; }}
.stat {{ background: #1a2a1f; }} .table {{ background: #1f1a2a; }}
</style></head><body>
<h1>{escape(dashboard["title"])}</h1>
<p>uid <code>{escape(dashboard["uid"])}</code> · variables: {escape(variables)} ·
{len(panels)} panels · {escape(dashboard.get("description", ""))}</p>
<div class="grid">
{body}
</div></body></html>
"""
