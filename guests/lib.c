#include "lib.h"

static inline void outb(u16 port, u8 v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

void putc(char c)
{
	outb(PORT_CONSOLE, (u8)c);
}

void puts(const char *s)
{
	while (*s)
		putc(*s++);
}

void put_dec(u32 v)
{
	char buf[10];
	int n = 0;
	do {
		buf[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		putc(buf[--n]);
}

void put_hex(u32 v)
{
	for (int shift = 28; shift >= 0; shift -= 4)
		putc("0123456789abcdef"[(v >> shift) & 15]);
}

void power_off(u32 status)
{
	outb(PORT_POWER_OFF, (u8)status);
	for (;;)
		__asm__ volatile("hlt");
}

/* CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), table built on first use. */
static u32 crc_table[256];

u32 crc32(u32 crc, const void *buf, u32 len)
{
	const u8 *p = buf;
	if (!crc_table[1]) {
		for (u32 n = 0; n < 256; n++) {
			u32 c = n;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			crc_table[n] = c;
		}
	}
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

extern u8 _end[];
static u8 *heap;

void *alloc(u32 bytes)
{
	if (!heap)
		heap = (u8 *)(((u32)_end + 4095) & ~4095u);
	void *p = heap;
	heap += (bytes + 4095) & ~4095u;
	return p;
}

/* gcc may emit calls to these even in freestanding code. */
void *memset(void *dst, int c, u32 n)
{
	u8 *d = dst;
	while (n--)
		*d++ = (u8)c;
	return dst;
}

void *memcpy(void *dst, const void *src, u32 n)
{
	u8 *d = dst;
	const u8 *s = src;
	while (n--)
		*d++ = *s++;
	return dst;
}
