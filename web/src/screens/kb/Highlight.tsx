// Search highlights: the server encloses matched words in U+E000 … U+E001; they become <mark>
// elements here and everything else stays text (React escapes it), so an article cannot inject markup.
import SafeText from '../../components/SafeText';
import { MARK_END, MARK_START } from './kb';

export default function Highlight({ text }: { text: string }) {
  const parts: { text: string; mark: boolean }[] = [];
  for (const piece of text.split(MARK_START)) {
    const end = piece.indexOf(MARK_END);
    if (end === -1) {
      parts.push({ text: piece, mark: false });
    } else {
      parts.push({ text: piece.slice(0, end), mark: true });
      parts.push({ text: piece.slice(end + 1).split(MARK_END).join(''), mark: false });
    }
  }
  return (
    <>
      {parts.filter((p) => p.text).map((p, i) => (p.mark ? <mark key={i}><SafeText text={p.text} /></mark>
                                                          : <SafeText key={i} text={p.text} />))}
    </>
  );
}
