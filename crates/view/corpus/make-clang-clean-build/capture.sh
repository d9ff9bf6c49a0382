#!/usr/bin/env bash
# Clean run: non-recursive make -j2 with clang and kbuild-style quiet rules
# ("  CC      src/..."): 1,200 C files, an archive, a link, then `make check`
# runs the binary's self-test over every module. Everything passes.
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export LC_ALL=C

mkdir -p src/codecs src/filters
cat > Makefile <<'EOF'
CC      := clang
CFLAGS  := -O1 -Wall -Wextra -Werror -std=c11 -Isrc
SRCS    := $(sort $(wildcard src/codecs/*.c src/filters/*.c))
OBJS    := $(patsubst src/%.c,build/%.o,$(SRCS))

.PHONY: all check
all: build/mediad

build/%.o: src/%.c src/registry.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c $< -o $@

build/libplugins.a: $(OBJS)
	@echo "  AR      $@"
	@ar rcs $@ $^

build/registry.c: $(SRCS)
	@echo "  GEN     $@"
	@./gen-registry.sh $(SRCS) > $@

build/mediad: src/main.c build/registry.c build/libplugins.a
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) src/main.c build/registry.c build/libplugins.a -o $@

check: build/mediad
	@echo "  TEST    build/mediad --selftest"
	@./build/mediad --selftest
EOF
cat > gen-registry.sh <<'EOF'
#!/bin/sh
echo '#include "registry.h"'
for f in "$@"; do n=$(basename "$f" .c); echo "int ${n}_selftest(void);"; done
echo 'const struct plugin plugins[] = {'
for f in "$@"; do n=$(basename "$f" .c); echo "    { \"$n\", ${n}_selftest },"; done
echo '    { 0, 0 }'
echo '};'
EOF
chmod +x gen-registry.sh
cat > src/registry.h <<'EOF'
#ifndef REGISTRY_H
#define REGISTRY_H
struct plugin { const char *name; int (*selftest)(void); };
extern const struct plugin plugins[];
#endif
EOF
cat > src/main.c <<'EOF'
#include <stdio.h>
#include <string.h>
#include "registry.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--selftest") == 0) {
        int n = 0, failed = 0;
        for (const struct plugin *p = plugins; p->name; p++, n++) {
            int rc = p->selftest();
            printf("selftest %-28s %s\n", p->name, rc == 0 ? "ok" : "FAIL");
            failed += rc != 0;
        }
        printf("selftest: %d plugins, %d passed, %d failed\n", n, n - failed, failed);
        return failed != 0;
    }
    puts("mediad: use --selftest");
    return 0;
}
EOF
for i in $(seq -w 1 700); do
  cat > src/codecs/codec_$i.c <<EOF
#include <stdint.h>
#include <stddef.h>

static uint32_t crc_step_$i(uint32_t crc, uint8_t b)
{
    crc ^= b;
    for (int k = 0; k < 8; k++)
        crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    return crc;
}

int codec_${i}_selftest(void)
{
    const uint8_t msg[] = "codec-$i";
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t j = 0; j + 1 < sizeof msg; j++)
        crc = crc_step_$i(crc, msg[j]);
    return (crc ^ 0xFFFFFFFFu) == 0 ? 1 : 0;
}
EOF
done
for i in $(seq -w 1 500); do
  cat > src/filters/filter_$i.c <<EOF
static int clamp_$i(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

int filter_${i}_selftest(void)
{
    int acc = 0;
    for (int v = -$((10#$i)); v <= $((10#$i)); v++)
        acc += clamp_$i(v, -8, 8);
    return acc == 0 ? 0 : 1;
}
EOF
done

{ make -j2 all && make check; } > "$OUT" 2>&1
echo "capture: make exited $?" >&2
