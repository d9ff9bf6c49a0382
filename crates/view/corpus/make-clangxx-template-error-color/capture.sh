#!/usr/bin/env bash
# make -j2 of a C++17 project with clang++ -fcolor-diagnostics (real ANSI
# colour escapes) and quiet "  CXX" rules: 800 translation units, scattered
# -Wall warnings, then std::sort on a std::list in src/route/planner_155.cpp
# produces clang's long template error whose only pointer back to user code
# is the "in instantiation ... requested here" note. make stops after it.
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export LC_ALL=C

cat > Makefile <<'EOF'
CXX      := clang++
CXXFLAGS := -std=c++17 -O1 -Wall -Wextra -fcolor-diagnostics -Iinclude
SRCS     := $(sort $(wildcard src/*/*.cpp))
OBJS     := $(patsubst src/%.cpp,build/%.o,$(SRCS))

all: build/router

build/%.o: src/%.cpp
	@mkdir -p $(dir $@)
	@echo "  CXX     $<"
	@$(CXX) $(CXXFLAGS) -c $< -o $@

build/router: $(OBJS)
	@echo "  LINK    $@"
	@$(CXX) -o $@ $^
EOF
mkdir -p include
cat > include/stop.hpp <<'EOF'
#pragma once
#include <string>
#include <vector>
struct Stop { int id; double lat, lon; std::string name; };
using Stops = std::vector<Stop>;
EOF
for area in alerts billing cache dispatch eta geo net route; do
  mkdir -p "src/$area"
  for i in $(seq -w 100 199); do
    f="src/$area/planner_$i.cpp"
    [ "$area" = route ] || f="src/$area/${area}_$i.cpp"
    fn="${area}_$i"
    {
      echo '#include "stop.hpp"'
      if [ "$area" = route ] && [ "$i" = 155 ]; then
        cat <<'EOF'
#include <algorithm>
#include <list>

std::list<int> order_stops(const Stops &stops)
{
    std::list<int> ids;
    for (const auto &s : stops)
        ids.push_back(s.id);
    std::sort(ids.begin(), ids.end());
    return ids;
}
EOF
      fi
      cat <<EOF

double ${fn}_distance(const Stops &stops)
{
    double d = 0;
EOF
      if [ $((10#$i % 3)) -eq 1 ]; then
        echo "    for (int k = 1; k < stops.size(); k++)"
      else
        echo "    for (size_t k = 1; k < stops.size(); k++)"
      fi
      cat <<EOF
        d += (stops[k].lat - stops[k - 1].lat) * (stops[k].lat - stops[k - 1].lat);
    return d;
}
EOF
      if [ $((10#$i % 13)) -eq 7 ]; then
        cat <<EOF

int ${fn}_first(const Stops &stops, int fallback)
{
    int unused_count = 0;
    return stops.empty() ? -1 : stops[0].id;
}
EOF
      fi
    } > "$f"
  done
done

make -j2 > "$OUT" 2>&1
echo "capture: make exited $?" >&2
