import { Body, Controller, Delete, Get, HttpCode, NotFoundException, Param, Put } from '@nestjs/common';
import type { Session as KeycardSession } from 'keycard';
import { AccountService } from '../auth/account.service.js';
import { RolesBody, UserId } from '../auth/schemas.js';
import { Roles, Session } from 'keycard/nest';
import type { UserRow } from '../database/schema.js';
import { publicUser } from '../users/user.js';
import { ADMIN_ROLE, UsersService } from '../users/users.service.js';

/** Role `admin` only (401 signed out, 403 without the role, 404 for an unknown user). */
@Controller('api/admin/users')
@Roles(ADMIN_ROLE)
export class AdminController {
  constructor(
    private readonly users: UsersService,
    private readonly account: AccountService,
  ) {}

  @Get(':id/sessions')
  async sessions(@Param('id') id: string, @Session() session: KeycardSession) {
    const user = await this.existing(id);
    return { sessions: await this.account.list(user.id, session) };
  }

  @Delete(':id/sessions')
  @HttpCode(204)
  async signOutEverywhere(@Param('id') id: string): Promise<void> {
    const user = await this.existing(id);
    await this.account.revokeAll(user.id);
  }

  @Put(':id/roles')
  async setRoles(@Param('id') id: string, @Body({ schema: RolesBody }) body: RolesBody) {
    // setRoles reads the user itself (null when there is none): no second lookup here.
    const updated = UserId.safeParse(id).success ? await this.account.setRoles(id, body.roles) : null;
    if (!updated) throw new NotFoundException('no such user');
    return { user: publicUser(updated) };
  }

  /** A malformed id cannot name a user: 404, the same as an unknown one. */
  private async existing(id: string): Promise<UserRow> {
    const user = UserId.safeParse(id).success ? await this.users.findById(id) : null;
    if (!user) throw new NotFoundException('no such user');
    return user;
  }
}
