"""Xinlian node: execution, ledger, consensus, storage and API of a consortium validator."""
