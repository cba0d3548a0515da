"""Every page for every role in a real browser, a patient opened from the caseload, an
alert acknowledged; no page may show a Streamlit exception. Screenshots of every page go
to tests/artifacts/screenshots/ for people to look at."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser


RUNNING = (
    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
    " && !document.querySelector('[data-testid=\"stSpinner\"]')"
)


def settle(page, *, timeout: int = 60_000) -> None:
    """Wait until Streamlit has finished running the script for this page: no running
    indicator and no spinner on two looks 400 ms apart."""
    # Something drawn in the main area first: before the session's first run starts there is
    # no running indicator either, and a busy server can take seconds to begin.
    page.wait_for_selector(
        '[data-testid="stMainBlockContainer"] [data-testid="stElementContainer"]',
        timeout=timeout,
    )
    for _ in range(2):
        page.wait_for_timeout(400)
        page.wait_for_function(RUNNING, timeout=timeout)
    page.wait_for_timeout(300)


def assert_clean(page) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()
    assert "Traceback" not in page.inner_text("body")


def shoot(page, screenshots, name: str) -> None:
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


def view_as(page, label_start: str) -> None:
    """Pick an identity in the demo "Viewing as" box by the start of its label."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
    box.click()
    page.get_by_role("option").filter(has_text=label_start).first.click()
    settle(page)


def go(page, title: str) -> None:
    nav = page.locator('[data-testid="stSidebarNav"]')
    if nav.count():  # a role with a single page has no navigation to click
        nav.get_by_text(title, exact=True).click()
        settle(page)


@pytest.fixture
def page(browser, demo_server):
    context = browser.new_context(viewport={"width": 1400, "height": 2200})
    pg = context.new_page()
    pg.goto(demo_server)
    settle(pg)
    yield pg
    context.close()


def test_therapist_pages_open_patient_and_acknowledge(page, screenshots):
    # On a loaded machine the first script run can outlast settle(): wait for the banner.
    page.get_by_text("Demo mode").first.wait_for(timeout=60_000)
    view_as(page, "")  # the first identity listed is a therapist
    assert page.get_by_role("heading", name="My caseload").count() == 1
    assert_clean(page)
    shoot(page, screenshots, "therapist-caseload")
    first_flag = page.locator('[data-testid="stDataFrame"]')
    box = first_flag.bounding_box()
    # Click the first row's selection cell (header row is about 36 px high).
    page.mouse.click(box["x"] + 14, box["y"] + 36 + 18)
    settle(page)
    assert "patient=" in page.url
    assert page.get_by_role("heading", name="Safety").count() == 1
    assert_clean(page)
    shoot(page, screenshots, "therapist-patient")

    go(page, "Alerts")
    assert_clean(page)
    shoot(page, screenshots, "therapist-alerts")
    # Alerts are compact rows that expand; the most urgent is first.
    first = page.locator('[data-testid="stExpander"]').first
    # The summary's text starts with the icon's ligature name; the label is the last line.
    label = first.locator("summary").inner_text().strip().splitlines()[-1]
    identity = " · ".join(label.split(" · ")[:3])  # level, patient, kind: not the status
    first.locator("summary").click()
    settle(page)
    first.get_by_role("button", name="Resolve").click()
    settle(page)
    assert page.get_by_text("Resolving an alert needs a note").count() == 1
    first.locator("input[type=text]").fill("Rang the patient; safety plan reviewed")
    first.get_by_role("button", name="Acknowledge").click()
    settle(page)
    assert_clean(page)

    # After a reload (a new session) the action is still there with who, when and the note.
    page.reload()
    settle(page)
    view_as(page, "")
    go(page, "Alerts")
    card = page.locator('[data-testid="stExpander"]').filter(has_text=identity).first
    assert "acknowledged" in card.locator("summary").inner_text()
    card.locator("summary").click()
    settle(page)
    history = card.inner_text()
    assert "Rang the patient; safety plan reviewed" in history
    assert "Acknowledged by " in history
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} [A-Z]{2,5} · Acknowledged by", history)
    assert_clean(page)
    shoot(page, screenshots, "therapist-alerts-history")

    # The patient's safety panel shows the same alert with its history, and can act on it.
    card.get_by_role("button", name="Open patient").click()
    settle(page)
    panel = page.locator('[data-testid="stExpander"]').filter(has_text="acknowledged").first
    panel.locator("summary").click()
    settle(page)
    assert "Rang the patient; safety plan reviewed" in panel.inner_text()
    assert panel.get_by_role("button", name="Resolve").count() == 1
    assert_clean(page)
    shoot(page, screenshots, "therapist-patient-safety")


@pytest.mark.parametrize(
    ("who", "pages"),
    [("manager", ["Clinic"]), ("researcher", ["Models", "Fairness"]), ("admin", ["Data"])],
)
def test_other_roles_pages(page, screenshots, who, pages):
    view_as(page, "")  # start somewhere, then switch identity
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
    box.click()
    page.get_by_role("option").filter(has_text=f"({who},").first.click()
    settle(page)
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav_text = nav.inner_text() if nav.count() else ""
    assert "Caseload" not in nav_text and "Patient" not in nav_text
    for title in pages:
        go(page, title)
        assert_clean(page)
        body = page.inner_text("body")
        if who in ("manager", "researcher"):
            # no patient names on aggregate pages: none of the demo therapists' patient names
            assert "Patient P0" not in body
        shoot(page, screenshots, f"{who}-{title.lower()}")


SCRIPT_TEXT = '<script>window.__pwned = 1; alert("x")</script>'
NOTE_TEXT = "<b>note</b> <script>window.__pwned=3</script> **not bold**"


def test_payloads_in_messages_and_notes_render_as_inert_text(
    page, demo_server, payload_patient, screenshots
):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    view_as(page, "")
    page.goto(f"{demo_server}/patient?patient={payload_patient}")
    settle(page)
    view_as(page, "")
    assert_clean(page)
    body = page.inner_text("body")
    # The payloads appear literally, as text...
    assert SCRIPT_TEXT in body
    assert '<img src=x onerror="window.__pwned=2">' in body
    assert "**bold** [click](javascript:alert(1))" in body
    assert NOTE_TEXT in body
    # ...and none of them did anything.
    assert page.evaluate("() => window.__pwned === undefined")
    assert dialogs == []
    main = page.locator('[data-testid="stMain"]')
    assert main.locator("img[src='x']").count() == 0
    assert main.locator("a[href^='javascript']").count() == 0
    assert main.locator("strong", has_text="not bold").count() == 0
    shoot(page, screenshots, "therapist-patient-payloads")


HOSTILE_NAME = "**Bold** [link](http://evil.example/) ![img](http://evil.example/x.png)"
HOSTILE_SITE = "_north_ ![s](http://evil.example/s.png)"


@pytest.mark.attack(6)
def test_markdown_in_a_name_and_site_renders_as_typed(
    page, demo_server, demo_dir, payload_patient, screenshots
):
    """Issue 15 row 6: a display name and site full of Markdown show as the characters
    typed: no link, no bold, no image fetched from another host."""
    import csv
    import subprocess
    import sys

    import duckdb

    from analytics.data.store import DataDir, current_snapshot

    con = duckdb.connect(str(current_snapshot(DataDir(demo_dir)).path), read_only=True)
    try:
        clinician, enrolled = con.execute(
            "SELECT clinician_id, enrolled_on FROM patient_summary WHERE patient_id = ?",
            [payload_patient],
        ).fetchone()
    finally:
        con.close()
    path = demo_dir.parent / "patients_hostile.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["patient_id", "clinician_id", "enrolled_on", "display_name", "site_id"])
        writer.writerow([payload_patient, clinician, enrolled, HOSTILE_NAME, HOSTILE_SITE])
    for verb in (["ingest", str(path)], ["refresh"]):
        subprocess.run(
            [sys.executable, "-m", "analytics.cli", *verb, "--data-dir", str(demo_dir)],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    fetched = []
    page.on("request", lambda r: fetched.append(r.url) if "evil.example" in r.url else None)
    # The demo picker's default identity is the first therapist, whose patient this is
    # (payload_patient); picking it again is not needed.
    page.goto(f"{demo_server}/patient?patient={payload_patient}")
    settle(page)
    assert_clean(page)
    body = page.inner_text("body")
    assert HOSTILE_NAME in body and HOSTILE_SITE in body
    main = page.locator('[data-testid="stMain"]')
    assert main.locator("a[href*='evil.example']").count() == 0
    assert main.locator("img[src*='evil.example']").count() == 0
    assert main.locator("strong", has_text="Bold").count() == 0
    assert main.locator("em", has_text="north").count() == 0
    assert fetched == []
    shoot(page, screenshots, "therapist-patient-hostile-name")
