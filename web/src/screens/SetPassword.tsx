import { useMemo, useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { api, errorText } from '../api';

/** The page of a password-reset or invitation link: the token is in the URL fragment
 * (#token=…), which browsers never send to servers or in Referer headers. */
export default function SetPassword({ kind }: { kind: 'reset' | 'invitation' }) {
  const token = useMemo(() => new URLSearchParams(window.location.hash.replace(/^#/, '')).get('token') ?? '', []);
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState('');
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const title = kind === 'reset' ? 'Choose a new password' : 'Accept your invitation';

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    if (password !== again) {
      setError('The two passwords differ.');
      return;
    }
    setBusy(true);
    setError('');
    try {
      const path = kind === 'reset' ? '/api/v1/auth/password-reset/confirm' : '/api/v1/auth/invitation/accept';
      await api('POST', path, { token, password });
      setDone(true);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin" id="main">
      <section className="panel narrow" aria-labelledby="setpw-title">
        <h1 id="setpw-title">{title}</h1>
        {!token ? (
          <p className="error" role="alert">This link is incomplete: it has no token. Open the link from the e-mail again.</p>
        ) : done ? (
          <p role="status">Your password is set. <Link to="/login">Sign in</Link></p>
        ) : (
          <form onSubmit={onSubmit}>
            {error && <p className="error" role="alert">{error}</p>}
            <label htmlFor="setpw-new">New password</label>
            <input id="setpw-new" type="password" autoComplete="new-password" required minLength={8}
              value={password} onChange={(e) => setPassword(e.target.value)} />
            <label htmlFor="setpw-again">Repeat the password</label>
            <input id="setpw-again" type="password" autoComplete="new-password" required
              value={again} onChange={(e) => setAgain(e.target.value)} />
            <button type="submit" className="primary" disabled={busy}>{busy ? 'Saving…' : 'Set password'}</button>
          </form>
        )}
      </section>
    </main>
  );
}
