#!/usr/bin/env bash
# throughput.sh [BYTES] - bulk one-way TCP throughput over 127.0.0.1:
# ztpipe against nc (OpenBSD), ncat and socat, plus a pipe-only reference.
#
# For each payload (zero, random) and RUNS rounds, every tool moves BYTES
# from a sender to a one-shot receiver whose stdout goes to `wc -c`; the tool
# order rotates each round.  Wall time runs from sender start to receiver
# exit; CPU and peak RSS come from /usr/bin/time around each tool process.
#
# Environment: RUNS (default 5), TIMEOUT (seconds per process, default
# 60 + BYTES/20MB), TOOLS (default "ztpipe nc ncat socat"), ZTPIPE (binary,
# default ../ztpipe, built with make when missing or stale).
set -eu
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
usage() { die "usage: [RUNS=n] $prog [BYTES]"; }

N=${1:-2147483648}
RUNS=${RUNS:-5}
uints "$N" "$RUNS" || usage
if [ "$N" -eq 0 ] || [ "$RUNS" -eq 0 ]; then usage; fi
[ $# -le 1 ] || usage
TMO=${TIMEOUT:-$((60 + N / 20000000))}
TOOLS=${TOOLS:-ztpipe nc ncat socat}

bench_ztpipe
bench_install /usr/bin/time ss pkill python3 timeout
bench_tools
tools+=(pipe) # the no-network reference

# --- temp files and cleanup --------------------------------------------------

bench_tmp ztbench

results=$tmp/results.tsv
: >"$results"
failures=0

# run_one KIND TOOL ROUND: one transfer; appends a line to $results.
run_one() {
	local kind=$1 tool=$2 round=$3
	local d=$tmp/run port="" start end rpid spid ok=1 cnt src rrc
	local feed rcv snd
	local T=(timeout "$TMO" /usr/bin/time -f '%e %U %S %M')
	rm -rf "$d"
	mkdir "$d"
	case $kind in
	zero) feed=(head -c "$N" /dev/zero) ;;
	random) feed=(cat "$rfile") ;;
	esac

	if [ "$tool" = pipe ]; then
		start=$EPOCHREALTIME
		(
			set +e
			"${feed[@]}" | "${T[@]}" -o "$d/st" cat |
				"${T[@]}" -o "$d/rt" cat | wc -c >"$d/count"
			st=("${PIPESTATUS[@]}")
			echo "${st[1]}" >"$d/src"
			echo "${st[2]}" >"$d/rrc"
		) &
		spid=$!
		bg_pids=$spid
		wait "$spid" || true
		end=$EPOCHREALTIME
	else
		case $tool in
		ztpipe) rcv=("$ZTPIPE" -l -v 127.0.0.1 0) ;;
		nc) port=$(free_port); rcv=("$NC" -l 127.0.0.1 "$port") ;;
		ncat) port=$(free_port); rcv=(ncat -l --recv-only 127.0.0.1 "$port") ;;
		socat) port=$(free_port); rcv=(socat -u "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" STDOUT) ;;
		esac
		(
			set +e
			"${T[@]}" -o "$d/rt" "${rcv[@]}" </dev/null 2>"$d/rerr" | wc -c >"$d/count"
			echo "${PIPESTATUS[0]}" >"$d/rrc"
		) &
		rpid=$!
		bg_pids=$rpid
		if [ "$tool" = ztpipe ]; then
			port=$(wait_ztpipe_port "$d/rerr" "$rpid") || port=""
		else
			wait_listen "$port" "$rpid" || port=""
		fi
		if [ -z "$port" ]; then
			kill_bg
			fail "$kind round $round $tool: receiver never listened: $(cat "$d/rerr" 2>/dev/null)"
			failures=$((failures + 1))
			printf '%s\t%s\t%s\t0\n' "$kind" "$tool" "$round" >>"$results"
			return 0
		fi
		case $tool in
		ztpipe) snd=("$ZTPIPE" 127.0.0.1 "$port") ;;
		nc) snd=("$NC" -N 127.0.0.1 "$port") ;;
		ncat) snd=(ncat --send-only 127.0.0.1 "$port") ;;
		socat) snd=(socat -u STDIN "TCP:127.0.0.1:$port") ;;
		esac
		start=$EPOCHREALTIME
		(
			set +e
			"${feed[@]}" | "${T[@]}" -o "$d/st" "${snd[@]}" >/dev/null 2>"$d/serr"
			echo "${PIPESTATUS[1]}" >"$d/src"
		) &
		spid=$!
		bg_pids="$rpid $spid"
		wait "$spid" || true
		wait "$rpid" || true
		end=$EPOCHREALTIME
	fi
	bg_pids=""

	cnt=$(tr -d ' \n' <"$d/count" 2>/dev/null) || cnt=""
	src=$(cat "$d/src" 2>/dev/null) || src=""
	rrc=$(cat "$d/rrc" 2>/dev/null) || rrc=""
	local sres rres
	sres=$(tail -n 1 "$d/st" 2>/dev/null) || sres=""
	rres=$(tail -n 1 "$d/rt" 2>/dev/null) || rres=""
	if [ "$cnt" != "$N" ]; then
		ok=0
		fail "$kind round $round $tool: receiver got ${cnt:-?} bytes, expected $N"
	fi
	if [ "$src" != 0 ] || [ "$rrc" != 0 ]; then
		ok=0
		fail "$kind round $round $tool: exit status sender ${src:-?} receiver ${rrc:-?}" \
			"$(cat "$d/serr" "$d/rerr" 2>/dev/null | tail -n 5)"
	fi
	case $sres$rres in *[!0-9.\ ]* | '') ok=0 ;; esac
	# shellcheck disable=SC2086 # word splitting of the time fields is intended
	set -- $sres $rres
	[ $# -eq 8 ] || { ok=0; set -- 0 0 0 0 0 0 0 0; }
	[ "$ok" -eq 1 ] || failures=$((failures + 1))
	local wall
	wall=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.6f", e - s }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$tool" "$round" "$ok" \
		"$wall" "$2" "$3" "$4" "$6" "$7" "$8" >>"$results"
	awk -v k="$kind" -v t="$tool" -v r="$round" -v R="$RUNS" -v w="$wall" -v n="$N" \
		-v c="$(awk -v a="$2" -v b="$3" -v x="$6" -v y="$7" 'BEGIN { print a + b + x + y }')" \
		-v ok="$ok" 'BEGIN {
			printf "[%s %d/%d] %-6s %8.3f s %9.1f MB/s  cpu %6.2f s%s\n",
				k, r, R, t, w, n / 1e6 / w, c, ok ? "" : "  FAILED"
		}' >&2
}

# --- machine and payloads ----------------------------------------------------

machine=$(machine_line)
versions=$(versions_line)

kinds=(zero)
avail_k=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
if [ $((N / 1024 + 262144)) -gt "${avail_k:-0}" ]; then
	note "NOTICE: skipping the random payload: not enough space in $tmp for $N bytes"
else
	rfile=$tmp/random.bin
	note "generating $N random bytes in $rfile"
	(
		if have openssl; then
			# AES-128-CTR keystream under a random key: incompressible, fast.
			openssl enc -aes-128-ctr -nosalt -K "$(openssl rand -hex 16)" \
				-iv "$(openssl rand -hex 16)" -in /dev/zero 2>/dev/null |
				head -c "$N" >"$rfile"
		else
			head -c "$N" /dev/urandom >"$rfile"
		fi
	) &
	bg_pids=$!
	wait "$bg_pids" || true
	bg_pids=""
	[ "$(wc -c <"$rfile")" -eq "$N" ] || die "could not generate $rfile"
	cat "$rfile" >/dev/null # warm the page cache
	kinds+=(random)
fi

note "$machine"
note "$N bytes, $RUNS rounds, tools: ${tools[*]}, timeout ${TMO}s per process"

# --- runs ------------------------------------------------------------------

nt=${#tools[@]}
for kind in "${kinds[@]}"; do
	for round in $(seq 1 "$RUNS"); do
		for i in $(seq 0 $((nt - 1))); do
			run_one "$kind" "${tools[$(((i + round - 1) % nt))]}" "$round"
		done
	done
done

# --- report ----------------------------------------------------------------

echo "$machine"
echo "$versions"
python3 - "$results" "$N" "$RUNS" "${tools[@]}" <<'PY'
import statistics
import sys

path, n, runs, tools = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
rows = [line.rstrip("\n").split("\t") for line in open(path) if line.strip()]
gib = n / 2**30
label = {"pipe": "pipe (no net)"}

def fmt(x, spec):
    return "-" if x is None else format(x, spec)

for kind in ("zero", "random"):
    krows = [r for r in rows if r[0] == kind]
    if not krows:
        continue
    stats = {}
    for t in tools:
        runs_t = [r for r in krows if r[1] == t]
        good = [list(map(float, r[4:11])) for r in runs_t if r[3] == "1"]
        s = {"ok": len(good), "n": len(runs_t), "failed": len(good) != len(runs_t)}
        if good:
            wall = statistics.median(g[0] for g in good)
            cpu = statistics.median(g[1] + g[2] + g[4] + g[5] for g in good)
            s.update(wall=wall, mbs=n / 1e6 / wall, cpu=cpu, cpug=cpu / gib,
                     rss_s=int(max(g[3] for g in good)),
                     rss_r=int(max(g[6] for g in good)))
        stats[t] = s
    base_mbs = stats.get("ztpipe", {}).get("mbs")
    base_cpu = stats.get("nc", {}).get("cpug")
    head = ["tool", "runs ok", "wall s", "MB/s", "CPU s", "CPU s/GiB",
            "RSS snd KiB", "RSS rcv KiB", "MB/s vs ztpipe", "CPU/GiB vs nc"]
    table = []
    for t in tools:
        s = stats[t]
        ok = "%d/%d%s" % (s["ok"], s["n"], " FAILED" if s["failed"] else "")
        mbs, cpug = s.get("mbs"), s.get("cpug")
        table.append([
            label.get(t, t), ok, fmt(s.get("wall"), ".3f"), fmt(mbs, ".0f"),
            fmt(s.get("cpu"), ".2f"), fmt(cpug, ".2f"),
            fmt(s.get("rss_s"), "d"), fmt(s.get("rss_r"), "d"),
            fmt(mbs / base_mbs if mbs and base_mbs else None, ".2f"),
            fmt(cpug / base_cpu if cpug and base_cpu else None, ".2f"),
        ])
    payload = "/dev/zero" if kind == "zero" else "random file"
    title = "payload %s: %d bytes (%s), %d rounds, medians" % (kind, n, payload, runs)
    print()
    print(title)
    widths = [max(len(r[i]) for r in table + [head]) for i in range(len(head))]
    line = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
    print(line(head))
    for r in table:
        print(line(r))
    ranked = [t for t in tools if t != "pipe" and not stats[t]["failed"]
              and stats[t].get("mbs")]
    if ranked:
        best = max(ranked, key=lambda t: stats[t]["mbs"])
        print("fastest (all runs ok): %s, %.0f MB/s" % (best, stats[best]["mbs"]))
    bad = [t for t in tools if stats[t]["failed"]]
    if bad:
        print("FAILED runs: " + ", ".join(bad))
    print()
    print("**%s**" % title)
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join([":---", ":---"] + ["---:"] * (len(head) - 2)) + "|")
    for r in table:
        print("| " + " | ".join(r) + " |")
PY

if [ "$failures" -gt 0 ]; then
	note "$failures run(s) FAILED"
	exit 1
fi
