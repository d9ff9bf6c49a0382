"""What the browser tests and the screenshots share: the servers under test
(real `agentproc serve` processes that `cargo xtask ui-check` or
`cargo xtask screenshots` started), the system's Chromium, and a few calls
to agentproc's API from Python (to arrange what the page should show)."""

import json
import os
import urllib.error
import urllib.request
import uuid

# Debian's Chromium, driven by Playwright without its own browser build
# (`playwright install` downloads one, which this kind of machine cannot).
CHROMIUM = os.environ.get("AGENTPROC_UI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch(playwright):
    """The system Chromium, headless."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


class Server:
    """An agentproc under test, and its API as seen by a client that is not
    a browser (no Origin, no Sec-Fetch-Site)."""

    def __init__(self, url, token=None):
        self.url = url.rstrip("/")
        self.token = token

    def request(self, method, path, body=None, headers=None):
        """(status, decoded JSON or None)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, None

    def start(self, command, chat=None, **fields):
        """Starts `command` (with more start fields), returns its id."""
        headers = {"Coder-Chat-Id": chat} if chat else None
        status, answer = self.request(
            "POST", "/api/v0/processes/start", {"command": command, **fields}, headers
        )
        assert status == 200, answer
        return answer["id"]

    def wait(self, process_id):
        """Blocks until the process exits; its final snapshot."""
        status, answer = self.request(
            "GET", f"/api/v0/processes/{process_id}/output?wait=true"
        )
        assert status == 200, answer
        return answer

    def processes(self, chat=None):
        headers = {"Coder-Chat-Id": chat} if chat else None
        status, answer = self.request(
            "GET", "/api/v0/processes/list?limit=1000", headers=headers
        )
        assert status == 200, answer
        return answer["processes"]

    def info(self, process_id):
        for process in self.processes():
            if process["id"] == process_id:
                return process
        raise AssertionError(f"process {process_id} is not listed")

    def signal(self, process_id, signal):
        return self.request(
            "POST", f"/api/v0/processes/{process_id}/signal", {"signal": signal}
        )


def open_server():
    """The agentproc without a token."""
    return Server(os.environ["AGENTPROC_UI_URL"])


def guarded_server():
    """The agentproc with a token."""
    return Server(os.environ["AGENTPROC_UI_GUARDED_URL"], os.environ["AGENTPROC_UI_TOKEN"])


def marker():
    """A word no other test prints."""
    return uuid.uuid4().hex[:12]
