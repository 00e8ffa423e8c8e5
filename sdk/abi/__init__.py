"""ABI copies of contracts/build/ artifacts, shipped with the SDK (see sdk.contracts.write_sdk_abis)."""
