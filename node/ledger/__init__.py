"""The ledger: transaction admission, the mempool, block building, validation and commit."""
