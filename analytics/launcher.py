"""`caseload serve`: run the Streamlit app with the repository's settings applied.

Streamlit reads configuration only from `.streamlit/config.toml`, so the settings in
`streamlit_config.toml` are passed on as command-line flags, which take precedence. The
app runs in its own process; this module only finds it and never imports it, keeping the
dependency one way (dashboard -> analytics).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

__all__ = ["CONFIG", "DEMO_MARKER", "DEMO_TEXT", "app_path", "command", "is_demo_dir", "serve"]

CONFIG = Path(__file__).resolve().parents[1] / "streamlit_config.toml"

# A data directory built by `caseload demo` holds only synthetic data. Demo writes this
# marker before anything else and refuses a directory that holds data without it, so a
# real clinic's directory can never become a demo. Only there, and only when no sign-in
# is configured, does the app offer the demo identity picker.
DEMO_MARKER = "DEMO"
DEMO_TEXT = "synthetic demo clinic, built by caseload demo\n"


def is_demo_dir(path: Path) -> bool:
    """Whether ``caseload demo`` built this directory (its marker, exactly)."""
    marker = Path(path) / DEMO_MARKER
    try:
        return not marker.is_symlink() and marker.read_text(encoding="utf-8") == DEMO_TEXT
    except (OSError, UnicodeDecodeError):
        return False


def app_path() -> Path:
    """The dashboard's entry script, located without importing the package."""
    spec = importlib.util.find_spec("dashboard")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the dashboard package is not installed; reinstall caseload-insight")
    return Path(next(iter(spec.submodule_search_locations))) / "app.py"


def config_flags(path: Path = CONFIG) -> list[str]:
    """``--section.key=value`` flags for every setting in a Streamlit TOML file."""
    if not path.is_file():
        return []
    with path.open("rb") as fh:
        config = tomllib.load(fh)
    flags = []
    for section, values in config.items():
        for key, value in values.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            flags.append(f"--{section}.{key}={text}")
    return flags


def command(*, port: int, address: str = "127.0.0.1") -> list[str]:
    """The streamlit command line `caseload serve` runs."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path()),
        *config_flags(),
        f"--server.port={port}",
        f"--server.address={address}",
    ]


def serve(*, data_dir: Path, port: int, address: str = "127.0.0.1", demo: bool = False) -> int:
    """Run the app in the foreground until interrupted; returns its exit status."""
    env = {**os.environ, "CASELOAD_DATA_DIR": str(data_dir)}
    if demo and is_demo_dir(data_dir):
        env["CASELOAD_DEMO"] = "1"
    else:
        env.pop("CASELOAD_DEMO", None)
    print(f"Caseload Insight is at http://{address}:{port}  (Ctrl+C to stop)", flush=True)
    try:
        # The app's files (workspace, audit anchor) are created owner-only too.
        return subprocess.call(
            command(port=port, address=address), env=env, preexec_fn=lambda: os.umask(0o077)
        )
    except KeyboardInterrupt:
        return 0
