#!/usr/bin/env bash
# Install the system packages the tests need and start the Redis server they use, when missing.
# Idempotent: on a machine that has everything it only checks.
set -euo pipefail

packages=()
command -v redis-server >/dev/null || packages+=(redis-server)
command -v chromium >/dev/null || packages+=(chromium)
command -v nginx >/dev/null || packages+=(nginx-light)
command -v wrk >/dev/null || packages+=(wrk)

if ((${#packages[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing system packages: ${packages[*]}; install them with: sudo apt-get install ${packages[*]}" >&2
    exit 1
  fi
  echo "installing system packages: ${packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting redis-server on 127.0.0.1:6379"
  mkdir -p /tmp/apiward-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/apiward-redis --logfile /tmp/apiward-redis/redis.log
  for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null
fi
