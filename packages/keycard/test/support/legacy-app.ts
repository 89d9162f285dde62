import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import session from 'express-session';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';

/**
 * The app before the switch: plain express-session + passport-local, the way
 * the seeds' tutorials set it up (serializeUser stores the user id), writing
 * its sessions to a real connect store. Users: `<id>` with password `pw-<id>`.
 */
export interface LegacyApp {
  readonly url: string;
  close(): Promise<void>;
}

declare module 'express-session' {
  interface SessionData {
    cart?: string[];
  }
}

export async function startLegacyApp(store: session.Store, secrets: string | string[]): Promise<LegacyApp> {
  const authenticator = new passport.Passport();
  authenticator.use(
    new LocalStrategy((username, password, done) => done(null, password === `pw-${username}` ? { id: username } : false)),
  );
  authenticator.serializeUser((user, done) => done(null, (user as { id: string }).id));
  authenticator.deserializeUser((id: string, done) => done(null, { id }));

  const app = express();
  app.use(express.json());
  app.use(
    session({
      secret: secrets,
      store,
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, maxAge: 60 * 60 * 1000 },
    }),
  );
  app.use(authenticator.session());
  app.post('/login', authenticator.authenticate('local'), (_req, res) => {
    res.json({ ok: true });
  });
  app.post('/cart', (req, res) => {
    req.session.cart = [...(req.session.cart ?? []), String((req.body as { item?: unknown }).item)];
    res.json({ cart: req.session.cart });
  });
  app.get('/me', (req, res) => {
    if (!req.user) return void res.status(401).json({ user: null });
    res.json({ user: (req.user as { id: string }).id });
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
