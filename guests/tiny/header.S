/*
 * The real-mode part of a bzImage (Linux boot protocol 2.15): the setup
 * header a boot loader reads, at the offsets the protocol gives. Only the
 * 32-bit entry is supported; a loader that runs the real-mode code instead
 * gets a HLT loop. SYSSIZE and INIT_SIZE come from build.sh.
 */
	.code16
	.section .text
	.globl _start
_start:
	cli
1:	hlt
	jmp	1b

	.org	0x1f1
setup_sects:	.byte	1		/* one 512-byte sector after the boot sector */
root_flags:	.word	0
syssize:	.long	SYSSIZE		/* protected-mode code, in 16-byte units */
ram_size:	.word	0
vid_mode:	.word	0xffff
root_dev:	.word	0
boot_flag:	.word	0xaa55
	.org	0x200
jump:		.byte	0xeb, 0x66	/* short jump past the header */
header:		.ascii	"HdrS"
version:	.word	0x020f
realmode_swtch:	.long	0
start_sys_seg:	.word	0x1000
kernel_version:	.word	0
type_of_loader:	.byte	0
loadflags:	.byte	0x01		/* LOADED_HIGH: protected-mode code at 1 MiB */
setup_move_size: .word	0x8000
code32_start:	.long	0x100000
ramdisk_image:	.long	0
ramdisk_size:	.long	0
bootsect_kludge: .long	0
heap_end_ptr:	.word	0
ext_loader_ver:	.byte	0
ext_loader_type: .byte	0
cmd_line_ptr:	.long	0
initrd_addr_max: .long	0x7fffffff
kernel_alignment: .long	0x1000
relocatable_kernel: .byte 0
min_alignment:	.byte	12
xloadflags:	.word	0
cmdline_size:	.long	2047
hardware_subarch: .long	0
hardware_subarch_data: .quad 0
payload_offset:	.long	0
payload_length:	.long	0
setup_data:	.quad	0
pref_address:	.quad	0x100000
init_size:	.long	INIT_SIZE
handover_offset: .long	0
kernel_info_offset: .long 0
	.org	0x400
