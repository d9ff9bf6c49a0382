#!/usr/bin/env bash
# make -j2 with full gcc command lines: 1,000 files compile (a few -Wformat
# warnings), then the final link fails: 35 files still call kv_hash_resize,
# which hash.c renamed to kv_table_grow. ld prints five "undefined reference
# to `kv_hash_resize'" and then "more undefined references ... follow".
# The error sits at the very end.
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export LC_ALL=C

mkdir -p src include
cat > Makefile <<'EOF'
CC       := gcc
CPPFLAGS := -Iinclude -DKV_VERSION=\"3.2.0\" -D_GNU_SOURCE
CFLAGS   := -O2 -g -Wall -Wformat=2 -fno-omit-frame-pointer -ffunction-sections
LDFLAGS  := -Wl,-O1 -Wl,--as-needed
SRCS     := $(sort $(wildcard src/*.c))
OBJS     := $(patsubst src/%.c,obj/%.o,$(SRCS))

all: bin/kvstore

obj/%.o: src/%.c include/kv.h
	@mkdir -p obj
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

bin/kvstore: $(OBJS)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^
EOF
cat > include/kv.h <<'EOF'
#ifndef KV_H
#define KV_H
#include <stddef.h>
struct kv_table { size_t len, cap; char **keys; };
int kv_hash_resize(struct kv_table *t, size_t cap);
size_t kv_hash(const char *s);
#endif
EOF
cat > src/hash.c <<'EOF'
#include <stdlib.h>
#include "kv.h"

size_t kv_hash(const char *s)
{
    size_t h = 1469598103934665603ull;
    while (*s) { h ^= (unsigned char)*s++; h *= 1099511628211ull; }
    return h;
}

/* renamed from kv_hash_resize in the table refactor */
int kv_table_grow(struct kv_table *t, size_t cap)
{
    char **k = realloc(t->keys, cap * sizeof *k);
    if (!k) return -1;
    t->keys = k;
    t->cap = cap;
    return 0;
}
EOF
cat > src/main.c <<'EOF'
#include <stdio.h>
#include "kv.h"
int main(void) { printf("kvstore %s %zu\n", KV_VERSION, kv_hash("x")); return 0; }
EOF
for i in $(seq -w 1 1000); do
  {
    echo '#include <stdio.h>'
    echo '#include "kv.h"'
    echo
    if [ $((10#$i % 125)) -eq 7 ]; then
      cat <<EOF
void shard_${i}_debug(const struct kv_table *t)
{
    printf("shard $i: len=%d cap=%d\n", t->len, t->cap);
}
EOF
    fi
    if [ $((10#$i % 29)) -eq 3 ]; then
      cat <<EOF
int shard_${i}_put(struct kv_table *t, char *key)
{
    if (t->len == t->cap && kv_hash_resize(t, t->cap ? t->cap * 2 : 8) != 0)
        return -1;
    t->keys[t->len++] = key;
    return 0;
}
EOF
    else
      cat <<EOF
size_t shard_${i}_slot(const char *key, size_t cap)
{
    return cap ? kv_hash(key) % cap : 0;
}
EOF
    fi
  } > src/shard_$i.c
done

make -j2 > "$OUT" 2>&1
echo "capture: make exited $?" >&2
