#!/usr/bin/env python3
"""The browser side of tests/web.rs: the daemon's web page in a real headless Chromium
(Debian's /usr/bin/chromium driven by Playwright from a venv; Playwright never
downloads a browser of its own here).

  web_page.py PLAN.json

PLAN is written by tests/web.rs:

  url          the page of a daemon without a password
  login_url    the page of a daemon with one, and its `password`
  seed         {hash, name, size}: a torrent the daemon seeds, the largest
  partial      {hash}: a torrent with half its data (downloading)
  upload       {path, hash, name, save_path}: a .torrent to add through the page
  create       {path, name}: a file on the daemon's machine to make a torrent of
  peer         whether a libtorrent leecher is downloading `seed` from the daemon
  shots        the directory screenshots go to

Prints one line per step passed and exits 0; a failed step raises (exit 1). Every wait
is bounded. Any console error or page error (a Content-Security-Policy violation is one)
fails the run at the end.
"""

import json
import os
import sys
import time

from playwright.sync_api import expect, sync_playwright

WAIT_MS = 15_000  # the longest any one step waits
CHROMIUM = os.environ.get("HIVEBT_CHROMIUM", "/usr/bin/chromium")


def step(msg):
    print("ok:", msg, flush=True)


def fmt_bytes(n):
    """The page's fmtBytes."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    i = 0
    n = float(n)
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    digits = 0 if i == 0 else 2 if n < 10 else 1 if n < 100 else 0
    return "%.*f %s" % (digits, n, units[i])


def row(page, hash_):
    return page.locator('#rows .row[data-hash="%s"]:not([hidden])' % hash_)


def cell(page, hash_, name):
    return row(page, hash_).locator(".cell." + name)


def canvas_painted(page, selector):
    """How many pixels of the canvas are not fully transparent."""
    return page.evaluate(
        """(sel) => {
            const c = document.querySelector(sel);
            if (!c || !c.width || !c.height) return 0;
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
            return n;
        }""",
        selector,
    )


def distinct_colours(page, selector):
    """The distinct colours along the middle row of the canvas."""
    return page.evaluate(
        """(sel) => {
            const c = document.querySelector(sel);
            const d = c.getContext("2d").getImageData(0, c.height >> 1, c.width, 1).data;
            const seen = new Set();
            for (let i = 0; i < d.length; i += 4) seen.add(d[i] + "," + d[i + 1] + "," + d[i + 2]);
            return seen.size;
        }""",
        selector,
    )


def watch_errors(page, errors):
    page.on("pageerror", lambda e: errors.append("page error: %s" % e))
    page.on(
        "console",
        lambda m: errors.append("console %s: %s" % (m.type, m.text)) if m.type == "error" else None,
    )


def the_list(page, plan):
    seed = plan["seed"]
    page.goto(plan["url"])
    expect(row(page, seed["hash"])).to_be_visible()
    expect(cell(page, seed["hash"], "name")).to_contain_text(seed["name"])
    expect(cell(page, seed["hash"], "st")).to_have_text("seeding")
    expect(cell(page, seed["hash"], "size")).to_have_text(fmt_bytes(seed["size"]))
    expect(cell(page, seed["hash"], "prog")).to_have_text("100%")
    expect(page.locator("#live")).to_have_text("live")
    step("the list shows the seeding torrent with its numbers, and the event stream is live")

    partial = plan["partial"]["hash"]
    expect(cell(page, partial, "st")).to_have_text("downloading")
    pct = cell(page, partial, "prog").inner_text()
    assert pct not in ("0.0%", "100%"), "partial torrent shows %s" % pct
    expect(cell(page, partial, "eta")).to_have_text("∞")
    step("a half-present torrent shows as downloading at %s with no ETA" % pct)


def sorting_and_filters(page, plan):
    rows = page.locator("#rows .row:not([hidden])")
    total = rows.count()
    page.click('.th[data-key="size"]')
    expect(page.locator('.th[data-key="size"]')).to_have_class("th num desc")
    expect(rows.first).to_have_attribute("data-hash", plan["seed"]["hash"])
    page.click('.th[data-key="name"]')
    expect(page.locator('.th[data-key="name"]')).to_have_class("th asc")
    names = [r.locator(".cell.name").get_attribute("title") for r in rows.all()]
    assert names == sorted(names, key=str.lower), names
    page.select_option("#filter-state", "downloading")
    expect(rows).to_have_count(1)
    page.select_option("#filter-state", "")
    page.fill("#search", plan["seed"]["name"][:6])
    expect(row(page, plan["seed"]["hash"])).to_be_visible()
    expect(rows).not_to_have_count(total)
    page.fill("#search", "")
    expect(rows).to_have_count(total)
    step("sorting by a column, the state filter and the search box narrow the list")


def add_by_upload(page, plan):
    up = plan["upload"]
    page.click("#btn-add")
    expect(page.locator("#add-dialog")).to_be_visible()
    page.set_input_files("#add-file", up["path"])
    page.fill("#add-save", up["save_path"])
    page.fill("#add-labels", "linux, iso")
    page.click("#add-submit")
    expect(page.locator("#add-dialog")).to_be_hidden()
    expect(row(page, up["hash"])).to_be_visible()
    expect(cell(page, up["hash"], "name")).to_contain_text(up["name"])
    expect(cell(page, up["hash"], "name").locator(".label")).to_have_text(["linux", "iso"])
    expect(cell(page, up["hash"], "st")).to_have_text("seeding")
    step("a .torrent added through the file picker appears, labelled, and seeds")

    create = plan["create"]
    page.click("#btn-add")
    page.click('#add-tabs [data-mode="create"]')
    page.fill("#add-create", create["path"])
    page.fill("#add-save", "")
    page.fill("#add-labels", "")
    page.click("#add-submit")
    expect(page.locator("#add-dialog")).to_be_hidden()
    made = page.locator("#rows .row", has_text=create["name"])
    expect(made.locator(".cell.st")).to_have_text("seeding")
    step("a torrent created from a path on the daemon's machine appears and seeds")

    page.click("#btn-add")
    page.click('#add-tabs [data-mode="magnet"]')
    page.fill("#add-magnet", "magnet:?xt=urn:btih:" + "ab" * 19)
    page.click("#add-submit")
    expect(page.locator("#add-error")).to_contain_text("not a usable magnet link")
    page.click("#add-cancel")
    step("a magnet link that does not parse shows the API's error")

    page.click("#btn-add")
    page.click('#add-tabs [data-mode="magnet"]')
    page.fill("#add-magnet", "magnet:?xt=urn:btih:" + "ab" * 20 + "&dn=web-magnet")
    page.click("#add-submit")
    expect(page.locator("#add-dialog")).to_be_hidden()
    fetching = page.locator("#rows .row", has_text="web-magnet")
    expect(fetching.locator(".cell.st")).to_have_text("downloading")
    step("a magnet link appears at once, fetching its metadata")


def pause_and_resume(page, plan):
    h = plan["upload"]["hash"]
    row(page, h).locator(".cell.name").click()
    expect(page.locator("#detail")).to_be_visible()
    page.click("#btn-pause")
    expect(cell(page, h, "st")).to_have_text("paused")
    page.click("#btn-resume")
    expect(cell(page, h, "st")).to_have_text("seeding")
    step("pause and resume change the state shown")


def detail_pane(page, plan):
    seed = plan["seed"]
    row(page, seed["hash"]).locator(".cell.name").click()
    expect(page.locator("#detail-hash")).to_have_text(seed["hash"])
    expect(page.locator("#general")).to_contain_text("seeding")
    expect(page.locator("#pieces-legend")).to_contain_text("verified")
    deadline = time.time() + WAIT_MS / 1000
    while canvas_painted(page, "#pieces") == 0:
        assert time.time() < deadline, "the piece map stayed blank"
        time.sleep(0.1)
    step("the detail pane opens with its facts and a drawn piece map")

    page.click('#tabs [data-tab="files"]')
    expect(page.locator("#files tr").first).to_contain_text(seed["name"])
    page.click('#tabs [data-tab="trackers"]')
    expect(page.locator("#trackers tr").first).to_contain_text("127.0.0.1")
    step("the files and trackers tabs list them")

    if plan["peer"]:
        page.click('#tabs [data-tab="peers"]')
        expect(page.locator("#peers tr").first).to_contain_text("127.0.0.1", timeout=WAIT_MS)
        step("the peers tab lists the libtorrent leecher")
        deadline = time.time() + WAIT_MS / 1000
        while page.locator("#total-up").inner_text().startswith("0 B"):
            assert time.time() < deadline, "the upload rate stayed 0"
            time.sleep(0.2)
        step("the total upload rate shows the transfer: " + page.locator("#total-up").inner_text())

    page.click('#tabs [data-tab="general"]')
    partial = plan["partial"]["hash"]
    row(page, partial).locator(".cell.name").click()
    expect(page.locator("#detail-hash")).to_have_text(partial)
    deadline = time.time() + WAIT_MS / 1000
    while distinct_colours(page, "#pieces") < 2:
        assert time.time() < deadline, "the piece map of a half-present torrent is one colour"
        time.sleep(0.1)
    step("the piece map of a half-present torrent shows verified and missing pieces")


def limits(page, plan):
    h = plan["upload"]["hash"]
    row(page, h).locator(".cell.name").click()
    page.click('#tabs [data-tab="limits"]')
    page.fill("#l-up", "100")
    page.fill("#l-conn", "20")
    page.fill("#l-ratio", "2.5")
    page.fill("#l-time", "7d")
    page.click("#limits-form button[type=submit]")
    expect(page.locator(".notice").last).to_contain_text("Limits set")
    page.click('#tabs [data-tab="general"]')
    expect(page.locator("#general")).to_contain_text("↑ 100 KiB/s, 20 peers, ratio 2.5, seed 7d")
    page.click('#tabs [data-tab="limits"]')
    page.fill("#l-up", "0")
    page.click("#limits-form button[type=submit]")
    expect(page.locator(".notice.bad").last).to_contain_text("more than 0")
    step("per-torrent rate, connection and share limits are set, and a bad one is explained")

    page.click("#btn-limits")
    page.fill("#g-down", "10M")
    page.click("#global-form button[type=submit]")
    expect(page.locator("#global-dialog")).to_be_hidden()
    expect(page.locator("#total-limits")).to_contain_text("↓ 10.0 MiB/s")
    step("the global download limit is set")


def charts(page):
    expect(page.locator("#chart")).to_be_visible()
    deadline = time.time() + WAIT_MS / 1000
    while canvas_painted(page, "#chart") == 0:
        assert time.time() < deadline, "the throughput chart stayed blank"
        time.sleep(0.1)
    step("the throughput chart is drawn")


def remove(page, plan, shots):
    h = plan["upload"]["hash"]
    row(page, h).locator(".cell.name").click()
    page.click("#btn-remove")
    expect(page.locator("#remove-dialog")).to_be_visible()
    expect(page.locator("#remove-what")).to_contain_text(plan["upload"]["name"])
    expect(page.locator("#remove-data")).not_to_be_checked()
    page.screenshot(path=os.path.join(shots, "remove-dialog.png"))
    page.click("#remove-submit")
    expect(row(page, h)).to_have_count(0)
    expect(page.locator("#detail")).to_be_hidden()
    assert os.path.exists(os.path.join(plan["upload"]["save_path"], plan["upload"]["name"]))
    step("remove asks about the data, removes the torrent and keeps its data")


def many_torrents(browser, plan, shots, errors):
    """10,000 torrents (the list answered by the test): only the rows in sight exist."""
    n = 10_000
    fake = [
        {
            "info_hash": "%040x" % (i + 1),
            "name": "torrent-%05d.bin" % i,
            "state": "seeding" if i % 3 else "downloading",
            "progress": 1.0 if i % 3 else (i % 97) / 97,
            "size": (i + 1) * 1048576,
            "downloaded": 0,
            "uploaded": i * 1024,
            "download_rate": 0 if i % 3 else 1024 * (i % 50),
            "upload_rate": 0,
            "peers": i % 7,
            "seeds": 0,
            "ratio": (i % 10) / 10,
            "eta": None,
            "save_path": "/srv",
            "added_at": 1700000000 + i,
            "completed_at": None,
            "seeding_time": 0,
            "labels": ["bulk"] if i % 2 else [],
            "limits": {},
            "error": None,
        }
        for i in range(n)
    ]
    body = json.dumps(fake)
    ctx = browser.new_context(viewport={"width": 1400, "height": 860})
    page = ctx.new_page()
    watch_errors(page, errors)
    page.route(
        "**/api/v1/torrents",
        lambda route: route.fulfill(status=200, content_type="application/json", body=body),
    )
    started = time.time()
    page.goto(plan["url"])
    expect(row(page, fake[0]["info_hash"])).to_be_visible()
    shown = time.time() - started
    dom_rows = page.locator("#rows .row").count()
    assert dom_rows < 80, "%d row elements for %d torrents" % (dom_rows, n)
    page.locator("#viewport").evaluate("(v) => { v.scrollTop = v.scrollHeight; }")
    expect(row(page, fake[-1]["info_hash"])).to_be_visible()
    page.click('.th[data-key="size"]')
    page.locator("#viewport").evaluate("(v) => { v.scrollTop = 0; }")
    expect(row(page, fake[-1]["info_hash"])).to_be_visible()
    page.fill("#search", "torrent-0999")
    expect(page.locator("#rows .row:not([hidden])")).to_have_count(10)
    page.fill("#search", "")
    page.screenshot(path=os.path.join(shots, "many.png"))
    ctx.close()
    step(
        "10,000 torrents: first rows in %.1f s, %d row elements, scrolling and sorting reach the last"
        % (shown, dom_rows)
    )


def login(browser, plan, shots, errors):
    ctx = browser.new_context(viewport={"width": 1200, "height": 760})
    page = ctx.new_page()
    watch_errors(page, errors)
    page.goto(plan["login_url"])
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#app")).to_be_hidden()
    page.fill("#login-password", "not the password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text("Wrong password.")
    page.screenshot(path=os.path.join(shots, "login-wrong.png"))
    step("with a password the login form shows, and a wrong password is refused")
    page.fill("#login-password", plan["password"])
    page.click("#login-submit")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#live")).to_have_text("live")
    expect(page.locator("#btn-logout")).to_be_visible()
    page.click("#btn-logout")
    expect(page.locator("#login")).to_be_visible()
    ctx.close()
    step("the right password opens the page (events live too), and logging out ends it")


def main():
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    shots = plan["shots"]
    os.makedirs(shots, exist_ok=True)
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        # The browser logs every refused request: the 401s the login test provokes
        # and the magnet link's 400 are expected; nothing else is.
        expected = ("status of 401", "status of 400")
        for scheme in ("light", "dark"):
            ctx = browser.new_context(
                viewport={"width": 1400, "height": 860}, color_scheme=scheme
            )
            ctx.set_default_timeout(WAIT_MS)
            page = ctx.new_page()
            watch_errors(page, errors)
            if scheme == "light":
                the_list(page, plan)
                sorting_and_filters(page, plan)
                add_by_upload(page, plan)
                pause_and_resume(page, plan)
                detail_pane(page, plan)
                limits(page, plan)
                charts(page)
                row(page, plan["seed"]["hash"]).locator(".cell.name").click()
                page.click('#tabs [data-tab="general"]')
                time.sleep(2)  # a few rates events into the charts
                page.evaluate("document.querySelectorAll('.notice').forEach((n) => n.remove())")
                page.screenshot(path=os.path.join(shots, "overview-light.png"))
                remove(page, plan, shots)
            else:
                page.goto(plan["url"])
                expect(row(page, plan["seed"]["hash"])).to_be_visible()
                row(page, plan["seed"]["hash"]).locator(".cell.name").click()
                page.click('#tabs [data-tab="peers"]' if plan["peer"] else '#tabs [data-tab="files"]')
                time.sleep(1.5)
                page.screenshot(path=os.path.join(shots, "overview-dark.png"))
                step("dark scheme screenshot")
            ctx.close()
        many_torrents(browser, plan, shots, errors)
        login(browser, plan, shots, errors)
        browser.close()
    unexpected = [e for e in errors if not any(x in e for x in expected)]
    assert not unexpected, "the page logged errors:\n" + "\n".join(unexpected)
    step("no console or page errors")


if __name__ == "__main__":
    main()
