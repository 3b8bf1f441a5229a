# ztpipe - a netcat for ZeroTier networks
.POSIX:

VERSION = 0.1.0
PREFIX = /usr/local
MANPREFIX = $(PREFIX)/share/man
CC = cc
CFLAGS = -O2 -Wall -Wextra -pedantic -std=c99
ZTCFLAGS = -DVERSION=\"$(VERSION)\"
BATS = bats

all: ztpipe

ztpipe: ztpipe.c
	$(CC) $(CFLAGS) $(ZTCFLAGS) $(LDFLAGS) -o $@ ztpipe.c

test: ztpipe
	$(BATS) test

install: ztpipe
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANPREFIX)/man1
	cp -f ztpipe $(DESTDIR)$(PREFIX)/bin/ztpipe
	chmod 755 $(DESTDIR)$(PREFIX)/bin/ztpipe
	cp -f ztpipe.1 $(DESTDIR)$(MANPREFIX)/man1/ztpipe.1
	chmod 644 $(DESTDIR)$(MANPREFIX)/man1/ztpipe.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/ztpipe $(DESTDIR)$(MANPREFIX)/man1/ztpipe.1

clean:
	rm -f ztpipe ztpipe-san ztpipe-fuzz

.PHONY: all test install uninstall clean
