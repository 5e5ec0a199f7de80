/**
 * Display text of GPT-2 token ids for the extension host, read straight from js-tiktoken's gpt2
 * ranks. The tokenizer (src/engine/tokenizer.ts) builds full BPE tables on first use (~0.2–0.3 s
 * in one synchronous block), which would stall the extension host's event loop during the first
 * trace; showing a token needs only its bytes, so this indexes the ranks text once (a few ms)
 * and base64-decodes a token when it is first shown. Tests check it against decodeToken for every id.
 */
import gpt2Ranks from 'js-tiktoken/ranks/gpt2';

const EOT_ID = 50256;
const EOT_TEXT = '<|endoftext|>';

let base64Of: string[] | undefined;
const textOf = new Map<number, string>();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** Adds one "<prefix> <first rank> <b64> <b64> …" line to the id → base64 table. */
function indexLine(out: string[], line: string): void {
  if (!line) return;
  const parts = line.split(' ');
  const offset = Number.parseInt(parts[1] ?? '', 10);
  for (let i = 2; i < parts.length; i++) out[offset + i - 2] = parts[i];
}

/** id → base64 of the token's bytes. */
function index(): string[] {
  if (base64Of) return base64Of;
  const out: string[] = [];
  for (const line of gpt2Ranks.bpe_ranks.split('\n')) indexLine(out, line);
  base64Of = out;
  return out;
}

let warming: Promise<void> | undefined;

/**
 * Builds the table in slices of `sliceChars`, yielding to the event loop between them, so the
 * first trace does not pay for it in one block on the extension host. Idempotent.
 */
export function warmTokenTexts(sliceChars = 32 * 1024): Promise<void> {
  if (base64Of) return Promise.resolve();
  warming ??= (async () => {
    const ranks = gpt2Ranks.bpe_ranks;
    const out: string[] = [];
    let start = 0;
    while (start < ranks.length && !base64Of) {
      let end = ranks.indexOf('\n', Math.min(ranks.length, start + sliceChars));
      if (end < 0) end = ranks.length;
      for (const line of ranks.slice(start, end).split('\n')) indexLine(out, line);
      start = end + 1;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    base64Of ??= out;
  })();
  return warming;
}

function fromBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** Display text of one token (bytes that split a character show as U+FFFD); `#id` for an unknown id. */
export function tokenText(id: number): string {
  const cached = textOf.get(id);
  if (cached !== undefined) return cached;
  let text: string;
  if (id === EOT_ID) text = EOT_TEXT;
  else {
    const b64 = Number.isInteger(id) && id >= 0 ? index()[id] : undefined;
    text = b64 === undefined ? `#${id}` : decoder.decode(fromBase64(b64));
  }
  textOf.set(id, text);
  return text;
}
