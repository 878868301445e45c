/*
 * 32-bit entry (code32_start, 1 MiB). The boot protocol leaves flat
 * segments with CS = 0x10, DS = 0x18, interrupts off and ESI pointing at
 * boot_params. We take our own stack, clear the BSS and call main.
 * Interrupt and exception entry points live here too.
 */
	.section .text.start, "ax"
	.globl _start
_start:
	cld
	movl	$stack_top, %esp
	movl	%esi, %ebx
	movl	$__bss_start, %edi
	movl	$__bss_end, %ecx
	subl	%edi, %ecx
	shrl	$2, %ecx
	xorl	%eax, %eax
	rep stosl
	pushl	%ebx
	call	main
1:	cli
	hlt
	jmp	1b

/* IRQ 0 (PIT), at vector 0x20 after the PIC is remapped. */
	.globl	irq0_entry
irq0_entry:
	pushal
	call	timer_tick
	movb	$0x20, %al
	outb	%al, $0x20		/* non-specific EOI */
	popal
	iret

/* Any exception: report the vector's stub address and stop. */
	.globl	exception_entry
exception_entry:
	call	exception
1:	cli
	hlt
	jmp	1b

	.section .bss
	.align	16
	.space	16384
stack_top:

	.section .note.GNU-stack, "", @progbits
