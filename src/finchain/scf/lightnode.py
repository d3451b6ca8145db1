"""A light node: follows the chain from an untrusted full node, verifying every header's commit
proof and certificate against the genesis validator set, and holding only headers.

This is the SCF gateway/SME-SDK node type (a bank's branch system, an IoT gateway): it trusts no
node, only the validators' quorum. Run as its own process::

    python -m finchain.scf.lightnode --genesis DIR/genesis.json --url http://127.0.0.1:PORT \\
        --status FILE [--seconds N]

It starts at the current head (as a light client starts from a trusted checkpoint) and writes
``{"start_height", "verified_height", "headers", "failures"}`` to ``--status`` as it goes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path


async def follow(genesis: Path, url: str, status: Path, seconds: float) -> dict[str, int]:
    from finchain.chain.light import LightClient, LightClientError
    from finchain.chain.rpc.jsonrpc import RpcError
    from finchain.chain.sdk import Client

    light = LightClient.from_genesis_file(genesis)
    failures = 0
    headers = 0
    deadline = time.monotonic() + seconds
    async with Client(url) as client:
        # like any light client, start from where the chain is now and verify forward
        verified = max(0, await client.height() - 1)
        start = verified
        while time.monotonic() < deadline:
            head = await client.height()
            while verified < head and time.monotonic() < deadline:
                try:
                    await light.fetch_header(client, verified + 1)
                except LightClientError:
                    failures += 1
                    break
                except RpcError:
                    break  # not attested yet: retry on the next round
                verified += 1
                headers += 1
                light.trusted.pop(verified - 64, None)  # keep memory bounded
            out = {
                "start_height": start,
                "verified_height": verified,
                "headers": headers,
                "failures": failures,
            }
            status.write_text(json.dumps(out), encoding="utf-8")
            await asyncio.sleep(0.2)
    return {"verified_height": verified, "headers": headers, "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--genesis", type=Path, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--status", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=3600.0)
    args = parser.parse_args()
    asyncio.run(follow(args.genesis, args.url, args.status, args.seconds))


if __name__ == "__main__":
    main()
