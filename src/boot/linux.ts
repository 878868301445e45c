/**
 * Direct kernel boot of an HVM domain, as Xen's `kernel=`/`ramdisk=`/
 * `cmdline=` and QEMU's `-kernel` do: the platform's firmware tables go in
 * first (ACPI in the BIOS area, where Linux's RSDP scan also finds them),
 * then the bzImage with its boot_params, E820 map and initrd, and the vCPU
 * starts at the kernel's 32-bit entry.
 */
import type { PcMachine } from '../hvm/machine.js';
import { E820_RESERVED, e820Reserve, loadBzImage, standardE820, type BzImageLayout } from './bzimage.js';

export interface LinuxBootOptions {
  initrd?: Uint8Array;
  cmdline: string;
}

export function bootLinux(machine: PcMachine, kernel: Uint8Array, opts: LinuxBootOptions): BzImageLayout {
  const firmware = machine.loadFirmwareTables();
  let e820 = standardE820(machine.memoryBytes);
  e820 = e820Reserve(e820, firmware.addr, firmware.size, E820_RESERVED);
  return loadBzImage(machine.mem, machine.cpu, kernel, {
    initrd: opts.initrd,
    cmdline: opts.cmdline,
    e820,
    memoryBytes: machine.memoryBytes,
    acpiRsdp: firmware.rsdp,
  });
}
