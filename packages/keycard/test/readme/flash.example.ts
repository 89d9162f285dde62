import { Controller, Get, Post, Redirect, Render } from '@nestjs/common';
import type { Session as KeycardSession } from '../../src/index.js';
import { Session } from '../../src/nest/index.js';

@Controller()
export class ProfileController {
// #region readme
@Post('profile') @Redirect('/profile', 303)
save(@Session() session: KeycardSession) {
  session.flash('success', 'Profile saved.');
}

@Get('profile') @Render('profile')
page(@Session() session: KeycardSession) {
  return { flashes: session.flashes() }; // [{ type: 'success', message: 'Profile saved.' }]
}
// #endregion readme
}
