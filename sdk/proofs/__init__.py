"""Offline proofs: Merkle and Merkle-Patricia proofs, the commit-certificate rule, proof bundles and their
verifier, and QR credentials."""
