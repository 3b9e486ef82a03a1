"""A scratch copy of the Makefile with stand-in Pythons, venvs and CLIs: real `make`, offline.

The real ./venv is never touched: every test runs `make` in its own temp dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

# Runs the Makefile's `-c` code in the real interpreter, reporting the version and
# base prefix written in "<this file>.identity" ("3.12.1 /opt/python3.12"), so the
# Makefile's own probes are what decide. `-m venv` and `-m pip` are stand-ins; every
# call is logged to $FAKE_LOG. `-m pytest` exits with $FAKE_PYTEST_RC (default 0).
FAKE_PYTHON = r"""#!/bin/bash
echo "$0 $*" >> "$FAKE_LOG"
read -r version prefix < "$0.identity"
case "$1" in
  -c)
    exec "$REAL_PYTHON" -c "import sys
v = tuple(int(x) for x in '$version'.split('.'))
sys.version_info = v + ('final', 0)
sys.base_prefix = '$prefix'
exec(sys.argv[1])" "$2" ;;
  -m)
    case "$2" in
      venv)
        mkdir -p "$3/bin"
        cp "$0" "$3/bin/python"
        cp "$0.identity" "$3/bin/python.identity"
        for tool in ruff mypy; do
          printf '#!/bin/sh\nexit 0\n' > "$3/bin/$tool"
          chmod +x "$3/bin/$tool"
        done ;;
      pip) ;;
      pytest) exit "${FAKE_PYTEST_RC:-0}" ;;
      *) echo "fake python: no stand-in for -m $2" >&2; exit 99 ;;
    esac ;;
  *) echo "fake python: no stand-in for $*" >&2; exit 99 ;;
esac
"""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    calls: list[str]
    """Every stand-in Python call, as "<path> <args>"."""


@dataclass
class Project:
    root: Path
    log: Path

    def python(self, identity: str, name: str = "python-x") -> Path:
        """A stand-in interpreter outside the project reporting `identity` ("3.12.1 /opt/py")."""
        path = self.root.parent / "pythons" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(FAKE_PYTHON)
        path.chmod(0o755)
        path.with_name(f"{name}.identity").write_text(identity + "\n")
        return path

    def venv(self, identity: str, *, tools: tuple[str, ...] = ("ruff", "mypy")) -> Path:
        """./venv as if `make setup` had run with a Python reporting `identity`."""
        bin_dir = self.root / "venv" / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "python").write_text(FAKE_PYTHON)
        (bin_dir / "python").chmod(0o755)
        (bin_dir / "python.identity").write_text(identity + "\n")
        for tool in tools:
            (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
            (bin_dir / tool).chmod(0o755)
        return self.root / "venv"

    def pulumi(self, version_output: str) -> Path:
        """A stand-in `pulumi` whose `version` prints `version_output`; other commands log."""
        path = self.root.parent / "pulumi"
        path.write_text(
            "#!/bin/sh\n"
            f'if [ "$1" = version ]; then echo "{version_output}"; exit 0; fi\n'
            'echo "pulumi $*" >> "$FAKE_LOG"\n'
        )
        path.chmod(0o755)
        return path

    def make(self, *args: str, **env: str) -> Result:
        self.log.write_text("")
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "PULUMI"))},
            "FAKE_LOG": str(self.log),
            "REAL_PYTHON": sys.executable,
            **env,
        }
        done = subprocess.run(
            ["make", "--no-print-directory", *args],
            cwd=self.root,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        calls = self.log.read_text().splitlines()
        return Result(done.returncode, done.stdout, done.stderr, calls)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    if shutil.which("make") is None:
        pytest.skip("needs `make` on PATH")
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO_ROOT / "Makefile", root / "Makefile")
    return Project(root=root, log=tmp_path / "calls.log")
