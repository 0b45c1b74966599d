"""Every page at the narrowest screen the reflow rule asks for (320 CSS pixels), text
doubled, in English and in Welsh: nothing scrolls sideways but a table or a map in a
box of its own. The sent report and the time line did (an outside check), each page
found one at a time; this walks them all."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from app.services.alerts import submit_alert
from tests.browser_fixtures import _new_page, sideways, sign_in_officer

pytestmark = pytest.mark.browser

AREA = [{"kind": "circle", "center": [-2.588230, 51.451967], "radius_m": 800}]


def pages_without_arguments(app) -> list[str]:
    """The GET pages an administrator may open that take no part of their address:
    pages, not files (downloads, feeds, what the pages fetch)."""
    found = set()
    for rule in app.url_map.iter_rules():
        path = rule.rule
        if rule.arguments or "GET" not in rule.methods or path.startswith("/static"):
            continue
        if "." in path.rsplit("/", 1)[-1] or "sign-out" in path:
            continue  # a download, a feed, a file the pages fetch
        found.add(path)
    return sorted(found)


def past_the_edge(page) -> list[str]:
    """The elements reaching past the screen's right edge that no box of their own
    scrolls or clips: what to mend."""
    return page.evaluate(
        """() => {
          const edge = Math.min(window.innerWidth, screen.width);
          const boxed = e => {
            for (let p = e.parentElement; p; p = p.parentElement) {
              if (getComputedStyle(p).overflowX !== "visible") return true;
            }
            return false;
          };
          return [...document.querySelectorAll("body *")]
            .filter(e => e.getBoundingClientRect().right > edge + 1 && !boxed(e))
            .slice(0, 3)
            .map(e => `${e.tagName}#${e.id}.${e.className} ${e.textContent.trim().slice(0, 30)}`);
        }"""
    )


def test_every_page_fits_320_pixels_at_twice_the_text_size(
    app, browser, request, live_server, make_officer, make_resident
):
    # A group of one long word, as "Neighbourhood Watch" is at 200% (its fieldset did
    # not shrink below it: an outside check).
    make_resident(sms="+447700901203", groups=("neighbourhoodwatch",))
    admin = make_officer(role="admin")
    alert = submit_alert(admin, shapes=AREA, title="Road closed", body="The A38 is shut.").alert
    # And the pages of one alert, whose addresses name it.
    paths = pages_without_arguments(app) + [
        f"/officers/alerts/{alert.id}",
        f"/alerts/{alert.reference}",
    ]
    wide = {}
    # Signed out (the public pages, and sign-in where a staff page sends one), then as
    # an administrator: each page once in each language, where it lands.
    for signed_in in (False, True):
        context, page = _new_page(
            browser, request, live_server, viewport={"width": 320, "height": 640}, has_touch=True
        )
        try:
            if signed_in:
                sign_in_officer(app, page, admin)
            seen = set()
            for path in paths:
                for language in ("en", "cy"):
                    answer = page.goto(f"{path}?lang={language}")
                    if answer is None or "text/html" not in answer.headers.get("content-type", ""):
                        continue
                    landed = urlsplit(page.url).path
                    if (landed, language) in seen:
                        continue
                    seen.add((landed, language))
                    page.add_style_tag(content="html { font-size: 200% !important }")
                    page.wait_for_timeout(100)
                    if sideways(page) > 0:
                        wide[f"{landed} {language} {signed_in=}"] = past_the_edge(page)
            expect(page.locator("body")).to_be_visible()
        finally:
            context.close()
    assert wide == {}, "\n".join(f"{k}: {v}" for k, v in wide.items())
