#!/usr/bin/env bash
# udp.sh - UDP loss: one python sender offers COUNT datagrams of 100
# bytes at a fixed rate to a listener on 127.0.0.1 that writes them to a
# file: ztpipe -u -l against nc -u -l (OpenBSD), ncat -u -l and socat.
#
# The sender is the same for every tool: it paces itself in 1 ms steps
# and reports the rate it really offered.  Delivered = bytes in the
# file / 100, counted once the file has stopped growing for 0.5 s.
#
# Environment: COUNT (default 200000), RATES (datagrams/s, default
# "25000 50000 100000 200000"), TOOLS (default "ztpipe nc ncat socat"),
# ZTPIPE (binary, default ../ztpipe, built with make when missing).
set -eu
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

COUNT=${COUNT:-200000}
RATES=${RATES:-25000 50000 100000 200000}
TOOLS=${TOOLS:-ztpipe nc ncat socat}
# shellcheck disable=SC2086 # RATES is a list
uints "$COUNT" $RATES || die "usage: [COUNT=n] [RATES='r1 r2'] $prog"
[ $# -eq 0 ] || die "usage: [COUNT=n] [RATES='r1 r2'] $prog"

bench_ztpipe
bench_install ss python3 timeout
bench_tools
bench_tmp ztudp

cat >"$tmp/send.py" <<'PY'
import socket, sys, time
port, count, rate = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", port))
msg = b"x" * 99 + b"\n"
step = max(1, rate // 1000)		# datagrams per 1 ms
sent, t0 = 0, time.perf_counter()
while sent < count:
    for _ in range(min(step, count - sent)):
        try:
            s.send(msg)
        except ConnectionRefusedError:	# a reader not yet there
            pass
        sent += 1
    ahead = t0 + sent / rate - time.perf_counter()
    if ahead > 0:
        time.sleep(ahead)
print("%.0f" % (count / (time.perf_counter() - t0)))
PY

# wait_udp PORT PID: until something is bound to UDP PORT.
wait_udp() {
	local i
	for i in $(seq 1 500); do
		[ -n "$(ss -Hlun "sport = :$1" 2>/dev/null)" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.01
	done
	return 1
}

# settle FILE: until FILE has not grown for 0.5 s (10 s at most).
settle() {
	local last=-1 now i
	for i in $(seq 1 20); do
		now=$(wc -c <"$1")
		[ "$now" = "$last" ] && return 0
		last=$now
		sleep 0.5
	done
}

results=$tmp/results.tsv
: >"$results"

# run_one TOOL RATE: one run; appends "tool rate offered delivered".
run_one() {
	local tool=$1 rate=$2 port rcv pid offered got
	port=$(python3 -c 'import socket; s = socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	case $tool in
	ztpipe) rcv=("$ZTPIPE" -u -l 127.0.0.1 "$port") ;;
	nc) rcv=("$NC" -d -u -l 127.0.0.1 "$port") ;;
	ncat) rcv=(ncat -u -l --recv-only 127.0.0.1 "$port") ;;
	socat) rcv=(socat -u "UDP-RECV:$port,bind=127.0.0.1" STDOUT) ;;
	esac
	timeout 120 "${rcv[@]}" </dev/null >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	bg_procs=$pid
	if ! wait_udp "$port" "$pid"; then
		fail "$tool: never bound port $port: $(cat "$tmp/err")"
		return 0
	fi
	offered=$(python3 "$tmp/send.py" "$port" "$COUNT" "$rate")
	settle "$tmp/out"
	kill_bg
	got=$(($(wc -c <"$tmp/out") / 100))
	printf '%s\t%s\t%s\t%s\n' "$tool" "$rate" "$offered" "$got" >>"$results"
	note "$(printf '%-6s %7s/s offered %7s/s: %6d of %d delivered' \
	    "$tool" "$rate" "$offered" "$got" "$COUNT")"
}

machine=$(machine_line)
versions=$(versions_line)
note "$machine"
for rate in $RATES; do
	for tool in "${tools[@]}"; do
		run_one "$tool" "$rate"
	done
done

echo "$machine"
echo "$versions"
echo "rmem_max $(cat /proc/sys/net/core/rmem_max 2>/dev/null || echo ?)," \
    "rmem_default $(cat /proc/sys/net/core/rmem_default 2>/dev/null || echo ?)"
python3 - "$results" "$COUNT" "${tools[@]}" <<'PY'
import sys
path, count, tools = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
rates = []
for r in rows:
    if r[1] not in rates:
        rates.append(r[1])
print()
print("%d datagrams of 100 bytes per run; each cell: datagrams/s "
      "delivered, loss" % count)
print()
print("| offered/s | " + " | ".join(tools) + " |")
print("|---:|" + "---:|" * len(tools))
for rate in rates:
    cells = []
    for t in tools:
        m = [r for r in rows if r[0] == t and r[1] == rate]
        if not m:
            cells.append("-")
            continue
        offered, got = float(m[0][2]), int(m[0][3])
        secs = count / offered
        cells.append("{:,.0f}, {:.1f} %".format(got / secs,
                     100.0 * (count - got) / count))
    print("| {:,} | ".format(int(rate)) + " | ".join(cells) + " |")
PY
