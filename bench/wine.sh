#!/usr/bin/env bash
# wine.sh [BYTES] - ztpipe.exe under wine against the native Linux build,
# in one run: BYTES (default 1 GiB) of /dev/zero over 127.0.0.1, from a
# sender's stdin to a receiver piped into wc -c, for native to native,
# ztpipe.exe sending to native, and native sending to ztpipe.exe; RUNS
# rounds (default 3), the order rotating, the median printed.  What the
# wine rows measure is wine (every socket call a round trip to
# wineserver) and the relay threads, not Windows.  Needs make windows,
# and wine (apt-get install wine wine64).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
BYTES=${1:-1073741824}
RUNS=${RUNS:-3}
make -s -C "$root" ztpipe ztpipe.exe >&2
export WINEPREFIX=${WINEPREFIX:-$root/wine-prefix} WINEDEBUG=-all
wine "$root/ztpipe.exe" -V >/dev/null 2>&1 || { echo "wine.sh: wine cannot run ztpipe.exe" >&2; exit 2; }
native=$root/ztpipe exe=$root/test/wine-ztpipe

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# one SENDER RECEIVER: prints the MB/s of one transfer, or FAILED.
one() {
	local port got t0 t1 rpid
	port=$(free_port)
	got=$(mktemp)
	("$2" -l 127.0.0.1 "$port" </dev/null | wc -c >"$got") &
	rpid=$!
	for _ in $(seq 200); do	# until it listens (ss: a probe would be its peer)
		[ -n "$(ss -Hltn "sport = :$port")" ] && break
		sleep 0.05
	done
	t0=$(date +%s.%N)
	head -c "$BYTES" /dev/zero | timeout 600 "$1" 127.0.0.1 "$port" >/dev/null
	wait "$rpid"
	t1=$(date +%s.%N)
	if [ "$(cat "$got")" = "$BYTES" ]; then
		echo "$BYTES $t0 $t1" | awk '{ printf "%.0f\n", $1 / 1e6 / ($3 - $2) }'
	else
		echo FAILED
	fi
	rm -f "$got"
}

declare -A res
names=("native to native" "ztpipe.exe to native" "native to ztpipe.exe")
senders=("$native" "$exe" "$native")
receivers=("$native" "$native" "$exe")
for ((r = 0; r < RUNS; r++)); do
	for ((k = 0; k < 3; k++)); do
		i=$(((k + r) % 3))
		v=$(one "${senders[i]}" "${receivers[i]}")
		echo "wine.sh: [$((r + 1))/$RUNS] ${names[i]}: $v MB/s" >&2
		res[$i]="${res[$i]:-} $v"
	done
done
echo "| $BYTES bytes of zeros over 127.0.0.1, median of $RUNS | MB/s |"
echo "|---|---:|"
for ((i = 0; i < 3; i++)); do
	echo "| ${names[i]} | $(tr ' ' '\n' <<<"${res[$i]}" | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }') |"
done
