import { BadRequestException, StandardSchemaValidationPipe } from '@nestjs/common';
import type { z } from 'zod';

export interface Issue {
  readonly path: string;
  readonly message: string;
}

/** The shape of a Standard Schema issue, as Nest's pipe hands it over. */
interface SchemaIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

function toIssue(issue: SchemaIssue): Issue {
  const path = (issue.path ?? []).map((part) => String(typeof part === 'object' ? part.key : part)).join('.');
  return { path, message: issue.message };
}

/** The 400 body of the JSON API: one readable sentence plus every issue with its field. */
export function badRequest(issues: readonly SchemaIssue[]): BadRequestException {
  const list = issues.map(toIssue);
  return new BadRequestException({
    statusCode: 400,
    error: 'Bad Request',
    message: list.map((issue) => issue.message).join('; '),
    issues: list,
  });
}

/**
 * Nest's own Standard Schema pipe (zod 4 implements the spec): routes declare
 * `@Body({ schema: LoginBody })` and invalid input never reaches a handler.
 */
export function schemaValidationPipe(): StandardSchemaValidationPipe {
  return new StandardSchemaValidationPipe({ exceptionFactory: badRequest });
}

export type FormResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly fields: Record<string, string> };

/** For HTML forms, which re-render with an error beside each field instead of answering 400. */
export function validateForm<S extends z.ZodType>(schema: S, input: unknown): FormResult<z.output<S>> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return { ok: true, value: result.data };
  const fields: Record<string, string> = {};
  for (const issue of result.error.issues.map(toIssue)) fields[issue.path || 'form'] ??= issue.message;
  return { ok: false, fields };
}
