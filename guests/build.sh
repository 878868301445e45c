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

# tiny: a bzImage (boot protocol 2.15) of the project's own. The setup
# header needs the protected-mode size, so the 32-bit part is linked first.
gcc "${CFLAGS[@]}" -c tiny/entry.S -o "$work/tiny-entry.o"
gcc "${CFLAGS[@]}" -c tiny/tiny.c -o "$work/tiny.o"
gcc "${LDFLAGS[@]/link.ld/tiny/link.ld}" -o "$work/tiny.elf" "$work/tiny-entry.o" "$work/tiny.o"
objcopy -O binary "$work/tiny.elf" "$work/tiny.pm"
pm_size=$(wc -c <"$work/tiny.pm")
# init_size: everything the kernel occupies once running, BSS included.
init_size=$(( 0x$(nm "$work/tiny.elf" | awk '$3 == "_end" { print $1 }') - 0x100000 ))
gcc -m32 -c -DSYSSIZE=$(( (pm_size + 15) / 16 )) -DINIT_SIZE=$init_size tiny/header.S -o "$work/tiny-header.o"
objcopy -O binary -j .text "$work/tiny-header.o" "$work/tiny.setup"
cat "$work/tiny.setup" "$work/tiny.pm" >bin/tiny.bzImage
chmod 644 bin/tiny.bzImage
echo "guests/bin/tiny.bzImage: $(wc -c <bin/tiny.bzImage) bytes"
