import { Link } from 'react-router-dom';

export default function NotFound() {
  return (
    <section className="panel narrow">
      <h1>Page not found</h1>
      <p>There is nothing at this address. It may have moved, or the link may be mistyped.</p>
      <p><Link to="/">Go to the start page</Link></p>
    </section>
  );
}
