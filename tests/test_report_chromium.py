"""The HTML report opened in real headless Chromium (Debian's ``chromium``, /usr/bin/chromium).

Driven over the DevTools protocol with the ``websockets`` client: the page must load from a file://
URL with no network, log no console error or uncaught exception, and every plot must render (plotly
drew its SVG and has a laid-out figure). A full-page screenshot is saved.

Run by hand on any report: ``python tests/test_report_chromium.py report.html shot.png``.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


class Chromium:
    """A headless Chromium and one page, spoken to over CDP (flattened target sessions)."""

    def __init__(self, width: int = 1400, height: int = 900) -> None:
        from websockets.sync.client import connect

        if not Path(CHROMIUM).exists():
            raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium (the Makefile's test target does).")
        self.profile = tempfile.mkdtemp(prefix="embcompare-chromium-")
        self.proc = subprocess.Popen(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
                f"--window-size={width},{height}", "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("Chromium did not open its DevTools port within 60 s.")
            time.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self._conn = connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=30)
        self.ws = self._conn.__enter__()
        self._ids = itertools.count(1)
        self.events: list[dict] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=True)

    def call(self, method: str, params: dict | None = None, session: bool = False, timeout: float = 60) -> dict:
        msg_id = next(self._ids)
        msg = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                if ev.get("method") == method:
                    return ev
            self.events.append(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))

    def evaluate(self, expression: str):
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"JS error: {res['exceptionDetails']}")
        return res["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors seen so far."""
        out = []
        for ev in self.events:
            m, p = ev.get("method"), ev.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: " + str(d.get("exception", {}).get("description") or d.get("text")))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append("log: " + p["entry"].get("text", ""))
        return out

    def requested_urls(self) -> list[str]:
        return [ev["params"]["request"]["url"] for ev in self.events if ev.get("method") == "Network.requestWillBeSent"]

    def open(self, url: str, timeout: float = 60) -> None:
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_event("Page.loadEventFired", timeout)

    def screenshot(self, path: str | Path) -> Path:
        import base64

        size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
        shot = self.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True,
             "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}},
            session=True,
        )
        path = Path(path)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        try:
            if hasattr(self, "_conn"):
                self._conn.__exit__(None, None, None)
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


PLOT_STATUS_JS = """
(() => Array.from(document.querySelectorAll('section.plot-section')).map(s => {
  const gd = s.querySelector('.js-plotly-plot');
  return {id: s.dataset.plot,
          drawn: !!(gd && gd._fullLayout && gd.querySelector('svg.main-svg')),
          traces: gd && gd._fullData ? gd._fullData.length : 0,
          marks: gd ? gd.querySelectorAll('.point, .bars path, .scatterlayer path, .heatmaplayer image, .hm image').length : 0,
          height: gd ? gd.getBoundingClientRect().height : 0};
}))()
"""


def check_report(html_path: str | Path, screenshot_path: str | Path, wait_s: float = 30) -> tuple[list[dict], list[str]]:
    """Open ``html_path``; return (per-plot status once all are drawn or 30 s passed, errors); save a screenshot.

    Any request to something other than the file itself (or data:/blob: URLs) counts as an error:
    the report must open offline.
    """
    browser = Chromium()
    try:
        browser.open(Path(html_path).resolve().as_uri())
        deadline = time.monotonic() + wait_s
        status = browser.evaluate(PLOT_STATUS_JS)
        while not (status and all(s["drawn"] for s in status)) and time.monotonic() < deadline:
            time.sleep(0.2)
            status = browser.evaluate(PLOT_STATUS_JS)
        browser.screenshot(screenshot_path)
        me = Path(html_path).resolve().as_uri()
        remote = [u for u in browser.requested_urls() if u != me and not u.startswith(("data:", "blob:", "about:"))]
        return status, browser.errors() + [f"network request: {u}" for u in remote]
    finally:
        browser.close()


# --- the test -------------------------------------------------------------------------------------


def _report_data() -> dict:
    """A realistic comparison dict built from hand-made runs through the package's own functions."""
    from langchain_embcompare.evaluation.agreement import agreement_matrix

    rng = np.random.default_rng(0)
    docs = [f"d{i}" for i in range(300)]
    names = ["minilm-384", "minilm-128", "mpnet-768", "mpnet-128"]
    base = {f"q{q}": rng.permutation(docs)[:60] for q in range(40)}
    runs = {
        n: {q: {d: float(s) for d, s in zip(np.roll(v, i)[:50], np.linspace(0.9, 0.3, 50))} for q, v in base.items()}
        for i, n in enumerate(names)
    }
    agreement = agreement_matrix(runs, k=10).to_dict()
    per_run = {}
    for i, n in enumerate(names):
        nd = 0.6 + 0.03 * i
        per_run[n] = {
            "model": n.split("-")[0], "dim": int(n.split("-")[1]),
            "ndcg@10": nd, "recall@100": nd + 0.2, "mrr@10": nd - 0.02,
            "ci": {m: [v - 0.03, v + 0.03] for m, v in (("ndcg@10", nd), ("recall@100", nd + 0.2), ("mrr@10", nd - 0.02))},
            "p_adjusted": {"ndcg@10": None if i == 0 else 0.2 / i}, "significant": {"ndcg@10": i == 3},
            "latency_ms": {"p50": 3.0 + 5 * i, "p95": 6.0 + 9 * i},
            "embedding": {"texts_per_second": 270.0 / (1 + i)},
            "index_memory_bytes": 5183 * 4 * int(n.split("-")[1]),
            "cost": {"usd_per_million_texts": 0.1 * (1 + i)},
        }
    return {
        "dataset": "hand-made", "labelled": True, "n_queries": 40, "n_documents": 300, "k": 50,
        "baseline": names[0], "metrics": ["ndcg@10", "recall@100", "mrr@10"], "stat_test": "student",
        "correction": "holm", "confidence": 0.95, "runs": per_run, "agreement": agreement,
        "probes": [{"query_run": "mpnet-128", "index_run": "minilm-128", "k": 10, "overlap": 0.1, "rbo": 0.05}],
    }


def test_report_renders_in_chromium(tmp_path):
    import plotly.graph_objects as go

    from langchain_embcompare.evaluation.report import write_html

    data = _report_data()
    extra = {"cluster map": go.Figure(go.Scatter(x=[0, 1, 2], y=[1, 0, 2], mode="markers", name="docs"))}
    html_path = write_html(data, tmp_path / "report.html", extra_figures=extra)
    shot = tmp_path / "report.png"
    status, errors = check_report(html_path, shot)
    print(f"screenshot: {shot}")
    keep = os.environ.get("EMBCOMPARE_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
    assert errors == []
    assert [s["id"] for s in status] == ["quality", "dimension", "pareto", "agreement", "cluster map"]
    for s in status:
        assert s["drawn"], s
        assert s["traces"] >= 1 and s["marks"] >= 1 and s["height"] > 100, s
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_label_free_report_renders_in_chromium(tmp_path):
    from langchain_embcompare.evaluation.report import write_html

    data = _report_data()
    data["labelled"] = False
    for r in data["runs"].values():
        for m in ("ndcg@10", "recall@100", "mrr@10", "ci", "p_adjusted", "significant"):
            r.pop(m)
    html_path = write_html(data, tmp_path / "free.html")
    status, errors = check_report(html_path, tmp_path / "free.png")
    assert errors == []
    assert [s["id"] for s in status] == ["efficiency", "agreement"]
    assert all(s["drawn"] and s["marks"] >= 1 for s in status), status


def test_broken_page_is_caught(tmp_path):
    """The harness itself can fail: a page that throws and never draws its plot is reported."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<html><body><section class='plot-section' data-plot='x'><div class='js-plotly-plot'></div></section>"
        "<script>console.error('boom'); undefined_function();</script></body></html>"
    )
    status, errors = check_report(page, tmp_path / "broken.png", wait_s=2)
    assert status == [{"id": "x", "drawn": False, "traces": 0, "marks": 0, "height": 0}]
    assert any("boom" in e for e in errors) and any("undefined_function" in e for e in errors)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tests/test_report_chromium.py REPORT.html SHOT.png")
    st, errs = check_report(sys.argv[1], sys.argv[2])
    print(json.dumps({"plots": st, "errors": errs}, indent=1))
    sys.exit(1 if errs or not all(s["drawn"] for s in st) else 0)
