"""Issue 15 row 13, in a real browser: a foreign site cannot show the app in an iframe.

Streamlit cannot send anti-framing headers, so the product ships an nginx configuration
(docs/deploy/nginx-caseload.conf) that does. This starts Debian's nginx, unprivileged, on
that very file — only ports, certificate paths and nginx's own pid, log and temp files
are substituted, so the test fails if the shipped file loses a header — in front of
`caseload serve` on a copy of the demo clinic. A hostile page on another site frames the
app twice: through the proxy (Chromium must refuse it) and straight from Streamlit (it
renders: the attack is real, and this test can tell a framed app from a blocked one).

Chromium resolves the shipped server_name, caseload.clinic.example, and evil.example to
127.0.0.1, so the app is reached by name as a clinic's browsers reach it, not through
Streamlit's allowance for loopback addresses. Screenshots: tests/artifacts/screenshots/
framing-*.png; nginx's logs: tests/artifacts/nginx-*.log.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "docs" / "deploy" / "nginx-caseload.conf"
ARTIFACTS = ROOT / "tests" / "artifacts"
APP_HOST = "caseload.clinic.example"  # the shipped file's server_name
HOSTILE_HOST = "evil.example"
FRAME_ANCESTORS = "frame-ancestors 'none'"

# A client of a test proxy with a throwaway certificate: no verification.
INSECURE = ssl.create_default_context()
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render(text: str, *, http_port: int, https_port: int, upstream: int, cert: Path, key: Path):
    """The shipped configuration with only this machine's differences substituted. Each
    substitution must apply exactly once: a reshaped file fails here, not silently later."""
    substitutions = [
        (r"^(\s*)listen\s+80;", rf"\g<1>listen 127.0.0.1:{http_port};"),
        (r"^(\s*)listen\s+443\b", rf"\g<1>listen 127.0.0.1:{https_port}"),
        (r"^(\s*proxy_pass\s+http://127\.0\.0\.1:)8501;", rf"\g<1>{upstream};"),
        (r"^(\s*ssl_certificate\s+)\S+;", rf"\g<1>{cert};"),
        (r"^(\s*ssl_certificate_key\s+)\S+;", rf"\g<1>{key};"),
    ]
    for pattern, replacement in substitutions:
        text, n = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert n == 1, f"{CONF.name}: expected one line matching {pattern!r}, found {n}"
    return text


def _nginx() -> str | None:
    # Debian puts it in /usr/sbin, which is not on an ordinary user's PATH.
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")


def _as_nobody_if_root(folder: Path) -> dict:
    """Popen arguments that run nginx unprivileged: as root (a container), as `nobody`,
    owning its folder; as anyone else, as that user."""
    if os.geteuid() != 0:
        return {}
    import pwd

    nobody = pwd.getpwnam("nobody")
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def fetch(url: str) -> tuple[int, dict[str, str]]:
    """Status and headers (names lower-cased) of a GET, errors included."""
    request = urllib.request.Request(url, headers={"Host": APP_HOST})
    try:
        response = urllib.request.urlopen(request, context=INSECURE, timeout=10)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}


@dataclass
class Proxy:
    url: str  # as a browser reaches it, by name
    local: str  # the same server for urllib, by address
    access_log: Path


@pytest.fixture(scope="module")
def nginx() -> str:
    """Checked before the demo clinic is built, so a machine without nginx skips at once."""
    nginx = _nginx()
    if nginx is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx, as .ci/run does)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: needed for the proxy's throwaway certificate")
    return nginx


@pytest.fixture(scope="module")
def proxy(nginx, untouched_demo_server):
    folder = Path(tempfile.mkdtemp(prefix="caseload-nginx-"))
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30"]
        + ["-subj", f"/CN={APP_HOST}", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    http_port, https_port = _free_port(), _free_port()
    upstream = int(untouched_demo_server.rsplit(":", 1)[1])
    site = folder / "caseload.conf"
    site.write_text(
        render(
            CONF.read_text(encoding="utf-8"),
            http_port=http_port,
            https_port=https_port,
            upstream=upstream,
            cert=cert,
            key=key,
        ),
        encoding="utf-8",
    )
    # What Debian's /etc/nginx/nginx.conf provides around conf.d/, pointed at this folder.
    temp_paths = "".join(
        f"    {kind}_temp_path {folder}/{kind}-temp;\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = folder / "nginx.conf"
    main.write_text(
        f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\nevents {{}}\n"
        f"http {{\n    access_log {folder}/access.log;\n{temp_paths}    include {site};\n}}\n",
        encoding="utf-8",
    )
    start = [nginx, "-p", str(folder), "-c", str(main), "-e", f"{folder}/error.log"]
    proc = subprocess.Popen(
        [*start, "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **_as_nobody_if_root(folder),
    )
    local = f"https://127.0.0.1:{https_port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"nginx exited with {proc.returncode}: {proc.stderr.read()}")
            try:
                if fetch(f"{local}/_stcore/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("nginx did not answer /_stcore/health through the proxy in 30 s")
            time.sleep(0.2)
        yield Proxy(f"https://{APP_HOST}:{https_port}/", f"{local}/", folder / "access.log")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for name in ("access.log", "error.log"):
            if (folder / name).exists():
                shutil.copyfile(folder / name, ARTIFACTS / f"nginx-{name}")
        shutil.rmtree(folder, ignore_errors=True)


HOSTILE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Claim your prize</title></head>
<body style="font-family: sans-serif; margin: 16px">
<h1>Claim your prize: click the button below</h1>
<div style="display: flex; gap: 24px">
  <figure style="margin: 0">
    <figcaption>The clinic's app through its proxy</figcaption>
    <iframe id="proxied" src="{proxied}" width="620" height="760"
            onload="window.proxiedLoaded = true"></iframe>
  </figure>
  <figure style="margin: 0">
    <figcaption>Control: the same app straight from Streamlit, no proxy</figcaption>
    <iframe id="bare" src="{bare}" width="620" height="760"></iframe>
  </figure>
</div>
</body></html>
"""


@pytest.fixture(scope="module")
def hostile_site(proxy, untouched_demo_server):
    """Another site (another host and port) whose page frames the app."""
    body = HOSTILE_PAGE.format(proxied=proxy.url, bare=f"{untouched_demo_server}/").encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the name http.server calls)
            if self.path != "/":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOSTILE_HOST}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def chromium(launch_chromium):
    b = launch_chromium(
        f"--host-resolver-rules=MAP {APP_HOST} 127.0.0.1, MAP {HOSTILE_HOST} 127.0.0.1"
    )
    yield b
    b.close()


@pytest.fixture
def context(chromium):
    # The proxy's certificate is a throwaway self-signed one.
    ctx = chromium.new_context(viewport={"width": 1400, "height": 900}, ignore_https_errors=True)
    yield ctx
    ctx.close()


def wait_for_the_app(frame, console: list[str], timeout: int = 90_000) -> None:
    """The demo clinic's first page drawn in full: the banner, the caseload heading and its
    table, which Streamlit can only draw from what arrives over its WebSocket. On a
    timeout the browser's console says why (a refused WebSocket handshake, say)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        frame.get_by_text("Demo mode").first.wait_for(timeout=timeout)
        frame.get_by_role("heading", name="My caseload").wait_for(timeout=timeout)
        frame.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=timeout)
    except PlaywrightTimeout:
        pytest.fail(f"the app did not load in {frame.url}; browser console: {console}")


def console_of(page) -> list[str]:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    return messages


def assert_anti_framing(headers: dict[str, str]) -> None:
    assert headers.get("x-frame-options") == "DENY", headers
    assert FRAME_ANCESTORS in headers.get("content-security-policy", ""), headers


@pytest.mark.attack(13)
def test_proxy_adds_anti_framing_headers_that_streamlit_alone_lacks(proxy, untouched_demo_server):
    # Streamlit on its own sends neither header: that is why anyone could frame it.
    status, bare = fetch(f"{untouched_demo_server}/")
    assert status == 200
    assert "x-frame-options" not in bare and "content-security-policy" not in bare
    # Through the proxy: on the page, on Streamlit's endpoints, on Streamlit's errors...
    seen = {}
    for path in ("", "_stcore/health", "_stcore/host-config", "media/no-such-file.png"):
        status, headers = fetch(f"{proxy.local}{path}")
        seen[path] = status
        assert_anti_framing(headers)
    assert seen[""] == 200 and seen["media/no-such-file.png"] == 404, seen
    # ...and on nginx's own (an upload over client_max_body_size, refused unread).
    host, port = proxy.local.removeprefix("https://").rstrip("/").split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=INSECURE, timeout=10)
    try:
        conn.putrequest("POST", "/", skip_host=True)
        conn.putheader("Host", APP_HOST)
        conn.putheader("Content-Length", str(100 * 2**20))
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413
        assert_anti_framing({k.lower(): v for k, v in response.getheaders()})
    finally:
        conn.close()


def test_the_app_loads_fully_through_the_proxy(context, proxy, screenshots):
    """The positive control: the proxy serves the whole app, WebSocket included."""
    page = context.new_page()
    console = console_of(page)
    received: dict[str, list] = {}

    def watch(ws) -> None:
        frames = received.setdefault(ws.url, [])
        ws.on("framereceived", lambda payload: frames.append(payload))

    page.on("websocket", watch)
    response = page.goto(proxy.url)
    assert response.status == 200
    assert_anti_framing(response.headers)
    wait_for_the_app(page, console)
    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshots / "framing-direct-through-proxy.png"), full_page=True)
    stream = proxy.url.replace("https://", "wss://") + "_stcore/stream"
    assert list(received) == [stream], received
    assert received[stream], "no message arrived over the WebSocket"
    # nginx switched protocols for it (it logs the request once the socket closes).
    page.close()
    upgraded = '"GET /_stcore/stream HTTP/1.1" 101 '
    deadline = time.monotonic() + 15
    while upgraded not in proxy.access_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert upgraded in proxy.access_log.read_text()


@pytest.mark.attack(13)
def test_a_foreign_site_cannot_frame_the_app_through_the_proxy(
    context, proxy, hostile_site, untouched_demo_server, screenshots
):
    # Unframed, the proxied URL shows the app (so a blocked frame below means something).
    direct = context.new_page()
    direct_console = console_of(direct)
    direct.goto(proxy.url)
    wait_for_the_app(direct, direct_console)
    direct.close()

    page = context.new_page()
    console = console_of(page)
    framed_responses = []
    page.on("response", lambda r: framed_responses.append(r) if r.url == proxy.url else None)
    page.goto(hostile_site)
    page.wait_for_function("() => window.proxiedLoaded === true", timeout=60_000)

    # Control: the app straight from Streamlit renders inside the foreign page. The attack
    # works without the proxy, and this test sees a framed app when there is one.
    bare = page.locator("#bare").element_handle().content_frame()
    wait_for_the_app(bare, console)
    assert bare.url == f"{untouched_demo_server}/"

    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshots / "framing-hostile-site.png"), full_page=True)

    # Through the proxy: nginx answered (this is no connection failure)...
    assert [r.status for r in framed_responses] == [200]
    # ...and Chromium refused to show the answer inside the foreign page...
    proxied = page.locator("#proxied").element_handle().content_frame()
    shown = proxied.locator('#root, [data-testid="stApp"]').count()
    assert shown == 0, "the app rendered inside a foreign page's iframe"
    assert proxied.url.startswith("chrome-error://"), proxied.url
    assert "Demo mode" not in proxied.locator("body").inner_text()
    # ...because of the proxy's headers, as Chromium says.
    assert any(FRAME_ANCESTORS in text and proxy.url in text for text in console), console
    assert_anti_framing(framed_responses[0].headers)
