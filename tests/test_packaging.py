"""The configs ship inside the package, so the app runs from any directory after `pip install .`."""

import subprocess
import sys
import zipfile


def test_wheel_carries_the_configs(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("gdsweep-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "gdsweep/conf/config.yaml",
        "gdsweep/conf/function/quadratic.yaml",
        "gdsweep/conf/scan/dense.yaml",
        "gdsweep/conf/scan/edge.yaml",
        "gdsweep/conf/hydra/launcher/slurm.yaml",
        "gdsweep/conf/hydra/launcher/ray.yaml",
        "gdsweep/conf/__init__.py",
    } <= names
    assert any(name.endswith("entry_points.txt") for name in names)


def test_help_runs_from_another_directory_without_torch_or_mlflow(cli):
    result = cli("--help")
    assert result.returncode == 0 and "lr: 0.1" in result.stdout and "rosenbrock" in result.stdout
    probe = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gdsweep", "--help"],
        capture_output=True,
        text=True,
        cwd="/",
        check=True,
    )
    imported = {line.split("|")[-1].strip() for line in probe.stderr.splitlines() if "|" in line}
    assert "torch" not in imported and "mlflow" not in imported
