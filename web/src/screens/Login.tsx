import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Navigate, useLocation, useNavigate } from 'react-router-dom';
import { ApiError, errorText } from '../api';
import { isStaff, useAuth } from '../auth';

export default function Login() {
  const { me, loading, signIn, notice } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from;
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [organization, setOrganization] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [field, setField] = useState<string | undefined>();
  const errorRef = useRef<HTMLParagraphElement>(null);

  useEffect(() => {
    if (error) errorRef.current?.focus();
  }, [error]);

  if (!loading && me && !busy) return <Navigate to={from ?? (isStaff(me) ? '/' : '/portal')} replace />;

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError('');
    setField(undefined);
    try {
      const who = await signIn(email.trim(), password, organization);
      navigate(from ?? (isStaff(who) ? '/' : '/portal'), { replace: true });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        setError('The e-mail address, password or organization is not right.');
      } else if (e instanceof ApiError && e.status === 429) {
        const minutes = e.retryAfter ? Math.ceil(e.retryAfter / 60) : 15;
        setError(`Too many failed sign-ins. For your security, signing in is locked for ${minutes} minute${minutes === 1 ? '' : 's'}.`);
      } else {
        setError(errorText(e));
        if (e instanceof ApiError) setField(e.problem.field);
      }
      setBusy(false);
    }
  }

  return (
    <main className="signin" id="main">
      <form className="panel narrow" onSubmit={onSubmit} aria-labelledby="signin-title" noValidate={false}>
        <h1 id="signin-title">Sign in to ATUM DESK</h1>
        {error ? (
          <p className="error" role="alert" tabIndex={-1} ref={errorRef}>{error}</p>
        ) : notice && <p className="notice" role="status">{notice}</p>}
        <label htmlFor="signin-email">E-mail address</label>
        <input id="signin-email" type="email" autoComplete="username" required autoFocus
          value={email} onChange={(e) => setEmail(e.target.value)} aria-invalid={field === 'email' || undefined} />
        <label htmlFor="signin-password">Password</label>
        <input id="signin-password" type="password" autoComplete="current-password" required
          value={password} onChange={(e) => setPassword(e.target.value)} aria-invalid={field === 'password' || undefined} />
        <label htmlFor="signin-org">Organization <span className="hint">(optional)</span></label>
        <input id="signin-org" type="text" autoComplete="organization" autoCapitalize="none" spellCheck={false}
          aria-describedby="signin-org-hint" value={organization} onChange={(e) => setOrganization(e.target.value)}
          aria-invalid={field === 'organization' || undefined} />
        <p id="signin-org-hint" className="hint">Only needed if your e-mail address has accounts in several organizations.</p>
        <button type="submit" className="primary" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>
  );
}
