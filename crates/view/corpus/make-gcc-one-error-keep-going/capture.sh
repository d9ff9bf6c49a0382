#!/usr/bin/env bash
# make -k -j2 on a recursive C project: 12 libraries x 48 files compiled with
# gcc -Wall -Wextra (many warnings: unused parameters, sign compare, unused
# variables). One compile error in libnet/conn_23.c; make keeps going with the
# other libraries and ends with "Target 'all' not remade because of errors".
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export LC_ALL=C

libs=(core util alloc str io fs net http json db auth app)
cat > Makefile <<EOF
SUBDIRS := ${libs[*]}

.PHONY: all \$(SUBDIRS)
all: \$(SUBDIRS)

\$(SUBDIRS):
	\$(MAKE) -C \$@
EOF

mkdir -p include
cat > include/common.h <<'EOF'
#ifndef COMMON_H
#define COMMON_H
#include <stddef.h>
#include <stdint.h>
struct conn {
    int fd;
    uint32_t flags;
    size_t rx_bytes;
    size_t tx_bytes;
};
int common_log(const char *fmt, ...);
#endif
EOF

for lib in "${libs[@]}"; do
  mkdir -p "$lib"
  cat > "$lib/Makefile" <<EOF
CC := gcc
CFLAGS := -O2 -g -Wall -Wextra -I../include -fPIC
SRCS := \$(wildcard *.c)
OBJS := \$(patsubst %.c,obj/%.o,\$(SRCS))

all: lib$lib.a

lib$lib.a: \$(OBJS)
	ar rcs \$@ \$^

obj/%.o: %.c | obj
	\$(CC) \$(CFLAGS) -c \$< -o \$@

obj:
	mkdir -p obj
EOF
  for n in $(seq -w 1 48); do
    f="$lib/${lib}_$n.c"
    case "$lib" in net) f="$lib/conn_$n.c";; esac
    base=$(basename "$f" .c)
    {
      echo '#include "common.h"'
      echo '#include <string.h>'
      echo
      if [ $((10#$n % 3)) -eq 0 ]; then
        cat <<EOF
int ${base}_init(struct conn *c, int mode, const char *name)
{
    c->fd = -1;
    c->flags = 0;
    return 0;
}
EOF
      else
        cat <<EOF
int ${base}_init(struct conn *c, int mode, const char *name)
{
    (void)name;
    c->fd = -1;
    c->flags = (uint32_t)mode;
    return 0;
}
EOF
      fi
      if [ $((10#$n % 4)) -eq 1 ]; then
        cat <<EOF

size_t ${base}_count(const char *s, int limit)
{
    size_t n = 0;
    int scratch;
    for (size_t i = 0; s[i]; i++) {
        if (i < limit && s[i] == ',')
            n++;
    }
    return n;
}
EOF
      fi
      if [ "$lib" = net ] && [ "$n" = 23 ]; then
        cat <<'EOF'

int conn_23_set_timeout(struct conn *c, unsigned ms)
{
    c->timeout_ms = ms;
    return c->fd >= 0 ? 0 : -1;
}
EOF
      fi
    } > "$f"
  done
done

make -k -j2 > "$OUT" 2>&1
echo "capture: make exited $?" >&2
