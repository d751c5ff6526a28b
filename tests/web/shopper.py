"""A shopper at the chat page in Debian's Chromium (Playwright's sync API), run as its own process
by tests/web/test_chat_page_in_a_browser.py: ``python shopper.py BASE_URL PHOTO``.

Opens ``BASE_URL/?chatbot=kaffebar``, waits for the photo button (the chatbot takes images),
attaches PHOTO, asks about it, waits for the answer, then sends a message written as HTML.
Prints what the page shows as JSON on stdout. Never downloads a browser: it launches
/usr/bin/chromium.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ANSWER = "That is our espresso cup, sold in sets of four."
XSS = '<img src=x onerror="window.pwned = 1"><b>bold?</b>'


def main(base_url: str, photo: Path) -> dict[str, object]:
    """Do what a shopper does; return the chat log's texts and what ran."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{base_url}/?chatbot=kaffebar")
            page.wait_for_selector("#attach:not([hidden])", timeout=15_000)
            page.set_input_files("#photo", str(photo))
            page.fill("#text", "Which cup is this?")
            page.click("#send")
            page.wait_for_selector(f".msg.assistant:has-text('{ANSWER}')", timeout=30_000)
            page.wait_for_selector("#send:not([disabled])", timeout=15_000)
            page.fill("#text", XSS)
            page.click("#send")
            page.wait_for_selector(".msg.assistant >> nth=1", timeout=30_000)
            page.wait_for_selector("#send:not([disabled])", timeout=15_000)
            return {
                "messages": page.locator(".msg").all_inner_texts(),
                "notes": page.locator(".image-note").all_inner_texts(),
                "preview": page.locator(".msg.user img").count(),
                "pwned": page.evaluate("window.pwned === undefined ? null : window.pwned"),
                "injected_images": page.locator(".msg.user img[src='x']").count(),
            }
        finally:
            browser.close()


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], Path(sys.argv[2]))))
