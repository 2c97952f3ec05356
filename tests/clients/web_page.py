"""The upload page in headless Chromium (Debian's, driven by Playwright with no browser download), for tests/web.rs.

    web_page.py drop   URL KEY FILE...  types the key, drops the files, waits for the batch to complete and one
                                        thumbnail per processed file; prints {"status", "thumbs", "failed"}
    web_page.py resume URL KEY FILE     starts uploading FILE, reloads the page mid-upload, adds FILE again and waits
                                        for it to finish; prints the tus requests seen before and after the reload
"""
import json
import sys
import time

from playwright.sync_api import sync_playwright


def open_page(p, url, key):
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
    page = browser.new_page()
    page.goto(url + "/")
    page.fill("#key", key)
    page.click("#key-form button")
    return browser, page


def add(page, files):
    page.locator("input.uppy-Dashboard-input").first.set_input_files(files)


def drop(url, key, files):
    with sync_playwright() as p:
        browser, page = open_page(p, url, key)
        add(page, files)
        page.wait_for_selector(".batch[data-status=completed]", timeout=120_000)
        processed = page.locator(".item.processed").count()
        deadline = time.time() + 30
        while page.locator("img.thumb[data-loaded=true]").count() < processed and time.time() < deadline:
            page.wait_for_timeout(200)
        print(json.dumps({
            "status": page.locator(".batch").first.get_attribute("data-status"),
            "thumbs": page.locator("img.thumb[data-loaded=true]").count(),
            "failed": [t.strip() for t in page.locator(".item.failed figcaption").all_inner_texts()],
        }))
        browser.close()


# Playwright's sync API delivers events (the request log below) only while one of its calls runs: waits are
# page.wait_for_timeout, never time.sleep.
def resume(url, key, path):
    seen = {"before": [], "after": []}
    phase = ["before"]
    with sync_playwright() as p:
        browser, page = open_page(p, url, key)
        page.on("request", lambda r: "/v1/uploads" in r.url and seen[phase[0]].append(
            {"method": r.method, "offset": r.headers.get("upload-offset")}))
        add(page, [path])
        # Mid-upload: the first PATCH has been under way for a while (the server is slowed to 2 MiB/s).
        deadline = time.time() + 30
        while not any(r["method"] == "PATCH" for r in seen["before"]):
            if time.time() > deadline:
                sys.exit("no PATCH before the reload: " + json.dumps(seen) + " " + page.inner_text("body")[:2000])
            page.wait_for_timeout(100)
        page.wait_for_timeout(2000)
        phase[0] = "after"
        page.reload()
        add(page, [path])
        deadline = time.time() + 120
        done = False
        while not done and time.time() < deadline:
            done = page.locator(".batch[data-status=completed]").count() > 0
            page.wait_for_timeout(200)
        seen["completed"] = done
        print(json.dumps(seen))
        browser.close()


mode, url, key = sys.argv[1:4]
if mode == "drop":
    drop(url, key, sys.argv[4:])
elif mode == "resume":
    resume(url, key, sys.argv[4])
else:
    sys.exit("unknown mode " + mode)
