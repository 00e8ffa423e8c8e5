#!/bin/sh
# Rebuild vendor/evmone-sources.tar.xz: the files of evmone, evmc and intx that libxevm compiles, at the
# pinned upstream commits, unmodified (the Xinlian changes are evmone-xinlian.patch, applied at build time).
# Needs bare git mirrors of github.com/ethereum/evmone, github.com/ethereum/evmc and github.com/chfast/intx;
# MIRRORS names their parent folder (each as owner+name/repo). Run from this folder; then update
# vendor/SHA256SUMS and the commits in README.md.
set -eu
MIRRORS=${MIRRORS:-/work/.mirror}
EVMONE=2cbfad3d5eda9bd920f1174088fe48d41f9edcd7  # v0.15.0-141-g2cbfad3
EVMC=496ce0f81058378b72d0b592d1c49b935bce3302    # evmone's evmc submodule at that commit
INTX=v0.13.0                                     # evmone's intx at that commit (d7a9f72d)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/evmone" "$tmp/evmc" "$tmp/intx"
git --git-dir="$MIRRORS/ethereum+evmone/repo" archive "$EVMONE" \
    LICENSE include/evmone include/evmmax lib/evmone lib/evmone_precompiles test/state test/utils/stdx \
    | tar -x -C "$tmp/evmone"
git --git-dir="$MIRRORS/ethereum+evmc/repo" archive "$EVMC" LICENSE include/evmc | tar -x -C "$tmp/evmc"
git --git-dir="$MIRRORS/chfast+intx/repo" archive "$INTX" LICENSE include/intx | tar -x -C "$tmp/intx"
# Left out: build files, and the BLS12-381/KZG code that needs blst (libxevm answers those precompiles
# with a failure and the engine runs such messages on py-evm; see no_blst.cpp).
find "$tmp" \( -name CMakeLists.txt -o -name '*.cmake' -o -name bls.cpp -o -name kzg.cpp \) -delete
tar --sort=name --mtime=2025-07-31 --owner=0 --group=0 --numeric-owner -C "$tmp" -cJf vendor/evmone-sources.tar.xz \
    evmone evmc intx
