"""QBFT consensus for Xinlian: a pure state machine (core), its messages, signer adapters and WAL."""
