"""A devnet with candidate nodes: validator keys outside the genesis set, every node's key allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import METRICS_PORT_OFFSET, ConfigError, NodeConfig
from node.devnet import init_devnet
from node.genesis import GenesisFile
from sdk.crypto import PrivateKey


def test_candidates_have_keys_outside_the_genesis_set_and_every_node_allows_every_key(tmp_path: Path) -> None:
    paths = init_devnet(tmp_path / "net", validators=1, candidates=2, base_api_port=18545, tls=True)
    assert [p.name for p in paths] == ["node-0.json", "node-1.json", "node-2.json"]
    configs = [NodeConfig.load(p) for p in paths]
    keys = [
        PrivateKey.from_pem(Path(c.validator_key_path).read_bytes()).public_key.to_bytes() for c in configs
    ]
    assert len(set(keys)) == 3
    genesis = GenesisFile.load(tmp_path / "net" / "genesis.json")
    assert list(genesis.spec.validators) == keys[:1]
    for i, config in enumerate(configs):
        assert config.name == f"node-{i}" and config.data_dir.endswith(f"node-{i}")
        assert sorted(config.allowed_peer_keys) == sorted(k.hex() for k in keys)
        assert config.api_port == 18545 + i and len(config.peers) == 2
        assert Path(config.api_tls_cert).name == f"node-{i}.pem" and Path(config.api_tls_cert).exists()


def test_without_candidates_nothing_is_allowed_beyond_the_validators(tmp_path: Path) -> None:
    (path,) = init_devnet(tmp_path / "net", validators=1)
    assert NodeConfig.load(path).allowed_peer_keys == ()
    with pytest.raises(ConfigError):
        init_devnet(tmp_path / "other", validators=1, candidates=-1)


def test_metrics_listen_on_the_api_port_plus_the_offset_by_default(tmp_path: Path) -> None:
    # Tests pick random ports with scripts.bench.grants.get_free_port, which never returns a port this far
    # from one it gave: a node's default metrics port is never another node's port.
    configs = [NodeConfig.load(p) for p in init_devnet(tmp_path / "a", validators=2, base_api_port=18545)]
    assert [c.metrics_port for c in configs] == [None, None]
    assert [c.resolved_metrics_port() for c in configs] == [
        18545 + METRICS_PORT_OFFSET,
        18546 + METRICS_PORT_OFFSET,
    ]
