import { html } from '../html.js';
import { deviceLabel, formatDate, timeAgo } from '../device-label.js';
import type { PublicUser } from '../../users/user.js';
import type { FormErrors, PageContext } from './context.js';
import { csrfField, field, formError } from './forms.js';
import { layout } from './layout.js';

export function homePage(ctx: PageContext): string {
  if (!ctx.user) {
    return layout(
      ctx,
      { title: 'Welcome' },
      html`<section class="card hero">
  <h1>Sessions done right</h1>
  <p class="lead">This is the keycard reference app: server-side sessions and cookie sign-in for NestJS, on Express and Fastify.</p>
  <div class="actions"><a class="button" href="/register">Create an account</a><a class="button secondary" href="/login">Sign in</a></div>
</section>
<div class="features">
  <div class="feature"><h3>Every device, listed</h3><p>See where you are signed in and sign any session out.</p></div>
  <div class="feature"><h3>Nothing to steal in a cookie</h3><p>An opaque, signed, HttpOnly token; the store keeps only its hash.</p></div>
  <div class="feature"><h3>Sign-out that means it</h3><p>The session ends on the server, at once, everywhere.</p></div>
</div>`,
    );
  }
  const user = ctx.user;
  return layout(
    ctx,
    { title: 'Home' },
    html`<section class="card">
  <h1>Hello, ${user.name}</h1>
  <p class="lead">You are signed in as ${user.email}.</p>
  <div class="actions">
    <a class="button" href="/sessions">Manage your sessions</a>
    <a class="button secondary" href="/profile">Your profile</a>
    <a class="button secondary" href="/password">Change password</a>
  </div>
</section>`,
  );
}

export function profilePage(ctx: PageContext, user: PublicUser, createdAt: Date): string {
  return layout(
    ctx,
    { title: 'Profile' },
    html`<section class="card">
  <h1>Profile</h1>
  <p class="lead">Your account as keycard's demo stores it. The password is kept only as an argon2id hash.</p>
  <dl class="facts">
    <dt>Name</dt><dd>${user.name}</dd>
    <dt>Email</dt><dd>${user.email}</dd>
    <dt>Roles</dt><dd>${user.roles.map((role) => html`<span class="badge">${role}</span> `)}</dd>
    <dt>Member since</dt><dd>${formatDate(createdAt.getTime())}</dd>
  </dl>
</section>`,
  );
}

export interface SessionView {
  readonly id: string;
  readonly current: boolean;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly userAgent: string | null;
  readonly ip: string | null;
  readonly remember: boolean;
}

export function sessionsPage(ctx: PageContext, sessions: readonly SessionView[], now = Date.now()): string {
  const others = sessions.filter((session) => !session.current).length;
  return layout(
    ctx,
    { title: 'Sessions' },
    html`<section class="card">
  <h1>Your sessions</h1>
  <p class="lead">Devices signed in to your account. Sign out any you do not recognise.</p>
  <ul class="devices">
  ${sessions.map(
    (session) => html`<li data-session="${session.id}"${session.current ? html` data-current="true"` : ''}>
    <div class="device">
      <div class="device-name">${deviceLabel(session.userAgent)} ${session.current ? html`<span class="badge badge-ok">This device</span>` : ''} ${
        session.remember ? html`<span class="badge">Remembered</span>` : ''
      }</div>
      <div class="device-meta">${session.ip ?? 'unknown address'} · signed in ${formatDate(session.createdAt)} · last active ${
        session.current ? 'now' : timeAgo(session.lastSeenAt, now)
      }</div>
    </div>
    ${
      session.current
        ? ''
        : html`<form class="inline" method="post" action="/sessions/${session.id}/revoke">${csrfField(ctx)}<button class="danger small" type="submit">Sign out</button></form>`
    }
  </li>`,
  )}
  </ul>
</section>
<section class="card">
  <h2>Sign out everywhere else</h2>
  <p class="muted">Ends every session except this one${others > 0 ? html` (${others} other${others === 1 ? '' : 's'})` : ''}. Use it if you lost a device or signed in on a shared computer.</p>
  <form method="post" action="/sessions/revoke-others">${csrfField(ctx)}<button class="danger" type="submit"${others === 0 ? html` disabled` : ''}>Sign out all other sessions</button></form>
</section>`,
  );
}

export function passwordPage(ctx: PageContext, errors?: FormErrors): string {
  return layout(
    ctx,
    { title: 'Change password', narrow: true },
    html`<div class="card">
  <h1>Change password</h1>
  <p class="lead">Your other sessions will be signed out; this one stays signed in.</p>
  ${formError(errors)}
  <form class="stack" method="post" action="/password" novalidate>
    ${csrfField(ctx)}
    ${field({ name: 'currentPassword', label: 'Current password', type: 'password', autocomplete: 'current-password', errors, autofocus: true })}
    ${field({ name: 'newPassword', label: 'New password', type: 'password', autocomplete: 'new-password', errors, hint: '8 to 128 characters.', minlength: 8, maxlength: 128 })}
    <button type="submit">Change password</button>
  </form>
</div>`,
  );
}

export function errorPage(ctx: PageContext, status: number, title: string, message: string): string {
  return layout(
    ctx,
    { title, narrow: true },
    html`<div class="card">
  <h1>${title}</h1>
  <p class="lead">${message}</p>
  <p class="muted">Error ${status}</p>
  <div class="actions"><a class="button" href="/">Go home</a></div>
</div>`,
  );
}
