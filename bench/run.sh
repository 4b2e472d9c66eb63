#!/usr/bin/env bash
# Benchmark the gateway against nginx as a plain reverse proxy, side by side, on this machine.
#
# Usage: bench/run.sh [PROFILE[:interpreted] ...]      (default: core)
#   PROFILE is a policy in bench/policies/<PROFILE>.yaml; each is started on its own port,
#   pinned to CPU 1 like nginx-plain, forwarding to the upstream stub on 127.0.0.1:19081.
#   PROFILE:interpreted runs that gateway without the compiled extensions, so one run can
#   compare both builds. The name `floor` runs bench/floor_proxy.py instead: a bare
#   uvloop + httptools pass-through, the floor that the speed goals were set against.
# Environment: REPS (default 3) and DURATION (seconds per wrk run, default 8) go to the
# interleaved runner; RAW=file keeps one row per wrk run; BENCH_SCRIPT overrides the runner.
#
# The runner is bench_gateway.sh from the shared material beside this repository: it starts
# the upstream stub and nginx-plain, runs wrk against every target in rotated order, and prints
# medians and per-run ratios to nginx-plain (rps/ngx, p99/n, cpu/ngx).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
runner=${BENCH_SCRIPT:-$here/bench_gateway.sh}
[[ -x $runner || -f $runner ]] || { echo "benchmark runner not found: $runner" >&2; exit 2; }
for tool in nginx wrk taskset ss; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run 'make system' (installs nginx-light and wrk)" >&2; exit 2; }
done

profiles=("$@")
((${#profiles[@]})) || profiles=(core)
work=$(mktemp -d /tmp/apiward-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]:-}"; do [[ -n $pid ]] && kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:-}"; do [[ -n $pid ]] && wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

if grep -q '@JWT_PUBLIC_KEY@' $(printf "$here/policies/%s.yaml " "${profiles[@]%:interpreted}") 2>/dev/null; then
  # Every target, nginx-plain included, then gets the same RS256 token instead of the
  # workload's default HS256 one, so the requests stay alike.
  BENCH_AUTHORIZATION="Bearer $("$root/.venv/bin/python" "$here/jwt_token.py" "$work")"
  export BENCH_AUTHORIZATION
fi

wait_listening() { # $1 port, $2 label of the log to show when it does not start
  # Up to 120 s: a WAF profile compiles its signature database on a cold cache first.
  for _ in $(seq 1200); do
    ss -Hltn "sport = :$1" | grep -q . && return
    sleep 0.1
  done
  echo "$2 did not start:" >&2
  cat "$work/$2.log" >&2
  exit 1
}

targets=()
port=19090
for target in "${profiles[@]}"; do
  if [[ $target == floor ]]; then
    taskset -c 1 "$root/.venv/bin/python" "$here/floor_proxy.py" "$port" 19081 >"$work/floor.log" 2>&1 &
    pids+=($!)
    wait_listening "$port" floor
    targets+=("floor=http://127.0.0.1:$port")
    port=$((port + 1))
    continue
  fi
  profile=${target%:interpreted}
  source_policy=$here/policies/$profile.yaml
  [[ -f $source_policy ]] || { echo "unknown profile $profile (no $source_policy)" >&2; exit 2; }
  label=${target/:/-}
  policy=$work/$label.yaml
  sed -e "s/@PORT@/$port/g" -e "s/@ADMIN_PORT@/$((port + 100))/g" \
    -e "s|@JWT_PUBLIC_KEY@|$work/jwt-public.pem|g" "$source_policy" >"$policy"
  python_path=
  if [[ $target == *:interpreted ]]; then
    # A copy of the sources without the compiled extensions, first on the module path.
    python_path=$work/src-interpreted
    [[ -d $python_path ]] || { cp -r "$root/src" "$python_path"; find "$python_path" -name '*.so' -delete; }
  fi
  PYTHONPATH=$python_path taskset -c 1 "$root/.venv/bin/apiward" gateway --config "$policy" >"$work/$label.log" 2>&1 &
  pids+=($!)
  wait_listening "$port" "$label"
  targets+=("$label=http://127.0.0.1:$port")
  port=$((port + 1))
done

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -r)"
echo "# commit: $(git -C "$root" rev-parse --short HEAD)  profiles: ${profiles[*]}"
for target in "${targets[@]}"; do
  label=${target%%=*}
  [[ $label == floor ]] && continue
  echo "# $label: $(grep -h -o 'hot path [a-z]*' "$work/$label.log" || echo 'hot path unknown')"
done
bash "$runner" -r "${REPS:-3}" -d "${DURATION:-8}" "${targets[@]}"
