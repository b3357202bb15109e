// Attachments: download links (the server always answers `Content-Disposition: attachment`, so a
// file never opens as a page of this site) and uploads with progress. Uploads use XMLHttpRequest:
// fetch cannot report upload progress.
import { ApiError, type Problem } from '../api';
import SafeText, { revealBidi } from './SafeText';
import type { Attachment } from './ticketTypes';

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** POST /api/v1/tickets/{id}/attachments as multipart (file, internal?, comment_id?); rejects with
 * ApiError from the problem+json answer (413 past the size limit, 404, 403, 422). */
export function uploadAttachment(
  ticketId: number,
  file: File,
  fields: { internal?: boolean; comment_id?: number },
  onProgress: (fraction: number) => void,
): Promise<Attachment> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    if (fields.internal !== undefined) form.append('internal', String(fields.internal));
    if (fields.comment_id !== undefined) form.append('comment_id', String(fields.comment_id));
    form.append('file', file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1/tickets/${ticketId}/attachments`);
    xhr.setRequestHeader('X-Requested-With', 'XMLHttpRequest');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.withCredentials = true;
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(body as Attachment);
        return;
      }
      const problem: Problem = { title: xhr.statusText || 'Upload failed', detail: '', status: xhr.status,
                                 ...(body && typeof body === 'object' ? (body as Partial<Problem>) : {}) };
      if (xhr.status === 413 && !problem.detail) problem.detail = `${file.name} is larger than the server accepts`;
      reject(new ApiError(problem));
    };
    xhr.onerror = () => reject(new ApiError({ title: 'Network error', status: 0,
      detail: `The upload of ${file.name} was interrupted. Check your connection and try again.` }));
    xhr.send(form);
  });
}

export function AttachmentList({ items, label = 'Attachments' }: { items: Attachment[]; label?: string }) {
  if (items.length === 0) return null;
  return (
    <ul className="attachments" aria-label={label}>
      {items.map((a) => (
        <li key={a.id}>
          <a href={`/api/v1/attachments/${a.id}`} download={revealBidi(a.filename)}>
            <SafeText text={a.filename} />
          </a>
          <span className="muted"> {formatSize(a.size_bytes)}</span>
          {a.internal && <span className="badge internal-badge">internal</span>}
        </li>
      ))}
    </ul>
  );
}

export interface UploadState {
  name: string;
  fraction: number;
  error?: string;
  done?: boolean;
}

/** The uploads in flight, each with a labelled progress bar. */
export function UploadProgress({ uploads }: { uploads: UploadState[] }) {
  if (uploads.length === 0) return null;
  return (
    <ul className="uploads" aria-label="Uploads">
      {uploads.map((u, i) => (
        <li key={`${u.name}-${i}`}>
          <SafeText text={u.name} />{' '}
          {u.error ? (
            <span className="error-inline" role="alert">{u.error}</span>
          ) : (
            <>
              <progress max={1} value={u.fraction} aria-label={`Upload of ${revealBidi(u.name)}`}>
                {Math.round(u.fraction * 100)}%
              </progress>{' '}
              <span aria-hidden="true">{u.done ? 'done' : `${Math.round(u.fraction * 100)}%`}</span>
            </>
          )}
        </li>
      ))}
    </ul>
  );
}
