/** Where a UTF-8 sequence that starts with `lead` is valid: its length, or 0 when `lead` cannot start one. */
function sequenceLength(lead: number): number {
  if (lead >= 0x01 && lead <= 0x7f) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/** Whether bytes[i..i+n) is one well-formed UTF-8 character (no overlong form, no surrogate, at most U+10FFFF). */
function wellFormed(bytes: Buffer, i: number, n: number): boolean {
  if (i + n > bytes.length) return false;
  for (let k = 1; k < n; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return false;
  const lead = bytes[i]!;
  const second = bytes[i + 1] ?? 0;
  if (lead === 0xe0 && second < 0xa0) return false;
  if (lead === 0xed && second > 0x9f) return false;
  if (lead === 0xf0 && second < 0x90) return false;
  if (lead === 0xf4 && second > 0x8f) return false;
  return true;
}

/**
 * A runbook's output as text the Tenant Plane can store: what it printed, as printed, except
 * the bytes no text can hold (a NUL, bytes that are not UTF-8, a character cut by the output
 * limit), which are written `\xNN`.
 */
export function outputText(bytes: Buffer): string {
  let text = '';
  let from = 0;
  let i = 0;
  while (i < bytes.length) {
    const n = sequenceLength(bytes[i]!);
    if (n > 0 && wellFormed(bytes, i, n)) {
      i += n;
      continue;
    }
    text += `${bytes.toString('utf8', from, i)}\\x${bytes[i]!.toString(16).padStart(2, '0')}`;
    i += 1;
    from = i;
  }
  return text + bytes.toString('utf8', from, bytes.length);
}
