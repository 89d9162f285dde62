import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { LoginThrottle, RateLimiter, SessionManager, type RateLimitStore, type SessionStore } from 'keycard';
import { PasswordHasher } from 'keycard/password';
import { AdminController } from '../admin/admin.controller.js';
import { AccountService } from '../auth/account.service.js';
import { AuthController } from '../auth/auth.controller.js';
import { SignInService } from '../auth/sign-in.service.js';
import type { AppConfig } from '../config/config.js';
import { APP_CONFIG } from '../config/tokens.js';
import type { AppDatabase } from '../database/database.js';
import { DATABASE } from '../database/tokens.js';
import { HealthController } from '../health/health.controller.js';
import { HealthProbes } from '../health/health-probes.js';
import { AppExceptionFilter } from '../http/exception.filter.js';
import { schemaValidationPipe } from '../http/validation.js';
import { SessionModule } from 'keycard/nest';
import { KeycardHealthModule } from 'keycard/nest/health';
import { MetricsController } from '../metrics/metrics.controller.js';
import { metricsProviders } from '../metrics/metrics.providers.js';
import { AccountPagesController } from '../pages/account-pages.controller.js';
import { AssetsController } from '../pages/assets.controller.js';
import { AuthPagesController } from '../pages/auth-pages.controller.js';
import { WsModule } from '../ws/ws.module.js';
import { OidcController } from '../oidc/oidc.controller.js';
import { oidcProviders } from '../oidc/oidc.providers.js';
import { UsersRepository } from '../users/users.repository.js';
import { UsersService } from '../users/users.service.js';
import { RESOURCES, ResourcesLifecycle, type Closable } from './resources.js';
import { REGISTRATION_LIMIT, RegistrationService } from '../auth/registration.js';

/** What bootstrap opened before Nest starts; the module only wires it. */
export interface AppDependencies {
  readonly config: AppConfig;
  readonly secrets: readonly string[];
  readonly db: AppDatabase;
  readonly sessionStore: SessionStore;
  /** Sign-in and registration counters. */
  readonly rateLimitStore: RateLimitStore;
  readonly hasher: PasswordHasher;
  /** Closed, last first, when the application shuts down. */
  readonly resources: Closable[];
}

@Module({})
export class AppModule {
  static forRoot(deps: AppDependencies): DynamicModule {
    const { config } = deps;
    return {
      module: AppModule,
      imports: [
        SessionModule.forRoot({
          secrets: deps.secrets,
          store: deps.sessionStore,
          idleTimeout: config.idleTimeout,
          absoluteTimeout: config.absoluteTimeout,
          maxSessionsPerUser: config.maxSessionsPerUser,
          cookie: { secure: config.cookieSecure },
          // CSRF is on by default: every unsafe request (forms and JSON, sign-in and
          // registration included) needs the token and a same-site origin.
        }),
        WsModule,
        KeycardHealthModule,
      ],
      controllers: [
        HealthController,
        AuthController,
        AdminController,
        AssetsController,
        AuthPagesController,
        AccountPagesController,
        ...(config.metrics ? [MetricsController] : []),
        ...(config.oidc ? [OidcController] : []),
      ],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: DATABASE, useValue: deps.db },
        { provide: PasswordHasher, useValue: deps.hasher },
        {
          // Built on the manager so that its events (failed sign-ins, lockouts, outages) reach
          // keycard's security log and the metrics with the session events.
          provide: LoginThrottle,
          useFactory: (manager: SessionManager) =>
            new LoginThrottle({
              store: deps.rateLimitStore,
              maxAttempts: config.login.maxAttempts,
              window: config.login.window,
              maxAttemptsPerIp: config.login.ipMaxAttempts,
              // Device cookies (OWASP): a browser that signed in before is not locked out by others' failures.
              deviceSecrets: deps.secrets,
              events: manager.events,
            }),
          inject: [SessionManager],
        },
        {
          provide: REGISTRATION_LIMIT,
          useFactory: (manager: SessionManager) =>
            new RateLimiter({
              store: deps.rateLimitStore,
              namespace: 'register',
              limit: config.registerMaxPerIp,
              window: config.login.window,
              events: manager.events,
            }),
          inject: [SessionManager],
        },
        { provide: RESOURCES, useValue: deps.resources },
        { provide: APP_FILTER, useClass: AppExceptionFilter },
        { provide: APP_PIPE, useFactory: schemaValidationPipe },
        ResourcesLifecycle,
        UsersRepository,
        UsersService,
        SignInService,
        AccountService,
        RegistrationService,
        HealthProbes,
        ...(config.metrics ? metricsProviders : []),
        ...(config.oidc ? oidcProviders(config.oidc) : []),
      ],
    };
  }
}
