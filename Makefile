# Makefile of the idenfy extension (PGXS)

EXTENSION = idenfy
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = idenfy
OBJS = src/idenfy.o src/body.o src/read.o src/vocab.o src/rules.o src/store.o src/decision.o src/notify.o src/signed.o src/reprocess.o src/faces.o src/lookup.o src/tables.o
DATA = $(wildcard sql/idenfy--*.sql)

# pg_regress: inputs in sql/, outputs in expected/
REGRESS = $(patsubst sql/%.sql,%,$(sort $(filter-out sql/idenfy--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --load-extension=idenfy

# isolation tester: specs in test/specs, outputs in test/expected
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --load-extension=idenfy

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): src/idenfy.h

# the loader, a separate client program
.PHONY: load load-install load-clean
all: load
load:
	$(if $(wildcard src/load/Makefile),$(MAKE) -C src/load PG_CONFIG=$(PG_CONFIG))
install: load-install
load-install:
	$(if $(wildcard src/load/Makefile),$(MAKE) -C src/load install PG_CONFIG=$(PG_CONFIG))
clean: load-clean
load-clean:
	$(if $(wildcard src/load/Makefile),-$(MAKE) -C src/load clean)

# lists for test/check.sh
print-%:
	@echo '$($*)'
