// The shapes of the admin API's answers (api/openapi.json, components.schemas).
import type { Role, TicketPriority } from '../../api';

export interface AdminUser {
  id: number;
  email: string;
  display_name: string;
  role: Role;
  is_active: boolean;
  time_zone: string | null;
  created_at: string;
  last_login_at: string | null;
}

export interface TeamMember {
  id: number;
  email: string;
  display_name: string;
  role: Role;
  is_active: boolean;
  joined_at: string;
}

export interface Team {
  id: number;
  name: string;
  description: string;
  created_at: string;
  members: TeamMember[];
}

export interface Category {
  id: number;
  parent_id: number | null;
  name: string;
  description: string;
  is_active: boolean;
  created_at: string;
}

export interface SlaPolicy {
  id: number;
  priority: TicketPriority;
  calendar_id: number;
  first_response_minutes: number;
  resolution_minutes: number;
  updated_at: string;
}

export interface WorkingHours {
  weekday: number;
  opens_at: string;
  closes_at: string;
}

export interface Holiday {
  day: string;
  name: string;
}

export interface Calendar {
  id: number;
  name: string;
  time_zone: string;
  is_24x7: boolean;
  is_default: boolean;
  created_at: string;
  hours: WorkingHours[];
  holidays?: Holiday[];
}

export interface Organization {
  id: number;
  slug: string;
  name: string;
  ticket_prefix: string;
  time_zone: string;
  triage_target_minutes: number;
  sla_warning_ratio: number;
  reopen_window_days: number;
  auto_close_days: number;
}

export type HealthState = 'ok' | 'failing' | 'pending' | 'inactive';

export interface MailboxHealth {
  state: HealthState;
  last_poll_at: string | null;
  last_success_at: string | null;
  last_error: string | null;
  last_error_at: string | null;
  consecutive_failures: number;
  ingested_today: number;
}

export interface Mailbox {
  id: number;
  name: string;
  address: string;
  imap_host: string;
  imap_port: number;
  imap_security: 'tls' | 'starttls';
  imap_username: string;
  has_password: boolean;
  imap_folder: string;
  processed_folder: string | null;
  is_active: boolean;
  created_at: string;
  updated_at: string;
  health: MailboxHealth;
}

export interface ApiToken {
  id: number;
  name: string;
  user_id: number;
  role: Role;
  created_by: number | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'dead';

export interface Job {
  id: number;
  kind: string;
  state: JobState;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  run_after: string;
  created_at: string;
  finished_at: string | null;
}

export const ROLES: Role[] = ['customer', 'agent', 'manager', 'admin'];

export type MailKind = 'ticket_received' | 'staff_reply' | 'assigned' | 'sla_warning' | 'sla_breach' | 'resolved'
  | 'password_reset' | 'invitation';

export interface MailTemplateParts {
  subject: string | null;
  body_text: string | null;
  body_html: string | null;
}

export interface MailTemplate extends MailTemplateParts {
  kind: MailKind;
  is_overridden: boolean;
  render_error: string | null;
  render_error_at: string | null;
  updated_by: number | null;
  updated_at: string | null;
  /** The built-in templates (reading one kind only). */
  defaults?: { subject: string; body_text: string; body_html: string };
}

export type MailOutboxState = 'queued' | 'sending' | 'sent' | 'failed';

export interface MailOutboxItem {
  id: number;
  kind: MailKind;
  state: MailOutboxState;
  recipient_id: number;
  to_address: string;
  ticket_id: number | null;
  comment_id: number | null;
  subject: string | null;
  message_id: string | null;
  attempts: number;
  last_error: string | null;
  created_at: string;
  sending_at: string | null;
  sent_at: string | null;
  failed_at: string | null;
}
