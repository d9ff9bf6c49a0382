"""Drives the real `agentproc` binary with the official MCP Python SDK, as a
real client would: `agentproc mcp` over stdio (embedded, two at once, and
`--server`), and `/mcp` of `agentproc serve` over Streamable HTTP.

Run by `cargo xtask mcp-check`, which installs the pinned SDK into a venv:

    python test_mcp.py --binary target/debug/agentproc --work target/mcp-check/run-N

Every wait is on an event (an exit, a ready line, a program waiting for
input, a log line), bounded only as a hang guard. Exits non-zero on the
first failed check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

# The SDK pinned by `cargo xtask mcp-check`.
EXPECTED_SDK = "2.3.0"

TOOLS = [
    "process_start",
    "process_output",
    "process_input",
    "process_signal",
    "process_list",
    "process_search",
    "process_screen",
]

# A hang guard for waits on events, not a speed expectation.
GUARD_S = 120
WAIT_MS = GUARD_S * 1000


class Check:
    """Counts and reports the checks."""

    passed = 0

    @classmethod
    def ok(cls, what: str) -> None:
        cls.passed += 1
        print(f"  ok: {what}", flush=True)


def expect(condition: bool, what: str, detail: Any = "") -> None:
    if not condition:
        raise AssertionError(f"{what}: {detail}")


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A call that must succeed: its text and structured content."""
    result = await client.call_tool(tool, arguments)
    text = text_of(result)
    expect(not result.is_error, f"{tool} {arguments} succeeds", text)
    return text, result.structured_content or {}


async def fails(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    """A call the model should see fail: the message it reads."""
    result = await client.call_tool(tool, arguments)
    text = text_of(result)
    expect(result.is_error, f"{tool} {arguments} is an error", text)
    return text


def make_fifo(work: Path, name: str) -> Path:
    path = work / f"{name}-{secrets.token_hex(4)}.fifo"
    os.mkfifo(path)
    return path


def write_later(path: Path, data: str) -> threading.Thread:
    """Writes `data` to a FIFO once the command opens it for reading."""

    def write() -> None:
        with open(path, "w", encoding="utf-8") as fifo:
            fifo.write(data)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def is_dead(pid: int) -> bool:
    """Gone, or a zombie nobody reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def server_env(work: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A hermetic environment: nothing from the caller's AGENTPROC_* settings."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work / "home"),
        "AGENTPROC_STATE_DIR": str(work / "state"),
        "AGENTPROC_INPUT_SETTLE": "200ms",
        "AGENTPROC_LOG_LEVEL": "warn",
    }
    env.update(extra or {})
    return env


def stdio(binary: str, work: Path, args: list[str] | None = None, extra: dict[str, str] | None = None) -> Client:
    params = StdioServerParameters(
        command=binary,
        args=["mcp", *(args or [])],
        env=server_env(work, extra),
        cwd=str(work / "workdir"),
    )
    return Client(params)


# --- the checks --------------------------------------------------------------


async def tools_are_listed(client: Client) -> None:
    listed = await client.list_tools()
    names = [tool.name for tool in listed.tools]
    expect(names == TOOLS, "the seven tools, in order", names)
    by_name = {tool.name: tool for tool in listed.tools}
    for tool in listed.tools:
        expect(tool.input_schema.get("type") == "object", f"{tool.name} has an input schema", tool.input_schema)
        expect(tool.output_schema is not None, f"{tool.name} has an output schema", tool.name)
    expect(by_name["process_start"].input_schema.get("required") == ["command"], "command is required")
    expect(by_name["process_signal"].annotations.destructive_hint is True, "process_signal is destructive")
    for name in ["process_output", "process_list", "process_search", "process_screen"]:
        expect(by_name[name].annotations.read_only_hint is True, f"{name} is read-only")
    expect(by_name["process_start"].annotations.read_only_hint is False, "process_start is not read-only")
    Check.ok("tools/list: seven tools with input and output schemas and annotations")


async def a_command_exits(client: Client) -> None:
    text, data = await call(client, "process_start", {"command": "echo hi; exit 3"})
    first = text.splitlines()[0]
    expect(first.startswith("exit 3 (exited) after ") and data["id"] in first, "the status line", first)
    expect("\nhi" in text, "the output in the text", text)
    expect(data["exit_code"] == 3 and data["running"] is False, "exit 3 in the structured result", data)
    expect(data["output"] == "hi\n", "the output in the structured result", data)
    Check.ok("process_start `echo hi; exit 3`: `hi` and exit 3, as text and structured content")


async def a_dev_server_gets_ready(client: Client, work: Path) -> str:
    fifo = make_fifo(work, "ready")
    command = f'echo compiling; read port < {fifo}; echo "Listening on port $port"; exec sleep 300'
    text, data = await call(client, "process_start", {"command": command, "background": True})
    server = data["id"]
    expect(data["running"] is True, "a background start answers at once, running", data)
    expect('"until": "match"' in text, "it says how to wait for the ready line", text)
    writer = write_later(fifo, "3000\n")
    text, data = await call(
        client,
        "process_output",
        {"id": server, "until": "match", "pattern": "Listening on", "wait_ms": WAIT_MS},
    )
    writer.join(GUARD_S)
    expect(data["wait_result"] == "matched", "the wait returned on the ready line", text)
    expect("Listening on port 3000" in data["output"], "the ready line is in the output", data["output"])
    Check.ok("a background dev server, followed with until=match until its ready line")

    text, data = await call(client, "process_output", {"id": server})
    expect(data["output"] == "" and text.endswith("(no new output)"), "only new output, none since", text)
    Check.ok("process_output without a cursor reads only what is new")
    return server


async def input_to_cat(client: Client) -> None:
    text, data = await call(client, "process_start", {"command": "cat", "stdin": True, "wait_ms": WAIT_MS})
    cat = data["id"]
    expect(data["wait_result"] == "input" and data["awaiting_input"] is True, "cat waits for input", text)
    _, data = await call(client, "process_input", {"id": cat, "text": "hello\n"})
    expect(data["written"] == 6, "six bytes written", data)
    _, data = await call(client, "process_output", {"id": cat, "until": "output", "wait_ms": WAIT_MS})
    expect(data["output"] == "hello\n", "cat echoed", data)
    await call(client, "process_input", {"id": cat, "text": "again\n"})
    _, data = await call(client, "process_output", {"id": cat, "until": "output", "wait_ms": WAIT_MS})
    expect(data["output"] == "again\n", "only the new line (the implicit cursor)", data)
    await call(client, "process_input", {"id": cat, "eof": True})
    _, data = await call(client, "process_output", {"id": cat, "until": "exit", "wait_ms": WAIT_MS})
    expect(data["running"] is False and data["exit_code"] == 0, "cat exits at end of input", data)
    Check.ok("process_input to `cat` (stdin: true): text, then end of input")


async def signal_the_server(client: Client, server: str) -> None:
    _, data = await call(client, "process_signal", {"id": server, "signal": "terminate"})
    expect(data["sent"] == "SIGTERM", "SIGTERM sent", data)
    text, data = await call(client, "process_output", {"id": server, "until": "exit", "wait_ms": WAIT_MS})
    expect(data["exit_reason"] == "killed" and data["signal"] == "SIGTERM", "it ended by the signal", text)
    expect(text.startswith("exit -1 (killed, SIGTERM)"), "the status line says so", text)
    message = await fails(client, "process_signal", {"id": server, "signal": "kill"})
    expect("not running" in message, "signalling an exited process is a clear error", message)
    Check.ok("process_signal terminate, and the exit it caused")


async def search_the_output(client: Client) -> None:
    _, data = await call(client, "process_start", {"command": "seq 1 100"})
    _, found = await call(client, "process_search", {"id": data["id"], "pattern": "^7", "context": 1})
    lines = [match["line"] for match in found["matches"]]
    expect(lines == [7, *range(70, 80)], "the matching line numbers", lines)
    expect(found["matches"][0]["before"] == [{"line": 6, "text": "6"}], "context lines", found["matches"][0])
    message = await fails(client, "process_search", {"id": data["id"], "pattern": "("})
    expect(message.startswith('Invalid pattern "("'), "an invalid regex is a clear error", message)
    Check.ok("process_search: matches with line numbers and context; a bad regex is a clear error")


async def a_terminal_screen(client: Client) -> None:
    text, data = await call(
        client,
        "process_start",
        {"command": "printf 'name? '; read name; echo \"hi $name\"; read done", "tty": True, "wait_ms": WAIT_MS},
    )
    tty = data["id"]
    expect(data["wait_result"] == "input" and data["input_kind"] == "line", "the prompt waits for a line", text)
    await call(client, "process_input", {"id": tty, "text": "ada", "keys": ["Enter"]})
    await call(client, "process_output", {"id": tty, "pattern": "hi ada", "wait_ms": WAIT_MS})
    _, screen = await call(client, "process_screen", {"id": tty})
    expect(screen["lines"][:2] == ["name? ada", "hi ada"], "the rendered screen", screen["lines"])
    await call(client, "process_input", {"id": tty, "keys": ["C-c"]})
    _, data = await call(client, "process_output", {"id": tty, "until": "exit", "wait_ms": WAIT_MS})
    expect(data["running"] is False, "Ctrl-C ended it", data)
    Check.ok("a terminal program (tty: true): typed into with keys, its screen read")


async def bad_arguments(client: Client) -> None:
    message = await fails(client, "process_start", {"command": "true", "wait_ms": "soon"})
    expect("wait_ms" in message and "expected a whole number" in message, "a wrong type names the field", message)
    message = await fails(client, "process_start", {"cwd": "/tmp"})
    expect("unknown field `cwd`" in message, "an unknown argument is named", message)
    message = await fails(client, "process_start", {})
    expect(message == "Invalid arguments for process_start: missing field `command`.", "missing command", message)
    message = await fails(client, "process_signal", {"id": "00000000-0000-4000-8000-000000000000", "signal": "stop"})
    expect("unknown variant `stop`" in message and "`terminate`" in message, "an unknown signal", message)
    message = await fails(client, "process_output", {"id": "00000000-0000-4000-8000-000000000000"})
    expect(message.startswith("No process with id"), "an unknown id", message)
    message = await fails(client, "process_start", {"command": "true", "max_tokens": 5})
    expect("max_tokens must be from 200 to 32000" in message, "a refused limit", message)
    Check.ok("bad arguments (wrong types, missing command, unknown signal, unknown id, limits): clear errors")


async def stdio_embedded(binary: str, work: Path) -> None:
    print("stdio, embedded:", flush=True)
    async with stdio(binary, work) as client:
        await tools_are_listed(client)
        await a_command_exits(client)
        server = await a_dev_server_gets_ready(client, work)
        await input_to_cat(client)
        await signal_the_server(client, server)
        await search_the_output(client)
        await a_terminal_screen(client)
        await bad_arguments(client)


async def two_at_once(binary: str, work: Path) -> None:
    print("stdio, two embedded servers at once:", flush=True)
    async with stdio(binary, work) as first, stdio(binary, work) as second:
        _, one = await call(first, "process_start", {"command": "echo one; exec sleep 300", "background": True})
        _, two = await call(second, "process_start", {"command": "echo two; exec sleep 300", "background": True})
        _, listed_one = await call(first, "process_list", {})
        _, listed_two = await call(second, "process_list", {})
        expect([p["id"] for p in listed_one["processes"]] == [one["id"]], "the first sees its own", listed_one)
        expect([p["id"] for p in listed_two["processes"]] == [two["id"]], "the second sees its own", listed_two)
        for client, process, word in [(first, one, "one"), (second, two, "two")]:
            _, data = await call(client, "process_output", {"id": process["id"], "cursor": 0, "pattern": word, "wait_ms": WAIT_MS})
            expect(data["output"] == f"{word}\n", "each reads its own output", data)
    instances = [p for p in (work / "state" / "mcp").iterdir() if not p.name.startswith(".")]
    expect(instances == [], "both removed their state at exit", instances)
    Check.ok("two embedded servers with one state directory: each its own processes; state removed at exit")


def rpc(proc: subprocess.Popen[bytes], message: dict[str, Any]) -> dict[str, Any] | None:
    assert proc.stdin and proc.stdout
    proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.flush()
    if "id" not in message:
        return None
    while True:
        line = proc.stdout.readline()
        expect(line != b"", "the server answers", message)
        answer = json.loads(line)
        if answer.get("id") == message["id"]:
            return answer


def closing_stdin_stops_processes(binary: str, work: Path) -> None:
    print("stdio, end of input:", flush=True)
    proc = subprocess.Popen(
        [binary, "mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=server_env(work),
        cwd=str(work / "workdir"),
    )
    init = rpc(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "check", "version": "0"}}})
    expect(init is not None and "result" in init, "initialize (an earlier protocol revision)", init)
    rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    answer = rpc(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "process_start", "arguments": {"command": "exec sleep 300", "background": True}}})
    pid = answer["result"]["structuredContent"]["pid"] if answer else None
    expect(isinstance(pid, int) and not is_dead(pid), "a running process", answer)
    assert proc.stdin
    proc.stdin.close()
    code = proc.wait(timeout=GUARD_S)
    expect(code == 0, "the server exits 0 when its input closes", code)
    expect(is_dead(pid), "its process is gone", pid)
    Check.ok("closing stdin stops the embedded server's processes (the pid is gone) and exits 0")


class Serve:
    """`agentproc serve` on an ephemeral port with a token."""

    def __init__(self, binary: str, work: Path) -> None:
        self.token = secrets.token_hex(16)
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--log-format", "json"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=server_env(work, {
                "AGENTPROC_TOKEN": self.token,
                "AGENTPROC_STATE_DIR": str(work / "serve-state"),
                "AGENTPROC_LOG_LEVEL": "info",
            }),
            cwd=str(work / "workdir"),
        )
        assert self.proc.stderr
        self.log = open(work / "serve.log", "wb")
        while True:
            line = self.proc.stderr.readline()
            expect(line != b"", "agentproc serve starts listening", "it exited")
            self.log.write(line)
            event = json.loads(line)
            if event.get("message") == "agentproc listening":
                self.address = event["address"]
                break
        threading.Thread(target=self._copy_log, daemon=True).start()

    def _copy_log(self) -> None:
        assert self.proc.stderr
        for line in self.proc.stderr:
            self.log.write(line)

    def post(self, path: str, body: dict[str, Any], token: str | None) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"http://{self.address}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
            method="POST",
        )
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=GUARD_S) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def get(self, path: str) -> Any:
        request = urllib.request.Request(f"http://{self.address}{path}")
        request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=GUARD_S) as response:
            return json.loads(response.read())

    def stop(self) -> int:
        self.proc.terminate()
        code = self.proc.wait(timeout=GUARD_S)
        self.log.close()
        return code


async def streamable_http(binary: str, work: Path) -> None:
    print("Streamable HTTP at /mcp of agentproc serve:", flush=True)
    serve = Serve(binary, work)
    try:
        status, _ = serve.post("/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, token=None)
        expect(status == 401, "401 without the token", status)
        status, _ = serve.post("/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, token="wrong")
        expect(status == 401, "401 with a wrong token", status)
        Check.ok("/mcp answers 401 without the bearer token")
        http_client = create_mcp_http_client(headers={"Authorization": f"Bearer {serve.token}"})
        transport = streamable_http_client(f"http://{serve.address}/mcp", http_client=http_client)
        async with Client(transport) as client:
            await tools_are_listed(client)
            await a_command_exits(client)
            server = await a_dev_server_gets_ready(client, work)
            await input_to_cat(client)
            await signal_the_server(client, server)
            await search_the_output(client)
            await bad_arguments(client)
        # The processes are the HTTP API's too.
        listed = serve.get("/api/v0/processes/list")
        expect(any(p["command"] == "echo hi; exit 3" for p in listed["processes"]), "shared with the HTTP API", listed)
        Check.ok("processes started over /mcp are listed by the HTTP API")
    finally:
        code = serve.stop()
    expect(code == 0, "agentproc serve stops cleanly", code)


async def stdio_server_mode(binary: str, work: Path) -> None:
    print("stdio, --server (a front for agentproc serve):", flush=True)
    serve = Serve(binary, work)
    try:
        async with stdio(
            binary,
            work,
            ["--server", f"http://{serve.address}"],
            {"AGENTPROC_TOKEN": serve.token},
        ) as client:
            await tools_are_listed(client)
            await a_command_exits(client)
            server = await a_dev_server_gets_ready(client, work)
            await input_to_cat(client)
            await search_the_output(client)
            await a_terminal_screen(client)
            await bad_arguments(client)
        # The session ended; the server's processes live on.
        listed = serve.get(f"/api/v0/processes/{server}/output")
        expect(listed["running"] is True, "the dev server outlives the MCP session", listed)
        Check.ok("with --server, processes outlive the MCP session")
    finally:
        code = serve.stop()
    expect(code == 0, "agentproc serve stops cleanly", code)


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    work = Path(args.work).resolve()
    for sub in ["workdir", "home", "state"]:
        (work / sub).mkdir(parents=True, exist_ok=True)
    from importlib.metadata import version

    sdk = version("mcp")
    expect(sdk == EXPECTED_SDK, "the pinned MCP SDK", sdk)
    print(f"MCP Python SDK {sdk}, binary {args.binary}", flush=True)
    started = time.monotonic()
    await stdio_embedded(args.binary, work)
    await two_at_once(args.binary, work)
    closing_stdin_stops_processes(args.binary, work)
    await streamable_http(args.binary, work)
    await stdio_server_mode(args.binary, work)
    print(f"all {Check.passed} checks passed ({time.monotonic() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except AssertionError as failure:
        print(f"FAILED: {failure}", file=sys.stderr, flush=True)
        sys.exit(1)
