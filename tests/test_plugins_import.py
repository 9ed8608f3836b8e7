"""The plugin manager must not import plugins/ a second time as flat modules (reference/airflow.md §3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_airflowignore_lists_every_package_folder():
    ignored = {line.strip().rstrip("/") for line in (REPO / "plugins" / ".airflowignore").read_text().splitlines()}
    packages = {p.parent.name for p in (REPO / "plugins").glob("*/__init__.py")}
    assert packages and packages <= ignored


def test_plugin_manager_loads_no_flat_copies_and_package_imports_work():
    probe = (
        "import json, sys\n"
        "from airflow import plugins_manager\n"
        "plugins_manager.ensure_plugins_loaded() if hasattr(plugins_manager, 'ensure_plugins_loaded') "
        "else plugins_manager.get_plugin_info()\n"
        "from mlc.hooks.sftp import MlcSFTPHook\n"
        "from mlc.operators.connection_check import SftpProbeOperator\n"
        f"plugins = {str(REPO / 'plugins')!r}\n"
        "flat = sorted(name for name, mod in list(sys.modules.items())\n"
        "              if (getattr(mod, '__file__', None) or '').startswith(plugins)\n"
        "              and not (name == 'mlc' or name.startswith('mlc.')))\n"
        "names = sorted(p.name for p in plugins_manager._get_plugins()[0] if p.name.startswith('mlc'))\n"
        "print(json.dumps({'flat': flat, 'hook': MlcSFTPHook.__module__, 'plugins': names}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=dict(os.environ),
                          timeout=120)

    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # the one flat module is the plugin file itself (the deliveries page), which imports from the package
    assert result == {"flat": ["mlc_ui_plugin"], "hook": "mlc.hooks.sftp", "plugins": ["mlc_ui"]}
