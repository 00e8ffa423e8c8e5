"""Validator-to-validator transport: authenticated TCP links, consensus and transaction gossip, block sync."""
