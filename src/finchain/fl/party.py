"""One party as its own OS process: ``python -m finchain.fl.party --job J --party P --workdir D``.

The process listens (gRPC, mutual TLS) and prints ``{"event": "listening", "port": …}``; the
coordinator answers on stdin with every party's address; the party then plays its role and
prints progress and finally ``result`` (or ``error``) as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from finchain.fl.errors import FlError


def main(argv: list[str] | None = None) -> int:
    """Run one party; returns the exit status (0 ok, 2 a known failure, 3 a bug)."""
    ap = argparse.ArgumentParser(prog="finchain.fl.party")
    ap.add_argument("--job", required=True)
    ap.add_argument("--party", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args(argv)

    def say(rec: dict[str, object]) -> None:
        sys.stdout.write(json.dumps({"party": args.party, **rec}, default=str) + "\n")
        sys.stdout.flush()

    channel = None
    try:
        from finchain.fl.context import PartyContext
        from finchain.fl.job import load_job
        from finchain.fl.protocols.registry import role_function
        from finchain.fl.transport.certs import PartyCredentials
        from finchain.fl.transport.grpc_channel import GrpcChannel

        job = load_job(args.job)
        me = job.party(args.party)
        workdir = Path(args.workdir)
        creds = PartyCredentials.load(workdir / "certs", me.name)
        channel = GrpcChannel(me.name, creds, host=me.host, port=me.port, timeout=job.timeout_s)
        say({"event": "listening", "port": channel.port, "host": me.host})
        line = sys.stdin.readline()
        if not line:
            raise FlError("coordinator closed the control pipe before sending addresses")
        book = json.loads(line)["addresses"]
        channel.connect({k: v for k, v in book.items() if k != me.name})
        ctx = PartyContext(job, me, channel, workdir)
        fn = role_function(job.protocol, me.role)
        result = fn(ctx)
        (workdir / f"{me.name}.result.json").write_text(
            json.dumps(result, default=str), encoding="utf-8"
        )
        say({"event": "result", "result": _summary(result)})
        return 0
    except FlError as exc:
        say({"event": "error", "kind": type(exc).__name__, "message": str(exc)})
        return 2
    except Exception as exc:
        say(
            {
                "event": "error",
                "kind": type(exc).__name__,
                "message": str(exc),
                "trace": traceback.format_exc()[-2000:],
            }
        )
        return 3
    finally:
        if channel is not None:
            channel.close()


def _summary(result: dict[str, object]) -> dict[str, object]:
    """Scalars only (big artefacts stay in the result file)."""
    return {k: v for k, v in result.items() if isinstance(v, int | float | str | bool) or v is None}


if __name__ == "__main__":
    sys.exit(main())
