"""The notebook servers the host tests open in Chromium (JupyterLab, Notebook 7, marimo): each
started on a free port of 127.0.0.1 with its settings in a temporary folder, waited for with a
deadline (a server that does not answer fails the test, it never hangs it), and stopped after.

The kernel imports cards.py and tiny.py as pytest does (pyproject.toml's ``pythonpath``).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(root: Path) -> dict[str, str]:
    """The environment of a server under ``root``: Jupyter's and IPython's settings there, and
    the tests' helper folders on the kernel's path."""
    return {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / "ws"),
        "IPYTHONDIR": str(root / "ipython"),
        "XDG_CONFIG_HOME": str(root / "xdg-config"),  # marimo's settings
        "XDG_STATE_HOME": str(root / "xdg-state"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), str(TESTS / "browser"), os.environ.get("PYTHONPATH")])),
    }


@contextmanager
def serving(cmd: Sequence[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[None]:
    """Runs ``cmd`` until the block ends, once ``ready_url`` answers 200 (within START_TIMEOUT_S;
    else the server's log is the error)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(list(cmd), env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"{cmd[2]} did not start:\n" + log.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        try:
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def write_jupyter_settings(root: Path) -> None:
    """No news, no update checks: the page asks nothing of the network."""
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "config" / "jupyter_server_config.json").write_text(json.dumps({"LabApp": {"news_url": None}}))
    notif = root / "settings" / "@jupyterlab" / "apputils-extension"
    notif.mkdir(parents=True, exist_ok=True)
    (notif / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))


# The current notebook's kernel is connected and idle (JupyterLab and Notebook 7 expose the app).
KERNEL_IDLE = """() => {
  const k = window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel;
  return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}"""


def write_notebook(path: Path, cells: Sequence[str]) -> None:
    """A Python 3 notebook of code ``cells`` at ``path`` (its folder made)."""
    import nbformat

    path.parent.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(nb, path)


@contextmanager
def jupyter_server(module: str, root: Path, nbdir: Path, *app_args: str) -> Iterator[dict[str, Any]]:
    """``python -m <module>`` (jupyterlab, notebook) serving ``nbdir`` with a token; yields its
    ``url``, ``token`` and ``runtime`` folder (the kernels' connection files)."""
    write_jupyter_settings(root)
    port, token = free_port(), secrets.token_hex(16)
    cmd = [
        sys.executable,
        "-m",
        module,
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={nbdir}",
        "--ServerApp.allow_root=True",
        *app_args,
    ]
    url = f"http://127.0.0.1:{port}"
    with serving(cmd, server_env(root), f"{url}/api/status?token={token}", root / "server.log"):
        yield {"url": url, "token": token, "runtime": root / "runtime"}


class Kernel:
    """A second client on a notebook's kernel, to read Python state."""

    def __init__(self, connection_file: Path) -> None:
        from jupyter_client import BlockingKernelClient

        self.kc = BlockingKernelClient(connection_file=str(connection_file))
        self.kc.load_connection_file()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=30)

    def eval(self, expr: str) -> Any:
        msg_id = self.kc.execute("", store_history=False, user_expressions={"r": expr})
        while True:
            reply = self.kc.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        r = reply["content"]["user_expressions"]["r"]
        assert r["status"] == "ok", r
        return json.loads(r["data"]["text/plain"].replace("'", '"'))

    def close(self) -> None:
        self.kc.stop_channels()


@contextmanager
def lab_notebook(root: Path, name: str, cells: Sequence[str]) -> Iterator[dict[str, Any]]:
    """JupyterLab 4 serving one notebook ``name`` of code ``cells`` (in ``root``/notebooks), its
    app exposed to the page (``window.jupyterapp``, which KERNEL_IDLE reads) and no extension
    manager or update check; yields what :func:`jupyter_server` yields."""
    nbdir = root / "notebooks"
    write_notebook(nbdir / name, cells)
    with jupyter_server(
        "jupyterlab",
        root,
        nbdir,
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ) as server:
        yield server
