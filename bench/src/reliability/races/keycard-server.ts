/**
 * keycard's side of the race harness: sign in, a session-modifying request
 * that waits at the gate with its session loaded, sign out, and a read of
 * the session's keys. keycard's defaults otherwise (global guard, lazy
 * sessions, the session cache on); CSRF is off only because the harness is
 * not a browser. The store is the real RedisStore, its finds counted for the
 * harness (cache-probe.ts).
 */
import 'reflect-metadata';
import { Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import type { Session as KeycardSession } from 'keycard';
import { Public, Session } from 'keycard/nest';
import { runCacheProbedServer } from '../cache-probe-server.js';
import { hold } from './gate.js';

@Controller()
class RaceController {
  @Public()
  @Post('login')
  @HttpCode(200)
  async login(@Session() session: KeycardSession, @Query('user') user: string): Promise<{ ok: true }> {
    await session.signIn({ id: user, roles: ['user'], authVersion: 1 });
    return { ok: true };
  }

  @Post('write')
  @HttpCode(200)
  async write(@Session() session: KeycardSession, @Query('key') key: string, @Query('hold') id: string): Promise<{ ok: true }> {
    await hold(id);
    session.set(key, true);
    return { ok: true };
  }

  @Post('logout')
  @HttpCode(204)
  async logout(@Session() session: KeycardSession): Promise<void> {
    await session.signOut();
  }

  @Get('state')
  state(@Session() session: KeycardSession): { keys: string[] } {
    return { keys: session.keys() };
  }
}

runCacheProbedServer(RaceController);
