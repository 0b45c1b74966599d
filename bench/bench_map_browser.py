"""The officer's map on a phone, over 1,000,000 synthetic residents (bench_targeting.py
seeds them): from changing the radius, or finishing a drawn shape, to the new count on
screen — p50 and p95 — in Chromium at 390x844 with touch, against the app under
gunicorn as `make run` serves it. Target: p95 under 400 ms at 5 km, the page's own
debounce included. The debounce (the page waits that long after the last change
before it asks) is reported on its own, and so is the server's time.

    .venv/bin/python bench/bench_map_browser.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_dispatch import officer_id  # noqa: E402
from bench.common import bench_app, figures, web_app, web_env  # noqa: E402

# Central London, where the synthetic residents are densest.
POSTCODE = "EC1A 1BB"
PASSWORD = "bench-password"  # noqa: S105 (bench_dispatch's officer)


# In the page: time from a change to the count on screen, and to the request leaving.
WATCH = """() => {
    window.caBench = {changed: [], asked: []};
    new MutationObserver(() => window.caBench.changed.push(performance.now()))
        .observe(document.getElementById('reach-residents'),
                 {childList: true, characterData: true, subtree: true});
    new PerformanceObserver(list => list.getEntries().forEach(e => {
        if (e.name.endsWith('/officers/preview')) {
            window.caBench.asked.push([e.startTime, e.responseEnd]);
        }
    })).observe({type: 'resource', buffered: false});
}"""

CHANGE_RADIUS = """(stop) => {
    const radius = document.getElementById('radius');
    window.caBench.changed = []; window.caBench.asked = [];
    const started = performance.now();
    radius.value = stop;
    radius.dispatchEvent(new Event('input', {bubbles: true}));
    return started;
}"""

FINISH = """() => {
    window.caBench.changed = []; window.caBench.asked = [];
    const started = performance.now();
    document.getElementById('draw-finish').click();
    return started;
}"""


def wait_for_count(page, started: float) -> tuple[float, float, float]:
    """(change to count on screen, change to request sent, server time) in ms."""
    page.wait_for_function(
        "() => window.caBench.changed.length && window.caBench.asked.length", timeout=30_000
    )
    changed, asked = page.evaluate("[window.caBench.changed, window.caBench.asked]")
    sent, answered = asked[-1]
    return changed[-1] - started, sent - started, answered - sent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    app = bench_app()
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        residents = db.session.scalar(text("SELECT count(*) FROM residents"))
        if residents < 500_000:
            sys.exit("Seed the residents first: .venv/bin/python bench/bench_targeting.py")
        email = db.session.get(
            __import__("app.models", fromlist=["Officer"]).Officer, officer_id(db, text)
        ).email
    env = web_env(app)
    with web_app(env, "/tmp/bench-map-web.log") as base:  # noqa: S108
        _measure(base, email, args.rounds)


def _measure(base: str, email: str, rounds: int) -> None:
    from playwright.sync_api import sync_playwright

    from tests.browser_fixtures import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        context = browser.new_context(
            base_url=base,
            viewport={"width": 390, "height": 844},
            has_touch=True,
            is_mobile=True,
            device_scale_factor=2,
        )
        page = context.new_page()
        page.goto("/sign-in")
        page.get_by_label("E-mail address").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/officers/")
        page.get_by_label("Postcode to centre a circle on").fill(POSTCODE)
        page.get_by_role("button", name="Find").click()
        page.wait_for_function(
            "() => !document.getElementById('reach-updating').hidden", timeout=10_000
        )
        page.wait_for_function(
            "() => document.getElementById('reach-updating').hidden", timeout=60_000
        )
        debounce = page.evaluate("() => CA.previewDebounceMs")
        page.evaluate(WATCH)
        radius = {"total": [], "sent": [], "server": []}
        for n in range(rounds):
            # The slider's stops (static/js/target.js): 5 km and 4 km by turns.
            started = page.evaluate(CHANGE_RADIUS, 18 if n % 2 else 17)
            total, sent, server = wait_for_count(page, started)
            for key, value in zip(radius, (total, sent, server), strict=True):
                radius[key].append(value)
        residents = page.locator("#reach-residents").text_content()
        print(f"around {POSTCODE}, 4.9 / 5 km: {residents} residents")
        print(figures("radius change -> count on screen", radius["total"]))
        print(figures("  of which the page's debounce (waits, then asks)", radius["sent"]))
        print(figures("  of which the server's answer", radius["server"]))
        print(f"  (the debounce is set to {debounce} ms in static/js/target.js)")

        # A drawn shape: four taps, then "Finish shape".
        page.get_by_role("button", name="Clear").click()
        finish = {"total": [], "sent": [], "server": []}
        for _ in range(max(5, rounds // 4)):
            page.get_by_role("button", name="Clear").click()
            page.get_by_role("button", name="Draw area").click()
            # Drawing scrolls the map into view: find it where it is now.
            box = page.locator("#map").bounding_box()
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            for dx, dy in ((-60, -60), (60, -60), (60, 60), (-60, 60)):
                page.touchscreen.tap(cx + dx, cy + dy)
                page.wait_for_timeout(350)
            started = page.evaluate(FINISH)
            total, sent, server = wait_for_count(page, started)
            for key, value in zip(finish, (total, sent, server), strict=True):
                finish[key].append(value)
        print(figures("finish a drawn shape -> count on screen", finish["total"]))
        print(figures("  of which the server's answer", finish["server"]))
        browser.close()


if __name__ == "__main__":
    main()
