#!/usr/bin/env bash
# The GPU check on a bare GPU machine that has Python with torch (CUDA), transformers, peft and
# accelerate, and no network. Two steps:
#
#   1. in this repository, with network:  benchmarks/gpu_check.sh fetch WHEELS
#      builds rldojo's wheel and downloads the wheels of its other dependencies (never torch,
#      transformers, peft or accelerate: the GPU machine has its own), plus mujoco (SAC HalfCheetah),
#      datasets and trl (the TRL row); copies this script and gpu_check.py into WHEELS.
#      PYTHON_VERSION=3.12 fetches for another Python than this one (binary wheels only).
#      DRY_RUN=1 only resolves and lists what would be fetched.
#   2. on the GPU machine, WHEELS copied there:  bash WHEELS/gpu_check.sh run WHEELS [gpu_check.py options]
#      installs everything from WHEELS offline into that Python (PYTHON, default python3; PIP_ARGS
#      are added to each pip install, e.g. --user), runs gpu_check.py and keeps its table in
#      WHEELS/gpu_check_<time>.txt. Exit code: gpu_check.py's (0 all passed, 1 a check failed).
set -euo pipefail

usage() { sed -n '2,14s/^# \{0,1\}//p' "$0" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
step=$1 wheels=$2
shift 2
python=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)

case $step in
fetch)
    repo=$(cd "$here/.." && pwd)
    mkdir -p "$wheels"
    # rldojo's own pins, minus what the GPU machine brings; box2d builds from source and is not needed.
    "$python" - "$repo/pyproject.toml" > "$wheels/requirements.txt" <<'EOF'
import re, sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
extras = project["optional-dependencies"]
preinstalled = {"torch", "transformers", "peft", "accelerate", "tokenizers"}
wanted = project["dependencies"] + extras["mujoco"] + [p for p in extras["llm"] if p.startswith("datasets")]
for pin in wanted:
    name = re.split(r"[\[=<>~ ]", pin)[0]
    if name not in preinstalled:
        print(pin.replace("classic-control,box2d", "classic-control"))
EOF
    trl=$(grep -o '"trl==[^"]*"' "$repo/pyproject.toml" | head -1 | tr -d '"')
    echo "$trl" > "$wheels/requirements-nodeps.txt"  # trl's own dependencies are the preinstalled ones
    target=()
    [[ -n ${PYTHON_VERSION:-} ]] && target=(--python-version "$PYTHON_VERSION" --only-binary=:all:)
    if [[ -n ${DRY_RUN:-} ]]; then
        "$python" -m pip install --dry-run --ignore-installed --quiet --report - "${target[@]}" \
            -r "$wheels/requirements.txt" |
            "$python" -c 'import json,sys; print("would fetch:", *sorted(i["metadata"]["name"] + "==" + i["metadata"]["version"] for i in json.load(sys.stdin)["install"]))'
        echo "and without dependencies: $trl; rldojo's wheel built from $repo"
        exit 0
    fi
    "$python" -m pip wheel --no-deps --wheel-dir "$wheels" "$repo"
    "$python" -m pip download --dest "$wheels" "${target[@]}" -r "$wheels/requirements.txt"
    "$python" -m pip download --dest "$wheels" "${target[@]}" --no-deps -r "$wheels/requirements-nodeps.txt"
    cp "$here/gpu_check.py" "$here/gpu_check.sh" "$wheels/"
    du -sh "$wheels"
    ;;
run)
    wheels=$(cd "$wheels" && pwd)
    read -r -a pip_args <<< "${PIP_ARGS:-}"
    "$python" -c 'import torch; assert torch.cuda.is_available(), f"torch {torch.__version__} sees no CUDA GPU"'
    install=("$python" -m pip install --no-index --find-links "$wheels" "${pip_args[@]}")
    "${install[@]}" -r "$wheels/requirements.txt"
    "${install[@]}" --no-deps "$wheels"/rldojo-*.whl
    "${install[@]}" --no-deps -r "$wheels/requirements-nodeps.txt" || echo "trl not installed: its row is skipped"
    out="$wheels/gpu_check_$(date -u +%Y%m%d-%H%M%S).txt"
    status=0
    MUJOCO_GL=${MUJOCO_GL:-egl} "$python" "$wheels/gpu_check.py" "$@" 2>&1 | tee "$out" || status=$?
    echo "table kept in $out"
    exit "$status"
    ;;
*) usage ;;
esac
