"""Headless Chromium driven over the DevTools protocol (a websocket, via aiohttp).

Chosen over selenium + chromedriver: no new dependency (aiohttp already comes with
faust-streaming), no driver whose version must match the browser, and the handful of calls
the tests need (navigate, evaluate, screenshot, watch requests) are plain CDP methods.
A missing browser raises, so the browser tests fail instead of skipping.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
)


class BrowserMissing(RuntimeError):
    pass


def find_chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        path = shutil.which(candidate)
        if path:
            return path
    raise BrowserMissing(
        "Chromium not found; install it (Debian: apt-get install -y chromium) for the browser tests"
    )


class Chromium:
    """One headless browser with a fresh profile, and one page driven over CDP."""

    def __init__(self, profile_dir: Path, log_path: Path) -> None:
        self.profile_dir = profile_dir
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.loop = asyncio.new_event_loop()
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    # --- lifecycle -----------------------------------------------------------------------

    def start(self, timeout_s: float = 30.0) -> None:
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [find_chromium(), *FLAGS, f"--user-data-dir={self.profile_dir}", "about:blank"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        port_file = self.profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        port = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited early:\n{self.log_tail()}")
            if port_file.exists():
                lines = port_file.read_text().split()
                if lines:
                    port = int(lines[0])
                    break
            time.sleep(0.1)
        if port is None:
            raise TimeoutError(f"chromium did not open its DevTools port:\n{self.log_tail()}")
        ws_url = None
        while time.monotonic() < deadline and ws_url is None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                pages = [t for t in json.loads(r.read()) if t.get("type") == "page"]
            if pages:
                ws_url = pages[0]["webSocketDebuggerUrl"]
            else:
                time.sleep(0.1)
        if ws_url is None:
            raise TimeoutError("chromium opened no page")
        self.loop.run_until_complete(self._connect(ws_url))
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Network.enable")

    async def _connect(self, url: str) -> None:
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(url, max_msg_size=0)

    def stop(self) -> None:
        if self.ws is not None:
            self.loop.run_until_complete(self.ws.close())
        if self.session is not None:
            self.loop.run_until_complete(self.session.close())
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.loop.close()

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    # --- protocol ------------------------------------------------------------------------

    def call(self, method: str, timeout_s: float = 30.0, **params: Any) -> dict[str, Any]:
        return self.loop.run_until_complete(asyncio.wait_for(self._call(method, params), timeout_s))

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.ws is not None
        self.next_id += 1
        my_id = self.next_id
        await self.ws.send_json({"id": my_id, "method": method, "params": params})
        while True:
            msg = await self.ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"DevTools connection closed during {method}")
            data = json.loads(msg.data)
            if data.get("id") == my_id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return dict(data.get("result", {}))
            if "method" in data:
                self.events.append(data)

    # --- conveniences --------------------------------------------------------------------

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 20.0, every_s: float = 0.1) -> Any:
        """Poll a JavaScript expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = self.evaluate(expression)
            except RuntimeError:
                last = None
            if last:
                return last
            time.sleep(every_s)
        raise TimeoutError(f"not true after {timeout_s}s: {expression} (last: {last!r})")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def requested_urls(self) -> list[str]:
        self.evaluate("1")  # drain pending events
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]


# --- Playwright over the same Debian browser ---------------------------------------------------

# Never `playwright install`: Playwright drives the distribution's Chromium by its path.
PLAYWRIGHT_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def playwright_chromium(playwright: Any) -> Any:
    """A headless Debian Chromium launched by Playwright (``sync_playwright()`` instance)."""
    return playwright.chromium.launch(
        executable_path=find_chromium(), args=PLAYWRIGHT_ARGS, headless=True
    )
