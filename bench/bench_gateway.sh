#!/usr/bin/env bash
# bench_gateway.sh - throughput/latency of HTTP proxies relative to plain nginx, measured
# side by side (interleaved) on this machine, so the result is a ratio, not an absolute.
#
# Usage: tools/bench_gateway.sh [-r REPS] [-d SECONDS] [NAME=]TARGET_URL ...
#        tools/bench_gateway.sh -s RAWFILE [NAME=]TARGET_URL ...   (re-print a saved run)
#   TARGET_URL  http://127.0.0.1:PORT of a proxy YOU started that forwards to the upstream
#               stub 127.0.0.1:19081. Start it pinned to CPU 1: `taskset -c 1 <proxy> &`.
#               Loopback only; http://127.0.0.1:19081 itself measures "no proxy".
#               NAME (optional) labels the row, e.g. mygw=http://127.0.0.1:19090
#   -r REPS     repetitions (default 3); -d SECONDS per wrk run (default 8)
#   RAW=file    env: also write one row per wrk run (tsv) to file
#   BENCH_AUTHORIZATION  env: the Authorization header value of every request (default: the
#               HS256 bearer token of the shared workload); apiward's access profile sets an
#               RS256 token its policy can verify
#
# What it does:
#   * starts, unless already listening, the upstream stub (nginx, 1 worker, CPU 0, :19081,
#     200 + small JSON) and nginx-plain (nginx reverse proxy, 1 worker, CPU 1, :19082,
#     upstream keepalive) from the configs below; stops only what it started;
#   * workloads: GET  /api/v1/items/42?sort=asc&limit=10 (+5 headers incl. a JWT bearer)
#                POST /api/v1/orders with a 1024-byte JSON body
#   * wrk -t1 -c64 -dSECONDS --timeout 10s --latency, pinned to CPU 0; per rep and
#     workload, nginx-plain and every target run one after another, order rotated each
#     rep; a 2 s warm-up of each first;
#   * prints, per workload and config: median [min-max] over reps of rps, p50, p99 (ms);
#     rps/ngx and p99/n: median [min-max] of the per-rep ratio target/nginx-plain (paired
#     runs, so slow phases of other load on the machine cancel out); cpu/r: median CPU
#     microseconds per request of the target's processes (those holding its listening
#     socket, per ss -p; for :19081 that is the upstream) and its per-rep ratio to
#     nginx-plain; core%: rps x cpu/r, how busy the target kept its core (near 100 =>
#     the target was the bottleneck; well below => the rps ratio understates gaps, so
#     compare cpu/ngx); errs: non-2xx responses + socket errors over all runs.
#     RAW rows also hold the busy% of CPU 1 (all processes on it, other users included).
set -euo pipefail
usage() { awk 'NR>1 && /^#/{print; next} NR>1{exit}' "$0"; exit 2; }
REPS=3; DUR=8; SAVED=
while getopts "r:d:s:h" o; do
  case $o in r) REPS=$OPTARG;; d) DUR=$OPTARG;; s) SAVED=$OPTARG;; *) usage;; esac
done
shift $((OPTIND-1))
[ $# -ge 1 ] || usage
TARGETS=(http://127.0.0.1:19082); LABELS=(nginx-plain)
for a in "$@"; do
  u=${a#*=}; [ "$u" = "$a" ] && l=$u || l=${a%%=*}
  [[ $u =~ ^http://127\.0\.0\.1:[0-9]+/?$ ]] || { echo "refusing non-loopback target: $u" >&2; exit 2; }
  TARGETS+=("$u"); LABELS+=("$l")
done
for t in nginx wrk taskset ss; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 2; }; done

W=$(mktemp -d /tmp/bench-gw.XXXXXX)
STARTED=()
cleanup() { for p in "${STARTED[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT

listening() { ss -Hltn "sport = :$1" | grep -q .; }
nginx_conf() { # $1 name, $2 port, $3 location body
  cat >"$W/$1.conf" <<EOF
worker_processes 1; pid $W/$1.pid; error_log $W/$1-error.log warn;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  client_body_temp_path $W/$1-b; proxy_temp_path $W/$1-p; fastcgi_temp_path $W/$1-f;
  uwsgi_temp_path $W/$1-u; scgi_temp_path $W/$1-s;
  upstream backend { server 127.0.0.1:19081; keepalive 64; keepalive_requests 1000000; }
  server { listen 127.0.0.1:$2; location / { $3 } }
}
EOF
}
start_nginx() { # $1 name, $2 port, $3 cpu
  if listening "$2"; then echo "# :$2 already listening, using it as $1"; return; fi
  taskset -c "$3" nginx -p "$W/" -e "$W/$1-error.log" -c "$W/$1.conf" -g 'daemon off;' &
  STARTED+=($!)
  for _ in $(seq 50); do listening "$2" && return; sleep 0.1; done
  echo "could not start $1 on :$2" >&2; exit 1
}
HZ=$(getconf CLK_TCK)
cpu1() { awk '$1=="cpu1"{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
port_pids() { ss -Hltnp "sport = :${1##*:}" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u; }
ticks() { local t=0 p; for p in $1; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }
run() { # $1 url, $2 workload, $3 seconds -> "rps p50 p99 non2xx sockerr cpu1busy% cpu_us_per_req"
  local pids a b ta tb r
  pids=$(port_pids "${1%/}"); a=$(cpu1); ta=$(ticks "$pids")
  r=$(taskset -c 0 wrk -t1 -c64 -d"${3}s" --timeout 10s --latency -s "$W/$2.lua" "$1" | awk '/^RESULT/{print $2,$3,$4,$5,$6,$7}')
  b=$(cpu1); tb=$(ticks "$pids")
  echo "$r $a $b $ta $tb" | awk -v hz="$HZ" '{printf "%s %s %s %s %s %.0f %.1f\n", $1,$2,$3,$4,$5,
    100*($9-$7)/(($10-$8)>0?($10-$8):1), ($6>0 ? ($12-$11)*1e6/hz/$6 : 0)}'
}

measure() {  # start upstream + nginx-plain if needed, write wrk scripts, run the loop
nginx_conf upstream 19081 "default_type application/json; return 200 '{\"id\":42,\"name\":\"widget\",\"price\":9.99,\"tags\":[\"a\",\"b\"],\"in_stock\":true}\n';"
nginx_conf nginx-plain 19082 'proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";'
start_nginx upstream 19081 0
start_nginx nginx-plain 19082 1

cat >"$W/common.lua" <<'EOF'
wrk.headers["Host"] = "api.example.test"
wrk.headers["User-Agent"] = "bench-client/1.0"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = "@AUTHORIZATION@"
wrk.headers["X-Request-Id"] = "6f1c2b8e-5d0a-4c1e-9a57-3b2f8e4d7c10"
done = function(s, lat, req)
  local e = s.errors
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d %d\n", s.requests / (s.duration / 1e6),
    lat:percentile(50) / 1000, lat:percentile(99) / 1000, e.status,
    e.connect + e.read + e.write + e.timeout, s.requests))
end
EOF
sed -i "s|@AUTHORIZATION@|${BENCH_AUTHORIZATION:-Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIiwic2NvcGUiOiJpdGVtczpyZWFkIG9yZGVyczp3cml0ZSIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjoxODkzNDU2MDAwfQ.aVuQCMybl1dpnHexWK-dJOA6rK2zvdaRzNg_ogUyI2g}|" "$W/common.lua"
{ cat "$W/common.lua"; cat <<'EOF'; } >"$W/get.lua"
wrk.method = "GET"
wrk.path = "/api/v1/items/42?sort=asc&limit=10"
EOF
{ cat "$W/common.lua"; cat <<'EOF'; } >"$W/post.lua"
wrk.method = "POST"
wrk.path = "/api/v1/orders"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"customer_id":"c-1029384","currency":"EUR","items":[{"sku":"SKU-0001","qty":2,"price":10.5,"gift_wrap":false},{"sku":"SKU-0002","qty":3,"price":11.5,"gift_wrap":false},{"sku":"SKU-0003","qty":1,"price":12.5,"gift_wrap":false},{"sku":"SKU-0004","qty":2,"price":13.5,"gift_wrap":false},{"sku":"SKU-0005","qty":3,"price":14.5,"gift_wrap":false},{"sku":"SKU-0006","qty":1,"price":15.5,"gift_wrap":false},{"sku":"SKU-0007","qty":2,"price":16.5,"gift_wrap":false},{"sku":"SKU-0008","qty":3,"price":17.5,"gift_wrap":false},{"sku":"SKU-0009","qty":1,"price":18.5,"gift_wrap":false},{"sku":"SKU-0010","qty":2,"price":19.5,"gift_wrap":false},{"sku":"SKU-0011","qty":3,"price":20.5,"gift_wrap":false},{"sku":"SKU-0012","qty":1,"price":21.5,"gift_wrap":false},{"sku":"SKU-0013","qty":2,"price":22.5,"gift_wrap":false},{"sku":"SKU-0014","qty":3,"price":23.5,"gift_wrap":false}],"shipping":{"name":"Jane Doe","street":"1 Example Road","city":"Springfield","zip":"12345","country":"DE"},"coupon":null,"comment":"leave at door"}'
wrk.body = wrk.body:sub(1, -3) .. string.rep(" ", 1024 - #wrk.body) .. '"}'
EOF

echo "# warm-up (2 s each)"
for wl in get post; do for t in "${TARGETS[@]}"; do run "$t" $wl 2 >/dev/null; done; done
: >"$W/raw"
n=${#TARGETS[@]}
for rep in $(seq 1 "$REPS"); do
  for wl in get post; do
    for i in $(seq 0 $((n-1))); do
      t=${TARGETS[$(( (i + rep - 1) % n ))]}
      echo "$rep $wl $t $(run "$t" $wl "$DUR")" | tee -a "$W/raw" | sed 's/^/# /'
    done
  done
done
if [ -n "${RAW:-}" ]; then
  echo "rep workload target rps p50_ms p99_ms non2xx sock_errs cpu1_busy_pct target_cpu_us_per_req" >"$RAW"
  cat "$W/raw" >>"$RAW"
fi
}

summarize() {  # per workload x target: medians, ranges, paired ratios to nginx-plain
awk -v order="${TARGETS[*]}" -v labels="${LABELS[*]}" -v reps="$REPS" '
function srt(s,a,  n,i,j,t){n=split(s,a," ");for(i=1;i<=n;i++)for(j=i+1;j<=n;j++)if(a[j]+0<a[i]+0){t=a[i];a[i]=a[j];a[j]=t};return n}
function med(s,  a,n){n=srt(s,a);return n%2?a[(n+1)/2]:(a[n/2]+a[n/2+1])/2}
function rng(s,f,  a,n){n=srt(s,a);return sprintf("[" f "-" f "]",a[1],a[n])}
function f(x){return sprintf(x<0.1?"%.3f":"%.2f",x)}
function fr(s,  a,n){n=srt(s,a);return "[" f(a[1]) "-" f(a[n]) "]"}
function pr(x,w,t,  r,s){s="";for(r=1;r<=reps;r++)if(x[w,T[1],r]>0)s=s" "x[w,t,r]/x[w,T[1],r];return s}
{R[$2,$3,$1]=$4; P5[$2,$3,$1]=$5; P9[$2,$3,$1]=$6; U[$2,$3,$1]=$10; E[$2,$3]+=$7+$8}
END{nt=split(order,T," "); split(labels,L," "); split("get post",WL," ")
  printf "%-5s %-16s %6s %-13s %6s %7s %-13s %-20s %5s %5s %-20s %5s %s\n","load","target","rps","[min-max]",
    "p50ms","p99ms","[min-max]","rps/ngx[min-max]","p99/n","cpu/r","cpu/ngx[min-max]","core%","errs"
  for(w=1;w<=2;w++)for(i=1;i<=nt;i++){t=T[i];r5=p5=p9=u=c="";for(r=1;r<=reps;r++){k=WL[w] SUBSEP t SUBSEP r
      r5=r5" "R[k];p5=p5" "P5[k];p9=p9" "P9[k];u=u" "U[k];c=c" "R[k]*U[k]/1e4}
    rr=pr(R,WL[w],t); rp=pr(P9,WL[w],t); ru=pr(U,WL[w],t)
    printf "%-5s %-16s %6.0f %-13s %6.2f %7.2f %-13s %-20s %5.2f %5.0f %-20s %5.0f %d\n",WL[w],L[i],med(r5),rng(r5,"%.0f"),
      med(p5),med(p9),rng(p9,"%.0f"),f(med(rr)) " " fr(rr),med(rp),med(u),f(med(ru)) " " fr(ru),med(c),E[WL[w],t]}}' "$W/raw"
}

if [ -n "$SAVED" ]; then  # summary of a saved RAW file only
  grep -v '^rep ' "$SAVED" >"$W/raw"; REPS=$(awk 'BEGIN{m=0}{if($1>m)m=$1}END{print m}' "$W/raw")
  summarize; exit
fi

measure
summarize
