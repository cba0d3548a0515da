"""Row 13: the app must not be framed. Streamlit cannot send the headers, so the product
ships a reverse-proxy configuration that does; this checks it says what the docs say."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "docs" / "deploy" / "nginx-caseload.conf"


def _directives(text: str) -> list[str]:
    return [
        line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()
    ]


def _tls_server_block(text: str) -> list[str]:
    lines = _directives(text)
    start = next(i for i, line in enumerate(lines) if line.startswith("listen 443"))
    return lines[start:]


@pytest.mark.attack(13)
def test_proxy_sends_both_anti_framing_headers_on_every_response():
    block = _tls_server_block(CONF.read_text())
    assert 'add_header X-Frame-Options "DENY" always;' in block
    assert "add_header Content-Security-Policy \"frame-ancestors 'none'\" always;" in block
    # An add_header inside a location would silently drop the server-level ones there.
    location = block[block.index(next(b for b in block if b.startswith("location /"))) :]
    assert not [line for line in location if line.startswith("add_header")]


@pytest.mark.attack(13)
def test_proxy_passes_the_websocket_to_a_local_streamlit():
    block = _tls_server_block(CONF.read_text())
    assert "proxy_pass http://127.0.0.1:8501;" in block
    assert "proxy_set_header Upgrade $http_upgrade;" in block
    assert "proxy_set_header Connection $connection_upgrade;" in block
    # Streamlit accepts the WebSocket when its Origin matches Host; $host would drop a
    # non-default port and every WebSocket would get a 403 (seen in tests/browser/).
    assert "proxy_set_header Host $http_host;" in block


@pytest.mark.attack(13)
def test_streamlit_itself_has_no_setting_for_frame_headers():
    """Why the proxy is needed: no Streamlit option can set these (checked in its source)."""
    import streamlit.config as config

    source = Path(config.__file__).read_text()
    assert not re.search(r"X-Frame-Options|frame-ancestors", source)
    # and `caseload serve` binds to loopback by default, so the proxy is the way in
    from analytics.launcher import command

    assert "--server.address=127.0.0.1" in command(port=8501)


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed here")
def test_nginx_accepts_the_configuration(tmp_path):
    # The shipped file names a clinic's certificate; a throwaway self-signed one stands in,
    # so `nginx -t` checks everything, certificates included.
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=caseload.test", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    text = CONF.read_text(encoding="utf-8")
    text = re.sub(r"(ssl_certificate\s+)\S+;", rf"\g<1>{cert};", text)
    text = re.sub(r"(ssl_certificate_key\s+)\S+;", rf"\g<1>{key};", text)
    conf = tmp_path / "caseload.conf"
    conf.write_text(text, encoding="utf-8")
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{ include {conf}; }}\n"
    )
    result = subprocess.run(["nginx", "-t", "-c", str(main)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
