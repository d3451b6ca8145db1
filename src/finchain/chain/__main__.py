"""``python -m finchain.chain CONFIG``: run one node process (what ``finchain chain up`` starts)."""

from __future__ import annotations

import sys
from pathlib import Path

from finchain.chain.network import run_node_checked
from finchain.errors import FinchainError


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m finchain.chain NODE_CONFIG.yaml", file=sys.stderr)
        raise SystemExit(2)
    try:
        run_node_checked(Path(args[0]))
    except FinchainError as exc:  # one line: `chain up` quotes the last line of this log
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
