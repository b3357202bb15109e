// The admin area: one lazily loaded chunk with its own routes under /admin (App.tsx mounts it for
// admins only). Each screen talks to /api/v1/admin/… (docs/api.md, api/openapi.json).
import { NavLink, Route, Routes } from 'react-router-dom';
import '../../admin.css';
import Calendars from './Calendars';
import Categories from './Categories';
import Jobs from './Jobs';
import Mail from './Mail';
import Mailboxes from './Mailboxes';
import Sla from './Sla';
import Teams from './Teams';
import Tokens from './Tokens';
import Users from './Users';

export const SECTIONS: { path: string; title: string; about: string }[] = [
  { path: 'users', title: 'Users', about: 'Invite people, change their role, deactivate them.' },
  { path: 'teams', title: 'Teams', about: 'Groups of agents tickets can be routed to.' },
  { path: 'categories', title: 'Categories', about: 'What customers can file a ticket under.' },
  { path: 'sla', title: 'SLA policies', about: 'Response and resolution targets per priority, triage target, auto-close.' },
  { path: 'calendars', title: 'Business calendars', about: 'Time zone, weekly hours, holidays — or 24×7.' },
  { path: 'mailboxes', title: 'Mailboxes', about: 'Where e-mail becomes tickets, and whether fetching works.' },
  { path: 'mail', title: 'Notification mail', about: 'The mails ATUM sends: their templates, and the outbox with failures.' },
  { path: 'tokens', title: 'API tokens', about: 'Keys for integrations; shown once when created.' },
  { path: 'jobs', title: 'Background jobs', about: 'Failed and given-up jobs, with their errors; retry them.' },
];

function Overview() {
  return (
    <>
      <h1>Administration</h1>
      <ul className="admin-cards">
        {SECTIONS.map((s) => (
          <li key={s.path}>
            <NavLink to={`/admin/${s.path}`}>{s.title}</NavLink>
            <p>{s.about}</p>
          </li>
        ))}
      </ul>
    </>
  );
}

export default function Admin() {
  return (
    <div className="admin">
      <nav aria-label="Administration" className="admin-nav">
        <ul>
          <li><NavLink to="/admin" end>Overview</NavLink></li>
          {SECTIONS.map((s) => <li key={s.path}><NavLink to={`/admin/${s.path}`}>{s.title}</NavLink></li>)}
        </ul>
      </nav>
      <div className="admin-body">
        <Routes>
          <Route index element={<Overview />} />
          <Route path="users" element={<Users />} />
          <Route path="teams" element={<Teams />} />
          <Route path="categories" element={<Categories />} />
          <Route path="sla" element={<Sla />} />
          <Route path="calendars" element={<Calendars />} />
          <Route path="mailboxes" element={<Mailboxes />} />
          <Route path="mail/*" element={<Mail />} />
          <Route path="tokens" element={<Tokens />} />
          <Route path="jobs" element={<Jobs />} />
          <Route path="*" element={<p className="empty">There is no such admin page. <NavLink to="/admin">Back to the overview</NavLink></p>} />
        </Routes>
      </div>
    </div>
  );
}
