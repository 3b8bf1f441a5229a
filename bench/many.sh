#!/usr/bin/env bash
# many.sh [CLIENTS] [LINES] - many clients at once into one listener over
# 127.0.0.1: ztpipe -lk, which merges whole lines, against ncat -lk.
#
# Makes CLIENTS files of LINES lines once ("c%03d %06d " and a filler of
# 0-200 bytes whose lengths are seeded per client).  For each tool, starts
# the listener (stdin </dev/null, stdout to a file) under /usr/bin/time,
# starts the CLIENTS clients at once (`ztpipe 127.0.0.1 PORT < file`, for
# every tool, so only the listener differs), waits for them and for the
# output to reach the size of the input (bounded: 10 s without growth), then
# sends SIGTERM to the listener itself (the child of time, not time).
# Wall time runs from the first client's start to the last write to the
# output (its mtime); CPU and peak RSS are the listener's only.
#
# The output is then checked line by line against the generated lines: a
# line that is not exactly one of them is torn; a generated line never seen
# is missing; one seen twice is extra; a client's line seen after a later
# one of the same client is out of order.  ztpipe must deliver exactly
# CLIENTS*LINES lines, all intact and in order per client, exit 0 on SIGTERM
# and stay under the peak RSS target (16 MiB); otherwise the script fails.
# ncat tearing lines is what it shows, not a failure.
#
# MODE=conns opens the CLIENTS connections at once from one python process
# instead (each sends its file, then half-closes), so that the listener
# holds them all open together: the load that shows per-connection memory
# and per-round scanning.
#
# Environment: TIMEOUT (seconds per process, default 300), TOOLS (default
# "ztpipe ncat", the only two), ZTPIPE (binary, default ../ztpipe, built
# with make when missing or stale), MODE (procs, the default, or conns).
set -eu
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
usage() { die "usage: $prog [CLIENTS] [LINES]"; }

CLIENTS=${1:-200}
LINES=${2:-10000}
TMO=${TIMEOUT:-300}
uints "$CLIENTS" "$LINES" "$TMO" || usage
if [ "$CLIENTS" -eq 0 ] || [ "$LINES" -eq 0 ]; then usage; fi
[ $# -le 2 ] || usage
TOOLS=${TOOLS:-ztpipe ncat}
MODE=${MODE:-procs}
ulimit -n 8192 2>/dev/null || true
case $MODE in procs | conns) ;; *) die "MODE is procs or conns" ;; esac
for t in $TOOLS; do
	case $t in ztpipe | ncat) ;; *) die "unknown tool $t (many.sh runs ztpipe and ncat)" ;; esac
done
RSS_TARGET_KIB=16384 # 16 MiB
MAXCONNS=$((CLIENTS + 10))
STALL=100 # polls of 0.1 s without output growth before giving up

bench_ztpipe
bench_install /usr/bin/time ss pkill pgrep python3 timeout
bench_tools
[ ${#tools[@]} -gt 0 ] || die "no tool to measure"

bench_tmp ztmany

results=$tmp/results.tsv
: >"$results"
failures=0

# --- the lines: made once, checked against afterwards ---------------------

cat >"$tmp/lines.py" <<'PY'
"""gen CLIENTS LINES DIR: write DIR/c000... and print their total size.
check CLIENTS LINES FILE: compare FILE with those lines; print
"lines intact torn missing extra reordered" and up to 3 torn lines on
stderr."""
import array
import os
import random
import re
import sys

POOL_N = 4096
MAXLEN = 200
_r = random.Random(20240229)
POOL = bytes(_r.choice(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       b"0123456789 .,;:-_+=/()[]{}<>!?*&%$#@~'\"")
             for _ in range(POOL_N + MAXLEN))


def plan(c, lines):
    """Filler lengths and pool offsets of client c's lines, seeded per client."""
    rng = random.Random(1000003 * (c + 1))
    lens, offs = array.array("B"), array.array("H")
    for _ in range(lines):
        lens.append(rng.randint(0, MAXLEN))
        offs.append(rng.randrange(POOL_N))
    return lens, offs


def line(c, s, n, o):
    return b"c%03d %06d %s\n" % (c, s, POOL[o:o + n])


def gen(clients, lines, outdir):
    os.makedirs(outdir, exist_ok=True)
    total = 0
    for c in range(clients):
        lens, offs = plan(c, lines)
        data = b"".join(line(c, s, lens[s], offs[s]) for s in range(lines))
        with open(os.path.join(outdir, "c%03d" % c), "wb") as f:
            f.write(data)
        total += len(data)
    print(total)


def check(clients, lines, path):
    plans = [plan(c, lines) for c in range(clients)]
    seen = [bytearray(lines) for _ in range(clients)]
    last = [-1] * clients
    rx = re.compile(rb"c(\d{3,}) (\d{6,}) ")
    n = intact = torn = extra = reordered = 0
    shown = 0
    with open(path, "rb") as f:
        for ln in f:
            n += 1
            m = rx.match(ln)
            if m:
                c, s = int(m.group(1)), int(m.group(2))
                if c < clients and s < lines:
                    lens, offs = plans[c]
                    if ln == line(c, s, lens[s], offs[s]):
                        intact += 1
                        if seen[c][s]:
                            extra += 1
                            seen[c][s] = min(255, seen[c][s] + 1)
                            continue
                        seen[c][s] = 1
                        if s < last[c]:
                            reordered += 1
                        last[c] = max(last[c], s)
                        continue
            torn += 1
            if shown < 3:
                shown += 1
                print("  torn line %d (%d bytes): %r" % (n, len(ln), ln[:100]),
                      file=sys.stderr)
    missing = sum(row.count(0) for row in seen)
    print(n, intact, torn, missing, extra, reordered)


if __name__ == "__main__":
    cmd, clients, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    {"gen": gen, "check": check}[cmd](clients, lines, sys.argv[4])
PY

cat >"$tmp/conns.py" <<'PY'
"""conns PORT CLIENTS DIR: open CLIENTS connections to 127.0.0.1:PORT at
once, send DIR/c000... over them together, half-close each when its file is
out, and read each to EOF.  Exit 1 if any connection failed."""
import os
import selectors
import socket
import sys

port, clients, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sel = selectors.DefaultSelector()
left = 0
for c in range(clients):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    data = memoryview(open(os.path.join(d, "c%03d" % c), "rb").read())
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, [data, 0])
    left += 1
failed = 0
while left:
    for key, ev in sel.select():
        s, st = key.fileobj, key.data
        try:
            if ev & selectors.EVENT_WRITE:
                st[1] += s.send(st[0][st[1]:st[1] + 65536])
                if st[1] == len(st[0]):
                    s.shutdown(socket.SHUT_WR)
                    sel.modify(s, selectors.EVENT_READ, st)
            if ev & selectors.EVENT_READ and s.recv(65536) == b"" \
                    and st[1] == len(st[0]):
                sel.unregister(s)
                s.close()
                left -= 1
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:
            print("connection failed: %s" % e, file=sys.stderr)
            failed += 1
            sel.unregister(s)
            s.close()
            left -= 1
sys.exit(1 if failed else 0)
PY

# --- one tool ----------------------------------------------------------------

fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }
since() { awk -v s="$1" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.2f", e - s }'; }

# run_many TOOL: the whole load through TOOL's listener; appends a line to
# $results.
run_many() {
	local tool=$1 d=$tmp/$1 port="" lpid tpid="" zpid="" i p f ok=1
	local start started end size prev=-1 still=0 cfail=0 lrc chk tres wall cerr
	local out=$tmp/$1/out rcv cpids=()
	mkdir "$d"
	case $tool in
	ztpipe) rcv=("$ZTPIPE" -lk -v -m "$MAXCONNS" 127.0.0.1 0) ;;
	# ncat serves 100 peers at most by default.
	ncat) port=$(free_port); rcv=(ncat -lk -m "$MAXCONNS" 127.0.0.1 "$port") ;;
	esac
	timeout "$TMO" /usr/bin/time -f '%e %U %S %M' -o "$d/time" "${rcv[@]}" \
		</dev/null >"$out" 2>"$d/err" &
	lpid=$!
	bg_procs=$lpid
	if [ "$tool" = ztpipe ]; then
		port=$(wait_ztpipe_port "$d/err" "$lpid") || port=""
	else
		wait_listen "$port" "$lpid" || port=""
	fi
	# SIGTERM goes to the tool itself: timeout -> time -> tool.
	if [ -n "$port" ]; then
		for i in $(seq 1 500); do
			tpid=$(pgrep -P "$lpid" | head -n 1) || tpid=""
			[ -z "$tpid" ] || zpid=$(pgrep -P "$tpid" | head -n 1) || zpid=""
			[ -z "$zpid" ] || break
			kill -0 "$lpid" 2>/dev/null || break
			sleep 0.01
		done
	fi
	if [ -z "$port" ] || [ -z "$zpid" ]; then
		kill_bg
		fail "$tool: listener never listened: $(tail -n 3 "$d/err" 2>/dev/null)"
		failures=$((failures + 1))
		printf '%s\t0\n' "$tool" >>"$results"
		return 0
	fi

	note "$tool: listening on port $port (pid $zpid); starting $CLIENTS clients ($MODE)"
	start=$EPOCHREALTIME
	if [ "$MODE" = conns ]; then
		timeout "$TMO" python3 "$tmp/conns.py" "$port" "$CLIENTS" "$tmp/in" \
			>/dev/null 2>>"$d/cerr" &
		cpids+=("$!")
		bg_procs="$bg_procs $!"
	else
		for i in $(seq 0 $((CLIENTS - 1))); do
			printf -v f 'c%03d' "$i"
			timeout "$TMO" "$ZTPIPE" 127.0.0.1 "$port" <"$tmp/in/$f" \
				>/dev/null 2>>"$d/cerr" &
			cpids+=("$!")
			bg_procs="$bg_procs $!"
		done
	fi
	started=$(since "$start")
	note "$tool: $CLIENTS clients started in $started s"
	i=0
	for p in "${cpids[@]}"; do
		wait "$p" || cfail=$((cfail + 1))
		i=$((i + 1))
		if [ $((i % ((${#cpids[@]} + 3) / 4))) -eq 0 ] || [ "$i" -eq "${#cpids[@]}" ]; then
			note "$tool: $i/$CLIENTS clients done after $(since "$start") s," \
				"$(fsize "$out") of $total bytes out"
		fi
	done
	bg_procs=$lpid

	# Until the output has everything, the listener dies or it stalls.
	while :; do
		size=$(fsize "$out")
		[ "$size" -lt "$total" ] || break
		kill -0 "$zpid" 2>/dev/null || break
		if [ "$size" -eq "$prev" ]; then still=$((still + 1)); else still=0; fi
		if [ "$still" -ge "$STALL" ]; then
			note "$tool: output stuck at $size of $total bytes for $((STALL / 10)) s"
			break
		fi
		prev=$size
		sleep 0.1
	done
	kill -TERM "$zpid" 2>/dev/null || true
	if wait "$lpid"; then lrc=0; else lrc=$?; fi
	bg_procs=""
	end=$(date -r "$out" +%s.%N)
	wall=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.6f", (e > s ? e - s : 0) }')
	note "$tool: stopped (status $lrc); $(fsize "$out") bytes out; checking the lines"

	chk=$(timeout "$TMO" python3 "$tmp/lines.py" check "$CLIENTS" "$LINES" "$out" \
		2>"$d/check") || chk=""
	tres=$(tail -n 1 "$d/time" 2>/dev/null) || tres=""
	case $tres in *[!0-9.\ ]* | '') tres="" ;; esac
	# shellcheck disable=SC2086 # word splitting of the fields is intended
	set -- $chk $tres
	if [ $# -ne 10 ]; then
		fail "$tool: no check result (${chk:-none}) or no time figures (${tres:-none})" \
			"$(tail -n 3 "$d/check" 2>/dev/null)"
		failures=$((failures + 1))
		printf '%s\t0\n' "$tool" >>"$results"
		return 0
	fi
	local lines=$1 torn=$3 missing=$4 extra=$5 reordered=$6
	if [ "$torn" -gt 0 ]; then
		note "$tool: $torn torn lines, for example:"
		cat "$d/check" >&2
	fi
	cerr=$(sort "$d/cerr" 2>/dev/null | uniq -c | sort -rn | head -n 1 |
		sed 's/^ *[0-9]* //; s/[[:space:]]/ /g') || cerr=""
	if [ "$cfail" -gt 0 ] && [ "$tool" != ztpipe ]; then
		note "$tool: $cfail of $CLIENTS clients failed:" "$(sort "$d/cerr" 2>/dev/null | uniq -c | head -n 5)"
	fi
	if [ "$tool" = ztpipe ]; then
		if [ "$cfail" -gt 0 ]; then
			ok=0
			fail "ztpipe: $cfail of $CLIENTS clients failed:" "$(sort "$d/cerr" 2>/dev/null | uniq -c | head -n 5)"
		fi
		if [ "$lrc" -ne 0 ]; then
			ok=0
			fail "ztpipe: the listener exited with status $lrc after SIGTERM:" \
				"$(tail -n 5 "$d/err")"
		fi
		if [ "$lines" -ne "$((CLIENTS * LINES))" ] || [ "$torn" -ne 0 ] ||
			[ "$missing" -ne 0 ] || [ "$extra" -ne 0 ] || [ "$reordered" -ne 0 ]; then
			ok=0
			fail "ztpipe: $lines lines out of $((CLIENTS * LINES)):" \
				"$torn torn, $missing missing, $extra extra, $reordered out of order"
		fi
	fi
	[ "$ok" -eq 1 ] || failures=$((failures + 1))
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$ok" \
		"$wall" "$8" "$9" "${10}" "$lines" "$torn" "$missing" "$extra" "$reordered" \
		"$cfail" "$lrc" "$started" "$cerr" >>"$results"
	awk -v t="$tool" -v w="$wall" -v n="$lines" -v c="$8" -v s="$9" -v r="${10}" \
		-v ok="$ok" 'BEGIN {
			printf "[%s] %8.3f s %10.0f lines/s  cpu %6.2f s  rss %d KiB%s\n",
				t, w, (w > 0 ? n / w : 0), c + s, r, ok ? "" : "  FAILED"
		}' >&2
}

# --- machine, lines and runs ---------------------------------------------------

machine=$(machine_line)
versions=$(versions_line)
note "$machine"
note "generating $CLIENTS files of $LINES lines in $tmp/in"
gen_start=$EPOCHREALTIME
# In the background, so that a signal reaches the trap at once.
timeout "$TMO" python3 "$tmp/lines.py" gen "$CLIENTS" "$LINES" "$tmp/in" >"$tmp/total" &
bg_procs=$!
wait "$bg_procs" || die "could not generate the lines"
bg_procs=""
total=$(cat "$tmp/total")
case $total in '' | *[!0-9]*) die "could not generate the lines" ;; esac
note "$total bytes generated in $(since "$gen_start") s"
note "$CLIENTS clients x $LINES lines, tools: ${tools[*]}, timeout ${TMO}s per process"

for tool in "${tools[@]}"; do
	run_many "$tool"
done

# --- report ------------------------------------------------------------------

echo "$machine"
echo "$versions"
rss_ok=1
python3 - "$results" "$CLIENTS" "$LINES" "$total" "$RSS_TARGET_KIB" "$MODE" >"$tmp/report" <<'PY' || rss_ok=0
import sys

path, clients, lines, total, target = sys.argv[1], *map(int, sys.argv[2:6])
rows = [r.rstrip("\n").split("\t") for r in open(path) if r.strip()]
want = clients * lines
head = ["tool", "clients", "lines", "wall s", "lines/s", "peak RSS KiB",
        "CPU s", "torn lines", "missing lines", "extra lines", "check"]
table, notes, zt_rss = [], [], None
for r in rows:
    tool = r[0]
    if r[1] == "0" and len(r) == 2:
        table.append([tool, str(clients)] + ["-"] * 8 + ["FAILED"])
        continue
    ok = r[1] == "1"
    wall, user, sys_, rss = float(r[2]), float(r[3]), float(r[4]), int(r[5])
    n, torn, missing, extra, reordered, cfail, lrc, started, cerr = r[6:15]
    n, torn, missing, extra = int(n), int(torn), int(missing), int(extra)
    damaged = (torn or missing or extra or int(reordered) or int(cfail)
               or n != want)
    check = "FAILED" if not ok else ("damaged" if damaged else "ok")
    table.append([tool, str(clients), str(n), "%.3f" % wall,
                  "%.0f" % (n / wall) if wall > 0 else "-", str(rss),
                  "%.2f" % (user + sys_), str(torn), str(missing), str(extra),
                  check])
    if int(reordered):
        notes.append("%s: %s lines out of order" % (tool, reordered))
    if int(cfail):
        notes.append("%s: %s of %d clients failed (%s)" % (tool, cfail, clients, cerr))
    notes.append("%s: clients started in %s s; listener exit status %s%s"
                 % (tool, started, lrc, " (SIGTERM)" if lrc == "143" else ""))
    if tool == "ztpipe":
        zt_rss = rss
title = ("many clients (%s): %d clients x %d lines (%d bytes) at once into "
         "one listener, merged line by line" % (sys.argv[6], clients, lines,
                                                total))
if zt_rss is None:
    verdict, rc = "FAIL (not measured)", 1
elif zt_rss < target:
    verdict, rc = "PASS (%d KiB)" % zt_rss, 0
else:
    verdict, rc = "FAIL (%d KiB)" % zt_rss, 1
target_line = "ztpipe peak RSS target: under %d MiB: %s" % (target // 1024, verdict)
print()
print(title)
w = [max(len(x[i]) for x in table + [head]) for i in range(len(head))]
for x in [head] + table:
    print("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) if i < len(head) - 1
                    else c for i, c in enumerate(x)))
for s in notes:
    print(s)
print(target_line)
print()
print("**%s**" % title)
print()
print("| " + " | ".join(head) + " |")
print("|:---|" + "---:|" * (len(head) - 2) + ":---|")
for x in table:
    print("| " + " | ".join(x) + " |")
print()
print(target_line)
sys.exit(rc)
PY
cat "$tmp/report"

if [ "$failures" -gt 0 ] || [ "$rss_ok" -eq 0 ]; then
	[ "$failures" -eq 0 ] || note "$failures run(s) FAILED"
	[ "$rss_ok" -eq 1 ] || note "ztpipe is over its peak RSS target (or was not measured)"
	exit 1
fi
