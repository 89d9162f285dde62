/**
 * The server side of the `coherence` experiment: keycard with its defaults
 * (the session cache on), and the four ways a session ends or changes that
 * another instance must see at once: sign-out, "sign out everywhere"
 * (revoke), a password change (every other session revoked, the current one
 * rotated, as the reference app does it) and a role change (refreshPrincipal).
 * CSRF is off only because the harness is not a browser. The store is the
 * real RedisStore, its finds counted for the harness (cache-probe.ts).
 */
import 'reflect-metadata';
import { Controller, Get, HttpCode, Post, Put, Query } from '@nestjs/common';
import type { Principal, Session as KeycardSession } from 'keycard';
import { CurrentUser, Public, Session, SessionService } from 'keycard/nest';
import { runCacheProbedServer } from '../cache-probe-server.js';

@Controller()
class CoherenceController {
  constructor(private readonly sessions: SessionService) {}

  @Public()
  @Post('login')
  @HttpCode(200)
  async login(@Session() session: KeycardSession, @Query('user') user: string): Promise<{ ok: true }> {
    await session.signIn({ id: user, roles: ['user'], authVersion: 1 });
    return { ok: true };
  }

  @Get('me')
  me(@CurrentUser() principal: Principal): { id: string; roles: readonly string[] } {
    return { id: principal.id, roles: principal.roles };
  }

  @Post('logout')
  @HttpCode(204)
  async logout(@Session() session: KeycardSession): Promise<void> {
    await session.signOut();
  }

  @Post('revoke')
  @HttpCode(204)
  async revoke(@CurrentUser() principal: Principal): Promise<void> {
    await this.sessions.revokeAll(principal.id);
  }

  /** What a password change does to sessions: every other one revoked, this one under a new id. */
  @Post('password')
  @HttpCode(204)
  async password(@Session() session: KeycardSession, @CurrentUser() principal: Principal): Promise<void> {
    await this.sessions.revokeAll(principal.id, { except: session });
    await session.rotate();
  }

  @Put('roles')
  @HttpCode(204)
  async roles(@CurrentUser() principal: Principal, @Query('role') role: string): Promise<void> {
    await this.sessions.refreshPrincipal({ ...principal, roles: [role], authVersion: principal.authVersion + 1 });
  }
}

runCacheProbedServer(CoherenceController);
