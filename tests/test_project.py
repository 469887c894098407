"""The repository's promises: setup files agree, code is ruff clean, the README leads with two commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def normalized(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower()


def test_environment_yml_pip_list_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    wanted = {normalized(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    assert {normalized(r) for r in pip_section if r != "-e ."} == wanted
    assert "-e ." in pip_section
    python = next(d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python == f"python{project['requires-python']}"


def test_readme_quick_start_is_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S)
    assert first_block is not None
    commands = [line for line in first_block.group(1).splitlines() if line and not line.startswith("#")]
    assert commands == ["make lab", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_env_files_are_never_committed() -> None:
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.parametrize("check", [["check", "."], ["format", "--check", "."]])
def test_code_is_ruff_clean(check: list[str]) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), *check], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_licence_is_an_spdx_string_so_installs_print_no_warning() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"


def test_make_lab_passes_args_on_to_jupyterlab_and_the_help_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    dry_run = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed-lab", "lab", "ARGS=--port 8899 --no-browser"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "voicelive-lab lab --port 8899 --no-browser" in dry_run.stdout
    from voicelive_lab.cli import main

    with pytest.raises(SystemExit):
        main(["lab", "--help"])
    assert "passed on to JupyterLab" in " ".join(capsys.readouterr().out.split())


def test_nbval_markers_are_cell_tags_not_comments_in_learners_code() -> None:
    import nbformat

    marked = [
        f"{path.relative_to(ROOT)} cell {number}"
        for path in sorted((ROOT / "notebooks").rglob("*.ipynb"))
        for number, cell in enumerate(nbformat.read(path, as_version=4).cells)
        if cell.cell_type == "code" and "NBVAL_" in cell.source
    ]
    assert not marked, f"use the nbval-ignore-output (or nbval-skip) tag instead of a comment: {marked}"
