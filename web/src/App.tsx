import { lazy, Suspense, type ReactNode } from 'react';
import { Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { isManager, isStaff, useAuth } from './auth';
import Layout from './components/Layout';
import Login from './screens/Login';
import NotFound from './screens/NotFound';

// The first screen (sign-in, queue) is in the main bundle; everything else loads on demand.
const Queue = lazy(() => import('./screens/Queue'));
const Inbox = lazy(() => import('./screens/Inbox'));
const TicketPage = lazy(() => import('./screens/TicketPage'));
const PortalHome = lazy(() => import('./screens/PortalHome'));
const PortalNew = lazy(() => import('./screens/PortalNew'));
const PortalTicket = lazy(() => import('./screens/PortalTicket'));
const SetPassword = lazy(() => import('./screens/SetPassword'));
// The admin area is one chunk of its own (its screens and admin.css), loaded by admins only.
const Admin = lazy(() => import('./screens/admin/Admin'));
// Reports and their chart library: a chunk of their own, for managers.
const Reports = lazy(() => import('./screens/reports/Reports'));
// The knowledge base (its own chunks and kb.css); /help/:org is its public face for visitors.
const KbHome = lazy(() => import('./screens/kb/KbHome'));
const KbArticle = lazy(() => import('./screens/kb/KbArticle'));
const KbEdit = lazy(() => import('./screens/kb/KbEdit'));

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return <p className="loading" role="status" aria-live="polite">{label}</p>;
}

/** Signed-in only; `staff` or `manager` narrows it further (others go to their home). */
function Private({ children, need }: { children: ReactNode; need?: 'staff' | 'manager' | 'admin' | 'customer' }) {
  const { me, loading } = useAuth();
  const location = useLocation();
  if (loading) return <Loading />;
  if (!me) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  if (need === 'staff' && !isStaff(me)) return <Navigate to="/portal" replace />;
  if (need === 'manager' && !isManager(me)) return <Navigate to="/" replace />;
  if (need === 'admin' && me.role !== 'admin') return <Navigate to="/" replace />;
  if (need === 'customer' && isStaff(me)) return <Navigate to="/" replace />;
  return <>{children}</>;
}

function Home() {
  const { me } = useAuth();
  return isStaff(me) ? <Queue /> : <Navigate to="/portal" replace />;
}

export default function App() {
  return (
    <Suspense fallback={<Loading />}>
      <Routes>
        <Route path="/login" element={<Login />} />
        <Route path="/password-reset" element={<SetPassword kind="reset" />} />
        <Route path="/invitation" element={<SetPassword kind="invitation" />} />
        <Route path="/help/:org" element={<main id="main" className="kb-public"><KbHome /></main>} />
        <Route path="/help/:org/:id" element={<main id="main" className="kb-public"><KbArticle /></main>} />
        <Route element={<Private><Layout /></Private>}>
          <Route index element={<Home />} />
          <Route path="/inbox" element={<Private need="manager"><Inbox /></Private>} />
          <Route path="/tickets/:id" element={<Private need="staff"><TicketPage /></Private>} />
          <Route path="/portal" element={<PortalHome />} />
          <Route path="/portal/new" element={<PortalNew />} />
          <Route path="/portal/tickets/:id" element={<PortalTicket />} />
          <Route path="/admin/*" element={<Private need="admin"><Admin /></Private>} />
          <Route path="/reports" element={<Private need="manager"><Reports /></Private>} />
          <Route path="/kb" element={<KbHome />} />
          <Route path="/kb/new" element={<Private need="staff"><KbEdit /></Private>} />
          <Route path="/kb/:id" element={<KbArticle />} />
          <Route path="/kb/:id/edit" element={<Private need="staff"><KbEdit /></Private>} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </Suspense>
  );
}
