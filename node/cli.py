"""Node commands for the `xinlian` CLI: network init, node run and init, the local demo consortium; the
genesis ceremony commands are in node.ceremony_cli."""

from __future__ import annotations

import dataclasses
import logging
import signal
from importlib.util import find_spec
from pathlib import Path
from typing import Annotated

import typer

from sdk.cli_common import JsonOption, emit_json, say
from sdk.errors import OutputError, UsageError
from sdk.exit_codes import ExitCode

#: The signals that stop `xinlian node run` cleanly.
_STOPS = (signal.SIGTERM, signal.SIGINT)

network_app = typer.Typer(help="Create and inspect consortium networks.", no_args_is_help=True)
node_app = typer.Typer(help="Run a node.", no_args_is_help=True)

ChainIdOption = Annotated[int, typer.Option(min=1, help="Chain id carried in every signed preimage.")]
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Node config JSON.")]


@network_app.command("init")
def network_init(
    out: Annotated[Path, typer.Option("--dir", "-d", help="Folder to create the network in.")],
    validators: Annotated[int, typer.Option(min=1, max=64, help="Number of validators.")] = 1,
    chain_id: ChainIdOption = 1001,
    api_port: Annotated[int, typer.Option(help="API port of node 0 (node N uses port + N).")] = 8545,
    p2p_port: Annotated[int, typer.Option(help="P2P port of node 0 (node N uses port + N).")] = 30300,
    tls: Annotated[
        bool, typer.Option(help="Serve the APIs over TLS with a local CA (tls/ca.pem) and node certificates.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Write genesis.json, keys (validators and demo organisations) and one node config per validator.

    A demo: one folder holds every key and signs the genesis with all of them. Independent organisations
    use `xinlian genesis` (docs/operations.md)."""
    from node.demo_network import init_network

    if (out / "genesis.json").exists():  # said here as a usage error: the folder is the caller's choice
        raise UsageError(f"{out} already holds a network (genesis.json exists); choose another --dir")
    try:
        path = init_network(
            out, validators=validators, chain_id=chain_id, api_port=api_port, p2p_port=p2p_port, tls=tls
        )
    except OSError as exc:
        raise OutputError(f"cannot write the network to {out}: {exc.strerror or exc}", path=str(out)) from exc
    if as_json:
        emit_json(
            {
                "network_dir": str(path),
                "genesis": str(path / "genesis.json"),
                "orgs": str(path / "orgs.json"),
                "node_configs": [str(p) for p in sorted((path / "nodes").glob("node-*.json"))],
                "tls_ca": str(path / "tls" / "ca.pem") if tls else None,
            }
        )
        return
    written = "genesis.json, nodes/, keys/, orgs.json" + (", tls/ (trust tls/ca.pem)" if tls else "")
    say(f"network written to {path}: {written}")


def serve(config_path: Path, *, banner: bool = True, join: str | None = None) -> None:
    """Run one node until SIGINT/SIGTERM: consensus, the peer service and the HTTP API (uvicorn)."""
    import uvicorn

    from node.api import create_app
    from node.api.metrics import Metrics, serve_metrics
    from node.config import ConfigError, NodeConfig
    from node.runtime import Node, register_runtime_metrics
    from node.workers import skip_main_module_in_workers

    skip_main_module_in_workers()  # before the node's worker pools start
    config = NodeConfig.load(config_path)
    if join is not None:
        config = dataclasses.replace(config, join=join)
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    node = Node(config)
    views = None
    if config.api_view_workers > 0:
        from node.api.views import ViewCallPool

        views = ViewCallPool(
            config.resolved_database_url(), node.chain.chain_id, processes=config.api_view_workers
        )
        views.warm_up()
        node.ledger.view_executor = views.call
    signatures = None
    if config.admission_workers > 0:
        from node.ledger.signatures import SignatureWorkers

        signatures = SignatureWorkers(config.admission_workers)
        signatures.warm_up()
        node.ledger.signature_checker = signatures.verify
    if node.auditor is not None:
        node.auditor.warm_up()  # in the background
    metrics = Metrics()
    metrics.attach(node.ledger)
    app = create_app(
        node.ledger,
        metrics=metrics,
        liveness=node.liveness,
        audience=config.api_audience or config.name,
        limits=node.api_limits,
        statement_key=node.key,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.api_host,
            port=config.api_port,
            log_level="warning",
            access_log=False,
            ssl_certfile=config.api_tls_cert or None,
            ssl_keyfile=config.api_tls_key or None,
            # The node trusts no forwarding header: a request's scheme is https only when this server
            # terminated TLS (sessions are opened only then), whatever X-Forwarded-Proto claims.
            proxy_headers=False,
            # On SIGTERM, requests in flight get this long; open keep-alive connections do not hold the
            # node up.
            timeout_graceful_shutdown=5,
            # A WebSocket message (eth_subscribe on /rpc) is refused by the protocol layer beyond the
            # request body cap, before it is buffered whole.
            ws_max_size=node.api_limits.max_body_bytes,
        )
    )
    node.start()
    register_runtime_metrics(node, metrics.registry)
    scheme = "https" if config.api_tls_cert else "http"
    url = f"{scheme}://{config.api_host}:{config.api_port}"
    operator = None
    metrics_port = config.resolved_metrics_port()
    try:
        if metrics_port:
            operator = serve_metrics(
                metrics,
                config.metrics_host,
                metrics_port,
                tls_cert=config.api_tls_cert,
                tls_key=config.api_tls_key,
            )
    except OSError as exc:
        if config.metrics_port is not None:  # a port the operator chose: refuse to run without it
            node.stop()
            raise ConfigError(
                f"cannot listen for metrics on {config.metrics_host}:{metrics_port}: {exc.strerror} "
                "(change metrics_port in the node config; 0 turns the listener off)"
            ) from exc
        logging.getLogger("xinlian.node").warning(
            "no metrics: the default operator port %s:%d is taken (%s); set metrics_port in the node config",
            config.metrics_host,
            metrics_port,
            exc.strerror,
        )
    if banner:
        where = (
            f"metrics {scheme}://{config.metrics_host}:{metrics_port}/metrics" if operator else "no metrics"
        )
        say(
            f"{config.name} chain {node.chain.chain_id} at height {node.ledger.height}; "
            f"API {url} (docs {url}/docs, JSON-RPC {url}/rpc); {where}"
        )
    # uvicorn stops on SIGTERM/SIGINT and then raises the signal again with the handler that was there
    # before it; with the default one that kills the process before the node is stopped (its database left
    # unclosed). Remember the signal instead, stop everything, then exit: 0 after SIGTERM, 130 after Ctrl-C.
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: received.append(signum)) for sig in _STOPS}
    try:
        server.run()
    finally:
        if operator is not None:
            operator.shutdown()
        node.stop()
        if views is not None:
            views.close()
        if signatures is not None:
            signatures.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if signal.SIGINT in received:
        raise typer.Exit(int(ExitCode.INTERRUPTED))


@node_app.command("run")
def node_run(
    config: Annotated[Path, typer.Option("--config", "-c", help="Node config JSON (from network init).")],
    join: Annotated[
        str | None,
        typer.Option(
            "--join",
            help="With an empty database: 'snapshot' starts from the peers' recent state (proven from "
            "genesis) instead of replaying every block (overrides the config's join).",
        ),
    ] = None,
) -> None:
    """Run a node: open its database, resume or create genesis, run consensus and p2p, serve the API."""
    serve(config, join=join)


@node_app.command("backup")
def node_backup(
    config: ConfigOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Backup file to write (a tar).")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing backup file.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Back up the node's database while it runs: one consistent committed state (SQLite backup API, or
    pg_dump in one snapshot) with a manifest. The signing guard is never included."""
    from node.backup import backup_node
    from node.config import NodeConfig

    manifest = backup_node(NodeConfig.load(config), out, force=force)
    if as_json:
        emit_json({"backup": str(out), **manifest.to_json()})
        return
    say(f"backup of {manifest.describe()} written to {out}")


@node_app.command("restore")
def node_restore(
    config: ConfigOption,
    source: Annotated[Path, typer.Option("--from", help="Backup file written by `xinlian node backup`.")],
    force: Annotated[bool, typer.Option("--force", help="Replace a database that holds a chain.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Restore a stopped node's database from a backup of the same chain. The signing guard stays: a
    validator signs nothing at heights it may have signed until its chain has passed them."""
    from node.backup import restore_node
    from node.config import NodeConfig

    manifest = restore_node(NodeConfig.load(config), source, force=force)
    if as_json:
        emit_json({"restored_from": str(source), **manifest.to_json()})
        return
    say(f"restored {manifest.describe()} from {source}")


def devnet(
    validators: Annotated[int, typer.Option(min=1, max=16, help="Validators (used when initialising).")] = 4,
    out: Annotated[Path | None, typer.Option("--dir", help="Network folder (default var/devnetN).")] = None,
    base_port: Annotated[int, typer.Option(help="API port of node 0 (node N uses port + N).")] = 8545,
    base_p2p_port: Annotated[int, typer.Option(help="P2P port of node 0 (node N uses port + N).")] = 30300,
    candidates: Annotated[
        int,
        typer.Option(
            min=0,
            max=16,
            help="Further nodes with validator keys outside the genesis set (used when initialising): they "
            "follow the chain until a committee proposal adds them.",
        ),
    ] = 0,
) -> None:
    """Run a local consortium: one `xinlian node run` process per node (SQLite each) until Ctrl-C.

    A new one serves its APIs over https under a local CA (tls/ca.pem in the folder); peer links are TLS.
    """
    from node.devnet import run_devnet

    folder = out if out is not None else Path(f"var/devnet{validators}")
    run_devnet(
        folder,
        validators=validators,
        candidates=candidates,
        base_api_port=base_port,
        base_p2p_port=base_p2p_port,
        echo=say,
    )


def demo(
    out: Annotated[Path, typer.Option("--dir", help="Where the demo network lives.")] = Path("var/devnet"),
) -> None:
    """Initialise a 4-validator consortium on SQLite once, then run it (what `make run` does).

    Node 0 serves the API on https://127.0.0.1:8545 (nodes 1-3 on 8546-8548) under the network's own CA,
    tls/ca.pem in the folder; peer links are TLS. Ctrl-C stops all four.
    """
    from node.devnet import run_devnet

    run_devnet(out, validators=4, echo=say)


#: Top-level modules of the node extra (xinlian[node]) that the node commands import when they run.
NODE_EXTRA_MODULES = ("eth", "pyrevm", "fastapi", "uvicorn", "sqlmodel", "prometheus_client")


def register(app: typer.Typer) -> None:
    """Attach the node commands to the `xinlian` CLI (entry point group xinlian.cli).

    Raises ImportError naming the first missing module of the node extra, so a light install answers
    "install xinlian[node]" at once instead of a traceback when a command runs.
    """
    for module in NODE_EXTRA_MODULES:
        try:
            found = find_spec(module) is not None
        except ValueError:  # a module set to None in sys.modules: blocked
            found = False
        if not found:
            raise ImportError(f"No module named {module!r}", name=module)
    from node.ceremony_cli import genesis_app, node_init

    app.add_typer(network_app, name="network")
    app.add_typer(genesis_app, name="genesis")
    node_app.command("init")(node_init)
    app.add_typer(node_app, name="node")
    app.command("demo")(demo)
    app.command("devnet")(devnet)
