#!/usr/bin/env bash
# Build the guest programs into flat binaries in guests/bin/ (committed, so
# that running typevisor needs no 32-bit toolchain). Needs gcc with -m32
# support (Debian: gcc-multilib). The same compiler gives the same bytes.
set -euo pipefail
cd "$(dirname "$0")"

CFLAGS=(-m32 -march=i686 -ffreestanding -nostdlib -fno-pic -fno-pie -fno-stack-protector -O2
  -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -fno-ident -Wall -Wextra -Werror)
LDFLAGS=(-m32 -nostdlib -static -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wl,-T,link.ld)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

gcc "${CFLAGS[@]}" -c start.S -o "$work/start.o"
gcc "${CFLAGS[@]}" -c lib.c -o "$work/lib.o"
mkdir -p bin
for prog in hello bench; do
  gcc "${CFLAGS[@]}" -c "$prog.c" -o "$work/$prog.o"
  # start.o first: the entry point is the first byte of the image.
  gcc "${LDFLAGS[@]}" -o "$work/$prog.elf" "$work/start.o" "$work/$prog.o" "$work/lib.o"
  objcopy -O binary "$work/$prog.elf" "bin/$prog.bin"
  chmod 644 "bin/$prog.bin"
  echo "guests/bin/$prog.bin: $(wc -c <"bin/$prog.bin") bytes"
done
