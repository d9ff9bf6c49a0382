"""The web page in a real browser (Debian's Chromium through Playwright),
against real `agentproc serve` processes. Every wait is on the page's DOM
or on the server (Playwright's `expect` retries until its condition holds);
none is a sleep."""

import http.server
import re
import threading
import uuid

import pytest
from playwright.sync_api import expect

import harness


def open_process(page, server, process_id):
    page.goto(f"{server.url}/ui#/p/{process_id}")
    expect(page.locator("#detail")).to_be_visible()


def row(page, process_id):
    return page.locator(f'#proc-list li[data-id="{process_id}"]')


def test_a_started_process_is_listed_and_its_output_arrives_while_it_runs(page, server):
    word = harness.marker()
    # Prints, then waits on its standard input for the person's answer.
    process_id = server.start(
        f"echo first-{word}; read answer; echo got-$answer-{word}", stdin=True
    )
    page.goto(f"{server.url}/ui")
    listed = row(page, process_id)
    expect(listed).to_contain_text(f"echo first-{word}; read answer")
    # Running; once it has sat blocked on its input for a moment, agentproc
    # says it waits for input.
    expect(listed.locator(".state")).to_have_text(re.compile("running|waiting for input"))
    listed.locator("a").click()
    expect(page).to_have_url(re.compile(f"#/p/{process_id}$"))
    output = page.locator("#output")
    expect(output).to_contain_text(f"first-{word}")
    # The output came while it runs: it still waits for input.
    assert server.info(process_id)["running"]
    # It reads its standard input: the page shows the input box.
    expect(page.locator("#input-form")).to_be_visible()
    page.locator("#input-text").fill("hello")
    page.locator("#input-text").press("Enter")
    expect(output).to_contain_text(f"got-hello-{word}")
    expect(page.locator("#d-state")).to_have_text("exit 0")
    expect(listed.locator(".state")).to_have_text("exit 0")
    # Health is in the top bar.
    expect(page.locator("#health-summary")).to_contain_text("local")


def test_the_start_form_runs_a_command_and_colours_render(page, server):
    word = harness.marker()
    page.goto(f"{server.url}/ui")
    page.locator("#start summary").click()
    page.locator("#start-command").fill(
        f"printf '\\033[1;31mred-{word}\\033[0m plain\\n'; echo \"in $(pwd)\""
    )
    page.locator("#start-workdir").fill("/tmp")
    page.locator("#start-background").check()
    page.locator("#start-timeout").fill("30")
    page.locator("#start-submit").click()
    expect(page).to_have_url(re.compile(r"#/p/[0-9a-f-]{36}$"))
    process_id = page.url.rsplit("/", 1)[1]
    output = page.locator("#output")
    expect(output).to_contain_text("in /tmp")
    red = output.locator("span.f1.b")
    expect(red).to_have_text(f"red-{word}")
    assert "\x1b" not in output.inner_text()
    info = server.wait(process_id)
    assert info["exit_code"] == 0
    listed = server.info(process_id)
    assert listed["background"] is True
    assert listed["timeout_ms"] == 30_000
    assert listed["workdir"] == "/tmp"
    expect(row(page, process_id).locator(".state")).to_have_text("exit 0")


def test_search_highlights_a_match_from_the_middle_of_a_large_log(page, server):
    process_id = server.start("seq 1 200000")
    server.wait(process_id)
    open_process(page, server, process_id)
    # The live view starts near the end of a log this large.
    expect(page.locator("#output")).to_contain_text("200000")
    expect(page.locator("#view-note")).to_contain_text("Showing the last 1.0 MiB")
    page.locator("#search-pattern").fill("^123457$")
    page.locator("#search-pattern").press("Enter")
    results = page.locator("#search-list")
    expect(results.locator("mark")).to_have_text("123457")
    expect(page.locator("#search-summary")).to_contain_text("1 match")
    results.locator("button").click()
    target = page.locator("#output .line.target")
    expect(target).to_contain_text("123457")
    expect(target.locator("mark")).to_have_text("123457")
    expect(page.locator("#view-note")).to_contain_text("of 200000")
    # Going to a line by number.
    page.locator("#goto-line").fill("150001")
    page.locator("#goto-line").press("Enter")
    expect(page.locator("#output .line.target")).to_contain_text("150001")


def test_kill_asks_first_then_stops_a_sleep_and_the_list_shows_the_signal(page, server):
    process_id = server.start("sleep 300")
    open_process(page, server, process_id)
    expect(page.locator("#d-state")).to_have_text("running")
    # Cancelled: nothing is sent.
    page.locator("#sig-kill").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert server.info(process_id)["running"]
    # Confirmed: SIGKILL.
    page.locator("#sig-kill").click()
    expect(dialog).to_be_visible()
    page.locator("#confirm-ok").click()
    expect(page.locator("#d-state")).to_contain_text("SIGKILL")
    expect(row(page, process_id).locator(".state")).to_contain_text("SIGKILL")
    info = server.info(process_id)
    assert info["signal"] == "SIGKILL" and info["exit_reason"] == "killed"


def test_terminate_and_the_other_views(page, server):
    word = harness.marker()
    process_id = server.start(
        f"printf 'tty-{word}\\n'; read line; echo \"read $line\"; sleep 300", tty=True
    )
    open_process(page, server, process_id)
    expect(page.locator("#output")).to_contain_text(f"tty-{word}")
    page.get_by_role("tab", name="Screen").click()
    expect(page.locator("#output")).to_contain_text(f"tty-{word}")
    expect(page.locator("#view-note")).to_contain_text("Screen: 80×24")
    page.get_by_role("tab", name="Head/tail").click()
    expect(page.locator("#view-note")).to_contain_text("Head/tail view")
    expect(page.locator("#output")).to_contain_text(f"tty-{word}")
    page.get_by_role("tab", name="Agent").click()
    expect(page.locator("#view-note")).to_contain_text("Agent view")
    expect(page.locator("#output")).to_contain_text(f"tty-{word}")
    # A terminal process takes input: a line and Enter.
    expect(page.locator("#input-form")).to_be_visible()
    expect(page.locator("#input-label")).to_have_text("Terminal")
    page.locator("#input-text").fill(f"typed-{word}")
    page.locator("#input-text").press("Enter")
    expect(page.locator("#output")).to_contain_text(f"typed-{word}")
    page.get_by_role("tab", name="Live").click()
    expect(page.locator("#output")).to_contain_text(f"read typed-{word}")
    page.locator("#sig-terminate").click()
    expect(page.locator("#d-state")).to_contain_text("SIGTERM")


def test_the_list_stays_usable_with_hundreds_of_processes(page, server):
    chat = str(uuid.uuid4())
    ids = [server.start(f"echo many-{n}", chat=chat) for n in range(300)]
    page.goto(f"{server.url}/ui")
    expect(row(page, ids[-1])).to_be_visible()
    page.locator("#chat-filter").select_option(chat)
    expect(page.locator("#proc-list li")).to_have_count(300)
    expect(page.locator("#list-count")).to_contain_text("300 of")
    # Newest first.
    expect(page.locator("#proc-list li").first).to_have_attribute("data-id", ids[-1])
    row(page, ids[0]).locator("a").click()
    expect(page.locator("#output")).to_contain_text("many-0")
    expect(page.locator("#d-meta")).to_contain_text(chat)


def test_a_server_with_a_token_asks_for_it_once_and_then_works(page, context, guarded):
    page.goto(f"{guarded.url}/ui")
    dialog = page.locator("#login-dialog")
    expect(dialog).to_be_visible()
    page.locator("#login-token").fill("not-the-token")
    page.locator("#login-submit").click()
    expect(page.locator("#login-error")).to_have_text("That is not the token.")
    page.locator("#login-token").fill(guarded.token)
    page.locator("#login-submit").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#logout")).to_be_visible()

    cookies = context.cookies()
    assert len(cookies) == 1, cookies
    cookie = cookies[0]
    assert cookie["name"].startswith("agentproc_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert guarded.token not in cookie["value"]
    assert guarded.token not in page.url

    # The session carries the JSON routes and the stream (EventSource).
    word = harness.marker()
    page.locator("#start summary").click()
    page.locator("#start-command").fill(f"echo guarded-{word}")
    page.locator("#start-submit").click()
    expect(page.locator("#output")).to_contain_text(f"guarded-{word}")
    expect(page.locator("#d-state")).to_have_text("exit 0")
    # This server isolates every command ("workspace" by default): the
    # process and the health panel say what is enforced.
    expect(page.locator("#d-meta")).to_contain_text("network none")
    expect(page.locator("#d-meta")).to_contain_text("bubblewrap")
    expect(page.locator("#health-body")).to_contain_text("Isolation default")
    expect(page.locator("#health-body")).to_contain_text("workspace")
    expect(page.locator("#health-body")).to_contain_text("seccomp")

    # A reload keeps the session; logging out ends it.
    page.reload()
    expect(page.locator("#output")).to_contain_text(f"guarded-{word}")
    expect(dialog).to_be_hidden()
    page.locator("#logout").click()
    expect(dialog).to_be_visible()
    assert context.cookies() == []


class _Attacker:
    """A page on another origin (a port of its own) that posts to agentproc
    the way a cross-site request forgery would."""

    def __init__(self, target):
        self.target = target
        attacker = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = attacker.page().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def page(self):
        # A text/plain form makes a body that is valid JSON:
        # {"command":"…","x":"="}; agentproc does not check Content-Type.
        name = f'{{"command":"echo {self.word}","x":"'
        return f"""<!doctype html><html><body>
<form id="forged" method="POST" enctype="text/plain" action="{self.target}/api/v0/processes/start">
<input type="hidden" name='{name}' value='"}}'>
</form>
<script>
fetch("{self.target}/api/v0/processes/start", {{method: "POST", mode: "no-cors",
  body: JSON.stringify({{command: "echo {self.word}"}})}})
  .finally(() => {{ document.title = "fetched"; document.getElementById("forged").submit(); }});
</script></body></html>"""

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("which", ["open", "guarded"])
def test_a_forged_cross_site_post_is_refused(page, server, guarded, which):
    target = server if which == "open" else guarded
    if which == "guarded":
        # Logged in: the browser holds a session cookie, and a page on
        # another port of the same host is same-site, so it is sent along.
        page.goto(f"{target.url}/ui")
        page.locator("#login-token").fill(target.token)
        page.locator("#login-submit").click()
        expect(page.locator("#login-dialog")).to_be_hidden()
    attacker = _Attacker(target.url)
    attacker.word = f"forged-{harness.marker()}"
    try:
        page.goto(attacker.url)
        # The form navigates to agentproc's answer.
        expect(page.locator("body")).to_contain_text("Cross-origin requests are not allowed.")
        assert page.url.startswith(target.url)
    finally:
        attacker.close()
    commands = [p["command"] for p in target.processes()]
    assert not any(attacker.word in command for command in commands), commands
