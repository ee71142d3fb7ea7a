"""The dashboard's one HTML page: fixed markup, style and the refresh script.

The first paint is complete HTML (the sections render on the server), so the
page reads the same with JavaScript off; the script only swaps in fresh
section HTML from /api/overview every few seconds and shows when that fails.
"""

from __future__ import annotations

import base64
import hashlib
from string import Template

from abci_app.dashboard.render import SECTIONS, esc

API_PATH = "/api/overview"

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5rem 2rem; color: #1d2330; }
header { display: flex; align-items: baseline; gap: 1.5rem; flex-wrap: wrap; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin: 1.6rem 0 .4rem; }
h3 { font-size: .95rem; margin: .8rem 0 .3rem; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #dde1e8; padding: .25rem .45rem; text-align: left; }
th { background: #f1f3f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.mono { font-family: ui-monospace, monospace; white-space: nowrap; }
tr.seq-jailed td, tr.seq-tombstoned td { background: #fde8e8; }
td.status-jailed, td.status-tombstoned, .relay-down, .bad { color: #b3261e; font-weight: 600; }
td.status-active { color: #1b7f3b; }
dl { display: flex; flex-wrap: wrap; gap: .4rem 1.6rem; margin: .3rem 0; }
dt { font-size: 12px; color: #5b6475; } dd { margin: 0; font-weight: 600; }
.note, .empty, #updated { color: #5b6475; font-size: 12px; margin: .2rem 0 .5rem; }
.timeline { display: flex; gap: 2px; }
.span { background: #e3e8f2; padding: .3rem .4rem; min-width: 3rem; border-radius: 3px; }
.span small { display: block; color: #5b6475; font-size: 11px; }
.span.current { background: #2f6fde; color: #fff; } .span.current small { color: #dfe8fb; }
#banner { background: #b3261e; color: #fff; padding: .6rem 1rem; margin: .6rem 0; }
"""

SCRIPT = """
(function () {
  var banner = document.getElementById("banner");
  var updated = document.getElementById("updated");
  function fail(message) {
    banner.textContent = message;
    banner.hidden = false;
  }
  function refresh() {
    fetch("$api", {cache: "no-store"}).then(function (response) {
      return response.json();
    }).then(function (data) {
      if (!data.ok) { fail(data.error + " (checked " + data.updated + ")"); return; }
      Object.keys(data.sections).forEach(function (name) {
        var section = document.getElementById("section-" + name);
        if (section) { section.innerHTML = data.sections[name]; }
      });
      banner.hidden = true;
      updated.textContent = "last updated " + data.updated + " (height " + data.height + ")";
    }).catch(function (error) {
      fail("the dashboard server did not answer: " + error);
    });
  }
  setInterval(refresh, $refresh_ms);
})();
"""

PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>seqset: $title</title><style>$style</style></head>
<body><header><h1>seqset sequencer set</h1>
<span id="updated">$updated</span></header>
<noscript><p class="note">JavaScript is off: this page shows the state when it was loaded;
reload it to refresh.</p></noscript>
<div id="banner" role="alert"$banner_hidden>$banner</div>
$sections
<script>$script</script>
</body></html>
""")


def compute_script(refresh_ms: int) -> str:
    return Template(SCRIPT).substitute(api=API_PATH, refresh_ms=int(refresh_ms))


def compute_csp(refresh_ms: int) -> str:
    """The page's Content-Security-Policy: only the page's own script runs (by its hash),
    so markup that slipped into a section could not run inline handlers."""
    digest = base64.b64encode(hashlib.sha256(compute_script(refresh_ms).encode()).digest())
    return (f"default-src 'none'; script-src 'sha256-{digest.decode()}'; "
            "style-src 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")


def render_page(sections: dict[str, str], title: str, updated: str, error: str,
                refresh_ms: int) -> str:
    """The whole page; `sections` are render.py's fragments (empty when the node is down)."""
    body = "".join(
        f'<section><h2>{esc(heading)}</h2><div id="section-{name}">{sections.get(name, "")}'
        "</div></section>" for name, heading, _ in SECTIONS)
    script = compute_script(refresh_ms)
    return PAGE.substitute(
        title=esc(title), style=STYLE, updated=esc(updated), sections=body, script=script,
        banner=esc(error), banner_hidden="" if error else " hidden")
