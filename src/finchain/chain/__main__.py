"""``python -m finchain.chain CONFIG``: run one node process (what ``finchain chain up`` starts)."""

from __future__ import annotations

import sys

from finchain.chain.node import run_node


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m finchain.chain NODE_CONFIG.yaml", file=sys.stderr)
        raise SystemExit(2)
    run_node(args[0])


if __name__ == "__main__":
    main()
