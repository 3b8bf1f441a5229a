#!/usr/bin/env bash
# many.sh [CLIENTS] [LINES] - many clients at once into one listener over
# 127.0.0.1: ztpipe -lk, which merges whole lines, against ncat -lk.
#
# Makes CLIENTS files of LINES lines once ("c%03d %06d " and a filler of
# 0-200 bytes whose lengths are seeded per client).  For each tool, starts
# the listener (-lk -m CLIENTS+100; stdin </dev/null, stdout to a file)
# under /usr/bin/time, starts the CLIENTS clients at once (`ztpipe
# 127.0.0.1 PORT < file`, for every tool, so only the listener differs),
# waits for them and for the output to reach the size of the input
# (bounded: 10 s without growth), then sends SIGTERM to the listener itself
# (the child of time, not time).  Wall time runs from the first client's
# start to the last write to the output (its mtime); CPU and peak RSS are
# the listener's only (CPU per line from /proc/PID/schedstat, in ns, read
# just before the SIGTERM).
#
# The output is then checked line by line against the generated lines: a
# line that is not exactly one of them is torn; a generated line never seen
# is missing; one seen twice is extra; a client's line seen after a later
# one of the same client is out of order.  ztpipe must deliver exactly
# CLIENTS*LINES lines, all intact and in order per client, exit 0 on SIGTERM
# and stay under the peak RSS target (16 MiB up to 1,000 clients, 64 MiB
# above); otherwise the script fails.  ncat tearing lines is what it shows,
# not a failure; above 1,000 clients it is skipped (its select() stops at
# 1,024 descriptors).
#
# MODE=conns opens the CLIENTS connections at once from one python process
# instead (non-blocking connects, all started before any is served; each
# sends its file, then half-closes and reads to EOF), so that the listener
# holds them all open together: the load that shows per-connection memory,
# the listen backlog and per-round scanning.  Above 1,000 clients, ztpipe
# first serves the same load from 1,000 of them, and its CPU per line at
# CLIENTS must be at most 1.5 times that (the scaling target).
#
# MODE=stalled is MODE=conns with a stdout that stalls: the listener writes
# into a FIFO nobody reads while the clients send their lines and leave
# (close at once, no half-close).  Once all have been accepted, the
# listener's RSS is noted; then the FIFO is drained into the output and the
# lines are checked as above: a stalled stdout must cost bounded memory and
# lose nothing.
#
# The script raises its own RLIMIT_NOFILE (soft, and as root hard) to
# CLIENTS+256 at least, for the listener and the python client alike.
#
# Environment: TIMEOUT (seconds per process, default 300), TOOLS (default
# "ztpipe ncat", the only two), ZTPIPE (binary, default ../ztpipe, built
# with make when missing or stale), MODE (procs, the default, conns or
# stalled), RSS_MIB (the peak RSS target, default 16 up to 1,000 clients,
# else 64).
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
case $MODE in procs | conns | stalled) ;; *) die "MODE is procs, conns or stalled" ;; esac
for t in $TOOLS; do
	case $t in ztpipe | ncat) ;; *) die "unknown tool $t (many.sh runs ztpipe and ncat)" ;; esac
done
# Each connection is a descriptor in the listener and in the python client.
NOFILE=$((CLIENTS + 256))
[ "$NOFILE" -ge 8192 ] || NOFILE=8192
ulimit -Sn "$NOFILE" 2>/dev/null || ulimit -n "$NOFILE" 2>/dev/null ||
	die "$CLIENTS clients need $NOFILE descriptors; the hard limit is $(ulimit -Hn)"
if [ "$CLIENTS" -le 1000 ]; then RSS_MIB=${RSS_MIB:-16}; else RSS_MIB=${RSS_MIB:-64}; fi
uints "$RSS_MIB" || die "RSS_MIB is a number of MiB"
RSS_TARGET_KIB=$((RSS_MIB * 1024))
STALL=100 # polls of 0.1 s without output growth before giving up
# MODE=conns above 1,000 clients: the same load from 1,000 first, whose CPU
# per line the big run's must stay within CPU_RATIO of.
REF=0
if [ "$MODE" = conns ] && [ "$CLIENTS" -gt 1000 ]; then REF=1000; fi
CPU_RATIO=1.5

bench_ztpipe
bench_install /usr/bin/time ss pkill pgrep python3 timeout
bench_tools
if [ "$CLIENTS" -gt 1000 ]; then
	for t in "${!tools[@]}"; do
		[ "${tools[t]}" != ncat ] && continue
		note "NOTICE: skipping ncat above 1,000 clients (its select() stops at 1,024 descriptors)"
		unset 'tools[t]'
	done
	tools=("${tools[@]}")
fi
[ ${#tools[@]} -gt 0 ] || die "no tool to measure"

bench_tmp ztmany

results=$tmp/results.tsv
: >"$results"
failures=0

# --- the lines: made once, checked against afterwards ---------------------

cat >"$tmp/lines.py" <<'PY'
"""gen CLIENTS LINES DIR: write DIR/c000... and print their total size.
size CLIENTS LINES DIR: print the total size of the first CLIENTS files.
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


def size(clients, lines, outdir):
    print(sum(os.path.getsize(os.path.join(outdir, "c%03d" % c))
              for c in range(clients)))


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
    {"gen": gen, "size": size, "check": check}[cmd](clients, lines,
                                                     sys.argv[4])
PY

cat >"$tmp/conns.py" <<'PY'
"""conns PORT CLIENTS DIR [leave]: start CLIENTS non-blocking connects to
127.0.0.1:PORT at once, send DIR/c000... over them as each is up, then
half-close each and read it to EOF; with "leave", close each as soon as its
file is out.  Exit 1 if any connection failed."""
import errno
import os
import selectors
import socket
import sys

port, clients, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
leave = sys.argv[4:] == ["leave"]
sel = selectors.DefaultSelector()
left = failed = 0


def lost(s, e):
    global left, failed
    print("connection failed: %s" % e, file=sys.stderr)
    failed += 1
    sel.unregister(s)
    s.close()
    left -= 1


for c in range(clients):
    s = socket.socket()
    s.setblocking(False)
    e = s.connect_ex(("127.0.0.1", port))
    if e not in (0, errno.EINPROGRESS):
        print("connection failed: %s" % os.strerror(e), file=sys.stderr)
        failed += 1
        s.close()
        continue
    data = memoryview(open(os.path.join(d, "c%03d" % c), "rb").read())
    sel.register(s, selectors.EVENT_WRITE, [data, 0, False])
    left += 1
while left:
    for key, ev in sel.select():
        s, st = key.fileobj, key.data
        try:
            if not st[2]:   # the connect's outcome
                e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if e:
                    raise OSError(e, os.strerror(e))
                st[2] = True
            if ev & selectors.EVENT_WRITE:
                st[1] += s.send(st[0][st[1]:st[1] + 65536])
                if st[1] < len(st[0]):
                    continue
                if leave:
                    sel.unregister(s)
                    s.close()
                    left -= 1
                else:
                    s.shutdown(socket.SHUT_WR)
                    sel.modify(s, selectors.EVENT_READ, st)
            elif s.recv(65536) == b"":
                sel.unregister(s)
                s.close()
                left -= 1
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:
            lost(s, e)
sys.exit(1 if failed else 0)
PY

# --- one tool ----------------------------------------------------------------

fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }
since() { awk -v s="$1" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.2f", e - s }'; }
# The kernel's count of handshakes a full listen queue turned away (the
# whole machine's; a client that sent its lines into one may lose them).
overflows() {
	awk '/^TcpExt:/ { if (!h) { for (i = 2; i <= NF; i++) k[i] = $i; h = 1 }
		else for (i = 2; i <= NF; i++) if (k[i] == "ListenOverflows") v = $i }
		END { print v + 0 }' /proc/net/netstat 2>/dev/null || echo 0
}

# run_many TOOL N: the load from the first N clients through TOOL's
# listener; appends a line to $results.
run_many() {
	local tool=$1 n=$2 d=$tmp/$1.$2 port="" lpid tpid="" zpid="" i p f ok=1
	local start started end size prev=-1 still=0 cfail=0 lrc chk tres wall cerr
	local out=$tmp/$1.$2/out dest rcv cpids=() want cpu_ns=0 held=0 catpid
	local maxconns=$((n + 100)) leave="" ovf
	mkdir "$d"
	want=$(timeout "$TMO" python3 "$tmp/lines.py" size "$n" "$LINES" "$tmp/in") ||
		die "cannot size the lines"
	dest=$out
	if [ "$MODE" = stalled ]; then
		# stdout a FIFO that this shell holds open and nobody reads
		dest=$d/fifo
		leave=leave
		mkfifo "$dest"
		exec 7<>"$dest"
	fi
	case $tool in
	ztpipe) rcv=("$ZTPIPE" -lk -v -m "$maxconns" 127.0.0.1 0) ;;
	# ncat serves 100 peers at most by default.
	ncat) port=$(free_port); rcv=(ncat -lk -m "$maxconns" 127.0.0.1 "$port") ;;
	esac
	timeout "$TMO" /usr/bin/time -f '%e %U %S %M' -o "$d/time" "${rcv[@]}" \
		</dev/null >"$dest" 2>"$d/err" 7>&- &
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
		[ "$MODE" != stalled ] || exec 7>&-
		fail "$tool: listener never listened: $(tail -n 3 "$d/err" 2>/dev/null)"
		failures=$((failures + 1))
		printf '%s\t%s\t0\n' "$tool" "$n" >>"$results"
		return 0
	fi

	note "$tool: listening on port $port (pid $zpid); starting $n clients ($MODE)"
	ovf=$(overflows)
	start=$EPOCHREALTIME
	if [ "$MODE" != procs ]; then
		timeout "$TMO" python3 "$tmp/conns.py" "$port" "$n" "$tmp/in" $leave \
			>/dev/null 2>>"$d/cerr" 7>&- &
		cpids+=("$!")
		bg_procs="$bg_procs $!"
	else
		for i in $(seq 0 $((n - 1))); do
			printf -v f 'c%03d' "$i"
			timeout "$TMO" "$ZTPIPE" 127.0.0.1 "$port" <"$tmp/in/$f" \
				>/dev/null 2>>"$d/cerr" &
			cpids+=("$!")
			bg_procs="$bg_procs $!"
		done
	fi
	started=$(since "$start")
	note "$tool: $n clients started in $started s"
	i=0
	for p in "${cpids[@]}"; do
		wait "$p" || cfail=$((cfail + 1))
		i=$((i + 1))
		if [ $((i % ((${#cpids[@]} + 3) / 4))) -eq 0 ] || [ "$i" -eq "${#cpids[@]}" ]; then
			note "$tool: $i/$n clients done after $(since "$start") s," \
				"$(fsize "$out") of $want bytes out"
		fi
	done
	bg_procs=$lpid

	if [ "$MODE" = stalled ]; then
		# Every client accepted (with -v, ztpipe says each), or 10 s
		# without a new one; then what the stall cost, and the drain.
		prev=-1
		while :; do
			size=$(grep -c 'connection from' "$d/err") || size=0
			[ "$size" -lt "$n" ] || break
			kill -0 "$zpid" 2>/dev/null || break
			if [ "$size" -eq "$prev" ]; then still=$((still + 1)); else still=0; fi
			[ "$still" -lt "$STALL" ] || break
			prev=$size
			sleep 0.1
		done
		held=$(awk '/^VmHWM:/ { print $2 }' "/proc/$zpid/status" 2>/dev/null) || held=0
		note "$tool: $size clients accepted while stdout stalled; peak RSS so far ${held:-0} KiB; draining"
		# A reader of its own before this shell's goes: stdout's
		# reader never leaves, which ztpipe would take for an end.
		exec 8<"$dest"
		cat <&8 >"$out" 7>&- 8<&- &
		catpid=$!
		bg_procs="$bg_procs $catpid"
		exec 7>&- 8<&-
		prev=-1
		still=0
	fi

	# Until the output has everything, the listener dies or it stalls.
	while :; do
		size=$(fsize "$out")
		[ "$size" -lt "$want" ] || break
		kill -0 "$zpid" 2>/dev/null || break
		if [ "$size" -eq "$prev" ]; then still=$((still + 1)); else still=0; fi
		if [ "$still" -ge "$STALL" ]; then
			note "$tool: output stuck at $size of $want bytes for $((STALL / 10)) s"
			break
		fi
		prev=$size
		sleep 0.1
	done
	# Its CPU time in ns (user+sys, precise where time(1) counts 10 ms).
	cpu_ns=$(awk '{ print $1 }' "/proc/$zpid/schedstat" 2>/dev/null) || cpu_ns=0
	ovf=$(($(overflows) - ovf))
	kill -TERM "$zpid" 2>/dev/null || true
	if wait "$lpid"; then lrc=0; else lrc=$?; fi
	[ "$MODE" != stalled ] || wait "$catpid" || true
	bg_procs=""
	end=$(date -r "$out" +%s.%N)
	wall=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.6f", (e > s ? e - s : 0) }')
	note "$tool: stopped (status $lrc); $(fsize "$out") bytes out; checking the lines"

	chk=$(timeout "$TMO" python3 "$tmp/lines.py" check "$n" "$LINES" "$out" \
		2>"$d/check") || chk=""
	tres=$(tail -n 1 "$d/time" 2>/dev/null) || tres=""
	case $tres in *[!0-9.\ ]* | '') tres="" ;; esac
	# shellcheck disable=SC2086 # word splitting of the fields is intended
	set -- $chk $tres
	if [ $# -ne 10 ]; then
		fail "$tool: no check result (${chk:-none}) or no time figures (${tres:-none})" \
			"$(tail -n 3 "$d/check" 2>/dev/null)"
		failures=$((failures + 1))
		printf '%s\t%s\t0\n' "$tool" "$n" >>"$results"
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
		note "$tool: $cfail of $n clients failed:" "$(sort "$d/cerr" 2>/dev/null | uniq -c | head -n 5)"
	fi
	if [ "$tool" = ztpipe ]; then
		if [ "$cfail" -gt 0 ]; then
			ok=0
			fail "ztpipe: $cfail of $n clients failed:" "$(sort "$d/cerr" 2>/dev/null | uniq -c | head -n 5)"
		fi
		if [ "$lrc" -ne 0 ]; then
			ok=0
			fail "ztpipe: the listener exited with status $lrc after SIGTERM:" \
				"$(tail -n 5 "$d/err")"
		fi
		if [ "$lines" -ne "$((n * LINES))" ] || [ "$torn" -ne 0 ] ||
			[ "$missing" -ne 0 ] || [ "$extra" -ne 0 ] || [ "$reordered" -ne 0 ]; then
			ok=0
			fail "ztpipe: $lines lines out of $((n * LINES)):" \
				"$torn torn, $missing missing, $extra extra, $reordered out of order"
		fi
	fi
	[ "$ok" -eq 1 ] || failures=$((failures + 1))
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$tool" "$n" "$ok" "$wall" "$8" "$9" "${10}" "$lines" "$torn" "$missing" \
		"$extra" "$reordered" "$cfail" "$lrc" "$started" "$cerr" "${cpu_ns:-0}" \
		"${held:-0}" "$ovf" >>"$results"
	awk -v t="$tool" -v w="$wall" -v n="$lines" -v c="$8" -v s="$9" -v r="${10}" \
		-v ok="$ok" -v ns="${cpu_ns:-0}" 'BEGIN {
			printf "[%s] %8.3f s %10.0f lines/s  cpu %6.2f s (%.2f us/line)  rss %d KiB%s\n",
				t, w, (w > 0 ? n / w : 0), c + s, (n > 0 ? ns / 1000 / n : 0),
				r, ok ? "" : "  FAILED"
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
	[ "$tool" != ztpipe ] || [ "$REF" -eq 0 ] || run_many "$tool" "$REF"
	run_many "$tool" "$CLIENTS"
done

# --- report ------------------------------------------------------------------

echo "$machine"
echo "$versions"
rss_ok=1
python3 - "$results" "$CLIENTS" "$LINES" "$total" "$RSS_TARGET_KIB" "$MODE" \
	"$CPU_RATIO" >"$tmp/report" <<'PY' || rss_ok=0
import sys

path, clients, lines, total, target = sys.argv[1], *map(int, sys.argv[2:6])
mode, cpu_ratio = sys.argv[6], float(sys.argv[7])
rows = [r.rstrip("\n").split("\t") for r in open(path) if r.strip()]
head = ["tool", "clients", "lines", "wall s", "lines/s", "peak RSS KiB",
        "CPU s", "CPU us/line", "torn lines", "missing lines", "extra lines",
        "check"]
table, notes, zt_rss, zt_cpu = [], [], None, {}
for r in rows:
    tool, n_cl = r[0], int(r[1])
    if r[2] == "0" and len(r) == 3:
        table.append([tool, str(n_cl)] + ["-"] * 9 + ["FAILED"])
        continue
    ok = r[2] == "1"
    wall, user, sys_, rss = float(r[3]), float(r[4]), float(r[5]), int(r[6])
    n, torn, missing, extra, reordered, cfail, lrc, started, cerr = r[7:16]
    cpu_ns, held, ovf = int(r[16]), int(r[17]), int(r[18])
    n, torn, missing, extra = int(n), int(torn), int(missing), int(extra)
    damaged = (torn or missing or extra or int(reordered) or int(cfail)
               or n != n_cl * lines)
    check = "FAILED" if not ok else ("damaged" if damaged else "ok")
    per_line = cpu_ns / 1000 / n if n and cpu_ns else None
    table.append([tool, str(n_cl), str(n), "%.3f" % wall,
                  "%.0f" % (n / wall) if wall > 0 else "-", str(rss),
                  "%.2f" % (user + sys_),
                  "%.2f" % per_line if per_line else "-", str(torn),
                  str(missing), str(extra), check])
    if int(reordered):
        notes.append("%s: %s lines out of order" % (tool, reordered))
    if int(cfail):
        notes.append("%s: %s of %d clients failed (%s)" % (tool, cfail, n_cl,
                                                          cerr))
    notes.append("%s, %d clients: started in %s s; listener exit status "
                 "%s%s; listen queue overflows (kernel): %d"
                 % (tool, n_cl, started, lrc,
                    " (SIGTERM)" if lrc == "143" else "", ovf))
    if mode == "stalled":
        notes.append("%s, %d clients: peak RSS %d KiB while stdout stalled, "
                     "before the drain" % (tool, n_cl, held))
    if tool == "ztpipe":
        zt_cpu[n_cl] = per_line
        if n_cl == clients:
            zt_rss = rss
what = {"procs": "clients (processes) at once into one listener",
        "conns": "connections from one process at once into one listener",
        "stalled": "connections at once into one listener whose stdout "
                   "stalls (a FIFO nobody reads) until all are in"}[mode]
title = ("many clients (%s): %d clients x %d lines (%d bytes), %s, merged "
         "line by line" % (mode, clients, lines, total, what))
if zt_rss is None:
    verdict, rc = "FAIL (not measured)", 1
elif zt_rss < target:
    verdict, rc = "PASS (%d KiB)" % zt_rss, 0
else:
    verdict, rc = "FAIL (%d KiB)" % zt_rss, 1
targets = ["ztpipe peak RSS target: under %d MiB: %s" % (target // 1024,
                                                       verdict)]
refs = [k for k in zt_cpu if k != clients]
if refs:
    ref = refs[0]
    big, small = zt_cpu.get(clients), zt_cpu[ref]
    if big and small:
        ratio = big / small
        ok = ratio <= cpu_ratio
        verdict = "%s (x%.2f: %.2f against %.2f us)" % (
            "PASS" if ok else "FAIL", ratio, big, small)
        rc = rc if ok else 1
    else:
        verdict, rc = "FAIL (not measured)", 1
    targets.append("ztpipe CPU per line at %d clients: at most %.1fx that "
                   "at %d: %s" % (clients, cpu_ratio, ref, verdict))
print()
print(title)
w = [max(len(x[i]) for x in table + [head]) for i in range(len(head))]
for x in [head] + table:
    print("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) if i < len(head) - 1
                    else c for i, c in enumerate(x)))
for s in notes + targets:
    print(s)
print()
print("**%s**" % title)
print()
print("| " + " | ".join(head) + " |")
print("|:---|" + "---:|" * (len(head) - 2) + ":---|")
for x in table:
    print("| " + " | ".join(x) + " |")
print()
for s in targets:
    print(s)
sys.exit(rc)
PY
cat "$tmp/report"

if [ "$failures" -gt 0 ] || [ "$rss_ok" -eq 0 ]; then
	[ "$failures" -eq 0 ] || note "$failures run(s) FAILED"
	[ "$rss_ok" -eq 1 ] || note "ztpipe missed a target: peak RSS or CPU per line (or was not measured)"
	exit 1
fi
