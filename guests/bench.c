/*
 * bench: the CPU benchmark guest. Entry: EAX = iterations, EBX = phases
 * (bit 0 compute, bit 1 memory; 0 means both), ECX = warm-up iterations: after
 * that many iterations of a phase the guest writes a checkpoint code to port
 * 0x80 (0x11 compute, 0x21 memory), and another when the phase ends (0x12,
 * 0x22), so the host can time the warmed-up part of one continuous run. Each phase prints a checksum
 * that the host checks against its own model of the same computation
 * (bench/reference.ts), so a fast but wrong CPU does not pass.
 *
 * Output: "compute <n> <checksum>\n" and/or "memory <n> <checksum>\n".
 */
#include "lib.h"

#define PHASE_COMPUTE 1
#define PHASE_MEMORY 2

static u32 xorshift(u32 *state)
{
	u32 x = *state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

static u32 mix(u32 h, u32 v)
{
	return (h ^ v) * 0x01000193u;
}

/* ---- compute phase: branches, calls, division, byte and word accesses ---- */

#define SIEVE_LIMIT 32768
#define CRC_BYTES 8192
#define SORT_LEN 512
#define GCD_PAIRS 256

static u8 sieve_map[SIEVE_LIMIT];
static u8 crc_buf[CRC_BYTES];
static u32 sort_buf[SORT_LEN];

static u32 count_primes(void)
{
	u32 count = 0;
	memset(sieve_map, 0, sizeof sieve_map);
	for (u32 n = 2; n < SIEVE_LIMIT; n++) {
		if (sieve_map[n])
			continue;
		count++;
		if (n <= (SIEVE_LIMIT - 1) / n)
			for (u32 m = n * n; m < SIEVE_LIMIT; m += n)
				sieve_map[m] = 1;
	}
	return count;
}

static void quicksort(u32 *a, int lo, int hi)
{
	while (lo < hi) {
		u32 pivot = a[lo + (hi - lo) / 2];
		int i = lo, j = hi;
		while (i <= j) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j) {
				u32 t = a[i];
				a[i++] = a[j];
				a[j--] = t;
			}
		}
		/* Recurse into the smaller half, loop on the larger. */
		if (j - lo < hi - i) {
			quicksort(a, lo, j);
			lo = i;
		} else {
			quicksort(a, i, hi);
			hi = j;
		}
	}
}

static u32 gcd(u32 a, u32 b)
{
	while (b) {
		u32 t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static u32 compute(u32 iter)
{
	u32 h = 0x811c9dc5u, rng = iter * 0x9e3779b9u + 1;

	h = mix(h, count_primes());

	for (u32 k = 0; k < CRC_BYTES; k++)
		crc_buf[k] = (u8)xorshift(&rng);
	h = mix(h, crc32(0, crc_buf, CRC_BYTES));

	for (u32 k = 0; k < SORT_LEN; k++)
		sort_buf[k] = xorshift(&rng);
	quicksort(sort_buf, 0, SORT_LEN - 1);
	u32 weighted = 0;
	for (u32 k = 0; k < SORT_LEN; k++)
		weighted += sort_buf[k] * (k + 1);
	h = mix(h, weighted);

	u32 gsum = 0;
	for (u32 k = 0; k < GCD_PAIRS; k++) {
		u32 a = xorshift(&rng) >> 8, b = xorshift(&rng) >> 12;
		gsum += gcd(a, b | 1);
	}
	return mix(h, gsum);
}

/* ---- memory phase: strided read-modify-write and pointer chasing over MiBs ---- */

/*
 * 512 KiB walked and 256 KiB of links: 192 guest pages, enough to exercise
 * the emulator's TLB and memory path, while fitting in the host's L2 so that
 * the figure measures the emulator rather than the host's DRAM latency
 * (which a native run would pay alike).
 */
#define WALK_WORDS (1u << 17)
#define CHASE_LEN (1u << 16)
#define CHASE_STEPS 65536

static u32 *walk_buf, *chase_next;

static void memory_setup(void)
{
	walk_buf = alloc(WALK_WORDS * 4);
	chase_next = alloc(CHASE_LEN * 4);
	for (u32 k = 0; k < WALK_WORDS; k++)
		walk_buf[k] = k * 0x9e3779b9u;
	/* Sattolo's shuffle: one cycle through every link. */
	u32 rng = 0x2545f491u;
	for (u32 k = 0; k < CHASE_LEN; k++)
		chase_next[k] = k;
	for (u32 k = CHASE_LEN - 1; k > 0; k--) {
		u32 j = xorshift(&rng) % k;
		u32 t = chase_next[k];
		chase_next[k] = chase_next[j];
		chase_next[j] = t;
	}
}

static u32 memory(u32 iter)
{
	/* 16 words = 64 bytes apart, then 1027 words: every page, never the same offset twice in a row. */
	for (u32 k = iter % 16; k < WALK_WORDS; k += 16)
		walk_buf[k] = walk_buf[k] * 3 + iter;
	for (u32 k = iter % 1027; k < WALK_WORDS; k += 1027)
		walk_buf[k] ^= walk_buf[(k * 7) & (WALK_WORDS - 1)];

	u32 h = 0x811c9dc5u, p = iter & (CHASE_LEN - 1);
	for (u32 k = 0; k < CHASE_STEPS; k++) {
		p = chase_next[p];
		h = mix(h, walk_buf[p]);
	}
	return h;
}

#define PORT_CHECKPOINT 0x80

static void checkpoint(u8 code)
{
	__asm__ volatile("outb %0, %1" : : "a"(code), "i"(PORT_CHECKPOINT));
}

int main(u32 iterations, u32 phases, u32 warmup)
{
	if (!phases)
		phases = PHASE_COMPUTE | PHASE_MEMORY;
	if (phases & PHASE_COMPUTE) {
		u32 h = 0;
		for (u32 i = 0; i < iterations; i++) {
			if (i == warmup)
				checkpoint(0x11);
			h = mix(h, compute(i));
		}
		checkpoint(0x12);
		puts("compute ");
		put_dec(iterations);
		putc(' ');
		put_hex(h);
		putc('\n');
	}
	if (phases & PHASE_MEMORY) {
		u32 h = 0;
		memory_setup();
		for (u32 i = 0; i < iterations; i++) {
			if (i == warmup)
				checkpoint(0x21);
			h = mix(h, memory(i));
		}
		checkpoint(0x22);
		puts("memory ");
		put_dec(iterations);
		putc(' ');
		put_hex(h);
		putc('\n');
	}
	return 0;
}
