import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_analyst_sees_density_cells_never_homes(page, sign_in_page, make_resident):
    for n in range(6):
        make_resident(postcode="BS1 6AD", sms=f"+44770090020{n}")
    make_resident(postcode="TA1 1AA")
    sign_in_page("analyst")
    expect(page).to_have_url(re.compile(r"/analysts/density$"))
    summary = page.locator("#density-summary")
    expect(summary).to_have_text("1 cells showing 6 residents; 1 cells with fewer than 5 hidden.")
    expect(page.locator("#attribution")).to_contain_text(
        "Contains OS data © Crown copyright and database right 2025"
    )
    expect(page.locator(".leaflet-marker-icon")).to_have_count(0)
    assert page.console_errors == []
