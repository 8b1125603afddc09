"""The Lambda asset ships the bytecode of its modules (infra/bytecode.py), in a form Lambda's
read-only task root can use as it is: hash-checked, with the task root's paths."""

from __future__ import annotations

import importlib.util
import marshal
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Annotations, Match

from infra import bytecode, remediator

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
# PEP 552: the flags word of a .pyc; bit 0 = hash-based, bit 1 = check the source's hash.
CHECKED_HASH_FLAGS = 0b11


def _modules(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def test_bytecode_build_compiles_every_module_hash_checked_with_task_root_paths(
    tmp_path: Path,
) -> None:
    # Given the asset built with this interpreter
    bytecode.build(LAMBDAS, tmp_path, sys.executable)
    modules = _modules(tmp_path)
    assert len(modules) > 40
    for module in modules:
        # Then each module has bytecode for this interpreter beside it
        compiled = Path(importlib.util.cache_from_source(str(module)))
        data = compiled.read_bytes()
        # hash-checked, so that the fixed modification times of the zipped asset do not make it
        # stale
        assert int.from_bytes(data[4:8], "little") == CHECKED_HASH_FLAGS, module
        # and its code says where Lambda runs it, for readable tracebacks
        code = marshal.loads(data[16:])
        relative = module.relative_to(tmp_path).as_posix()
        assert code.co_filename == f"{bytecode.TASK_ROOT}/{relative}"


def test_bytecode_asset_imports_without_compiling(tmp_path: Path) -> None:
    # Given the built asset, read-only as Lambda's task root is
    bytecode.build(LAMBDAS, tmp_path, sys.executable)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.pyc")}
    # When a fresh interpreter imports the handler from it, and reports what it compiled
    probe = (
        "import importlib.machinery as m, sys\n"
        "compiled = []\n"
        "original = m.SourceFileLoader.source_to_code\n"
        "def spy(self, data, path, *a, **k):\n"
        "    compiled.append(path)\n"
        "    return original(self, data, path, *a, **k)\n"
        "m.SourceFileLoader.source_to_code = spy\n"
        "import remediator.handler\n"
        "print([p for p in compiled if 'remediator' in str(p)])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    # Then none of its own modules was compiled, and no bytecode was rewritten
    assert out.stdout.strip() == "[]"
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.pyc")} == before


def test_bytecode_without_interpreter_copies_sources_only_without_caches(tmp_path: Path) -> None:
    # Given a source tree with a cache directory and a stale .pyc in it
    source = tmp_path / "src"
    (source / "pkg" / "__pycache__").mkdir(parents=True)
    (source / "pkg" / "__init__.py").write_text("")
    (source / "pkg" / "__pycache__" / "old.cpython-311.pyc").write_bytes(b"stale")
    (source / ".mypy_cache").mkdir()
    # When it is built without an interpreter
    bytecode.build(source, tmp_path / "out", None)
    # Then the sources are there, and nothing else
    files = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")
    )
    assert files == ["pkg", "pkg/__init__.py"]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (f"{sys.version_info.major}.{sys.version_info.minor}", sys.executable),
        ("2.1", None),
    ],
    ids=["this-interpreter", "none-on-path"],
)
def test_bytecode_interpreter_for_a_runtime_version(version: str, expected: str | None) -> None:
    assert bytecode.interpreter_for(version) == expected


def test_bytecode_runtime_version_of_a_lambda_runtime_name() -> None:
    assert bytecode.runtime_version("python3.12") == "3.12"


@pytest.mark.parametrize("found", [True, False], ids=["interpreter-found", "no-interpreter"])
def test_bytecode_synth_warns_only_when_the_asset_ships_no_bytecode(
    monkeypatch: pytest.MonkeyPatch, found: bool
) -> None:
    # Given an interpreter of the runtime's version, or none
    monkeypatch.setattr(bytecode, "interpreter_for", lambda _v: sys.executable if found else None)
    stack = Stack(App(context={"aws:cdk:bundling-stacks": []}), "Asset")
    # When the function's code is made
    remediator.lambda_code(stack)
    # Then the synth warns exactly when the cold starts will compile the code
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp(".*ships without bytecode.*")
    )
    assert len(warnings) == (0 if found else 1)


def _staged_asset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interpreter: str | None) -> Path:
    """The remediator's asset as a synth with bundling stages it, built with ``interpreter``."""
    monkeypatch.setattr(bytecode, "interpreter_for", lambda _v: interpreter)
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Asset")
    lambda_.Function(
        stack,
        "Function",
        runtime=remediator.RUNTIME,
        handler=remediator.HANDLER,
        code=remediator.lambda_code(stack),
    )
    app.synth()
    [staged] = [p for p in tmp_path.glob("asset.*") if (p / "remediator").is_dir()]
    return staged


def _asset_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interpreter: str | None) -> str:
    return _staged_asset(tmp_path, monkeypatch, interpreter).name


def test_bytecode_function_asset_is_the_lambdas_directory_with_fresh_bytecode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a function on the remediator's code, synthesised with bundling (as `cdk synth` does)
    staged = _staged_asset(tmp_path, monkeypatch, sys.executable)
    # When listing what would be uploaded
    files = {p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()}
    # Then it is the engine package, importable as remediator.*, each module with the bytecode
    # built for it and no other (no cache of the working tree is shipped)
    assert {"remediator/__init__.py", "remediator/handler.py", "remediator/config.py"} <= files
    sources = {f for f in files if f.endswith(".py")}
    assert {f for f in files if f.endswith(".pyc")} == {
        importlib.util.cache_from_source(f) for f in sources
    }
    assert files == sources | {importlib.util.cache_from_source(f) for f in sources}


def test_bytecode_asset_hash_tells_an_asset_with_bytecode_from_one_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the asset synthesised without bytecode, then with it, then with it again
    without = _asset_hash(tmp_path / "a", monkeypatch, None)
    with_bytecode = _asset_hash(tmp_path / "b", monkeypatch, sys.executable)
    again = _asset_hash(tmp_path / "c", monkeypatch, sys.executable)
    # Then the two are different assets (one published first never stands for the other), and
    # the bytecode is the same bytes on every build, so the hash changes only with the code
    assert without != with_bytecode
    assert with_bytecode == again
