"""A devnet with candidate nodes: validator keys outside the genesis set, every node's key allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import ConfigError, NodeConfig
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


def test_metrics_listen_on_api_port_plus_1000_unless_each_node_is_given_a_port(tmp_path: Path) -> None:
    # The default suits fixed base ports; ports picked at random need their own metrics ports, or
    # one node's API port + 1000 can be another node's API port.
    defaults = [NodeConfig.load(p) for p in init_devnet(tmp_path / "a", validators=2, base_api_port=18545)]
    assert [c.metrics_port for c in defaults] == [None, None]
    assert [c.resolved_metrics_port() for c in defaults] == [19545, 19546]
    given = init_devnet(
        tmp_path / "b", validators=2, api_ports=[18001, 19001], p2p_ports=[1, 2], metrics_ports=[0, 19500]
    )
    assert [NodeConfig.load(p).resolved_metrics_port() for p in given] == [0, 19500]
    with pytest.raises(ConfigError, match="one metrics port per node"):
        init_devnet(tmp_path / "c", validators=2, metrics_ports=[19500])
