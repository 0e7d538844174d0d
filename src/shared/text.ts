/** Whether a string holds a C0 control character or DEL (a tab, a newline, a NUL…). */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Another party's text made safe to show in a page or a terminal: each control character but tab and newline as U+FFFD. */
export function withoutControlCharacters(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    out += (c < 0x20 && ch !== '\t' && ch !== '\n') || c === 0x7f ? '\ufffd' : ch;
  }
  return out;
}
