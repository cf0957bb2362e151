"""Drives the web viewer (/ui/) in headless Chromium with Playwright, the way a
person would, and prints one JSON report of what it saw on stdout. The Rust
tests (tests/tests/viewer.rs) and the bench (tests/benches/viewer.rs) start it
against the test host and assert on the report; this script only observes.

    viewer.py test  <api> <token> <artifacts dir>
    viewer.py bench <api> <token> <artifacts dir>

The API must hold task web.1 (agent-a) with a stdout file, and for `test` the
pod shop/web-1 (three lines) and a component log entry; `test` appends to
web.1 and the pod through the API while the viewer follows them.
"""

import hashlib
import json
import os
import sys
import tarfile
import time
import urllib.request

from playwright.sync_api import sync_playwright

ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
INGEST = "/system/v1/logs/v2/ingest/tasks/web.1/files/stdout"


def append(api, token, lines):
    body = "".join(f"{l}\n" for l in lines).encode()
    req = urllib.request.Request(api + INGEST, data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "text/plain"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 200, r.status


def push(api, token, lines):
    """Loki push of `lines` to the stream {namespace="shop", pod="web-1"}."""
    now = time.time_ns()
    body = json.dumps({"streams": [{
        "stream": {"namespace": "shop", "pod": "web-1", "container": "web"},
        "values": [[str(now + i), l] for i, l in enumerate(lines)]}]}).encode()
    req = urllib.request.Request(api + "/loki/api/v1/push", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 204, r.status


def lines_in_view(page):
    return page.evaluate("() => window.spinLogs.lines.items.map((r) => r.text)")


def wait_lines(page, n, timeout_s):
    page.wait_for_function(f"() => window.spinLogs.lines.length >= {n}", timeout=timeout_s * 1000)


def launch(p):
    return p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=ARGS)


def sign_in(page, api, token):
    page.goto(api + "/ui/")
    page.fill("#token", token)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector('[data-task="web.1"]')


def first_paint_ms(page):
    # The paint entry may land after `load`: wait for it (buffered).
    return page.evaluate("""() => new Promise((done) => {
        new PerformanceObserver((list) => {
            const e = list.getEntriesByName('first-contentful-paint')[0];
            if (e) done(e.startTime);
        }).observe({type: 'paint', buffered: true});
        setTimeout(() => done(null), 10000);
    })""")


def open_stdout(page, history=None):
    if history:
        page.select_option("#history", history)
    page.click('button.item[data-task="web.1"]:not([data-file])')
    page.click('button.item[data-task="web.1"][data-file="stdout"]')


def test(api, token, artifacts):
    report = {}
    with sync_playwright() as p:
        browser = launch(p)
        ctx = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(api + "/ui/")
        report["signin_visible"] = page.is_visible("#signin")
        page.fill("#token", "not-a-token")
        page.click("#signin-form button[type=submit]")
        page.wait_for_function("() => document.getElementById('signin-error').textContent.length > 0")
        report["bad_token_error"] = page.text_content("#signin-error")
        sign_in(page, api, token)
        report["stored_in_session"] = page.evaluate("() => sessionStorage.getItem('spin-logs.token') !== null")
        report["tasks"] = page.eval_on_selector_all("#tasks > li > button", "bs => bs.map(b => b.dataset.task)")
        report["apps"] = page.eval_on_selector_all("#apps > li > button", "bs => bs.map(b => b.dataset.app)")

        # Live tail through invocation handoffs (1 s budget): every line once.
        open_stdout(page)
        page.wait_for_function("() => document.body.dataset.tail === 'live'")
        wait_lines(page, 10, 30)
        for i in range(10, 60):
            append(api, token, [f"line {i}"])
            time.sleep(0.1)
        wait_lines(page, 60, 60)
        report["states_seen"] = page.evaluate("() => window.spinLogs.tail.states")
        report["handoffs"] = page.evaluate("() => window.spinLogs.tail.handoffs")
        report["opens"] = page.evaluate("() => window.spinLogs.tail.opens")

        # Pause: lines appended meanwhile arrive after resuming, once.
        page.click("#pause")
        page.wait_for_function("() => document.body.dataset.tail === 'paused'")
        report["paused_label"] = page.text_content("#pause")
        append(api, token, [f"line {i}" for i in range(60, 70)])
        time.sleep(1.5)
        report["lines_while_paused"] = page.evaluate("() => window.spinLogs.lines.length")
        page.focus("#log")
        page.keyboard.press("p")
        wait_lines(page, 70, 30)
        time.sleep(0.5)
        report["lines"] = lines_in_view(page)
        report["rows_in_dom"] = page.eval_on_selector_all("#log-rows .ln", "rs => rs.length")
        page.screenshot(path=os.path.join(artifacts, "viewer-1280x800.png"))

        # Search: the lines in memory, highlighted; then the server's, with context.
        page.click("#log")
        page.keyboard.press("/")
        page.keyboard.type("line 4")
        page.wait_for_function("() => document.getElementById('hits').textContent.includes('match')")
        report["hits"] = page.text_content("#hits")
        page.keyboard.press("Enter")
        page.wait_for_selector("#log-rows .ln.hit mark")
        report["current_match"] = page.text_content("#log-rows .ln.hit")
        report["marks"] = page.eval_on_selector_all("#log-rows mark", "ms => ms.map(m => m.textContent)")
        page.fill("#q", "line 42")
        page.click("#search-all")
        page.wait_for_function("() => /: \\d/.test(document.getElementById('results-title').textContent)")
        report["search_title"] = page.text_content("#results-title")
        report["search_results"] = page.eval_on_selector_all(
            "#results-list li", "ls => ls.map(l => ({text: l.innerText, marks: [...l.querySelectorAll('mark')].map(m => m.textContent), ctx: [...l.querySelectorAll('.ctx')].map(c => c.textContent)}))")
        # Jump to a time: everything since a minute ago, in order.
        page.click("#results-close")
        page.fill("#at", time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 600)))
        page.click("#jump")
        page.wait_for_function("() => /: \\d/.test(document.getElementById('results-title').textContent)")
        report["jump_title"] = page.text_content("#results-title")
        report["jump_first"] = page.eval_on_selector("#results-list li", "l => l.innerText")
        page.click("#results-close")

        # Download the file through its link (a URL token; the browser streams it to disk).
        with page.expect_download() as dl:
            page.click("#downloads a:first-child")
        path = dl.value.path()
        report["download_name"] = dl.value.suggested_filename
        report["download_sha256"] = hashlib.sha256(open(path, "rb").read()).hexdigest()
        with page.expect_download() as dl:
            page.click("#downloads a:nth-child(2)")
        report["archive_name"] = dl.value.suggested_filename
        with tarfile.open(dl.value.path(), "r:gz") as tar:
            report["archive_entries"] = tar.getnames()

        # A log-collection job: created, polled to the end, downloaded.
        page.click("#nav-jobs")
        page.fill("#job-group", "5f0c8a2be4b0a1d2c3e4f5a6")
        page.fill("#job-tasks", "web.1")
        page.click("#job-form button[type=submit]")
        page.wait_for_selector("#jobs tr td button", timeout=60000)
        report["job_row"] = page.eval_on_selector("#jobs tr", "r => r.innerText")
        report["job_progress"] = page.eval_on_selector("#jobs progress", "p => p.value")
        with page.expect_download() as dl:
            page.click("#jobs tr td button")
        report["job_download_bytes"] = os.path.getsize(dl.value.path())
        report["job_download_gzip"] = open(dl.value.path(), "rb").read(2) == b"\x1f\x8b"
        page.click("#nav-logs")

        # An app: every container's lines in Scalingo's form, by a URL token.
        page.click('button.item[data-app="demo"]')
        wait_lines(page, 70, 30)
        report["app_last"] = lines_in_view(page)[-1]
        # A pod, through the fetch-based SSE reader (the header, no URL token).
        page.click("#refresh")
        page.click('button.item[data-namespace="shop"]')
        page.click('button.item[data-pod="web-1"]')
        wait_lines(page, 3, 30)
        push(api, token, ["pod line 3"])
        wait_lines(page, 4, 30)
        report["pod_lines"] = lines_in_view(page)
        # Component logs, the same way.
        page.click('button.item[data-journal=""]')
        wait_lines(page, 1, 30)
        report["journal_lines"] = lines_in_view(page)

        # A phone: the sources slide over the log.
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        m = phone.new_page()
        sign_in(m, api, token)
        report["phone_side_hidden"] = m.evaluate(
            "() => document.getElementById('side').getBoundingClientRect().right <= 0")
        m.click("#menu")
        m.wait_for_function("() => document.getElementById('side').getBoundingClientRect().left >= 0")
        m.click('button.item[data-task="web.1"]:not([data-file])')
        m.click('button.item[data-task="web.1"][data-file="stdout"]')
        m.wait_for_function("() => window.spinLogs.lines.length >= 70")
        m.wait_for_function("() => document.getElementById('side').getBoundingClientRect().right <= 0")
        report["phone_scroll_width_ok"] = m.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        m.screenshot(path=os.path.join(artifacts, "viewer-390x844.png"))

        # Keyboard only: Tab reaches the sources; Escape closes what is open.
        k = ctx.new_page()
        k.goto(api + "/ui/")
        for _ in range(5):
            k.keyboard.press("Tab")
            if k.evaluate("() => document.activeElement.id") == "token":
                break
        k.keyboard.type(token)
        k.keyboard.press("Tab")
        k.keyboard.press("Enter")
        k.wait_for_selector('[data-task="web.1"]')
        reached = []
        for _ in range(12):
            k.keyboard.press("Tab")
            reached.append(k.evaluate("() => document.activeElement.id || document.activeElement.dataset.task || document.activeElement.tagName"))
        report["tab_order"] = reached

        # The bound: with ?max_lines=100, 300 lines keep the newest 100-112.
        append(api, token, [f"line {i}" for i in range(70, 300)])
        k.goto(api + "/ui/?max_lines=100")
        k.wait_for_selector('[data-task="web.1"]')
        open_stdout(k, "all")
        k.wait_for_function("() => window.spinLogs.lines.items.at(-1)?.text === 'line 299'")
        report["bounded_lines"] = k.evaluate("() => window.spinLogs.lines.length")
        report["bounded_dropped"] = k.evaluate("() => window.spinLogs.lines.dropped")
        report["bounded_first"] = k.evaluate("() => window.spinLogs.lines.items[0].text")
        report["bounded_foot"] = k.text_content("#log-foot")
        report["page_errors"] = errors
        browser.close()
    return report


def bench(api, token, artifacts):
    """First paint of /ui/ (cold cache, then warm), and the time from opening
    web.1/stdout (from the start) until every one of its lines is in the view."""
    report = {}
    with sync_playwright() as p:
        browser = launch(p)
        def paints(url, prefix, runs=5):
            # Median of fresh contexts (cold: empty cache), then of reloads in one (warm).
            cold = []
            for _ in range(runs):
                c = browser.new_context(viewport={"width": 1280, "height": 800})
                pg = c.new_page()
                pg.goto(url)
                pg.wait_for_load_state("load")
                cold.append(first_paint_ms(pg))
                c.close()
            c = browser.new_context(viewport={"width": 1280, "height": 800})
            warm = []
            for _ in range(runs + 1):
                pg = c.new_page()
                pg.goto(url)
                pg.wait_for_load_state("load")
                warm.append(first_paint_ms(pg))
                pg.close()
            c.close()
            report[prefix + "first_paint_ms_cold"] = sorted(cold)[runs // 2]
            report[prefix + "first_paint_ms_warm"] = sorted(warm[1:])[runs // 2]

        for _ in range(2):  # the second round counts: the first warms the host and the browser
            paints(api + "/ui/", "")
            if os.environ.get("ANCHOR_UI"):
                paints(os.environ["ANCHOR_UI"], "anchor_")
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        page2 = ctx.new_page()
        total = int(os.environ.get("BENCH_LINES", "100000"))
        sign_in(page2, api, token)
        t0 = time.perf_counter()
        open_stdout(page2, "all")
        page2.wait_for_function(
            f"() => window.spinLogs.lines.length >= {total} && document.getElementById('log-foot').textContent.startsWith('{total:,}')",
            timeout=300000, polling=50)
        report["show_all_lines_s"] = time.perf_counter() - t0
        report["lines"] = page2.evaluate("() => window.spinLogs.lines.length")
        report["rows_in_dom"] = page2.eval_on_selector_all("#log-rows .ln", "rs => rs.length")
        # The README's picture: the end of the log, errors marked.
        page2.fill("#q", "status=502")
        page2.wait_for_function("() => document.getElementById('hits').textContent.includes('match')")
        page2.click("#log")
        page2.keyboard.press("N")
        page2.wait_for_selector("#log-rows .ln.hit mark")
        page2.screenshot(path=os.path.join(artifacts, "viewer-100k-lines.png"))
        report["js_heap_mb"] = page2.evaluate("() => performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null")
        # The anchor: a bare EventSource receiving the same lines, no rendering.
        tok = page2.evaluate("async () => (await (await fetch('/system/v1/logs/v2/tokens', {method: 'POST', headers: {Authorization: 'Bearer ' + sessionStorage.getItem('spin-logs.token'), 'Content-Type': 'application/json'}, body: JSON.stringify({task: 'web.1'})})).json()).token")
        t0 = time.perf_counter()
        got = page2.evaluate("""([tok, total]) => new Promise((done) => {
            let n = 0;
            const es = new EventSource(`/system/v1/logs/v2/task/web.1/file/stdout?cursor=BEG&token=${tok}`);
            es.onmessage = (e) => { JSON.parse(e.data); if (++n >= total) { es.close(); done(n); } };
        })""", [tok, total])
        report["bare_eventsource_s"] = time.perf_counter() - t0
        report["bare_lines"] = got
        browser.close()
    return report


if __name__ == "__main__":
    mode, api, token, artifacts = sys.argv[1:5]
    os.makedirs(artifacts, exist_ok=True)
    out = test(api, token, artifacts) if mode == "test" else bench(api, token, artifacts)
    print(json.dumps(out))
