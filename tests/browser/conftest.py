"""A real server and a real browser: `caseload serve` on a free port against a demo data
directory, driven by Playwright in Debian's headless Chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CASELOAD_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    """Start `caseload serve` and wait until Streamlit answers its health check."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "CASELOAD_DATA_DIR"}
    ARTIFACTS.parent.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS.parent / f"server-{data_dir.name}.log", "w", encoding="utf-8")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "analytics.cli",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        # Its own process group: `caseload serve` runs Streamlit as a child, which must
        # be stopped with it (see stop()).
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"caseload serve exited early; see {log.name}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise RuntimeError("caseload serve did not become healthy in 90 s")


def stop(proc: subprocess.Popen) -> None:
    """Stop a server from start_server() and its Streamlit child: terminating `caseload
    serve` alone left Streamlit running, orphaned, after every session."""

    def group_alive() -> bool:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (proc.poll() is None or group_alive()):
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


_FAKETIME_VARS = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC", "DONT_FAKE_MONOTONIC")


@contextlib.contextmanager
def _real_clock_for_children():
    """CI's date-shifted run preloads libfaketime into every process to move the app
    server's clock. Playwright's driver and Chromium stop rendering under it, and the clock
    under test is the server's, so they start without it (the server still gets it)."""
    saved = {k: os.environ.pop(k) for k in _FAKETIME_VARS if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@pytest.fixture(scope="session")
def launch_chromium():
    """Start Debian's Chromium under Playwright: `launch_chromium(*extra_switches)`, for a
    test that needs switches of its own (e.g. host mapping). All close at the session's end."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's chromium package (see .ci/run)"
        )
    from playwright.sync_api import sync_playwright

    with _real_clock_for_children():
        driver = sync_playwright().start()
    launched = []

    def launch(*extra_args: str):
        with _real_clock_for_children():
            b = driver.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        launched.append(b)
        return b

    try:
        yield launch
    finally:
        for b in launched:
            if b.is_connected():
                b.close()
        driver.stop()


@pytest.fixture(scope="session")
def browser(launch_chromium):
    return launch_chromium()


@pytest.fixture(scope="session")
def demo_dir(small_demo, tmp_path_factory) -> Path:
    """A copy of the shared demo clinic that these tests may change (alerts, payloads)."""
    copy = tmp_path_factory.mktemp("browser") / "demo"
    shutil.copytree(small_demo, copy)
    return copy


PAYLOADS = {
    "script": '<script>window.__pwned = 1; alert("x")</script> I have the pills ready tonight',
    "img": '<img src=x onerror="window.__pwned=2"> i want to kill myself',
    "markdown": "**bold** [click](javascript:alert(1)) # heading I am going to end my life tonight",
}
NOTE_PAYLOAD = "<b>note</b> <script>window.__pwned=3</script> **not bold**"


@pytest.fixture(scope="session")
def payload_patient(demo_dir) -> str:
    """Plant HTML, script and markdown in messages and a note for one therapist's patient."""
    import csv

    from analytics.access.roles import Context, actor_for_clinician
    from analytics.settings import load_settings
    from analytics.views import add_note, caseload

    settings = load_settings(demo_dir)
    ctx = Context.open(settings)
    try:
        therapist = ctx.snapshot.execute(
            """SELECT clinician_id FROM clinicians WHERE role = 'therapist'
               ORDER BY clinician_id LIMIT 1"""
        ).fetchone()[0]
        actor = actor_for_clinician(ctx, therapist)
        patient_id = caseload(ctx, actor)["patient_id"][0]
        as_of = ctx.snapshot.execute("SELECT as_of FROM snapshot_meta").fetchone()[0]
        add_note(ctx, actor, patient_id, NOTE_PAYLOAD)
    finally:
        ctx.close()
    path = demo_dir.parent / "messages_payloads.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["patient_id", "sent_at", "sender", "text"])
        for i, text in enumerate(PAYLOADS.values()):
            writer.writerow([patient_id, f"{as_of}T1{i}:00:00Z", "patient", text])
    for verb in (["ingest", str(path)], ["refresh"]):
        subprocess.run(
            [sys.executable, "-m", "analytics.cli", *verb, "--data-dir", str(demo_dir)],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    return patient_id


@pytest.fixture(scope="session")
def demo_server(demo_dir, payload_patient):
    proc, url = start_server(demo_dir)
    yield url
    stop(proc)


@pytest.fixture(scope="module")
def untouched_demo_server(small_demo, tmp_path_factory):
    """`caseload serve` on a fresh copy of the demo clinic, for one module's tests."""
    copy = tmp_path_factory.mktemp("browser-untouched") / "demo-untouched"
    shutil.copytree(small_demo, copy)
    proc, url = start_server(copy)
    yield url
    stop(proc)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS
