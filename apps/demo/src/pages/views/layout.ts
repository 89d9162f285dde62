import { html, type Html } from '../html.js';
import type { PageContext } from './context.js';
import { csrfField } from './forms.js';

const NAV: readonly { readonly href: string; readonly label: string }[] = [
  { href: '/', label: 'Home' },
  { href: '/profile', label: 'Profile' },
  { href: '/sessions', label: 'Sessions' },
  { href: '/password', label: 'Password' },
];

export interface PageOptions {
  readonly title: string;
  /** Narrow column for the sign-in and registration forms. */
  readonly narrow?: boolean;
}

/** The document around every page: top bar, the sign-out button when signed in, the flash. */
export function layout(ctx: PageContext, options: PageOptions, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · keycard demo</title>
<link rel="stylesheet" href="/assets/app.css">
</head>
<body>
<header class="topbar"><div class="topbar-inner">
  <a class="brand" href="/"><span class="brand-mark" aria-hidden="true">k</span>keycard demo</a>
  ${
    ctx.user
      ? html`<nav class="nav" aria-label="Main">${NAV.map(
          (item) => html`<a href="${item.href}"${item.href === ctx.path ? html` aria-current="page"` : ''}>${item.label}</a>`,
        )}</nav>
  <div class="who"><span>${ctx.user.name}</span>
    <form class="inline" method="post" action="/logout">${csrfField(ctx)}<button class="secondary small" type="submit">Sign out</button></form>
  </div>`
      : html`<nav class="nav" aria-label="Main"></nav>
  <div class="who"><a href="/login">Sign in</a><a class="button small" href="/register">Create account</a></div>`
  }
</div></header>
<main${options.narrow ? html` class="narrow"` : ''}>
${ctx.flashes.map((flash) => html`<div class="flash flash-${flash.type}" role="status">${flash.message}</div>`)}
${body}
</main>
<footer>keycard reference app · server-side sessions for NestJS</footer>
</body>
</html>
`.value;
}
