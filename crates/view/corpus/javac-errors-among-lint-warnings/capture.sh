#!/usr/bin/env bash
# javac -Xlint:all on a 260-class project (packages billing, catalog, shipping):
# 1,322 lint warnings (rawtypes, unchecked, deprecation, serial, fallthrough)
# and two errors: cannot find symbol (Money.plus was renamed to add) and
# incompatible types. Shipping12 also calls a method that throws IOException
# without handling it, but javac stops before flow analysis, so that third
# error is not reported in this run.
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export LC_ALL=C.UTF-8
unset JAVA_TOOL_OPTIONS _JAVA_OPTIONS

mkdir -p src/com/acme/core out
cat > src/com/acme/core/Money.java <<'EOF'
package com.acme.core;

public final class Money {
    private final long cents;
    public Money(long cents) { this.cents = cents; }
    public long cents() { return cents; }
    /** Renamed from plus() in 4.0. */
    public Money add(Money o) { return new Money(cents + o.cents); }
    @Deprecated
    public static Money ofDouble(double d) { return new Money(Math.round(d * 100)); }
}
EOF
cat > src/com/acme/core/Store.java <<'EOF'
package com.acme.core;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

public final class Store {
    public static String load(Path p) throws IOException { return Files.readString(p); }
}
EOF

for pkg in billing catalog shipping; do
  mkdir -p "src/com/acme/$pkg"
  P=${pkg^}
  for i in $(seq -w 1 86); do
    cls="$P$i"
    {
      cat <<EOF
package com.acme.$pkg;

import com.acme.core.Money;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

public class $cls implements Serializable {
    private List items = new ArrayList();

    @SuppressWarnings("unused")
    private transient int cache;

    public void add(Object o) {
        items.add(o);
    }

    public Money price(int code) {
        Money m = Money.ofDouble(1.5 * code);
        switch (code) {
            case 1:
                m = new Money(100);
            case 2:
                m = new Money(m.cents() + 50);
                break;
            default:
                break;
        }
        return m;
    }
EOF
      if [ "$pkg" = billing ] && [ "$i" = 33 ]; then
        cat <<'EOF'

    public Money total(Money a, Money b) {
        return a.plus(b);
    }
EOF
      fi
      if [ "$pkg" = catalog ] && [ "$i" = 61 ]; then
        cat <<'EOF'

    public int skuCount(String csv) {
        int n = csv.split(",").length > 0 ? csv : 0;
        return n;
    }
EOF
      fi
      if [ "$pkg" = shipping ] && [ "$i" = 12 ]; then
        cat <<'EOF'

    public String manifest(java.nio.file.Path p) {
        return com.acme.core.Store.load(p);
    }
EOF
      fi
      echo "}"
    } > "src/com/acme/$pkg/$cls.java"
  done
done

find src -name '*.java' | sort > sources.txt
javac -Xlint:all -Xmaxwarns 5000 -Xmaxerrs 500 -d out @sources.txt > "$OUT" 2>&1
echo "capture: javac exited $?" >&2
