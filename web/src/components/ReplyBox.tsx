// The reply box: a public reply or (staff) an internal note, with files. Keyboard: r focuses it,
// i toggles internal (staff), Ctrl+Enter (or Cmd+Enter) sends.
import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { api, errorText } from '../api';
import { formatSize, UploadProgress, uploadAttachment, type UploadState } from './Attachments';
import SafeText, { revealBidi } from './SafeText';
import type { Comment } from './ticketTypes';

export interface ReplyBoxProps {
  ticketId: number;
  staff: boolean;
  /** Called after the comment and its files are stored. */
  onSent(): void;
  /** Why replying is not possible (a closed ticket), or undefined. */
  closedReason?: string;
}

/** True when a key press belongs to a field the user types in, not to a page shortcut. */
export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || target.isContentEditable;
}

function newKey(): string {
  return typeof crypto !== 'undefined' && 'randomUUID' in crypto
    ? crypto.randomUUID()
    : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

export default function ReplyBox({ ticketId, staff, onSent, closedReason }: ReplyBoxProps) {
  const [body, setBody] = useState('');
  const [internal, setInternal] = useState(false);
  const [files, setFiles] = useState<File[]>([]);
  const [uploads, setUploads] = useState<UploadState[]>([]);
  const [sending, setSending] = useState(false);
  const [error, setError] = useState('');
  const [status, setStatus] = useState('');
  const textarea = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  // One key per message being written: a retry after a lost answer does not post it twice.
  const key = useRef(newKey());
  const ids = useId();

  useEffect(() => {
    function onKey(e: globalThis.KeyboardEvent) {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target)) return;
      if (document.querySelector('dialog[open]')) return;
      if (e.key === 'r') {
        e.preventDefault();
        textarea.current?.focus();
      } else if (e.key === 'i' && staff) {
        e.preventDefault();
        setInternal((v) => {
          setStatus(v ? 'Public reply: the customer will see it.' : 'Internal note: only staff will see it.');
          return !v;
        });
      }
    }
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [staff]);

  if (closedReason) {
    return <p className="notice reply-closed">{closedReason}</p>;
  }

  async function send() {
    if (sending) return;
    const text = body.trim();
    if (!text && files.length === 0) {
      setError('Write a message or choose a file first.');
      textarea.current?.focus();
      return;
    }
    setSending(true);
    setError('');
    setStatus('');
    try {
      let commentId: number | undefined;
      if (text) {
        const made = await api<Comment>('POST', `/api/v1/tickets/${ticketId}/comments`, { body: text, internal },
                                        { headers: { 'Idempotency-Key': key.current } });
        commentId = made.id;
        setBody('');
        key.current = newKey();
      }
      const failed: File[] = [];
      const states: UploadState[] = files.map((f) => ({ name: f.name, fraction: 0 }));
      setUploads(states);
      for (const [i, file] of files.entries()) {
        try {
          await uploadAttachment(ticketId, file, { internal: staff ? internal : undefined, comment_id: commentId },
            (fraction) => setUploads((u) => u.map((s, j) => (j === i ? { ...s, fraction } : s))));
          setUploads((u) => u.map((s, j) => (j === i ? { ...s, fraction: 1, done: true } : s)));
        } catch (e) {
          failed.push(file);
          setUploads((u) => u.map((s, j) => (j === i ? { ...s, error: errorText(e) } : s)));
        }
      }
      setFiles(failed);
      if (fileInput.current && failed.length === 0) fileInput.current.value = '';
      if (failed.length > 0) {
        setError(`${failed.length} file${failed.length > 1 ? 's were' : ' was'} not uploaded; see below. Send again to retry.`);
      } else {
        setUploads([]);
        setStatus(internal ? 'Internal note added.' : 'Reply sent.');
      }
      onSent();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setSending(false);
    }
  }

  function removeFile(index: number) {
    setFiles((chosen) => chosen.filter((_, j) => j !== index));
    // What is sent is `files`; the native input's own list is reset, so that the same file can be
    // chosen again.
    if (fileInput.current) fileInput.current.value = '';
  }

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    void send();
  }

  function onTextKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void send();
    } else if (e.key === 'Escape') {
      textarea.current?.blur();
    }
  }

  const label = internal ? 'Internal note (staff only)' : staff ? 'Public reply to the customer' : 'Your reply';
  return (
    <form className={internal ? 'reply-box internal' : 'reply-box'} onSubmit={onSubmit} aria-label="Reply">
      <label htmlFor={`${ids}-body`}>{label}</label>
      <textarea id={`${ids}-body`} ref={textarea} value={body} rows={5} onChange={(e) => setBody(e.target.value)}
                onKeyDown={onTextKey} aria-describedby={`${ids}-help`} aria-invalid={error ? true : undefined}
                placeholder={internal ? 'Only staff will see this note' : ''} />
      <p id={`${ids}-help`} className="hint">
        <kbd>Ctrl</kbd>+<kbd>Enter</kbd> sends{staff ? <>; <kbd>i</kbd> switches between reply and internal note</> : null}.
      </p>
      <div className="row reply-controls">
        {staff && (
          <label className="toggle">
            <input type="checkbox" checked={internal} onChange={(e) => setInternal(e.target.checked)} />
            {' '}Internal note
          </label>
        )}
        {/* The native file control does not shrink (its "Choose File" button was cut off at 360 px):
            it stays hidden, and a button of our own opens it and the chosen names are listed. */}
        <input ref={fileInput} id={`${ids}-files`} type="file" multiple hidden
               onChange={(e) => setFiles(Array.from(e.target.files ?? []))} />
        <button type="button" className="file-pick" onClick={() => fileInput.current?.click()}
                aria-describedby={`${ids}-chosen`}>
          Attach files
        </button>
        <button type="submit" className="primary" disabled={sending}>
          {sending ? 'Sending…' : internal ? 'Add internal note' : 'Send reply'}
        </button>
      </div>
      <div id={`${ids}-chosen`} className="files-chosen">
        {files.length === 0 ? <span className="visually-hidden">No files chosen</span> : (
          <ul aria-label="Files to send">
            {files.map((f, i) => (
              <li key={`${f.name}-${i}`}>
                <SafeText text={f.name} /> <span className="muted">{formatSize(f.size)}</span>{' '}
                <button type="button" className="link" aria-label={`Remove ${revealBidi(f.name)}`}
                        onClick={() => removeFile(i)}>Remove</button>
              </li>
            ))}
          </ul>
        )}
      </div>
      {error && <p className="error" role="alert">{error}</p>}
      <UploadProgress uploads={uploads} />
      <p className="visually-hidden" role="status" aria-live="polite">{status}</p>
    </form>
  );
}
