import type { PublicUser } from '../../users/user.js';
import type { ShownFlash } from '../flash.js';

/** What every page knows about the request, gathered once by the pages controller. */
export interface PageContext {
  readonly user: PublicUser | null;
  /** The CSRF token every form carries as `_csrf`. */
  readonly csrfToken: string;
  /** The flash messages to show on this page (already consumed). */
  readonly flashes: readonly ShownFlash[];
  /** The request path, to mark the current navigation link. */
  readonly path: string;
}

/** A form's problems: one message for the whole form and/or one per field name. */
export interface FormErrors {
  readonly form?: string;
  readonly fields?: Readonly<Record<string, string>>;
}

/** Values to put back into a form after a failed submit (never passwords). */
export type FormValues = Readonly<Record<string, string>>;
