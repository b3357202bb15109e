// An article's HTML, rendered by the server from Markdown with raw HTML disabled and sanitised by
// an allow-list. Like e-mail on the ticket page it is never inserted into this page: it is shown in a
// sandboxed frame without scripts (sandbox has no allow-scripts). allow-same-origin lets this page
// read the frame's height to fit it to its content; links open in a new tab.
import { useCallback, useRef, useState } from 'react';

// The frame's stylesheet, an asset of the build (the CSP allows no inline styles, in the frame either).
import frameCss from './frame.css?url';

export default function ArticleBody({ html, title }: { html: string; title: string }) {
  const frame = useRef<HTMLIFrameElement>(null);
  const [height, setHeight] = useState(160);
  const fit = useCallback(() => {
    const doc = frame.current?.contentDocument;
    if (doc?.documentElement) setHeight(Math.max(60, doc.documentElement.scrollHeight + 4));
  }, []);
  const doc = `<!doctype html><meta charset="utf-8"><base target="_blank"><link rel="stylesheet" href="${frameCss}">${html}`;
  return (
    <iframe ref={frame} className="kb-frame" sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox"
            srcDoc={doc} title={title} referrerPolicy="no-referrer" onLoad={fit} style={{ height }} />
  );
}
