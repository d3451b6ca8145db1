"""``finchain chain``: lay out, start, stop and inspect a local consortium network."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Consortium chain: init / forge / up / down / status of a local network; node.",
    no_args_is_help=True,
)


@app.command()
def init(
    directory: Path = typer.Argument(..., help="Directory to create the network in."),
    orgs: int = typer.Option(2, "--orgs", help="Member organisations (one CA each)."),
    validators: int = typer.Option(4, "--validators", help="Validator nodes."),
    observers: int = typer.Option(1, "--observers", help="Observer nodes."),
    suite: str = typer.Option("gm", "--suite", help="gm (SM2/SM3/SM4) or intl."),
    consensus: str = typer.Option("hotstuff", "--consensus", help="Consensus algorithm."),
    base_port: int = typer.Option(
        0, "--base-port", help="First port (p2p ports, then RPC ports); 0 = free ports."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address nodes bind and advertise."),
    chain_id: str = typer.Option("finchain-local", "--chain-id"),
    profile: str = typer.Option(
        "default",
        "--profile",
        help="default, or testbed: 4 validators + 4 observers + 2 light nodes (10 nodes, "
        "3 types) unless --validators/--observers/--light say otherwise, or consortium: "
        "--members certified organisations, --candidates of them run validator-capable nodes "
        "and take turns as a --committee re-drawn every --epoch-blocks blocks (HotStuff).",
    ),
    light: int = typer.Option(2, "--light", help="Light nodes (testbed profile only)."),
    members: int = typer.Option(1000, "--members", help="Organisations (consortium profile)."),
    candidates: int = typer.Option(
        7, "--candidates", help="Validator-capable organisations (consortium profile)."
    ),
    committee: int = typer.Option(4, "--committee", help="Committee size (consortium profile)."),
    epoch_blocks: int = typer.Option(
        100, "--epoch-blocks", help="Blocks per committee epoch (consortium profile)."
    ),
) -> None:
    """Keys, consortium CA, certificates, genesis and per-node configs into DIRECTORY."""
    from rich.console import Console

    from finchain.chain.network import check_consensus, init_network

    if profile not in ("default", "testbed", "consortium"):
        raise typer.BadParameter(f"unknown profile {profile!r}: use default, testbed or consortium")
    check_consensus(consensus)  # before any key or directory is made
    if profile == "consortium":
        from finchain.chain.committee import layout_consortium

        if consensus != "hotstuff":
            raise typer.BadParameter(
                "committee rotation is implemented for hotstuff only; use --consensus hotstuff"
            )
        info = layout_consortium(
            directory,
            members=members,
            committee=committee,
            observers=observers,
            candidates=candidates,
            epoch_blocks=epoch_blocks,
            suite=suite,
            chain_id=chain_id if chain_id != "finchain-local" else "finchain-consortium",
        )
        Console().print(
            f"[green]consortium laid out in {directory}[/]: {members} member organisations, "
            f"{candidates} validator-capable nodes, committee of {committee} every "
            f"{epoch_blocks} blocks (epoch 0: {', '.join(info['committee'])}), "
            f"{observers} observer(s); start it with `finchain chain up {directory}`"
        )
        return
    if profile == "testbed":
        from finchain.chain.faults.testbed import init_testbed

        observers = 4 if observers == 1 else observers  # the testbed default, unless given
        names = init_testbed(
            directory,
            consensus=consensus,
            validators=validators,
            observers=observers,
            light=light,
            orgs=max(orgs, 4),
            suite=suite,
        )
        console = Console()
        console.print(
            f"[green]test bed laid out in {directory}[/]: {len(names['validators'])} "
            f"validators, {len(names['observers'])} observers, {len(names['light'])} light "
            f"nodes ({consensus}); start it with `finchain chain up {directory}`"
        )
        return
    specs = init_network(
        directory,
        orgs=orgs,
        validators=validators,
        observers=observers,
        suite=suite,
        consensus=consensus,
        base_port=base_port,
        host=host,
        chain_id=chain_id,
    )
    Console().print(f"[green]network of {len(specs)} nodes laid out in {directory}[/]")
    for s in specs:
        Console().print(f"  {s.name:<12} {s.role:<9} p2p {s.host}:{s.p2p_port}  rpc {s.rpc_url}")


@app.command()
def up(
    directory: Path = typer.Argument(..., help="Network directory (from `chain init`)."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for health."),
) -> None:
    """Start every node as its own process and wait until all are healthy."""
    from rich.console import Console

    from finchain.chain import network

    console = Console()
    if (directory / "testbed.yaml").exists():  # a test bed: its light nodes start too
        import json

        from finchain.chain.faults.testbed import up_testbed

        up_testbed(directory, timeout=timeout)
        specs = network.load_network(directory)[1]
        light = json.loads((directory / "light" / "pids.json").read_text(encoding="utf-8"))
    else:
        specs = network.up(directory, timeout=timeout)
        light = {}
    pids = network.read_pids(directory)
    console.print(f"[green]{len(specs) + len(light)} nodes up[/]")
    for s in specs:
        console.print(f"  {s.name:<12} {s.role:<9} pid {pids.get(s.name)}  {s.rpc_url}")
    for name, pid in light.items():
        console.print(f"  {name:<12} {'light':<9} pid {pid}  status {directory}/light/{name}.json")


@app.command()
def forge(
    directory: Path = typer.Argument(..., help="A network from `chain init`, never started."),
    blocks: int = typer.Option(..., "--blocks", help="Blocks every validator starts with."),
    header_certificates: bool = typer.Option(
        True,
        "--header-certificates/--no-header-certificates",
        help="Attest every header with every validator key (as live validators do).",
    ),
) -> None:
    """Commit BLOCKS empty blocks with the validators' real consensus and keys, in-process."""
    from finchain.chain.forge import forge as forge_chain

    result = forge_chain(
        directory,
        blocks,
        header_certificates=header_certificates,
        progress=lambda h: typer.echo(f"  executed {h:,}", err=True) if h % 10_000 == 0 else None,
    )
    heights = ", ".join(f"{n} {h:,}" for n, h in result.heights.items())
    typer.echo(
        f"forged: {heights}; consensus + execution {result.consensus_s} s, "
        f"total {result.total_s} s, {result.messages:,} consensus messages"
    )


@app.command()
def down(directory: Path = typer.Argument(..., help="Network directory.")) -> None:
    """Stop every node of the network."""
    from finchain.chain import network

    if (directory / "light" / "pids.json").exists():
        import json

        from finchain.chain.faults.testbed import down_testbed

        pids = dict(network.read_pids(directory))
        pids.update(json.loads((directory / "light" / "pids.json").read_text(encoding="utf-8")))
        stopped = sorted(n for n, pid in pids.items() if network.alive(int(pid)))
        down_testbed(directory)
    else:
        stopped = network.down(directory)
    typer.echo(f"stopped {len(stopped)} nodes" + (f": {', '.join(stopped)}" if stopped else ""))


@app.command()
def status(
    directory: Path = typer.Argument(..., help="Network directory."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the table as JSON."),
) -> None:
    """Heights, roles, peers and mempool of every node, as a table."""
    import json

    import httpx
    from rich.console import Console
    from rich.table import Table

    from finchain.chain import network
    from finchain.cli.paths import ensure_writable

    ensure_writable(json_path)
    _, specs = network.load_network(directory)
    pids = network.read_pids(directory)
    table = Table(title=f"network {directory}")
    for col in ("node", "role", "pid", "height", "round", "peers", "mempool", "rpc"):
        table.add_column(col)
    rows = []
    with httpx.Client(timeout=2.0) as client:
        for s in specs:
            row = {"node": s.name, "role": s.role, "pid": pids.get(s.name), "rpc": s.rpc_url}
            try:
                r = client.post(
                    s.rpc_url + "/",
                    json={"jsonrpc": "2.0", "id": 1, "method": "getStatus", "params": []},
                )
                st = r.json()["result"]
                row.update(
                    height=st["height"],
                    round=st.get("round"),
                    peers=st["peers"],
                    mempool=st["mempool"],
                )
            except (httpx.HTTPError, KeyError, ValueError):
                row.update(height="down", round=None, peers=None, mempool=None)
            rows.append(row)
            table.add_row(
                *(
                    str(row.get(c, "")) if row.get(c) is not None else "-"
                    for c in ("node", "role", "pid", "height", "round", "peers", "mempool", "rpc")
                )
            )
    if (directory / "testbed.yaml").exists():
        from finchain.chain.faults.testbed import light_status

        for name, st in light_status(directory).items():
            row = {
                "node": name,
                "role": "light",
                "height": st.get("verified_height"),
                "headers": st.get("headers"),
                "failures": st.get("failures"),
            }
            rows.append(row)
            table.add_row(name, "light", "-", str(row["height"]), "-", "-", "-", "-")
    Console().print(table)
    if json_path is not None:
        json_path.write_text(json.dumps(rows, indent=1))


@app.command()
def node(config: Path = typer.Argument(..., help="A node.yaml written by `chain init`.")) -> None:
    """Run one node in the foreground (what `chain up` starts per node)."""
    from finchain.chain.network import run_node_checked

    run_node_checked(config)
