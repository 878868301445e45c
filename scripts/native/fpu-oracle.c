/*
 * x87 oracle for typevisor's FPU tests: runs one x87 instruction per input line on the host's own
 * FPU and prints the result. Built and driven by scripts/gen-fpu-fixtures.ts (gcc -m32).
 *
 * Input lines:  OP CW A B     (CW hex; A, B: 80-bit values as 20 hex digits, sign/exponent first)
 * Output lines: R SW          (R: the result register as 20 hex digits, two of them joined by ':'
 *                              for instructions that leave two results (ST(0):ST(1)), EFLAGS for
 *                              FCOMI/FUCOMI, or for stores the memory image as 4/8/16/20 hex
 *                              digits; SW: status word right after the op)
 * ST(0) = A and ST(1) = B when the instruction runs. Memory destinations start as 0xAA bytes.
 */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

typedef struct { uint64_t sig; uint16_t se; } __attribute__((packed)) f80;

static int parse(const char *h, f80 *x) {
    unsigned se; unsigned long long sig;
    if (strlen(h) != 20 || sscanf(h, "%4x%16llx", &se, &sig) != 2) return 0;
    x->se = (uint16_t)se; x->sig = sig;
    return 1;
}

/* ST0 = a, ST1 = b, run the instruction bytes, read SW, store ST0. */
#define REG2(BYTES)                                                                  \
    __asm__ volatile("fninit\n fldcw %[cw]\n fldt %[b]\n fldt %[a]\n" BYTES "\n"     \
                     "fnstsw %[sw]\n fnclex\n fstpt %[r]\n fninit"                   \
                     : [r] "=m"(r), [sw] "=m"(sw)                                    \
                     : [cw] "m"(cw), [a] "m"(a), [b] "m"(b))
/* As REG2 but the result is in ST(1) after a pop (FPATAN FYL2X FYL2XP1 leave it in ST0). */
/* As REG2 but stores ST(0) and ST(1). */
#define REG2X2(BYTES)                                                                \
    __asm__ volatile("fninit\n fldcw %[cw]\n fldt %[b]\n fldt %[a]\n" BYTES "\n"     \
                     "fnstsw %[sw]\n fnclex\n fstpt %[r]\n fstpt %[r2]\n fninit"     \
                     : [r] "=m"(r), [r2] "=m"(r2), [sw] "=m"(sw)                     \
                     : [cw] "m"(cw), [a] "m"(a), [b] "m"(b))
/* FCOMI-style: EFLAGS after the instruction (arithmetic flags set to 1 first). */
#define FLAGS2(BYTES)                                                                \
    __asm__ volatile("fninit\n fldcw %[cw]\n fldt %[b]\n fldt %[a]\n"               \
                     "pushf\n orl $0x8d5, (%%esp)\n popf\n" BYTES "\n"               \
                     "pushf\n popl %[fl]\n fnstsw %[sw]\n fnclex\n fninit"            \
                     : [fl] "=m"(fl), [sw] "=m"(sw)                                  \
                     : [cw] "m"(cw), [a] "m"(a), [b] "m"(b) : "cc")
#define STORE(INSN, DST)                                                             \
    __asm__ volatile("fninit\n fldcw %[cw]\n fldt %[a]\n " INSN " %[m]\n"            \
                     "fnstsw %[sw]\n fnclex\n fninit"                                \
                     : [m] "+m"(DST), [sw] "=m"(sw)                                  \
                     : [cw] "m"(cw), [a] "m"(a))
#define LOAD(INSN, SRC)                                                              \
    __asm__ volatile("fninit\n fldcw %[cw]\n " INSN " %[m]\n"                        \
                     "fnstsw %[sw]\n fnclex\n fstpt %[r]\n fninit"                   \
                     : [r] "=m"(r), [sw] "=m"(sw)                                    \
                     : [cw] "m"(cw), [m] "m"(SRC))

int main(void) {
    char op[32], ah[64], bh[64];
    unsigned cwi;
    while (scanf("%31s %x %63s %63s", op, &cwi, ah, bh) == 4) {
        f80 a, b, r = {0, 0}, r2 = {0, 0};
        uint32_t fl = 0;
        uint16_t cw = (uint16_t)cwi, sw = 0;
        if (!parse(ah, &a) || !parse(bh, &b)) { printf("error bad-operand\n"); continue; }
        char out[64] = "";
        int isReg = 1;
        if (!strcmp(op, "add")) REG2(".byte 0xd8,0xc1");            /* FADD ST0,ST1 */
        else if (!strcmp(op, "sub")) REG2(".byte 0xd8,0xe1");       /* FSUB ST0,ST1: a-b */
        else if (!strcmp(op, "mul")) REG2(".byte 0xd8,0xc9");
        else if (!strcmp(op, "div")) REG2(".byte 0xd8,0xf1");       /* FDIV ST0,ST1: a/b */
        else if (!strcmp(op, "sqrt")) REG2(".byte 0xd9,0xfa");
        else if (!strcmp(op, "prem")) REG2(".byte 0xd9,0xf8");
        else if (!strcmp(op, "prem1")) REG2(".byte 0xd9,0xf5");
        else if (!strcmp(op, "rndint")) REG2(".byte 0xd9,0xfc");
        else if (!strcmp(op, "scale")) REG2(".byte 0xd9,0xfd");
        else if (!strcmp(op, "com")) REG2(".byte 0xd8,0xd1");       /* FCOM ST1 */
        else if (!strcmp(op, "ucom")) REG2(".byte 0xdd,0xe1");      /* FUCOM ST1 */
        else if (!strcmp(op, "sin")) REG2(".byte 0xd9,0xfe");
        else if (!strcmp(op, "cos")) REG2(".byte 0xd9,0xff");
        else if (!strcmp(op, "tan")) REG2(".byte 0xd9,0xf2\n fstp %%st(0)"); /* drop the pushed 1.0 */
        else if (!strcmp(op, "f2xm1")) REG2(".byte 0xd9,0xf0");
        else if (!strcmp(op, "atan")) REG2(".byte 0xd9,0xf3");      /* ST1 = atan(ST1/ST0), pop */
        else if (!strcmp(op, "yl2x")) REG2(".byte 0xd9,0xf1");
        else if (!strcmp(op, "yl2xp1")) REG2(".byte 0xd9,0xf9");
        else if (!strcmp(op, "xtract")) { REG2X2(".byte 0xd9,0xf4"); isReg = 2; }
        else if (!strcmp(op, "sincos")) { REG2X2(".byte 0xd9,0xfb"); isReg = 2; }
        else if (!strcmp(op, "ptan")) { REG2X2(".byte 0xd9,0xf2"); isReg = 2; }
        else if (!strcmp(op, "comi")) { FLAGS2(".byte 0xdb,0xf1"); isReg = 0; sprintf(out, "%08x", fl & 0x8d5); }
        else if (!strcmp(op, "ucomi")) { FLAGS2(".byte 0xdb,0xe9"); isReg = 0; sprintf(out, "%08x", fl & 0x8d5); }
        else {
            isReg = 0;
            if (!strcmp(op, "fst32")) { uint32_t m = 0xAAAAAAAAu; STORE("fsts", m); sprintf(out, "%08x", m); }
            else if (!strcmp(op, "fst64")) { uint64_t m = 0xAAAAAAAAAAAAAAAAull; STORE("fstl", m); sprintf(out, "%016llx", (unsigned long long)m); }
            else if (!strcmp(op, "fist16")) { uint16_t m = 0xAAAA; STORE("fists", m); sprintf(out, "%04x", m); }
            else if (!strcmp(op, "fist32")) { uint32_t m = 0xAAAAAAAAu; STORE("fistl", m); sprintf(out, "%08x", m); }
            else if (!strcmp(op, "fistp64")) { uint64_t m = 0xAAAAAAAAAAAAAAAAull; STORE("fistpll", m); sprintf(out, "%016llx", (unsigned long long)m); }
            else if (!strcmp(op, "fbstp")) {
                unsigned char m[10]; memset(m, 0xAA, 10); STORE("fbstp", m);
                for (int k = 9; k >= 0; k--) sprintf(out + 2 * (9 - k), "%02x", m[k]);
            }
            else if (!strcmp(op, "ld32")) { uint32_t m = (uint32_t)a.sig; LOAD("flds", m); isReg = 1; }
            else if (!strcmp(op, "ld64")) { uint64_t m = a.sig; LOAD("fldl", m); isReg = 1; }
            else { printf("error unknown-op\n"); continue; }
        }
        if (isReg == 2)
            printf("%04x%016llx:%04x%016llx %04x\n", r.se, (unsigned long long)r.sig, r2.se,
                   (unsigned long long)r2.sig, sw);
        else if (isReg) printf("%04x%016llx %04x\n", r.se, (unsigned long long)r.sig, sw);
        else printf("%s %04x\n", out, sw);
    }
    return 0;
}
