# ztpipe - a netcat for ZeroTier networks
.POSIX:

PREFIX = /usr/local
MANPREFIX = $(PREFIX)/share/man
CC = cc
CFLAGS = -O2 -Wall -Wextra -pedantic -std=c99
BATS = bats

# make static: a fully static Linux binary.  MUSLCC may also be
# "zig cc -target x86_64-linux-musl".
MUSLCC = musl-gcc
# make check-macos cross-compiles with zig, which brings macOS's libc
# headers; make downloads nothing.
ZIG = zig

# make sanitize: the whole suite against an ASan+UBSan build.
SANFLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
# make check: static analysis; either tool finding anything fails.
# cppcheck's variableScope is off: ztpipe.c declares at the top of a
# function, as style(9) does.
CPPCHECK = cppcheck
ANALYZER = gcc
# make fuzz: libFuzzer needs clang.
FUZZCC = clang
FUZZFLAGS = -O1 -g -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -DZTPIPE_FUZZ
FUZZ_SECONDS = 30

all: ztpipe

ztpipe: ztpipe.c
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ ztpipe.c

test: ztpipe
	$(BATS) test

ztpipe-san: ztpipe.c
	$(CC) -std=c99 $(SANFLAGS) $(LDFLAGS) -o $@ ztpipe.c

# test/sanitize/timeout: see why there.
sanitize: ztpipe-san
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	PATH="$$(pwd)/test/sanitize:$$PATH" \
	ZTPIPE="$$(pwd)/ztpipe-san" $(BATS) test

check:
	$(CPPCHECK) --enable=warning,style,performance,portability \
	    --suppress=variableScope --error-exitcode=1 --inline-suppr \
	    --std=c99 -q ztpipe.c
	$(ANALYZER) -fanalyzer -std=c99 -O1 -Werror -c -o /dev/null ztpipe.c

ztpipe-fuzz: ztpipe.c test/fuzz.c
	$(FUZZCC) $(FUZZFLAGS) -o $@ test/fuzz.c

# Crashes found are saved in fuzz-artifacts/; keep them in test/fuzz-regress/
# so that every later run replays them first.
fuzz: ztpipe-fuzz
	mkdir -p fuzz-corpus fuzz-artifacts
	[ ! -d test/fuzz-regress ] || \
	    find test/fuzz-regress -type f -exec cp -f {} fuzz-corpus/ \;
	./ztpipe-fuzz -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=fuzz-artifacts/ fuzz-corpus

static: ztpipe-static

ztpipe-static: ztpipe.c
	$(MUSLCC) -static $(CFLAGS) $(LDFLAGS) -o $@ ztpipe.c

test-static: ztpipe-static
	ZTPIPE="$$(pwd)/ztpipe-static" $(BATS) test

# Compiles and links for both Macs; any warning fails.
check-macos:
	$(ZIG) cc -target aarch64-macos.11.0 $(CFLAGS) -Werror \
	    -o ztpipe-macos-arm64 ztpipe.c
	$(ZIG) cc -target x86_64-macos.11.0 $(CFLAGS) -Werror \
	    -o ztpipe-macos-x86_64 ztpipe.c

bench: ztpipe
	bench/throughput.sh 1073741824
	bench/latency.sh
	bench/many.sh

valgrind: ztpipe
	sh test/valgrind.sh ./ztpipe

install: ztpipe
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANPREFIX)/man1
	cp -f ztpipe $(DESTDIR)$(PREFIX)/bin/ztpipe
	chmod 755 $(DESTDIR)$(PREFIX)/bin/ztpipe
	cp -f ztpipe.1 $(DESTDIR)$(MANPREFIX)/man1/ztpipe.1
	chmod 644 $(DESTDIR)$(MANPREFIX)/man1/ztpipe.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/ztpipe $(DESTDIR)$(MANPREFIX)/man1/ztpipe.1

clean:
	rm -f ztpipe ztpipe-san ztpipe-fuzz ztpipe-static
	rm -f ztpipe-macos-arm64 ztpipe-macos-x86_64
	rm -rf fuzz-corpus fuzz-artifacts

.PHONY: all test sanitize check fuzz bench valgrind install uninstall clean \
	static test-static check-macos
