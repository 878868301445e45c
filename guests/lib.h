/* The little runtime every guest links with: console, power-off, CRC-32, heap. */
#ifndef GUEST_LIB_H
#define GUEST_LIB_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

/* Debug console (Bochs/QEMU "debugcon"): each byte written is one character. */
#define PORT_CONSOLE 0xe9
/* Writing anything here powers the machine off; the byte is the exit status. */
#define PORT_POWER_OFF 0xf4

void putc(char c);
void puts(const char *s);
void put_dec(u32 v);
void put_hex(u32 v);
__attribute__((noreturn)) void power_off(u32 status);

u32 crc32(u32 crc, const void *buf, u32 len);

/* Bump allocator over the RAM after the image; nothing is ever freed. */
void *alloc(u32 bytes);

void *memset(void *dst, int c, u32 n);
void *memcpy(void *dst, const void *src, u32 n);

#endif
