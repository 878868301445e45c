/** Test helper: bytes from a hex string with spaces and `;` comments, e.g. "b8 01 00 00 00 ; mov eax, 1". */
export function hex(text: string): Uint8Array {
  const clean = text.split('\n').map((l) => l.split(';')[0]).join(' ');
  const parts = clean.split(/\s+/).filter((p) => p.length > 0);
  return Uint8Array.from(parts.map((p) => {
    if (!/^[0-9a-fA-F]{2}$/.test(p)) throw new Error(`bad hex byte '${p}'`);
    return parseInt(p, 16);
  }));
}
