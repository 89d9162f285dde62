import { Controller, Get, Header } from '@nestjs/common';
import { Public } from 'keycard/nest';
import { STYLESHEET } from './styles.js';

@Controller('assets')
@Public()
export class AssetsController {
  @Get('app.css')
  @Header('Content-Type', 'text/css; charset=utf-8')
  @Header('Cache-Control', 'public, max-age=3600')
  stylesheet(): string {
    return STYLESHEET;
  }
}
