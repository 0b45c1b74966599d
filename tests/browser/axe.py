"""axe-core, served by us (static/vendor), run in the page under test."""

from playwright.sync_api import Error as PlaywrightError

# Moderate ones too: a density map's two landmarks of one name (moderate) were the one
# violation an outside check found in 89 states, and ours let it by.
SERIOUS = ("moderate", "serious", "critical")


def axe_violations(page) -> list[str]:
    """Moderate, serious and critical accessibility violations axe-core finds on the page.
    Asked just after a click that opens another page, the page may be between its two
    documents, with no <head> to add the script to (CI: "Cannot read properties of
    null (reading 'appendChild')"): the next document is waited for."""
    for attempt in range(3):
        page.wait_for_load_state("load")
        try:
            page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
            break
        except PlaywrightError:
            if attempt == 2:
                raise
            page.wait_for_timeout(250)
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({id: v.id, impact: v.impact,
                nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}));
        }"""
    )
    return [f"{v['id']} ({v['impact']}): {v['nodes']}" for v in found if v["impact"] in SERIOUS]
