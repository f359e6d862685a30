"""What every bench script records beside its numbers: the machine they were
measured on, and the file they are appended to (docs/BENCHMARKS.md)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"


def machine_info() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": model, "kernel": platform.release(),
            "redis": _version(["redis-server", "--version"]), "memcached": _version(["memcached", "-V"])}


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True).stdout.split()
    except OSError:
        return "?"
    for word in out:
        if word.startswith("v="):
            return word[2:]
    return out[-1] if out else "?"


def append_section(lines: list[str]) -> Path:
    """Appends `lines` (a section starting with a blank line and a heading) to
    docs/BENCHMARKS.md, creating the file with its title if needed."""
    BENCHMARKS.parent.mkdir(exist_ok=True)
    if not BENCHMARKS.exists():
        BENCHMARKS.write_text("# Benchmarks\n")
    with BENCHMARKS.open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    return BENCHMARKS
