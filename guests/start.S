/*
 * Entry point, at the first byte of the image. The loader leaves us in flat
 * 32-bit protected mode at CPL 0 with ESP set; EAX, EBX and ECX carry
 * arguments (what they mean is up to each program). main's return value is written to
 * the power-off port, so it is the guest's exit status.
 */
	.section .text.start, "ax"
	.globl _start
_start:
	cld
	movl	%eax, %esi
	movl	%ecx, %ebp		/* the third argument survives the BSS clearing */
	movl	$__bss_start, %edi
	movl	$__bss_end, %ecx
	subl	%edi, %ecx
	shrl	$2, %ecx
	xorl	%eax, %eax
	rep stosl
	pushl	%ebp
	pushl	%ebx
	pushl	%esi
	call	main
	outb	%al, $0xf4
1:	hlt
	jmp	1b

	.section .note.GNU-stack, "", @progbits
