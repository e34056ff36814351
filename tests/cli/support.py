"""Helpers shared by the command-line tests: running a command and reading files."""
import subprocess


def run_checked(argv, check=True, timeout=300, env=None):
    """Runs argv (any items, as text); with `check`, a non-zero status fails with its stderr."""
    argv = [str(item) for item in argv]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr}")
    return result


def read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()
