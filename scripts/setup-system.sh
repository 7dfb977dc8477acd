#!/usr/bin/env bash
# System packages roundtable needs, installed with apt where present. Idempotent: packages
# already installed are not touched, and apt-get update runs only when something is missing.
#   libopenblas-dev    OpenBLAS, the speed anchor the harness calls through FFI
#   librust-rayon-dev  rayon's crate sources, used only when crates.io is unreachable
#   tmux               drives the TUI in a real terminal in the tests
set -euo pipefail

packages=(libopenblas-dev librust-rayon-dev tmux)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null; then
        echo "setup: no apt-get here; please install the equivalents of: ${missing[*]}" >&2
    else
        sudo=""
        if [ "$(id -u)" -ne 0 ]; then
            if command -v sudo >/dev/null; then sudo="sudo"; else
                echo "setup: not root and no sudo; please install: ${missing[*]}" >&2
                sudo="skip"
            fi
        fi
        if [ "$sudo" != "skip" ]; then
            echo "setup: installing ${missing[*]}"
            $sudo apt-get update -q
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
        fi
    fi
fi

if ! command -v cargo >/dev/null && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    echo "setup: cargo not found. Install Rust 1.85 or newer (https://rustup.rs), then re-run." >&2
    exit 1
fi
