# jobhost — build, test, install.
#
#   make            daemon (host/jobhost), shipped plugins (plugins/*.so), tests
#   make test       every test (unit + integration), after `make deps`
#   make run        the daemon on config/jobhost.yaml, in the foreground
#   make asan/tsan  the tests again under AddressSanitizer+UBSan / ThreadSanitizer
#   make bench      the benchmarks, side by side with APScheduler
#   make install PREFIX=/usr/local DESTDIR=
#   make deb        the Debian packages jobhost and jobhost-dev, in build/deb/
#   make screenshot docs/status-page.png, from the browser test
#
# Sanitizer builds live in build/<variant>/ so they never mix with the normal
# objects; plugins are always built plain (they link against nothing).

VERSION := 0.1.0
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PKG_CONFIG ?= pkg-config

# libsystemd is optional: with it, records also go to journald natively.
HAVE_SYSTEMD := $(shell $(PKG_CONFIG) --exists libsystemd 2>/dev/null && echo 1)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers
PQ_CFLAGS := $(shell $(PKG_CONFIG) --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
BASE_CFLAGS := -std=gnu11 $(WARN) -g -pthread -D_GNU_SOURCE -Isdk/include -Ihost $(PQ_CFLAGS) \
	-DJOBHOST_VERSION='"$(VERSION)"' $(if $(HAVE_SYSTEMD),-DHAVE_SYSTEMD=1)
OPT ?= -O2
LIBS := -lyaml -lmicrohttpd -ljansson -lsqlite3 -lpq -lcurl -lz -ldl -lm -pthread $(if $(HAVE_SYSTEMD),-lsystemd)

VARIANT ?= release
ifeq ($(VARIANT),asan)
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT := -O1
endif
ifeq ($(VARIANT),tsan)
SAN := -fsanitize=thread -fno-omit-frame-pointer
OPT := -O1
endif
CFLAGS_ALL := $(BASE_CFLAGS) $(OPT) $(SAN) $(CPPFLAGS) $(CFLAGS)
LDFLAGS_ALL := $(SAN) $(LDFLAGS)

OUT := build/$(VARIANT)
HOST_DIRS := host host/lib host/core host/io host/ctl
HOST_SRC := $(sort $(foreach d,$(HOST_DIRS),$(wildcard $(d)/*.c)))
HOST_HDR := $(foreach d,$(HOST_DIRS),$(wildcard $(d)/*.h))
# The status page's files, compiled in (host/io/ui/embed.sh).
UI_FILES := $(sort $(wildcard host/io/ui/*.html host/io/ui/*.js host/io/ui/*.css host/io/ui/*.svg))
UI_OBJ := $(OUT)/gen/ui_assets.o
HOST_OBJ := $(HOST_SRC:%.c=$(OUT)/%.o) $(UI_OBJ)
LIB_OBJ := $(filter-out $(OUT)/host/main.o,$(HOST_OBJ))
ifeq ($(VARIANT),release)
JOBHOST := host/jobhost
else
JOBHOST := $(OUT)/jobhost
endif

PLUGIN_SRC := $(sort $(wildcard plugins/*.c))
PLUGINS := $(PLUGIN_SRC:.c=.so)
TEST_PLUGIN_SRC := $(sort $(wildcard tests/plugins/*.c))
TEST_PLUGIN_CXX_SRC := $(sort $(wildcard tests/plugins/*.cc))
TEST_PLUGINS := $(TEST_PLUGIN_SRC:.c=.so) $(TEST_PLUGIN_CXX_SRC:.cc=.so)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(OUT)/tests/%)
# What the tests share but the daemon must not hold (the logfmt reader).
TEST_COMMON_SRC := $(sort $(wildcard tests/common/*.c))
TEST_COMMON_OBJ := $(TEST_COMMON_SRC:%.c=$(OUT)/%.o)

# A plugin needs nothing from the host: -z defs proves it at link time.
# PLUGIN_INC is the SDK; the ABI 1 fixture is built against the ABI 1 header.
CXX ?= c++
PLUGIN_INC := -Isdk/include
PLUGIN_CFLAGS = -std=gnu11 $(WARN) -O2 -g -fPIC -fvisibility=hidden $(PLUGIN_INC)
PLUGIN_CXXFLAGS = -std=c++17 -pedantic -Wall -Wextra -Werror -Wshadow -O2 -g -fPIC \
	-fvisibility=hidden $(PLUGIN_INC)
PLUGIN_LDFLAGS := -shared -Wl,-z,defs

.PHONY: all test unit integration run deps check-deps check-build-deps asan tsan bench \
	bench-deps fuzz install clean lint fmt screenshot deb daemon
.DELETE_ON_ERROR:
# Objects reached only through pattern rules would count as intermediate and
# be deleted after each build, relinking every test the next time.
.SECONDARY: $(TEST_COMMON_OBJ)

# ABI tests (tests/abi/): fixtures built against an older and a newer copy
# of the SDK header, generated from the real one.
ABI_HDR := build/abi/headers
ABI_FIXTURES := $(patsubst tests/abi/fixtures/%.c,build/abi/plugins/%.so, \
	$(sort $(wildcard tests/abi/fixtures/*.c)))
ABI_BIN := $(OUT)/tests/test_abi

all: $(JOBHOST) $(PLUGINS) $(TEST_PLUGINS) $(UNIT_BIN) $(ABI_FIXTURES) $(ABI_BIN)

# The daemon and the shipped plugins only: what a package needs.
daemon: $(JOBHOST) $(PLUGINS)

$(OUT)/host/%.o: host/%.c $(HOST_HDR) sdk/include/jobhost/plugin.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(OUT)/gen/ui_assets.c: $(UI_FILES) host/io/ui/embed.sh
	@mkdir -p $(@D)
	sh host/io/ui/embed.sh $@ $(UI_FILES)

$(UI_OBJ): $(OUT)/gen/ui_assets.c host/io/ui_assets.h
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(JOBHOST): $(HOST_OBJ)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(OUT)/tests/common/%.o: tests/common/%.c $(wildcard tests/common/*.h) $(HOST_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(OUT)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h tests/common/*.h) $(LIB_OBJ) \
		$(TEST_COMMON_OBJ) | $(OUT)/tests
	$(CC) $(CFLAGS_ALL) -Itests/unit -Itests/common $(LDFLAGS_ALL) -o $@ $< $(TEST_COMMON_OBJ) \
		$(LIB_OBJ) -lcunit $(LIBS)

# The shipped plugins also take the caller's flags (a distribution's
# hardening); the test fixtures are built as the SDK's one line builds them.
plugins/%.so: plugins/%.c sdk/include/jobhost/plugin.h
	$(CC) $(PLUGIN_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(PLUGIN_LDFLAGS) $(LDFLAGS) -o $@ $<

tests/plugins/%.so: tests/plugins/%.c $(wildcard tests/plugins/*.h) sdk/include/jobhost/plugin.h
	$(CC) $(PLUGIN_CFLAGS) $(PLUGIN_LDFLAGS) -o $@ $<

tests/plugins/%.so: tests/plugins/%.cc sdk/include/jobhost/plugin.h
	$(CXX) $(PLUGIN_CXXFLAGS) $(PLUGIN_LDFLAGS) -o $@ $<

tests/plugins/bad_abi.so: PLUGIN_INC := -Itests/abi/headers/abi1
tests/plugins/bad_abi.so: tests/abi/headers/abi1/jobhost/plugin.h

$(ABI_HDR)/.stamp: tests/abi/mkheaders.py sdk/include/jobhost/plugin.h
	python3 tests/abi/mkheaders.py sdk/include/jobhost/plugin.h $(ABI_HDR)
	@touch $@

build/abi/plugins/old_%.so: tests/abi/fixtures/old_%.c $(ABI_HDR)/.stamp
	@mkdir -p $(@D)
	$(CC) $(PLUGIN_CFLAGS) -I$(ABI_HDR)/old $(PLUGIN_LDFLAGS) -o $@ $<

build/abi/plugins/new_%.so: tests/abi/fixtures/new_%.c $(ABI_HDR)/.stamp
	@mkdir -p $(@D)
	$(CC) $(PLUGIN_CFLAGS) -I$(ABI_HDR)/new $(PLUGIN_LDFLAGS) -o $@ $<

build/abi/plugins/old_%.so build/abi/plugins/new_%.so: PLUGIN_INC :=

$(ABI_BIN): tests/abi/test_abi.c tests/unit/cu_main.h $(LIB_OBJ) | $(OUT)/tests
	$(CC) $(CFLAGS_ALL) -Itests/unit $(LDFLAGS_ALL) -o $@ $< $(LIB_OBJ) -lcunit $(LIBS)

$(OUT)/tests:
	mkdir -p $@

# --- dependencies -----------------------------------------------------------
DEB_BUILD := gcc g++ make pkg-config libyaml-dev libmicrohttpd-dev libjansson-dev libsqlite3-dev \
	zlib1g-dev libsystemd-dev libcurl4-openssl-dev libpq-dev
DEB_TEST := libcunit1-dev curl python3 prometheus rsyslog util-linux valgrind openssl clang sqlite3 \
	chromium chromium-driver python3-selenium systemd man-db groff-base bash-completion postgresql-15 \
	faketime
DEB_FUZZ := clang libclang-rt-14-dev
DEB_PKG := debhelper dpkg-dev fakeroot lintian
DEB_ALL := $(DEB_BUILD) $(DEB_TEST) $(DEB_FUZZ) $(DEB_PKG)

deps:
	@sh tests/install-deps.sh $(DEB_ALL)

# `make run` and `make test` may be the first commands on a fresh clone:
# each makes sure the packages it needs are there.
check-deps:
	@sh tests/install-deps.sh --quiet $(DEB_BUILD) $(DEB_TEST)

check-build-deps:
	@sh tests/install-deps.sh --quiet $(DEB_BUILD)

# --- tests ------------------------------------------------------------------
test: check-deps
	@$(MAKE) --no-print-directory all
	@sh tests/run.sh $(VARIANT)

asan:
	@$(MAKE) --no-print-directory check-deps
	@$(MAKE) --no-print-directory VARIANT=asan all host/jobhost
	@sh tests/run.sh asan

tsan:
	@$(MAKE) --no-print-directory check-deps
	@$(MAKE) --no-print-directory VARIANT=tsan all host/jobhost
	@sh tests/run.sh tsan

# LISTEN=ADDR (or JOBHOST_LISTEN in the environment) serves another address
# than the manifest's host.http.listen.
run: check-build-deps
	@$(MAKE) --no-print-directory $(JOBHOST) $(PLUGINS)
	./$(JOBHOST) -c config/jobhost.yaml $(if $(LISTEN),--listen $(LISTEN))

# docs/status-page.png, the README's picture of the status page, taken by
# the browser test on a daemon of its own.
screenshot: check-deps
	@$(MAKE) --no-print-directory all
	JOBHOST_SCREENSHOT=$(CURDIR)/docs/status-page.png /usr/bin/python3 \
		tests/integration/test_status_page.py StatusPage.test_job_view_dark_and_light_and_screenshot

# libFuzzer targets, each for FUZZ_SECONDS (default 30).
fuzz:
	@sh tests/install-deps.sh --quiet $(DEB_BUILD) $(DEB_FUZZ)
	@sh tests/fuzz/run.sh

bench-deps:
	@sh tests/install-deps.sh python3-apscheduler python3-prometheus-client python3-sqlalchemy

bench:
	@$(MAKE) --no-print-directory check-deps
	@$(MAKE) --no-print-directory all
	@sh tests/bench/run.sh

# --- install ----------------------------------------------------------------
# Everything follows PREFIX, the configuration too: SYSCONFDIR is
# $(PREFIX)/etc, or /etc for PREFIX=/usr (a distribution's layout).
# An existing manifest is never overwritten: the new one goes beside it as
# jobhost.yaml.example. JOBHOST_USER names the user the systemd unit runs
# the daemon as (the Debian package's "jobhost"); empty, it runs as root.
BINDIR := $(PREFIX)/bin
INCDIR := $(PREFIX)/include
LIBDIR := $(PREFIX)/lib
DATADIR := $(PREFIX)/share
PKGDIR := $(DATADIR)/pkgconfig
PLUGDIR := $(LIBDIR)/jobhost/plugins
MANDIR ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ifeq ($(PREFIX),/usr)
SYSCONFDIR ?= /etc
else
SYSCONFDIR ?= $(PREFIX)/etc
endif
UNITDIR ?= $(LIBDIR)/systemd/system
LOGDIR ?= /var/log/jobhost
STATEDIR ?= /var/lib/jobhost
JOBHOST_USER ?=
MANIFEST_SRC ?= config/jobhost.yaml
MANPAGES := docs/man/jobhost.8 docs/man/jobhost.yaml.5 docs/man/jobhost-plugin.7

# The placeholders of the installed text files.
SUBST := sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
	-e 's|@PLUGDIR@|$(PLUGDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
	-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@LOGDIR@|$(LOGDIR)|g' \
	-e 's|@STATEDIR@|$(STATEDIR)|g' \
	-e 's|@DATADIR@|$(DATADIR)|g' -e 's|@INCDIR@|$(INCDIR)|g' \
	-e 's|@PKGDIR@|$(PKGDIR)|g' -e 's|@UNITDIR@|$(UNITDIR)|g'

install: $(JOBHOST) $(PLUGINS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCDIR)/jobhost $(DESTDIR)$(PKGDIR) \
		$(DESTDIR)$(PLUGDIR) $(DESTDIR)$(SYSCONFDIR)/jobhost $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(DATADIR)/jobhost $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 host/jobhost $(DESTDIR)$(BINDIR)/jobhost
	install -m 0644 sdk/include/jobhost/*.h $(DESTDIR)$(INCDIR)/jobhost/
	install -m 0644 sdk/template/plugin_template.c $(DESTDIR)$(DATADIR)/jobhost/
	$(SUBST) sdk/jobhost.pc.in > $(DESTDIR)$(PKGDIR)/jobhost.pc
	install -m 0755 $(PLUGINS) $(DESTDIR)$(PLUGDIR)/
	$(SUBST) -e 's|plugin_dir: ../plugins|plugin_dir: $(PLUGDIR)|' \
		-e 's|path: ../logs/jobhost.log|path: $(LOGDIR)/jobhost.log|' \
		-e 's|path: ../state/jobhost.db|path: $(STATEDIR)/jobhost.db|' \
		$(MANIFEST_SRC) > $(DESTDIR)$(SYSCONFDIR)/jobhost/jobhost.yaml.new
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/jobhost/jobhost.yaml ]; then \
		mv $(DESTDIR)$(SYSCONFDIR)/jobhost/jobhost.yaml.new \
			$(DESTDIR)$(SYSCONFDIR)/jobhost/jobhost.yaml.example; \
		echo "install: $(DESTDIR)$(SYSCONFDIR)/jobhost/jobhost.yaml exists: kept;" \
			"the new example is jobhost.yaml.example beside it"; \
	else \
		mv $(DESTDIR)$(SYSCONFDIR)/jobhost/jobhost.yaml.new \
			$(DESTDIR)$(SYSCONFDIR)/jobhost/jobhost.yaml; \
	fi
	$(SUBST) $(if $(JOBHOST_USER),-e 's|@USER@|$(JOBHOST_USER)|g',-e '/@USER@/d') \
		config/jobhost.service.in > $(DESTDIR)$(UNITDIR)/jobhost.service
	for m in $(MANPAGES); do \
		n=$$(basename $$m); \
		$(SUBST) $$m > $(DESTDIR)$(MANDIR)/man$${n##*.}/$$n || exit 1; \
	done
	$(SUBST) config/bash-completion/jobhost.bash > $(DESTDIR)$(BASHCOMPDIR)/jobhost
	chmod 0644 $(DESTDIR)$(SYSCONFDIR)/jobhost/jobhost.yaml* $(DESTDIR)$(UNITDIR)/jobhost.service \
		$(DESTDIR)$(PKGDIR)/jobhost.pc $(DESTDIR)$(BASHCOMPDIR)/jobhost \
		$(DESTDIR)$(MANDIR)/man*/jobhost*

# --- Debian packages --------------------------------------------------------
# dpkg-buildpackage writes the packages beside the source tree it builds:
# `make deb` builds a copy of this tree's files in build/deb/ so that they
# land in build/deb/ (jobhost_*.deb, jobhost-dev_*.deb), not in the parent
# directory. `dpkg-buildpackage -us -uc -b` in the tree works as well.
deb:
	@sh tests/install-deps.sh --quiet $(DEB_BUILD) $(DEB_PKG)
	rm -rf build/deb && mkdir -p build/deb/src
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t build/deb/src
	cd build/deb/src && dpkg-buildpackage -us -uc -b
	@ls -1 build/deb/*.deb

# --- housekeeping -----------------------------------------------------------
lint:
	clang-format --dry-run --Werror $(HOST_SRC) $(HOST_HDR) plugins/*.c sdk/include/jobhost/*.h

fmt:
	clang-format -i $(HOST_SRC) $(HOST_HDR) plugins/*.c sdk/include/jobhost/*.h

clean:
	rm -rf build host/jobhost plugins/*.so tests/plugins/*.so
