"""The `atumdesk` command line. Bad input: one line on stderr naming what is wrong, exit status 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import psycopg

from atumdesk import settings as settings_mod
from atumdesk.db import refusal
from atumdesk.errors import AtumError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are a single line (no usage dump) and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"atumdesk: error: {message} (see `{self.prog} --help`)\n")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply migrations, then re-apply sql/ and sync pg_cron."""
    from atumdesk.migrate import migrate

    applied = migrate(args.settings, log=_log)
    print(f"database {args.settings.database_name} is up to date ({applied} migration(s) applied)")
    return 0


def cmd_org_create(args: argparse.Namespace) -> int:
    """Create an organization with default SLA policies and calendars."""
    from atumdesk import admin

    org = admin.org_create(args.settings, name=args.name, slug=args.slug, time_zone=args.time_zone)
    print(f"created organization {org['slug']} (id {org['id']})")
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    """Create a user; the password is read from standard input."""
    from atumdesk import admin

    password = admin.read_password(sys.stdin, required=not args.no_password)
    user = admin.user_create(
        args.settings, org=args.org, email=args.email, role=args.role, name=args.name or "", password=password
    )
    print(f"created {user['role']} {user['email']} (id {user['id']})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Load demo organizations, users and tickets."""
    from atumdesk import demo

    demo.load(args.settings, tickets=args.tickets, organizations=args.organizations,
              if_empty=args.if_empty, progress=not args.quiet)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve HTTP (API and web app)."""
    from api.app import serve

    serve(args.settings, host=args.host or args.settings.http_host, port=args.port or args.settings.http_port)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the job worker until SIGTERM, or with --once until nothing is due."""
    from jobs.worker import main as worker_main

    return worker_main(args.settings, once=args.once)


def cmd_run(args: argparse.Namespace) -> int:
    """Embedded instance, migrations, demo data and the server, in the foreground."""
    from atumdesk.run import run

    return run(args.settings, demo_tickets=args.demo_tickets)


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop `atumdesk run` and the embedded instance."""
    from atumdesk.run import stop

    return stop(args.settings)


def cmd_instance(args: argparse.Namespace) -> int:
    """Create, start, stop or show the embedded PostgreSQL instance."""
    from atumdesk.instance import Instance

    inst = Instance(args.settings.pg_root, port=args.settings.pg_port)
    if args.action == "init":
        print("created" if inst.init() else "exists", inst.root)
    elif args.action == "start":
        inst.init()
        print("started" if inst.start() else "already running", inst.root)
    elif args.action == "stop":
        print("stopped" if inst.stop() else "not running", inst.root)
    else:
        running = inst.is_running()
        print(f"{'running' if running else 'stopped'} {inst.root} (socket {inst.socket_dir})")
        return 0 if running else 3
    return 0


def cmd_cron(args: argparse.Namespace) -> int:
    """Show the pg_cron jobs of this database with their last run."""
    from atumdesk import admin

    rows = admin.cron_status(args.settings)
    if not rows:
        print("no pg_cron jobs for this database: run `atumdesk migrate`")
        return 1
    print(f"{'job':<36} {'schedule':<12} {'last run (UTC)':<20} {'status':<10} {'fail/24h':>8}  message")
    for r in rows:
        when = r["start_time"].strftime("%Y-%m-%d %H:%M:%S") if r["start_time"] else "never"
        print(f"{r['jobname']:<36} {r['schedule']:<12} {when:<20} {r['status'] or '-':<10} "
              f"{r['failures_24h']:>8}  {(r['return_message'] or '').strip()[:60]}")
    return 0


def cmd_ingest_eml(args: argparse.Namespace) -> int:
    """Ingest raw RFC 5322 messages through the code path IMAP polling uses."""
    from jobs.mail_ingest import ingest_files

    return ingest_files(args.settings, args.org, args.files)


def cmd_backup(args: argparse.Namespace) -> int:
    """Write a verified backup archive of database and attachments."""
    from atumdesk.backups.create import backup

    result = backup(args.settings, to=args.to, verify=not args.no_verify, progress=not args.quiet, say=_log)
    print(f"{result.path}\t{result.size_bytes} bytes\tsha256 {result.sha256}\tverification {result.verification}")
    for pruned in result.pruned:
        _log(f"retention deleted {pruned}")
    if result.verification == "failed":
        print(f"atumdesk: error: ALERT: the backup did not verify: {result.verification_error}", file=sys.stderr)
        return 1
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Restore a backup archive into an empty instance."""
    from atumdesk.backups.restore import restore

    result = restore(args.settings, args.file, force=args.force, progress=not args.quiet, say=_log)
    print(f"restored {result.database}: {result.tables} tables, {result.rows} rows, "
          f"{result.attachments} attachment files, {result.migrations_applied} later migration(s) applied")
    return 0


def cmd_deploy_check(args: argparse.Namespace) -> int:
    """Check a production set-up (TLS, nginx, permissions, settings, pg_cron, migrations)."""
    from atumdesk import deploy_check

    return deploy_check.main(args.settings, args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    p = _Parser(prog="atumdesk", description="ATUM DESK service desk: administration and servers.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    sub.add_parser("migrate", help="apply migrations, then re-apply sql/").set_defaults(func=cmd_migrate)

    org = sub.add_parser("org", help="organizations").add_subparsers(dest="org_command", required=True,
                                                                      parser_class=_Parser)
    oc = org.add_parser("create", help="create an organization with default SLA policies and calendar")
    oc.add_argument("name")
    oc.add_argument("--slug", required=True)
    oc.add_argument("--time-zone", default="UTC")
    oc.set_defaults(func=cmd_org_create)

    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True,
                                                                parser_class=_Parser)
    uc = user.add_parser("create", help="create a user; the password is read from stdin")
    uc.add_argument("--org", required=True, help="organization slug")
    uc.add_argument("--email", required=True)
    uc.add_argument("--role", required=True, choices=["customer", "agent", "manager", "admin"])
    uc.add_argument("--name", default="")
    uc.add_argument("--no-password", action="store_true", help="create without a password (no sign-in)")
    uc.set_defaults(func=cmd_user_create)

    dm = sub.add_parser("demo", help="load a demo organization with users and tickets")
    dm.add_argument("--tickets", type=_bounded_int(0, 10_000_000), default=2000)
    dm.add_argument("--organizations", type=_bounded_int(1, 100_000), default=None,
                    help="number of organizations (default: 3, or one per 1,000 tickets above 100,000)")
    dm.add_argument("--if-empty", action="store_true", help="do nothing when a demo organization exists")
    dm.add_argument("--quiet", action="store_true", help="no progress bar")
    dm.set_defaults(func=cmd_demo)

    sv = sub.add_parser("serve", help="serve HTTP (API and web app)")
    sv.add_argument("--host")
    sv.add_argument("--port", type=_bounded_int(1, 65535))
    sv.set_defaults(func=cmd_serve)

    wk = sub.add_parser("worker", help="the job worker (mail in and out, backups, files) until SIGTERM")
    wk.add_argument("--once", action="store_true", help="run the jobs that are due, then exit")
    wk.set_defaults(func=cmd_worker)

    rn = sub.add_parser("run", help="embedded instance + migrate + demo data + server, until Ctrl-C (make run)")
    rn.add_argument("--demo-tickets", type=_bounded_int(0, 10_000_000), default=2000)
    rn.set_defaults(func=cmd_run)
    sub.add_parser("stop", help="stop `atumdesk run` and the embedded instance (make stop)").set_defaults(
        func=cmd_stop)

    ins = sub.add_parser("instance", help="the embedded PostgreSQL instance under the data directory")
    ins.add_argument("action", choices=["init", "start", "stop", "status"])
    ins.set_defaults(func=cmd_instance)

    sub.add_parser("cron", help="pg_cron jobs with their last runs").set_defaults(func=cmd_cron)

    bk = sub.add_parser("backup", help="a verified backup of database and attachments in one archive file")
    bk.add_argument("--to", type=Path, metavar="DIR",
                    help="directory for the archive (default: ATUM_BACKUP_DIR, where retention applies)")
    bk.add_argument("--no-verify", action="store_true", help="skip the restore into a scratch database")
    bk.add_argument("--quiet", action="store_true", help="no progress bars")
    bk.set_defaults(func=cmd_backup)

    rs = sub.add_parser("restore", help="restore a backup archive into an empty instance")
    rs.add_argument("file", type=Path, metavar="FILE")
    rs.add_argument("--force", action="store_true",
                    help="drop the database first if it is not empty (everything in it is lost)")
    rs.add_argument("--quiet", action="store_true", help="no progress bars")
    rs.set_defaults(func=cmd_restore)

    dc = sub.add_parser("deploy-check", help="check a production set-up and say what is wrong",
                        description="Checks TLS files, the nginx site, permissions of the data directory, the "
                                    "settings, pg_cron and migrations; one line per finding; exit 1 on any error.")
    from atumdesk.deploy_check import add_arguments as deploy_check_arguments
    deploy_check_arguments(dc)
    dc.set_defaults(func=cmd_deploy_check)

    ie = sub.add_parser(
        "ingest-eml", help="ingest raw RFC 5322 messages (.eml) exactly as IMAP polling does",
        description="Ingest raw RFC 5322 messages into an organization through the code path IMAP polling uses. "
                    "Prints one line per file: file, disposition (ticket_created, comment_added, duplicate, "
                    "dropped_auto, ...) and ticket reference, tab-separated. Every file is checked first: a "
                    "missing or unreadable file, or an unknown organization, ingests nothing (exit 2). A file the "
                    "database refuses is reported and the others are still ingested (exit 1).")
    ie.add_argument("--org", required=True, help="organization slug")
    ie.add_argument("files", nargs="+", metavar="FILE", help="raw message files")
    ie.set_defaults(func=cmd_ingest_eml)
    return p


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        args.settings = settings_mod.load()
        return int(args.func(args) or 0)
    except AtumError as exc:
        print(f"atumdesk: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except psycopg.Error as exc:  # a refusal we did not anticipate: still one line, no traceback
        print(f"atumdesk: error: {refusal(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("atumdesk: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
