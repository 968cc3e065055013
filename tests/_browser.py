"""A headless Chromium driven over the DevTools protocol on a pipe (no driver binary, no port, no new package).

`--remote-debugging-pipe` makes Chromium read protocol commands from its fd 3 and write replies to fd 4,
each message JSON followed by a NUL byte. The pages under test forbid scripts (their Content-Security-Policy),
so measurements are evaluated from here, through the protocol, never injected into the page.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe",
         # Offline: any request would go to a proxy that does not exist, so nothing loads from the network.
         "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Browser:
    """One headless Chromium and one page; use as a context manager.

    open(url, width) loads a page at that viewport width; evaluate(expression) returns its JSON value.
    """

    def __init__(self, executable: str, timeout: float = 60.0):
        self.timeout, self._next_id, self._buffer = timeout, 0, b""
        self._profile = tempfile.mkdtemp(prefix="tc-chromium-")
        to_browser_r, self._to_browser = os.pipe()  # we write commands, Chromium reads them on fd 3
        self._from_browser, from_browser_w = os.pipe()  # Chromium writes replies on fd 4, we read them
        # The child must see them as exactly fds 3 and 4. Copies numbered 10 or more (close-on-exec) cannot
        # be among 3 and 4, so the child can dup2 them into place without overwriting one with the other.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser_r, from_browser_w)]

        def as_fds_3_and_4():  # in the child, before exec: dup2's copies are inherited, the rest is not
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        # close_fds=False: Python's own descriptors are close-on-exec anyway (PEP 446), and pass_fds would
        # need 3 and 4 to be open in this process already.
        self.process = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        close_fds=False, preexec_fn=as_fds_3_and_4)
        for fd in (to_browser_r, from_browser_w, *high):
            os.close(fd)
        target = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]
        self.call("Page.enable", session=True)

    # ---------------------------------------------------------------------------------- the protocol

    def _send(self, method: str, params: dict, session: bool) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe: " + self.process.stderr.read().decode()[-2000:])
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: bool = False, **params) -> dict:
        """Send one command and wait for its reply (events arriving meanwhile are dropped)."""
        wanted = self._send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    # ---------------------------------------------------------------------------------- page actions

    def open(self, url: str, width: int, height: int = 900) -> None:
        """Load url at a viewport of width x height CSS pixels and wait for its load event."""
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        wanted = self._send("Page.navigate", {"url": url}, session=True)
        deadline = time.monotonic() + self.timeout
        navigated = False
        while True:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message or message.get("result", {}).get("errorText"):
                    raise RuntimeError(f"cannot open {url}: {message}")
                navigated = True
            elif navigated and message.get("method") == "Page.loadEventFired":  # the new page's, not an old one
                break
        while self.evaluate("document.readyState + ' ' + location.href") != f"complete {url}":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading")
            time.sleep(0.05)

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression in the page (run by DevTools, not by the page)."""
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluation failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        self.process.stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
