/**
 * Page faults: CR2 and the error code (P, W/R, U/S, RSVD, I/D) with 32-bit
 * paging and with PAE (2 MiB pages, NX under EFER.NXE), CR0.WP, accessed and
 * dirty bits, and a REP MOVSB that faults part-way and resumes after the
 * handler maps the page.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Exit } from '../../src/x86/cpu.js';
import { CR0_PG, CR0_WP, CR4_PAE, EFER_NXE } from '../../src/x86/constants.js';
import { le32, STUBS, SysMachine, UCODE, USTACK_TOP } from './system-machine.js';

const PD = 0x100000, PT = 0x101000;
const NOT_PRESENT = 0x70000, USER_RO = 0x71000, SUPERVISOR = 0x72000;

/** 32-bit paging: the first 4 MiB identity-mapped user read/write, except three pages. */
function paging32(m: SysMachine, wp = false): void {
  m.w32(PD, PT | 0x7);
  for (let k = 0; k < 1024; k++) m.w32(PT + k * 4, (k << 12) | 0x7);
  m.w32(PT + (NOT_PRESENT >> 12) * 4, 0);
  m.w32(PT + (USER_RO >> 12) * 4, USER_RO | 0x5);
  m.w32(PT + (SUPERVISOR >> 12) * 4, SUPERVISOR | 0x3);
  const c = m.cpu;
  c.setCr3(PD);
  c.setCr0(c.cr0 | CR0_PG | (wp ? CR0_WP : 0));
}

type Access = 'read' | 'write' | 'fetch';

/** One access as code: MOV EAX, [addr] / MOV [addr], EAX / MOV EAX, addr; JMP EAX. */
function accessCode(kind: Access, addr: number): number[] {
  if (kind === 'read') return [0xa1, ...le32(addr)];
  if (kind === 'write') return [0xa3, ...le32(addr)];
  return [0xb8, ...le32(addr), 0xff, 0xe0];
}

/** Run one access at `cpl`; returns the #PF error code and CR2, or null if it did not fault. */
function pageFault(m: SysMachine, cpl: 0 | 3, kind: Access, addr: number, setup: (m: SysMachine) => void): { error: number; cr2: number; eip: number } | null {
  const code = accessCode(kind, addr);
  const at = cpl === 0 ? 0x10000 : 0x20000;
  m.load(at, [...code, 0xcd, 0x81]); // then INT 0x81 to stop
  m.handler(0x81, STUBS + 0x81 * 16, 3);
  m.start(cpl, at);
  setup(m);
  assert.equal(m.run(), Exit.Halt);
  const v = m.haltedVector();
  if (v === 0x81) return null;
  assert.equal(v, 14, `${kind} 0x${addr.toString(16)} at CPL ${cpl}: vector ${v}`);
  const [error, eip] = m.stack(2);
  return { error, cr2: m.cpu.cr2 >>> 0, eip };
}

test('32-bit paging: #PF error codes and CR2 for not-present, read-only and supervisor pages', () => {
  const cases: [0 | 3, Access, number, number | null][] = [
    [3, 'read', NOT_PRESENT + 0x10, 0x4], //  U, read, not present
    [3, 'write', NOT_PRESENT + 0x10, 0x6], // U, write, not present
    [0, 'read', NOT_PRESENT + 0x10, 0x0],
    [0, 'write', NOT_PRESENT + 0x10, 0x2],
    [3, 'write', USER_RO + 0x20, 0x7], //     U, write, protection
    [3, 'read', USER_RO + 0x20, null],
    [3, 'read', SUPERVISOR, 0x5], //          U, read, protection
    [3, 'fetch', SUPERVISOR, 0x5], //         no I/D bit without NX
    [3, 'fetch', NOT_PRESENT, 0x4],
    [0, 'write', USER_RO, null], //           CR0.WP = 0: supervisor writes ignore R/W
  ];
  for (const [cpl, kind, addr, want] of cases) {
    const m = new SysMachine();
    const r = pageFault(m, cpl, kind, addr, (mm) => paging32(mm));
    const name = `${kind} 0x${addr.toString(16)} at CPL ${cpl}`;
    if (want === null) {
      assert.equal(r, null, name);
      continue;
    }
    assert.ok(r !== null, name);
    assert.equal(r.error, want, name);
    assert.equal(r.cr2, addr, name);
    assert.equal(r.eip, kind === 'fetch' ? addr : cpl === 0 ? 0x10000 : 0x20000, name);
  }
  // CR0.WP = 1: a supervisor write to a read-only page faults (P, W).
  const m = new SysMachine();
  const r = pageFault(m, 0, 'write', USER_RO, (mm) => paging32(mm, true));
  assert.deepEqual(r && [r.error, r.cr2], [0x3, USER_RO]);
});

test('32-bit paging: accessed and dirty bits', () => {
  const m = new SysMachine();
  const r = pageFault(m, 3, 'write', 0x90004, (mm) => paging32(mm));
  assert.equal(r, null);
  assert.equal(m.r32(PD) & 0x20, 0x20, 'PDE accessed');
  assert.equal(m.r32(PT + 0x90 * 4) & 0x60, 0x60, 'PTE accessed and dirty after a write');
  assert.equal(m.r32(PT + 0x91 * 4) & 0x60, 0, 'untouched page');
  assert.equal(m.r32(PT + 0x20 * 4) & 0x60, 0x20, 'code page accessed, not dirty');
});

const PDPT = 0x100000, PAE_PD = 0x101000;
const NX_PAGE = 0x200000; // the second 2 MiB page

/** PAE: PD entries 0 and 1 are 2 MiB user read/write pages, the second with XD (bit 63) set. */
function pagingPae(m: SysMachine, nxe: boolean, pde1Lo = NX_PAGE | 0x87): void {
  m.w32(PDPT, PAE_PD | 0x1);
  m.w32(PDPT + 4, 0);
  for (let k = 1; k < 4; k++) m.w32(PDPT + k * 8, 0);
  m.w32(PAE_PD, 0x87); // 0-2 MiB: PS, U, W, P
  m.w32(PAE_PD + 4, 0);
  m.w32(PAE_PD + 8, pde1Lo);
  m.w32(PAE_PD + 12, 0x80000000); // XD
  const c = m.cpu;
  c.setCr4(c.cr4 | CR4_PAE);
  if (nxe) c.setEfer(EFER_NXE);
  c.setCr3(PDPT);
  c.setCr0(c.cr0 | CR0_PG);
}

test('PAE 2 MiB pages with NX: fetches fault with I/D set, data accesses do not', () => {
  let m = new SysMachine();
  let r = pageFault(m, 3, 'fetch', NX_PAGE + 0x100, (mm) => pagingPae(mm, true));
  assert.ok(r !== null);
  assert.equal(r.error, 0x15, 'P, U, I/D');
  assert.equal(r.cr2, NX_PAGE + 0x100);

  m = new SysMachine();
  r = pageFault(m, 0, 'fetch', NX_PAGE, (mm) => pagingPae(mm, true));
  assert.equal(r?.error, 0x11, 'P, I/D at CPL 0');

  m = new SysMachine();
  assert.equal(pageFault(m, 3, 'write', NX_PAGE + 0x1000, (mm) => pagingPae(mm, true)), null);
  assert.equal(m.r32(PAE_PD + 8) & 0x60, 0x60, '2 MiB PDE accessed and dirty');
  assert.equal(m.r32(m.cpu.cr3 + 8) & 0x1e6, 0, 'PDPTE reserved bits untouched');

  // Instruction fetches from an executable page report I/D on a not-present fault too.
  m = new SysMachine();
  r = pageFault(m, 3, 'fetch', 0x400000, (mm) => pagingPae(mm, true));
  assert.equal(r?.error, 0x14, 'U, I/D, not present (PDE 2 is empty)');
});

test('PAE: reserved bits are #PF with RSVD (XD without EFER.NXE, PS-page bits 13-20)', () => {
  let m = new SysMachine();
  let r = pageFault(m, 0, 'read', NX_PAGE, (mm) => pagingPae(mm, false));
  assert.equal(r?.error, 0x9, 'P, RSVD');
  assert.equal(r?.cr2, NX_PAGE);

  m = new SysMachine();
  r = pageFault(m, 3, 'write', NX_PAGE + 8, (mm) => pagingPae(mm, true, NX_PAGE | 0x2000 | 0x87));
  assert.equal(r?.error, 0xf, 'P, W, U, RSVD');
});

test('REP MOVSB faults in the middle of the string and resumes after the handler maps the page', () => {
  const m = new SysMachine();
  // #PF handler: log CR2, ECX, ESI, EDI and the error code, map 0x74000, return to the faulting MOVSB.
  m.handler(14, 0x10000);
  m.load(0x10000, [
    0x50, //                                                  push eax
    0x0f, 0x20, 0xd0, //                                      mov eax, cr2
    0xa3, 0x00, 0x60, 0x00, 0x00, //                          mov [0x6000], eax
    0x89, 0x0d, 0x04, 0x60, 0x00, 0x00, //                    mov [0x6004], ecx
    0x89, 0x35, 0x08, 0x60, 0x00, 0x00, //                    mov [0x6008], esi
    0x89, 0x3d, 0x0c, 0x60, 0x00, 0x00, //                    mov [0x600c], edi
    0x8b, 0x44, 0x24, 0x04, //                                mov eax, [esp+4]          (error code)
    0xa3, 0x10, 0x60, 0x00, 0x00, //                          mov [0x6010], eax
    0xc7, 0x05, 0xd0, 0x11, 0x10, 0x00, 0x07, 0x40, 0x07, 0x00, // mov dword [PT + 0x74 * 4], 0x74007
    0x0f, 0x01, 0x3d, 0x00, 0x40, 0x07, 0x00, //              invlpg [0x74000]
    0x58, //                                                  pop eax
    0x83, 0xc4, 0x04, //                                      add esp, 4
    0xcf, //                                                  iretd
  ]);
  m.handler(0x81, STUBS + 0x81 * 16, 3);
  m.load(0x20000, [
    0xbe, 0xf0, 0xff, 0x05, 0x00, // 20000: mov esi, 0x5fff0
    0xbf, 0xf8, 0x3f, 0x07, 0x00, // 20005: mov edi, 0x73ff8   (8 bytes before the unmapped page)
    0xb9, 0x20, 0x00, 0x00, 0x00, // 2000a: mov ecx, 32
    0xfc, //                         2000f: cld
    0xf3, 0xa4, //                   20010: rep movsb
    0xcd, 0x81, //                   20012: int 0x81
  ]);
  const pattern = Array.from({ length: 32 }, (_, k) => (k * 7 + 1) & 0xff);
  m.load(0x5fff0, pattern);
  m.start(3, 0x20000);
  paging32(m);
  m.w32(PT + 0x74 * 4, 0);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 0x81);
  // At the fault: 8 bytes copied, the source already on its second page.
  assert.deepEqual(m.dwords(0x6000, 5), [0x74000, 24, 0x5fff8, 0x74000, 0x6]);
  assert.deepEqual(Array.from(m.mem.read(0x73ff8, 32)), pattern);
  const c = m.cpu;
  assert.deepEqual(m.stack(5), [0x20014, UCODE, 0x2, USTACK_TOP, 0x23]);
  assert.equal(c.regs[1], 0);
  assert.equal(c.regs[6], 0x60010);
  assert.equal(c.regs[7], 0x74018);
});

/**
 * A function at linear 0x80000 is called in a loop through a stub (so the
 * stub's block is linked to it, and compiled under the jit-system suite),
 * then its PTE is pointed at another frame holding other code and INVLPG'd:
 * the calls after, through the same stub, must run the new code. With
 * `writeFirst`, a store through the changed PTE comes before the INVLPG, so
 * the TLB entry is refilled by a walk first.
 */
for (const writeFirst of [false, true]) {
  test(`a code page remapped and INVLPG'd runs its new code${writeFirst ? ' (after a store through the new PTE)' : ''}`, () => {
    const m = new SysMachine();
    m.load(0x80000, [0xb8, ...le32(1), 0xc3]); // mov eax, 1; ret
    m.load(0x81000, [0xb8, ...le32(2), 0xc3]); // mov eax, 2; ret
    m.load(0x10100, [0xe8, ...le32(0x80000 - 0x10105), 0xc3]); // 10100: call 0x80000; ret
    const call = (at: number) => [0xe8, ...le32(0x10100 - (at + 5))];
    const code = [
      0x31, 0xf6, //                                        10000: xor esi, esi
      0x31, 0xff, //                                        10002: xor edi, edi
      0xb9, ...le32(40), //                                 10004: mov ecx, 40
      ...call(0x10009), //                                  10009: call 10100
      0x01, 0xc6, //                                        1000e: add esi, eax
      0x49, //                                              10010: dec ecx
      0x75, 0xf6, //                                        10011: jnz 10009
      0xc7, 0x05, ...le32(PT + 0x80 * 4), ...le32(0x81003), // 10013: mov dword [PTE of 0x80000], 0x81003
      ...(writeFirst ? [0xa3, ...le32(0x80010)] : [0x90, 0x90, 0x90, 0x90, 0x90]), // 1001d: mov [0x80010], eax
      0x0f, 0x01, 0x3d, ...le32(0x80000), //                10022: invlpg [0x80000]
      0xb9, ...le32(40), //                                 10029: mov ecx, 40
      ...call(0x1002e), //                                  1002e: call 10100
      0x01, 0xc7, //                                        10033: add edi, eax
      0x49, //                                              10035: dec ecx
      0x75, 0xf6, //                                        10036: jnz 1002e
      0xcd, 0x81, //                                        10038: int 0x81
    ];
    m.load(0x10000, code);
    m.handler(0x81, STUBS + 0x81 * 16);
    m.start(0, 0x10000);
    paging32(m);
    assert.equal(m.run(), Exit.Halt);
    assert.equal(m.haltedVector(), 0x81);
    assert.equal(m.cpu.regs[6], 40, 'forty calls of the first frame');
    assert.equal(m.cpu.regs[7], 80, 'forty calls of the second frame');
    if (writeFirst) assert.equal(m.r32(0x81010), 1, 'the store went to the new frame');
  });
}

/**
 * MOV EAX, imm32 at 0x80ffe, across the end of its page: its last three
 * immediate bytes and the RET after it are on page 0x81000. It is called in a
 * loop (so its block is cached, linked, and compiled under jit-system); then
 * its second page is remapped to another frame, then that frame is written,
 * then the page is made not present: each change must be seen.
 */
test('an instruction across a page end follows its second page: remap, store, not present', () => {
  const m = new SysMachine();
  m.load(0x80ffe, [0xb8, 0x01]); //                       80ffe: mov eax, 0x00000001 (bytes 2-4 on the next page)
  m.load(0x81000, [0x00, 0x00, 0x00, 0xc3]); //           81000: ...; ret
  m.load(0x82000, [0x01, 0x00, 0x00, 0xc3]); // other frame: mov eax, 0x00000101; ret
  const code: number[] = [0x31, 0xf6, 0x31, 0xff, 0x31, 0xed]; // xor esi, esi; xor edi, edi; xor ebp, ebp
  const at = () => 0x10000 + code.length;
  /** Forty calls, summing EAX into register `sum`. */
  const loop = (sum: number) => {
    code.push(0xb9, ...le32(40)); //                      mov ecx, 40
    code.push(0xe8, ...le32(0x80ffe - (at() + 5))); //    call 80ffe
    code.push(0x01, 0xc0 | sum, 0x49, 0x75, 0xf6); //     add sum, eax; dec ecx; jnz call
  };
  const remap = (pte: number) => code.push(
    0xc7, 0x05, ...le32(PT + 0x81 * 4), ...le32(pte), //  mov dword [PTE of 0x81000], pte
    0x0f, 0x01, 0x3d, ...le32(0x81000), //                invlpg [0x81000]
  );
  loop(6);
  remap(0x82003);
  loop(7);
  code.push(0xc6, 0x05, ...le32(0x81001), 0x02); //       mov byte [0x81001], 2 (frame 0x82000 now)
  loop(5);
  remap(0);
  code.push(0xe8, ...le32(0x80ffe - (at() + 5))); //      call 80ffe: #PF
  m.load(0x10000, code);
  m.start(0, 0x10000);
  paging32(m);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 14);
  assert.equal(m.cpu.regs[6], 40, 'forty calls with the first frame');
  assert.equal(m.cpu.regs[7], 40 * 0x101, 'forty calls after the remap');
  assert.equal(m.cpu.regs[5], 40 * 0x20101, 'forty calls after the store');
  const [error, eip] = m.stack(2);
  assert.deepEqual([error, eip, m.cpu.cr2 >>> 0], [0, 0x80ffe, 0x81000], 'not-present fetch of the second page, at the instruction');
});
