"""axe-core, served by us (static/vendor), run in the page under test."""

SERIOUS = ("serious", "critical")


def axe_violations(page) -> list[str]:
    """Serious and critical accessibility violations axe-core finds on the page."""
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({id: v.id, impact: v.impact,
                nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}));
        }"""
    )
    return [f"{v['id']} ({v['impact']}): {v['nodes']}" for v in found if v["impact"] in SERIOUS]
