import { Controller, Get, Req } from '@nestjs/common';
import type { Request } from 'express';
import { Public, csrfTokenFor } from '../../src/nest/index.js';

@Controller()
export class CsrfController {
// #region readme
@Public() @Get('auth/csrf')
csrf(@Req() req: Request) {
  return { token: csrfTokenFor(req) }; // from keycard/nest
}
// #endregion readme
}
