"""`python -m assay.assets [--force] [DEST]`: fetch the pinned Data Docs CSS/JS from npm."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from assay.assets import fetch, vendor_dir, vendored


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m assay.assets", description=__doc__)
    parser.add_argument(
        "dest",
        nargs="?",
        type=Path,
        default=None,
        help="target folder (default: the package's vendor/)",
    )
    parser.add_argument("--force", action="store_true", help="fetch again even when present")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    dest = args.dest or vendor_dir()
    if vendored(dest) and not args.force:
        print(f"assets: already in {dest}")
        return 0
    print(f"assets: fetched into {fetch(dest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
