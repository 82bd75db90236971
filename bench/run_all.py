"""Run every benchmark in bench/ in turn; each prints its figures as `name: value` lines.

make bench                 # all of them
make bench ONLY=sprt       # those whose file name contains "sprt"
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    only = os.environ.get("ONLY", "")
    scripts = sorted(p for p in HERE.glob("bench_*.py") if only in p.stem)
    failed = []
    for script in scripts:
        print(f"# {script.name}", flush=True)
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, check=False)
        print(
            f"# {script.name} finished in {time.monotonic() - started:.0f} s (exit {done.returncode})",
            flush=True,
        )
        if done.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"# failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
