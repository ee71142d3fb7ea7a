"""The dashboard's HTTP answers: the page's Content-Security-Policy runs only its own script."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from typing import Any

from abci_app.client.rpc import ChainReadError, NodeRpc
from abci_app.dashboard.server import Dashboard


class DeadReader:
    rpc = NodeRpc("http://127.0.0.1:9")

    def read(self) -> Any:
        raise ChainReadError("connection refused")


def get_page() -> tuple[str, str]:
    response = asyncio.run(Dashboard(DeadReader(), refresh_ms=1234).page(None))  # type: ignore[arg-type]
    return str(response.text), response.headers["Content-Security-Policy"]


def test_page_script_runs_by_its_hash_and_no_inline_markup_can() -> None:
    html, csp = get_page()
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src is not None
    # 'unsafe-inline' would let an unescaped <img onerror=...> in a section run
    assert "unsafe-inline" not in script_src.group(1)
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    assert len(scripts) == 1 and "1234" in scripts[0]
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert script_src.group(1) == f"'sha256-{digest}'"
