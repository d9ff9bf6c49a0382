"""`cargo xtask screenshots`: the page's main views in light and dark mode,
at a laptop's width (1280 px) and a narrow window's (420 px), as PNGs in the
folder given as the first argument (docs/ui/). The server is a fresh one the
xtask started; this script gives it a few processes to show first, run in
the folder given as the second argument."""

import pathlib
import sys

from playwright.sync_api import expect, sync_playwright

import harness

# Stand-ins for real tools, so the screenshots show familiar commands and
# output (colours included) without needing those tools here.
FAKE_TOOLS = {
    "cargo": r"""#!/bin/sh
if [ "$1" = test ]; then
  for n in 1 2 3 4 5 6 7 8; do printf 'test store::tests::case_%s ... \033[32mok\033[0m\n' "$n"; done
  python3 -c 'b = b"x" * (200 << 20)'
  printf '\ntest result: \033[32mok\033[0m. 8 passed; 0 failed; finished in 0.42s\n'
  exit 0
fi
printf '\033[1;32m   Compiling\033[0m serde v1.0.219\n'
printf '\033[1;32m   Compiling\033[0m tokio v1.54.1\n'
printf '\033[1;32m   Compiling\033[0m inventory v0.4.2 (/srv/inventory)\n'
printf '\033[1;33mwarning\033[0m\033[1m: unused variable: `row`\033[0m\n'
printf '  \033[1;34m-->\033[0m src/store.rs:88:13\n'
printf '\033[1;31merror[E0308]\033[0m\033[1m: mismatched types\033[0m\n'
printf '  \033[1;34m-->\033[0m src/lib.rs:42:7\n'
printf '   \033[1;34m|\033[0m\n'
printf '\033[1;34m42\033[0m \033[1;34m|\033[0m     let total: u32 = price * 1.2;\n'
printf '   \033[1;34m|\033[0m                      \033[1;31m^^^^^^^^^^^\033[0m \033[1;31mexpected `u32`, found `f64`\033[0m\n'
printf '\n\033[1;31merror\033[0m\033[1m: could not compile `inventory` (lib) due to 1 previous error; 1 warning emitted\033[0m\n'
exit 101
""",
    "npm": r"""#!/bin/sh
printf '\n> inventory-web@0.4.2 dev\n> vite\n\n'
printf '  \033[1;32mVITE\033[0m v6.3.5  ready in \033[1m412\033[0m ms\n\n'
printf '  \033[32m➜\033[0m  \033[1mLocal\033[0m:   \033[36mhttp://localhost:5173/\033[0m\n'
exec sleep 3600
""",
}


def arrange(server, workdir):
    tools = workdir / "bin"
    tools.mkdir(parents=True, exist_ok=True)
    for name, script in FAKE_TOOLS.items():
        path = tools / name
        path.write_text(script)
        path.chmod(0o755)
    env = {"PATH": f"{tools}:/usr/local/bin:/usr/bin:/bin"}
    chat = "7c1f0f3e-2a4b-4c5d-8e9f-0a1b2c3d4e5f"
    where = {"workdir": str(workdir), "env": env}
    seq = server.start("seq 1 200000", chat=chat, **where)
    server.wait(seq)
    killed = server.start("sleep 300", chat=chat, **where)
    server.signal(killed, "kill")
    server.wait(killed)
    tests = server.start("cargo test --workspace", chat=chat, **where)
    server.wait(tests)
    build = server.start("cargo build", chat=chat, **where)
    server.wait(build)
    dev = server.start("npm run dev", background=True, **where)
    return {"build": build, "seq": seq, "dev": dev}


def shoot(browser, server, ids, out):
    for scheme in ["light", "dark"]:
        wide = browser.new_context(viewport={"width": 1280, "height": 760}, color_scheme=scheme)
        page = wide.new_page()
        page.emulate_media(color_scheme=scheme)
        page.goto(f"{server.url}/ui#/p/{ids['build']}")
        expect(page.locator("#output")).to_contain_text("could not compile")
        expect(page.locator("#proc-list li")).to_have_count(5)
        page.screenshot(path=str(out / f"process-{scheme}-1280.png"))

        page.goto(f"{server.url}/ui#/p/{ids['seq']}")
        page.locator("#search-pattern").fill("^12345[0-9]$")
        page.locator("#search-pattern").press("Enter")
        expect(page.locator("#search-list li")).to_have_count(10)
        page.locator("#search-list button").nth(7).click()
        expect(page.locator("#output .line.target")).to_contain_text("123457")
        page.screenshot(path=str(out / f"search-{scheme}-1280.png"))
        wide.close()

        narrow = browser.new_context(viewport={"width": 420, "height": 860}, color_scheme=scheme)
        page = narrow.new_page()
        page.emulate_media(color_scheme=scheme)
        page.goto(f"{server.url}/ui")
        expect(page.locator("#proc-list li")).to_have_count(5)
        page.screenshot(path=str(out / f"list-{scheme}-420.png"))
        page.goto(f"{server.url}/ui#/p/{ids['build']}")
        expect(page.locator("#output")).to_contain_text("could not compile")
        page.screenshot(path=str(out / f"process-{scheme}-420.png"))
        narrow.close()


def main():
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    server = harness.open_server()
    ids = arrange(server, pathlib.Path(sys.argv[2]))
    with sync_playwright() as playwright:
        browser = harness.launch(playwright)
        expect.set_options(timeout=20_000)
        shoot(browser, server, ids, out)
        browser.close()
    for path in sorted(out.glob("*.png")):
        print(f"{path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
