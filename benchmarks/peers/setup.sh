#!/usr/bin/env bash
# Build the two peer environments used by the feature-card benchmark.
#
#   benchmarks/peers/setup.sh            # create whatever is missing or stale (idempotent)
#   benchmarks/peers/setup.sh --force    # rebuild both venvs from scratch
#   benchmarks/peers/setup.sh --freeze   # rebuild both WITHOUT the constraints (fresh resolve),
#                                        # then rewrite constraints-*.txt from the working venvs
#
# sae-vis 0.3.7 needs SAELens <= 5 (it reads sae.cfg.hook_name / hook_layer) while
# sae-dashboard 0.8.0 pins sae-lens>=6.8,<7, so they cannot share one environment
# (benchmarks/README.md, "Two environments"). Both venvs live OUTSIDE the repo:
#
#   ${FEATURECARD_PEERS_DIR:-$HOME/.cache/featurecard-peers}/sae-vis
#   ${FEATURECARD_PEERS_DIR:-$HOME/.cache/featurecard-peers}/sae-dashboard
#
# Neither peer is, or may become, a dependency of featurecard; nothing here is imported by it.
#
# Fixes found necessary when the environments were first built, applied below:
#   * both: pip picks pyarrow 26, which needs NumPy 2 while transformer-lens pins numpy<2
#     on Python 3.11 -> pyarrow==20.0.0.
#   * sae-vis: imports frozendict and tabulate without declaring them -> install both.
#   * sae-dashboard: decode-clt drags in PyPI torchvision/torchaudio, which do not load
#     against the local torch 2.13.0+cpu wheel and break `import transformers` -> uninstall.
#   * torch==2.13.0 is installed first and repeated on every pip call, so pip keeps the
#     local CPU wheel instead of fetching a multi-GB CUDA build.
#
# Environment: PYTHON (default python3, must be 3.11 like our .venv), FEATURECARD_PEERS_DIR.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERS_DIR="${FEATURECARD_PEERS_DIR:-$HOME/.cache/featurecard-peers}"
PYTHON="${PYTHON:-python3}"
TORCH="torch==2.13.0"

FORCE=0
FREEZE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --freeze) FREEZE=1; FORCE=1 ;;
    -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg' (expected --force, --freeze or --help)" >&2; exit 2 ;;
  esac
done

# Per peer: top-level requirements, extra fix-ups, and the import that proves it works.
SAE_VIS_REQS=(sae-vis==0.3.7 sae-lens==5.11.0 pyarrow==20.0.0 frozendict tabulate)
SAE_DASHBOARD_REQS=(sae-dashboard==0.8.0 pyarrow==20.0.0)
# Recorded before they are uninstalled, so a constrained rebuild resolves the same way.
SAE_DASHBOARD_REMOVE=(torchvision torchaudio)

log() { printf '[peers] %s\n' "$*" >&2; }

# This machine's pip config lists local file:// indexes that lack most projects; pip warns once
# per project about each. Drop that noise, keep everything else pip says.
quiet_pip() {
  "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

# A stamp records exactly what a venv was built from; a different recipe means a rebuild.
recipe_hash() {
  local name="$1"; shift
  local constraints="$HERE/constraints-$name.txt"
  {
    printf '%s\n' "$TORCH" "$@"
    "$PYTHON" -c 'import sys; print(sys.version.split()[0])'
    if [[ -f "$constraints" ]]; then cat "$constraints"; fi
  } | sha256sum | cut -d' ' -f1
}

check_imports() {
  local venv="$1" module="$2"
  # HF_HUB_OFFLINE: the check must not depend on the hub being reachable.
  HF_HUB_OFFLINE=1 "$venv/bin/python" - "$module" <<'PY'
import importlib
import importlib.metadata as md
import sys
import warnings

warnings.filterwarnings("ignore")
import torch  # noqa: E402

importlib.import_module(sys.argv[1])
importlib.import_module("sae_lens")
importlib.import_module("transformer_lens")
assert torch.__version__.startswith("2.13.0"), torch.__version__
versions = ", ".join(f"{d} {md.version(d)}" for d in (sys.argv[1].replace("_", "-"), "sae-lens", "transformer-lens"))
print(f"{sys.argv[1]} imports: torch {torch.__version__}, {versions}")
PY
}

build() {
  local name="$1" module="$2"; shift 2
  local -a reqs=("$@")
  local venv="$PEERS_DIR/$name"
  local constraints="$HERE/constraints-$name.txt"
  local stamp="$venv/.featurecard-recipe"
  local want
  want="$(recipe_hash "$name" "${reqs[@]}")"

  if [[ $FORCE -eq 0 && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && check_imports "$venv" "$module" >/dev/null 2>&1; then
    log "$name: up to date ($venv)"
    return 0
  fi

  local t0=$SECONDS
  log "$name: building $venv"
  rm -rf "$venv"
  mkdir -p "$PEERS_DIR"
  "$PYTHON" -m venv "$venv"
  local pip=(quiet_pip "$venv/bin/python" -m pip --disable-pip-version-check --quiet)
  "${pip[@]}" install --upgrade pip
  "${pip[@]}" install "$TORCH"

  local -a cflag=()
  if [[ -f "$constraints" && $FREEZE -eq 0 ]]; then
    cflag=(-c "$constraints")
    log "$name: pinned by $(basename "$constraints")"
  else
    log "$name: no constraints used; resolving freshly"
  fi
  "${pip[@]}" install "${cflag[@]}" "$TORCH" "${reqs[@]}"

  if [[ "$name" == sae-dashboard ]]; then
    local frozen_removed
    frozen_removed="$("$venv/bin/python" -m pip freeze 2>/dev/null | grep -iE "^($(IFS='|'; echo "${SAE_DASHBOARD_REMOVE[*]}"))==" || true)"
    "${pip[@]}" uninstall -y "${SAE_DASHBOARD_REMOVE[@]}" || true
    printf '%s\n' "$frozen_removed" >"$venv/.featurecard-removed"
  fi

  check_imports "$venv" "$module"
  if [[ $FREEZE -eq 1 ]]; then
    freeze "$name" "$venv"
    want="$(recipe_hash "$name" "${reqs[@]}")"
  fi
  printf '%s\n' "$want" >"$stamp"
  log "$name: built in $((SECONDS - t0)) s"
}

# Constraints = the working venv's pip freeze, minus torch (always the local wheel, passed
# explicitly) and minus pip itself; plus the packages we uninstall, so pip resolves the same.
freeze() {
  local name="$1" venv="$2"
  local out="$HERE/constraints-$name.txt"
  {
    echo "# Generated by benchmarks/peers/setup.sh --freeze from a working $name venv"
    echo "# ($("$venv/bin/python" -c 'import sys; print("Python", sys.version.split()[0])')). Do not edit by hand."
    echo "# torch is not listed: setup.sh always installs torch==2.13.0 (local CPU wheel)."
    {
      "$venv/bin/python" -m pip freeze --exclude-editable 2>/dev/null | grep -viE '^(torch|pip|setuptools|wheel)==' | grep -v ' @ '
      if [[ -f "$venv/.featurecard-removed" ]]; then grep -v '^$' "$venv/.featurecard-removed" || true; fi
    } | LC_ALL=C sort -f
  } >"$out"
  log "$name: wrote $(basename "$out") ($(grep -vc '^#' "$out") pins)"
}

build sae-vis sae_vis "${SAE_VIS_REQS[@]}"
build sae-dashboard sae_dashboard "${SAE_DASHBOARD_REQS[@]}"
log "done: $PEERS_DIR/{sae-vis,sae-dashboard}"
