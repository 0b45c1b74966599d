"""An administrator on a phone (390x844) checks a subscriber list, reads the rejected
rows (reasons for staff, contact details masked) and downloads them, then reads the
audit log, filters it and downloads it; on a desktop (1440x900) the same log reads as
a table. axe-core on every page, and nothing scrolls sideways."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import AuditEvent
from tests.browser.axe import axe_violations
from tests.browser.test_phone_fit import small_targets
from tests.browser_fixtures import _new_page, sideways, sign_in_officer, staff_menu

pytestmark = pytest.mark.browser

LIST = """name,postcode,mobile,email
Ann,BS1 6AD,07700 900101,ann@example.invalid
Bob,BA12 9AA,07700 900102,
"=HYPERLINK(""http://evil.example"",""x"")",BS1 6AD,07700 900103 ext 5,
"""


def downloaded(page, link_name: str, tmp_path) -> tuple[str, list[list[str]]]:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name).click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    text = path.read_bytes().decode("utf-8-sig")
    return info.value.suggested_filename, list(csv.reader(io.StringIO(text)))


def resident_event():
    db.session.add(
        AuditEvent(
            action="resident.registered",
            at=datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
            subject_type="resident",
            subject_id="R-77",
            ip_address="198.51.100.7",
            details={"recipient": "+447700900999", "note": "from sam@example.invalid"},
        )
    )
    db.session.commit()


def test_an_admin_imports_and_reads_the_audit_log_on_a_phone(
    app, page, make_officer, worker_process, tmp_path
):
    resident_event()
    sign_in_officer(app, page, make_officer(role="admin", email="audit.admin@police.example"))

    # Import is in the admin menu.
    staff_menu(page)
    page.get_by_role("link", name="Import", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Import residents from another system"
    )
    assert axe_violations(page) == []
    page.get_by_label("CSV file").set_input_files(
        {"name": "legacy.csv", "mimeType": "text/csv", "buffer": LIST.encode()}
    )
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator("#import-status")).to_have_text("checked", timeout=30_000)
    expect(page.locator("#rejected")).to_have_text("2")
    table = page.locator(".rejected-table")
    expect(table).to_contain_text("postcode outside the force area: Wiltshire")
    expect(table).to_contain_text("mobile has an extension, which automated messages cannot dial")
    expect(table).to_contain_text("0770••••102")
    expect(table).not_to_contain_text("900102")
    assert sideways(page) <= 0
    assert small_targets(page) == []
    assert axe_violations(page) == []
    name, rows = downloaded(page, "Download the rejected rows (CSV)", tmp_path)
    assert name == "rejected-rows-legacy.csv"
    assert rows[0][:2] == ["Row", "Why"]
    assert rows[2][2] == '\'=HYPERLINK("http://evil.example","x")'

    # The audit log: the upload and the download are in it, newest first.
    staff_menu(page)
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    expect(page.locator(".audit-table tbody tr").first).to_contain_text(
        "residents.import_rejected_downloaded"
    )
    assert sideways(page) <= 0
    assert axe_violations(page) == []

    page.get_by_label("Event", exact=True).select_option(label="Resident registered")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"event=resident.registered"))
    expect(page.locator("#audit-count")).to_contain_text("1 event")
    row = page.locator(".audit-table tbody tr")
    expect(row).to_contain_text("+447••••••999")
    expect(row).to_contain_text("s•••@e•••.invalid")
    expect(row).not_to_contain_text("900999")
    expect(row).not_to_contain_text("198.51.100.7")
    assert sideways(page) <= 0
    assert small_targets(page) == []
    assert axe_violations(page) == []
    name, rows = downloaded(page, "Download as CSV", tmp_path)
    assert name.startswith("audit-log-") and len(rows) == 2
    assert "900999" not in str(rows) and "+447••••••999" in rows[1][5]

    # A filter that cannot be used says why, and the page still passes axe.
    page.get_by_label("From (UK date)").fill("2026-11-30")
    page.get_by_label("To (UK date, included)").fill("2026-11-01")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert")).to_contain_text("The “from” date is after the “to” date")
    assert axe_violations(page) == []
    assert page.console_errors == []


def test_the_audit_log_on_a_desktop(app, browser, request, live_server, make_officer):
    resident_event()
    context, page = _new_page(
        browser, request, live_server, viewport={"width": 1440, "height": 900}
    )
    try:
        sign_in_officer(app, page, make_officer(role="admin", email="audit.desk@police.example"))
        page.goto("/admin/audit")
        header = page.locator(".audit-table thead")
        expect(header).to_be_visible()  # a real table on a wide screen, not stacked
        expect(page.locator(".audit-table tbody tr")).not_to_have_count(0)
        width = page.locator(".audit-table").bounding_box()["width"]
        assert width > 900  # the page uses the screen
        assert sideways(page) <= 0
        assert axe_violations(page) == []
        assert page.console_errors == []
    finally:
        context.close()
