import { html } from '../html.js';
import type { FormErrors, FormValues, PageContext } from './context.js';
import { csrfField, field, formError } from './forms.js';
import { layout } from './layout.js';

/** `oidcLabel`: the identity provider's name for the optional "Sign in with …" button (OIDC_* set). */
export function loginPage(ctx: PageContext, next: string, values?: FormValues, errors?: FormErrors, oidcLabel?: string): string {
  const remember = values?.['remember'] === 'on';
  return layout(
    ctx,
    { title: 'Sign in', narrow: true },
    html`<div class="card">
  <h1>Sign in</h1>
  <p class="lead">Welcome back. Enter your email and password.</p>
  ${formError(errors)}
  <form class="stack" method="post" action="/login" novalidate>
    ${csrfField(ctx)}
    <input type="hidden" name="next" value="${next}">
    ${field({ name: 'email', label: 'Email', type: 'email', autocomplete: 'username', values, errors, autofocus: !values?.['email'] })}
    ${field({ name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', errors, autofocus: !!values?.['email'] })}
    <label class="check"><input type="checkbox" name="remember" value="on"${remember ? html` checked` : ''}> Remember me on this device for 30 days</label>
    <button type="submit">Sign in</button>
  </form>
  ${oidcLabel ? html`<p class="alt"><a class="button secondary" href="/auth/oidc?next=${encodeURIComponent(next)}">Sign in with ${oidcLabel}</a></p>` : ''}
  <p class="alt">New here? <a href="/register">Create an account</a></p>
</div>`,
  );
}

export function registerPage(ctx: PageContext, values?: FormValues, errors?: FormErrors): string {
  return layout(
    ctx,
    { title: 'Create account', narrow: true },
    html`<div class="card">
  <h1>Create your account</h1>
  <p class="lead">It takes a few seconds. You will be signed in right away.</p>
  ${formError(errors)}
  <form class="stack" method="post" action="/register" novalidate>
    ${csrfField(ctx)}
    ${field({ name: 'name', label: 'Name', type: 'text', autocomplete: 'name', values, errors, maxlength: 100, autofocus: true })}
    ${field({ name: 'email', label: 'Email', type: 'email', autocomplete: 'email', values, errors, maxlength: 254 })}
    ${field({ name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', errors, hint: '8 to 128 characters. A passphrase is easiest.', minlength: 8, maxlength: 128 })}
    <button type="submit">Create account</button>
  </form>
  <p class="alt">Already have an account? <a href="/login">Sign in</a></p>
</div>`,
  );
}
