import { html, type Html } from '../html.js';
import type { FormErrors, FormValues, PageContext } from './context.js';

/** The one place forms get their CSRF token; every form in the app calls it. */
export function csrfField(ctx: PageContext): Html {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrfToken}">`;
}

export interface FieldOptions {
  readonly name: string;
  readonly label: string;
  readonly type: 'email' | 'password' | 'text';
  readonly autocomplete: string;
  readonly values?: FormValues | undefined;
  readonly errors?: FormErrors | undefined;
  readonly hint?: string;
  readonly autofocus?: boolean;
  readonly maxlength?: number;
  readonly minlength?: number;
}

/** A labelled input with its error right under it, tied together for screen readers. */
export function field(o: FieldOptions): Html {
  const error = o.errors?.fields?.[o.name];
  const id = `f-${o.name}`;
  const described = error ? `${id}-error` : o.hint ? `${id}-hint` : undefined;
  const value = o.type === 'password' ? undefined : o.values?.[o.name];
  return html`<div>
  <label for="${id}">${o.label}</label>
  <input id="${id}" name="${o.name}" type="${o.type}" autocomplete="${o.autocomplete}" required${
    value !== undefined ? html` value="${value}"` : ''
  }${o.maxlength ? html` maxlength="${o.maxlength}"` : ''}${o.minlength ? html` minlength="${o.minlength}"` : ''}${
    described ? html` aria-describedby="${described}"` : ''
  }${error ? html` aria-invalid="true"` : ''}${o.autofocus ? html` autofocus` : ''}>
  ${error ? html`<div class="field-error" id="${id}-error">${error}</div>` : o.hint ? html`<div class="hint" id="${id}-hint">${o.hint}</div>` : ''}
</div>`;
}

/** The form-level error, shown above the fields. */
export function formError(errors: FormErrors | undefined): Html | '' {
  return errors?.form ? html`<div class="flash flash-error" role="alert">${errors.form}</div>` : '';
}
