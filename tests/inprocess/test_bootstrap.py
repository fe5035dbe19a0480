"""deploy/bootstrap.sh on made-up machines: what it finds missing, what it asks apt for.

Each test runs the real script with a PATH of its own: the shell tools it needs, and stand-ins
for make, java, mvn, chromium, prometheus, promtool, fc-list, initdb, pdftoppm, python, id and
apt-get, so a test decides what the machine has, whether it is root and what apt-get
"installs", without touching this machine's packages. PostgreSQL is also looked for under
/usr/lib/postgresql, which a test cannot hide, so no test here asks for it to be missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "bootstrap.sh"
SHELL_TOOLS = ("bash", "sed", "head", "tail", "cut", "ls", "sort", "dirname", "awk", "cat", "chmod")

STUBS = {
    "make": "true",
    "java": "echo 'openjdk version \"17.0.15\" 2025-04-15' >&2",
    "mvn": "true",
    "chromium": "echo 'Chromium 156.0.8078.114'",
    "prometheus": "echo 'prometheus, version 2.42.0+ds'",
    "promtool": "true",
    "fc-list": "echo 'WenQuanYi Micro Hei,文泉驿微米黑'",
    "initdb": "echo 'initdb (PostgreSQL) 15.18'",
    "pdftoppm": "echo 'pdftoppm version 22.12.0' >&2",
    "python3": "exit 0",
    "id": "echo 0",
}

# What each package brings, for the stand-in apt-get.
PROVIDES = {
    "make": ["make"],
    "openjdk-17-jre-headless": ["java"],
    "maven": ["mvn"],
    "chromium": ["chromium"],
    "prometheus": ["prometheus", "promtool"],
    "fonts-wqy-microhei": ["fc-list"],
    "python3-venv": ["python3"],
    "poppler-utils": ["pdftoppm"],
}


class Machine:
    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.apt_log = root / "apt.log"
        for tool in SHELL_TOOLS:
            found = shutil.which(tool)
            assert found, f"{tool} is needed to run the script"
            (self.bin / tool).symlink_to(found)
        for name, body in STUBS.items():
            self.stub(name, body)
        provides = "\n".join(
            f"    {pkg}) {'; '.join(self._stub_line(t) for t in tools)} ;;"
            for pkg, tools in PROVIDES.items()
        )
        self.stub(
            "apt-get",
            f'echo "$*" >> {self.apt_log}\n'
            'if [ "$1" = install ]; then for p in "$@"; do case $p in\n'
            f"{provides}\n"
            "  esac; done; fi",
        )

    def _stub_line(self, tool: str) -> str:
        body = STUBS[tool].replace("'", "'\\''")
        path = self.bin / tool
        return f"printf '%s\\n' '#!/bin/bash' '{body}' > {path}; chmod +x {path}"

    def stub(self, name: str, body: str) -> None:
        path = self.bin / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)

    def remove(self, *names: str) -> None:
        for name in names:
            (self.bin / name).unlink()

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": str(self.bin), "PYTHON": "python3", "HOME": os.environ.get("HOME", "/")}
        return subprocess.run(
            ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=30
        )

    def apt_calls(self) -> list[str]:
        return self.apt_log.read_text().splitlines() if self.apt_log.exists() else []


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


def test_a_complete_machine_gets_one_line_and_no_apt(machine: Machine) -> None:
    out = machine.run()
    assert (out.returncode, out.stdout) == (0, "all system packages present\n")
    assert machine.apt_calls() == []


def test_root_with_apt_installs_only_what_is_missing_and_a_second_run_does_nothing(
    machine: Machine,
) -> None:
    machine.remove("chromium", "prometheus", "promtool")
    out = machine.run()
    assert out.returncode == 0, out.stderr
    assert machine.apt_calls() == [
        "update -qq",
        "install -y -qq --no-install-recommends chromium prometheus",
    ]
    assert out.stdout.splitlines()[-1] == "installed: chromium prometheus"

    again = machine.run()
    assert (again.returncode, again.stdout) == (0, "all system packages present\n")
    assert len(machine.apt_calls()) == 2


def test_not_root_names_the_exact_command_and_exits_1(machine: Machine) -> None:
    machine.remove("chromium", "prometheus")
    machine.stub("id", "echo 1000")
    out = machine.run()
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "This machine lacks chromium prometheus: run `sudo sh -c 'apt-get update && apt-get "
        "install -y --no-install-recommends chromium prometheus'`, then run make again."
    ]
    assert machine.apt_calls() == []


def test_no_apt_names_the_packages_and_exits_1(machine: Machine) -> None:
    machine.remove("apt-get", "mvn", "make")
    out = machine.run()
    assert out.returncode == 1
    assert "lacks make maven and has no apt-get" in out.stderr
    assert "apt-get install -y --no-install-recommends make maven)" in out.stderr


def test_check_reports_and_never_installs(machine: Machine) -> None:
    machine.remove("mvn")
    out = machine.run("--check")
    assert out.returncode == 1
    assert "missing system packages: maven;" in out.stdout
    assert machine.apt_calls() == []


def test_old_java_no_cjk_font_and_no_venv_module_are_missing(machine: Machine) -> None:
    machine.stub("java", "echo 'openjdk version \"11.0.2\" 2019-01-15' >&2")
    machine.stub("fc-list", "true")
    machine.stub("python3", "exit 1")
    out = machine.run("--check")
    assert out.returncode == 1
    assert "missing system packages: openjdk-17-jre-headless fonts-wqy-microhei python3-venv;" in (
        out.stdout
    )


def test_describe_names_each_component_with_its_version(machine: Machine) -> None:
    out = machine.run("--describe")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "real components this test run uses:"
    text = "\n".join(lines)
    for expected in ("Java 17.0.15", "PostgreSQL  ", "Prometheus  2.42.0", "Chromium    156.0"):
        assert expected in text
    assert "CJK font    WenQuanYi Micro Hei" in text
    assert "pdftoppm    22.12.0" in text


def test_a_machine_without_pdftoppm_gets_poppler_utils(machine: Machine) -> None:
    # the yearly report's test renders the PDF's first page with it; bare Debian lacks it
    machine.remove("pdftoppm")
    out = machine.run()
    assert out.returncode == 0, out.stderr
    assert machine.apt_calls()[-1] == "install -y -qq --no-install-recommends poppler-utils"
    again = machine.run()
    assert (again.returncode, again.stdout) == (0, "all system packages present\n")
