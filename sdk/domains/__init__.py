"""One package per event family of the ledger: each holds its read model, its encoders and its facade."""
