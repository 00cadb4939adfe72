"""``python -m meshlint.schemas [DIR]``: write the JSON Schemas (default: the package's folder)."""

from __future__ import annotations

import sys

from meshlint.schemas import write


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or any(a in ("-h", "--help") for a in args):
        print("usage: python -m meshlint.schemas [DIR]", file=sys.stderr)
        return 2
    for path in write(args[0] if args else None):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
