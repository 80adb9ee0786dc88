"""The layers are rules: import-linter's contracts hold, the package has no import cycle, ruff is clean."""

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    assert Path(found).exists(), f"{name} is not installed: pip install -e '.[test]'"
    return found


def test_import_linter_contracts_are_kept():
    done = subprocess.run([_tool("lint-imports")], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_no_import_cycle_anywhere_in_the_package():
    graph = grimp.build_graph("gdsweep")
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("gdsweep") and imported != module:
                back = graph.find_shortest_chain(importer=imported, imported=module)
                # a package importing its own submodule (re-export) and back is not a cycle of code
                if back and not (imported.startswith(module + ".") or module.startswith(imported + ".")):
                    raise AssertionError(f"import cycle: {module} -> {' -> '.join(back)}")


def test_ruff_check_passes():
    done = subprocess.run([_tool("ruff"), "check", "."], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:]


def test_every_subpackage_says_what_it_may_import():
    for package in ("core", "objectives", "tracking", "report", "jobs"):
        init = (REPO / "gdsweep" / package / "__init__.py").read_text()
        assert "May import" in init, package


def test_no_module_over_300_lines_and_no_utils():
    for module in (REPO / "gdsweep").rglob("*.py"):
        assert module.name != "utils.py"
        assert len(module.read_text().splitlines()) <= 300, module
