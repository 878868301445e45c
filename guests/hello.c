/*
 * hello: the self-test guest. Greets, then prints results anyone can check:
 * the number of primes below 100000 (9592), the CRC-32 check value of
 * "123456789" (cbf43926) and the CRC-32 of the sieve itself.
 */
#include "lib.h"

#define LIMIT 100000

static u8 composite[LIMIT];

static u32 sieve(void)
{
	u32 count = 0;
	composite[0] = composite[1] = 1;
	for (u32 n = 2; n < LIMIT; n++) {
		if (composite[n])
			continue;
		count++;
		if (n <= (LIMIT - 1) / n)
			for (u32 m = n * n; m < LIMIT; m += n)
				composite[m] = 1;
	}
	return count;
}

int main(void)
{
	puts("Hello from a typevisor guest (flat 32-bit protected mode, CPL 0).\n");
	puts("primes below 100000: ");
	put_dec(sieve());
	puts("\ncrc32(\"123456789\"): ");
	put_hex(crc32(0, "123456789", 9));
	puts("\ncrc32(sieve): ");
	put_hex(crc32(0, composite, LIMIT));
	puts("\n");
	return 0;
}
