"""Xinlian SDK: the light library for clients and offline verifiers of the Xinlian consortium ledger."""

__version__ = "0.1.0"
