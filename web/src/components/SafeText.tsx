// User-controlled text (subjects, names, comment bodies, file names) shown so that it cannot
// reorder the interface around it: bidirectional control characters (a right-to-left override
// makes "gnp.exe" read as "exe.png") are replaced with a visible marker such as ⟨U+202E⟩, and the
// text is isolated (<bdi>) so that its own direction stays inside it.
import type { ReactNode } from 'react';

// LRE RLE PDF LRO RLO, LRI RLI FSI PDI, LRM RLM, ALM.
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;

/** The text with every bidi control character replaced by a visible ⟨U+XXXX⟩ marker; for places
 * that take only a string (document.title, <option>, attributes). */
export function revealBidi(text: string): string {
  return text.replace(BIDI_CONTROLS, (c) => `⟨U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}⟩`);
}

/** User-controlled text, isolated and with its bidi controls made visible. */
export default function SafeText({ text, className }: { text: string | null | undefined; className?: string }): ReactNode {
  if (text === null || text === undefined || text === '') return null;
  return <bdi className={className ? `safe-text ${className}` : 'safe-text'}>{revealBidi(text)}</bdi>;
}
