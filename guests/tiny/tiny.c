/*
 * tiny: the project's own kernel, a bzImage that boots on the emulated PC
 * without any download. It exercises what a real kernel's first steps need:
 * the boot protocol (command line, E820 map), the 16550A on COM1, the CMOS
 * clock, the 8259A and 8254 with interrupts and HLT, the TSC, and ACPI
 * (RSDP -> RSDT -> FADT, \_S5 in the DSDT) to power off.
 *
 * The command line picks what it does: "tiny=hello" (the default) reports
 * and powers off; "tiny=echo" echoes COM1 input until 'q'; "tiny=triple"
 * triple-faults; "tiny=garbage" jumps into bytes that are not code;
 * "tiny=reboot" pulses the reset line through the i8042; "tiny=idle" waits
 * two seconds in HLT and powers off.
 */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u64 rdtsc(void) { u64 v; __asm__ volatile("rdtsc" : "=A"(v)); return v; }

#define COM1 0x3f8

static void serial_init(void)
{
	outb(COM1 + 1, 0x00);	/* no interrupts: we poll */
	outb(COM1 + 3, 0x80);	/* DLAB */
	outb(COM1 + 0, 0x01);	/* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);	/* 8N1 */
	outb(COM1 + 2, 0x07);	/* FIFOs on and cleared */
	outb(COM1 + 4, 0x03);	/* DTR, RTS */
}

static void putc(char c)
{
	if (c == '\n') putc('\r');
	while (!(inb(COM1 + 5) & 0x20)) {}
	outb(COM1, (u8)c);
}

static void puts(const char *s) { while (*s) putc(*s++); }

static void put_dec(u32 v)
{
	char buf[11];
	int i = 10;
	buf[i] = 0;
	do { buf[--i] = (char)('0' + v % 10); v /= 10; } while (v);
	puts(buf + i);
}

static void put_hex(u32 v)
{
	puts("0x");
	for (int s = 28; s >= 0; s -= 4) putc("0123456789abcdef"[(v >> s) & 15]);
}

static void put_2(u32 v) { putc((char)('0' + v / 10)); putc((char)('0' + v % 10)); }

static int starts_with(const char *s, const char *p) { while (*p) if (*s++ != *p++) return 0; return 1; }

/* The value of "tiny=" on the command line, or "hello". */
static const char *mode_of(const char *cmdline)
{
	for (const char *p = cmdline; p && *p; p++) {
		if ((p == cmdline || p[-1] == ' ') && starts_with(p, "tiny=")) return p + 5;
	}
	return "hello";
}

static int mode_is(const char *mode, const char *name)
{
	while (*name) if (*mode++ != *name++) return 0;
	return *mode == 0 || *mode == ' ';
}

/* ---- CMOS clock ---- */

static u8 cmos(u8 reg) { outb(0x70, reg); return inb(0x71); }
static u32 bcd(u32 v) { return (v & 15) + (v >> 4) * 10; }

static void print_date(void)
{
	while (cmos(0x0a) & 0x80) {}	/* update in progress */
	u32 sec = cmos(0), min = cmos(2), hour = cmos(4), day = cmos(7), mon = cmos(8), year = cmos(9), cent = cmos(0x32);
	if (!(cmos(0x0b) & 0x04)) {
		sec = bcd(sec); min = bcd(min); hour = bcd(hour); day = bcd(day); mon = bcd(mon); year = bcd(year); cent = bcd(cent);
	}
	puts("rtc: ");
	put_2(cent); put_2(year); putc('-'); put_2(mon); putc('-'); put_2(day); putc(' ');
	put_2(hour); putc(':'); put_2(min); putc(':'); put_2(sec); puts(" UTC\n");
}

/* ---- interrupts: IDT, 8259A, 8254 ---- */

struct idt_gate { u16 off_lo, sel, flags, off_hi; } __attribute__((packed));
static struct idt_gate idt[256];
extern void irq0_entry(void);
extern void exception_entry(void);
static volatile u32 ticks;

void timer_tick(void) { ticks++; }

void exception(void)
{
	puts("tiny: unexpected exception\n");
}

static void set_gate(int v, void (*fn)(void))
{
	u32 a = (u32)fn;
	idt[v].off_lo = (u16)a;
	idt[v].sel = 0x10;	/* the boot protocol's __BOOT_CS */
	idt[v].flags = 0x8e00;	/* present, DPL 0, 32-bit interrupt gate */
	idt[v].off_hi = (u16)(a >> 16);
}

static void load_idt(u16 limit)
{
	struct { u16 limit; u32 base; } __attribute__((packed)) d = { limit, (u32)idt };
	__asm__ volatile("lidt %0" : : "m"(d));
}

static void pic_init(void)
{
	outb(0x20, 0x11); outb(0xa0, 0x11);	/* ICW1: edge, cascade, ICW4 */
	outb(0x21, 0x20); outb(0xa1, 0x28);	/* ICW2: vectors 0x20 and 0x28 */
	outb(0x21, 0x04); outb(0xa1, 0x02);	/* ICW3: slave on IR2 */
	outb(0x21, 0x01); outb(0xa1, 0x01);	/* ICW4: 8086 mode */
	outb(0x21, 0xfe); outb(0xa1, 0xff);	/* only IRQ 0 */
}

#define PIT_HZ 1193182u
#define TICK_HZ 100u

static void pit_init(void)
{
	u32 divisor = (PIT_HZ + TICK_HZ / 2) / TICK_HZ;
	outb(0x43, 0x34);	/* channel 0, lo/hi, mode 2 */
	outb(0x40, (u8)divisor);
	outb(0x40, (u8)(divisor >> 8));
}

/* ---- ACPI ---- */

static int sig_is(const u8 *p, const char *s) { for (int i = 0; s[i]; i++) if (p[i] != (u8)s[i]) return 0; return 1; }
static u32 rd32(const u8 *p) { return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24; }

static int checksum_ok(const u8 *p, u32 len) { u8 s = 0; for (u32 i = 0; i < len; i++) s += p[i]; return s == 0; }

static const u8 *find_rsdp(void)
{
	for (u32 a = 0xe0000; a < 0x100000; a += 16) {
		const u8 *p = (const u8 *)a;
		if (sig_is(p, "RSD PTR ") && checksum_ok(p, 20)) return p;
	}
	return 0;
}

/* SLP_TYPa of \_S5 in the DSDT: Name(_S5_, Package(){ a, b, ... }). */
static int s5_type(const u8 *dsdt)
{
	u32 len = rd32(dsdt + 4);
	for (u32 i = 36; i + 8 < len; i++) {
		if (!sig_is(dsdt + i, "_S5_") || dsdt[i + 4] != 0x12) continue;
		const u8 *p = dsdt + i + 5;
		p += (*p >> 6) + 1;	/* PkgLength: lead byte plus follow bytes */
		p++;			/* NumElements */
		if (*p == 0x0a) return p[1];	/* BytePrefix */
		if (*p == 0x00 || *p == 0x01) return *p;	/* Zero, One */
		return -1;
	}
	return -1;
}

static void acpi_power_off(void)
{
	const u8 *rsdp = find_rsdp();
	if (!rsdp) { puts("acpi: no RSDP\n"); return; }
	const u8 *rsdt = (const u8 *)rd32(rsdp + 16);
	if (!sig_is(rsdt, "RSDT") || !checksum_ok(rsdt, rd32(rsdt + 4))) { puts("acpi: bad RSDT\n"); return; }
	u32 n = (rd32(rsdt + 4) - 36) / 4;
	for (u32 i = 0; i < n; i++) {
		const u8 *t = (const u8 *)rd32(rsdt + 36 + 4 * i);
		if (!sig_is(t, "FACP")) continue;
		u32 pm1a_cnt = rd32(t + 64);
		const u8 *dsdt = (const u8 *)rd32(t + 40);
		int typ = s5_type(dsdt);
		if (typ < 0) { puts("acpi: no \\_S5\n"); return; }
		puts("acpi: PM1a_CNT "); put_hex(pm1a_cnt); puts(", S5 type "); put_dec((u32)typ); puts("; powering off\n");
		outw((u16)pm1a_cnt, (u16)((typ << 10) | (1 << 13)));
		return;
	}
	puts("acpi: no FADT\n");
}

/* ---- modes ---- */

static void echo(void)
{
	puts("echo: type, 'q' ends\n");
	for (;;) {
		while (!(inb(COM1 + 5) & 0x01)) {}
		char c = (char)inb(COM1);
		if (c == 'q') break;
		putc(c == '\r' ? '\n' : c);
	}
	puts("\necho: done\n");
}

static void triple_fault(void)
{
	puts("tiny: triple fault coming\n");
	load_idt(0);
	__asm__ volatile("int3");
}

static const u8 garbage[] = { 0x0f, 0x0b, 0xff, 0xff, 0xd6, 0x0f, 0xff };

static void jump_to_garbage(void)
{
	puts("tiny: jumping to garbage\n");
	load_idt(0);
	((void (*)(void))garbage)();
}

static void reboot(void)
{
	puts("tiny: reset through the i8042\n");
	outb(0x64, 0xfe);
}

void main(const u8 *boot_params)
{
	serial_init();
	const char *cmdline = (const char *)rd32(boot_params + 0x228);
	puts("tiny: hello from the tiny kernel\n");
	puts("cmdline: "); puts(cmdline ? cmdline : ""); putc('\n');

	u32 entries = boot_params[0x1e8], ram_kib = 0;
	for (u32 i = 0; i < entries; i++) {
		const u8 *e = boot_params + 0x2d0 + 20 * i;
		if (rd32(e + 16) == 1) ram_kib += rd32(e + 8) >> 10;
	}
	puts("e820: "); put_dec(entries); puts(" entries, "); put_dec(ram_kib >> 10); puts(" MiB usable\n");

	const char *mode = mode_of(cmdline);
	if (mode_is(mode, "triple")) triple_fault();
	else if (mode_is(mode, "garbage")) jump_to_garbage();
	else if (mode_is(mode, "reboot")) reboot();
	else if (mode_is(mode, "echo")) echo();

	print_date();
	for (int v = 0; v < 32; v++) set_gate(v, exception_entry);
	set_gate(0x20, irq0_entry);
	load_idt(sizeof(idt) - 1);
	pic_init();
	pit_init();
	__asm__ volatile("sti");
	while (ticks < 1) __asm__ volatile("hlt");
	if (mode_is(mode, "idle")) {
		/* Two seconds in HLT: the host should hardly notice. */
		u32 t = ticks;
		while (ticks - t < 200) __asm__ volatile("hlt");
		puts("idle: 200 ticks in HLT\n");
		__asm__ volatile("cli");
		acpi_power_off();
		return;
	}
	u32 start = ticks;
	while (ticks - start < 20) __asm__ volatile("hlt");
	__asm__ volatile("cli");
	puts("timer: 20 ticks of the PIT at 100 Hz, taken in HLT\n");
	/* The TSC across one second of the CMOS clock: both count the same time. */
	u8 s0 = cmos(0);
	while (cmos(0) == s0) {}
	u64 t0 = rdtsc();
	u8 s1 = cmos(0);
	while (cmos(0) == s1) {}
	u64 t1 = rdtsc();
	puts("tsc: "); put_dec((u32)(t1 - t0) / 1000000); puts(" MHz against the RTC\n");
	acpi_power_off();
	puts("tiny: still running after power-off\n");
}
