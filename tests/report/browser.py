"""Headless Chromium over the DevTools protocol: load a page, collect errors and requests, screenshot.

Debian's chromium (apt-get install -y chromium). Tests skip with a clear message where it is absent.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def chromium_path() -> str:
    """The browser binary, or a skip that says how to get it."""
    found = (
        os.environ.get("ASSAY_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if not found:
        pytest.skip(
            "headless Chromium not found: apt-get install -y chromium (or set ASSAY_CHROMIUM)"
        )
    return found


@dataclass
class PageLoad:
    url: str
    load_ms: float = 0.0
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed loads
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    values: dict = field(default_factory=dict)  # results of the `evaluate` expressions
    screenshot: Path | None = None


class Browser:
    """One Chromium process; `load()` opens a page in a fresh tab."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="assay-chromium-")
        self.process = subprocess.Popen(
            [chromium_path(), *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.05)
        self.port = int(port_file.read_text().split()[0])

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _new_tab(self) -> tuple[str, str]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT"
        )
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310 - loopback DevTools
            target = json.loads(response.read())
        return target["id"], target["webSocketDebuggerUrl"]

    def _close_tab(self, target_id: str) -> None:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.port}/json/close/{target_id}", timeout=10
        ):  # noqa: S310
            pass

    def load(
        self,
        url: str,
        screenshot: str | None = None,
        evaluate: dict[str, str] | None = None,
        width: int = 1280,
        settle_s: float = 0.5,
    ) -> PageLoad:
        """Open `url`, wait for load (+ settle), evaluate expressions, screenshot the full page."""
        target_id, ws_url = self._new_tab()
        try:
            return asyncio.run(self._load(ws_url, url, screenshot, evaluate or {}, width, settle_s))
        finally:
            self._close_tab(target_id)

    async def _load(self, ws_url, url, screenshot, evaluate, width, settle_s) -> PageLoad:
        import websockets

        result = PageLoad(url)
        ids = itertools.count(1)
        pending: dict[int, asyncio.Future] = {}
        loaded = asyncio.Event()
        async with websockets.connect(ws_url, max_size=64 * 1024 * 1024) as ws:

            async def reader() -> None:
                async for raw in ws:
                    msg = json.loads(raw)
                    if "id" in msg and msg["id"] in pending:
                        pending.pop(msg["id"]).set_result(msg)
                        continue
                    method, params = msg.get("method"), msg.get("params", {})
                    if method == "Page.loadEventFired":
                        loaded.set()
                    elif method == "Runtime.exceptionThrown":
                        details = params["exceptionDetails"]
                        text = details.get("exception", {}).get("description") or details.get(
                            "text"
                        )
                        result.errors.append(f"exception: {text}")
                    elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                        args = " ".join(
                            str(a.get("value", a.get("description", "")))
                            for a in params.get("args", [])
                        )
                        result.errors.append(f"console.error: {args}")
                    elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                        entry = params["entry"]
                        result.errors.append(
                            f"log: {entry.get('text')} {entry.get('url', '')}".strip()
                        )
                    elif method == "Network.requestWillBeSent":
                        result.requests.append(params["request"]["url"])
                    elif method == "Network.loadingFailed" and not params.get("canceled"):
                        result.errors.append(
                            f"load failed: {params.get('errorText')} ({params.get('type')})"
                        )

            task = asyncio.create_task(reader())

            async def call(method: str, **params):
                n = next(ids)
                future = asyncio.get_running_loop().create_future()
                pending[n] = future
                await ws.send(json.dumps({"id": n, "method": method, "params": params}))
                msg = await asyncio.wait_for(future, 60)
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

            for domain in ("Page", "Runtime", "Log", "Network"):
                await call(f"{domain}.enable")
            await call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=900,
                deviceScaleFactor=1,
                mobile=False,
            )
            start = time.perf_counter()
            await call("Page.navigate", url=url)
            await asyncio.wait_for(loaded.wait(), 60)
            result.load_ms = (time.perf_counter() - start) * 1000
            await asyncio.sleep(settle_s)
            for name, expression in evaluate.items():
                value = await call("Runtime.evaluate", expression=expression, returnByValue=True)
                result.values[name] = value.get("result", {}).get("value")
            if screenshot:
                height = await call(
                    "Runtime.evaluate",
                    expression="document.documentElement.scrollHeight",
                    returnByValue=True,
                )
                h = min(int(height["result"].get("value") or 900), 12000)
                await call(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=h,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                await asyncio.sleep(0.2)
                shot = await call(
                    "Page.captureScreenshot", format="png", captureBeyondViewport=True
                )
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                path = ARTIFACTS / screenshot
                path.write_bytes(base64.b64decode(shot["data"]))
                result.screenshot = path
            task.cancel()
        return result
