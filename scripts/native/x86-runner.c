/*
 * x86-runner: executes IA-32 test cases on the host processor for typevisor's
 * differential CPU tests (see scripts/gen-x86-fixtures.ts, which builds and
 * drives this program, and test/fixtures/x86/README.md).
 *
 * Build: gcc -m32 -O1 -static -o x86-runner x86-runner.c
 *
 * Memory laid out for every case (all MAP_FIXED, same addresses as the
 * emulator's flat test machine):
 *   CODE_BASE  0x00100000  4 KiB RWX: the case's code, then the exit stub
 *   DATA_BASE  0x00200000  4 KiB data area
 *   STACK_TOP  0x00300000  8 KiB below it: the upper 4 KiB belong to the case,
 *                          the lower 4 KiB are a guard that must stay zero
 *   CTRL_BASE  0x00400000  4 KiB control page shared by the entry code, the
 *                          exit stub and C (fixed addresses, so the stub can
 *                          be plain position-dependent machine code)
 *
 * Protocol (little-endian, stdin -> stdout, one record per case):
 *   in:  u32 codeLen (0xffffffff ends the stream), u32 flags (bit 0: load the
 *        FPU from the image with FRSTOR, else FNINIT), u32 regs[8] (EAX ECX EDX
 *        EBX ESP EBP ESI EDI), u32 eflags, u8 fpu[108], runs(data),
 *        runs(stack), u8 code[codeLen]
 *   out: u32 status (0 ran to the end, 1 exception), u32 trapno, u32 errcode,
 *        u32 signo, u32 eip, u32 regs[8], u32 eflags, u8 fpu[108] (FNSAVE
 *        image, or the one in the signal frame after an exception; pointer
 *        fields and reserved halves zeroed), u32 damage (bit 0 guard page
 *        written, bit 1 code page written), runs(data), runs(stack): the byte
 *        ranges that differ from the input
 *   runs: u32 count, then count x (u16 offset, u16 length, bytes)
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define CODE_BASE 0x00100000u
#define DATA_BASE 0x00200000u
#define STACK_TOP 0x00300000u
#define AREA 4096u
#define STACK_AREA (STACK_TOP - AREA)
#define GUARD_AREA (STACK_TOP - 2 * AREA)

/* Control page. Numeric literals, because the asm below stringifies them. */
#define CTRL_BASE 0x00400000
#define CTRL_IN_FRAME 0x00400000  /* eflags, edi esi ebp (esp) ebx edx ecx eax: popfd; popad */
#define CTRL_IN_ESP 0x00400040
#define CTRL_HOST_ESP 0x00400044
#define CTRL_EXIT 0x00400048      /* address of case_exit, for the stub's jmp [abs] */
#define CTRL_ENTRY 0x0040004c     /* CODE_BASE, for the entry's jmp [abs] */
#define CTRL_USE_FPU 0x00400050
#define CTRL_OUT_FRAME 0x00400080 /* edi esi ebp (esp) ebx edx ecx eax eflags: pushad below pushfd */
#define CTRL_OUT_END 0x004000a4
#define CTRL_OUT_ESP 0x004000c0
#define CTRL_FPU_IN 0x00400100
#define CTRL_FPU_OUT 0x00400180

#define FPU_IMAGE 108
#define STR(x) #x
#define XSTR(x) STR(x)

#define U32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

void enter_case(void);
void case_exit(void);

/*
 * enter_case saves the callee-saved registers, loads the FPU, then every GPR
 * and EFLAGS from the control page and jumps to the case. Nothing after POPFD
 * touches the flags. The case ends by running into the exit stub, which jumps
 * to case_exit; a fault ends it through the signal handler's siglongjmp.
 */
__asm__(
    ".text\n"
    ".globl enter_case\n"
    ".type enter_case, @function\n"
    "enter_case:\n"
    "  push %ebp\n"
    "  push %ebx\n"
    "  push %esi\n"
    "  push %edi\n"
    "  mov %esp, " XSTR(CTRL_HOST_ESP) "\n"
    "  cmpl $0, " XSTR(CTRL_USE_FPU) "\n"
    "  je 1f\n"
    "  frstor " XSTR(CTRL_FPU_IN) "\n"
    "  jmp 2f\n"
    "1:\n"
    "  fninit\n"
    "2:\n"
    "  mov $" XSTR(CTRL_IN_FRAME) ", %esp\n"
    "  popfl\n"
    "  popal\n"
    "  mov " XSTR(CTRL_IN_ESP) ", %esp\n"
    "  jmp *" XSTR(CTRL_ENTRY) "\n"
    ".globl case_exit\n"
    ".type case_exit, @function\n"
    "case_exit:\n"
    "  cld\n" /* the case may leave DF set; the C ABI wants it clear */
    "  mov " XSTR(CTRL_HOST_ESP) ", %esp\n"
    /* …and AC: POPF can set it, and Linux runs with CR0.AM, so C's unaligned accesses would fault */
    "  pushfl\n"
    "  andl $0xfffbffff, (%esp)\n"
    "  popfl\n"
    "  pop %edi\n"
    "  pop %esi\n"
    "  pop %ebx\n"
    "  pop %ebp\n"
    "  ret\n");

/* Exit stub appended to every case. It saves ESP first, then switches to the
 * control page's frame so that the case's own stack is never touched. */
static size_t put_stub(uint8_t *p) {
  uint8_t *s = p;
  *s++ = 0x89; *s++ = 0x25; /* mov [CTRL_OUT_ESP], esp */
  memcpy(s, &(uint32_t){CTRL_OUT_ESP}, 4); s += 4;
  *s++ = 0xbc; /* mov esp, CTRL_OUT_END */
  memcpy(s, &(uint32_t){CTRL_OUT_END}, 4); s += 4;
  *s++ = 0x9c; /* pushfd */
  *s++ = 0x60; /* pushad */
  *s++ = 0xdd; *s++ = 0x35; /* fnsave [CTRL_FPU_OUT]: non-waiting, so a pending x87 exception stays pending */
  memcpy(s, &(uint32_t){CTRL_FPU_OUT}, 4); s += 4;
  *s++ = 0xff; *s++ = 0x25; /* jmp [CTRL_EXIT] */
  memcpy(s, &(uint32_t){CTRL_EXIT}, 4); s += 4;
  return (size_t)(s - p);
}

static struct {
  int sig;
  uint32_t trapno, err, eip, eflags, regs[8];
  int has_fpu;
  uint8_t fpu[FPU_IMAGE];
} fault;
static sigjmp_buf fault_jmp;
static uint32_t code_end; /* first byte of the stub */
static int trace;         /* X86_RUNNER_TRACE: name each case and signal on stderr */

static void die(const char *msg) {
  fprintf(stderr, "x86-runner: %s\n", msg);
  exit(2);
}

static void on_signal(int sig, siginfo_t *si, void *ctx) {
  /* The kernel leaves AC as the case had it; clear it before any C (see case_exit). */
  __asm__ volatile("pushfl; andl $0xfffbffff, (%%esp); popfl" ::: "memory", "cc");
  (void)si;
  ucontext_t *uc = ctx;
  greg_t *g = uc->uc_mcontext.gregs;
  uint32_t eip = (uint32_t)g[REG_EIP];
  /* Anything outside the case's code is a bug in this runner: don't hide it.
   * (EIP == code_end is a trap such as INT3 at the very end of the case.) */
  const int outside = eip < CODE_BASE || eip > code_end;
  if (outside || trace) {
    /* Async-signal-safe report: signal, trap number, EIP in hex. */
    char m[] = "x86-runner: signal ## trap ## at eip ########\n";
    const char *hexd = "0123456789abcdef";
    m[19] = hexd[(sig >> 4) & 15];
    m[20] = hexd[sig & 15];
    m[27] = hexd[(g[REG_TRAPNO] >> 4) & 15];
    m[28] = hexd[g[REG_TRAPNO] & 15];
    for (int i = 0; i < 8; i++) m[37 + i] = hexd[(eip >> (28 - 4 * i)) & 15];
    if (write(2, m, sizeof m - 1) < 0) { /* nothing more to do */ }
    if (outside) _exit(3);
  }
  fault.sig = sig;
  fault.trapno = (uint32_t)g[REG_TRAPNO];
  fault.err = (uint32_t)g[REG_ERR];
  fault.eip = eip;
  fault.eflags = (uint32_t)g[REG_EFL];
  fault.regs[0] = (uint32_t)g[REG_EAX];
  fault.regs[1] = (uint32_t)g[REG_ECX];
  fault.regs[2] = (uint32_t)g[REG_EDX];
  fault.regs[3] = (uint32_t)g[REG_EBX];
  fault.regs[4] = (uint32_t)g[REG_UESP];
  fault.regs[5] = (uint32_t)g[REG_EBP];
  fault.regs[6] = (uint32_t)g[REG_ESI];
  fault.regs[7] = (uint32_t)g[REG_EDI];
  /* The kernel stores the interrupted FPU state in FNSAVE layout first. */
  fault.has_fpu = uc->uc_mcontext.fpregs != NULL;
  if (fault.has_fpu) memcpy(fault.fpu, uc->uc_mcontext.fpregs, FPU_IMAGE);
  siglongjmp(fault_jmp, 1);
}

/* Returns 1 if the case ended in a signal (details in `fault`). */
static __attribute__((noinline)) int run_guarded(void) {
  if (sigsetjmp(fault_jmp, 0) != 0) return 1;
  enter_case();
  return 0;
}

static void *map_fixed(uint32_t addr, uint32_t len, int prot) {
  void *p = mmap((void *)(uintptr_t)addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p != (void *)(uintptr_t)addr) die("cannot map a fixed area (in use by the runner itself?)");
  return p;
}

static void read_exact(void *buf, size_t n) {
  if (n && fread(buf, 1, n, stdin) != n) die("truncated input");
}

static uint32_t read_u32(void) {
  uint32_t v;
  read_exact(&v, 4);
  return v;
}

/* Reads runs into an area that the caller has zeroed. */
static void read_runs(uint8_t *area) {
  uint32_t n = read_u32();
  for (uint32_t i = 0; i < n; i++) {
    uint16_t hdr[2];
    read_exact(hdr, 4);
    if ((uint32_t)hdr[0] + hdr[1] > AREA) die("run outside its area");
    read_exact(area + hdr[0], hdr[1]);
  }
}

static void write_exact(const void *buf, size_t n) {
  if (n && fwrite(buf, 1, n, stdout) != n) die("write failed");
}

static void write_u32(uint32_t v) { write_exact(&v, 4); }

/* Writes the maximal ranges where `now` differs from `before`. */
static void write_diff_runs(const uint8_t *before, const uint8_t *now) {
  uint16_t off[AREA / 2 + 1], len[AREA / 2 + 1];
  uint32_t n = 0;
  for (uint32_t i = 0; i < AREA;) {
    if (before[i] == now[i]) { i++; continue; }
    uint32_t j = i;
    while (j < AREA && before[j] != now[j]) j++;
    off[n] = (uint16_t)i;
    len[n] = (uint16_t)(j - i);
    n++;
    i = j;
  }
  write_u32(n);
  for (uint32_t k = 0; k < n; k++) {
    uint16_t hdr[2] = {off[k], len[k]};
    write_exact(hdr, 4);
    write_exact(now + off[k], len[k]);
  }
}

/* Pointer fields (FIP, FCS, FOP, FDP, FDS) and the reserved upper halves are
 * implementation details the tests don't compare; zero them for compact diffs. */
static void normalize_fpu(uint8_t *img) {
  memset(img + 2, 0, 2);
  memset(img + 6, 0, 2);
  memset(img + 10, 0, 2);
  memset(img + 12, 0, 16);
}

int main(void) {
  static uint8_t stack_in[AREA], data_in[AREA];
  static uint8_t altstack[256 * 1024];

  uint8_t *code = map_fixed(CODE_BASE, AREA, PROT_READ | PROT_WRITE | PROT_EXEC);
  uint8_t *data = map_fixed(DATA_BASE, AREA, PROT_READ | PROT_WRITE);
  uint8_t *guard = map_fixed(GUARD_AREA, 2 * AREA, PROT_READ | PROT_WRITE);
  uint8_t *stack = guard + AREA;
  map_fixed(CTRL_BASE, AREA, PROT_READ | PROT_WRITE);

  /* Faults are delivered on a separate stack: the case's ESP may point anywhere. */
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) die("sigaltstack");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  /* SA_NODEFER: we leave the handler with siglongjmp(…, no mask restore). */
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  const int sigs[] = {SIGFPE, SIGSEGV, SIGILL, SIGTRAP, SIGBUS};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &sa, NULL) != 0) die("sigaction");

  static char inbuf[1 << 16], outbuf[1 << 16];
  setvbuf(stdin, inbuf, _IOFBF, sizeof inbuf);
  setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

  U32(CTRL_EXIT) = (uint32_t)(uintptr_t)case_exit;
  U32(CTRL_ENTRY) = CODE_BASE;
  uint8_t code_copy[AREA];
  /* X86_RUNNER_TRACE=1 names each case on stderr before running it, to find one that kills the runner. */
  trace = getenv("X86_RUNNER_TRACE") != NULL;

  for (uint32_t index = 0;; index++) {
    uint32_t code_len = read_u32();
    if (code_len == 0xffffffffu) break;
    if (code_len > AREA - 64) die("code too long");
    uint32_t flags = read_u32();
    uint32_t regs[8];
    read_exact(regs, sizeof regs);
    uint32_t eflags = read_u32();
    uint8_t fpu_in[FPU_IMAGE];
    read_exact(fpu_in, FPU_IMAGE);
    memset(data_in, 0, AREA);
    read_runs(data_in);
    memset(stack_in, 0, AREA);
    read_runs(stack_in);

    memset(code, 0xcc, AREA);
    read_exact(code, code_len);
    code_end = CODE_BASE + code_len;
    put_stub(code + code_len);
    memcpy(code_copy, code, AREA);
    memcpy(data, data_in, AREA);
    memset(guard, 0, AREA);
    memcpy(stack, stack_in, AREA);

    if (trace) {
      fprintf(stderr, "case %u:", index);
      for (uint32_t i = 0; i < code_len; i++) fprintf(stderr, " %02x", code[i]);
      fprintf(stderr, "\n");
    }

    /* popfd; popad order: EFLAGS, EDI ESI EBP (ESP ignored) EBX EDX ECX EAX */
    const uint32_t frame[9] = {eflags, regs[7], regs[6], regs[5], 0, regs[3], regs[2], regs[1], regs[0]};
    memcpy((void *)(uintptr_t)CTRL_IN_FRAME, frame, sizeof frame);
    U32(CTRL_IN_ESP) = regs[4];
    U32(CTRL_USE_FPU) = flags & 1;
    memcpy((void *)(uintptr_t)CTRL_FPU_IN, fpu_in, FPU_IMAGE);

    uint32_t status = 0, trapno = 0, err = 0, signo = 0, eip, out_regs[8], out_eflags;
    uint8_t fpu_out[FPU_IMAGE];
    memset(fpu_out, 0, FPU_IMAGE);
    if (run_guarded() == 0) {
      const volatile uint32_t *o = (const volatile uint32_t *)(uintptr_t)CTRL_OUT_FRAME;
      out_regs[0] = o[7]; out_regs[1] = o[6]; out_regs[2] = o[5]; out_regs[3] = o[4];
      out_regs[4] = U32(CTRL_OUT_ESP);
      out_regs[5] = o[2]; out_regs[6] = o[1]; out_regs[7] = o[0];
      out_eflags = o[8];
      eip = code_end;
      memcpy(fpu_out, (const void *)(uintptr_t)CTRL_FPU_OUT, FPU_IMAGE);
    } else {
      status = 1;
      trapno = fault.trapno;
      err = fault.err;
      signo = (uint32_t)fault.sig;
      eip = fault.eip;
      memcpy(out_regs, fault.regs, sizeof out_regs);
      out_eflags = fault.eflags;
      if (fault.has_fpu) memcpy(fpu_out, fault.fpu, FPU_IMAGE);
    }
    normalize_fpu(fpu_out);

    uint32_t damage = 0;
    for (uint32_t i = 0; i < AREA; i++)
      if (guard[i]) { damage |= 1; break; }
    if (memcmp(code, code_copy, AREA) != 0) damage |= 2;

    write_u32(status);
    write_u32(trapno);
    write_u32(err);
    write_u32(signo);
    write_u32(eip);
    write_exact(out_regs, sizeof out_regs);
    write_u32(out_eflags);
    write_exact(fpu_out, FPU_IMAGE);
    write_u32(damage);
    write_diff_runs(data_in, data);
    write_diff_runs(stack_in, stack);
  }
  if (fflush(stdout) != 0) die("flush failed");
  return 0;
}
