import { Controller, Get, Post } from '@nestjs/common';
import { Cookies, Public } from '../../src/nest/index.js';
import type { CookieJar } from '../../src/index.js';

@Public()
@Controller()
export class CookiesController {
  @Get('cookies')
  getCookies(@Cookies() cookies: CookieJar) {
    return cookies.all(); // was: req.cookies (with cookie-parser)
  }

  @Get('theme')
  getTheme(@Cookies('theme') theme: string | undefined) {
    return { theme: theme ?? 'light' };
  }

  @Post('set-cookie')
  setCookie(@Cookies() cookies: CookieJar) {
    // was: res.cookie('theme', 'dark', { httpOnly: true, secure: true, maxAge: 60000 })
    cookies.set('theme', 'dark', { maxAge: 60 }); // seconds; HttpOnly, SameSite=Lax and Secure over HTTPS by default
    return 'Cookie set';
  }

  @Post('cart')
  addToCart(@Cookies() cookies: CookieJar) {
    cookies.setSigned('cart', 'item-42', { maxAge: 3600 }); // readable by the client, but any change is detected
    cookies.setSealed('checkout', { coupon: 'WELCOME10' }); // AES-256-GCM: neither readable nor changeable
    return 'Added';
  }

  @Get('cart')
  getCart(@Cookies() cookies: CookieJar) {
    // was: req.signedCookies.cart (false when tampered with)
    return { cart: cookies.getSigned('cart'), checkout: cookies.getSealed<{ coupon: string }>('checkout') }; // null when tampered with
  }
}
